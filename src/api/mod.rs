//! Typed fetch wrappers over the admin API: one generic request helper, one module per resource.

pub mod actions;
pub mod audit;
pub mod connectors;
pub mod devices;
pub mod query;
pub mod roles;
pub mod session;
pub mod site_requests;

use std::cell::RefCell;

use admin_api::identity::CSRF_HEADER;
use admin_api::{ErrorBody, ErrorCode, REQUEST_ID_HEADER};
use serde::de::DeserializeOwned;
use web_sys::RequestCredentials;

pub use admin_api::API_BASE;

/// Everything a call to the API can end in besides its answer. `Clone`, so views can keep it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with the contract's error body.
    #[error("{message}")]
    Server {
        status: u16,
        code: ErrorCode,
        message: String,
        target: Option<String>,
        request_id: String,
    },
    /// The server answered with an error status but no error body we can read.
    #[error("The server answered with status {status}.")]
    Status {
        status: u16,
        request_id: Option<String>,
    },
    /// No answer: the server is unreachable, or the connection dropped.
    #[error(
        "The admin center's server could not be reached. Check your connection and try again."
    )]
    Network(String),
    /// A success status with a body that is not what this build expects.
    #[error("The server's answer could not be read ({0}).")]
    Decode(String),
    /// The request was called off, e.g. because its page closed.
    #[error("The request was canceled.")]
    Aborted,
}

impl ApiError {
    /// The error for a non-2xx answer with this status, `request-id` header and body text.
    pub fn from_response(status: u16, request_id: Option<String>, body: &str) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(ErrorBody { error }) => Self::Server {
                status,
                code: error.code,
                message: error.message,
                target: error.target,
                request_id: error.request_id,
            },
            Err(_) => Self::Status { status, request_id },
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } | Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The request id to quote to support, when the server gave one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Server { request_id, .. } => Some(request_id.as_str()),
            Self::Status { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
        .filter(|id| !id.is_empty())
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_unauthenticated(&self) -> bool {
        self.status() == Some(401)
    }
}

thread_local! {
    static ON_UNAUTHENTICATED: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// What to do when any call answers 401 (the session ended): the app sends the user to sign in
/// and back to where they were.
pub fn on_unauthenticated(handler: impl Fn() + 'static) {
    ON_UNAUTHENTICATED.with(|slot| *slot.borrow_mut() = Some(Box::new(handler)));
}

fn unauthenticated() {
    ON_UNAUTHENTICATED.with(|slot| {
        if let Some(handler) = slot.borrow().as_ref() {
            handler();
        }
    });
}

/// GETs `url` and decodes its JSON answer. The request is aborted when the reactive scope that
/// started it is cleaned up (the page closed, or a newer request replaced it).
///
/// Only the decoding is generic: the request itself is one function for every answer type, so the
/// bundle carries one copy of it (see docs/performance.md).
pub async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    parse(&get_text(url).await?)
}

async fn get_text(url: &str) -> Result<String, ApiError> {
    let controller = web_sys::AbortController::new().ok();
    let signal = controller.as_ref().map(|c| c.signal());
    let controller = send_wrapper::SendWrapper::new(controller);
    leptos::prelude::on_cleanup(move || {
        if let Some(controller) = controller.take() {
            controller.abort();
        }
    });
    let request = gloo_net::http::Request::get(url)
        .header("accept", "application/json")
        .credentials(RequestCredentials::Include)
        .abort_signal(signal.as_ref())
        .build()
        .map_err(network_error)?;
    answer_text(request).await
}

/// POSTs `body` as JSON (with extra headers) and decodes the JSON answer.
pub async fn post<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
    headers: &[(&str, &str)],
) -> Result<T, ApiError> {
    send_json(gloo_net::http::Method::POST, url, body, headers).await
}

