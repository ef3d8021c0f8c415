//! The server under test, in a process of its own (so that its memory is its own): this binary
//! re-run as `attach-bench serve`, which is the admin server's own start-up with its own flags.

use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub pid: u32,
}

/// Flags that let one benchmark user and its sites send as fast as they can: the benchmarks
/// measure the server, not its rate limits.
const UNLIMITED: &[&str] = &[
    "--user-requests-per-second",
    "1000000",
    "--user-request-burst",
    "1000000",
    "--connector-requests-per-second",
    "1000000",
    "--connector-request-burst",
    "1000000",
    // The ingest part signs in again and again and attaches eleven sites from one address.
    "--sign-in-account-burst",
    "1000000",
    "--sign-in-address-burst",
    "1000000",
    "--onboard-address-burst",
    "1000000",
];

impl ServerProcess {
    pub async fn start(database_url: &str, dist: &Path) -> anyhow::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve")
            .arg("--")
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .arg("--database-url")
            .arg(database_url)
            .arg("--dist")
            .arg(dist)
            .args(UNLIMITED)
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        // The server reads its settings from ADMIN_* too: none of the caller's may leak in.
        for (name, _) in std::env::vars() {
            if name.starts_with("ADMIN_") {
                command.env_remove(name);
            }
        }
        let mut child = command.spawn().context("starting the server")?;
        let pid = child.id().context("the server's pid")?;
        let mut lines = BufReader::new(child.stdout.take().context("its output")?).lines();
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("Admin center: open ") {
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                // Keep draining its output so that it never blocks on a full pipe.
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Ok(Self { child, url, pid });
            }
        }
        bail!("the server stopped before it printed its address")
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> anyhow::Result<u64> {
        rss_of(self.pid)
    }

    /// Stops it with SIGTERM, as a service manager would, and waits.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("could not signal the server");
        }
        self.child.wait().await?;
        Ok(())
    }
}

pub fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS in /proc/<pid>/status")?;
    Ok(kib * 1024)
}

/// CPU time a process has used so far (user and system, all its threads), in seconds.
pub fn cpu_seconds_of(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14 and stime 15 (proc(5)).
    let after_name = stat.rsplit_once(") ").context("/proc/<pid>/stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i - 3)
            .and_then(|v| v.parse().ok())
            .context("utime and stime in /proc/<pid>/stat")
    };
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if per_second <= 0 {
        bail!("the clock tick rate is unknown");
    }
    Ok((ticks(14)? + ticks(15)?) as f64 / per_second as f64)
}

/// `attach-bench serve -- <admin-server flags>`: what the `admin-server` binary does to serve.
pub async fn serve(args: Vec<String>) -> anyhow::Result<()> {
    use clap::Parser;
    let cli = admin_server::config::Cli::parse_from(
        std::iter::once("admin-server".to_owned()).chain(args),
    );
    let server = admin_server::Server::start(&cli.config, async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
    .await?;
    println!("Admin center: open {}", server.url());
    server.finished().await
}
