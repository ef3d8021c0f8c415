//! Uploads through the real connector protocol into an empty server: a full sync of every site at
//! once, a delta, then one hierarchy offboarded until its devices are gone.

use std::time::{Duration, Instant};

use anyhow::bail;
use site_connector::hierarchy::SimulatedHierarchy;
use site_connector::site::{SiteConnector, SiteOptions};
use tokio_util::sync::CancellationToken;

use crate::generate::hierarchy_config;
use crate::measure::{get_ok, Samples};
use crate::preset::Preset;
use crate::report::Section;

const DEVICES_PER_SECOND_BUDGET: f64 = 50_000.0;

pub async fn run(
    url: &str,
    database_url: &str,
    client: &reqwest::Client,
    preset: &Preset,
    seed: u64,
) -> anyhow::Result<Section> {
    let mut section = Section::new(&format!(
        "Ingest through the connector protocol ({} sites × {} devices, batches of 5,000)",
        preset.ingest_sites, preset.ingest_devices_per_site
    ));
    // The sites and their devices are made before the clock starts: only the upload is timed.
    let mut sites = Vec::new();
    for index in 0..preset.ingest_sites {
        let mut config = hierarchy_config(preset, seed, index);
        config.devices = preset.ingest_devices_per_site;
        config.latency = (Duration::ZERO, Duration::ZERO);
        let token = super::onboarding_token(url, client).await?;
        let site = SiteConnector::attach(
            url,
            &token,
            SimulatedHierarchy::new(config),
            SiteOptions {
                batch_size: 5_000,
                ..SiteOptions::default()
            },
        )
        .await?;
        sites.push(site);
    }
    let total = preset.ingest_sites * preset.ingest_devices_per_site;
    let started = Instant::now();
    let uploads = sites.iter().map(|site| site.full_sync());
    let results = futures_util::future::try_join_all(uploads).await?;
    let seconds = started.elapsed().as_secs_f64();
    let uploaded: u64 = results.iter().map(|r| r.device_count).sum();
    if uploaded != total as u64 {
        bail!("{uploaded} devices stored of {total} uploaded");
    }
    let rate = total as f64 / seconds;
    section.value(
        format!("Full upload of {total} devices, all sites at once"),
        format!("{seconds:.1} s, {rate:.0} devices/s"),
        Some(("≥ 50,000 devices/s", rate >= DEVICES_PER_SECOND_BUDGET)),
    );

    let delta = sites[0].source().lock().await.churn(preset.delta_changes);
    let changed = delta.upserts.len() + delta.removals.len();
    let started = Instant::now();
    sites[0].upload_delta(&delta).await?;
    let seconds = started.elapsed().as_secs_f64();
    section.value(
        format!(
            "Delta of {changed} changed devices ({} asked)",
            preset.delta_changes
        ),
        format!("{:.0} ms", seconds * 1_000.0),
        Some(("≤ 1 s for 10k", seconds <= 1.0)),
    );

    // Offboarding: the site acknowledges on its next poll; the devices go with the connector.
    let site = sites.remove(0);
    let connector_id = super::connector_id(&site)?;
    let devices = site.source().lock().await.devices_in_scope().len();
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let started = Instant::now();
    client
        .delete(format!("{url}/api/v1/connectors/{connector_id}"))
        .send()
        .await?
        .error_for_status()?;
    let connector_url = format!("{url}/api/v1/connectors/{connector_id}");
    loop {
        let status = client.get(&connector_url).send().await?.status();
        if status == 404 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the offboarded connector is still there after 10 minutes");
        }
        // Polling granularity of the measurement, not a wait for something to happen.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let filter = super::encode(&format!("connectorId eq '{connector_id}'"));
    let (_, body) = get_ok(
        client,
        &format!("{url}/api/v1/devices?$top=1&$count=true&$filter={filter}"),
    )
    .await?;
    let left: admin_api::Collection<admin_api::Device> = serde_json::from_slice(&body)?;
    if left.count != Some(0) {
        bail!(
            "{:?} devices of the offboarded hierarchy are left",
            left.count
        );
    }
    serving.await?;
    section.value(
        format!("Offboarding a hierarchy of {devices} devices (Delete → gone)"),
        format!("{seconds:.2} s"),
        Some(("≤ 10 s for 100k", seconds <= 10.0)),
    );

    // Gone from the API, its rows are deleted in the background: how long that takes (seen in
    // the database file) and what a first page of All devices costs meanwhile.
    // Read-only, beside the server: nothing here may write or migrate its database.
    let database = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(database_url)?
                .read_only(true),
        )
        .await?;
    let first_page = format!("{url}/api/v1/devices?$top=50");
    let mut samples = Vec::new();
    let deleted_after = loop {
        let (took, _) = get_ok(client, &first_page).await?;
        samples.push(took);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE connector_id = ?")
            .bind(&connector_id)
            .fetch_one(&database)
            .await?;
        if left == 0 {
            break started.elapsed().as_secs_f64();
        }
        if started.elapsed() > Duration::from_secs(1_200) {
            bail!("{left} rows of the offboarded hierarchy are left after 20 minutes");
        }
    };
    database.close().await;
    section.value(
        "Its rows deleted in the background (slices of 1,000), from the Delete",
        format!("{deleted_after:.1} s"),
        None,
    );
    section.latency(
        "First page of All devices while the rows are deleted",
        Samples::new(samples),
        None,
    );
    Ok(section)
}
