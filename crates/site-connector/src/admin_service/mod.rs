//! A real Configuration Manager site through its **AdminService** (the SMS Provider's REST API,
//! `https://<SMS Provider>/AdminService`): the OData client ([`AdminService`]), its
//! authentication ([`auth`]) and certificate trust ([`tls`]), what the site's WMI classes hold
//! ([`wmi`]) and the [`crate::DeviceSource`] over them ([`site`]).

pub mod auth;
pub mod checks;
pub mod entra;
mod link;
pub mod requests;
pub mod site;
pub mod tls;
pub mod wmi;

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

pub use auth::WindowsAccount;
pub use entra::{EntraCertificate, EntraClient, EntraCredential};
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
/// connection ([`link`]): Windows authentication is bound to the connection, so a handshake's
/// legs must share it, and a connection that authenticated stays authenticated.
#[derive(Clone)]
pub struct AdminService {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    host: String,
    signer: Signer,
    /// The connection, and the turn to use it.
    link: tokio::sync::Mutex<link::Link>,
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
        let link = link::Link::new(&base, tls::client_config(&config.trust)?)?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                host,
                signer: match &config.authentication {
                    Authentication::Windows(account) => Signer::Windows(account.clone()),
                    Authentication::Entra(client) => {
                        Signer::Entra(entra::Tokens::new(client.clone())?)
                    }
                },
                link: tokio::sync::Mutex::new(link),
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

    /// `GET v1.0/<path>`: an entity or a function of the versioned route (`Device(16777220)`,
    /// `Device(16777220)/AdminService.CMPivotResult(OperationId=5)`), as JSON.
    pub async fn get_v1(&self, path: &str) -> AdminServiceResult<Value> {
        let url = self.v1(path)?;
        self.send(Method::GET, url, None).await
    }

    /// `POST v1.0/<path>` with `body`: an action of the versioned route.
    pub async fn post_v1(&self, path: &str, body: &Value) -> AdminServiceResult<Value> {
        let url = self.v1(path)?;
        self.send(Method::POST, url, Some(body)).await
    }

    /// The classes of the WMI route (its OData service document's entity sets).
    pub async fn wmi_classes(&self) -> AdminServiceResult<Vec<String>> {
        let url = self.wmi("")?;
        let document = self.send(Method::GET, url, None).await?;
        let sets = document
            .get("value")
            .and_then(Value::as_array)
            .ok_or_else(|| AdminServiceError::Invalid("wmi/: no 'value' list".into()))?;
        Ok(sets
            .iter()
            .filter_map(|set| set.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect())
    }

    fn v1(&self, path: &str) -> AdminServiceResult<Url> {
        self.inner
            .base
            .join(&format!("v1.0/{path}"))
            .map_err(|error| AdminServiceError::Invalid(error.to_string()))
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

    /// How many connections it has opened to the service so far.
    pub async fn connections_opened(&self) -> u64 {
        self.inner.link.lock().await.connections_opened()
    }

    /// One request, signed in as the service asks.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> AdminServiceResult<Value> {
        let mut link = self.inner.link.lock().await;
        let body = body.map(|body| serde_json::to_vec(body).expect("JSON serializes"));
        let answer = match &self.inner.signer {
            Signer::Windows(account) => {
                self.send_negotiated(&mut link, account, &method, &url, body.as_deref())
                    .await?
            }
            Signer::Entra(tokens) => {
                send_bearer(&mut link, tokens, &method, &url, body.as_deref()).await?
            }
        };
        answer_value(answer)
    }

    /// Windows authentication of the connection first when the service asks for it.
    async fn send_negotiated(
        &self,
        link: &mut link::Link,
        account: &WindowsAccount,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> AdminServiceResult<link::Answer> {
        let refused = |reason: &str| {
            AdminServiceError::Authentication {
            user: format!("the account {}", account.user()),
            reason: format!(
                "{reason}; check the account name (DOMAIN\\name) and its password, and that Windows authentication is enabled on the SMS Provider"
            ),
        }
        };
        // The handshake in progress, and the connection it is bound to.
        let mut handshake: Option<(u64, auth::Handshake)> = None;
        let mut authorization: Option<String> = None;
        // Negotiate takes at most three legs. When the service closes the connection half-way,
        // the handshake starts over on the next one, at most twice.
        let mut restarts = 0;
        for _ in 0..12 {
            let connection = link.connection().await?;
            if handshake.as_ref().is_some_and(|(on, _)| *on != connection) {
                restarts += 1;
                if restarts > 2 {
                    break;
                }
                handshake = None;
                authorization = None;
            }
            let headers: Vec<_> = authorization
                .iter()
                .map(|value| (AUTHORIZATION, value.clone()))
                .collect();
            let answer = link.send(method, url, &headers, body).await?;
            if answer.status != StatusCode::UNAUTHORIZED {
                return Ok(answer);
            }
            let offered: Vec<String> = answer
                .headers
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .map(str::to_owned)
                .collect();
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
                (Some((on, handshake)), Some(challenge)) if *on == answer.connection => {
                    handshake.next_token(Some(&challenge)).await
                }
                // A refusal of the whole handshake: the account or its password.
                (Some((on, _)), None) if *on == answer.connection => {
                    return Err(refused("the password or the account was refused"))
                }
                _ => {
                    let started = auth::Handshake::start(account, &self.inner.host)
                        .map_err(|error| refused(&format!("{error:#}")))?;
                    let (_, started) = handshake.insert((answer.connection, started));
                    started.next_token(None).await
                }
            }
            .map_err(|error| refused(&format!("{error:#}")))?;
            authorization = Some(auth::header(&token));
        }
        Err(refused("the handshake did not finish"))
    }
}

/// With an Entra ID token; a refused token is replaced once.
async fn send_bearer(
    link: &mut link::Link,
    tokens: &entra::Tokens,
    method: &Method,
    url: &Url,
    body: Option<&[u8]>,
) -> AdminServiceResult<link::Answer> {
    let refused = |reason: String| AdminServiceError::Authentication {
        user: format!("the app {}", tokens.client_id()),
        reason,
    };
    for attempt in 0..2 {
        let token = tokens.token(attempt > 0).await.map_err(|failure| match failure {
            entra::TokenFailure::Refused(message) => refused(format!(
                "Entra ID gave it no token ({message}); check the tenant, client id, secret and scope"
            )),
            entra::TokenFailure::Unreachable(error) => link::reached(&error),
        })?;
        let headers = [(AUTHORIZATION, format!("Bearer {token}"))];
        let answer = link.send(method, url, &headers, body).await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
    }
    Err(refused(
        "the AdminService refused its token; check that the app is allowed to call the gateway's AdminService".into(),
    ))
}

/// A response's JSON, or the service's refusal in its own words.
fn answer_value(answer: link::Answer) -> AdminServiceResult<Value> {
    if answer.status.is_success() {
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&answer.body)
            .map_err(|error| AdminServiceError::Invalid(error.to_string()));
    }
    Err(AdminServiceError::Refused {
        status: answer.status,
        message: odata_error(&answer.body),
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
