//! Cross-site request forgery: a mutating admin API request must carry the admin center's own
//! header (a cross-site page cannot add it without a CORS preflight, which this server does not
//! grant) and, when the browser names its origin, come from this server's origin or one it was
//! told to allow.

use admin_api::identity::CSRF_HEADER;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || is_same_origin(request.headers(), &state.config.cors_allow_origin) {
        return next.run(request).await;
    }
    AppError::Forbidden(format!(
        "The request was refused: changes are accepted only from the admin center's own pages \
         (the '{CSRF_HEADER}' header, from this site's origin)."
    ))
    .into_response()
}

fn is_same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    if !headers.contains_key(CSRF_HEADER) {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Browsers send Origin on every cross-origin request and on same-origin ones that
        // change something; scripts and tools that send no Origin are not browsers.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let own = host.is_some_and(|host| {
        ["http", "https"]
            .iter()
            .any(|scheme| origin == format!("{scheme}://{host}"))
    });
    own || allowed
        .iter()
        .any(|allowed| allowed != "*" && allowed == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn needs_the_header_and_a_matching_origin() {
        let host = ("host", "admin.example:8080");
        assert!(!is_same_origin(&headers(&[host]), &[]));
        assert!(is_same_origin(&headers(&[host, (CSRF_HEADER, "1")]), &[]));
        assert!(is_same_origin(
            &headers(&[
                host,
                (CSRF_HEADER, "1"),
                ("origin", "http://admin.example:8080")
            ]),
            &[]
        ));
        assert!(!is_same_origin(
            &headers(&[host, (CSRF_HEADER, "1"), ("origin", "http://evil.example")]),
            &[]
        ));
        assert!(is_same_origin(
            &headers(&[host, (CSRF_HEADER, "1"), ("origin", "http://tests.local:9")]),
            &["http://tests.local:9".into()]
        ));
        assert!(!is_same_origin(
            &headers(&[host, (CSRF_HEADER, "1"), ("origin", "http://evil.example")]),
            &["*".into()]
        ));
    }
}
