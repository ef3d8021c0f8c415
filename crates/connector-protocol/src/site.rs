//! The service connection point's work loop: onboard, report the site, upload devices (a full sync
//! in batches, then deltas), take actions and report their results, and offboard when told. What
//! the site holds comes from a [`DeviceSource`]: a simulated hierarchy or a real site.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use admin_api::protocol::{
    DeviceDelta, SiteAction, SiteRequestOutcome, SiteRequestWork, SyncResult,
};
use futures::{FutureExt, StreamExt};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::client::{ProtocolClient, ProtocolError};
use crate::source::{DeviceSource, Finished, Started};
use crate::state::{ConnectorState, StateFile};

#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// Devices per full-sync batch.
    pub batch_size: usize,
    /// Seconds one action poll waits on the server.
    pub poll_wait_seconds: u32,
    /// Upload what changed this often (never when `None`).
    pub delta_every: Option<Duration>,
    /// Upload every device again this often (only once, when attached, when `None`).
    pub full_every: Option<Duration>,
    /// Report the site's information (and run its connectivity checks) again this often.
    pub report_every: Option<Duration>,
    /// CA certificates (PEM) to trust besides the platform's, for an `https://` admin center.
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for SiteOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_wait_seconds: 25,
            delta_every: None,
            full_every: None,
            report_every: None,
            ca_pem: None,
        }
    }
}

/// Why [`SiteConnector::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Told to offboard: acknowledged (2103 and later) and stopped.
    Offboarded,
    /// The server no longer accepts the credential (the connector is gone).
    CredentialRevoked,
    /// Asked to stop.
    Stopped,
}

/// Why a connector could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The admin center refused, or could not be reached.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The site could not be read.
    #[error("the site could not be read: {0:#}")]
    Source(anyhow::Error),
    /// The connector's state could not be saved.
    #[error("the connector's state could not be saved: {0}")]
    State(#[from] std::io::Error),
}

impl SiteError {
    /// The admin center's answer, when it answered.
    pub fn status(&self) -> Option<reqwest::StatusCode> {
        match self {
            Self::Protocol(error) => error.status(),
            _ => None,
        }
    }

    /// The admin center could not be reached.
    pub fn is_network(&self) -> bool {
        matches!(self, Self::Protocol(error) if error.is_network())
    }
}

impl From<reqwest::Error> for SiteError {
    fn from(error: reqwest::Error) -> Self {
        Self::Protocol(error.into())
    }
}

pub type SiteResult<T> = Result<T, SiteError>;

/// A site's connector over its device source.
pub struct SiteConnector<S: DeviceSource> {
    client: ProtocolClient,
    source: Arc<Mutex<S>>,
    options: SiteOptions,
    /// Actions already taken: a poll answer sent twice (after a dropped connection) runs nothing twice.
    taken: HashSet<String>,
    /// Where the credential and an upload in progress are kept between runs, if anywhere.
    state: Option<Saved>,
}

/// A state file and what it holds now.
struct Saved {
    file: StateFile,
    state: std::sync::Mutex<ConnectorState>,
}

impl Saved {
    fn update(&self, change: impl FnOnce(&mut ConnectorState)) -> std::io::Result<()> {
        let mut state = self.state.lock().expect("never poisoned");
        change(&mut state);
        self.file.save(&state)
    }
}

impl<S: DeviceSource> SiteConnector<S> {
    /// Onboards with a one-time token and reports the site's information.
    pub async fn attach(
        server: &str,
        onboarding_token: &str,
        source: S,
        options: SiteOptions,
    ) -> SiteResult<Self> {
        let mut client = ProtocolClient::trusting(server, None, options.ca_pem.as_deref())?;
        onboard(&mut client, onboarding_token, &source.hierarchy_id()).await?;
        let site = Self::resume(client, source, options);
        site.report_site().await?;
        Ok(site)
    }

