//! Every answer the API tests receive, checked against the OpenAPI document: the status is one
//! the operation documents, and a JSON body matches the schema documented for that status. A
//! layer of the tests' own records each exchange at the edge of the server (what the wire
//! carries); [`TestApp::shut_down`](crate::TestApp::shut_down) checks them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use serde_json::Value;

/// One request's method and path, and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    method: String,
    path: String,
    status: u16,
    /// The body, when it was uncompressed JSON.
    json: Option<Vec<u8>>,
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Exchange>>>);

impl Recorder {
    /// A wrapper for [`admin_server::Server::start_with`] that records every exchange.
    pub fn wrap(&self) -> impl FnOnce(Router) -> Router {
        let recorder = self.clone();
        move |app| {
            app.layer(axum::middleware::from_fn(
                move |request: Request, next: Next| {
                    let recorder = recorder.clone();
                    async move { recorder.record(request, next).await }
                },
            ))
        }
    }

    async fn record(&self, request: Request, next: Next) -> Response {
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
            && !response.headers().contains_key(header::CONTENT_ENCODING);
        if !json {
            self.push(Exchange {
                method,
                path,
                status,
                json: None,
            });
            return response;
        }
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("a JSON body is read whole");
        self.push(Exchange {
            method,
            path,
            status,
            json: Some(bytes.to_vec()),
        });
        Response::from_parts(parts, Body::from(bytes))
    }

    fn push(&self, exchange: Exchange) {
        self.0.lock().unwrap().push(exchange);
    }

    /// What the document does not say of the recorded exchanges, one line each.
    pub fn mismatches(&self) -> Vec<String> {
        let document = document();
        let exchanges = self.0.lock().unwrap().clone();
        let mut validators: HashMap<(String, String, u16), Option<jsonschema::Validator>> =
            HashMap::new();
        let mut mismatches = Vec::new();
        for exchange in exchanges {
            // The document covers the admin API; the connector protocol, the SPA and unknown
            // paths are not its operations.
            let Some(template) = template_of(&document, &exchange.path) else {
                continue;
            };
            let operation = &document["paths"][&template][exchange.method.to_lowercase()];
            if operation.is_null() {
                continue;
            }
            let what = format!(
                "{} {} → {}",
                exchange.method, exchange.path, exchange.status
            );
            let response = &operation["responses"][exchange.status.to_string()];
            if response.is_null() {
                mismatches.push(format!("{what}: status not documented ({template})"));
                continue;
            }
            let Some(body) = &exchange.json else {
                continue;
            };
            let key = (template.clone(), exchange.method.clone(), exchange.status);
            let validator = validators.entry(key).or_insert_with(|| {
                let schema = response["content"]["application/json"]["schema"].clone();
                (!schema.is_null()).then(|| {
                    let mut root = serde_json::json!({ "allOf": [schema] });
                    root["components"] = document["components"].clone();
                    jsonschema::draft202012::new(&root).expect("the document's schemas compile")
                })
            });
            let Some(validator) = validator else {
                mismatches.push(format!("{what}: a JSON body where none is documented"));
                continue;
            };
            let value: Value = match serde_json::from_slice(body) {
                Ok(value) => value,
                Err(error) => {
                    mismatches.push(format!("{what}: not JSON: {error}"));
                    continue;
                }
            };
            for error in validator.iter_errors(&value) {
                mismatches.push(format!("{what}: {} at {}", error, error.instance_path()));
            }
        }
        mismatches.sort();
        mismatches.dedup();
        mismatches
    }
}

fn document() -> Value {
    admin_server::routes::openapi::document()
}

/// The document's path template for `path`: `{name}` matches one segment; of several that
/// match, the one with the most literal segments (`/devices/export` before `/devices/{id}`).
fn template_of(document: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    document["paths"]
        .as_object()?
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.clone()))
        })
        .max()
        .map(|(_, template)| template)
}

#[test]
fn paths_find_their_templates() {
    let document = document();
    assert_eq!(
        template_of(&document, "/api/v1/devices/export").as_deref(),
        Some("/api/v1/devices/export")
    );
    assert_eq!(
        template_of(&document, "/api/v1/devices/PC-1").as_deref(),
        Some("/api/v1/devices/{id}")
    );
    assert_eq!(template_of(&document, "/api/v1/nothing/here/at/all"), None);
}

/// A response the document does not allow is found: a status it does not list, and a body that
/// does not match the schema.
#[test]
fn a_response_outside_the_document_is_a_mismatch() {
    let recorder = Recorder::default();
    for (status, body) in [
        (418, None),
        (200, Some(serde_json::json!({"value": "not a list"}))),
        (200, Some(serde_json::json!({"value": []}))),
    ] {
        recorder.push(Exchange {
            method: "GET".into(),
            path: "/api/v1/connectors".into(),
            status,
            json: body.map(|b| serde_json::to_vec(&b).unwrap()),
        });
    }
    let mismatches = recorder.mismatches();
    assert_eq!(mismatches.len(), 2, "{mismatches:#?}");
    assert!(mismatches.iter().any(|m| m.contains("418")));
    assert!(mismatches.iter().any(|m| m.contains("not a list")));
}
