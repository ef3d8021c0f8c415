//! CSV export of every device: how long, and how much the server's memory grows meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::StreamExt;

use super::Context;
use crate::measure::Decoder;
use crate::report::Section;
use crate::server::rss_of;

pub async fn run(ctx: &Context, server_pid: u32) -> anyhow::Result<Section> {
    let mut section = Section::new("CSV export of every device");
    // Every device there is now (a run's action lab included, if an earlier run left one).
    let (_, body) = crate::measure::get_ok(
        &ctx.client,
        &format!("{}/api/v1/devices?$top=1&$count=true", ctx.url),
    )
    .await?;
    let devices = serde_json::from_slice::<admin_api::Collection<admin_api::Device>>(&body)?
        .count
        .unwrap_or_default();
    let before = rss_of(server_pid)?;
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let peak = peak.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(10));
            while !done.load(Ordering::Relaxed) {
                ticks.tick().await;
                if let Ok(rss) = rss_of(server_pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        })
    };
    let started = Instant::now();
    // Downloaded as a browser downloads it: compressed, decoded as it arrives.
    let response = ctx
        .client
        .get(format!("{}/api/v1/devices/export", ctx.url))
        .header(
            reqwest::header::ACCEPT_ENCODING,
            crate::measure::BROWSER_ACCEPT_ENCODING,
        )
        .send()
        .await?;
    if response.status() != 200 {
        bail!("export: {}", response.status());
    }
    let mut decoder = Decoder::new(&response, Lines::default())?;
    let encoding = decoder.encoding();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        decoder.write(&chunk?)?;
    }
    let Lines { bytes, lines } = decoder.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let rows = lines.saturating_sub(1);
    if rows != devices {
        bail!("the export has {rows} rows, the server counts {devices} devices");
    }
    let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
    section.value(
        format!(
            "Export of {rows} devices ({:.0} MB of CSV, sent {encoding})",
            bytes as f64 / 1e6
        ),
        format!("{seconds:.2} s ({:.0} rows/s)", rows as f64 / seconds),
        Some(("≤ 15 s", seconds <= 15.0)),
    );
    section.value(
        "Server RSS growth during the export",
        format!(
            "{:.1} MB (from {:.1} MB)",
            growth as f64 / 1e6,
            before as f64 / 1e6
        ),
        Some(("≤ 50 MB", growth <= 50_000_000)),
    );
    Ok(section)
}

/// Counts the decoded CSV's bytes and lines, keeping none of it.
#[derive(Default)]
struct Lines {
    bytes: u64,
    lines: u64,
}

impl std::io::Write for Lines {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<usize> {
        self.bytes += chunk.len() as u64;
        self.lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
