//! The one HTTP/1.1 connection the connector holds to the AdminService at a time.
//!
//! Windows authentication is bound to a connection: the legs of a Negotiate handshake must
//! travel on the same one, and a connection that authenticated stays authenticated. A pooling
//! HTTP client cannot promise that (it may race a new connection against returning the pooled
//! one, and take whichever is ready first), so this owns its connection outright: every request
//! goes on it until the service closes it, and each answer says which connection carried it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use rustls::pki_types::ServerName;

use super::{error_chain, AdminServiceError, AdminServiceResult, MAX_ANSWER_BYTES};

/// How long opening a connection (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take, its whole answer read.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// An answer read to its end, and the connection that carried it.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
    pub connection: u64,
}

pub(super) struct Link {
    tls: tokio_rustls::TlsConnector,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    open: Option<(u64, SendRequest<Full<Bytes>>)>,
    opened: u64,
}

impl Link {
    pub fn new(base: &Url, tls: rustls::ClientConfig) -> anyhow::Result<Self> {
        let host = base
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("'{base}' names no host"))?
            .to_owned();
        // An IPv6 literal is written in brackets in a URL, not in a server name.
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = ServerName::try_from(bare)
            .map_err(|error| anyhow::anyhow!("'{host}' is not a host name: {error}"))?;
        let mut tls = tls;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            port: base.port_or_known_default().unwrap_or(443),
            host,
            server_name,
            open: None,
            opened: 0,
        })
    }

    /// How many connections it has opened so far.
    pub fn connections_opened(&self) -> u64 {
        self.opened
    }

    /// The connection the next request goes on, ready for it: the open one while the service
    /// keeps it, a new one otherwise.
    pub async fn connection(&mut self) -> AdminServiceResult<u64> {
        if let Some((id, sender)) = &mut self.open {
            // Ready once the last exchange has ended (its answer is read to its end before this
            // is asked); an error means the service closed it.
            let ready = tokio::time::timeout(CONNECT_TIMEOUT, sender.ready()).await;
            if matches!(ready, Ok(Ok(()))) {
                return Ok(*id);
            }
        }
        self.open = None;
        let sender = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| {
                AdminServiceError::Unreachable(format!(
                    "{}:{} did not answer within {} s",
                    self.host,
                    self.port,
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        self.opened += 1;
        self.open = Some((self.opened, sender));
        Ok(self.opened)
    }

    async fn connect(&self) -> AdminServiceResult<SendRequest<Full<Bytes>>> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let tcp = tokio::net::TcpStream::connect((host, self.port))
            .await
            .map_err(|error| reached(&error))?;
        tcp.set_nodelay(true).ok();
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|error| reached(&error))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|error| reached(&error))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("AdminService connection ended: {error}");
            }
        });
        Ok(sender)
    }

    /// One request, on the open connection or a new one, its answer read to its end (at most
    /// [`MAX_ANSWER_BYTES`]). A request that never left (the service had closed the connection)
    /// goes once more on a new one; a read, which changes nothing, also when it is unknown
    /// whether it left.
    pub async fn send(
        &mut self,
        method: &Method,
        url: &Url,
        headers: &[(hyper::header::HeaderName, String)],
        body: Option<&[u8]>,
    ) -> AdminServiceResult<Answer> {
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        };
        let build = || -> AdminServiceResult<Request<Full<Bytes>>> {
            let target = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            };
            let mut request = Request::builder()
                .method(method.clone())
                .uri(target)
                .header(hyper::header::HOST, &authority)
                .header(hyper::header::ACCEPT, "application/json");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let body = match body {
                Some(body) => {
                    request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                    Full::new(Bytes::copy_from_slice(body))
                }
                None => Full::new(Bytes::new()),
            };
            request
                .body(body)
                .map_err(|error| AdminServiceError::Invalid(error.to_string()))
        };
        for attempt in 0..2 {
            let before = self.open.as_ref().map(|(id, _)| *id);
            let connection = self.connection().await?;
            let reused = before == Some(connection);
            let (_, sender) = self.open.as_mut().expect("just opened");
            let exchange = async {
                let response = sender.try_send_request(build()?).await;
                match response {
                    Ok(response) => Ok(Some(read(response).await?)),
                    Err(mut error) => {
                        let never_sent = error.take_message().is_some();
                        let retry = attempt == 0 && reused && (never_sent || method == Method::GET);
                        if retry {
                            Ok(None)
                        } else {
                            Err(reached(&error.into_error()))
                        }
                    }
                }
            };
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, exchange).await;
            match outcome {
                Ok(Ok(Some((status, headers, body)))) => {
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                        connection,
                    })
                }
                Ok(Ok(None)) => self.open = None,
                Ok(Err(error)) => {
                    self.open = None;
                    return Err(error);
                }
                Err(_) => {
                    // Dropping the request closes its connection.
                    self.open = None;
                    return Err(AdminServiceError::Unreachable(format!(
                        "no answer within {} s",
                        REQUEST_TIMEOUT.as_secs()
                    )));
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

async fn read(
    response: Response<hyper::body::Incoming>,
) -> AdminServiceResult<(StatusCode, hyper::HeaderMap, Vec<u8>)> {
    let (parts, body) = response.into_parts();
    let collected = Limited::new(body, MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                AdminServiceError::Invalid(format!(
                    "an answer is longer than {MAX_ANSWER_BYTES} bytes"
                ))
            } else {
                AdminServiceError::Unreachable(error.to_string())
            }
        })?;
    Ok((parts.status, parts.headers, collected.to_bytes().to_vec()))
}

/// A transport error, told apart: an untrusted certificate, or no answer.
pub(super) fn reached(error: &(dyn std::error::Error + 'static)) -> AdminServiceError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
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
    AdminServiceError::Unreachable(error_chain(error))
}