    /// Onboards with a one-time token and keeps the credential in `file` at once (before anything
    /// else can fail), then reports the site's information.
    pub async fn attach_keeping(
        server: &str,
        onboarding_token: &str,
        source: S,
        options: SiteOptions,
        file: StateFile,
    ) -> SiteResult<Self> {
        let mut client = ProtocolClient::trusting(server, None, options.ca_pem.as_deref())?;
        let hierarchy_id = source.hierarchy_id();
        let onboarded = onboard(&mut client, onboarding_token, &hierarchy_id).await?;
        let state = ConnectorState {
            server: server.to_owned(),
            connector_id: onboarded.connector_id,
            credential: onboarded.credential,
            hierarchy_id,
            full_sync_in_progress: None,
            full_sync_batches: None,
        };
        file.save(&state)?;
        Self::keeping(client, source, options, file, state)
            .reported()
            .await
    }

    /// A connector that onboarded before and kept its state in `file`.
    pub async fn resume_from(
        state: ConnectorState,
        file: StateFile,
        source: S,
        options: SiteOptions,
    ) -> SiteResult<Self> {
        let client = ProtocolClient::trusting(
            &state.server,
            Some(state.credential.clone()),
            options.ca_pem.as_deref(),
        )?;
        Self::keeping(client, source, options, file, state)
            .reported()
            .await
    }

    /// A connector whose state is kept in `file`.
    fn keeping(
        client: ProtocolClient,
        source: S,
        options: SiteOptions,
        file: StateFile,
        state: ConnectorState,
    ) -> Self {
        let mut site = Self::resume(client, source, options);
        site.state = Some(Saved {
            file,
            state: std::sync::Mutex::new(state),
        });
        site
    }

    /// This connector, once it has reported its site.
    async fn reported(self) -> SiteResult<Self> {
        self.report_site().await?;
        Ok(self)
    }

    /// A connector that onboarded before, with its credential.
    pub fn resume(client: ProtocolClient, source: S, options: SiteOptions) -> Self {
        Self {
            client,
            source: Arc::new(Mutex::new(source)),
            options,
            taken: HashSet::new(),
            state: None,
        }
    }

    pub fn client(&self) -> &ProtocolClient {
        &self.client
    }

    /// Whether a full sync a previous run began is still to be completed or replaced.
    pub fn full_sync_in_progress(&self) -> bool {
        self.state.as_ref().is_some_and(|saved| {
            saved
                .state
                .lock()
                .expect("never poisoned")
                .full_sync_in_progress
                .is_some()
        })
    }

    /// The site this connector serves.
    pub fn source(&self) -> Arc<Mutex<S>> {
        self.source.clone()
    }

    /// Sends the site's information, unless this site is one that never reports it.
    pub async fn report_site(&self) -> SiteResult<()> {
        let read = self.source.lock().await.site_info();
        if let Some(info) = read.await.map_err(SiteError::Source)? {
            retry(|| self.client.report_site(&info)).await?;
        }
        Ok(())
    }

