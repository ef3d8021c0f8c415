//! List requests per second with several clients at once, and the latency they see meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::Context;
use crate::measure::{get_ok, Samples};
use crate::report::Section;
use crate::scenarios::list::PAGE;
use crate::server::cpu_seconds_of;

const BUDGET: f64 = 3_000.0;

pub async fn run(ctx: &Context) -> anyhow::Result<Section> {
    let mut section = Section::new(&format!(
        "Throughput: first page of All devices, {} clients at once",
        ctx.preset.throughput_clients
    ));
    // The pages a busy help desk asks for: the default order and a few sorts.
    let urls: Arc<Vec<String>> = Arc::new(
        [
            "",
            "&$orderby=lastSyncDateTime%20desc",
            "&$orderby=model%20asc",
        ]
        .iter()
        .map(|order| ctx.devices_url(&format!("$top={PAGE}{order}")))
        .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_seconds_of(ctx.server_pid)?;
    let started = Instant::now();
    let mut clients = Vec::new();
    for client_index in 0..ctx.preset.throughput_clients {
        let client = ctx.client.clone();
        let urls = urls.clone();
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
    let server_cpu = cpu_seconds_of(ctx.server_pid)? - cpu_before;
    let per_second = all.len() as f64 / elapsed;
    section.value(
        "List requests per second",
        format!("{per_second:.0} ({} requests in {elapsed:.1} s)", all.len()),
        Some(("≥ 3,000/s", per_second >= BUDGET)),
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
