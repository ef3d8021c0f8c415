//! Site requests at a real site: the AdminService connector's real code against the stand-in,
//! through the admin center over HTTP: client details from `v1.0/Device`, resource explorer from
//! the site's `SMS_G_System_*` classes, its approved scripts, CMPivot and script runs followed to
//! their results; a query the client never answers, an offline client, a refusal, a result larger
//! than an answer, hostile output, a site older than a page needs.

use std::time::Duration;

use admin_api::{SiteAnswer, SiteRequestState};
use serde_json::json;
use site_connector::admin_service::site::RealSiteOptions;
use tokio_util::sync::CancellationToken;

use crate::events::EventStream;
use crate::site_requests::outcome;
use crate::stand_in::{
    Client, Site, StandIn, FIRST_RESOURCE, HOSTILE_OUTPUT, SCRIPT_DISK_SPACE, SCRIPT_FAILING,
    SCRIPT_HOSTILE,
};
use crate::{spawn_app_with, TestApp};

/// The stand-in's device `index`, by its id.
fn id_of(index: u32) -> String {
    format!(
        "GUID:{index:08X}-0000-4000-8000-{:012X}",
        u64::from(index) * 7
    )
}

async fn attached(
    app: &TestApp,
    stand_in: &StandIn,
) -> (
    tokio::task::JoinHandle<site_connector::Outcome>,
    CancellationToken,
) {
    let site = crate::real_site::attach(
        app,
        stand_in,
        RealSiteOptions {
            status_every: Duration::from_millis(20),
            action_deadline: Duration::from_secs(2),
            ..RealSiteOptions::default()
        },
    )
    .await;
    let stop = CancellationToken::new();
    (tokio::spawn(site.serve(stop.clone())), stop)
}