    /// Uploads every device in scope as a full sync, batch by batch as the site is read, then
    /// completes it. A full sync that a previous run kept as in progress is completed under its
    /// own id if all of its batches were sent (if the server already completed it, it answers
    /// the same result), and replaced by a new one otherwise, so that an interrupted upload lands
    /// exactly once.
    pub async fn full_sync(&self) -> SiteResult<SyncResult> {
        let kept = self.state.as_ref().and_then(|saved| {
            let state = saved.state.lock().expect("never poisoned");
            state
                .full_sync_in_progress
                .clone()
                .zip(state.full_sync_batches)
        });
        if let Some((sync_id, batch_count)) = &kept {
            // A 409 says it never completed: a new full sync replaces it (its first batch
            // discards what the old one staged), so nothing lands twice.
            match retry(|| self.client.complete_full_sync(sync_id, *batch_count)).await {
                Ok(done) => {
                    self.keep(|state| {
                        state.full_sync_in_progress = None;
                        state.full_sync_batches = None;
                    });
                    return Ok(done);
                }
                Err(error) if error.status() == Some(reqwest::StatusCode::CONFLICT) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let sync_id = uuid::Uuid::new_v4().to_string();
        self.keep(|state| {
            state.full_sync_in_progress = Some(sync_id.clone());
            state.full_sync_batches = None;
        });
        let mut pages = self
            .source
            .lock()
            .await
            .device_pages(self.options.batch_size);
        let mut index = 0u32;
        while let Some(batch) = pages.next().await {
            let batch = batch.map_err(SiteError::Source)?;
            retry(|| self.client.put_batch(&sync_id, index, &batch)).await?;
            index += 1;
        }
        if index == 0 {
            // A site with no device in scope still says so: one empty batch.
            retry(|| self.client.put_batch(&sync_id, 0, &[])).await?;
            index = 1;
        }
        self.keep(|state| state.full_sync_batches = Some(index));
        let done = retry(|| self.client.complete_full_sync(&sync_id, index)).await?;
        self.source.lock().await.upload_landed();
        self.keep(|state| {
            state.full_sync_in_progress = None;
            state.full_sync_batches = None;
        });
        Ok(done)
    }

    /// Saves a change to the state file, if there is one. A state that cannot be saved is
    /// logged: the connector goes on, and a restart would need a new token or upload again.
    fn keep(&self, change: impl FnOnce(&mut ConnectorState)) {
        if let Some(saved) = &self.state {
            if let Err(error) = saved.update(change) {
                tracing::error!(%error, file = %saved.file.path().display(), "could not save the connector's state");
            }
        }
    }

    /// Uploads a delta (see [`upload_delta`]).
    pub async fn upload_delta(&self, delta: &DeviceDelta) -> SiteResult<SyncResult> {
        Ok(upload_delta(&self.client, self.options.batch_size, delta).await?)
    }

    /// Reads what changed at the site and uploads it (nothing when nothing changed).
    pub async fn send_delta(&self) -> SiteResult<Option<SyncResult>> {
        let read = self.source.lock().await.delta();
        let delta = read.await.map_err(SiteError::Source)?;
        if delta.upserts.is_empty() && delta.removals.is_empty() {
            return Ok(None);
        }
        let done = upload_delta(&self.client, self.options.batch_size, &delta).await?;
        self.source.lock().await.upload_landed();
        Ok(Some(done))
    }

    /// Polls for actions until told to offboard, the credential stops working, or `stop`. A
    /// connector that is gone (offboarded, or its credential revoked) forgets its saved state.
    pub async fn serve(self, stop: CancellationToken) -> Outcome {
        let state = self.state.as_ref().map(|saved| saved.file.clone());
        let outcome = self.serve_until_done(stop).await;
        if matches!(outcome, Outcome::Offboarded | Outcome::CredentialRevoked) {
            if let Some(file) = state {
                if let Err(error) = file.remove() {
                    tracing::error!(%error, file = %file.path().display(), "could not remove the connector's state");
                }
            }
        }
        outcome
    }

    async fn serve_until_done(mut self, stop: CancellationToken) -> Outcome {
        let mut deltas = ticks(self.options.delta_every).await;
        let mut fulls = ticks(self.options.full_every).await;
        let mut reports = ticks(self.options.report_every).await;
        let mut failures = 0u32;
        loop {
            let poll = tokio::select! {
                () = stop.cancelled() => return Outcome::Stopped,
                poll = self.client.poll_actions(self.options.poll_wait_seconds) => poll,
                () = next_tick(&mut deltas) => {
                    if let Err(error) = self.send_delta().await {
                        tracing::warn!(%error, "a delta upload failed");
                    }
                    continue;
                }
                () = next_tick(&mut reports) => {
                    if let Err(error) = self.report_site().await {
                        tracing::warn!(%error, "could not report the site's information");
                    }
                    continue;
                }
                () = next_tick(&mut fulls) => {
                    match self.full_sync().await {
                        Ok(done) => tracing::info!(devices = done.device_count, "full sync uploaded"),
                        Err(error) => tracing::warn!(%error, "a full sync failed"),
                    }
                    continue;
                }
            };
            match poll {
                Ok(poll) => {
                    if failures > 0 {
                        tracing::info!(failures, "the admin center answers again");
                    }
                    failures = 0;
                    for action in poll.actions {
                        self.take(action, &stop).await;
                    }
                    for request in poll.requests {
                        self.answer(request, &stop).await;
                    }
                    if poll.offboard_requested {
                        return self.offboard().await;
                    }
                }
                Err(error) if error.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => {
                    return Outcome::CredentialRevoked;
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(%error, "the action poll failed; polling again until it answers");
                    }
                    tokio::select! {
                        () = stop.cancelled() => return Outcome::Stopped,
                        () = tokio::time::sleep(backoff(failures)) => {}
                    }
                }
            }
        }
    }

    async fn offboard(&self) -> Outcome {
        let version = self.source.lock().await.version();
        if version >= 2103 {
            if let Err(error) = retry(|| self.client.acknowledge_offboard()).await {
                tracing::warn!(%error, "could not acknowledge offboarding");
            }
        }
        Outcome::Offboarded
    }

    /// Hands the action to the site: accepted once the site took it, its result reported when
    /// the client answers (a refusal is reported at once, as a failure with the site's words).
    async fn take(&mut self, action: SiteAction, stop: &CancellationToken) {
        if !self.taken.insert(action.id.clone()) {
            return;
        }
        let starting = self.source.lock().await.start(&action);
        let client = self.client.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let started = tokio::select! {
                () = stop.cancelled() => return,
                started = starting => started,
            };
            if let Err(error) = retry(|| client.accept_action(&action.id)).await {
                tracing::warn!(%error, action = %action.id, "could not accept an action");
                return;
            }
            let finished = match started {
                Started::Refused(result) => Some(Finished { result, then: None }),
                Started::Accepted(answer) => tokio::select! {
                    () = stop.cancelled() => return,
                    finished = answer => finished,
                },
            };
            let Some(Finished { result, then }) = finished else {
                return;
            };
            if let Err(error) = retry(|| client.report_result(&action.id, &result)).await {
                tracing::warn!(%error, action = %action.id, "could not report a result");
            }
            if let Some(delta) = then {
                let sync_id = uuid::Uuid::new_v4().to_string();
                if let Err(error) = retry(|| client.send_delta(&sync_id, &delta)).await {
                    tracing::warn!(%error, device = %action.device_id, "could not upload a device's change");
                }
            }
        });
    }
}

