//! The performance suite's smallest preset, end to end: it must measure everything it reports
//! (the numbers are not judged here; `docs/performance.md` records real runs).

use std::path::PathBuf;
use std::process::Command;

fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dist")
}

/// The report of `attach-bench run --preset ci` with these arguments besides, in a tenant folder
/// of its own; fails with the bench's log if the run does.
fn ci_report(more: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let report = data.path().join("report.md");
    let output = Command::new(env!("CARGO_BIN_EXE_attach-bench"))
        .args(["run", "--preset", "ci", "--seed", "7"])
        .args(more)
        .arg("--data")
        .arg(data.path().join("tenant"))
        .arg("--dist")
        .arg(dist())
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    std::fs::read_to_string(report).unwrap()
}

#[test]
fn the_ci_preset_measures_every_part() {
    let report = ci_report(&[]);
    for title in [
        "The SPA's download",
        "The tenant",
        "All devices: first pages",
        "All devices: page 20 via `$skiptoken`",
        "All devices: filters",
        "All devices: `$search`",
        "All devices: `$count=true`",
        "Device detail",
        "Throughput",
        "CSV export of every device",
        "Device actions",
        "Site requests",
        "Server memory",
        "The SPA in headless Chromium (All devices)",
        "Ingest through the connector protocol",
    ] {
        assert!(
            report.contains(&format!("### {title}")),
            "no section {title}:\n{report}"
        );
    }
    // One row per sortable column and direction, plus the default order.
    let sorts = report
        .lines()
        .filter(|l| l.starts_with("| `$orderby="))
        .count();
    assert_eq!(
        sorts,
        2 * admin_server::query::devices::sortable().count(),
        "{report}"
    );
    // Every latency row measured as many requests as the preset asks (10), none failed.
    assert!(
        report.contains("| Default order (deviceName asc) | 10 |"),
        "{report}"
    );
    assert!(
        report.contains("| Round trip (20 actions, one at a time) | 20 |"),
        "{report}"
    );
    assert!(
        report.contains("| Round trip (20 CMPivot queries, one at a time) | 20 |"),
        "{report}"
    );
    assert!(
        report.contains("resource explorer answer (10 reads) | 10 |"),
        "{report}"
    );
    // The tenant is the preset's size, and the export had every device.
    assert!(
        report.contains("| Devices, hierarchies | 4000, 2 |"),
        "{report}"
    );
    // Downloaded as a browser downloads it: compressed.
    assert!(
        report.contains("Export of 4000 devices (0 MB of CSV, sent gzip)"),
        "{report}"
    );
    // The throughput part read the server's CPU time (a number of ms per request, not a blank).
    assert!(
        report
            .lines()
            .find_map(|l| l.strip_prefix("| Server CPU time per list request | "))
            .is_some_and(
                |rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains(" ms (")
            ),
        "{report}"
    );
    assert!(report.contains("Full upload of 2000 devices"), "{report}");
    // The offboarded hierarchy's rows were seen deleted, with a page timed at least once meanwhile.
    assert!(
        report
            .contains("| Its rows deleted in the background (slices of 1,000), from the Delete |"),
        "{report}"
    );
    assert!(
        report.contains("| First page of All devices while the rows are deleted |"),
        "{report}"
    );
    // What an operator and a site felt while the full syncs completed: each probe timed at least
    // once, and the 503s counted.
    for probe in [
        "First page of All devices during the full uploads",
        "An action request during the full uploads",
        "A sign-in during the full uploads",
        "A site's heartbeat during the full uploads",
    ] {
        let row = report
            .lines()
            .find(|line| line.starts_with(&format!("| {probe} |")))
            .unwrap_or_else(|| panic!("no row '{probe}' in {report}"));
        let n: u64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(n >= 1, "{row}");
    }
    assert!(
        report.contains("| Answers of 503 to those requests |"),
        "{report}"
    );
    // And what the server keeps once it is all over, in megabytes.
    let rss = report
        .lines()
        .find(|line| line.starts_with("| Server RSS after the ingest (idle) |"))
        .unwrap_or_else(|| panic!("no idle RSS in {report}"));
    let megabytes: u64 = rss
        .split('|')
        .nth(2)
        .unwrap()
        .trim()
        .trim_end_matches(" MB")
        .parse()
        .unwrap();
    assert!(megabytes > 0, "{rss}");
}

/// With `--database-url`, the reads on PostgreSQL (a throwaway cluster, as the server's suite
/// starts): the tenant copied in, every list row measured, and the throughput with one instance
/// and with two on the one database, each with the servers' CPU time per request.
#[tokio::test]
async fn the_ci_preset_measures_postgresql_with_one_instance_and_two() {
    let cluster = admin_server::testing::postgres::Cluster::start()
        .await
        .expect("a throwaway PostgreSQL cluster");
    let database = cluster.new_database().await.unwrap();
    let report = ci_report(&["--only", "list,throughput", "--database-url", &database]);
    assert!(
        report.contains("| Served from PostgreSQL (copied from the generated SQLite tenant) |"),
        "{report}"
    );
    assert!(
        report.contains("| Default order (deviceName asc) | 10 |"),
        "{report}"
    );
    let throughput: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("### Throughput: first page of All devices, "))
        .collect();
    assert_eq!(throughput.len(), 2, "{report}");
    assert!(
        throughput[1].ends_with(", two instances on one PostgreSQL"),
        "{report}"
    );
    let cpu_rows = report
        .lines()
        .filter_map(|l| l.strip_prefix("| Server CPU time per list request | "))
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains(" ms ("))
        .count();
    assert_eq!(cpu_rows, 2, "{report}");
}

#[test]
fn the_same_seed_makes_the_same_tenant() {
    use attach_bench::generate::hierarchy_config;
    use attach_bench::preset::{Preset, PresetName};
    use simulated_hierarchy::SimulatedHierarchy;
    let preset = Preset::get(PresetName::Ci);
    let devices = |seed| {
        let devices =
            SimulatedHierarchy::new(hierarchy_config(&preset, seed, 1)).devices_in_scope();
        serde_json::to_string(&devices).unwrap()
    };
    assert_eq!(devices(3), devices(3));
    assert_ne!(devices(3), devices(4));
}
