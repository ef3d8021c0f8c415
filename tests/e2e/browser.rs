//! Headless Chromium through Debian's chromedriver, one driver per test.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::TestApp;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
    /// Where the browser saves what it downloads, without asking.
    downloads: tempfile::TempDir,
}

impl Browser {
    /// A browser signed in as `user` (the session made through the API, its cookie given to the
    /// browser): for tests about something other than signing in.
    pub async fn signed_in(app: &TestApp, user: &str) -> Self {
        Self::signed_in_with(app, user, &[]).await
    }

    pub async fn signed_in_with(app: &TestApp, user: &str, extra_args: &[&str]) -> Self {
        let browser = Self::start_with(extra_args).await;
        browser.use_session(app, user).await;
        browser
    }

    /// Gives the browser a session of `user`, as if they had signed in.
    pub async fn use_session(&self, app: &TestApp, user: &str) {
        let cookie = app.session_cookie(user).await;
        let (name, value) = cookie.split_once('=').unwrap();
        // A cookie is set for the site the browser is on: open the sign-in page first.
        self.open(&app.url("/signin")).await;
        self.wait_for("//h1[normalize-space()='Sign in']").await;
        let mut cookie = fantoccini::cookies::Cookie::new(name.to_owned(), value.to_owned());
        cookie.set_path("/");
        cookie.set_same_site(cookie::SameSite::Strict);
        cookie.set_domain("127.0.0.1");
        cookie.set_http_only(true);
        self.client.add_cookie(cookie).await.unwrap();
    }

    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A browser with Chromium switches of the test's own (e.g. a window size or a color scheme).
    pub async fn start_with(extra_args: &[&str]) -> Self {
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER} does not start ({e}): run scripts/setup"));
        // chromedriver says so on stdout once it listens.
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        let mut args = serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            format!("--user-data-dir={}", profile.path().display()),
        ]);
        let args_list = args.as_array_mut().expect("an array");
        if !extra_args.iter().any(|a| a.starts_with("--window-size=")) {
            args_list.push("--window-size=1280,800".into());
        }
        args_list.extend(extra_args.iter().map(|a| serde_json::Value::from(*a)));
        let downloads = tempfile::tempdir().unwrap();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true
                }
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver opens a Chromium session");
        Self {
            client,
            _driver: driver,
            _profile: profile,
            downloads,
        }
    }

    /// Waits (bounded) until the browser has finished downloading `name`, and returns its
    /// bytes. Chromium writes a download under a temporary name and renames it when whole.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if path.exists() {
                return std::fs::read(&path).unwrap();
            }
            let present: Vec<String> = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                tokio::time::Instant::now() < deadline,
                "the browser did not download {name} (the folder holds {present:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (bounded) until an element matching `css` is in the page, and returns its text.
    pub async fn text_of(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element matches {css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Waits (bounded) until an element matching the XPath `xpath` is in the page.
    pub async fn wait_for(&self, xpath: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("nothing matches {xpath}: {e}"))
    }

    /// Waits (bounded) until the browser's address is `url`: the router updates it as it renders.
    pub async fn wait_for_url(&self, url: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_url(&url::Url::parse(url).unwrap())
            .await
            .unwrap_or_else(|e| panic!("the browser never got to {url}: {e}"));
    }

    /// Loads `url` as a fresh navigation.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits (bounded) for the element at `xpath`, then clicks it.
    pub async fn click(&self, xpath: &str) {
        self.wait_for(xpath).await.click().await.unwrap();
    }

    /// Saves a screenshot of the window as `name` under the tests' target folder.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }

    /// The end of a test: the browser closed, then the server shut down.
    pub async fn finish(self, app: crate::TestApp) {
        self.close().await;
        app.shut_down().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
