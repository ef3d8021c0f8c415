//! Bearer tokens for an AdminService reached through a cloud management gateway: Entra ID's
//! client credentials flow (a client secret), the token kept until shortly before it expires and
//! fetched again then, or at once when the service refuses it.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// An app registration that may call the AdminService through the gateway.
#[derive(Clone)]
pub struct EntraClient {
    /// e.g. `https://login.microsoftonline.com`.
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    /// e.g. `api://<the AdminService's server app id>/.default`.
    pub scope: String,
    /// CA certificates (PEM) to trust for the authority besides the platform's.
    pub authority_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for EntraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraClient")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"(hidden)")
            .field("scope", &self.scope)
            .finish()
    }
}

/// A token is fetched again when less than this (or half its lifetime) is left of it.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Tokens of one client, fetched as needed.
pub struct Tokens {
    client: EntraClient,
    http: reqwest::Client,
    current: tokio::sync::Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Why no token could be had.
#[derive(Debug)]
pub enum TokenFailure {
    /// The authority refused the client (its message).
    Refused(String),
    /// The authority could not be reached.
    Unreachable(reqwest::Error),
}

impl Tokens {
    pub fn new(client: EntraClient) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(pem) = &client.authority_ca {
            for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
                http = http.add_root_certificate(certificate);
            }
        }
        Ok(Self {
            client,
            http: http.build()?,
            current: tokio::sync::Mutex::new(None),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client.client_id
    }

    /// A token valid for a while yet; a new one when `refused` (the service refused the last).
    pub async fn token(&self, refused: bool) -> Result<String, TokenFailure> {
        let mut current = self.current.lock().await;
        if let Some((token, refresh_at)) = current.as_ref() {
            if !refused && Instant::now() < *refresh_at {
                return Ok(token.clone());
            }
        }
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.client.authority.trim_end_matches('/'),
            self.client.tenant
        );
        let response = self
            .http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client.client_id.as_str()),
                ("client_secret", self.client.client_secret.as_str()),
                ("scope", self.client.scope.as_str()),
            ])
            .send()
            .await
            .map_err(TokenFailure::Unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(TokenFailure::Unreachable)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<TokenError>(&bytes)
                .map(|e| match e.error_description {
                    Some(description) => format!("{}: {description}", e.error),
                    None => e.error,
                })
                .unwrap_or_else(|_| format!("the authority answered {status}"));
            *current = None;
            return Err(TokenFailure::Refused(message));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|error| {
            TokenFailure::Refused(format!("the authority's answer cannot be read: {error}"))
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.min(24 * 3600));
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 2));
        *current = Some((answer.access_token.clone(), refresh_at));
        Ok(answer.access_token)
    }
}
