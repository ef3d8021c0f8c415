//! The admin API under `/api/v1`: each resource module brings its own router, merged here.

pub mod actions;
pub mod audit;
pub mod connectors;
pub mod devices;
pub mod events;
pub mod openapi;
pub mod roles;
pub mod session;

use admin_api::ErrorCode;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::{error_response, AppError};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(devices::router())
        .merge(actions::router())
        .merge(connectors::router())
        .merge(events::router())
        .merge(session::router())
        .merge(roles::router())
        .merge(audit::router())
        .merge(openapi::router())
        .fallback(unknown_route)
}

pub async fn unknown_route(request: Request) -> AppError {
    AppError::NotFound(format!(
        "There is no API resource at '{}'.",
        request.uri().path()
    ))
}

/// Whatever answered an API request with an error that is not already the contract's error body
/// (axum's own rejections, a method that a route does not take, the body limit), answers with one.
pub async fn contract_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status.as_u16() {
        405 => (
            ErrorCode::MethodNotAllowed,
            format!("This resource does not take {method}."),
        ),
        413 => (
            ErrorCode::PayloadTooLarge,
            "The request body is larger than this server accepts.".to_owned(),
        ),
        415 => (
            ErrorCode::UnsupportedMediaType,
            "Send the request body as application/json.".to_owned(),
        ),
        404 => (
            ErrorCode::NotFound,
            "The requested resource does not exist.".to_owned(),
        ),
        400..=499 => (
            ErrorCode::BadRequest,
            "The request is not valid.".to_owned(),
        ),
        _ => (
            ErrorCode::InternalError,
            "The server could not complete the request. Quote the request id when reporting this."
                .to_owned(),
        ),
    };
    let mut replaced = error_response(code, message, None);
    *replaced.status_mut() = status;
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name.clone(), value.clone());
        }
    }
    replaced.into_response()
}
