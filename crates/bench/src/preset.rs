//! How big a run is: the tenant, how many requests each measurement makes, what is ingested.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PresetName {
    /// 1,000,000 devices in 10 hierarchies: the numbers `docs/performance.md` reports.
    #[value(name = "1m")]
    Million,
    /// 100,000 devices in 10 hierarchies.
    #[value(name = "100k")]
    HundredThousand,
    /// 4,000 devices in 2 hierarchies, few requests: run by the test suite to catch breakage.
    #[value(name = "ci")]
    Ci,
}

#[derive(Debug, Clone)]
pub struct Preset {
    pub name: &'static str,
    pub hierarchies: usize,
    pub devices_per_hierarchy: usize,
    /// Requests per latency measurement.
    pub samples: usize,
    /// The page a deep page is (via `$skiptoken`).
    pub deep_page: usize,
    pub throughput_clients: usize,
    pub throughput_duration: Duration,
    /// Ingest through the protocol: sites uploading at once, devices each.
    pub ingest_sites: usize,
    pub ingest_devices_per_site: usize,
    pub delta_changes: usize,
    pub actions: usize,
    /// Cold loads of All devices in Chromium (a new browser profile each).
    pub browser_loads: usize,
}

impl Preset {
    pub fn get(name: PresetName) -> Self {
        match name {
            PresetName::Million => Self {
                name: "1m",
                hierarchies: 10,
                devices_per_hierarchy: 100_000,
                samples: 200,
                deep_page: 1_000,
                throughput_clients: 16,
                throughput_duration: Duration::from_secs(10),
                ingest_sites: 10,
                ingest_devices_per_site: 100_000,
                delta_changes: 10_000,
                actions: 1_000,
                browser_loads: 5,
            },
            PresetName::HundredThousand => Self {
                name: "100k",
                hierarchies: 10,
                devices_per_hierarchy: 10_000,
                samples: 200,
                deep_page: 1_000,
                throughput_clients: 16,
                throughput_duration: Duration::from_secs(5),
                ingest_sites: 10,
                ingest_devices_per_site: 10_000,
                delta_changes: 10_000,
                actions: 1_000,
                browser_loads: 5,
            },
            PresetName::Ci => Self {
                name: "ci",
                hierarchies: 2,
                devices_per_hierarchy: 2_000,
                samples: 10,
                deep_page: 20,
                throughput_clients: 4,
                throughput_duration: Duration::from_secs(1),
                ingest_sites: 2,
                ingest_devices_per_site: 1_000,
                delta_changes: 200,
                actions: 20,
                browser_loads: 1,
            },
        }
    }

    pub fn devices(&self) -> usize {
        self.hierarchies * self.devices_per_hierarchy
    }
}
