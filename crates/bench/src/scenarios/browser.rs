//! The SPA in headless Chromium against the tenant: navigation to the first rendered row of All
//! devices with a cold cache (a new browser profile each time), and a sort click to the table
//! rendered again. The SPA marks every rendered page of devices in the browser's performance
//! timeline (`attach-center:devices-rendered`); the times are read from those marks, so polling
//! the page for them adds nothing to what is measured.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use fantoccini::{Client, ClientBuilder};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Context;
use crate::measure::Samples;
use crate::report::Section;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const MARK: &str = "attach-center:devices-rendered";
const FIRST_ROW_BUDGET_MS: f64 = 1_500.0;

struct Browser {
    client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER} (scripts/setup installs it)"))?;
        let mut lines = BufReader::new(driver.stdout.take().context("its output")?).lines();
        while let Some(line) = lines.next_line().await? {
            if line.contains("started successfully") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir()?;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--no-first-run", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await?;
        Ok(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Gives the browser the benchmark user's session (set on the site's origin, as sign-in would).
    async fn use_session(&self, url: &str, cookie: &str) -> anyhow::Result<()> {
        let (name, value) = cookie.split_once('=').context("a cookie")?;
        // A cookie is set for the site the browser is on: a small same-origin answer first (not
        // the SPA, whose files would then be cached).
        self.client
            .goto(&format!("{url}/api/v1/openapi.json"))
            .await?;
        let mut cookie = fantoccini::cookies::Cookie::new(name.to_owned(), value.to_owned());
        cookie.set_path("/");
        cookie.set_same_site(cookie::SameSite::Strict);
        cookie.set_domain("127.0.0.1");
        cookie.set_http_only(true);
        self.client.add_cookie(cookie).await?;
        Ok(())
    }

    /// The start times of the marks so far (ms since the page's navigation began).
    async fn marks(&self) -> anyhow::Result<Vec<f64>> {
        let value = self
            .client
            .execute(
                "return performance.getEntriesByName(arguments[0]).map(e => e.startTime);",
                vec![serde_json::json!(MARK)],
            )
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    /// Waits (bounded) until there are more than `seen` marks; the newest one's time.
    async fn next_mark(&self, seen: usize) -> anyhow::Result<f64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let marks = self.marks().await?;
            if marks.len() > seen {
                return Ok(*marks.last().expect("more than none"));
            }
            if tokio::time::Instant::now() > deadline {
                bail!("All devices rendered no page within 60 s");
            }
            // How often the page is asked, not what is measured (that is the mark's own time).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn run(ctx: &Context, cookie: &str, cold_loads: usize) -> anyhow::Result<Section> {
    let mut section = Section::new("The SPA in headless Chromium (All devices)");
    let mut first_rows = Vec::new();
    let mut sorts = Vec::new();
    for _ in 0..cold_loads {
        // A new profile each time: nothing cached, as on a first visit.
        let browser = Browser::start().await?;
        browser.use_session(&ctx.url, cookie).await?;
        browser.client.goto(&format!("{}/devices", ctx.url)).await?;
        first_rows.push(Duration::from_secs_f64(
            browser.next_mark(0).await? / 1_000.0,
        ));
        // Sort by last check-in: the time from the click to the table rendered again.
        let clicked: f64 = serde_json::from_value(
            browser
                .client
                .execute(
                    "const button = [...document.querySelectorAll('th button.sort')]
                        .find(b => b.textContent.includes('Last check-in'));
                     const at = performance.now();
                     button.click();
                     return at;",
                    vec![],
                )
                .await?,
        )?;
        let rendered = browser.next_mark(1).await?;
        sorts.push(Duration::from_secs_f64((rendered - clicked) / 1_000.0));
        browser.client.close().await?;
    }
    section.latency(
        format!(
            "Navigation → first rendered row, cold cache ({} devices)",
            ctx.tenant.devices
        ),
        Samples::new(first_rows),
        Some(FIRST_ROW_BUDGET_MS),
    );
    section.latency(
        "Sort click (Last check-in) → table rendered again",
        Samples::new(sorts),
        None,
    );
    Ok(section)
}
