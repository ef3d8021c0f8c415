//! What the tests share: the test server as this suite runs it, and its clients.

use std::path::PathBuf;

use admin_server::testing::{client_with_cookie, no_wrap};
use site_connector::{HierarchyConfig, SiteOptions};

pub use admin_server::testing::PASSWORD;

/// The accounts every test server has, one per built-in role, all with [`PASSWORD`].
pub const ADMIN: &str = "admin@e2e.example";
pub const HELPDESK: &str = "helpdesk@e2e.example";
pub const READER: &str = "reader@e2e.example";

/// The shared test server serving the SPA's release build, with its three accounts and a client
/// of the admin API signed in as [`ADMIN`] (`spawn_app`, `TestApp`: the API suite's names too).
pub struct TestApp {
    harness: admin_server::testing::TestServer,
    /// The admin API, signed in as [`ADMIN`].
    api: reqwest::Client,
}

/// The SPA built by `trunk build --release` (scripts/test builds it before these tests).
pub fn dist() -> PathBuf {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist");
    assert!(
        dist.join("index.html").is_file(),
        "{} has no index.html: build the SPA first (scripts/test does)",
        dist.display()
    );
    dist
}

/// Starts the server with a fresh database and two sites attached through the connector protocol.
pub async fn spawn_app() -> TestApp {
    let harness = admin_server::testing::TestServer::start(Some(dist()), |_| {}, no_wrap()).await;
    for (user, role) in [
        (ADMIN, admin_api::identity::INTUNE_ADMINISTRATOR),
        (HELPDESK, admin_api::identity::HELP_DESK_OPERATOR),
        (READER, admin_api::identity::READ_ONLY_OPERATOR),
    ] {
        let display_name = user.split('@').next().unwrap();
        harness.add_user(user, display_name, &[role]).await;
    }
    let api = client_with_cookie(&harness.session_cookie(ADMIN).await);
    let app = TestApp { harness, api };
    for config in [
        HierarchyConfig::new("Contoso Headquarters", "CHQ", 2207, 240, 1),
        HierarchyConfig::new("Contoso Europe", "EUR", 2010, 120, 2),
    ] {
        app.attach_site(config).await;
    }
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.harness.url)
    }

    /// The running server (its store, its state).
    pub fn server(&self) -> &admin_server::Server {
        self.harness.server()
    }

    /// The admin API as [`ADMIN`], with the same-origin proof the SPA sends.
    pub fn api(&self) -> &reqwest::Client {
        &self.api
    }

    /// Signs `user` in through the API and returns the session cookie (`name=value`).
    pub async fn session_cookie(&self, user: &str) -> String {
        self.harness.session_cookie(user).await
    }

    /// Attaches a simulated site with a new onboarding token and uploads its devices.
    pub async fn attach_site(&self, config: HierarchyConfig) -> site_connector::SimulatedSite {
        let server = self.harness.server();
        let token = admin_server::domain::connectors::new_onboarding_token(
            server.store(),
            &server.state.config,
            &admin_server::store::audit::Actor::system(),
        )
        .await
        .unwrap();
        self.harness
            .attach_site_with_token(&token.token, config, SiteOptions::default())
            .await
    }

    pub async fn shut_down(mut self) {
        self.harness.stop().await;
    }
}
