//! One error type for every handler, answering with the contract's error body.

use admin_api::{ErrorBody, ErrorCode, ErrorDetail};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::request_id;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest {
        message: String,
        target: Option<String>,
    },
    #[error("{message}")]
    NotSupported {
        message: String,
        target: Option<String>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
        /// Which limit refused, for the log (the client reads the message).
        limit: &'static str,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store could not answer (busy, or failed): its own error, whatever its backend.
    #[error("{0}")]
    Store(crate::store::error::StoreError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            target: Some(target.into()),
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::NotSupported { .. } => ErrorCode::NotSupported,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Store(error) if error.is_busy() => ErrorCode::ServiceUnavailable,
            Self::Store(_) | Self::Internal(_) => ErrorCode::InternalError,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.code();
        if let Self::TooManyRequests {
            message,
            retry_after,
            limit,
        } = &self
        {
            // Whole seconds, rounded up: a client that waits this long gets through.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = error_response(code, message.clone(), None);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            response
                .extensions_mut()
                .insert(crate::refusals::RefusedBy(limit));
            return response;
        }
        if matches!(&self, Self::Store(error) if error.is_busy()) {
            tracing::warn!("a request waited too long for the database writer");
            let mut response = error_response(
                code,
                "The server is busy writing a large upload. Try again in a few seconds.".into(),
                None,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_SECONDS));
            return response;
        }
        let (message, target) = match self {
            Self::BadRequest { message, target } | Self::NotSupported { message, target } => {
                (message, target)
            }
            Self::Store(_) | Self::Internal(_) => {
                // The detail goes to the log under the request id, not to the caller.
                tracing::error!(error = %self, "internal error");
                (
                    "The server could not complete the request. Quote the request id when reporting this."
                        .to_owned(),
                    None,
                )
            }
            other => (other.to_string(), None),
        };
        error_response(code, message, target)
    }
}

/// How long a client is asked to wait when the database writer is busy.
const BUSY_RETRY_SECONDS: u64 = 5;

/// The contract's error body for `code`, stamped with the current request id.
pub fn error_response(code: ErrorCode, message: String, target: Option<String>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            target,
            request_id: request_id::current(),
        },
    };
    let json = serde_json::to_vec(&body).expect("an error body always serializes");
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

pub type AppResult<T> = Result<T, AppError>;

/// The store's refusals and failures in the contract's terms, at the edge.
impl From<crate::query::QueryError> for AppError {
    fn from(refused: crate::query::QueryError) -> Self {
        Self::bad_request(refused.option, refused.message)
    }
}

impl From<crate::store::error::StoreError> for AppError {
    fn from(error: crate::store::error::StoreError) -> Self {
        use crate::store::error::StoreError;
        match error {
            StoreError::Invalid { target, message } => Self::BadRequest {
                message,
                target: Some(target),
            },
            StoreError::NotFound(message) => Self::NotFound(message),
            StoreError::Conflict(message) => Self::Conflict(message),
            StoreError::Refused(message) => Self::Forbidden(message),
            StoreError::Unrecognized(message) => Self::Unauthenticated(message),
            StoreError::Bounded(message) => Self::TooManyRequests {
                message,
                retry_after: std::time::Duration::from_secs(5),
                limit: "siteRequests",
            },
            StoreError::Internal(message) => Self::Internal(message),
            failed @ (StoreError::Unavailable
            | StoreError::Database(_)
            | StoreError::PageRead(_)) => Self::Store(failed),
        }
    }
}

/// `Json` whose rejection (malformed JSON, unknown fields, a wrong content type, a body over the
/// limit) is the contract's error body with a message that says what is wrong.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

/// Whether a body could not be read because it stopped arriving (`--body-read-timeout`).
fn body_stopped(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType(
                "Send the request body as JSON, with 'Content-Type: application/json'.".into(),
            ),
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Self::PayloadTooLarge("The request body is larger than this server accepts.".into())
            }
            JsonRejection::BytesRejection(ref bytes) if body_stopped(bytes) => Self::BadRequest {
                message: "The request body stopped arriving before its end; send it again.".into(),
                target: None,
            },
            JsonRejection::JsonDataError(error) => Self::BadRequest {
                // serde's own words name the field and what was expected of it.
                message: format!("The request body does not fit: {}", error.body_text()),
                target: None,
            },
            JsonRejection::JsonSyntaxError(error) => Self::BadRequest {
                message: format!("The request body is not valid JSON: {}", error.body_text()),
                target: None,
            },
            other => Self::BadRequest {
                message: other.body_text(),
                target: None,
            },
        }
    }
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
