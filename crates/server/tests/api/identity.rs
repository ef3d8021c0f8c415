//! Sign-in, sessions, `/me`, roles and their assignment, CSRF, and the user/role command line.

use admin_api::identity::{HELP_DESK_OPERATOR, READ_ONLY_OPERATOR};
use admin_api::{Collection, Me, Permission, RoleDefinition, User};
use admin_server::store::db;
use serde_json::json;

use crate::{client_with_cookie, error_of, spawn_app, TestApp, ADMIN, PASSWORD};

async fn sign_in(app: &TestApp, user_name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": user_name, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_me_says_who_and_what() {
    let app = spawn_app().await;
    app.add_user("hd@tests.example", &[HELP_DESK_OPERATOR])
        .await;
    let response = sign_in(&app, "HD@tests.example", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("attach_center_session="));
    assert!(attributes[0].len() > "attach_center_session=".len() + 40);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&attribute), "{cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain HTTP: {cookie}");
    let me: Me = response.json().await.unwrap();
    assert_eq!(me.user_principal_name, "hd@tests.example");
    assert_eq!(me.roles, [HELP_DESK_OPERATOR]);
    assert_eq!(
        me.permissions,
        [
            Permission::ManagedDevicesRead,
            Permission::RemoteTasksConfigurationManagerAction,
            Permission::OrganizationRead,
            Permission::AuditDataRead,
            Permission::RemoteTasksRunCmPivot
        ]
    );
    let client = client_with_cookie(attributes[0]);
    let again: Me = client
        .get(format!("{}/api/v1/me", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again, me);

    // Behind a TLS proxy the cookie is Secure.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .header("x-forwarded-proto", "https")
        .json(&json!({"userName": "hd@tests.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    app.shut_down().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    let wrong = error_of(sign_in(&app, ADMIN, "not the password").await, 401).await;
    let unknown = error_of(sign_in(&app, "nobody@tests.example", PASSWORD).await, 401).await;
    assert_eq!(wrong["code"], "unauthenticated");
    assert_eq!(wrong["message"], unknown["message"]);
    let missing = error_of(sign_in(&app, "", PASSWORD).await, 400).await;
    assert_eq!(missing["target"], "userName");
    let extra = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": ADMIN, "password": PASSWORD, "stay": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(extra, 400).await["code"], "badRequest");
    app.shut_down().await;
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    let cookie = app.session_cookie(ADMIN).await;
    let client = client_with_cookie(&cookie);
    let response = client
        .delete(format!("{}/api/v1/session", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let me = client
        .get(format!("{}/api/v1/me", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(me, 401).await["code"], "unauthenticated");
    app.shut_down().await;
}

#[tokio::test]
async fn an_idle_session_and_one_past_its_lifetime_end() {
    let app = spawn_app().await;
    let (idle_cookie, old_cookie) = (
        app.session_cookie(ADMIN).await,
        app.session_cookie(ADMIN).await,
    );
    let idle = client_with_cookie(&idle_cookie);
    let old = client_with_cookie(&old_cookie);
    let me = |client: reqwest::Client| {
        let url = format!("{}/api/v1/me", app.url);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(idle.clone()).await, 200);
    assert_eq!(me(old.clone()).await, 200);
    // Time passes, as the store sees it: one session was last used two hours ago (the idle
    // timeout is one hour); the other was made longer ago than a session lives.
    let pool = app.store().writer();
    let stored_hash = |cookie: &str| {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        admin_server::auth::session_hash(&headers).expect("a session cookie")
    };
    let (idle_hash, old_hash) = (&stored_hash(&idle_cookie), &stored_hash(&old_cookie));
    db::query("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00Z' WHERE token_hash = ?")
        .bind(idle_hash)
        .execute(pool)
        .await
        .unwrap();
    db::query("UPDATE sessions SET expires_at = '2000-01-01T00:00:00Z' WHERE token_hash = ?")
        .bind(old_hash)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(me(idle).await, 401);
    assert_eq!(me(old).await, 401);
    assert_eq!(me(app.client.clone()).await, 200, "other sessions live on");
    app.shut_down().await;
}

#[tokio::test]
async fn a_custom_role_grants_exactly_its_permissions() {
    let app = spawn_app().await;
    let roles_url = format!("{}/api/v1/roleDefinitions", app.url);
    let response = app
        .client
        .post(&roles_url)
        .json(
            &json!({"displayName": "Sync only", "description": "Help desk, no audit",
            "permissions": ["managedDevices.read", "remoteTasks.configurationManagerAction"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let role: RoleDefinition = response.json().await.unwrap();
    assert!(!role.is_built_in);

    for (body, status, target) in [
        (
            json!({"displayName": "sync ONLY", "permissions": ["auditData.read"]}),
            409,
            None,
        ),
        (
            json!({"displayName": "Nothing", "permissions": []}),
            400,
            Some("permissions"),
        ),
        (
            json!({"displayName": "Bad", "permissions": ["devices.wipe"]}),
            400,
            None,
        ),
        (
            json!({"displayName": "", "permissions": ["auditData.read"]}),
            400,
            Some("displayName"),
        ),
    ] {
        let response = app
            .client
            .post(&roles_url)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = error_of(response, status).await;
        if let Some(target) = target {
            assert_eq!(error["target"], target, "{body}");
        }
    }

    let user = app.add_user("sync@tests.example", &[]).await;
    let client = app.signed_in("sync@tests.example").await;
    let devices = || {
        let client = client.clone();
        let url = format!("{}/api/v1/devices", app.url);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(devices().await, 403, "no roles, no permissions");
    let response = app
        .client
        .put(format!("{}/api/v1/users/{}/roles", app.url, user.id))
        .json(&json!({"roles": ["Sync only"]}))
        .send()
        .await
        .unwrap();
    let updated: User = response.json().await.unwrap();
    assert_eq!(updated.roles, ["Sync only"]);
    assert_eq!(
        devices().await,
        200,
        "the new role applies to the live session"
    );
    let audit = client
        .get(format!("{}/api/v1/auditEvents", app.url))
        .send()
        .await
        .unwrap();
    assert!(error_of(audit, 403).await["message"]
        .as_str()
        .unwrap()
        .contains("auditData.read"));

    // A held role cannot go; a built-in one never; an unknown role is not assigned.
    let delete = |id: String| {
        let client = app.client.clone();
        let url = format!("{roles_url}/{id}");
        async move { client.delete(url).send().await.unwrap() }
    };
    error_of(delete(role.id.clone()).await, 409).await;
    error_of(delete("read-only-operator".into()).await, 409).await;
    let response = app
        .client
        .put(format!("{}/api/v1/users/{}/roles", app.url, user.id))
        .json(&json!({"roles": ["Sync only", "No such role"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response, 400).await["target"], "roles");
    let users: Collection<User> = app.get("/api/v1/users").await.json().await.unwrap();
    let unchanged = users.value.iter().find(|u| u.id == user.id).unwrap();
    assert_eq!(
        unchanged.roles,
        ["Sync only"],
        "a refused change changes nothing"
    );
    app.client
        .put(format!("{}/api/v1/users/{}/roles", app.url, user.id))
        .json(&json!({"roles": [READ_ONLY_OPERATOR]}))
        .send()
        .await
        .unwrap();
    assert_eq!(delete(role.id.clone()).await.status(), 204);
    let roles: Collection<RoleDefinition> = app
        .get("/api/v1/roleDefinitions")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = roles
        .value
        .iter()
        .map(|r| r.display_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Help Desk Operator",
            "Intune Administrator",
            "Read Only Operator"
        ]
    );
    app.shut_down().await;
}

#[tokio::test]
async fn a_change_with_the_cookie_but_without_the_same_origin_proof_is_refused() {
    let app = spawn_app().await;
    let cookie = app.session_cookie(ADMIN).await;
    let tokens = format!("{}/api/v1/connectors/onboardingTokens", app.url);
    let count_tokens = || async { app.rows("onboarding_tokens").await };
    // The cookie alone, as a forged cross-site form post would send it.
    let response = reqwest::Client::new()
        .post(&tokens)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let error = error_of(response, 403).await;
    assert_eq!(error["code"], "forbidden");
    // The header, but from another origin.
    let response = reqwest::Client::new()
        .post(&tokens)
        .header("cookie", &cookie)
        .header(admin_api::identity::CSRF_HEADER, "1")
        .header("origin", "https://attacker.example")
        .send()
        .await
        .unwrap();
    error_of(response, 403).await;
    assert_eq!(count_tokens().await, 0, "nothing was made");
    // From the server's own origin it goes through.
    let response = reqwest::Client::new()
        .post(&tokens)
        .header("cookie", &cookie)
        .header(admin_api::identity::CSRF_HEADER, "1")
        .header("origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(count_tokens().await, 1);
    // Signing in needs the proof too (no login CSRF).
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", app.url))
        .json(&json!({"userName": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    error_of(response, 403).await;
    app.shut_down().await;
}

/// The command line on the suite's backend, its logs at their most talkative: each command's
/// data alone on standard output (a token, a generated password, an id, a list), so that
/// `TOKEN=$(admin-server onboarding-token)` holds just the token, and its logs on standard error
/// without colour codes (not a terminal).
#[tokio::test]
async fn the_command_line_adds_users_and_roles_and_the_log_says_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let database = admin_server::testing::Backend::fresh_database(dir.path()).await;
    let run = |args: &[&str], stdin: Option<&str>| {
        let database = database.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let stdin = stdin.map(str::to_owned);
        async move {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_admin-server"))
                .env("ADMIN_DATABASE_URL", &database)
                .env("ADMIN_LOG", "debug")
                .env_remove("NO_COLOR")
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).await.unwrap();
            }
            drop(input);
            let output = child.wait_with_output().await.unwrap();
            let (out, err) = (
                String::from_utf8(output.stdout).unwrap(),
                String::from_utf8(output.stderr).unwrap(),
            );
            assert!(!err.contains('\u{1b}'), "no colour codes: {err}");
            assert!(!out.contains('\u{1b}'), "{out}");
            (output.status.success(), out, err)
        }
    };
    // Twice: the second start finds the schema made (PostgreSQL notices as much), and the token
    // is still all that standard output holds.
    for _ in 0..2 {
        let (ok, out, err) = run(&["onboarding-token"], None).await;
        assert!(ok, "{out}{err}");
        assert!(
            out.starts_with("cmot_") && out.lines().count() == 1,
            "the token alone: {out:?}"
        );
        assert!(
            err.lines().count() > 1,
            "the logs went to standard error: {err}"
        );
    }
    let (ok, out, err) = run(
        &[
            "role",
            "add",
            "Syncers",
            "--permission",
            "managedDevices.read",
            "--permission",
            "remoteTasks.configurationManagerAction",
        ],
        None,
    )
    .await;
    assert!(ok, "{out}{err}");
    let role_id = out.trim_end();
    assert!(
        !role_id.is_empty() && !role_id.contains(char::is_whitespace),
        "the new role's id alone: {out:?}"
    );
    let (ok, out, _) = run(&["role", "list"], None).await;
    assert!(ok);
    assert!(
        out.lines()
            .all(|l| l.contains(" (built-in): ") || l.contains(" (custom): ")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("Syncers (custom): ")),
        "{out}"
    );
    let (ok, _, err) = run(
        &["role", "add", "Bad", "--permission", "devices.wipe"],
        None,
    )
    .await;
    assert!(!ok && err.contains("not a permission"), "{err}");
    let (ok, out, err) = run(
        &[
            "user",
            "add",
            "jo@tests.example",
            "--display-name",
            "Jo",
            "--role",
            "Syncers",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(!out.contains(PASSWORD), "a typed password is not echoed");
    let (ok, out, err) = run(
        &[
            "user",
            "add",
            "gen@tests.example",
            "--role",
            "Read Only Operator",
        ],
        None,
    )
    .await;
    assert!(ok);
    assert_eq!(
        out.lines().count(),
        1,
        "the generated password alone: {out:?}"
    );
    let generated = out.trim_end().to_owned();
    assert!(generated.len() >= 12);
    assert!(err.contains("Added gen@tests.example"), "{err}");
    let (ok, out, _) = run(&["user", "set-password", "gen@tests.example"], None).await;
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "the new password alone: {out:?}");
    assert_ne!(out.trim_end(), generated);
    let generated = out.trim_end().to_owned();
    let (ok, _, err) = run(
        &["user", "add", "weak@tests.example", "--password-stdin"],
        Some("short\n"),
    )
    .await;
    assert!(!ok && err.contains("at least"), "{err}");
    let (ok, out, err) = run(
        &[
            "user",
            "set-roles",
            "jo@tests.example",
            "--role",
            "Help Desk Operator",
        ],
        None,
    )
    .await;
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(&["user", "list"], None).await;
    assert!(
        ok && out.contains("jo@tests.example") && out.contains("Help Desk Operator"),
        "{out}"
    );
    assert!(
        out.lines().all(|l| l.contains("@tests.example")),
        "one line per account and nothing else: {out}"
    );

    // The server on that database: Jo signs in with the typed password, and the audit log has
    // the command line's work.
    let mut config = admin_server::Config::for_test(database.clone(), dir.path().into());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = admin_server::Server::start(&config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", server.url()))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": "jo@tests.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let me: Me = response.json().await.unwrap();
    assert_eq!(me.roles, [HELP_DESK_OPERATOR]);
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/session", server.url()))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&json!({"userName": "gen@tests.example", "password": generated}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the generated password works");
    let activities: Vec<(String, String)> = db::query_as(
        "SELECT activity, actor_type FROM audit_events WHERE actor_type = 'commandLine' ORDER BY seq",
    )
    .fetch_all(server.store().writer())
    .await
    .unwrap();
    let activities: Vec<&str> = activities.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        activities,
        [
            "createOnboardingToken",
            "createOnboardingToken",
            "createRoleDefinition",
            "createUser",
            "createUser",
            "resetPassword",
            "updateUserRoles"
        ]
    );
    stop.send(()).unwrap();
    server.finished().await.unwrap();
}
