//! The cloud-service stand-in for Configuration Manager tenant attach.

pub mod config;
pub mod demo;
pub mod error;
pub mod protocol;
pub mod query;
pub mod request_id;
pub mod routes;
pub mod secrets;
pub mod spa;
pub mod state;
pub mod store;
pub mod sweeper;

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
    let api = Router::new()
        .nest("/api/v1", routes::router())
        .nest(admin_api::protocol::CONNECTOR_API_BASE, protocol::router())
        .with_state(state);
    let spa = Router::new()
        .fallback(spa::serve)
        .with_state(spa::Spa::new(config.dist.clone()));
    outer_layers(with_middleware(api, config).merge(spa), config)
}

/// What every API router gets: unknown `/api` paths answered, every error as the contract's body,
/// the body limit. Public so tests can put routes of their own behind the same stack.
pub fn with_middleware(api: Router, config: &Config) -> Router {
    api.route("/api", any(routes::unknown_route))
        .route("/api/{*rest}", any(routes::unknown_route))
        .layer(from_fn(routes::contract_errors))
        .layer(DefaultBodyLimit::max(config.body_limit))
}

/// Request ids and logs, panics turned into error bodies, compression and CORS, for everything.
pub fn outer_layers(router: Router, config: &Config) -> Router {
    let mut app = router
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(AppError::Internal(
                "a handler panicked".into(),
            ))
        }))
        .layer(from_fn(request_id::middleware))
        .layer(CompressionLayer::new());
    if let Some(cors) = cors_layer(&config.cors_allow_origin) {
        app = app.layer(cors);
    }
    app
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods(tower_http::cors::Any)
            .allow_headers(tower_http::cors::Any)
            .expose_headers([axum::http::HeaderName::from_static(
                admin_api::REQUEST_ID_HEADER,
            )]),
    )
}

/// A server bound and running in the background.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
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
        let store = Store::connect(&config.database_url).await?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let state = AppState::new(store, config.clone(), token.clone());
        let app = app(state.clone(), config);
        let stopping = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopping.cancel();
        });
        let serving = token.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(serving.cancelled_owned())
                .await
        });
        let mut background = vec![tokio::spawn(sweeper::run(state.clone()))];
        if config.demo {
            background.push(tokio::spawn(demo::run(
                state.clone(),
                format!("http://{addr}"),
            )));
        }
        Ok(Self {
            addr,
            state,
            task,
            background,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
