//! Latency samples and their percentiles; a signed-in client; timing one request.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, COOKIE};

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

/// What Chromium sends: the server compresses for the bench as it would for the SPA.
pub const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// GETs `url` as a browser does (compressed), reads and decodes the whole body, and fails on
/// anything but 200. The time includes the decoding, as a browser's would.
pub async fn get_ok(client: &reqwest::Client, url: &str) -> anyhow::Result<(Duration, Bytes)> {
    let started = Instant::now();
    let response = client
        .get(url)
        .header(ACCEPT_ENCODING, BROWSER_ACCEPT_ENCODING)
        .send()
        .await?;
    let status = response.status();
    let mut decoder = Decoder::new(&response, Vec::new())?;
    decoder.write(&response.bytes().await?)?;
    let body = Bytes::from(decoder.finish()?);
    let took = started.elapsed();
    if status != 200 {
        bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok((took, body))
}

/// A response body decoded as it arrives, by its `Content-Encoding`, into `out`.
pub enum Decoder<W: Write> {
    Identity(W),
    Gzip(Box<flate2::write::GzDecoder<W>>),
    Brotli(Box<brotli::DecompressorWriter<W>>),
}

impl<W: Write> Decoder<W> {
    pub fn new(response: &reqwest::Response, out: W) -> anyhow::Result<Self> {
        let encoding = response.headers().get(CONTENT_ENCODING);
        Ok(match encoding.map(|e| e.as_bytes()) {
            None => Self::Identity(out),
            Some(b"gzip") => Self::Gzip(Box::new(flate2::write::GzDecoder::new(out))),
            Some(b"br") => Self::Brotli(Box::new(brotli::DecompressorWriter::new(out, 4096))),
            Some(other) => bail!("no decoder for {}", String::from_utf8_lossy(other)),
        })
    }

    /// How the body was sent: `gzip`, `br` or `uncompressed`.
    pub fn encoding(&self) -> &'static str {
        match self {
            Self::Identity(_) => "uncompressed",
            Self::Gzip(_) => "gzip",
            Self::Brotli(_) => "br",
        }
    }

    pub fn write(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        match self {
            Self::Identity(out) => out.write_all(chunk)?,
            Self::Gzip(decoder) => decoder.write_all(chunk)?,
            Self::Brotli(decoder) => decoder.write_all(chunk)?,
        }
        Ok(())
    }

    /// The output, once the whole stream was decoded (an incomplete stream is an error).
    pub fn finish(self) -> anyhow::Result<W> {
        Ok(match self {
            Self::Identity(out) => out,
            Self::Gzip(decoder) => decoder.finish()?,
            Self::Brotli(decoder) => decoder
                .into_inner()
                .map_err(|_| anyhow::anyhow!("an incomplete brotli stream"))?,
        })
    }
}
