//! End to end: the real server (in this process, on a free port, with a temporary database) serving
//! the release build of the SPA from `dist/`, driven in headless Chromium through chromedriver.
#![cfg(not(target_arch = "wasm32"))]

mod browser;
mod devices;

use std::path::PathBuf;

use admin_server::{Config, Server};
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

/// Starts the server with a fresh database seeded with the demo tenant.
pub async fn start_server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_test(
        format!("sqlite:{}", dir.path().join("admin.db").display()),
        dist(),
    );
    config.demo = true;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::start(&config, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    TestServer {
        server,
        stop,
        _dir: dir,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub async fn shut_down(self) {
        self.stop.send(()).unwrap();
        self.server.finished().await.unwrap();
    }
}
