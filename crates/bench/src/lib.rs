//! The performance suite of issue 6: a generated tenant (1M devices in 10 hierarchies, or a
//! smaller preset), the server in a process of its own, and measurements of every budget, written
//! as Markdown. `scripts/bench` runs it; `docs/performance.md` has the results.

pub mod bundle;
pub mod generate;
pub mod measure;
pub mod preset;
pub mod report;
pub mod scenarios;
pub mod server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use admin_server::auth::password;
use admin_server::store::audit::Actor;
use admin_server::store::users::NewUser;
use admin_server::store::Store;

use crate::generate::TenantMarker;
use crate::preset::Preset;
use crate::report::{Report, Section};
use crate::scenarios::Context;
use crate::server::ServerProcess;

pub const BENCH_USER: &str = "bench@bench.example";

/// What to measure; all of it by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Part {
    Bundle,
    List,
    Throughput,
    Export,
    Actions,
    Memory,
    Browser,
    Ingest,
}

pub struct RunOptions {
    pub preset: Preset,
    pub seed: u64,
    pub data: PathBuf,
    pub dist: PathBuf,
    pub parts: Vec<Part>,
    /// A PostgreSQL database to serve the tenant from (`postgres://…`): the generated tenant is
    /// copied into it once (`admin-server migrate-to`'s copy) when it has no devices yet.
    pub database_url: Option<String>,
    /// How the run was started, for the report.
    pub command: String,
}

/// Makes (or resets) the benchmark account in the database at `url`; returns its password.
pub async fn bench_user(database_url: &str) -> anyhow::Result<String> {
    let store = Store::connect(database_url).await?;
    let secret = password::generate();
    let hash = {
        let secret = secret.clone();
        tokio::task::spawn_blocking(move || password::hash(&secret)).await?
    };
    let now = time::OffsetDateTime::now_utc();
    if store.credentials(BENCH_USER).await?.is_some() {
        store
            .set_password(
                BENCH_USER,
                &hash,
                &admin_server::store::audit::Actor::command_line(),
                time::OffsetDateTime::now_utc(),
            )
            .await?;
    } else {
        store
            .create_user(
                &NewUser {
                    user_name: BENCH_USER,
                    display_name: "Benchmark",
                    password_hash: &hash,
                    roles: &["Intune Administrator".to_owned()],
                },
                &Actor::command_line(),
                now,
            )
            .await?;
    }
    store.close().await;
    Ok(secret)
}

/// The cores this process may run on, if the system says.
pub(crate) fn cores() -> Option<usize> {
    std::thread::available_parallelism().ok().map(|n| n.get())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cores().unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or("?".into(), |kib| {
            format!("{:.0} GiB", kib as f64 / 1_048_576.0)
        });
    format!("{cpu}, {cores} cores, {memory} RAM")
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// The tenant for this preset and seed in `data`, generated when it is not there yet.
pub async fn tenant(
    data: &Path,
    preset: &Preset,
    seed: u64,
) -> anyhow::Result<(TenantMarker, bool)> {
    if let Some(marker) = generate::existing(data, preset, seed) {
        eprintln!("Reusing the {} tenant in {}", preset.name, data.display());
        return Ok((marker, false));
    }
    eprintln!(
        "Generating the {} tenant ({} devices) in {}",
        preset.name,
        preset.devices(),
        data.display()
    );
    Ok((generate::generate(data, preset, seed).await?, true))
}

/// Copies the SQLite tenant at `sqlite` into the PostgreSQL database at `postgres` unless that
/// already has devices; what was done, for the report.
async fn into_postgres(sqlite: &str, postgres: &str) -> anyhow::Result<String> {
    let pool = admin_server::store::postgres::connect(postgres).await?;
    let devices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
        .fetch_one(&pool)
        .await?;
    if devices > 0 {
        pool.close().await;
        return Ok(format!("{devices} devices there from an earlier run"));
    }
    eprintln!("Copying the tenant into PostgreSQL");
    let store = Store::connect(sqlite).await?;
    let started = std::time::Instant::now();
    let copied = admin_server::store::postgres::copy_from_sqlite(&store, &pool).await?;
    let seconds = started.elapsed().as_secs_f64();
    sqlx::query("ANALYZE").execute(&pool).await?;
    store.close().await;
    pool.close().await;
    let rows: u64 = copied.iter().map(|table| table.rows).sum();
    Ok(format!("{rows} rows copied in {seconds:.0} s"))
}

/// The URL of the database named after the one at `postgres` with `_{suffix}` added.
fn sibling_database(postgres: &str, suffix: &str) -> anyhow::Result<(reqwest::Url, String)> {
    let mut url = reqwest::Url::parse(postgres)?;
    let name = url.path().trim_start_matches('/');
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("the database name in {postgres} is not a plain identifier");
    }
    let sibling = format!("{name}_{suffix}");
    url.set_path(&format!("/{sibling}"));
    Ok((url, sibling))
}