/// Sends `body` as JSON with `method` (with extra headers) and decodes the JSON answer.
pub async fn send_json<B: serde::Serialize, T: DeserializeOwned>(
    method: gloo_net::http::Method,
    url: &str,
    body: &B,
    headers: &[(&str, &str)],
) -> Result<T, ApiError> {
    let body = serde_json::to_string(body).map_err(|e| ApiError::Decode(e.to_string()))?;
    parse(&send_text(method, url, body, headers).await?)
}

async fn send_text(
    method: gloo_net::http::Method,
    url: &str,
    body: String,
    headers: &[(&str, &str)],
) -> Result<String, ApiError> {
    let mut request = changing(method, url).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    answer_text(request.body(body).map_err(network_error)?).await
}

/// Sends a request without a body (DELETE, or a POST that takes none) and decodes the answer.
pub async fn send_empty<T: DeserializeOwned>(
    method: gloo_net::http::Method,
    url: &str,
) -> Result<T, ApiError> {
    parse(&answer_text(changing(method, url).build().map_err(network_error)?).await?)
}

/// A request that changes something: it carries the same-origin proof the server asks for.
fn changing(method: gloo_net::http::Method, url: &str) -> gloo_net::http::RequestBuilder {
    gloo_net::http::RequestBuilder::new(url)
        .method(method)
        .header("accept", "application/json")
        .header(CSRF_HEADER, "1")
        .credentials(RequestCredentials::Include)
}

/// Sends a request without a body whose answer may have one: `None` for a 204.
pub async fn send_maybe_content<T: DeserializeOwned>(
    method: gloo_net::http::Method,
    url: &str,
) -> Result<Option<T>, ApiError> {
    let response = changing(method, url).send().await.map_err(network_error)?;
    if !response.ok() {
        return Err(error_of(response).await);
    }
    if response.status() == 204 {
        return Ok(None);
    }
    let body = response.text().await.map_err(network_error)?;
    parse(&body).map(Some)
}

/// Sends a built request: the body of a success, or the one `ApiError` any other outcome is.
async fn answer_text(request: gloo_net::http::Request) -> Result<String, ApiError> {
    let response = request.send().await.map_err(network_error)?;
    if !response.ok() {
        return Err(error_of(response).await);
    }
    response.text().await.map_err(network_error)
}

fn parse<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| ApiError::Decode(e.to_string()))
}

/// The error a non-2xx answer stands for; a 401 also starts the way back to sign-in.
async fn error_of(response: gloo_net::http::Response) -> ApiError {
    let body = response.text().await.unwrap_or_default();
    let request_id = response.headers().get(REQUEST_ID_HEADER);
    let error = ApiError::from_response(response.status(), request_id, &body);
    if error.is_unauthenticated() {
        unauthenticated();
    }
    error
}

fn network_error(error: gloo_net::Error) -> ApiError {
    match &error {
        gloo_net::Error::JsError(js) if js.name == "AbortError" => ApiError::Aborted,
        _ => ApiError::Network(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_contract_error_body() {
        let error = ApiError::from_response(
            400,
            Some("header-id".into()),
            r#"{"error":{"code":"badRequest","message":"'$top' must be a whole number.","target":"$top","requestId":"r-9"}}"#,
        );
        assert_eq!(
            error,
            ApiError::Server {
                status: 400,
                code: ErrorCode::BadRequest,
                message: "'$top' must be a whole number.".into(),
                target: Some("$top".into()),
                request_id: "r-9".into(),
            }
        );
        assert_eq!(error.to_string(), "'$top' must be a whole number.");
        assert_eq!(error.request_id(), Some("r-9"));
    }

    #[test]
    fn an_error_without_a_body_keeps_its_status_and_request_id() {
        let error = ApiError::from_response(502, Some("gw-1".into()), "<html>Bad gateway</html>");
        assert_eq!(error.status(), Some(502));
        assert_eq!(error.request_id(), Some("gw-1"));
        assert_eq!(ApiError::from_response(404, None, "").request_id(), None);
        assert!(ApiError::from_response(404, None, "").is_not_found());
    }
}
