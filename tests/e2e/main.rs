//! End to end: the real server (in this process, on a free port, with a temporary database) serving
//! the release build of the SPA from `dist/`, driven in headless Chromium through chromedriver.
#![cfg(not(target_arch = "wasm32"))]

mod actions;
mod blade;
mod browser;
mod connectors;
mod devices;
mod identity;
mod polish;
mod screenshots;

use std::path::PathBuf;

use admin_server::{Config, Server};
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The accounts every test server has, one per built-in role, all with [`PASSWORD`].
pub const ADMIN: &str = "admin@e2e.example";
pub const HELPDESK: &str = "helpdesk@e2e.example";
pub const READER: &str = "reader@e2e.example";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub server: Server,
    /// The admin API, signed in as [`ADMIN`].
    api: reqwest::Client,
    stop: oneshot::Sender<()>,
    _dir: TempDir,
}

/// The SPA built by `trunk build --release` (scripts/test builds it before these tests).
fn dist() -> PathBuf {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "{} has no index.html: build the SPA first (scripts/test does)",
        dist.display()
    );
    dist
}

/// Starts the server with a fresh database and two sites attached through the connector protocol.
pub async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_test(
        format!("sqlite:{}", dir.path().join("admin.db").display()),
        dist(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::start(&config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let hash = admin_server::auth::password::hash(PASSWORD);
    for (user, role) in [
        (ADMIN, admin_api::identity::INTUNE_ADMINISTRATOR),
        (HELPDESK, admin_api::identity::HELP_DESK_OPERATOR),
        (READER, admin_api::identity::READ_ONLY_OPERATOR),
    ] {
        server
            .store()
            .create_user(
                &admin_server::store::users::NewUser {
                    user_name: user,
                    display_name: user.split('@').next().unwrap(),
                    password_hash: &hash,
                    roles: &[role.to_owned()],
                },
                &admin_server::store::audit::Actor::system(),
                time::OffsetDateTime::now_utc(),
            )
            .await
            .unwrap();
    }
    let mut test_server = TestServer {
        server,
        api: reqwest::Client::new(),
        stop,
        _dir: dir,
    };
    let cookie = test_server.session_cookie(ADMIN).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    headers.insert(admin_api::identity::CSRF_HEADER, "1".parse().unwrap());
    test_server.api = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    for config in [
        HierarchyConfig::new("Contoso Headquarters", "CHQ", 2207, 240, 1),
        HierarchyConfig::new("Contoso Europe", "EUR", 2010, 120, 2),
    ] {
        test_server.attach_site(config).await;
    }
    test_server
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// The admin API as [`ADMIN`], with the same-origin proof the SPA sends.
    pub fn api(&self) -> &reqwest::Client {
        &self.api
    }

    /// Signs `user` in through the API and returns the session cookie (`name=value`).
    pub async fn session_cookie(&self, user: &str) -> String {
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/session"))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&serde_json::json!({"userName": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{user} signs in");
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// Attaches a simulated site with a token from the admin API and uploads its devices.
    pub async fn attach_site(&self, config: HierarchyConfig) -> SiteConnector {
        let token = admin_server::domain::connectors::new_onboarding_token(
            self.server.store(),
            &self.server.state.config,
            &admin_server::store::audit::Actor::system(),
        )
        .await
        .unwrap();
        let site = SiteConnector::attach(
            &self.server.url(),
            &token.token,
            SimulatedHierarchy::new(config),
            SiteOptions::default(),
        )
        .await
        .unwrap();
        site.full_sync().await.unwrap();
        site
    }

    pub async fn shut_down(self) {
        self.stop.send(()).unwrap();
        self.server.finished().await.unwrap();
    }
}