/// Makes an empty database beside the one at `postgres` (dropping what an earlier run left);
/// its URL.
async fn empty_postgres_database(postgres: &str, suffix: &str) -> anyhow::Result<String> {
    drop_postgres_database(postgres, suffix).await?;
    let (url, name) = sibling_database(postgres, suffix)?;
    let pool = sqlx::PgPool::connect(postgres).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(url.to_string())
}

/// Drops the database `empty_postgres_database` made, if it is there.
async fn drop_postgres_database(postgres: &str, suffix: &str) -> anyhow::Result<()> {
    let (_, name) = sibling_database(postgres, suffix)?;
    let pool = sqlx::PgPool::connect(postgres).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

pub async fn run(options: &RunOptions) -> anyhow::Result<Report> {
    let preset = &options.preset;
    let wants = |part: Part| options.parts.is_empty() || options.parts.contains(&part);
    let mut sections = Vec::new();

    if wants(Part::Bundle) {
        eprintln!("Bundle");
        let (wasm, js) = bundle::measure(&options.dist)?;
        let mut section = Section::new("The SPA's download");
        section.value(
            "wasm module: raw / gzip / brotli",
            format!("{} / {} / {} B", wasm.raw, wasm.gzip, wasm.brotli),
            Some((
                "≤ 300,000 B brotli (aim 150,000)",
                wasm.brotli <= bundle::WASM_BROTLI_BUDGET,
            )),
        );
        section.value(
            "JavaScript glue: raw / gzip / brotli",
            format!("{} / {} / {} B", js.raw, js.gzip, js.brotli),
            None,
        );
        sections.push(section);
    }

    let reads = [
        Part::List,
        Part::Throughput,
        Part::Export,
        Part::Actions,
        Part::Memory,
        Part::Browser,
    ];
    if reads.into_iter().any(wants) {
        let (tenant, generated) = tenant(&options.data, preset, options.seed).await?;
        let mut setup = Section::new("The tenant");
        setup.value(
            "Devices, hierarchies",
            format!("{}, {}", tenant.devices, tenant.hierarchies.len()),
            None,
        );
        setup.value(
            "Generated through the store (onboard, site, full sync in batches of 5,000)",
            format!(
                "{:.1} s, {:.0} devices/s{}",
                tenant.seconds,
                tenant.devices as f64 / tenant.seconds,
                if generated { "" } else { " (an earlier run's)" }
            ),
            None,
        );
        let mut database_url = generate::database_url(&options.data);
        if let Some(postgres) = &options.database_url {
            let copied = into_postgres(&database_url, postgres).await?;
            setup.value(
                "Served from PostgreSQL (copied from the generated SQLite tenant)",
                copied,
                None,
            );
            database_url = postgres.clone();
        }
        let secret = bench_user(&database_url).await?;
        let server = ServerProcess::start(&database_url, &options.dist).await?;
        let cookie = measure::sign_in(&server.url, BENCH_USER, &secret).await?;
        let client = measure::client_with(&cookie)?;
        measure::get_ok(&client, &format!("{}/api/v1/devices?$top=50", server.url)).await?;
        let started_rss = server.rss()?;
        setup.value(
            "Server RSS after start and a first page",
            format!("{:.1} MB", started_rss as f64 / 1e6),
            None,
        );
        sections.push(setup);
        let ctx = Context {
            url: server.url.clone(),
            client,
            preset: preset.clone(),
            tenant,
            server_pid: server.pid,
        };
        if wants(Part::List) {
            eprintln!("List");
            sections.push(scenarios::list::first_pages(&ctx).await?);
            sections.push(scenarios::list::deep_pages(&ctx).await?);
            sections.push(scenarios::list::filters(&ctx).await?);
            sections.push(scenarios::list::search(&ctx).await?);
            sections.push(scenarios::list::counts(&ctx).await?);
            sections.push(scenarios::list::detail(&ctx).await?);
        }
        if wants(Part::Throughput) {
            eprintln!("Throughput");
            sections.push(scenarios::throughput::run(&ctx).await?);
            // Instances share a database only on PostgreSQL.
            if options.database_url.is_some() {
                eprintln!("Throughput, two instances");
                let second = ServerProcess::start(&database_url, &options.dist).await?;
                measure::get_ok(
                    &ctx.client,
                    &format!("{}/api/v1/devices?$top=50", second.url),
                )
                .await?;
                let instance = scenarios::throughput::Instance {
                    url: &second.url,
                    pid: second.pid,
                };
                sections.push(scenarios::throughput::two_instances(&ctx, instance).await?);
                second.stop().await?;
            }
        }
        if wants(Part::Export) {
            eprintln!("Export");
            sections.push(scenarios::export::run(&ctx, server.pid).await?);
        }
        if wants(Part::Actions) {
            eprintln!("Actions");
            sections.push(scenarios::actions::run(&ctx).await?);
            eprintln!("Site requests");
            sections.push(scenarios::site_requests::run(&ctx, server.pid).await?);
            eprintln!("Bulk action");
            sections.push(scenarios::bulk::run(&ctx, server.pid).await?);
        }
        if wants(Part::Memory) {
            eprintln!("Memory");
            let mut section = Section::new("Server memory");
            // Idle means idle: nothing asked of it for a while (a measurement, not a synchronization).
            tokio::time::sleep(Duration::from_secs(3)).await;
            let rss = server.rss()?;
            section.value(
                format!(
                    "RSS with {} devices loaded, idle after the runs above",
                    ctx.tenant.devices
                ),
                format!("{:.1} MB", rss as f64 / 1e6),
                Some(("≤ 300 MB", rss <= 300_000_000)),
            );
            sections.push(section);
        }
        if wants(Part::Browser) {
            eprintln!("Browser");
            sections.push(scenarios::browser::run(&ctx, &cookie, preset.browser_loads).await?);
        }
        server.stop().await?;
    }

    if wants(Part::Ingest) {
        eprintln!("Ingest");
        let folder = options.data.join("ingest");
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder)?;
        // Into an empty database: a file of its own on SQLite, a database of its own beside the
        // tenant's on PostgreSQL (made anew each run, dropped after).
        let database_url = match &options.database_url {
            Some(postgres) => empty_postgres_database(postgres, "ingest").await?,
            None => format!("sqlite:{}", folder.join("ingest.sqlite").display()),
        };
        let secret = bench_user(&database_url).await?;
        let server = ServerProcess::start(&database_url, &options.dist).await?;
        let client = measure::signed_in(&server.url, BENCH_USER, &secret).await?;
        let operator = scenarios::ingest::Operator {
            user_name: BENCH_USER,
            password: &secret,
        };
        let mut section = scenarios::ingest::run(
            &server.url,
            &database_url,
            &client,
            operator,
            preset,
            options.seed,
        )
        .await?;
        // Everything uploaded, delta'd, offboarded and deleted: what the server keeps.
        let rss = server.rss()? as f64 / 1_048_576.0;
        section.value(
            "Server RSS after the ingest (idle)",
            format!("{rss:.0} MB"),
            Some(("≤ 300 MB", rss <= 300.0)),
        );
        sections.push(section);
        server.stop().await?;
        std::fs::remove_dir_all(&folder)?;
        if let Some(postgres) = &options.database_url {
            drop_postgres_database(postgres, "ingest").await?;
        }
    }

    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(Report {
        heading: format!(
            "## Preset `{}` ({} devices), seed {}\n\n- Date: {date}\n- Machine: {}\n- Commit: {}\n- Command: `{}`",
            preset.name,
            preset.devices(),
            options.seed,
            machine(),
            commit(),
            options.command
        ),
        sections,
    })
}
