//! A real Configuration Manager site through its **AdminService** (the SMS Provider's REST API,
//! `https://<SMS Provider>/AdminService`): the OData client ([`AdminService`]), its
//! authentication ([`auth`]) and certificate trust ([`tls`]), what the site's WMI classes hold
//! ([`wmi`]) and the [`crate::DeviceSource`] over them ([`site`]).

pub mod auth;
pub mod checks;
pub mod entra;
pub mod site;
pub mod tls;
pub mod wmi;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

pub use auth::WindowsAccount;
pub use entra::EntraClient;
pub use tls::Trust;

/// Where the site's AdminService is and how to reach it.
#[derive(Debug, Clone)]
pub struct AdminServiceConfig {
    /// e.g. `https://cm01.contoso.com/AdminService`.
    pub url: String,
    pub authentication: Authentication,
    pub trust: Trust,
}

/// How the connector signs in to the AdminService.
#[derive(Debug, Clone)]
pub enum Authentication {
    /// Windows integrated authentication (Negotiate), the SMS Provider's own.
    Windows(WindowsAccount),
    /// Entra ID bearer tokens, for an AdminService behind a cloud management gateway.
    Entra(EntraClient),
}

/// Why the AdminService did not answer as asked, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AdminServiceError {
    #[error("the AdminService's certificate is not trusted ({0}); trust it with --admin-service-ca <PEM file> or pin it with --admin-service-pin <SHA-256 fingerprint>")]
    Untrusted(String),
    #[error("the AdminService could not be reached: {0}")]
    Unreachable(String),
    #[error("the AdminService did not accept {user}: {reason}")]
    Authentication { user: String, reason: String },
    #[error("the AdminService refused ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    #[error("the AdminService's answer cannot be read: {0}")]
    Invalid(String),
}

impl AdminServiceError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type AdminServiceResult<T> = Result<T, AdminServiceError>;

/// Most rows one query may bring back through `@odata.nextLink`s: a site that never stops
/// sending pages does not grow the connector without bound.
pub const MAX_ROWS_PER_QUERY: usize = 200_000;

/// Longest answer the connector reads from the AdminService, in bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// A client of one site's AdminService. Requests go one at a time over one kept-alive
/// connection: Windows authentication is bound to the connection, so a handshake's legs must
/// share it, and a connection that authenticated stays authenticated.
#[derive(Clone)]
pub struct AdminService {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    host: String,
    signer: Signer,
    turn: tokio::sync::Mutex<()>,
}

enum Signer {
    Windows(WindowsAccount),
    Entra(entra::Tokens),
}

impl AdminService {
    pub fn new(config: &AdminServiceConfig) -> anyhow::Result<Self> {
        let mut base = Url::parse(&config.url)
            .map_err(|error| anyhow::anyhow!("'{}' is not a URL: {error}", config.url))?;
        if base.scheme() != "https" {
            anyhow::bail!(
                "the AdminService is reached over HTTPS only: give https://<SMS Provider>/AdminService"
            );
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let host = base
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("'{}' names no host", config.url))?
            .to_owned();
        let builder = reqwest::Client::builder()
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            // Windows authentication is bound to an HTTP/1.1 connection (IIS offers it on no
            // other), kept alive between requests.
            .http1_only()
            .pool_max_idle_per_host(1);
        let builder = match &config.trust {
            Trust::Platform => builder,
            Trust::Ca(pem) => {
                let mut builder = builder;
                let certificates = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|error| anyhow::anyhow!("the CA file is not PEM: {error}"))?;
                if certificates.is_empty() {
                    anyhow::bail!("the CA file holds no certificate");
                }
                for certificate in certificates {
                    builder = builder.add_root_certificate(certificate);
                }
                builder
            }
            Trust::Pin(pin) => builder.use_preconfigured_tls(tls::pinned(*pin)),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http: builder.build()?,
                base,
                host,
                signer: match &config.authentication {
                    Authentication::Windows(account) => Signer::Windows(account.clone()),
                    Authentication::Entra(client) => {
                        Signer::Entra(entra::Tokens::new(client.clone())?)
                    }
                },
                turn: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The account it reads the site with (`DOMAIN\\name`), or its app's client id.
    pub fn account_name(&self) -> &str {
        match &self.inner.signer {
            Signer::Windows(account) => account.user(),
            Signer::Entra(tokens) => tokens.client_id(),
        }
    }

    /// Whether it signs in as a Windows account (its roles can then be read from the site).
    pub fn is_windows_account(&self) -> bool {
        matches!(self.inner.signer, Signer::Windows(_))
    }

    /// The service's address.
    pub fn url(&self) -> &Url {
        &self.inner.base
    }

    /// `GET wmi/<class>` with these query options; every row, following `@odata.nextLink`.
    pub async fn query(
        &self,
        class: &str,
        select: &[&str],
        filter: Option<&str>,
        top: Option<usize>,
    ) -> AdminServiceResult<Vec<serde_json::Map<String, Value>>> {
        let mut url = self.wmi(class)?;
        {
            let mut query = url.query_pairs_mut();
            if !select.is_empty() {
                query.append_pair("$select", &select.join(","));
            }
            if let Some(filter) = filter {
                query.append_pair("$filter", filter);
            }
            if let Some(top) = top {
                query.append_pair("$top", &top.to_string());
            }
        }
        let cap = top.unwrap_or(MAX_ROWS_PER_QUERY).min(MAX_ROWS_PER_QUERY);
        let mut rows = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let page = self.send(Method::GET, url, None).await?;
            let Value::Object(mut page) = page else {
                return Err(AdminServiceError::Invalid(format!(
                    "{class}: not an object"
                )));
            };
            match page.remove("value") {
                Some(Value::Array(values)) => {
                    for value in values {
                        match value {
                            Value::Object(row) => rows.push(row),
                            _ => {
                                return Err(AdminServiceError::Invalid(format!(
                                    "{class}: a row is not an object"
                                )))
                            }
                        }
                    }
                }
                // A single object (a key lookup): one row.
                None => rows.push(page.clone()),
                Some(_) => {
                    return Err(AdminServiceError::Invalid(format!(
                        "{class}: 'value' is not a list"
                    )))
                }
            }
            if rows.len() >= cap {
                rows.truncate(cap);
                break;
            }
            if let Some(link) = page.get("@odata.nextLink").and_then(Value::as_str) {
                next = Some(self.same_service(link)?);
            }
        }
        Ok(rows)
    }

