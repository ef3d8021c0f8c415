//! Where a connector's devices come from and where its actions go: a simulated hierarchy (demo,
//! tests, benchmarks) or a real site through its AdminService ([`crate::admin_service`]). The
//! connector's work loop ([`crate::site`]) speaks the protocol; a source only answers for its site.

use admin_api::protocol::{ActionResult, DeviceDelta, SiteAction, SiteDevice, SiteInfo};
use admin_api::ConfigurationManagerActionType;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use crate::hierarchy::{ClientState, SimulatedHierarchy, RPC_SERVER_UNAVAILABLE};

/// What became of an action the connector handed to its site.
pub enum Started {
    /// The site took the action; the future ends with the client's answer, or `None` when the
    /// client never answers (the admin center times the action out).
    Accepted(BoxFuture<'static, Option<Finished>>),
    /// The site refused to run it (its answer, as a failed result).
    Refused(ActionResult),
}

/// A client's answer to an action, and a change of its device to upload after it (if any).
pub struct Finished {
    pub result: ActionResult,
    pub then: Option<DeviceDelta>,
}

/// A site as its connector sees it. Every method returns at once with work that owns what it
/// needs, so that the source is never held while the site is being read.
pub trait DeviceSource: Send + 'static {
    /// The hierarchy's stable id (sent when onboarding).
    fn hierarchy_id(&self) -> String;
    /// The site's ConfigMgr version, e.g. 2207.
    fn version(&self) -> u32;
    /// The site's information, `None` for a site that never reports it.
    fn site_info(&mut self) -> BoxFuture<'static, anyhow::Result<Option<SiteInfo>>>;
    /// Every device in the upload scope, in batches of at most `batch_size`.
    fn device_pages(
        &mut self,
        batch_size: usize,
    ) -> BoxStream<'static, anyhow::Result<Vec<SiteDevice>>>;
    /// What changed since the last upload that landed.
    fn delta(&mut self) -> BoxFuture<'static, anyhow::Result<DeviceDelta>>;
    /// The last upload (full or delta) this source produced was accepted by the admin center.
    fn upload_landed(&mut self) {}
    /// Whether the source knows what it last uploaded (a restart may then send a delta rather
    /// than every device).
    fn has_snapshot(&self) -> bool {
        false
    }
    /// Hands an action to the site.
    fn start(&mut self, action: &SiteAction) -> BoxFuture<'static, Started>;
}

impl DeviceSource for SimulatedHierarchy {
    fn hierarchy_id(&self) -> String {
        self.config.hierarchy_id.clone()
    }

    fn version(&self) -> u32 {
        self.config.version
    }

    fn site_info(&mut self) -> BoxFuture<'static, anyhow::Result<Option<SiteInfo>>> {
        let info = self
            .config
            .reports_site_info
            .then(|| SimulatedHierarchy::site_info(self));
        futures::future::ready(Ok(info)).boxed()
    }

    fn device_pages(
        &mut self,
        batch_size: usize,
    ) -> BoxStream<'static, anyhow::Result<Vec<SiteDevice>>> {
        let devices = self.devices_in_scope();
        let batches: Vec<_> = devices
            .chunks(batch_size.max(1))
            .map(|batch| Ok(batch.to_vec()))
            .collect();
        futures::stream::iter(batches).boxed()
    }

    fn delta(&mut self) -> BoxFuture<'static, anyhow::Result<DeviceDelta>> {
        let delta = self.churn(self.config.changes_per_delta);
        futures::future::ready(Ok(delta)).boxed()
    }

    /// The simulated client answers after its latency; an offline one fails or never answers. A
    /// machine policy retrieval is a policy request: the site then uploads the client's new last
    /// policy request and activity as a delta.
    fn start(&mut self, action: &SiteAction) -> BoxFuture<'static, Started> {
        let client = self.device(&action.device_id).map(|d| d.client);
        let latency = self.latency();
        let then = (client == Some(ClientState::Online)
            && action.action == ConfigurationManagerActionType::RefreshMachinePolicy)
            .then(|| self.record_policy_request(&action.device_id))
            .flatten()
            .map(|device| DeviceDelta {
                upserts: vec![device],
                removals: Vec::new(),
            });
        let result = match client {
            Some(ClientState::Online) => Some(ActionResult {
                succeeded: true,
                result_code: 0,
                result_message: Some(format!("{} completed on the client.", label(action.action))),
            }),
            Some(ClientState::OfflineFails) | None => Some(ActionResult {
                succeeded: false,
                result_code: RPC_SERVER_UNAVAILABLE,
                result_message: Some("The client could not be reached (0x800706BA).".into()),
            }),
            Some(ClientState::OfflineSilent) => None,
        };
        let answer = async move {
            let result = result?;
            tokio::time::sleep(latency).await;
            Some(Finished { result, then })
        };
        futures::future::ready(Started::Accepted(answer.boxed())).boxed()
    }
}

/// The client action's name as ConfigMgr's client shows it.
pub fn label(action: ConfigurationManagerActionType) -> &'static str {
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
