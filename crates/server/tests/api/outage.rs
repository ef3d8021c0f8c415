//! A site outlives its admin center's outages: it keeps its credential in a private state file,
//! retries for as long as the server is away, and finishes an interrupted upload exactly once.

use std::time::Duration;

use site_connector::state::StateFile;
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};

use crate::spawn_app;

const DEVICES: usize = 3000;

fn hierarchy() -> SimulatedHierarchy {
    SimulatedHierarchy::new(HierarchyConfig::new("Outage", "OUT", 2207, DEVICES, 77))
}

fn options() -> SiteOptions {
    SiteOptions {
        batch_size: 100,
        ..SiteOptions::default()
    }
}

async fn staged_batches(app: &crate::TestApp) -> i64 {
    app.rows("sync_batches").await
}

async fn connector_ids(app: &crate::TestApp) -> Vec<String> {
    let connectors: admin_api::Collection<admin_api::Connector> =
        app.get("/api/v1/connectors").await.json().await.unwrap();
    connectors.value.into_iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn an_upload_outlives_a_minute_of_server_downtime_without_a_new_token() {
    let mut app = spawn_app().await;
    let token = app.onboarding_token().await;
    let folder = tempfile::tempdir().unwrap();
    let file = StateFile::in_folder(folder.path()).unwrap();
    let url = app.url.clone();
    let upload = tokio::spawn({
        let file = file.clone();
        async move {
            let site = SiteConnector::attach_keeping(&url, &token, hierarchy(), options(), file)
                .await
                .unwrap();
            site.full_sync().await
        }
    });
    // Mid-upload (some batches staged, the sync not complete), the server goes away.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while staged_batches(&app).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no batch was staged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
    assert!(!upload.is_finished(), "stopped mid-upload");

    // The credential and the sync in progress are kept, for the owner alone.
    let kept = file.load().unwrap().expect("the state is kept");
    assert!(kept
        .credential
        .starts_with(&format!("{}.", kept.connector_id)));
    assert!(kept.full_sync_in_progress.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!upload.is_finished(), "the site waited for the server");
    app.start_again().await;
    let done = tokio::time::timeout(Duration::from_secs(120), upload)
        .await
        .expect("the upload completes once the server is back")
        .unwrap()
        .expect("the upload succeeds");
    assert_eq!(done.device_count, DEVICES as u64);
    assert_eq!(connector_ids(&app).await, vec![kept.connector_id.clone()]);
    let page: admin_api::Collection<admin_api::Device> = app
        .get("/api/v1/devices?$top=1&$count=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.count, Some(DEVICES as u64));
    assert_eq!(file.load().unwrap().unwrap().full_sync_in_progress, None);

    // A restart resumes from the state file: the same connector, no token.
    let resumed = SiteConnector::resume_from(
        file.load().unwrap().unwrap(),
        file.clone(),
        hierarchy(),
        options(),
    )
    .await
    .unwrap();
    resumed.client().heartbeat().await.unwrap();
    // A run that died after the server completed a sync, before it saved that it had: the
    // next run completes the same sync id, which answers its result again and changes nothing.
    let mut state = file.load().unwrap().unwrap();
    state.full_sync_in_progress = Some(done.sync_id.clone());
    state.full_sync_batches = Some(DEVICES.div_ceil(options().batch_size) as u32);
    file.save(&state).unwrap();
    let again = SiteConnector::resume_from(state, file.clone(), hierarchy(), options())
        .await
        .unwrap()
        .full_sync()
        .await
        .unwrap();
    assert_eq!(again, done, "the same sync, landed once");
    assert_eq!(connector_ids(&app).await, vec![kept.connector_id]);
    app.shut_down().await;
}

/// A connector that was offboarded forgets its state: its credential is useless now.
#[tokio::test]
async fn an_offboarded_connector_removes_its_state_file() {
    let app = spawn_app().await;
    let token = app.onboarding_token().await;
    let folder = tempfile::tempdir().unwrap();
    let file = StateFile::in_folder(folder.path()).unwrap();
    let site = SiteConnector::attach_keeping(
        &app.url,
        &token,
        SimulatedHierarchy::new(crate::protocol::quick_site("Gone", "GON", 2207, 78)),
        options(),
        file.clone(),
    )
    .await
    .unwrap();
    site.full_sync().await.unwrap();
    let id = file.load().unwrap().unwrap().connector_id;
    let serving = tokio::spawn(site.serve(tokio_util::sync::CancellationToken::new()));
    let response = app.delete_connector(&id).await;
    assert_eq!(response.status(), 202);
    let outcome = tokio::time::timeout(Duration::from_secs(60), serving)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, site_connector::Outcome::Offboarded);
    assert!(file.load().unwrap().is_none(), "the state file is gone");
    app.shut_down().await;
}
