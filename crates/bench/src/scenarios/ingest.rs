//! Uploads through the real connector protocol into an empty server: a full sync of every site at
//! once, a delta, then one hierarchy offboarded until its devices are gone.

use std::time::{Duration, Instant};

use anyhow::bail;
use connector_protocol::site::{SiteConnector, SiteOptions};
use simulated_hierarchy::SimulatedHierarchy;
use tokio_util::sync::CancellationToken;

use crate::generate::hierarchy_config;
use crate::measure::{get_ok, Samples};
use crate::preset::Preset;
use crate::report::Section;

/// Issue 16's budget for the full upload (1M in at most 50 s); the moonshot stays 50,000/s.
const DEVICES_PER_SECOND_BUDGET: f64 = 20_000.0;

/// What an operator and a site feel while the full syncs complete: a first page of All devices,
/// the same filtered and in another order, an action request, a sign-in and a heartbeat, one
/// after the other until the uploads are done.
#[derive(Default)]
struct Probe {
    first_pages: Vec<Duration>,
    filtered_pages: Vec<Duration>,
    actions: Vec<Duration>,
    sign_ins: Vec<Duration>,
    heartbeats: Vec<Duration>,
    /// Answers of 503 (the writer's queue full), which the budget allows none of.
    unavailable: usize,
}

/// Who the probe signs in as.
pub struct Operator<'a> {
    pub user_name: &'a str,
    pub password: &'a str,
}

/// The probe's filtered first page: what a help-desk operator looking for trouble asks. The
/// devices being written are in the order's index before they are shown; a page must not walk
/// past them.
const FILTERED_PAGE: &str = "complianceState eq 'noncompliant'";

/// How often the probe starts a round (a first page, a filtered one, an action, a sign-in and a
/// heartbeat).
const PROBE_EVERY: Duration = Duration::from_millis(250);

