//! The admin API over real HTTP: the real app on port 0 with a temporary SQLite file.

mod attacks;
mod audit;
mod authorization;
mod binary;
mod completion;
mod contract;
mod devices;
mod errors;
mod events;
mod exports;
mod hardening;
mod identity;
mod kdc;
mod middleware;
mod openapi;
mod outage;
mod protocol;
mod queries;
mod real_site;
mod removal;
mod spa;
mod stand_in;
mod tls;

use admin_server::{Config, Server};
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct TestApp {
    pub url: String,
    config: Config,
    pub client: reqwest::Client,
    pub server: Option<Server>,
    stop: Option<oneshot::Sender<()>>,
    /// Every exchange with the API, checked against the OpenAPI document at shut-down.
    recorder: contract::Recorder,
    _dir: TempDir,
}

/// The password of every account the tests make.
pub const PASSWORD: &str = "correct horse battery staple";
pub const ADMIN: &str = "admin@tests.example";

pub const INDEX_HTML: &str = "<!DOCTYPE html><title>test shell</title>";
pub const HASHED_ASSET: &str = "admin-center-0123456789abcdef.js";

/// Starts the app with a fresh database and a small built SPA of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with settings of the test's own.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    std::fs::write(dist.join("index.html"), INDEX_HTML).unwrap();
    std::fs::write(dist.join(HASHED_ASSET), "console.log(1)").unwrap();
    let mut config = Config::for_test(
        format!("sqlite:{}", dir.path().join("db/admin.db").display()),
        dist,
    );
    adjust(&mut config);
    let (stop, stopped) = oneshot::channel::<()>();
    let recorder = contract::Recorder::default();
    let server = Server::start_with(
        &config,
        async {
            let _ = stopped.await;
        },
        recorder.wrap(),
    )
    .await
    .unwrap();
    let mut app = TestApp {
        url: server.url(),
        config: Config {
            listen: server.addr,
            ..config
        },
        client: reqwest::Client::new(),
        server: Some(server),
        stop: Some(stop),
        recorder,
        _dir: dir,
    };
    app.add_user(ADMIN, &[admin_api::identity::INTUNE_ADMINISTRATOR])
        .await;
    app.client = app.signed_in(ADMIN).await;
    app
}

/// The PHC string of [`PASSWORD`], made once: argon2id is slow on purpose.
fn password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| admin_server::auth::password::hash(PASSWORD))
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
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.store()
            .create_user(
                &admin_server::store::users::NewUser {
                    user_name,
                    display_name: user_name,
                    password_hash: password_hash(),
                    roles: &roles,
                },
                &admin_server::store::audit::Actor::system(),
                time::OffsetDateTime::now_utc(),
            )
            .await
            .unwrap()
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
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/session", self.url))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&serde_json::json!({"userName": user_name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "signing in as {user_name}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
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
        client_with_cookie(&self.session_cookie(user_name).await)
    }

    /// The folder the test's SPA is served from.
    pub fn config_dist(&self) -> std::path::PathBuf {
        self.config.dist.clone()
    }

    pub fn store(&self) -> &admin_server::store::Store {
        self.server.as_ref().unwrap().store()
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
    pub async fn attach_site(&self, config: HierarchyConfig) -> SiteConnector {
        self.attach_site_with(config, SiteOptions::default()).await
    }

    pub async fn attach_site_with(
        &self,
        config: HierarchyConfig,
        options: SiteOptions,
    ) -> SiteConnector {
        let token = self.onboarding_token().await;
        let site =
            SiteConnector::attach(&self.url, &token, SimulatedHierarchy::new(config), options)
                .await
                .unwrap();
        site.full_sync().await.unwrap();
        site
    }

    /// Stops the server and starts it again on the same address with the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Stops the server (its address and database stay the test's).
    pub async fn stop(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.server.take().unwrap().finished().await.unwrap();
    }

    /// Starts the stopped server again on its address with its database.
    pub async fn start_again(&mut self) {
        let (stop, stopped) = oneshot::channel::<()>();
        self.server = Some(
            Server::start_with(
                &self.config,
                async {
                    let _ = stopped.await;
                },
                self.recorder.wrap(),
            )
            .await
            .unwrap(),
        );
        self.stop = Some(stop);
    }

    /// Asks the server to stop and waits until it has; then checks every answer the test
    /// received against the OpenAPI document.
    pub async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.server.take().unwrap().finished().await.unwrap();
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

/// A client that sends this session cookie and the CSRF header.
pub fn client_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    headers.insert(admin_api::identity::CSRF_HEADER, "1".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
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
