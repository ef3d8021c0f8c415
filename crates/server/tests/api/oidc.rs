//! Sign-in through the organization's OpenID Connect provider, against a real one (npm's
//! oidc-provider): the settings checked at start, the provider discovered through it.

use std::process::Stdio;

use admin_server::testing::oidc::{free_port, TestProvider};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{spawn_app, spawn_app_with, until_url};

pub(crate) const CLIENT_ID: &str = "attach-center";
pub(crate) const CLIENT_SECRET: &str = "a secret the provider and the admin center share";

/// The admin center as a client of the test provider, its public URL `public_url`.
pub(crate) fn client(public_url: &str) -> serde_json::Value {
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

/// The admin center configured for a provider on a port of its own (not started yet), its public
/// URL `public_url`: the app, the port to start the provider on, and the client secret's file
/// (which lives as long as the caller keeps it).
pub(crate) async fn app_for_provider(
    public_url: &str,
    adjust: impl FnOnce(&mut admin_server::Config),
) -> (crate::helpers::TestApp, u16, tempfile::NamedTempFile) {
    let port = free_port();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), CLIENT_SECRET).unwrap();
    let app = spawn_app_with(|config| {
        config.oidc_issuer = Some(format!("http://127.0.0.1:{port}"));
        config.oidc_client_id = Some(CLIENT_ID.into());
        config.oidc_client_secret_file = Some(secret.path().to_owned());
        config.public_url = Some(public_url.into());
        config.oidc_display_name = "Contoso".into();
        adjust(config);
    })
    .await;
    (app, port, secret)
}

/// A browser as these tests drive it: it keeps cookies and follows no redirect by itself.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The admin center and a provider whose one account is hal@contoso.example; the secret's file
/// lives as long as the app needs it.
pub(crate) async fn app_with_hal(
    public_url: &str,
) -> (
    crate::helpers::TestApp,
    TestProvider,
    tempfile::NamedTempFile,
) {
    let (app, port, secret) = app_for_provider(public_url, |_| {}).await;
    let provider = TestProvider::start_on(
        port,
        client(public_url),
        json!({ "hal": { "upn": "hal@contoso.example" } }),
    )
    .await;
    (app, provider, secret)
}

/// A browser's way through a sign-in: from the admin center's start to the provider's login
/// page, signing in there as `login` (and consenting), until the provider sends it back to the
/// public URL; that address's path and query are then asked of the admin center at `app_url`.
/// The last answer (the callback's), with the client that keeps the cookies.
pub(crate) async fn through_the_provider(
    app_url: &str,
    public_url: &str,
    return_to: &str,
    login: &str,
) -> (reqwest::Response, reqwest::Client) {
    let (back, browser, _) = to_the_callback(app_url, public_url, return_to, login).await;
    (browser.get(back).send().await.unwrap(), browser)
}

/// [`through_the_provider`] up to the callback, not asked yet: its address at the admin center
/// under test, the browser, and the sign-in's flow cookie (`name=value`) as the start set it.
pub(crate) async fn to_the_callback(
    app_url: &str,
    public_url: &str,
    return_to: &str,
    login: &str,
) -> (String, reqwest::Client, String) {
    let browser = browser();
    let mut flow_cookie = String::new();
    let mut url = reqwest::Url::parse(&format!(
        "{app_url}/api/v1/session/oidc/start?returnTo={}",
        form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    ))
    .unwrap();
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..20 {
        if url.as_str().starts_with(public_url) {
            // The provider sends the browser back: to the admin center under test.
            let back = format!(
                "{app_url}{}?{}",
                url.path(),
                url.query().unwrap_or_default()
            );
            return (back, browser, flow_cookie);
        }
        let response = match form.take() {
            Some(fields) => browser
                .post(url.clone())
                .form(&fields)
                .send()
                .await
                .unwrap(),
            None => browser.get(url.clone()).send().await.unwrap(),
        };
        if let Some(cookie) = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with("attach_center_oidc="))
        {
            flow_cookie = cookie.split(';').next().unwrap().to_owned();
        }
        if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            url = url.join(&location).unwrap();
            continue;
        }
        let status = response.status();
        let page = response.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {page}");
        // The provider's own page: its login form, or its consent form.
        let (action, mut fields) = form_of(&page);
        url = url.join(&action).unwrap();
        if page.contains("name=\"login\"") {
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), "any password".into()));
        }
        form = Some(fields);
    }
    panic!("the sign-in never came back to {public_url}");
}