    /// `POST wmi/<class>.<method>` with `parameters`; the method's out parameters.
    pub async fn invoke(
        &self,
        class: &str,
        method: &str,
        parameters: &Value,
    ) -> AdminServiceResult<serde_json::Map<String, Value>> {
        let url = self.wmi(&format!("{class}.{method}"))?;
        match self.send(Method::POST, url, Some(parameters)).await? {
            Value::Object(out) => Ok(out),
            _ => Err(AdminServiceError::Invalid(format!(
                "{class}.{method}: not an object"
            ))),
        }
    }

    fn wmi(&self, path: &str) -> AdminServiceResult<Url> {
        self.inner
            .base
            .join(&format!("wmi/{path}"))
            .map_err(|error| AdminServiceError::Invalid(error.to_string()))
    }

    /// A next link, only when it points into this same service.
    fn same_service(&self, link: &str) -> AdminServiceResult<Url> {
        let url = self
            .inner
            .base
            .join(link)
            .map_err(|error| AdminServiceError::Invalid(format!("a next link: {error}")))?;
        let base = &self.inner.base;
        if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
            return Err(AdminServiceError::Invalid(format!(
                "a next link leads out of the AdminService: {url}"
            )));
        }
        Ok(url)
    }

    /// One request, signed in as the service asks.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> AdminServiceResult<Value> {
        let _turn = self.inner.turn.lock().await;
        let body = body.map(|body| serde_json::to_vec(body).expect("JSON serializes"));
        match &self.inner.signer {
            Signer::Windows(account) => self.send_negotiated(account, method, url, body).await,
            Signer::Entra(tokens) => self.send_bearer(tokens, method, url, body).await,
        }
    }

    fn request(
        &self,
        method: &Method,
        url: &Url,
        body: &Option<Vec<u8>>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        request
    }

    /// With an Entra ID token; a refused token is replaced once.
    async fn send_bearer(
        &self,
        tokens: &entra::Tokens,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> AdminServiceResult<Value> {
        let refused = |reason: String| AdminServiceError::Authentication {
            user: format!("the app {}", tokens.client_id()),
            reason,
        };
        for attempt in 0..2 {
            let token = tokens.token(attempt > 0).await.map_err(|failure| match failure {
                entra::TokenFailure::Refused(message) => refused(format!(
                    "Entra ID gave it no token ({message}); check the tenant, client id, secret and scope"
                )),
                entra::TokenFailure::Unreachable(error) => reached(error),
            })?;
            let response = self
                .request(&method, &url, &body)
                .bearer_auth(token)
                .send()
                .await
                .map_err(reached)?;
            if response.status() == StatusCode::UNAUTHORIZED {
                continue;
            }
            return answer(response).await;
        }
        Err(refused(
            "the AdminService refused its token; check that the app is allowed to call the gateway's AdminService".into(),
        ))
    }

    /// Windows authentication of the connection first when the service asks for it.
    async fn send_negotiated(
        &self,
        account: &WindowsAccount,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> AdminServiceResult<Value> {
        let mut handshake: Option<auth::Handshake> = None;
        let mut authorization: Option<String> = None;
        let refused = |reason: &str| {
            AdminServiceError::Authentication {
            user: format!("the account {}", account.user()),
            reason: format!(
                "{reason}; check the account name (DOMAIN\\name) and its password, and that Windows authentication is enabled on the SMS Provider"
            ),
        }
        };
        // Negotiate takes at most three legs. A handshake refused half-way is started once more
        // from the beginning (its legs may have reached two connections, if the first one was
        // closed meanwhile); refused again, the account is.
        let mut restarted = false;
        for _ in 0..8 {
            let mut request = self.request(&method, &url, &body);
            if let Some(authorization) = &authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            let response = request.send().await.map_err(reached)?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED {
                let offered: Vec<String> = response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .map(str::to_owned)
                    .collect();
                // The refusal's body (IIS sends a page) is read to its end: a response left
                // unread closes its connection, and the handshake's next leg must reuse it.
                read_bounded(response).await?;
                let negotiate = offered.iter().find(|value| {
                    value
                        .split(' ')
                        .next()
                        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(auth::SCHEME))
                });
                let Some(negotiate) = negotiate else {
                    return Err(refused(&format!(
                        "it offers {} authentication, not Negotiate",
                        if offered.is_empty() {
                            "no".into()
                        } else {
                            offered.join(", ")
                        }
                    )));
                };
                let token = match (&mut handshake, auth::server_token(negotiate)) {
                    (None, _) => {
                        let started = auth::Handshake::start(account, &self.inner.host)
                            .map_err(|error| refused(&format!("{error:#}")))?;
                        handshake.insert(started).next_token(None)
                    }
                    (Some(handshake), Some(challenge)) => handshake.next_token(Some(&challenge)),
                    (Some(_), None) if !restarted => {
                        restarted = true;
                        let started = auth::Handshake::start(account, &self.inner.host)
                            .map_err(|error| refused(&format!("{error:#}")))?;
                        handshake.insert(started).next_token(None)
                    }
                    (Some(_), None) => {
                        return Err(refused("the password or the account was refused"))
                    }
                }
                .map_err(|error| refused(&format!("{error:#}")))?;
                authorization = Some(auth::header(&token));
                continue;
            }
            return answer(response).await;
        }
        Err(refused("the handshake did not finish"))
    }
}

