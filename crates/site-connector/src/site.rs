//! The service connection point's work loop: onboard, report the site, upload devices (a full sync
//! in batches, then deltas), take actions and report their results, and offboard when told.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use admin_api::protocol::{ActionResult, DeviceDelta, SiteAction, SyncResult};
use admin_api::ConfigurationManagerActionType;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::client::{ProtocolClient, ProtocolError, ProtocolResult};
use crate::hierarchy::{ClientState, SimulatedHierarchy, RPC_SERVER_UNAVAILABLE};
use crate::state::{ConnectorState, StateFile};

#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// Devices per full-sync batch.
    pub batch_size: usize,
    /// Seconds one action poll waits on the server.
    pub poll_wait_seconds: u32,
    /// Send a delta of this many changes this often (none when `None`).
    pub churn: Option<(Duration, usize)>,
    /// CA certificates (PEM) to trust besides the platform's, for an `https://` admin center.
    pub ca_pem: Option<Vec<u8>>,
}

impl Default for SiteOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_wait_seconds: 25,
            churn: None,
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

pub struct SiteConnector {
    client: ProtocolClient,
    hierarchy: Arc<Mutex<SimulatedHierarchy>>,
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

impl SiteConnector {
    /// Onboards with a one-time token and reports the site's information.
    pub async fn attach(
        server: &str,
        onboarding_token: &str,
        hierarchy: SimulatedHierarchy,
        options: SiteOptions,
    ) -> ProtocolResult<Self> {
        let mut client = ProtocolClient::trusting(server, None, options.ca_pem.as_deref())?;
        onboard(
            &mut client,
            onboarding_token,
            &hierarchy.config.hierarchy_id,
        )
        .await?;
        let site = Self::resume(client, hierarchy, options);
        site.report_site().await?;
        Ok(site)
    }

    /// Onboards with a one-time token and keeps the credential in `file` at once (before anything
    /// else can fail), then reports the site's information.
    pub async fn attach_keeping(
        server: &str,
        onboarding_token: &str,
        hierarchy: SimulatedHierarchy,
        options: SiteOptions,
        file: StateFile,
    ) -> anyhow::Result<Self> {
        let mut client = ProtocolClient::trusting(server, None, options.ca_pem.as_deref())?;
        let onboarded = onboard(
            &mut client,
            onboarding_token,
            &hierarchy.config.hierarchy_id,
        )
        .await?;
        let state = ConnectorState {
            server: server.to_owned(),
            connector_id: onboarded.connector_id,
            credential: onboarded.credential,
            hierarchy_id: hierarchy.config.hierarchy_id.clone(),
            full_sync_in_progress: None,
        };
        file.save(&state)?;
        Ok(Self::keeping(client, hierarchy, options, file, state)
            .reported()
            .await?)
    }

    /// A connector that onboarded before and kept its state in `file`.
    pub async fn resume_from(
        state: ConnectorState,
        file: StateFile,
        hierarchy: SimulatedHierarchy,
        options: SiteOptions,
    ) -> ProtocolResult<Self> {
        let client = ProtocolClient::trusting(
            &state.server,
            Some(state.credential.clone()),
            options.ca_pem.as_deref(),
        )?;
        Self::keeping(client, hierarchy, options, file, state)
            .reported()
            .await
    }

    /// A connector whose state is kept in `file`.
    fn keeping(
        client: ProtocolClient,
        hierarchy: SimulatedHierarchy,
        options: SiteOptions,
        file: StateFile,
        state: ConnectorState,
    ) -> Self {
        let mut site = Self::resume(client, hierarchy, options);
        site.state = Some(Saved {
            file,
            state: std::sync::Mutex::new(state),
        });
        site
    }

    /// This connector, once it has reported its site.
    async fn reported(self) -> ProtocolResult<Self> {
        self.report_site().await?;
        Ok(self)
    }