#[tokio::test]
async fn each_page_reads_the_real_site_through_its_admin_service() {
    let stand_in = StandIn::start(Site::with_devices(9088, 6)).await;
    {
        let mut data = stand_in.site.lock().unwrap();
        data.clients.insert(FIRST_RESOURCE + 1, Client::Offline);
        data.clients.insert(FIRST_RESOURCE + 2, Client::Silent);
    }
    let app = spawn_app_with(|c| c.site_request_timeout = Duration::from_secs(4)).await;
    let (serving, stop) = attached(&app, &stand_in).await;
    let mut events = EventStream::open(&app).await;
    let api = app.api();
    let device = id_of(0);

    let details = outcome(&api, &mut events, &device, json!({"kind": "clientDetails"})).await;
    assert_eq!(details.state, SiteRequestState::Answered, "{details:?}");
    assert_eq!(details.requester_at_site.as_deref(), Some("CONTOSO\\admin"));
    let Some(SiteAnswer::ClientDetails(details)) = details.answer else {
        unreachable!()
    };
    assert_eq!(details.online, Some(true));
    assert_eq!(
        details.online_changed_date_time.as_deref(),
        Some("2026-11-29T08:00:00Z")
    );
    assert_eq!(details.client_version.as_deref(), Some("5.00.9088.1007"));
    assert_eq!(
        details.management_point.as_deref(),
        Some("CM01.contoso.com")
    );
    assert_eq!(details.boundary_groups, ["Contoso HQ", "Contoso VPN"]);
    assert_eq!(details.primary_users, ["AzureAD\\user0@contoso.com"]);
    let collections: Vec<&str> = details
        .collections
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        collections,
        [
            "All Systems",
            "All Workstations",
            "Windows 11 Pilot",
            "Finance Pilot"
        ]
    );

    // Resource explorer: the known classes first, then the site's others; bookkeeping left out.
    let inventory = outcome(&api, &mut events, &device, json!({"kind": "inventory"})).await;
    let Some(SiteAnswer::Inventory(inventory)) = inventory.answer else {
        unreachable!()
    };
    let names: Vec<&str> = inventory
        .classes
        .iter()
        .map(|c| c.display_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Computer System",
            "Operating System",
            "PC BIOS",
            "Logical Disk",
            "Installed Software"
        ]
    );
    assert_eq!(
        inventory.last_scan_date_time.as_deref(),
        Some("2026-11-29T09:00:00Z")
    );
    let disk = &inventory.classes[3].table;
    // The AdminService's JSON objects carry no order the connector keeps: by name.
    assert_eq!(
        disk.columns,
        ["DeviceID", "FileSystem", "FreeSpace", "Size"]
    );
    assert_eq!(
        disk.rows,
        [[
            Some("C:".to_owned()),
            Some("NTFS".into()),
            Some("120000".into()),
            Some("488281".into())
        ]]
    );
    assert_eq!(inventory.classes[4].table.rows.len(), 3);

    // Scripts: approved and without parameters only.
    let scripts = outcome(&api, &mut events, &device, json!({"kind": "scripts"})).await;
    let Some(SiteAnswer::Scripts(scripts)) = scripts.answer else {
        unreachable!()
    };
    let ids: Vec<&str> = scripts.scripts.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [SCRIPT_DISK_SPACE, SCRIPT_FAILING, SCRIPT_HOSTILE]);
    let run = |id: &str| json!({"kind": "runScript", "scriptId": id});
    let ran = outcome(&api, &mut events, &device, run(SCRIPT_DISK_SPACE)).await;
    let Some(SiteAnswer::RunScript(ran)) = ran.answer else {
        panic!("{ran:?}")
    };
    assert_eq!(
        (ran.script_name.as_str(), ran.exit_code, ran.output.as_str()),
        ("Get free disk space", Some(0), "C:  117 GB free of 476 GB")
    );
    let failing = outcome(&api, &mut events, &device, run(SCRIPT_FAILING)).await;
    let Some(SiteAnswer::RunScript(failing)) = failing.answer else {
        unreachable!()
    };
    assert_eq!(failing.exit_code, Some(1));
    let hostile = outcome(&api, &mut events, &device, run(SCRIPT_HOSTILE)).await;
    let Some(SiteAnswer::RunScript(hostile)) = hostile.answer else {
        unreachable!()
    };
    assert_eq!(
        hostile.output,
        format!("{HOSTILE_OUTPUT}\ndone"),
        "kept as text"
    );
    let unapproved = outcome(
        &api,
        &mut events,
        &device,
        run("44444444-4444-4444-8444-444444444444"),
    )
    .await;
    assert_eq!(unapproved.state, SiteRequestState::Failed);
    assert!(unapproved
        .failure_message
        .unwrap()
        .contains("no approved script without parameters"));

    // CMPivot: the rows the client sent; an entity it does not know, in the site's words.
    let pivot = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": "Disk"}),
    )
    .await;
    let Some(SiteAnswer::CmPivot(result)) = pivot.answer else {
        panic!("{pivot:?}")
    };
    let id = result
        .table
        .columns
        .iter()
        .position(|c| c == "DeviceID")
        .unwrap();
    assert_eq!(result.table.rows[0][id].as_deref(), Some("C:"));
    let unknown = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": "Nonsense"}),
    )
    .await;
    assert_eq!(unknown.state, SiteRequestState::Failed);
    assert_eq!(
        unknown.failure_message.as_deref(),
        Some("CMPivot: Failed to resolve entity 'nonsense'.")
    );

    // A result larger than an answer: cut to fit, saying how many rows the client sent.
    stand_in.site.lock().unwrap().big_result_rows = 20_000;
    let big = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": "Big"}),
    )
    .await;
    let Some(SiteAnswer::CmPivot(big)) = big.answer else {
        panic!("{big:?}")
    };
    assert_eq!(
        big.table.row_count, 10_000,
        "at most 10,000 rows are read from a result"
    );
    assert!(
        big.table.is_truncated() && big.table.rows.len() > 1_000,
        "{}",
        big.table.rows.len()
    );

    // An offline client: said at once; one that never answers: timed out.
    let offline = outcome(
        &api,
        &mut events,
        &id_of(1),
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(offline.state, SiteRequestState::Failed);
    assert!(offline.failure_message.unwrap().contains("has been offline since 2026-11-28T18:00:00Z. CMPivot runs only on a device that is online now."));
    let silent = outcome(
        &api,
        &mut events,
        &id_of(2),
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(silent.state, SiteRequestState::TimedOut);

    // The site refuses runs for this account: its words.
    stand_in.site.lock().unwrap().refuse_runs =
        Some("The account lacks Run CMPivot on the collection.".into());
    let refused = outcome(
        &api,
        &mut events,
        &device,
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(refused.state, SiteRequestState::Failed);
    assert!(refused
        .failure_message
        .unwrap()
        .contains("The account lacks Run CMPivot on the collection."));

    let queries = stand_in.site.lock().unwrap().queries.clone();
    assert!(
        queries.iter().any(
            |q| q.starts_with("v1.0/Device(16777220)/AdminService.RunCMPivot")
                && q.contains("\"InputQuery\":\"Disk\"")
        ),
        "{queries:?}"
    );
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}

#[tokio::test]
async fn a_site_older_than_a_page_needs_is_refused_and_cmpivot_still_runs() {
    // 8968 is 2002: CMPivot yes (with its rollup), client details no.
    let stand_in = StandIn::start(Site::with_devices(8968, 2)).await;
    let app = spawn_app_with(|_| {}).await;
    let (serving, stop) = attached(&app, &stand_in).await;
    let mut events = EventStream::open(&app).await;
    let api = app.api();
    // Every site reports its version, a 2002 one too: the admin center refuses at once.
    let response = api
        .client
        .post(format!(
            "{}/api/v1/devices/{}/siteRequests",
            api.url,
            id_of(0)
        ))
        .json(&json!({"kind": "clientDetails"}))
        .send()
        .await
        .unwrap();
    let refused = crate::error_of(response, 409).await;
    assert_eq!(
        refused["message"],
        "The device's site runs Configuration Manager 2002; Client details needs version 2006 or later."
    );
    let pivot = outcome(
        &api,
        &mut events,
        &id_of(0),
        json!({"kind": "cmPivot", "query": "OS"}),
    )
    .await;
    assert_eq!(pivot.state, SiteRequestState::Answered, "{pivot:?}");
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}
