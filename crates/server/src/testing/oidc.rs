//! A real OpenID Provider for the tests: npm's `oidc-provider` (panva's, OpenID Certified), as
//! `scripts/setup` installs it (pinned in `crates/server/testing/oidc-provider`), started on a free
//! loopback port with the clients and accounts a test gives, and stopped when dropped.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// The provider's script, written beside its installed packages so that Node finds them.
const SCRIPT: &str = include_str!("../../testing/oidc-provider/provider.mjs");

/// Where `scripts/setup` installed the provider: `ATTACH_OIDC_PROVIDER`, else the project's cache
/// folder (as `scripts/lib.sh` makes it).
pub fn installed_at() -> PathBuf {
    if let Some(dir) = std::env::var_os("ATTACH_OIDC_PROVIDER") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("ATTACH_CENTER_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|dir| PathBuf::from(dir).join("attach-center"))
        })
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache")
                .join("attach-center")
        });
    cache.join("oidc-provider")
}

/// A running provider; it stops when dropped.
pub struct TestProvider {
    /// Its issuer URL, `http://127.0.0.1:<port>`.
    pub issuer: String,
    _child: Child,
    /// Closing it stops the provider.
    _stdin: ChildStdin,
}

impl TestProvider {
    /// Starts a provider with these clients (OpenID client metadata, e.g. `client_id`,
    /// `client_secret`, `redirect_uris`) and accounts (login → claims), and waits until it answers.
    pub async fn start(clients: serde_json::Value, accounts: serde_json::Value) -> Self {
        Self::start_on(free_port(), clients, accounts).await
    }

    /// [`TestProvider::start`] on a port the test chose (see [`free_port`]).
    pub async fn start_on(
        port: u16,
        clients: serde_json::Value,
        accounts: serde_json::Value,
    ) -> Self {
        Self::start_with(port, clients, accounts, serde_json::json!({})).await
    }

    /// [`TestProvider::start_on`] with more of the script's configuration (`keyFile`, `tamper`:
    /// see `testing/oidc-provider/provider.mjs`).
    pub async fn start_with(
        port: u16,
        clients: serde_json::Value,
        accounts: serde_json::Value,
        more: serde_json::Value,
    ) -> Self {
        let dir = installed_at();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the tests' OpenID Provider is not installed in {}: run scripts/setup",
            dir.display()
        );
        // One file per version of the script, written whole before it is renamed into place, so
        // that tests starting providers at once never run a half-written one.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(SCRIPT.as_bytes());
        let name = format!("provider-{}.mjs", hex(&digest[..8]));
        let script = dir.join(&name);
        if !script.is_file() {
            let part = dir.join(format!("{name}.{}.part", std::process::id()));
            std::fs::write(&part, SCRIPT).unwrap();
            std::fs::rename(&part, &script).unwrap();
        }
        let issuer = format!("http://127.0.0.1:{port}");
        let mut config = serde_json::json!({
            "issuer": issuer,
            "clients": clients,
            "accounts": accounts,
        });
        if let (Some(config), Some(more)) = (config.as_object_mut(), more.as_object()) {
            config.extend(more.clone());
        }
        let mut child = Command::new("node")
            .arg(&script)
            .env("ATTACH_OIDC_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (scripts/setup installs it)");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let err = child.stderr.take().unwrap();
        // Its warnings (development keys and interactions, by design here) are read and dropped,
        // so that the pipe never fills.
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(_)) = lines.next_line().await {}
        });
        let mut printed = Vec::new();
        loop {
            match out.next_line().await.unwrap() {
                Some(line) if line == format!("listening {issuer}") => break,
                Some(line) => printed.push(line),
                None => panic!("the OpenID Provider ended before it listened: {printed:?}"),
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self {
            issuer,
            _child: child,
            _stdin: stdin,
        }
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
