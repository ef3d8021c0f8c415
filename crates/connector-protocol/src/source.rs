//! Where a connector's devices come from and where its actions go: a simulated hierarchy (the
//! `simulated-hierarchy` crate: demo, tests, benchmarks) or a real site through its AdminService
//! (the `site-connector` crate). The connector's work loop ([`crate::site`]) speaks the protocol; a
//! source only answers for its site.

use admin_api::protocol::{
    ActionResult, DeviceDelta, SiteAction, SiteDevice, SiteInfo, SiteRequestOutcome,
    SiteRequestWork,
};
use admin_api::ConfigurationManagerActionType;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

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
    /// Answers a site request (client details, inventory, the site's scripts, a CMPivot query,
    /// a script run; the work loop has checked the site's version against the page's minimum).
    /// The future ends with the site's answer or its reason for not giving one, or `None` when
    /// the device never answers (the admin center times the request out).
    fn answer(
        &mut self,
        request: &SiteRequestWork,
    ) -> BoxFuture<'static, Option<SiteRequestOutcome>> {
        let refused = SiteRequestOutcome::failed(format!(
            "This site's connector does not read {} from its site.",
            request.kind.page()
        ));
        Box::pin(futures::future::ready(Some(refused)))
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