    /// A connector that onboarded before, with its credential.
    pub fn resume(
        client: ProtocolClient,
        hierarchy: SimulatedHierarchy,
        options: SiteOptions,
    ) -> Self {
        Self {
            client,
            hierarchy: Arc::new(Mutex::new(hierarchy)),
            options,
            taken: HashSet::new(),
            state: None,
        }
    }

    pub fn client(&self) -> &ProtocolClient {
        &self.client
    }

    pub fn hierarchy(&self) -> Arc<Mutex<SimulatedHierarchy>> {
        self.hierarchy.clone()
    }

    /// Sends the site's information, unless this site is one that never reports it.
    pub async fn report_site(&self) -> ProtocolResult<()> {
        let hierarchy = self.hierarchy.lock().await;
        if hierarchy.config.reports_site_info {
            let info = hierarchy.site_info();
            drop(hierarchy);
            retry(|| self.client.report_site(&info)).await?;
        }
        Ok(())
    }

    /// Uploads every device in scope as a full sync, batch by batch, then completes it. A full
    /// sync that a previous run kept as in progress is completed under its own id if the server
    /// has all of it (or already completed it: then it answers the same result), and replaced
    /// by a new one otherwise, so that an interrupted upload lands exactly once.
    pub async fn full_sync(&self) -> ProtocolResult<SyncResult> {
        let devices = self.hierarchy.lock().await.devices_in_scope();
        let kept = self.state.as_ref().and_then(|saved| {
            saved
                .state
                .lock()
                .expect("never poisoned")
                .full_sync_in_progress
                .clone()
        });
        let batches: Vec<_> = devices.chunks(self.options.batch_size.max(1)).collect();
        if let Some(sync_id) = &kept {
            // The previous run may have completed it without hearing the answer, or staged all
            // of it: completing answers then (a completed sync answers its result again). A 409
            // says it never completed: a new full sync replaces it (its first batch discards
            // what the old one staged), so nothing lands twice.
            match retry(|| {
                self.client
                    .complete_full_sync(sync_id, batches.len() as u32)
            })
            .await
            {
                Ok(done) => {
                    self.keep(|state| state.full_sync_in_progress = None);
                    return Ok(done);
                }
                Err(error) if error.status() == Some(reqwest::StatusCode::CONFLICT) => {}
                Err(error) => return Err(error),
            }
        }
        let sync_id = uuid::Uuid::new_v4().to_string();
        self.keep(|state| state.full_sync_in_progress = Some(sync_id.clone()));
        for (index, batch) in batches.iter().enumerate() {
            retry(|| self.client.put_batch(&sync_id, index as u32, batch)).await?;
        }
        let done = retry(|| {
            self.client
                .complete_full_sync(&sync_id, batches.len() as u32)
        })
        .await?;
        self.keep(|state| state.full_sync_in_progress = None);
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

    /// Uploads a delta under a new sync id (re-sent as is after a network error). A delta of more
    /// devices than a batch goes in several, each its own sync (a request body has a limit); the
    /// result is the last one's, with the changes of all.
    pub async fn upload_delta(&self, delta: &DeviceDelta) -> ProtocolResult<SyncResult> {
        let size = self.options.batch_size.max(1);
        let mut parts: Vec<DeviceDelta> = delta
            .upserts
            .chunks(size)
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
            let done = retry(|| self.client.send_delta(&sync_id, part)).await?;
            changed += done.changed;
            result = Some(done);
        }
        let mut result = result.expect("a delta has at least one part");
        result.changed = changed;
        Ok(result)
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
        let mut churn = self.options.churn.map(|(every, changes)| {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (ticks, changes)
        });
        if let Some((ticks, _)) = churn.as_mut() {
            ticks.tick().await;
        }
        let mut failures = 0u32;
        loop {
            let poll = tokio::select! {
                () = stop.cancelled() => return Outcome::Stopped,
                poll = self.client.poll_actions(self.options.poll_wait_seconds) => poll,
                Some(changes) = next_churn(&mut churn) => {
                    let delta = self.hierarchy.lock().await.churn(changes);
                    if let Err(error) = self.upload_delta(&delta).await {
                        tracing::warn!(%error, "a delta upload failed");
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
        let version = self.hierarchy.lock().await.config.version;
        if version >= 2103 {
            if let Err(error) = retry(|| self.client.acknowledge_offboard()).await {
                tracing::warn!(%error, "could not acknowledge offboarding");
            }
        }
        Outcome::Offboarded
    }

    /// Accepts the action and lets its client run it; the result follows after the client's
    /// latency (an offline client fails, or never answers).
    async fn take(&mut self, action: SiteAction, stop: &CancellationToken) {
        if !self.taken.insert(action.id.clone()) {
            return;
        }
        if let Err(error) = retry(|| self.client.accept_action(&action.id)).await {
            tracing::warn!(%error, action = %action.id, "could not accept an action");
            self.taken.remove(&action.id);
            return;
        }
        let (client_state, latency) = {
            let mut hierarchy = self.hierarchy.lock().await;
            let state = hierarchy.device(&action.device_id).map(|d| d.client);
            (state, hierarchy.latency())
        };
        let client = self.client.clone();
        let stop = stop.clone();
        let hierarchy = self.hierarchy.clone();
        tokio::spawn(async move {
            let result = match client_state {
                Some(ClientState::Online) => ActionResult {
                    succeeded: true,
                    result_code: 0,
                    result_message: Some(format!(
                        "{} completed on the client.",
                        label(action.action)
                    )),
                },
                Some(ClientState::OfflineFails) | None => ActionResult {
                    succeeded: false,
                    result_code: RPC_SERVER_UNAVAILABLE,
                    result_message: Some("The client could not be reached (0x800706BA).".into()),
                },
                Some(ClientState::OfflineSilent) => return,
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(latency) => {}
            }
            if let Err(error) = retry(|| client.report_result(&action.id, &result)).await {
                tracing::warn!(%error, action = %action.id, "could not report a result");
            }
            // A machine policy retrieval is a policy request: the site sees the client's new
            // last policy request and activity, and uploads them as a delta.
            if result.succeeded
                && action.action == ConfigurationManagerActionType::RefreshMachinePolicy
            {
                let changed = hierarchy
                    .lock()
                    .await
                    .record_policy_request(&action.device_id);
                if let Some(device) = changed {
                    let delta = DeviceDelta {
                        upserts: vec![device],
                        removals: Vec::new(),
                    };
                    let sync_id = uuid::Uuid::new_v4().to_string();
                    if let Err(error) = retry(|| client.send_delta(&sync_id, &delta)).await {
                        tracing::warn!(%error, device = %action.device_id, "could not upload a policy request");
                    }
                }
            }
        });
    }
}

/// Onboards once. Not retried after a network error (the server may have spent the token on a
/// request whose answer was lost); retried when the server refused before doing anything: it is
/// busy (503) or throttles onboarding attempts from this address (429).
async fn onboard(
    client: &mut ProtocolClient,
    token: &str,
    hierarchy_id: &str,
) -> ProtocolResult<admin_api::protocol::OnboardResponse> {
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

fn label(action: ConfigurationManagerActionType) -> &'static str {
    match action {
        ConfigurationManagerActionType::RefreshMachinePolicy => {
            "Machine Policy Retrieval & Evaluation Cycle"
        }
        ConfigurationManagerActionType::RefreshUserPolicy => {
            "User Policy Retrieval & Evaluation Cycle"
        }
        ConfigurationManagerActionType::AppEvaluation => "Application Deployment Evaluation Cycle",
    }
}

async fn next_churn(churn: &mut Option<(tokio::time::Interval, usize)>) -> Option<usize> {
    match churn {
        Some((ticks, changes)) => {
            ticks.tick().await;
            Some(*changes)
        }
        None => std::future::pending().await,
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
pub async fn retry<T, F, Fut>(mut call: F) -> ProtocolResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ProtocolResult<T>>,
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
