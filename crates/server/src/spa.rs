//! Serves the built SPA (Trunk's `dist/`): files by name, and `index.html` for every other path so
//! that the SPA's routes survive a reload (history-API fallback).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

#[derive(Clone)]
pub struct Spa {
    dist: Arc<PathBuf>,
    files: ServeDir,
}

impl Spa {
    pub fn new(dist: PathBuf) -> Self {
        Self {
            files: ServeDir::new(&dist).append_index_html_on_directories(false),
            dist: Arc::new(dist),
        }
    }
}

pub async fn serve(State(spa): State<Spa>, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let last_segment = request.uri().path().rsplit('/').next().unwrap_or_default();
    if last_segment.contains('.') && last_segment != "index.html" {
        let cache = if is_hashed(last_segment) {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        let mut response = match spa.files.oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        };
        if response.status().is_success() {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
        return response;
    }
    match tokio::fs::read(spa.dist.join("index.html")).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, NO_CACHE),
            ],
            html,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(dist = %spa.dist.display(), %error, "the SPA is not built");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, NO_CACHE)],
                "The admin center's web app is not built. Run scripts/run, or build it with trunk.",
            )
                .into_response()
        }
    }
}

/// Trunk names built assets `name-<16 hex digits>[_bg].ext`: those never change, so they may be
/// cached for good.
fn is_hashed(file_name: &str) -> bool {
    let stem = file_name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn recognises_trunk_hashed_names() {
        assert!(is_hashed("admin-center-0123456789abcdef_bg.wasm"));
        assert!(is_hashed("admin-center-0123456789abcdef.js"));
        assert!(is_hashed("main-fedcba9876543210.css"));
        assert!(!is_hashed("favicon.ico"));
        assert!(!is_hashed("admin-center.js"));
        assert!(!is_hashed("report-2026.csv"));
    }
}
