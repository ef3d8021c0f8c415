//! Bearer tokens for an AdminService reached through a cloud management gateway: Entra ID's
//! client credentials flow (a client secret, or a certificate: a client assertion signed with
//! its key), the token kept until shortly before it expires and fetched again then, or at once
//! when the service refuses it.

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
    pub credential: EntraCredential,
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
            .field("credential", &self.credential)
            .field("scope", &self.scope)
            .finish()
    }
}

/// How the app proves who it is.
#[derive(Clone)]
pub enum EntraCredential {
    /// A client secret.
    Secret(String),
    /// A certificate registered with the app, and its private key.
    Certificate(EntraCertificate),
}

impl std::fmt::Debug for EntraCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(hidden)"),
            Self::Certificate(certificate) => f
                .debug_tuple("Certificate")
                .field(&certificate.thumbprint)
                .finish(),
        }
    }
}

/// A certificate credential: its SHA-256 thumbprint (which tells Entra ID which of the app's
/// certificates signed) and its RSA private key.
#[derive(Clone)]
pub struct EntraCertificate {
    /// Base64url SHA-256 of the certificate's DER (the assertion's `x5t#S256`).
    thumbprint: String,
    key: jsonwebtoken::EncodingKey,
}

/// How long a client assertion is valid (Entra ID asks for 5–10 minutes at most).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

impl EntraCertificate {
    /// From a PEM file holding the certificate and its RSA private key (PKCS#8 or PKCS#1), as
    /// `openssl pkcs12 -nodes` or a certificate export writes it.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        use base64::Engine;
        use rustls::pki_types::pem::{PemObject, SectionKind};
        use sha2::{Digest, Sha256};
        let mut certificate = None;
        let mut key = None;
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            let (kind, der) = section
                .map_err(|error| anyhow::anyhow!("the certificate file is not PEM: {error}"))?;
            match kind {
                SectionKind::Certificate if certificate.is_none() => certificate = Some(der),
                SectionKind::PrivateKey => key = Some(("PRIVATE KEY", der)),
                SectionKind::RsaPrivateKey => key = Some(("RSA PRIVATE KEY", der)),
                SectionKind::EcPrivateKey => {
                    anyhow::bail!("the certificate's key is an EC key; Entra ID's client assertions here are signed with RSA")
                }
                _ => {}
            }
        }
        let certificate = certificate
            .ok_or_else(|| anyhow::anyhow!("the certificate file holds no CERTIFICATE"))?;
        let (label, der) = key.ok_or_else(|| {
            anyhow::anyhow!(
                "the certificate file holds no private key (PRIVATE KEY or RSA PRIVATE KEY)"
            )
        })?;
        let base64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut text = format!("-----BEGIN {label}-----\n");
        for line in base64.as_bytes().chunks(64) {
            text.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            text.push('\n');
        }
        text.push_str(&format!("-----END {label}-----\n"));
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(text.as_bytes())
            .map_err(|error| anyhow::anyhow!("the certificate's key is not an RSA key: {error}"))?;
        let made = Self {
            thumbprint: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(&certificate)),
            key,
        };
        // A key that cannot sign is told now, not at the first token.
        made.assertion("https://check", "check")
            .map_err(|error| anyhow::anyhow!("the certificate's key cannot sign: {error}"))?;
        Ok(made)
    }

    /// The certificate's SHA-256 thumbprint, as the assertion names it (base64url).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A client assertion for the token endpoint `audience`.
    fn assertion(&self, audience: &str, client_id: &str) -> jsonwebtoken::errors::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
        let claims = AssertionClaims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
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
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.client.client_id.clone()),
            ("scope", self.client.scope.clone()),
        ];
        match &self.client.credential {
            EntraCredential::Secret(secret) => form.push(("client_secret", secret.clone())),
            EntraCredential::Certificate(certificate) => {
                let assertion = certificate
                    .assertion(&url, &self.client.client_id)
                    .map_err(|error| {
                        TokenFailure::Refused(format!(
                            "no client assertion could be signed: {error}"
                        ))
                    })?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
        }
        let response = self
            .http
            .post(&url)
            .form(&form)
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
