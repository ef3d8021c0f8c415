//! The results of a run, as Markdown.

use std::fmt::Write;

use crate::measure::{ms, Samples};

pub struct LatencyRow {
    pub name: String,
    pub samples: Samples,
    /// The budget for p95, in milliseconds.
    pub p95_budget_ms: Option<f64>,
}

pub struct ValueRow {
    pub name: String,
    pub value: String,
    pub budget: Option<String>,
    /// Whether the budget was met, when there is one.
    pub met: Option<bool>,
}

#[derive(Default)]
pub struct Section {
    pub title: String,
    pub latencies: Vec<LatencyRow>,
    pub values: Vec<ValueRow>,
}

impl Section {
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            ..Self::default()
        }
    }

    pub fn latency(
        &mut self,
        name: impl Into<String>,
        samples: Samples,
        p95_budget_ms: Option<f64>,
    ) {
        let row = LatencyRow {
            name: name.into(),
            samples,
            p95_budget_ms,
        };
        eprintln!(
            "  {}: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms ({} requests)",
            row.name,
            ms(row.samples.percentile(50.0)),
            ms(row.samples.percentile(95.0)),
            ms(row.samples.percentile(99.0)),
            row.samples.len()
        );
        self.latencies.push(row);
    }

    pub fn value(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
        budget: Option<(&str, bool)>,
    ) {
        let row = ValueRow {
            name: name.into(),
            value: value.into(),
            budget: budget.map(|(text, _)| text.to_owned()),
            met: budget.map(|(_, met)| met),
        };
        eprintln!("  {}: {}", row.name, row.value);
        self.values.push(row);
    }
}

pub struct Report {
    pub heading: String,
    pub sections: Vec<Section>,
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "",
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.heading);
        for section in &self.sections {
            let _ = writeln!(out, "\n### {}\n", section.title);
            if !section.latencies.is_empty() {
                let _ = writeln!(
                    out,
                    "| Request | n | p50 ms | p95 ms | p99 ms | max ms | p95 budget | |\n|---|--:|--:|--:|--:|--:|--:|---|"
                );
                for row in &section.latencies {
                    let p95 = ms(row.samples.percentile(95.0));
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                        row.name,
                        row.samples.len(),
                        ms(row.samples.percentile(50.0)),
                        p95,
                        ms(row.samples.percentile(99.0)),
                        ms(row.samples.max()),
                        row.p95_budget_ms
                            .map(|b| format!("≤ {b}"))
                            .unwrap_or_default(),
                        verdict(row.p95_budget_ms.map(|b| p95 <= b)),
                    );
                }
            }
            if !section.values.is_empty() {
                if !section.latencies.is_empty() {
                    out.push('\n');
                }
                let _ = writeln!(
                    out,
                    "| Measurement | Result | Budget | |\n|---|--:|--:|---|"
                );
                for row in &section.values {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} |",
                        row.name,
                        row.value,
                        row.budget.as_deref().unwrap_or(""),
                        verdict(row.met)
                    );
                }
            }
        }
        out
    }

    /// Every measurement's name, to check that a run measured everything it should.
    pub fn names(&self) -> Vec<String> {
        self.sections
            .iter()
            .flat_map(|s| {
                s.latencies
                    .iter()
                    .map(|r| r.name.clone())
                    .chain(s.values.iter().map(|r| r.name.clone()))
            })
            .collect()
    }
}
