//! Serves the built SPA (Trunk's `dist/`): files by name, and `index.html` for every other path so
//! that the SPA's routes survive a reload (history-API fallback).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::Digest;
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
    if last_segment.starts_with(BOOT_PREFIX) && last_segment.ends_with(".js") {
        return serve_boot_script(&spa, last_segment).await;
    }
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
    match read_page(&spa).await {
        Ok(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, NO_CACHE),
            ],
            page.html,
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

const BOOT_PREFIX: &str = "boot-";
const INLINE_MODULE: &str = "<script type=\"module\">";

/// `index.html` as served: Trunk writes its wasm loader as an inline module script, and the
/// Content-Security-Policy allows no inline script, so the loader moves to a file of its own,
/// named by its content's hash.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    html: String,
    /// The boot script's file name and text, when the page had an inline module.
    boot: Option<(String, String)>,
}

async fn read_page(spa: &Spa) -> std::io::Result<Page> {
    let html = tokio::fs::read_to_string(spa.dist.join("index.html")).await?;
    Ok(externalize_boot_script(&html))
}

fn externalize_boot_script(html: &str) -> Page {
    let Some(start) = html.find(INLINE_MODULE) else {
        return Page {
            html: html.to_owned(),
            boot: None,
        };
    };
    let body_start = start + INLINE_MODULE.len();
    let Some(length) = html[body_start..].find("</script>") else {
        return Page {
            html: html.to_owned(),
            boot: None,
        };
    };
    let script = html[body_start..body_start + length].trim().to_owned();
    let digest = sha2::Sha256::digest(script.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{BOOT_PREFIX}{hex}.js");
    let html = format!(
        "{}<script type=\"module\" src=\"/{name}\"></script>{}",
        &html[..start],
        &html[body_start + length + "</script>".len()..]
    );
    Page {
        html,
        boot: Some((name, script)),
    }
}

async fn serve_boot_script(spa: &Spa, name: &str) -> Response {
    match read_page(spa).await {
        Ok(Page {
            boot: Some((boot_name, script)),
            ..
        }) if boot_name == name => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, IMMUTABLE),
            ],
            script,
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, NO_CACHE)]).into_response(),
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
    use super::{externalize_boot_script, is_hashed};

    #[test]
    fn the_inline_loader_becomes_a_hashed_file() {
        let html = "<head><script type=\"module\">\nimport init from '/app-0123456789abcdef.js';\nawait init();\n</script><link rel=\"modulepreload\"></head>";
        let page = externalize_boot_script(html);
        let (name, script) = page.boot.expect("a boot script");
        assert!(is_hashed(&name), "{name}");
        assert_eq!(
            script,
            "import init from '/app-0123456789abcdef.js';\nawait init();"
        );
        assert_eq!(
            page.html,
            format!("<head><script type=\"module\" src=\"/{name}\"></script><link rel=\"modulepreload\"></head>")
        );
        assert!(!page.html.contains("import init"));
        let plain = "<!DOCTYPE html><title>t</title>";
        assert_eq!(externalize_boot_script(plain).html, plain);
    }

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
