//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary folder, the server on a
//! free port, both as an unprivileged user when the tests run as root (PostgreSQL refuses to run
//! as root). No service needs to run beforehand and nothing is left behind: the server runs under
//! a small supervising shell that reads from a pipe held by the test process; when the process
//! ends, however it ends (a panic, SIGKILL), the pipe closes and the shell stops the server and
//! removes the folder.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::Connection;

/// The user the tests run PostgreSQL as when they run as root: Debian's package makes it.
const SERVER_USER: &str = "postgres";
/// The role the tests connect as (the cluster trusts local connections).
const ROLE: &str = "attach";
/// How long a starting cluster may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The test process's own cluster, started when first asked for; it stops with the process.
pub async fn shared() -> &'static Cluster {
    static SHARED: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();
    SHARED
        .get_or_init(|| async { Cluster::start().await.expect("the tests' cluster starts") })
        .await
}

/// A running throwaway cluster; stopped and removed when dropped (or when the process ends).
pub struct Cluster {
    port: u16,
    folder: PathBuf,
    supervisor: Child,
    /// Closing it stops the cluster.
    stop: Option<ChildStdin>,
    databases: AtomicU32,
}

impl Cluster {
    /// Makes a cluster in a new temporary folder and starts it.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("attach-center-pg-")
            .tempdir()
            .context("a temporary folder for the cluster")?
            // The supervising shell removes it; kept from the guard's own removal.
            .keep();
        let user = as_root().then_some(SERVER_USER);
        if let Some(user) = user {
            let (uid, gid) = (id(user, "-u")?, id(user, "-g")?);
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to {user}", dir.display()))?;
        }
        let data = dir.join("data");
        let initdb = as_user(user, &bin.join("initdb"))
            .args([
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ])
            .arg(format!("--username={ROLE}"))
            .arg("-D")
            .arg(&data)
            .output()
            .context("running initdb")?;
        if !initdb.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            bail!("initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
        }
        let port = free_port()?;
        let script = r#"
            "$1/postgres" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                -c max_connections=200 >"$2/server.log" 2>&1 &
            server=$!
            cat >/dev/null
            kill -INT "$server"
            wait "$server"
            rm -rf "$2"
        "#;
        let mut supervisor = as_user(user, Path::new("/bin/sh"))
            .args(["-c", script, "supervisor"])
            .arg(&bin)
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the cluster")?;
        let stop = supervisor.stdin.take();
        let cluster = Self {
            port,
            folder: dir.clone(),
            supervisor,
            stop,
            databases: AtomicU32::new(0),
        };
        cluster.wait_until_ready(&dir).await?;
        Ok(cluster)
    }

    /// The cluster's folder (its data, socket and log), removed when the cluster stops.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The address of `database` in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/{database}", self.port)
    }

    /// Makes a new, empty database and gives its address.
    pub async fn new_database(&self) -> anyhow::Result<String> {
        let name = format!("test_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(self.url(&name))
    }

    async fn wait_until_ready(&self, dir: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            match sqlx::PgConnection::connect(&self.url("postgres")).await {
                Ok(connection) => return Ok(connection.close().await?),
                Err(error) if started.elapsed() > READY_WITHIN => {
                    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                    bail!("the cluster did not start: {error}\n{log}");
                }
                // Polling an outside process that has no way to say it is ready: the pauses
                // double up to a quarter of a second.
                Err(_) => tokio::time::sleep(pause).await,
            }
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.stop.take());
        let _ = self.supervisor.wait();
    }
}

/// Where PostgreSQL's programs are: `ATTACH_CENTER_PG_BIN`, or the newest Debian install.
fn binaries() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("ATTACH_CENTER_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup, \
             or set ATTACH_CENTER_PG_BIN"
        ),
    }
}

fn as_root() -> bool {
    id_of_self() == Some(0)
}

fn id_of_self() -> Option<u32> {
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn id(user: &str, which: &str) -> anyhow::Result<u32> {
    let out = Command::new("id").args([which, user]).output()?;
    if !out.status.success() {
        bail!("no user {user} to run PostgreSQL as (Debian's postgresql package makes it)");
    }
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// `program` run as `user` (through `runuser`), or as this process's user.
fn as_user(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
