//! The connector protocol from the site's side: one method per call, errors as the server said them.

use std::time::Duration;

use admin_api::protocol::{
    ActionPoll, ActionResult, CompleteFullSync, DeviceBatch, DeviceDelta, HeartbeatResponse,
    OnboardRequest, OnboardResponse, SiteDevice, SiteInfo, SiteRequestOutcome, SyncResult,
    CONNECTOR_API_BASE,
};
use admin_api::ErrorBody;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The server answered with an error; `body` is its contract error body when it sent one.
    #[error("the server answered {status}: {}", body.as_ref().map_or("(no error body)", |b| b.error.message.as_str()))]
    Refused {
        status: StatusCode,
        body: Option<ErrorBody>,
    },
    /// No answer (connection refused or dropped, timeout): worth trying again.
    #[error("the server could not be reached: {0}")]
    Network(#[from] reqwest::Error),
}

impl ProtocolError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            Self::Network(_) => None,
        }
    }

    pub fn is_network(&self) -> bool {
        matches!(self, Self::Network(_))
    }
}

pub type ProtocolResult<T> = Result<T, ProtocolError>;

#[derive(Debug, Clone)]
pub struct ProtocolClient {
    http: reqwest::Client,
    base: String,
    credential: Option<String>,
}

impl ProtocolClient {
    /// A client for the server at `server` (e.g. `http://127.0.0.1:8080`, or `https://…`,
    /// trusted through the platform's certificate store).
    pub fn new(server: &str, credential: Option<String>) -> Self {
        Self::trusting(server, credential, None).expect("a client without extra roots builds")
    }

    /// A client that also trusts the CA certificates in `ca_pem` (PEM, one or more): for an
    /// admin center whose certificate an organization's own CA issued. Without the `tls` feature
    /// the client speaks plain HTTP only (a request to `https://` fails), so no CA is read.
    pub fn trusting(
        server: &str,
        credential: Option<String>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, reqwest::Error> {
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .https_only(server.starts_with("https://"));
        #[cfg(not(feature = "tls"))]
        let _ = ca_pem;
        #[cfg(feature = "tls")]
        if let Some(pem) = ca_pem {
            for certificate in reqwest::Certificate::from_pem_bundle(pem)? {
                http = http.add_root_certificate(certificate);
            }
        }
        Ok(Self {
            http: http.build()?,
            base: format!("{}{CONNECTOR_API_BASE}", server.trim_end_matches('/')),
            credential,
        })
    }

    /// Whether the admin center answers at all (any HTTP status), over a trusted connection.
    pub async fn reach(&self) -> Result<(), reqwest::Error> {
        let root = self.base.trim_end_matches(CONNECTOR_API_BASE);
        self.http.get(format!("{root}/")).send().await.map(drop)
    }

    pub fn credential(&self) -> Option<&str> {
        self.credential.as_deref()
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.credential {
            Some(credential) => request.bearer_auth(credential),
            None => request,
        }
    }

    async fn send<T: DeserializeOwned>(request: RequestBuilder) -> ProtocolResult<T> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            let bytes = response.bytes().await?;
            // 204 and 202 carry nothing; `()` decodes from `null`.
            let text = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            serde_json::from_slice(text).map_err(|e| ProtocolError::Refused {
                status,
                body: Some(ErrorBody {
                    error: admin_api::ErrorDetail {
                        code: admin_api::ErrorCode::Unknown,
                        message: format!("the answer does not decode: {e}"),
                        target: None,
                        request_id: String::new(),
                    },
                }),
            })
        } else {
            let body = response.json::<ErrorBody>().await.ok();
            Err(ProtocolError::Refused { status, body })
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> ProtocolResult<T> {
        let request = self.request(method, path);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        Self::send(request).await
    }

    /// Spends the onboarding token; keeps the credential the server issues.
    pub async fn onboard(
        &mut self,
        onboarding_token: &str,
        hierarchy_id: &str,
    ) -> ProtocolResult<OnboardResponse> {
        let response: OnboardResponse = Self::send(
            self.http
                .post(format!("{}/onboard", self.base))
                .bearer_auth(onboarding_token)
                .json(&OnboardRequest {
                    hierarchy_id: hierarchy_id.to_owned(),
                }),
        )
        .await?;
        self.credential = Some(response.credential.clone());
        Ok(response)
    }

    pub async fn report_site(&self, info: &SiteInfo) -> ProtocolResult<HeartbeatResponse> {
        self.call(Method::PUT, "/site", Some(info)).await
    }

    pub async fn heartbeat(&self) -> ProtocolResult<HeartbeatResponse> {
        self.call::<(), _>(Method::POST, "/heartbeat", None).await
    }

    pub async fn put_batch(
        &self,
        sync_id: &str,
        index: u32,
        devices: &[SiteDevice],
    ) -> ProtocolResult<()> {
        let batch = DeviceBatch {
            devices: devices.to_vec(),
        };
        self.call(
            Method::PUT,
            &format!("/syncs/{sync_id}/batches/{index}"),
            Some(&batch),
        )
        .await
    }

    pub async fn complete_full_sync(
        &self,
        sync_id: &str,
        batch_count: u32,
    ) -> ProtocolResult<SyncResult> {
        self.call(
            Method::POST,
            &format!("/syncs/{sync_id}/complete"),
            Some(&CompleteFullSync { batch_count }),
        )
        .await
    }

    pub async fn send_delta(
        &self,
        sync_id: &str,
        delta: &DeviceDelta,
    ) -> ProtocolResult<SyncResult> {
        self.call(
            Method::POST,
            &format!("/syncs/{sync_id}/delta"),
            Some(delta),
        )
        .await
    }

    /// Waits up to `wait_seconds` for actions or an offboarding request.
    pub async fn poll_actions(&self, wait_seconds: u32) -> ProtocolResult<ActionPoll> {
        Self::send(
            self.request(Method::GET, &format!("/actions?waitSeconds={wait_seconds}"))
                .timeout(Duration::from_secs(u64::from(wait_seconds) + 15)),
        )
        .await
    }

    pub async fn accept_action(&self, id: &str) -> ProtocolResult<()> {
        self.call::<(), _>(Method::POST, &format!("/actions/{id}/accept"), None)
            .await
    }

    pub async fn report_result(&self, id: &str, result: &ActionResult) -> ProtocolResult<()> {
        self.call(Method::POST, &format!("/actions/{id}/result"), Some(result))
            .await
    }

    pub async fn accept_request(&self, id: &str) -> ProtocolResult<()> {
        self.call::<(), _>(Method::POST, &format!("/requests/{id}/accept"), None)
            .await
    }

    pub async fn answer_request(
        &self,
        id: &str,
        outcome: &SiteRequestOutcome,
    ) -> ProtocolResult<()> {
        self.call(
            Method::POST,
            &format!("/requests/{id}/answer"),
            Some(outcome),
        )
        .await
    }

    pub async fn acknowledge_offboard(&self) -> ProtocolResult<()> {
        self.call::<(), _>(Method::POST, "/offboard/ack", None)
            .await
    }
}
