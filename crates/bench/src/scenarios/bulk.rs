//! A bulk action on one hierarchy's devices (100,000 at the 1m preset, the bound): the time to
//! count and queue them as one job, the server's memory before and after, All devices' first page
//! while the job is open (as the SPA asks for it), and the time to cancel it (every device's
//! action ended and audited). The tenant's connectors are not served: nothing is taken meanwhile.

use std::time::Instant;

use admin_api::collection::odata_string;
use admin_api::{BulkAction, Collection};
use anyhow::{bail, Context as _};

use super::{encode, Context};
use crate::measure::{get_ok, Samples};
use crate::report::Section;

pub async fn run(ctx: &Context, server_pid: u32) -> anyhow::Result<Section> {
    let mut section = Section::new(
        "Bulk action: one action on every device of a hierarchy, counted and queued as a job, then canceled",
    );
    let (_, body) = get_ok(
        &ctx.client,
        &ctx.devices_url("$top=1&$select=hierarchyName"),
    )
    .await?;
    // A `$select`ed page holds only what it names: read as JSON.
    let first: serde_json::Value = serde_json::from_slice(&body)?;
    let hierarchy = first["value"][0]["hierarchyName"]
        .as_str()
        .context("the tenant has no device with a hierarchy")?
        .to_owned();
    let filter = format!("hierarchyName eq {}", odata_string(&hierarchy));
    let (_, body) = get_ok(
        &ctx.client,
        &ctx.devices_url(&format!("$top=1&$count=true&$filter={}", encode(&filter))),
    )
    .await?;
    let matching = serde_json::from_slice::<Collection<serde_json::Value>>(&body)?
        .count
        .context("no count")?;
    let before = crate::server::rss_of(server_pid)?;
    let started = Instant::now();
    let job: BulkAction = ctx
        .client
        .post(format!("{}/api/v1/devices/bulkActions", ctx.url))
        .json(&serde_json::json!({
            "action": "refreshMachinePolicy",
            "filter": filter,
            "confirmedCount": matching,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let queued = started.elapsed();
    let after = crate::server::rss_of(server_pid)?;
    if job.matched_count != matching || job.counts.pending + job.already_open_count != matching {
        bail!(
            "the job matched {} and queued {} of {matching} devices",
            job.matched_count,
            job.counts.pending
        );
    }
    let mut samples = Vec::with_capacity(ctx.preset.samples);
    for _ in 0..ctx.preset.samples {
        let (took, _) = get_ok(&ctx.client, &ctx.devices_url("$top=50&$count=true")).await?;
        samples.push(took);
    }
    let started = Instant::now();
    let canceled: BulkAction = ctx
        .client
        .post(format!("{}/api/v1/bulkActions/{}/cancel", ctx.url, job.id))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let cancel = started.elapsed();
    section.value(
        "Devices matched and queued",
        format!(
            "{} of {matching} (hierarchy {hierarchy})",
            job.counts.pending
        ),
        None,
    );
    section.value(
        "Time to count and queue them (one request)",
        format!("{:.0} ms", queued.as_secs_f64() * 1000.0),
        None,
    );
    section.value(
        "Server RSS before / after queuing",
        format!(
            "{:.1} MB / {:.1} MB ({:+.1} MB)",
            before as f64 / 1e6,
            after as f64 / 1e6,
            (after as f64 - before as f64) / 1e6
        ),
        None,
    );
    section.latency(
        "All devices' first page with its count while the job is open",
        Samples::new(samples),
        None,
    );
    section.value(
        format!(
            "Time to cancel it ({} actions ended, each audited)",
            canceled.counts.canceled
        ),
        format!("{:.0} ms", cancel.as_secs_f64() * 1000.0),
        None,
    );
    Ok(section)
}
