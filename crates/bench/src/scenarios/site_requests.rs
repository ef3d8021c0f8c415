//! A site request's round trip, as an action's: a CMPivot query asked over the admin API, taken by
//! a site connector whose clients answer at once, its end seen on the event stream and its answer
//! read as the SPA reads it. Then what a large answer costs the server: a resource explorer answer
//! at the protocol's bound (1 MiB), stored and read back, against the server's resident memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use admin_api::protocol::SiteRequestOutcome;
use admin_api::site_requests::{Inventory, InventoryClass, Table, MAX_ANSWER_BYTES};
use admin_api::{NewSiteRequest, SiteAnswer, SiteRequest, SiteRequestKind, SiteRequestState};
use anyhow::{bail, Context as _};
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::measure::Samples;
use crate::report::Section;

const BUDGET_MS: f64 = 100.0;

async fn ask(ctx: &Context, device: &str, request: &NewSiteRequest) -> anyhow::Result<SiteRequest> {
    Ok(ctx
        .client
        .post(format!("{}/api/v1/devices/{device}/siteRequests", ctx.url))
        .json(request)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

pub async fn run(ctx: &Context, server_pid: u32) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "Site requests: CMPivot query → site connector (client latency 0) → answered on the event stream → answer read",
    );
    let site = super::actions::attach_quick_site(&ctx.url, &ctx.client, 50).await?;
    let devices: Vec<String> = site
        .source()
        .lock()
        .await
        .devices_in_scope()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let lab = super::connector_id(&site)?;
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events =
        super::events_named::<SiteRequest>(&ctx.url, &ctx.client, "siteRequest").await?;
    let mut samples = Vec::with_capacity(ctx.preset.actions);
    let mut early: HashMap<String, SiteRequestState> = HashMap::new();
    for number in 0..ctx.preset.actions {
        let device = &devices[number % devices.len()];
        let started = Instant::now();
        let request = ask(
            ctx,
            device,
            &NewSiteRequest {
                kind: SiteRequestKind::CmPivot,
                query: Some("Disk | project DeviceID, FreeSpace".into()),
                script_id: None,
                refresh: false,
            },
        )
        .await?;
        let mut state = early.remove(&request.id);
        while state.is_none_or(SiteRequestState::is_open) {
            let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
                .await
                .context("no event for the site request within 30 s")?
                .context("the event stream ended")?;
            if event.id == request.id {
                state = Some(event.state);
            } else {
                early.insert(event.id, event.state);
            }
        }
        if state != Some(SiteRequestState::Answered) {
            bail!("site request {} ended {state:?}, not answered", request.id);
        }
        let answered: SiteRequest = ctx
            .client
            .get(format!("{}/api/v1/siteRequests/{}", ctx.url, request.id))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if answered.answer.is_none() {
            bail!("site request {} has no answer", request.id);
        }
        samples.push(started.elapsed());
    }
    section.latency(
        format!(
            "Round trip ({} CMPivot queries, one at a time)",
            ctx.preset.actions
        ),
        Samples::new(samples),
        Some(BUDGET_MS),
    );

    // A large answer: asked for a device of a second site that is not served, answered through the
    // protocol by hand at the bound, then read back by the browser's call several times.
    let quiet =
        super::actions::attach_lab(&ctx.url, &ctx.client, ("Benchmark Annex", "ANX", 8), 5).await?;
    let device = quiet.source().lock().await.devices_in_scope().remove(0).id;
    let request = ask(
        ctx,
        &device,
        &NewSiteRequest {
            kind: SiteRequestKind::Inventory,
            query: None,
            script_id: None,
            refresh: true,
        },
    )
    .await?;
    let rows = (0..20_000)
        .map(|i| {
            vec![
                Some(format!(
                    "Security Update for Microsoft Windows (KB{})",
                    5_000_000 + i
                )),
                Some("Microsoft Corporation".into()),
                None,
                Some("2026-11-29T09:00:00Z".into()),
            ]
        })
        .collect();
    let answer = connector_protocol::requests::fit(SiteAnswer::Inventory(Inventory {
        last_scan_date_time: Some("2026-11-29T09:00:00Z".into()),
        classes: vec![InventoryClass {
            class_name: "SMS_G_System_INSTALLED_SOFTWARE".into(),
            display_name: "Installed Software".into(),
            table: Table {
                columns: ["ProductName", "Publisher", "ProductVersion", "InstallDate"]
                    .map(str::to_owned)
                    .to_vec(),
                rows,
                row_count: 20_000,
            },
        }],
    }));
    let bytes = serde_json::to_vec(&answer)?.len();
    let before = crate::server::rss_of(server_pid)?;
    let client = quiet.client();
    client.accept_request(&request.id).await?;
    client
        .answer_request(&request.id, &SiteRequestOutcome::answered(answer, None))
        .await?;
    let mut reads = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let body = ctx
            .client
            .get(format!("{}/api/v1/siteRequests/{}", ctx.url, request.id))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        reads.push(started.elapsed());
        if body.len() < bytes / 2 {
            bail!("the large answer came back with {} bytes", body.len());
        }
    }
    let after = crate::server::rss_of(server_pid)?;
    section.latency(
        format!("Reading a {bytes} B resource explorer answer (10 reads)"),
        Samples::new(reads),
        None,
    );
    section.value(
        format!(
            "Server RSS before / after storing it and serving it 10 times (answers are bounded at {MAX_ANSWER_BYTES} B)"
        ),
        format!(
            "{:.1} MB / {:.1} MB ({:+.1} MB)",
            before as f64 / 1e6,
            after as f64 / 1e6,
            (after as f64 - before as f64) / 1e6
        ),
        None,
    );

    // Both sites leave with their devices, so that a reused tenant stays the preset's size.
    let quiet_id = super::connector_id(&quiet)?;
    for id in [&lab, &quiet_id] {
        ctx.client
            .delete(format!("{}/api/v1/connectors/{id}", ctx.url))
            .send()
            .await?
            .error_for_status()?;
    }
    quiet.client().acknowledge_offboard().await.ok();
    let outcome = tokio::time::timeout(Duration::from_secs(60), serving)
        .await
        .context("the lab site did not offboard within 60 s")??;
    if outcome != connector_protocol::site::Outcome::Offboarded {
        bail!("the lab site stopped without offboarding: {outcome:?}");
    }
    drop(stop);
    Ok(section)
}
