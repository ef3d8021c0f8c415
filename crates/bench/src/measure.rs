//! Latency samples and their percentiles; a signed-in client; timing one request.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, COOKIE};

/// Latencies of one measurement, sorted.
#[derive(Debug, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The nearest-rank percentile (`p` in 0..=100).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Signs in as `user_name`; the session cookie (`name=value`).
pub async fn sign_in(url: &str, user_name: &str, password: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/session"))
        .header(admin_api::identity::CSRF_HEADER, "1")
        .json(&admin_api::identity::SignIn {
            user_name: user_name.to_owned(),
            password: password.to_owned(),
        })
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("signing in as {user_name}: {}", response.text().await?);
    }
    Ok(response
        .headers()
        .get("set-cookie")
        .context("a session cookie")?
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// A client with this session, sending the same-origin header the SPA sends.
pub fn client_with(cookie: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie)?);
    headers.insert(
        admin_api::identity::CSRF_HEADER,
        HeaderValue::from_static("1"),
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(64)
        .build()?)
}

/// A client signed in as `user_name`.
pub async fn signed_in(
    url: &str,
    user_name: &str,
    password: &str,
) -> anyhow::Result<reqwest::Client> {
    client_with(&sign_in(url, user_name, password).await?)
}

/// GETs `url`, reads the whole body, and fails on anything but 200.
pub async fn get_ok(client: &reqwest::Client, url: &str) -> anyhow::Result<(Duration, Bytes)> {
    let started = Instant::now();
    let response = client.get(url).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    let took = started.elapsed();
    if status != 200 {
        bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok((took, body))
}
