//! The server as the tests run it (feature `testing`): on a free port with a fresh SQLite file in
//! a temporary folder, accounts with one known password, clients signed in as them, simulated
//! sites attached through the connector protocol. One harness for the API tests
//! (`crates/server/tests/api`) and the browser tests (`tests/e2e`).

pub mod oidc;
pub mod postgres;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::Router;
use connector_protocol::{SiteConnector, SiteOptions};
use simulated_hierarchy::{HierarchyConfig, SimulatedHierarchy};
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::store::audit::Actor;
use crate::store::users::NewUser;
use crate::store::Store;
use crate::{Config, Server};

/// The database the test servers use, chosen for the whole test process by
/// `ATTACH_TEST_BACKEND` (`sqlite`, the default, or `postgres`): one suite for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in the test's temporary folder.
    Sqlite,
    /// A fresh database in one throwaway cluster per test process ([`postgres::shared`]).
    Postgres,
}

impl Backend {
    pub fn chosen() -> Self {
        match std::env::var("ATTACH_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            Ok("sqlite") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("ATTACH_TEST_BACKEND is sqlite or postgres, not {other:?}"),
        }
    }

    /// A fresh database of the chosen backend: a SQLite file in `dir`, or a new database in the
    /// tests' cluster.
    pub async fn fresh_database(dir: &std::path::Path) -> String {
        match Self::chosen() {
            Backend::Sqlite => format!("sqlite:{}", dir.join("db/admin.db").display()),
            Backend::Postgres => postgres::shared()
                .await
                .new_database()
                .await
                .expect("a database in the tests' cluster"),
        }
    }
}

/// The password of every account the tests make.
pub const PASSWORD: &str = "correct horse battery staple";

/// The SPA a test server serves when the test brings none: an index page and one hashed asset.
pub const INDEX_HTML: &str = "<!DOCTYPE html><title>test shell</title>";
pub const HASHED_ASSET: &str = "admin-center-0123456789abcdef.js";

/// A layer of the test's own around the whole app (e.g. one that records every answer).
pub type Wrap = Arc<dyn Fn(Router) -> Router + Send + Sync>;

/// A running test server; stopped, started again on the same address with the same database,
/// or shut down.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub config: Config,
    pub server: Option<Server>,
    stop: Option<oneshot::Sender<()>>,
    wrap: Wrap,
    _dir: TempDir,
}

impl TestServer {
    /// Starts the server with a fresh database, serving `dist` (or, without one, the small
    /// shell of [`INDEX_HTML`] and [`HASHED_ASSET`]), with the test's `adjust`ments to the
    /// settings and every request passed through `wrap`.
    pub async fn start(
        dist: Option<PathBuf>,
        adjust: impl FnOnce(&mut Config),
        wrap: Wrap,
    ) -> Self {
        // ATTACH_TEST_LOG=<filter> shows the servers' logs (e.g. `admin_server=debug`).
        if let Ok(filter) = std::env::var("ATTACH_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let dist = dist.unwrap_or_else(|| {
            let dist = dir.path().join("dist");
            std::fs::create_dir(&dist).expect("the test shell's folder");
            std::fs::write(dist.join("index.html"), INDEX_HTML).expect("the test shell");
            std::fs::write(dist.join(HASHED_ASSET), "console.log(1)").expect("the test asset");
            dist
        });
        let database = Backend::fresh_database(dir.path()).await;
        let mut config = Config::for_test(database, dist);
        adjust(&mut config);
        let mut test = Self {
            url: String::new(),
            config,
            server: None,
            stop: None,
            wrap,
            _dir: dir,
        };
        test.start_again().await;
        test.url = test.server().url();
        // A restart comes back on the same address.
        test.config.listen = test.server().addr;
        test
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the test server is running")
    }

    pub fn store(&self) -> &Store {
        self.server().store()
    }

    /// Adds an account with [`PASSWORD`] and these roles (by display name).
    pub async fn add_user(
        &self,
        user_name: &str,
        display_name: &str,
        roles: &[&str],
    ) -> admin_api::User {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        self.store()
            .create_user(
                &NewUser {
                    user_name,
                    display_name,
                    password_hash: password_hash(),
                    roles: &roles,
                },
                &Actor::system(),
                time::OffsetDateTime::now_utc(),
            )
            .await
            .expect("the account is made")
    }

    /// Signs in through the API; the session cookie (`name=value`) comes back.
    pub async fn session_cookie(&self, user_name: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/session", self.url))
            .header(admin_api::identity::CSRF_HEADER, "1")
            .json(&serde_json::json!({"userName": user_name, "password": PASSWORD}))
            .send()
            .await
            .expect("the sign-in is answered");
        assert_eq!(response.status(), 200, "signing in as {user_name}");
        let cookie = response.headers()["set-cookie"].to_str().expect("a cookie");
        cookie.split(';').next().unwrap_or_default().to_owned()
    }

    /// A client signed in as `user_name`, sending the same-origin proof as the SPA does.
    pub async fn signed_in(&self, user_name: &str) -> reqwest::Client {
        client_with_cookie(&self.session_cookie(user_name).await)
    }

    /// Attaches a simulated site with `token` and uploads its devices.
    pub async fn attach_site_with_token(
        &self,
        token: &str,
        config: HierarchyConfig,
        options: SiteOptions,
    ) -> simulated_hierarchy::SimulatedSite {
        let site =
            SiteConnector::attach(&self.url, token, SimulatedHierarchy::new(config), options)
                .await
                .expect("the site attaches");
        site.full_sync()
            .await
            .expect("the site uploads its devices");
        site
    }

    /// Stops the server (its address and database stay the test's).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.finished().await.expect("the server stops cleanly");
        }
    }

    /// Starts the stopped server again on its address with its database.
    pub async fn start_again(&mut self) {
        let (stop, stopped) = oneshot::channel::<()>();
        let wrap = self.wrap.clone();
        let server = Server::start_with(
            &self.config,
            async {
                let _ = stopped.await;
            },
            move |app| wrap(app),
        )
        .await
        .expect("the test server starts");
        self.server = Some(server);
        self.stop = Some(stop);
    }
}

/// No layer of the test's own.
pub fn no_wrap() -> Wrap {
    Arc::new(|app| app)
}

/// The PHC string of [`PASSWORD`], made once: argon2id is slow on purpose.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| crate::auth::password::hash(PASSWORD))
}

/// A client that sends this session cookie and the same-origin proof.
pub fn client_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        cookie.parse().expect("a cookie header"),
    );
    headers.insert(
        admin_api::identity::CSRF_HEADER,
        reqwest::header::HeaderValue::from_static("1"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}
