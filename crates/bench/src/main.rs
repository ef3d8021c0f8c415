use std::path::PathBuf;

use anyhow::Context;
use attach_bench::preset::{Preset, PresetName};
use attach_bench::{Part, RunOptions};
use clap::{Parser, Subcommand};

/// The server runs inside this binary (`serve`), so it has the admin server's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "attach-bench", about = "The admin center's performance suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measures everything (or `--only` some parts) and writes the report.
    Run {
        #[command(flatten)]
        tenant: TenantArgs,
        /// The built SPA.
        #[arg(long, default_value = "dist")]
        dist: PathBuf,
        /// Write the Markdown report here (it is always printed).
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<Part>,
        /// Serve the tenant from this PostgreSQL database (postgres://…) instead of SQLite; the
        /// generated tenant is copied into it when it has no devices.
        #[arg(long = "database-url")]
        database_url: Option<String>,
    },
    /// Generates the tenant only.
    Generate {
        #[command(flatten)]
        tenant: TenantArgs,
    },
    /// The SPA's sizes; fails when the wasm module is over its brotli budget.
    Bundle {
        #[arg(long, default_value = "dist")]
        dist: PathBuf,
    },
    /// Serves as `admin-server` does, with its flags after `--` (used by `run`).
    #[command(hide = true)]
    Serve {
        #[arg(last = true)]
        args: Vec<String>,
    },
}

/// Which tenant: its size, its seed, where it is kept.
#[derive(clap::Args)]
struct TenantArgs {
    #[arg(long, value_enum, default_value = "1m")]
    preset: PresetName,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the tenant's database is kept (and reused by later runs of the same preset and seed);
    /// target/bench/<preset> by default.
    #[arg(long)]
    data: Option<PathBuf>,
}

impl TenantArgs {
    fn resolve(self) -> (Preset, u64, PathBuf) {
        let preset = Preset::get(self.preset);
        let data = self
            .data
            .unwrap_or_else(|| PathBuf::from(format!("target/bench/{}", preset.name)));
        (preset, self.seed, data)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run {
            tenant,
            dist,
            report,
            only,
            database_url,
        } => {
            let (preset, seed, data) = tenant.resolve();
            let options = RunOptions {
                data,
                preset,
                seed,
                dist,
                parts: only,
                database_url,
                command: std::env::args()
                    .skip(1)
                    .fold("attach-bench".to_owned(), |line, arg| line + " " + &arg),
            };
            let markdown = attach_bench::run(&options).await?.markdown();
            println!("{markdown}");
            if let Some(path) = report {
                std::fs::write(&path, markdown)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Generate { tenant } => {
            let (preset, seed, data) = tenant.resolve();
            let marker = attach_bench::generate::generate(&data, &preset, seed).await?;
            println!(
                "{} devices in {} hierarchies in {:.1} s ({:.0} devices/s), in {}",
                marker.devices,
                marker.hierarchies.len(),
                marker.seconds,
                marker.devices as f64 / marker.seconds,
                data.display()
            );
        }
        Command::Bundle { dist } => {
            let (wasm, js) = attach_bench::bundle::measure(&dist)?;
            println!(
                "wasm: {} raw, {} gzip, {} brotli (budget {} brotli)\njs:   {} raw, {} gzip, {} brotli",
                wasm.raw,
                wasm.gzip,
                wasm.brotli,
                attach_bench::bundle::WASM_BROTLI_BUDGET,
                js.raw,
                js.gzip,
                js.brotli
            );
            if wasm.brotli > attach_bench::bundle::WASM_BROTLI_BUDGET {
                anyhow::bail!("the wasm module is over its budget");
            }
        }
        Command::Serve { args } => attach_bench::server::serve(args).await?,
    }
    Ok(())
}
