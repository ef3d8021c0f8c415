//! Sign-in through the organization's OpenID Connect provider, against a real one (npm's
//! oidc-provider): the settings checked at start, the provider discovered through it.

use std::process::Stdio;

use admin_server::testing::oidc::{free_port, TestProvider};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{spawn_app_with, until_url};

const CLIENT_ID: &str = "attach-center";
const CLIENT_SECRET: &str = "a secret the provider and the admin center share";

/// The admin center as a client of the test provider, its public URL `public_url`.
fn client(public_url: &str) -> serde_json::Value {
    json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{public_url}/api/v1/session/oidc/callback")],
        "post_logout_redirect_uris": [format!("{public_url}/signin")],
        "backchannel_logout_uri": format!("{public_url}/api/v1/session/oidc/backchannel-logout"),
    }])
}

/// The `admin-server` binary on a fresh SQLite database in `dir`, with `args`; its secret file
/// is written there.
fn admin_server(dir: &std::path::Path, args: &[&str]) -> Command {
    let secret = dir.join("client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_admin-server"));
    if args.contains(&"--oidc-issuer") {
        command.env("ADMIN_OIDC_CLIENT_SECRET_FILE", &secret);
    }
    command
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .env(
            "ADMIN_DATABASE_URL",
            format!("sqlite:{}/db.sqlite", dir.display()),
        )
        .env("ADMIN_DIST", dir)
        .env_remove("ADMIN_OIDC_CLIENT_SECRET")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A setting that cannot work stops the server before it serves, with a message that names the
/// flag to fix; nothing is listening and nothing was written.
#[tokio::test]
async fn a_wrong_provider_setting_stops_the_server_naming_its_flag() {
    let public = ["--public-url", "https://attach.contoso.example"];
    let issuer = "https://login.contoso.example/tenant/v2.0";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--oidc-issuer",
                "login.contoso.example",
                "--oidc-client-id",
                "x",
            ],
            "--oidc-issuer must be a URL",
        ),
        (
            vec![
                "--oidc-issuer",
                "http://login.contoso.example",
                "--oidc-client-id",
                "x",
            ],
            "--oidc-issuer must be an https:// URL",
        ),
        (
            vec![
                "--oidc-issuer",
                "https://login.contoso.example/?tenant=1",
                "--oidc-client-id",
                "x",
            ],
            "--oidc-issuer takes no query",
        ),
        (
            vec!["--oidc-issuer", issuer],
            "--oidc-issuer needs --oidc-client-id",
        ),
        (vec!["--oidc-client-id", "x"], "need --oidc-issuer"),
        (
            vec![
                "--oidc-issuer",
                issuer,
                "--oidc-client-id",
                "x",
                "--public-url",
                "attach",
            ],
            "--public-url must be a URL",
        ),
        (
            vec!["--local-sign-in", "off"],
            "--local-sign-in off needs --oidc-issuer",
        ),
        (
            vec!["--local-sign-in", "off", "--demo"],
            "--local-sign-in off cannot be used with --demo",
        ),
    ];
    for (args, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut all: Vec<&str> = args.clone();
        if !args.contains(&"--public-url")
            && args.contains(&"--oidc-issuer")
            && !expected.contains("--public-url")
        {
            all.extend(public);
        }
        let out = admin_server(dir.path(), &all).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            !dir.path().join("db.sqlite").exists(),
            "{args:?} made the database"
        );
    }
    // Without the secret the server does not start either.
    let dir = tempfile::tempdir().unwrap();
    let mut command = admin_server(
        dir.path(),
        &["--oidc-issuer", issuer, "--oidc-client-id", "x"],
    );
    command
        .args(public)
        .env_remove("ADMIN_OIDC_CLIENT_SECRET_FILE");
    let out = command.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--oidc-client-secret-file") && stderr.contains("ADMIN_OIDC_CLIENT_SECRET"),
        "{stderr}"
    );
}

/// With a provider configured the server prints the three addresses to register with it, and
/// asks the provider for its metadata at once (here a real one, which answers).
#[tokio::test]
async fn the_provider_is_discovered_and_the_addresses_to_register_are_printed() {
    let public_url = "https://attach.contoso.example";
    let provider = TestProvider::start(client(public_url), json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = admin_server(
        dir.path(),
        &[
            "--oidc-issuer",
            &provider.issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--public-url",
            public_url,
            "--oidc-display-name",
            "Contoso",
            "--log-format",
            "json",
        ],
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (url, printed) = until_url(&mut lines).await;
    assert!(url.is_some(), "{printed}");
    assert!(
        printed.contains(&format!("Sign-in provider Contoso ({})", provider.issuer)),
        "{printed}"
    );
    for address in [
        format!("redirect URI                 {public_url}/api/v1/session/oidc/callback"),
        format!("post-logout redirect URI     {public_url}/signin"),
        format!("back-channel logout URL      {public_url}/api/v1/session/oidc/backchannel-logout"),
    ] {
        assert!(printed.contains(&address), "{address} in {printed}");
    }
    assert!(!printed.contains(CLIENT_SECRET), "{printed}");
    // The log says the provider answered (its discovery document read through openidconnect).
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    loop {
        let line = logs
            .next_line()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the server ended: {seen}"));
        seen.push_str(&line);
        seen.push('\n');
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        match line["fields"]["message"].as_str() {
            Some("the sign-in provider answered") => break,
            Some("asked again when someone signs in") => panic!("not discovered: {seen}"),
            _ => {}
        }
    }
    assert!(!seen.contains(CLIENT_SECRET), "{seen}");
    child.start_kill().unwrap();
    let mut rest = String::new();
    logs.into_inner().read_to_string(&mut rest).await.unwrap();
    assert!(!rest.contains(CLIENT_SECRET), "{rest}");
}

/// A provider that cannot be reached at start leaves the server serving, says so in words, and
/// is asked again later: once it answers, its metadata is there.
#[tokio::test]
async fn a_provider_unreachable_at_start_is_asked_again() {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), CLIENT_SECRET).unwrap();
    let public_url = "http://127.0.0.1:9";
    let app = spawn_app_with(|config| {
        config.oidc_issuer = Some(issuer.clone());
        config.oidc_client_id = Some(CLIENT_ID.into());
        config.oidc_client_secret_file = Some(secret.path().to_owned());
        config.public_url = Some(public_url.into());
    })
    .await;
    let oidc = app
        .state()
        .oidc
        .clone()
        .expect("the provider is configured");
    let unreachable = oidc.metadata().await.unwrap_err();
    assert_eq!(unreachable.issuer, issuer);
    assert!(
        unreachable.to_string().starts_with(&format!(
            "The sign-in provider at {issuer} could not be reached: "
        )),
        "{unreachable}"
    );
    // The admin center answers meanwhile.
    assert_eq!(app.get("/api/v1/me").await.status(), 200);
    let provider = TestProvider::start_on(port, client(public_url), json!({})).await;
    let metadata = oidc.metadata().await.unwrap();
    assert_eq!(metadata.issuer().as_str(), provider.issuer);
    assert_eq!(
        metadata.authorization_endpoint().as_str(),
        format!("{}/auth", provider.issuer)
    );
    app.shut_down().await;
}
