//! The `admin-server` binary itself: configured by environment, prints its URL, stops cleanly on
//! SIGTERM and SIGINT.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use admin_server::testing::Backend;

use crate::helpers::until_url;

/// The `admin-server` binary, on a database of the chosen backend: the SQLite file
/// `data/db.sqlite` in `dir`, or a fresh PostgreSQL database (whose demo sites then keep their
/// credentials in `data/demo-sites.json` in `dir`, as `--demo-sites`).
async fn admin_server(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_admin-server"));
    match Backend::chosen() {
        Backend::Sqlite => command.env(
            "ADMIN_DATABASE_URL",
            format!("sqlite:{}/data/db.sqlite", dir.display()),
        ),
        Backend::Postgres => command
            .env("ADMIN_DATABASE_URL", Backend::fresh_database(dir).await)
            .env("ADMIN_DEMO_SITES", dir.join("data/demo-sites.json")),
    };
    command
}

async fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut child = admin_server(dir.path())
        .await
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env("ADMIN_DIST", dir.path())
        .env("ADMIN_DEMO", "true")
        .env("ADMIN_DEMO_PASSWORD", crate::PASSWORD)
        .env("ADMIN_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The logs, on standard error, read to their end meanwhile.
    let mut logs = BufReader::new(child.stderr.take().unwrap());
    let logs = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut text = String::new();
        logs.read_to_string(&mut text).await.unwrap();
        text
    });
    let (url, printed) = until_url(&mut lines).await;
    let url = url.expect("the server prints the URL to open");
    // One demo account per built-in role, its password printed once.
    for (user, role) in [
        ("admin@contoso.example", "Intune Administrator"),
        ("helpdesk@contoso.example", "Help Desk Operator"),
        ("reader@contoso.example", "Read Only Operator"),
    ] {
        assert!(
            printed
                .lines()
                .any(|l| l.contains(user) && l.contains(role) && l.contains(crate::PASSWORD)),
            "{printed}"
        );
    }
    let (client, cookie) = signed_in(&url, "admin@contoso.example").await;
    // An open event stream must not hold the shutdown up.
    let _events = demo_sites_attach(&client, &url).await;
    if Backend::chosen() == Backend::Sqlite {
        assert!(
            dir.path().join("data/db.sqlite").is_file(),
            "the data folder was created"
        );
    }

    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let mut printed_after = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        printed_after.push_str(&line);
        printed_after.push('\n');
    }
    let rest = logs.await.unwrap();
    assert!(child.wait().await.unwrap().success(), "{rest}");
    // Standard output has what the server prints for its operator, no log line.
    assert_eq!(printed_after, "", "{printed_after}");
    assert!(!printed.contains("\"level\""), "{printed}");
    assert!(rest.contains("stopped cleanly"), "{rest}");
    assert!(rest.contains("signed in"), "{rest}");
    // Secrets never reach the log: not the password, not the session token.
    let token = cookie.split_once('=').unwrap().1;
    assert!(
        !rest.contains(crate::PASSWORD) && !rest.contains(token),
        "{rest}"
    );
    // Nor the demo sites' connector credentials (their secrets, after the id), whose file only
    // its owner may read.
    let sites_file = dir.path().join("data/demo-sites.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sites_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "demo-sites.json is private");
    }
    let sites: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sites_file).unwrap()).unwrap();
    let secrets: Vec<&str> = sites["sites"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|credential| credential.as_str()?.split_once('.').map(|(_, s)| s))
        .collect();
    assert_eq!(secrets.len(), 3);
    assert!(
        secrets.iter().all(|secret| !rest.contains(secret)),
        "{rest}"
    );
    assert!(
        rest.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "json logs: {rest}"
    );
}

#[tokio::test]
async fn stops_cleanly_on_sigterm() {
    stops_cleanly_on("TERM").await;
}

#[tokio::test]
async fn stops_cleanly_on_sigint() {
    stops_cleanly_on("INT").await;
}

/// Demo mode keeps its sites' credentials in a file: on PostgreSQL there is no database folder to
/// put it in, so the server refuses to start without `--demo-sites` rather than write it wherever
/// it was started from.
#[tokio::test]
async fn demo_mode_on_postgres_needs_a_file_for_its_sites() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = match Backend::chosen() {
        Backend::Postgres => Backend::fresh_database(dir.path()).await,
        // Refused before anything is written: no database needs to be there.
        Backend::Sqlite => "postgres://nobody@127.0.0.1:1/none".to_owned(),
    };
    let running = Command::new(env!("CARGO_BIN_EXE_admin-server"))
        .current_dir(dir.path())
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env("ADMIN_DATABASE_URL", &database_url)
        .env("ADMIN_DIST", dir.path())
        .env("ADMIN_DEMO", "true")
        .env("ADMIN_DEMO_PASSWORD", crate::PASSWORD)
        .kill_on_drop(true)
        .output();
    // A server that started instead would serve until stopped.
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), running)
        .await
        .expect("the server refuses to start")
        .unwrap();
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("--demo-sites"), "{printed}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written to the working folder"
    );
    if Backend::chosen() == Backend::Postgres {
        // Nor any demo account made.
        let store = admin_server::store::Store::connect(&database_url)
            .await
            .unwrap();
        assert!(store
            .credentials("admin@contoso.example")
            .await
            .unwrap()
            .is_none());
        store.close().await;
    }
}