/// A response's JSON, or the service's refusal in its own words.
async fn answer(response: reqwest::Response) -> AdminServiceResult<Value> {
    let status = response.status();
    let bytes = read_bounded(response).await?;
    if status.is_success() {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&bytes)
            .map_err(|error| AdminServiceError::Invalid(error.to_string()));
    }
    Err(AdminServiceError::Refused {
        status,
        message: odata_error(&bytes),
    })
}

/// This machine's name: the workstation NTLM names and the service connection point the admin
/// center shows.
pub fn host_name() -> String {
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .filter(|name| !name.is_empty() && name.len() <= 253 && !name.chars().any(char::is_control))
        .unwrap_or_else(|| "site-connector".into())
}

/// An error and its causes, as one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The body, refused past [`MAX_ANSWER_BYTES`].
async fn read_bounded(mut response: reqwest::Response) -> AdminServiceResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(reached)? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AdminServiceError::Invalid(format!(
                "an answer is longer than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// An OData error's message (`{"error":{"message":…}}`), or the start of the body.
fn odata_error(bytes: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let message = parsed.as_ref().and_then(|body| {
        let error = body.get("error")?;
        error
            .get("message")
            .and_then(|m| m.as_str().or_else(|| m.get("value")?.as_str()))
            .map(str::to_owned)
    });
    message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(bytes);
        let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        if text.is_empty() {
            "(no message)".into()
        } else {
            text
        }
    })
}

/// A transport error, told apart: an untrusted certificate, or no answer.
fn reached(error: reqwest::Error) -> AdminServiceError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        // An I/O error carries rustls's error inside it rather than as its source.
        let tls = cause.downcast_ref::<rustls::Error>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return match tls {
                rustls::Error::InvalidCertificate(_) | rustls::Error::General(_) => {
                    AdminServiceError::Untrusted(tls.to_string())
                }
                other => AdminServiceError::Unreachable(other.to_string()),
            };
        }
        source = cause.source();
    }
    let text = error_chain(&error);
    // Through hyper's connector the TLS error may arrive as text only.
    if text.contains("invalid peer certificate") || text.contains("is not the pinned one") {
        return AdminServiceError::Untrusted(text);
    }
    AdminServiceError::Unreachable(text)
}
