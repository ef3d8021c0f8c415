//! List requests per second with several clients at once, and the latency they see meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::Context;
use crate::measure::{get_ok, Samples};
use crate::report::Section;
use crate::scenarios::list::PAGE;
use crate::server::cpu_seconds_of;

/// One instance's budget (SQLite's, or PostgreSQL's own).
const BUDGET: f64 = 3_000.0;

/// Issue 18's budget for two instances on one PostgreSQL.
const TWO_INSTANCES_BUDGET: f64 = 2_000.0;

/// One server's address and process.
pub struct Instance<'a> {
    pub url: &'a str,
    pub pid: u32,
}

/// The one server under test.
pub async fn run(ctx: &Context) -> anyhow::Result<Section> {
    let instance = Instance {
        url: &ctx.url,
        pid: ctx.server_pid,
    };
    run_on(ctx, &[instance], "", ("≥ 3,000/s", BUDGET)).await
}

/// Two servers on the same PostgreSQL database, the clients shared out between them in turn (as
/// a load balancer would, with no stickiness: the session is valid on either).
pub async fn two_instances(ctx: &Context, second: Instance<'_>) -> anyhow::Result<Section> {
    let first = Instance {
        url: &ctx.url,
        pid: ctx.server_pid,
    };
    run_on(
        ctx,
        &[first, second],
        ", two instances on one PostgreSQL",
        ("≥ 2,000/s", TWO_INSTANCES_BUDGET),
    )
    .await
}

async fn run_on(
    ctx: &Context,
    instances: &[Instance<'_>],
    title: &str,
    (budget_text, budget): (&str, f64),
) -> anyhow::Result<Section> {
    let mut section = Section::new(&format!(
        "Throughput: first page of All devices, {} clients at once{title}",
        ctx.preset.throughput_clients
    ));
    // The pages a busy help desk asks for: the default order and a few sorts, on each instance,
    // each with the total count, as the SPA asks for every page.
    let urls: Vec<Arc<Vec<String>>> = instances
        .iter()
        .map(|instance| {
            Arc::new(
                [
                    "",
                    "&$orderby=lastSyncDateTime%20desc",
                    "&$orderby=model%20asc",
                ]
                .iter()
                .map(|order| {
                    format!(
                        "{}/api/v1/devices?$top={PAGE}&$count=true{order}",
                        instance.url
                    )
                })
                .collect(),
            )
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let server_cpu = || -> anyhow::Result<f64> {
        instances
            .iter()
            .map(|instance| cpu_seconds_of(instance.pid))
            .sum()
    };
    let cpu_before = server_cpu()?;
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_index in 0..ctx.preset.throughput_clients {
        let client = ctx.client.clone();
        let urls = urls[client_index % urls.len()].clone();
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut next = client_index;
            while !stop.load(Ordering::Relaxed) {
                samples.push(get_ok(&client, &urls[next % urls.len()]).await?.0);
                next += 1;
            }
            anyhow::Ok(samples)
        }));
    }
    tokio::time::sleep(ctx.preset.throughput_duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = server_cpu()? - cpu_before;
    let per_second = all.len() as f64 / elapsed;
    section.value(
        "List requests per second",
        format!("{per_second:.0} ({} requests in {elapsed:.1} s)", all.len()),
        Some((budget_text, per_second >= budget)),
    );
    // Requests per second move by tens of percent with whatever else shares this machine; the
    // server's own CPU time per request moves far less, and says what a change bought.
    let cores = crate::cores().unwrap_or(1);
    section.value(
        "Server CPU time per list request",
        format!(
            "{:.3} ms ({:.0}% of {} cores busy)",
            server_cpu * 1000.0 / all.len().max(1) as f64,
            server_cpu / elapsed * 100.0 / cores as f64,
            cores
        ),
        None,
    );
    section.latency("Latency under this load", Samples::new(all), None);
    Ok(section)
}