async fn probe(
    url: String,
    client: reqwest::Client,
    operator: (String, String),
    site: SiteConnector<SimulatedHierarchy>,
    device: String,
    stop: CancellationToken,
) -> anyhow::Result<Probe> {
    use admin_api::{
        ConfigurationManagerAction, ConfigurationManagerActionType,
        TriggerConfigurationManagerAction,
    };
    let mut probe = Probe::default();
    // One request, timed; a 503 counted, any other refusal the end of the measurement.
    async fn timed(
        request: reqwest::RequestBuilder,
        unavailable: &mut usize,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let status = request.send().await?.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            *unavailable += 1;
        } else if !status.is_success() {
            anyhow::bail!("a probe request answered {status}");
        }
        Ok(started.elapsed())
    }
    // A round at a steady pace, as people and sites ask, not as fast as the server answers: a
    // faster server would otherwise be probed harder, and its uploads slowed by the probe (at 1M
    // on PostgreSQL, unpaced, 2.5 rounds a second with slow first pages and 6.6 without).
    let mut pace = tokio::time::interval(PROBE_EVERY);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = pace.tick() => {}
        }
        let first_page = client.get(format!("{url}/api/v1/devices?$top=50"));
        probe
            .first_pages
            .push(timed(first_page, &mut probe.unavailable).await?);
        let filtered_page = client.get(format!(
            "{url}/api/v1/devices?$top=50&$orderby=deviceName&$filter={}",
            super::encode(FILTERED_PAGE)
        ));
        probe
            .filtered_pages
            .push(timed(filtered_page, &mut probe.unavailable).await?);
        let action = client
            .post(format!(
                "{url}/api/v1/devices/{device}/triggerConfigurationManagerAction"
            ))
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&TriggerConfigurationManagerAction {
                configuration_manager_action: ConfigurationManagerAction {
                    action: ConfigurationManagerActionType::RefreshMachinePolicy,
                },
            });
        probe
            .actions
            .push(timed(action, &mut probe.unavailable).await?);
        let sign_in = reqwest::Client::new()
            .post(format!("{url}/api/v1/session"))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&admin_api::identity::SignIn {
                user_name: operator.0.clone(),
                password: operator.1.clone(),
            });
        probe
            .sign_ins
            .push(timed(sign_in, &mut probe.unavailable).await?);

        let started = Instant::now();
        match site.client().heartbeat().await {
            Ok(_) => probe.heartbeats.push(started.elapsed()),
            Err(connector_protocol::client::ProtocolError::Refused { status, .. })
                if status == reqwest::StatusCode::SERVICE_UNAVAILABLE =>
            {
                probe.unavailable += 1;
                probe.heartbeats.push(started.elapsed());
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(probe)
}

pub async fn run(
    url: &str,
    database_url: &str,
    client: &reqwest::Client,
    operator: Operator<'_>,
    preset: &Preset,
    seed: u64,
) -> anyhow::Result<Section> {
    let mut section = Section::new(&format!(
        "Ingest through the connector protocol ({} sites × {} devices, batches of 5,000; a probe round every {} ms)",
        preset.ingest_sites,
        preset.ingest_devices_per_site,
        PROBE_EVERY.as_millis()
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
    // A small site attached first, whose device the probe's actions go to and whose heartbeats
    // it sends.
    let mut config = hierarchy_config(preset, seed, preset.ingest_sites + 1);
    config.devices = 20;
    let token = super::onboarding_token(url, client).await?;
    let probe_site = SiteConnector::attach(
        url,
        &token,
        SimulatedHierarchy::new(config),
        SiteOptions::default(),
    )
    .await?;
    probe_site.full_sync().await?;
    let device = probe_site.source().lock().await.devices_in_scope()[0]
        .id
        .clone();
    let stop = CancellationToken::new();
    let probing = tokio::spawn(probe(
        url.to_owned(),
        client.clone(),
        (operator.user_name.to_owned(), operator.password.to_owned()),
        probe_site,
        device,
        stop.clone(),
    ));

    let total = preset.ingest_sites * preset.ingest_devices_per_site;
    let started = Instant::now();
    let uploads = sites.iter().map(|site| site.full_sync());
    let results = futures_util::future::try_join_all(uploads).await?;
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    let probe = probing.await??;
    let uploaded: u64 = results.iter().map(|r| r.device_count).sum();
    if uploaded != total as u64 {
        bail!("{uploaded} devices stored of {total} uploaded");
    }
    let rate = total as f64 / seconds;
    section.value(
        format!("Full upload of {total} devices, all sites at once"),
        format!("{seconds:.1} s, {rate:.0} devices/s"),
        Some(("≥ 20,000 devices/s", rate >= DEVICES_PER_SECOND_BUDGET)),
    );
    section.latency(
        "First page of All devices during the full uploads",
        Samples::new(probe.first_pages),
        Some(50.0),
    );
    section.latency(
        "First page of noncompliant devices by name during the full uploads",
        Samples::new(probe.filtered_pages),
        Some(50.0),
    );
    for (label, samples) in [
        ("An action request during the full uploads", probe.actions),
        ("A sign-in during the full uploads", probe.sign_ins),
        (
            "A site's heartbeat during the full uploads",
            probe.heartbeats,
        ),
    ] {
        let samples = Samples::new(samples);
        let p99 = samples.percentile(99.0).as_secs_f64() * 1_000.0;
        section.latency(label, samples, None);
        section.value(
            format!("{label}: p99"),
            format!("{p99:.0} ms"),
            Some(("≤ 250 ms", p99 <= 250.0)),
        );
    }
    section.value(
        "Answers of 503 to those requests",
        probe.unavailable.to_string(),
        Some(("none", probe.unavailable == 0)),
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
    let database = RowCounter::connect(database_url).await?;
    let first_page = format!("{url}/api/v1/devices?$top=50");
    let mut samples = Vec::new();
    let deleted_after = loop {
        let (took, _) = get_ok(client, &first_page).await?;
        samples.push(took);
        let left = database.devices_of(&connector_id).await?;
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

/// Counts a connector's device rows in the server's database, read-only beside it (SQLite's file
/// or PostgreSQL's database).
enum RowCounter {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl RowCounter {
    async fn connect(database_url: &str) -> anyhow::Result<Self> {
        use std::str::FromStr;
        if database_url.starts_with("postgres") {
            let options = sqlx::postgres::PgConnectOptions::from_str(database_url)?
                .options([("default_transaction_read_only", "on")]);
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            return Ok(Self::Postgres(pool));
        }
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::from_str(database_url)?.read_only(true),
            )
            .await?;
        Ok(Self::Sqlite(pool))
    }

    async fn devices_of(&self, connector_id: &str) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Sqlite(pool) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE connector_id = ?")
                    .bind(connector_id)
                    .fetch_one(pool)
                    .await?
            }
            Self::Postgres(pool) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM devices WHERE connector_id = $1")
                    .bind(connector_id)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}
