//! Bounds on connections, so that no client holds the server's sockets for free: at most
//! `--max-connections` open at once (the ones over it answered 503 and closed), a request's
//! headers within `--header-read-timeout` of its first byte, a connection with no request under
//! way closed after `--keep-alive-timeout`, and (in `lib.rs`, per request) a body that stops
//! arriving for `--body-read-timeout` refused.
//!
//! A connection is idle from its start and from the end of each response until the next request's
//! headers have arrived; only then do its clocks run. A request under way (an event stream, a
//! site's long poll, an export) is bounded by its own rules, not by these.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use axum_server::accept::Accept;
use futures_util::future::BoxFuture;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The connection bounds of one server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
}

/// An acceptor that bounds connections and their idle time around another (plain TCP, or TLS).
#[derive(Clone)]
pub struct Bounded<A> {
    inner: A,
    limits: Limits,
    permits: Arc<Semaphore>,
    /// Whether the connection speaks plain HTTP before `inner` (a refusal can then say why).
    plain: bool,
    refused: Arc<AtomicU64>,
    /// Refusals being answered: past these, a connection over the bound is closed unanswered.
    answering: Arc<Semaphore>,
}

/// Refusals answered at once, at most.
const ANSWERING: usize = 64;

impl<A> Bounded<A> {
    pub fn new(inner: A, limits: Limits, plain: bool) -> Self {
        Self {
            inner,
            limits,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            plain,
            refused: Arc::default(),
            answering: Arc::new(Semaphore::new(ANSWERING)),
        }
    }
}

/// The answer to a connection over the bound, in the contract's error body.
fn over_the_bound() -> Vec<u8> {
    let body = serde_json::to_string(&admin_api::ErrorBody {
        error: admin_api::ErrorDetail {
            code: admin_api::ErrorCode::ServiceUnavailable,
            message: "The server has as many connections open as it allows. Try again shortly."
                .into(),
            target: None,
            // No request was read; the id still names this answer in a report.
            request_id: uuid::Uuid::new_v4().to_string(),
        },
    })
    .expect("an error body serializes");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// How long a refused connection is given to take its answer.
const REFUSAL_WITHIN: Duration = Duration::from_secs(2);

async fn refuse(mut stream: TcpStream) {
    let answer = over_the_bound();
    let _ = tokio::time::timeout(REFUSAL_WITHIN, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // What the client sent is read and dropped before the socket closes: closing with it
        // unread would reset the connection, and the client might never see the answer.
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            let read = stream.read(&mut sink).await?;
            if read == 0 {
                break;
            }
            left = left.saturating_sub(read);
        }
        io::Result::Ok(())
    })
    .await;
}

impl<S, A> Accept<TcpStream, S> for Bounded<A>
where
    A: Accept<TcpStream, S> + Clone + Send + Sync + 'static,
    A::Future: Send,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send,
    A::Service: Send,
    S: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = Tracked<A::Service>;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let acceptor = self.clone();
        Box::pin(async move {
            let Ok(permit) = acceptor.permits.clone().try_acquire_owned() else {
                let refused = acceptor.refused.fetch_add(1, Ordering::Relaxed) + 1;
                // The first, then one in a thousand: a flood of them must not flood the log.
                if refused % 1000 == 1 {
                    tracing::warn!(
                        max_connections = acceptor.limits.max_connections,
                        refused_so_far = refused,
                        "a connection over the bound was refused"
                    );
                }
                if acceptor.plain {
                    if let Ok(_answering) = acceptor.answering.try_acquire() {
                        refuse(stream).await;
                    }
                }
                return Err(io::Error::other("over the connection bound"));
            };
            let (stream, service) = acceptor.inner.accept(stream, service).await?;
            let activity = Arc::new(Activity::new());
            Ok((
                Guarded {
                    inner: stream,
                    activity: activity.clone(),
                    limits: acceptor.limits,
                    deadline: Box::pin(tokio::time::sleep(acceptor.limits.keep_alive_timeout)),
                    requests_seen: 0,
                    first_byte: None,
                    _permit: permit,
                },
                Tracked {
                    inner: service,
                    activity,
                },
            ))
        })
    }
}

/// What a connection is doing: how many of its requests are under way, and since when it has had
/// none.
struct Activity {
    in_flight: AtomicUsize,
    started: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
}

/// A request under way on its connection, until its response has been sent (or given up).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut idle_since = self.0.idle_since.lock().expect("never poisoned");
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *idle_since = Instant::now();
        }
    }
}

pin_project! {
    /// A connection's stream that ends when the connection idles too long or a request's headers
    /// take too long to arrive.
    pub struct Guarded<S> {
        #[pin]
        inner: S,
        activity: Arc<Activity>,
        limits: Limits,
        deadline: Pin<Box<Sleep>>,
        requests_seen: usize,
        first_byte: Option<Instant>,
        _permit: OwnedSemaphorePermit,
    }
}

impl<S: AsyncRead> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let started = this.activity.started.load(Ordering::Acquire);
        if started != *this.requests_seen {
            // A request's headers arrived since: the next one's clock starts afresh.
            *this.requests_seen = started;
            *this.first_byte = None;
        }
        let busy = this.activity.in_flight.load(Ordering::Acquire) > 0;
        let before = buf.filled().len();
        if let Poll::Ready(result) = this.inner.poll_read(cx, buf) {
            if !busy && this.first_byte.is_none() && buf.filled().len() > before {
                *this.first_byte = Some(Instant::now());
            }
            return Poll::Ready(result);
        }
        if busy {
            return Poll::Pending;
        }
        let (deadline, idle) = match *this.first_byte {
            Some(first) => (first + this.limits.header_read_timeout, false),
            None => (
                *this.activity.idle_since.lock().expect("never poisoned")
                    + this.limits.keep_alive_timeout,
                true,
            ),
        };
        if this.deadline.deadline() != deadline {
            this.deadline.as_mut().reset(deadline);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            // An idle connection ends as if its client had closed it; one whose headers never
            // came, with an error.
            Poll::Ready(()) if idle => Poll::Ready(Ok(())),
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request's headers did not arrive in time",
            ))),
        }
    }
}

impl<S: AsyncWrite> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A connection's service: each request marks the connection busy until its response is sent.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, B> tower::Service<Request<B>> for Tracked<S>
where
    S: tower::Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let busy = self.activity.begin();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                Body::new(BusyBody {
                    inner: body,
                    _busy: busy,
                })
            }))
        })
    }
}

pin_project! {
    /// A response body that keeps its connection busy until it has been sent.
    struct BusyBody {
        #[pin]
        inner: Body,
        _busy: Busy,
    }
}

impl HttpBody for BusyBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Raises the process's open-file limit to what it may be (`--max-connections` counts sockets
/// against it), and says how many connections that leaves room for.
#[cfg(unix)]
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // rlim_t is u64 here, not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}

/// The caller's network address (the connection's peer, or the client a trusted proxy names), for
/// throttling sign-in and onboarding per address, the access log and the audit log.
pub struct ClientAddress(pub String);

/// The client's address as [`crate::request_id::middleware`] resolved it (`--trusted-proxy`).
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAddress(pub std::net::IpAddr);

impl ClientAddress {
    /// The address of the client a request came from, from its extensions.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        if let Some(ResolvedAddress(address)) = extensions.get::<ResolvedAddress>() {
            return Self(address.to_string());
        }
        Self(
            extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string()),
        )
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}
