//! What the tests share: the test server as this suite runs it, and its clients.

use admin_server::testing::{TestServer, Wrap};
use admin_server::Config;
use site_connector::{HierarchyConfig, SiteOptions};

pub use admin_server::testing::{client_with_cookie, HASHED_ASSET, INDEX_HTML, PASSWORD};

/// The shared test server with what the API tests add: a client signed in as [`ADMIN`], and
/// every exchange recorded and checked against the OpenAPI document at shut-down.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    harness: TestServer,
    recorder: crate::contract::Recorder,
}

pub const ADMIN: &str = "admin@tests.example";

/// Starts the app with a fresh database and a small built SPA of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with settings of the test's own.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let recorder = crate::contract::Recorder::default();
    let wrap: Wrap = {
        let recorder = recorder.clone();
        std::sync::Arc::new(move |app| recorder.wrap()(app))
    };
    let harness = TestServer::start(None, adjust, wrap).await;
    let mut app = TestApp {
        url: harness.url.clone(),
        client: reqwest::Client::new(),
        harness,
        recorder,
    };
    app.add_user(ADMIN, &[admin_api::identity::INTUNE_ADMINISTRATOR])
        .await;
    app.client = app.signed_in(ADMIN).await;
    app
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Adds an account with [`PASSWORD`] and these roles (by display name).
    pub async fn add_user(&self, user_name: &str, roles: &[&str]) -> admin_api::User {
        self.harness.add_user(user_name, user_name, roles).await
    }

    /// Adds a custom role of these permissions (by contract name).
    pub async fn add_role(&self, display_name: &str, permissions: &[&str]) {
        self.store()
            .create_role_definition(
                &admin_api::NewRoleDefinition {
                    display_name: display_name.to_owned(),
                    description: String::new(),
                    permissions: permissions
                        .iter()
                        .map(|p| admin_api::Permission::from_wire(p).expect("a permission"))
                        .collect(),
                },
                &admin_server::store::audit::Actor::system(),
                time::OffsetDateTime::now_utc(),
            )
            .await
            .unwrap();
    }

    /// Signs in through the API; the session cookie comes back.
    pub async fn session_cookie(&self, user_name: &str) -> String {
        self.harness.session_cookie(user_name).await
    }

    /// The admin API as the signed-in admin.
    pub fn api(&self) -> Api {
        Api {
            url: self.url.clone(),
            client: self.client.clone(),
        }
    }

    /// The admin API as another user (signed in now).
    pub async fn api_as(&self, user_name: &str) -> Api {
        Api {
            url: self.url.clone(),
            client: self.signed_in(user_name).await,
        }
    }

    /// A client signed in as `user_name`, sending the CSRF header as the SPA does.
    pub async fn signed_in(&self, user_name: &str) -> reqwest::Client {
        self.harness.signed_in(user_name).await
    }

    /// The folder the test's SPA is served from.
    /// The server's database (its SQLite file).
    pub fn database_url(&self) -> String {
        self.harness.config.database_url.clone()
    }

    pub fn config_dist(&self) -> std::path::PathBuf {
        self.harness.config.dist.clone()
    }

    /// The server under test, with the settings it runs with.
    pub fn harness(&self) -> &TestServer {
        &self.harness
    }

    pub fn store(&self) -> &admin_server::store::Store {
        self.harness.store()
    }

    /// What the running server's handlers share.
    pub fn state(&self) -> &admin_server::AppState {
        &self.harness.server().state
    }

    /// How many rows `table` holds (read on the writer, so every write is seen).
    pub async fn rows(&self, table: &str) -> i64 {
        admin_server::store::db::query_scalar(format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.store().writer())
            .await
            .unwrap()
    }

    /// Asks the admin API to offboard the connector `id` (Delete), as the admin.
    pub async fn delete_connector(&self, id: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}/api/v1/connectors/{id}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// A new onboarding token from the admin API.
    pub async fn onboarding_token(&self) -> String {
        let response = self
            .client
            .post(format!("{}/api/v1/connectors/onboardingTokens", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let token: admin_api::OnboardingToken = response.json().await.unwrap();
        token.token
    }

    /// A simulated site attached through the connector protocol, its devices uploaded.
    pub async fn attach_site(&self, config: HierarchyConfig) -> site_connector::SimulatedSite {
        self.attach_site_with(config, SiteOptions::default()).await
    }

    pub async fn attach_site_with(
        &self,
        config: HierarchyConfig,
        options: SiteOptions,
    ) -> site_connector::SimulatedSite {
        let token = self.onboarding_token().await;
        self.harness
            .attach_site_with_token(&token, config, options)
            .await
    }

    /// Stops the server and starts it again on the same address with the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops the server (its address and database stay the test's).
    pub async fn stop(&mut self) {
        self.harness.stop().await;
    }

    /// Starts the stopped server again on its address with its database.
    pub async fn start_again(&mut self) {
        self.harness.start_again().await;
    }

    /// Asks the server to stop and waits until it has; then checks every answer the test
    /// received against the OpenAPI document.
    pub async fn shut_down(mut self) {
        self.harness.stop().await;
        let mismatches = self.recorder.mismatches();
        assert!(
            mismatches.is_empty(),
            "answers the OpenAPI document does not describe:\n{}",
            mismatches.join("\n")
        );
    }
}

/// The admin API as one signed-in user.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    pub client: reqwest::Client,
}

/// Reads a response that must be the contract's error body; checks its request id against the
/// response's `request-id` header and returns the body's `error` object.
pub async fn error_of(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert_eq!(error["requestId"], request_id.as_str(), "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let typed: admin_api::ErrorBody = serde_json::from_value(body.clone()).unwrap();
    assert_ne!(typed.error.code, admin_api::ErrorCode::Unknown, "{body}");
    error
}

/// A body as the browser reads it: `bytes` decoded from `encoding` (`gzip` or `br`), as text.
/// A stream cut short fails to decode.
pub fn decoded(encoding: &str, bytes: &[u8]) -> String {
    use std::io::Read;
    let mut text = String::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("a complete gzip stream"),
        "br" => brotli::Decompressor::new(bytes, 4096)
            .read_to_string(&mut text)
            .expect("a complete brotli stream"),
        other => panic!("no decoder for {other}"),
    };
    text
}

/// Reads the server's standard output until it prints the URL to open: the URL (none if it ended
/// first), and every line printed until then.
pub async fn until_url(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> (Option<String>, String) {
    let mut printed = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("Admin center: open ") {
            return (rest.split_whitespace().next().map(str::to_owned), printed);
        }
    }
    (None, printed)
}
