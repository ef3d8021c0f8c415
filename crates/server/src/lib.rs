//! The cloud-service stand-in for Configuration Manager tenant attach.

pub mod auth;
pub mod config;
pub mod connections;
pub mod demo;
pub mod domain;
pub mod error;
pub mod limits;
pub mod live;
pub mod oidc;
pub mod protocol;
pub mod query;
pub mod refusals;
pub mod request_id;
pub mod routes;
pub mod secrets;
pub mod spa;
pub mod state;
pub mod store;
pub mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timestamps;
pub mod turns;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::middleware::from_fn;
use axum::routing::any;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::Config;
use error::AppError;
use store::Store;

pub use state::AppState;

/// The whole HTTP surface: `/api/v1` and the SPA with its history-API fallback.
pub fn app(state: AppState, config: &Config) -> Router {
    let admin = routes::router().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::csrf::protect,
    ));
    let api = Router::new()
        .nest("/api/v1", admin)
        .merge(routes::oidc::backchannel_router())
        .nest(admin_api::protocol::CONNECTOR_API_BASE, protocol::router())
        .route("/healthz", axum::routing::get(healthz))
        .with_state(state);
    let spa = Router::new()
        .fallback(spa::serve)
        .with_state(spa::Spa::new(config.dist.clone()));
    outer_layers(with_middleware(api, config).merge(spa), config)
}

/// For load balancers: 200 while this instance is up and reaches its database, else 503.
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.store.ping().await {
        Ok(()) => (axum::http::StatusCode::OK, "ok").into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: the database does not answer");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
                .into_response()
        }
    }
}

/// What every API router gets: unknown `/api` paths answered, every error as the contract's body,
/// the body limit, its own compression. Public so tests can put routes of their own behind the
/// same stack.
pub fn with_middleware(api: Router, config: &Config) -> Router {
    api.route("/api", any(error::unknown_route))
        .route("/api/{*rest}", any(error::unknown_route))
        .layer(from_fn(error::contract_errors))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(api_compression())
}

/// API bodies are made anew for every request, so they are compressed for speed: gzip at its
/// fastest level, never brotli. A browser accepts both and would otherwise get brotli at quality
/// 4, which cost a page of 50 devices (55 kB) 0.53 ms of CPU against gzip's 0.13 ms, about as
/// much as everything else the page cost together, for 6.7 kB on the wire instead of 9.6 kB
/// (docs/performance.md). The SPA's files keep brotli (`outer_layers`), which skips what this
/// layer compressed.
fn api_compression() -> CompressionLayer {
    CompressionLayer::new()
        .no_br()
        .quality(tower_http::CompressionLevel::Fastest)
}

/// The security headers on every response. The SPA runs under this policy: its scripts and
/// styles are files from this origin (the boot script too, see `spa.rs`), and WebAssembly
/// compiles under 'wasm-unsafe-eval' without allowing eval.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn security_headers(router: Router) -> Router {
    use axum::http::header;
    use tower_http::set_header::SetResponseHeaderLayer;
    let headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            axum::http::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    headers.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

/// Request ids and logs, panics turned into error bodies, compression, CORS and the security
/// headers, for everything.
pub fn outer_layers(router: Router, config: &Config) -> Router {
    let mut app = security_headers(router)
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(AppError::Internal(
                "a handler panicked".into(),
            ))
        }))
        .layer(axum::middleware::from_fn_with_state(
            request_id::Sources {
                refusals: refusals::RefusalLog::start(config.refusal_log_window),
                trusted_proxies: config.trusted_proxy.iter().map(|p| p.0).collect(),
            },
            request_id::middleware,
        ))
        .layer(CompressionLayer::new())
        // A body that stops arriving is refused; one that keeps coming, however slowly, is not.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            config.body_read_timeout,
        ));
    if let Some(cors) = cors_layer(&config.cors_allow_origin) {
        app = app.layer(cors);
    }
    app
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let exposed = [axum::http::HeaderName::from_static(
        admin_api::REQUEST_ID_HEADER,
    )];
    if origins.iter().any(|o| o == "*") {
        // Any origin may read, but never with the user's cookie.
        return Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any)
                .expose_headers(exposed),
        );
    }
    // Origins named one by one may send the session cookie (and pass the CSRF check).
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(
                origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
            ))
            .allow_credentials(true)
            .allow_methods(tower_http::cors::AllowMethods::mirror_request())
            .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
            .expose_headers(exposed),
    )
}

/// A panic is one log line (where and what), not a backtrace per request: the catch-panic layer
/// answers the request with a 500 and its request id. Installed by the binary.
pub fn log_panics_in_one_line() {
    std::panic::set_hook(Box::new(|panic| {
        let location = panic
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()))
            .unwrap_or_default();
        let message = panic
            .payload()
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(%location, message = %message.replace('\n', " "), "a task panicked");
    }));
}