impl<S: DeviceSource> SiteConnector<S> {
    /// Hands a site request to the site, unless the site is older than its page needs: accepted
    /// at once, its answer (made fit to send, see [`crate::requests::fit`]) reported when the site
    /// or the device gives it.
    async fn answer(&mut self, request: SiteRequestWork, stop: &CancellationToken) {
        if !self.taken.insert(request.id.clone()) {
            return;
        }
        let answering = {
            let mut source = self.source.lock().await;
            let version = source.version();
            if version < request.kind.minimum_site_version() {
                let outcome = SiteRequestOutcome::failed(request.kind.too_old(version));
                futures::future::ready(Some(outcome)).boxed()
            } else {
                source.answer(&request)
            }
        };
        let client = self.client.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(error) = retry(|| client.accept_request(&request.id)).await {
                tracing::warn!(%error, request = %request.id, "could not accept a site request");
                return;
            }
            let outcome = tokio::select! {
                () = stop.cancelled() => return,
                outcome = answering => outcome,
            };
            let Some(mut outcome) = outcome else {
                return;
            };
            outcome.answer = outcome.answer.map(crate::requests::fit);
            if let Err(error) = retry(|| client.answer_request(&request.id, &outcome)).await {
                tracing::warn!(%error, request = %request.id, "could not report a site request's answer");
            }
        });
    }
}

