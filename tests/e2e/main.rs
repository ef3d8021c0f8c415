//! End to end: the real server (in this process, on a free port, with a temporary database) serving
//! the release build of the SPA from `dist/`, driven in headless Chromium through chromedriver.
#![cfg(not(target_arch = "wasm32"))]

mod actions;
mod blade;
mod browser;
mod connectors;
mod devices;
mod screenshots;

use std::path::PathBuf;

use admin_server::{Config, Server};
use site_connector::{HierarchyConfig, SimulatedHierarchy, SiteConnector, SiteOptions};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct TestServer {
    pub server: Server,
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
    let test_server = TestServer {
        server,
        stop,
        _dir: dir,
    };
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

    /// Attaches a simulated site with a token from the admin API and uploads its devices.
    pub async fn attach_site(&self, config: HierarchyConfig) -> SiteConnector {
        let token = admin_server::routes::connectors::new_onboarding_token(
            self.server.store(),
            &self.server.state.config,
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