/// Demo mode attaches three sites through the connector protocol. Subscribes to the event stream
/// first, then looks at the connectors after every event, so that no change is missed.
async fn demo_sites_attach(client: &reqwest::Client, url: &str) -> reqwest::Response {
    let mut events = client
        .get(format!("{url}/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let synced = || async {
        let connectors: admin_api::Collection<admin_api::Connector> = client
            .get(format!("{url}/api/v1/connectors"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        connectors.value.len() == 3 && connectors.value.iter().all(|c| c.device_count > 0)
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !synced().await {
        tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("the demo sites attach within a minute")
            .unwrap()
            .expect("the event stream stays open");
    }
    events
}

/// Signs in at `url` with [`crate::PASSWORD`]: a client with the session, and its cookie.
pub async fn signed_in(url: &str, user_name: &str) -> (reqwest::Client, String) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/session"))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&serde_json::json!({"userName": user_name, "password": crate::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    (crate::client_with_cookie(&cookie), cookie)
}

/// A flood of refused requests is a few log lines, not one a request: a wrong onboarding token
/// tried 300 times from one address (refused 401, then 429 once the address's attempts run out)
/// is logged once per kind and window, and the rest summed up (how many, from where, over what
/// time), every refusal accounted for. A sign-in refused by the account's limit says so.
#[tokio::test]
async fn a_flood_of_refusals_is_summed_up_in_the_log() {
    const FLOOD: u64 = 300;
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut child = admin_server(dir.path())
        .await
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env("ADMIN_DIST", dir.path())
        .env("ADMIN_LOG", "info")
        .env("ADMIN_LOG_FORMAT", "json")
        .env("ADMIN_REFUSAL_LOG_WINDOW", "2s")
        // Not in demo mode: no demo sites' file.
        .env_remove("ADMIN_DEMO_SITES")
        .env("ADMIN_SIGN_IN_ACCOUNT_BURST", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (url, _) = until_url(&mut lines).await;
    let Some(url) = url else {
        let mut printed = String::new();
        use tokio::io::AsyncReadExt;
        let _ = child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut printed)
            .await;
        panic!("the server did not start: {printed}");
    };
    // The logs, read as they come (a server blocked on a full pipe would stall the flood).
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let (sender, mut logs) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            if sender.send(line).is_err() {
                return;
            }
        }
    });

    let client = reqwest::Client::new();
    let flooded = std::time::Instant::now();
    for _ in 0..FLOOD {
        let status = client
            .post(format!("{url}/api/connector/v1/onboard"))
            .bearer_auth("cmot_not-a-token")
            .json(&serde_json::json!({"hierarchyId": "flood"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 401 || status == 429, "{status}");
    }
    let took = flooded.elapsed();
    for _ in 0..4 {
        client
            .post(format!("{url}/api/v1/session"))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&serde_json::json!({"userName": "nobody@tests.example", "password": "wrong"}))
            .send()
            .await
            .unwrap();
    }

    // Read until every refusal of the flood is accounted for: logged on its own, or summed up.
    let mut logged = 0u64;
    let mut summed = 0u64;
    let mut refusal_lines = 0u64;
    let mut account_limit_named = false;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while logged + summed < FLOOD || !account_limit_named {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{logged} logged and {summed} summed of {FLOOD}, the account's limit named: \
             {account_limit_named}:\n{seen}"
        );
        let line = tokio::time::timeout_at(deadline, logs.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{logged} logged and {summed} summed of {FLOOD} after a minute:\n{seen}")
            })
            .expect("the server logs on");
        seen.push_str(&line);
        seen.push('\n');
        let line: serde_json::Value = serde_json::from_str(&line).expect("json logs");
        let fields = &line["fields"];
        let on_onboard = line["span"]["path"] == "/api/connector/v1/onboard";
        if on_onboard && fields["status"].is_u64() {
            logged += 1;
            refusal_lines += 1;
        }
        if fields["refusal"]
            .as_str()
            .is_some_and(|kind| kind.contains("/api/connector/v1/onboard"))
        {
            assert_eq!(fields["from"], "127.0.0.1", "{line}");
            summed += fields["repeated"].as_u64().unwrap();
            refusal_lines += 1;
        }
        if fields["refused_by"] == "sign-in attempts for the account" {
            account_limit_named = true;
        }
    }
    assert_eq!(logged + summed, FLOOD, "{seen}");
    // Two kinds (401, then 429): a line for the first of each window and one summing it up.
    let windows = (took.as_secs_f64() / WINDOW.as_secs_f64()).ceil() as u64 + 1;
    assert!(
        refusal_lines <= 2 * 2 * windows,
        "{refusal_lines} lines for {FLOOD} refusals over {took:?}:\n{seen}"
    );
    child.kill().await.unwrap();
}