/// Who `/api/v1/me` says this browser is signed in as.
pub(crate) async fn me_of(app_url: &str, browser: &reqwest::Client) -> admin_api::Me {
    browser
        .get(format!("{app_url}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// What `/api/v1/me` answers this browser: 200 while its session lives, 401 without one.
pub(crate) async fn me_status(app_url: &str, browser: &reqwest::Client) -> u16 {
    browser
        .get(format!("{app_url}/api/v1/me"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The provider page's form: where it posts, and its hidden fields.
pub(crate) fn form_of(page: &str) -> (String, Vec<(String, String)>) {
    let action = page
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no form in {page}"));
    let fields = page
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    (action.to_owned(), fields)
}

/// A user signs in on the provider's own page and comes back signed in, to the page they asked
/// for: made at their first sign-in from the ID token's claims, holding the roles assigned to
/// their roles claim's values; the sign-in is audited. A second sign-in after their values
/// changed recomputes the roles.
#[tokio::test]
async fn signing_in_through_the_provider_makes_the_user_with_the_roles_of_their_claims() {
    let public_url = "http://127.0.0.1:9";
    let (app, port, _secret) = app_for_provider(public_url, |_| {}).await;
    let mut accounts = json!({
        "hal": {
            "name": "Hal Helpdesk",
            "upn": "hal@contoso.example",
            "oid": "00000000-0000-0000-0000-0000000000a1",
            "onprem_sid": "S-1-5-21-1-2-3-1104",
            "roles": ["AttachCenter.HelpDesk", "Something.Else"],
        }
    });
    let provider = TestProvider::start_on(port, client(public_url), accounts.clone()).await;
    app.store()
        .assign_claim_value(
            admin_api::identity::HELP_DESK_OPERATOR,
            "AttachCenter.HelpDesk",
            &admin_server::store::audit::Actor::command_line(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();

    let (back, browser) =
        through_the_provider(&app.url, public_url, "/devices?sort=deviceName", "hal").await;
    assert_eq!(back.status(), 303);
    assert_eq!(back.headers()["location"], "/devices?sort=deviceName");
    let me = me_of(&app.url, &browser).await;
    assert_eq!(me.user_principal_name, "hal@contoso.example");
    assert_eq!(me.display_name, "Hal Helpdesk");
    assert_eq!(me.roles, [admin_api::identity::HELP_DESK_OPERATOR]);
    assert_eq!(me.signed_in_through.as_deref(), Some("Contoso"));
    let local: serde_json::Value = app.get("/api/v1/me").await.json().await.unwrap();
    assert!(
        local.get("signedInThrough").is_none(),
        "a local account signed in here: {local}"
    );
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'signIn' and actor eq 'hal@contoso.example'")
        .await
        .json()
        .await
        .unwrap();
    let details = audit["value"][0]["details"].as_str().unwrap().to_owned();
    assert_eq!(audit["value"][0]["activityResult"], "success");
    assert!(
        details.contains("Signed in through Contoso; the account was made"),
        "{details}"
    );
    drop(provider);

    // The provider takes the value away: the next sign-in leaves the user without a role.
    accounts["hal"]["roles"] = json!(["Something.Else"]);
    let _provider = TestProvider::start_on(port, client(public_url), accounts).await;
    let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    let me = me_of(&app.url, &browser).await;
    assert!(me.roles.is_empty(), "{:?}", me.roles);
    let users: serde_json::Value = app.get("/api/v1/users").await.json().await.unwrap();
    let hals: Vec<&serde_json::Value> = users["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["userPrincipalName"] == "hal@contoso.example")
        .collect();
    assert_eq!(
        hals.len(),
        1,
        "one account, found again by issuer and subject"
    );
    assert_eq!(hals[0]["fromProvider"], true);
    // Their roles come from the claim: they are not set by hand.
    let set = app
        .client
        .put(format!(
            "{}/api/v1/users/{}/roles",
            app.url,
            hals[0]["id"].as_str().unwrap()
        ))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({ "roles": [admin_api::identity::READ_ONLY_OPERATOR] }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 409);
    let body: admin_api::ErrorBody = set.json().await.unwrap();
    assert!(
        body.error
            .message
            .contains("Assign the role to one of their claim values instead"),
        "{body:?}"
    );
    // Nor do they have a password here to set.
    let refused = app
        .store()
        .set_password(
            "hal@contoso.example",
            "a hash",
            &admin_server::store::audit::Actor::command_line(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("there is no password to set here"),
        "{refused}"
    );
    app.shut_down().await;
}

/// A callback that does not belong to the sign-in this browser started changes nothing: no
/// session, a failed sign-in in the audit log, the browser back on the sign-in page with why.
#[tokio::test]
async fn a_callback_with_another_state_or_without_a_sign_in_is_refused() {
    let public_url = "http://127.0.0.1:9";
    let (app, _provider, _secret) = app_with_hal(public_url).await;
    // Without a sign-in started in this browser.
    let browser = browser();
    let refused = browser
        .get(format!(
            "{}/api/v1/session/oidc/callback?code=abc&state=xyz",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 303);
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/signin?signInError="), "{location}");
    assert!(refused
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().starts_with("attach_center_session")));
    // With a sign-in started, but another state.
    let start = browser
        .get(format!("{}/api/v1/session/oidc/start", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let refused = browser
        .get(format!(
            "{}/api/v1/session/oidc/callback?code=abc&state=not-this-one",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 303);
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("state"), "{location}");
    assert_eq!(
        browser
            .get(format!("{}/api/v1/me", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'signIn' and activityResult eq 'failure'")
        .await
        .json()
        .await
        .unwrap();
    let failed = audit["value"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{audit}");
    assert!(failed.iter().all(|e| e["actor"] == "anonymous"), "{audit}");
    app.shut_down().await;
}

/// With local sign-in off, the password form's endpoint refuses and says where to sign in.
#[tokio::test]
async fn local_sign_in_off_refuses_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let mut child = admin_server(
        dir.path(),
        &[
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--public-url",
            "http://127.0.0.1:9",
            "--oidc-display-name",
            "Contoso",
            "--local-sign-in",
            "off",
        ],
    )
    .spawn()
    .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move { while let Ok(Some(_)) = logs.next_line().await {} });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (url, printed) = until_url(&mut lines).await;
    let url = url.unwrap_or_else(|| panic!("{printed}"));
    let refused = reqwest::Client::new()
        .post(format!("{url}/api/v1/session"))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": "admin@contoso.example", "password": "any"}))
        .send()
        .await
        .unwrap();
    let error = crate::helpers::error_of(refused, 403).await;
    assert_eq!(
        error["message"],
        "Local sign-in is turned off here: sign in with Contoso."
    );
    child.start_kill().unwrap();
}

/// `role assign` and `role unassign` on the command line: the assignment is kept (and audited),
/// an unknown role is refused with its name, and nothing else changes.
#[tokio::test]
async fn roles_are_assigned_to_claim_values_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}/db.sqlite", dir.path().display());
    let run = |args: Vec<&'static str>| {
        let database = database.clone();
        async move {
            Command::new(env!("CARGO_BIN_EXE_admin-server"))
                .env("ADMIN_DATABASE_URL", &database)
                .args(args)
                .output()
                .await
                .unwrap()
        }
    };
    let assigned = run(vec![
        "role",
        "assign",
        "Help Desk Operator",
        "--claim-value",
        "AttachCenter.HelpDesk",
    ])
    .await;
    assert!(
        assigned.status.success(),
        "{}",
        String::from_utf8_lossy(&assigned.stderr)
    );
    assert!(assigned.stdout.is_empty());
    let again = run(vec![
        "role",
        "assign",
        "Read Only Operator",
        "--claim-value",
        "AttachCenter.HelpDesk",
    ])
    .await;
    assert!(again.status.success());
    let unknown = run(vec!["role", "assign", "Janitor", "--claim-value", "x"]).await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("There is no role 'Janitor'."));
    let taken = run(vec![
        "role",
        "unassign",
        "Read Only Operator",
        "--claim-value",
        "AttachCenter.HelpDesk",
    ])
    .await;
    assert!(taken.status.success());
    let store = admin_server::store::Store::connect(&database)
        .await
        .unwrap();
    assert_eq!(
        store.role_claim_values().await.unwrap(),
        [(
            "Help Desk Operator".to_owned(),
            "AttachCenter.HelpDesk".to_owned()
        )]
    );
    let (events, _, _) = store
        .audit_events(&Default::default(), None, 10, false)
        .await
        .unwrap();
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e.activity == admin_api::AuditActivity::UpdateRoleAssignments)
        .map(|e| e.details.clone().unwrap_or_default())
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    store.close().await;
}

/// The provider rotates its keys (each start of the test provider signs with a new one): a token
/// signed with a key the admin center has not seen has the keys read again and is accepted; a
/// second rotation within a minute is not read again (a stream of unknown keys must not make the
/// server hammer the provider), and that sign-in is refused, audited, with the reason.
#[tokio::test]
async fn a_rotated_key_is_fetched_again_at_most_once_a_minute() {
    let public_url = "http://127.0.0.1:9";
    let (app, port, _secret) = app_for_provider(public_url, |_| {}).await;
    let accounts = json!({ "hal": { "upn": "hal@contoso.example" } });
    let sign_in = || async {
        let (back, _) = through_the_provider(&app.url, public_url, "/", "hal").await;
        assert_eq!(back.status(), 303);
        back.headers()["location"].to_str().unwrap().to_owned()
    };
    let first = TestProvider::start_on(port, client(public_url), accounts.clone()).await;
    assert_eq!(sign_in().await, "/");
    drop(first);
    let rotated = TestProvider::start_on(port, client(public_url), accounts.clone()).await;
    assert_eq!(sign_in().await, "/", "the new key is fetched");
    drop(rotated);
    let _again = TestProvider::start_on(port, client(public_url), accounts).await;
    let refused = sign_in().await;
    assert!(refused.starts_with("/signin?signInError="), "{refused}");
    assert!(refused.contains("ID+token+was+refused"), "{refused}");
    // An unverified token names nobody: the refusal's actor is anonymous.
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'signIn' and actor ne 'admin@tests.example'")
        .await
        .json()
        .await
        .unwrap();
    let results: Vec<(&str, &str)> = audit["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["actor"].as_str().unwrap(),
                event["activityResult"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("anonymous", "failure"),
            ("hal@contoso.example", "success"),
            ("hal@contoso.example", "success")
        ],
        "{audit}"
    );
    assert!(
        audit["value"][0]["details"]
            .as_str()
            .unwrap()
            .contains("No matching key found"),
        "{audit}"
    );
    app.shut_down().await;
}

/// A role's claim values over the API: read with roles.read, replaced with roles.update by someone
/// holding every permission of the role (nobody assigns what they do not hold), each change
/// audited, bad values refused with nothing changed.
#[tokio::test]
async fn a_roles_claim_values_are_read_and_replaced_over_the_api() {
    let app = spawn_app().await;
    let roles = app.store().role_definitions().await.unwrap();
    let id_of = |name: &str| {
        roles
            .iter()
            .find(|r| r.display_name == name)
            .unwrap()
            .id
            .clone()
    };
    let admin_role = id_of(admin_api::identity::INTUNE_ADMINISTRATOR);
    let help_desk = id_of(admin_api::identity::HELP_DESK_OPERATOR);
    let path = |id: &str| format!("{}/api/v1/roleDefinitions/{id}/assignments", app.url);
    let put = |client: &reqwest::Client, id: &str, body: serde_json::Value| {
        client
            .put(path(id))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&body)
            .send()
    };

    let set = put(
        &app.client,
        &help_desk,
        json!({"claimValues": ["b-group", "a-group", "b-group"]}),
    )
    .await
    .unwrap();
    assert_eq!(set.status(), 200);
    let set: admin_api::identity::RoleAssignments = set.json().await.unwrap();
    assert_eq!(set.claim_values, ["a-group", "b-group"]);
    let read: admin_api::identity::RoleAssignments = app
        .client
        .get(path(&help_desk))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, set);

    // A role manager who lacks the administrator's permissions cannot assign that role.
    app.add_role("Role managers", &["roles.read", "roles.update"])
        .await;
    let rm = app.add_user("rm@tests.example", &["Role managers"]).await;
    let manager = app.signed_in("rm@tests.example").await;
    let refused = put(&manager, &admin_role, json!({"claimValues": ["everyone"]}))
        .await
        .unwrap();
    let error = crate::helpers::error_of(refused, 403).await;
    assert!(
        error["message"].as_str().unwrap().contains("cannot grant"),
        "{error}"
    );
    // Bad values, an unknown role: refused, nothing changed.
    for (id, body, status) in [
        (help_desk.as_str(), json!({"claimValues": [""]}), 400),
        (
            help_desk.as_str(),
            json!({"claimValues": ["x".repeat(257)]}),
            400,
        ),
        (
            help_desk.as_str(),
            json!({"claimValues": vec!["v"; 101]}),
            400,
        ),
        (
            help_desk.as_str(),
            json!({"claimValues": ["a"], "extra": 1}),
            400,
        ),
        ("no-such-role", json!({"claimValues": ["a"]}), 404),
    ] {
        let answer = put(&app.client, id, body.clone()).await.unwrap();
        crate::helpers::error_of(answer, status).await;
    }
    assert!(app
        .store()
        .role_assignments(&admin_role)
        .await
        .unwrap()
        .unwrap()
        .is_empty());
    assert_eq!(
        app.store()
            .role_assignments(&help_desk)
            .await
            .unwrap()
            .unwrap(),
        ["a-group", "b-group"]
    );
    // One audit entry: the change that changed something.
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'updateRoleAssignments'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["value"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(
        audit["value"][0]["details"],
        "The role is assigned to the claim values: a-group, b-group."
    );
    // A custom role assigned to a claim value is not deleted until the value is removed.
    let roles: serde_json::Value = app
        .get("/api/v1/roleDefinitions")
        .await
        .json()
        .await
        .unwrap();
    let managers = roles["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["displayName"] == "Role managers")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assigned = put(&app.client, &managers, json!({"claimValues": ["managers"]}))
        .await
        .unwrap();
    assert_eq!(assigned.status(), 200);
    let delete = |client: reqwest::Client| {
        let url = format!("{}/api/v1/roleDefinitions/{managers}", app.url);
        async move {
            client
                .delete(url)
                .header(admin_api::identity::CSRF_HEADER, "1")
                .send()
                .await
                .unwrap()
        }
    };
    app.store()
        .set_user_roles(
            &rm.id,
            &[],
            None,
            &admin_server::store::audit::Actor::command_line(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    let error = crate::helpers::error_of(delete(app.client.clone()).await, 409).await;
    assert_eq!(
        error["message"],
        "'Role managers' is assigned to 1 claim value(s) of the provider: remove them first."
    );
    put(&app.client, &managers, json!({"claimValues": []}))
        .await
        .unwrap();
    assert_eq!(delete(app.client.clone()).await.status(), 204);
    app.shut_down().await;
}

/// Signing out a provider user ends the session here and answers where to end it at the
/// provider (RP-initiated logout, back to the sign-in page); a local account's sign-out stays a
/// 204. After the provider's sign-out, a new sign-in asks for the login again.
#[tokio::test]
async fn signing_out_a_provider_user_ends_the_providers_session_too() {
    let public_url = "http://127.0.0.1:9";
    let (app, provider, _secret) = app_with_hal(public_url).await;
    let (back, browser) = through_the_provider(&app.url, public_url, "/", "hal").await;
    assert_eq!(back.status(), 303);
    let out = browser
        .delete(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let out: admin_api::identity::SignedOut = out.json().await.unwrap();
    let url = reqwest::Url::parse(&out.provider_sign_out_url).unwrap();
    assert!(
        url.as_str().starts_with(&format!("{}/", provider.issuer)),
        "{url}"
    );
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(
        pairs.contains(&("client_id".into(), CLIENT_ID.into())),
        "{url}"
    );
    assert!(
        pairs.contains(&(
            "post_logout_redirect_uri".into(),
            format!("{public_url}/signin")
        )),
        "{url}"
    );
    assert_eq!(
        browser
            .get(format!("{}/api/v1/me", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // At the provider: its confirmation, then back to the sign-in page.
    let page = browser.get(url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let (action, mut fields) = form_of(&page);
    fields.push(("logout".to_owned(), "yes".to_owned()));
    let mut next = browser
        .post(url.join(&action).unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap();
    let mut location = String::new();
    for _ in 0..5 {
        assert!(next.status().is_redirection(), "{}", next.status());
        location = next.headers()["location"].to_str().unwrap().to_owned();
        if location.starts_with(public_url) {
            break;
        }
        next = browser
            .get(url.join(&location).unwrap())
            .send()
            .await
            .unwrap();
    }
    assert_eq!(location, format!("{public_url}/signin"));
    // The provider's session is gone: signing in asks for the login again.
    let start = browser
        .get(format!("{}/api/v1/session/oidc/start", app.url))
        .send()
        .await
        .unwrap();
    let mut at = reqwest::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let page = loop {
        let answer = browser.get(at.clone()).send().await.unwrap();
        if answer.status().is_redirection() {
            at = at
                .join(answer.headers()["location"].to_str().unwrap())
                .unwrap();
            assert!(
                !at.as_str().starts_with(public_url),
                "signed in without a login: {at}"
            );
            continue;
        }
        break answer.text().await.unwrap();
    };
    assert!(page.contains("name=\"login\""), "{page}");
    // A local account's sign-out is as before.
    let local = app
        .client
        .delete(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 204);
    app.shut_down().await;
}