/// A server bound and running in the background.
pub struct Server {
    pub addr: SocketAddr,
    /// `http`, or `https` when the server serves TLS itself.
    pub scheme: &'static str,
    pub state: AppState,
    /// Demo accounts made on this start (demo mode), with their passwords to print once.
    pub demo_users: Vec<demo::DemoUser>,
    task: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Opens the store, binds, and serves until `shutdown` completes: the admin API, the
    /// connector protocol, the SPA, the sweeper, and in demo mode the simulated sites.
    pub async fn start(
        config: &Config,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Self> {
        Self::start_with(config, shutdown, |app| app).await
    }

    /// As [`Server::start`], with the whole app passed through `wrap` first: for a layer of a
    /// test's own around everything (e.g. one that records what the API answers).
    pub async fn start_with(
        config: &Config,
        shutdown: impl Future<Output = ()> + Send + 'static,
        wrap: impl FnOnce(Router) -> Router,
    ) -> anyhow::Result<Self> {
        let oidc = oidc::OidcSettings::from_config(
            config,
            std::env::var("ADMIN_OIDC_CLIENT_SECRET").ok(),
        )?
        .map(oidc::Oidc::new)
        .transpose()?
        .map(std::sync::Arc::new);
        let demo_sites = config.demo.then(|| demo::sites_file(config)).transpose()?;
        let store = Store::connect(&config.database_url).await?;
        let demo_users = if config.demo {
            demo::create_users(&store, config.demo_password.as_deref()).await?
        } else {
            Vec::new()
        };
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|error| {
                        anyhow::anyhow!(
                            "the TLS certificate {} or key {} cannot be used: {error}",
                            cert.display(),
                            key.display()
                        )
                    })?,
            ),
            _ => None,
        };
        let mut config = config.clone();
        // Cookies sent only over HTTPS once the server speaks nothing else.
        config.secure_cookies |= tls.is_some();
        let token = CancellationToken::new();
        let mut state = AppState::new(store, config.clone(), token.clone());
        state.oidc = oidc.clone();
        if let Some(oidc) = oidc {
            // Asked now so that the log says at once whether the provider answers; a provider
            // that does not is asked again when someone signs in.
            tokio::spawn(async move {
                match oidc.metadata().await {
                    Ok(_) => {
                        tracing::info!(issuer = %oidc.settings.issuer.as_str(), "the sign-in provider answered")
                    }
                    Err(error) => tracing::warn!(%error, "asked again when someone signs in"),
                }
            });
        }
        let app = wrap(app(state.clone(), &config));
        let stopping = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopping.cancel();
        });
        let serving = token.clone();
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let limits = connections::Limits {
            max_connections: config.max_connections as usize,
            header_read_timeout: config.header_read_timeout,
            keep_alive_timeout: config.keep_alive_timeout,
        };
        let handle = axum_server::Handle::new();
        let stop = handle.clone();
        tokio::spawn(async move {
            serving.cancelled().await;
            stop.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        });
        let server = axum_server::from_tcp(listener.into_std()?)?.handle(handle);
        let task = match tls.clone() {
            None => tokio::spawn(
                server
                    .acceptor(connections::Bounded::new(
                        axum_server::accept::DefaultAcceptor,
                        limits,
                        true,
                    ))
                    .serve(service),
            ),
            Some(tls) => tokio::spawn(
                server
                    .acceptor(connections::Bounded::new(
                        axum_server::tls_rustls::RustlsAcceptor::new(tls),
                        limits,
                        false,
                    ))
                    .serve(service),
            ),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut background = vec![
            tokio::spawn(sweeper::run(state.clone())),
            tokio::spawn(sweeper::delete_leftovers(state.clone())),
            tokio::spawn(state.live.clone().run_relays(state.shutdown.clone())),
        ];
        if let Some(file) = demo_sites {
            background.push(tokio::spawn(demo::run(
                state.clone(),
                format!("{scheme}://{addr}"),
                file,
            )));
        }
        Ok(Self {
            addr,
            scheme,
            demo_users,
            state,
            task,
            background,
        })
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Waits for the server to finish (after its shutdown signal), then closes the store.
    pub async fn finished(self) -> anyhow::Result<()> {
        self.task.await??;
        for task in self.background {
            task.await?;
        }
        self.state.store.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_logged_in_one_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let previous = std::panic::take_hook();
        tracing::subscriber::with_default(subscriber, || {
            super::log_panics_in_one_line();
            let outcome = std::panic::catch_unwind(|| panic!("first line\nsecond line"));
            assert!(outcome.is_err());
        });
        std::panic::set_hook(previous);
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.contains("a task panicked"), "{log}");
        assert!(log.contains("first line second line"), "{log}");
        assert!(log.contains("lib.rs:"), "the place: {log}");
    }
}