/// Uploads a delta under a new sync id (re-sent as is after a network error). A delta of more
/// devices than a batch goes in several, each its own sync (a request body has a limit); the
/// result is the last one's, with the changes of all.
pub async fn upload_delta(
    client: &ProtocolClient,
    batch_size: usize,
    delta: &DeviceDelta,
) -> Result<SyncResult, ProtocolError> {
    let mut parts: Vec<DeviceDelta> = delta
        .upserts
        .chunks(batch_size.max(1))
        .map(|upserts| DeviceDelta {
            upserts: upserts.to_vec(),
            removals: Vec::new(),
        })
        .collect();
    match parts.last_mut() {
        Some(last) => last.removals = delta.removals.clone(),
        None => parts.push(delta.clone()),
    }
    let mut changed = 0;
    let mut result = None;
    for part in &parts {
        let sync_id = uuid::Uuid::new_v4().to_string();
        let done = retry(|| client.send_delta(&sync_id, part)).await?;
        changed += done.changed;
        result = Some(done);
    }
    let mut result = result.expect("a delta has at least one part");
    result.changed = changed;
    Ok(result)
}

/// Ticks of `every`, the first one `every` from now; none when `None`.
async fn ticks(every: Option<Duration>) -> Option<tokio::time::Interval> {
    let mut ticks = tokio::time::interval(every?);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    Some(ticks)
}

async fn next_tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Onboards once. Not retried after a network error (the server may have spent the token on a
/// request whose answer was lost); retried when the server refused before doing anything: it is
/// busy (503) or throttles onboarding attempts from this address (429).
async fn onboard(
    client: &mut ProtocolClient,
    token: &str,
    hierarchy_id: &str,
) -> Result<admin_api::protocol::OnboardResponse, ProtocolError> {
    let mut refusals = 0u32;
    loop {
        match client.onboard(token, hierarchy_id).await {
            Err(error)
                if matches!(
                    error.status(),
                    Some(
                        reqwest::StatusCode::TOO_MANY_REQUESTS
                            | reqwest::StatusCode::SERVICE_UNAVAILABLE
                    )
                ) && refusals < 20 =>
            {
                refusals += 1;
                tracing::info!(%error, "onboarding was deferred by the server; trying again");
                tokio::time::sleep(backoff(refusals)).await;
            }
            other => return other,
        }
    }
}

/// How long to wait after `failures` failures in a row: doubling from 200 ms up to 30 s, each
/// wait jittered by up to a quarter so that many sites that lost the server together do not
/// all come back in the same instant.
fn backoff(failures: u32) -> Duration {
    use rand::Rng;
    let base = (200u64 << failures.min(8)).min(MAX_BACKOFF.as_millis() as u64);
    let jitter = rand::thread_rng().gen_range(0..=base / 4);
    Duration::from_millis(base - base / 8 + jitter)
}

/// The longest wait between two attempts of a call.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs a protocol call until the server answers it: again after network errors and when the
/// server says it is busy (503) or asks to slow down (429), backing off up to
/// [`MAX_BACKOFF`] with jitter, for as long as the server is away (a site outlives its admin
/// center's restarts). Anything else the server refuses is final. An outage is logged once when
/// it starts and once when it ends. Every call it retries is idempotent on the server.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, ProtocolError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProtocolError>>,
{
    let mut failures = 0u32;
    let started = tokio::time::Instant::now();
    loop {
        let outcome = call().await;
        let retryable = match &outcome {
            Err(ProtocolError::Network(_)) => true,
            Err(ProtocolError::Refused { status, .. }) => {
                *status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                    || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Ok(_) => false,
        };
        if !retryable {
            if failures > 0 {
                tracing::info!(
                    after = ?started.elapsed(),
                    attempts = failures + 1,
                    "the admin center answers again"
                );
            }
            return outcome;
        }
        failures += 1;
        if failures == 1 {
            if let Err(error) = &outcome {
                tracing::warn!(%error, "the admin center did not answer; trying again until it does");
            }
        } else {
            tracing::debug!(failures, "trying again");
        }
        tokio::time::sleep(backoff(failures)).await;
    }
}
