//! A simulated Configuration Manager hierarchy: devices with realistic, varied fields, a
//! collection tree, clients that are offline, and churn. Reproducible from a seed. It answers a
//! connector's work loop as a [`DeviceSource`]: the admin server's demo mode, the tests, the
//! benchmark and the `site-connector` binary without a real site run it.

use std::collections::HashSet;
use std::time::Duration;

mod requests;

pub use requests::{PRINTER_NAME, SCRIPTS};

use admin_api::protocol::{
    ActionResult, DeviceDelta, Requester, SiteAction, SiteDevice, SiteInfo, SiteRequestOutcome,
    SiteRequestWork,
};
use admin_api::{
    ClientHealthState, Cloud, ComplianceState, ConfigurationManagerActionType,
    ConfigurationManagerClientInformation, DeviceCollection, ManagedBy, OwnerType, UploadScope,
};
use connector_protocol::source::{label, DeviceSource, Finished, Started};
use connector_protocol::users::{self, DiscoveredUser, Lookup};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A simulated hierarchy's connector.
pub type SimulatedSite = connector_protocol::SiteConnector<SimulatedHierarchy>;

/// How a hierarchy looks; everything the simulation varies.
#[derive(Debug, Clone)]
pub struct HierarchyConfig {
    pub hierarchy_id: String,
    pub name: String,
    pub site_code: String,
    /// ConfigMgr version, e.g. 2002, 2010, 2103, 2207.
    pub version: u32,
    pub domain: String,
    pub devices: usize,
    pub seed: u64,
    /// Share of devices that are co-managed (the rest is ConfigMgr-only, a few Intune).
    pub co_managed_share: f64,
    /// Share of clients that are offline: half of their actions fail, half are never answered.
    pub offline_share: f64,
    /// Client-side latency of an action, drawn between these bounds.
    pub latency: (Duration, Duration),
    /// Devices that change between two deltas (the connector's `delta_every`).
    pub changes_per_delta: usize,
    pub upload_scope: UploadScope,
    pub cloud: Cloud,
    /// A site that never sends its information shows as `unknown`.
    pub reports_site_info: bool,
    /// The time the devices' dates are drawn back from. Fixed, with the seed it makes the same
    /// devices on every run (the benchmarks' tenants); by default the time the hierarchy is made.
    pub as_of: Option<OffsetDateTime>,
    /// The users the site has discovered: with a list, an action runs only for a requester the
    /// site accepts by tenant attach's rule for its version; without one (the default), the
    /// site does not check users.
    pub discovered_users: Option<Vec<DiscoveredUser>>,
}

impl HierarchyConfig {
    /// A hierarchy with sensible defaults for the rest.
    pub fn new(name: &str, site_code: &str, version: u32, devices: usize, seed: u64) -> Self {
        Self {
            hierarchy_id: uuid::Builder::from_random_bytes(StdRng::seed_from_u64(seed).gen())
                .into_uuid()
                .to_string(),
            name: name.to_owned(),
            site_code: site_code.to_owned(),
            version,
            domain: format!("{}.contoso.com", site_code.to_lowercase()),
            devices,
            seed,
            co_managed_share: 0.6,
            offline_share: 0.1,
            latency: (Duration::from_millis(500), Duration::from_secs(3)),
            changes_per_delta: 5,
            upload_scope: UploadScope::AllDevices,
            cloud: Cloud::AzurePublicCloud,
            reports_site_info: true,
            as_of: None,
            discovered_users: None,
        }
    }
}

/// What an offline client does with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Online,
    /// The site cannot reach it and reports the failure.
    OfflineFails,
    /// The site never hears back; the server times the action out.
    OfflineSilent,
}

#[derive(Debug, Clone)]
pub struct SimulatedDevice {
    pub device: SiteDevice,
    pub client: ClientState,
}

#[derive(Debug, Clone)]
pub struct CollectionNode {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
}

/// The HRESULT a site reports for a client it cannot reach (0x800706BA, "The RPC server is unavailable").
pub const RPC_SERVER_UNAVAILABLE: i64 = 0x800706BAu32 as i32 as i64;

pub struct SimulatedHierarchy {
    pub config: HierarchyConfig,
    pub collections: Vec<CollectionNode>,
    pub devices: Vec<SimulatedDevice>,
    rng: StdRng,
    next_number: usize,
}

const FIRST_NAMES: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Emily",
    "Irvin",
    "Sofia",
];
const LAST_NAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Soto",
    "Archie",
    "Mueller",
    "Langer",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
    "Braun",
];
/// (manufacturer, model, name prefix)
const MODELS: &[(&str, &str, &str)] = &[
    ("Dell Inc.", "Latitude 7440", "LT"),
    ("Dell Inc.", "OptiPlex 7010", "PC"),
    ("HP", "EliteBook 840 G10", "LT"),
    ("HP", "EliteDesk 800 G9", "PC"),
    ("LENOVO", "ThinkPad T14 Gen 4", "LT"),
    ("Microsoft Corporation", "Surface Laptop 5", "LT"),
    ("Microsoft Corporation", "Virtual Machine", "VM"),
    ("VMware, Inc.", "VMware7,1", "SRV"),
];
/// (operating system, version, SKU)
const WORKSTATION_OS: &[(&str, &str, &str)] = &[
    ("Windows", "10.0.19045.4894", "Enterprise"),
    ("Windows", "10.0.22631.4317", "Enterprise"),
    ("Windows", "10.0.22631.4460", "Professional"),
    ("Windows", "10.0.26100.2314", "Enterprise"),
];
const SERVER_OS: &[(&str, &str, &str)] = &[
    ("Windows Server", "10.0.20348.2762", "ServerStandard"),
    ("Windows Server", "10.0.17763.6414", "ServerDatacenter"),
];
const CLIENT_VERSIONS: &[&str] = &[
    "5.00.9078.1006",
    "5.00.9088.1007",
    "5.00.9096.1000",
    "5.00.9106.1000",
];

fn rfc3339(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .expect("zero is valid")
        .format(&Rfc3339)
        .expect("UTC formats")
}

impl SimulatedHierarchy {
    pub fn new(config: HierarchyConfig) -> Self {
        let code = config.site_code.clone();
        let node = |id: String, name: &str, parent: Option<String>| CollectionNode {
            id,
            name: name.to_owned(),
            parent,
        };
        let collections = vec![
            node("SMS00001".into(), "All Systems", None),
            node(
                format!("{code}00010"),
                "All Workstations",
                Some("SMS00001".into()),
            ),
            node(
                format!("{code}00011"),
                "Windows 11 Workstations",
                Some(format!("{code}00010")),
            ),
            node(
                format!("{code}00012"),
                "Windows 11 24H2 Pilot",
                Some(format!("{code}00011")),
            ),
            // Limited by its parent in ConfigMgr terms, not a subset of it: Finance has Windows 10 too.
            node(
                format!("{code}00013"),
                "Finance Workstations",
                Some(format!("{code}00011")),
            ),
            node(
                format!("{code}00020"),
                "All Servers",
                Some("SMS00001".into()),
            ),
        ];
        let mut hierarchy = Self {
            rng: StdRng::seed_from_u64(config.seed ^ 0x5eed),
            collections,
            devices: Vec::with_capacity(config.devices),
            next_number: 1,
            config,
        };
        let as_of = hierarchy
            .config
            .as_of
            .unwrap_or_else(OffsetDateTime::now_utc);
        for _ in 0..hierarchy.config.devices {
            let device = hierarchy.make_device(as_of);
            hierarchy.devices.push(device);
        }
        hierarchy
    }

    /// What the site reports about itself; sites at 2006 or earlier leave out the details.
    pub fn site_info(&self) -> SiteInfo {
        let detailed = self.config.version > 2006;
        SiteInfo {
            hierarchy_name: self.config.name.clone(),
            site_code: self.config.site_code.clone(),
            site_version: self.config.version.to_string(),
            service_connection_point: detailed
                .then(|| format!("{}-SCP01.{}", self.config.site_code, self.config.domain)),
            cloud: detailed.then_some(self.config.cloud),
            upload_scope: detailed.then(|| self.config.upload_scope.clone()),
            endpoint_analytics_enabled: detailed.then_some(self.config.version >= 2103),
            connectivity_checks: None,
            checks_users: Some(self.config.discovered_users.is_some()),
        }
    }

    /// Tenant attach's check of the user who asked, when the site checks users: the name the
    /// site knows them by, or why it refuses.
    fn check_requester(&self, requester: Option<&Requester>) -> Result<Option<String>, String> {
        let Some(discovered) = &self.config.discovered_users else {
            return Ok(None);
        };
        let code = &self.config.site_code;
        let requester = requester.ok_or_else(|| users::no_requester(code))?;
        let lookup = Lookup::of(requester);
        let found = discovered.iter().find(|user| lookup.matches(user));
        users::check(code, self.config.version, requester, found).map(Some)
    }

    /// The collection and, when asked and the version has it (2010 and later), its descendants.
    fn scope_collections(&self) -> Option<HashSet<String>> {
        let UploadScope::Collection {
            collection_id,
            include_child_collections,
            ..
        } = &self.config.upload_scope
        else {
            return None;
        };
        let mut scope: HashSet<String> = HashSet::from([collection_id.clone()]);
        if *include_child_collections && self.config.version >= 2010 {
            loop {
                let before = scope.len();
                for node in &self.collections {
                    if node.parent.as_ref().is_some_and(|p| scope.contains(p)) {
                        scope.insert(node.id.clone());
                    }
                }
                if scope.len() == before {
                    break;
                }
            }
        }
        Some(scope)
    }

    /// The devices the upload scope lets up to the cloud.
    pub fn devices_in_scope(&self) -> Vec<SiteDevice> {
        let scope = self.scope_collections();
        self.devices
            .iter()
            .filter(|d| match &scope {
                None => true,
                Some(scope) => d.device.collections.iter().any(|c| scope.contains(&c.id)),
            })
            .map(|d| d.device.clone())
            .collect()
    }

    pub fn set_upload_scope(&mut self, scope: UploadScope) {
        self.config.upload_scope = scope;
    }

    pub fn device(&self, id: &str) -> Option<&SimulatedDevice> {
        self.devices.iter().find(|d| d.device.id == id)
    }

    /// A client asked the site for its policy (as a machine policy retrieval makes it do): its
    /// last policy request and last active time are now. The device as the site would upload it
    /// next, if it is in the upload scope.
    pub fn record_policy_request(&mut self, id: &str) -> Option<SiteDevice> {
        let now = rfc3339(OffsetDateTime::now_utc());
        let device = self.devices.iter_mut().find(|d| d.device.id == id)?;
        device.device.last_policy_request_date_time = Some(now.clone());
        device.device.last_active_date_time = Some(now);
        self.devices_in_scope().into_iter().find(|d| d.id == id)
    }

    /// A client action's latency, drawn from the configured bounds.
    pub fn latency(&mut self) -> Duration {
        let (low, high) = self.config.latency;
        if high <= low {
            return low;
        }
        self.rng.gen_range(low..=high)
    }

    /// Some devices change, one may join and one may leave: the delta the site uploads, limited
    /// to what is in scope.
    pub fn churn(&mut self, changes: usize) -> DeviceDelta {
        let now = OffsetDateTime::now_utc();
        let before: HashSet<String> = self.devices_in_scope().into_iter().map(|d| d.id).collect();
        let mut touched = HashSet::new();
        for _ in 0..changes.min(self.devices.len()) {
            let index = self.rng.gen_range(0..self.devices.len());
            let state = *[
                ComplianceState::Compliant,
                ComplianceState::Noncompliant,
                ComplianceState::InGracePeriod,
            ]
            .choose(&mut self.rng)
            .expect("states");
            let device = &mut self.devices[index].device;
            if device.managed_by != ManagedBy::ConfigMgr {
                device.compliance_state = state;
            }
            device.last_active_date_time = Some(rfc3339(now));
            device.last_policy_request_date_time = Some(rfc3339(now));
            touched.insert(device.id.clone());
        }
        let mut removals = Vec::new();
        if self.devices.len() > 1 && self.rng.gen_bool(0.3) {
            let gone = self
                .devices
                .remove(self.rng.gen_range(0..self.devices.len()));
            touched.remove(&gone.device.id);
            if before.contains(&gone.device.id) {
                removals.push(gone.device.id);
            }
        }
        if self.rng.gen_bool(0.5) {
            let joined = self.make_device(now);
            touched.insert(joined.device.id.clone());
            self.devices.push(joined);
        }
        let upserts = self
            .devices_in_scope()
            .into_iter()
            .filter(|d| touched.contains(&d.id))
            .collect();
        DeviceDelta { upserts, removals }
    }

    fn make_device(&mut self, now: OffsetDateTime) -> SimulatedDevice {
        let rng = &mut self.rng;
        let number = self.next_number;
        self.next_number += 1;
        let code = &self.config.site_code;
        let &(manufacturer, model, prefix) = MODELS.choose(rng).expect("models");
        let server = prefix == "SRV";
        let os = *if server { SERVER_OS } else { WORKSTATION_OS }
            .choose(rng)
            .expect("builds");
        let first = *FIRST_NAMES.choose(rng).expect("names");
        let last = *LAST_NAMES.choose(rng).expect("names");
        let user = (!server).then(|| {
            (
                format!(
                    "{}.{}@contoso.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                format!("{first} {last}"),
            )
        });
        let managed_by = if rng.gen_bool(self.config.co_managed_share) {
            ManagedBy::CoManaged
        } else if rng.gen_bool(0.9) {
            ManagedBy::ConfigMgr
        } else {
            ManagedBy::Intune
        };
        let compliance_state = match (managed_by, rng.gen_range(0..10)) {
            (ManagedBy::ConfigMgr, _) => ComplianceState::ConfigManager,
            (_, 0) => ComplianceState::Noncompliant,
            (_, 1) => ComplianceState::InGracePeriod,
            (_, 2) => ComplianceState::Unknown,
            _ => ComplianceState::Compliant,
        };
        let last_active = now - time::Duration::minutes(rng.gen_range(5..60 * 24 * 20));
        let serial: String = (0..8)
            .map(|_| {
                *b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
                    .choose(rng)
                    .expect("alphabet") as char
            })
            .collect();
        let mut member_of = vec!["SMS00001".to_owned()];
        if server {
            member_of.push(format!("{code}00020"));
        } else {
            member_of.push(format!("{code}00010"));
            if os.1.starts_with("10.0.22631") || os.1.starts_with("10.0.26100") {
                member_of.push(format!("{code}00011"));
            }
            if os.1.starts_with("10.0.26100") {
                member_of.push(format!("{code}00012"));
            }
            if rng.gen_bool(0.15) {
                member_of.push(format!("{code}00013"));
            }
        }
        let collections = member_of
            .iter()
            .filter_map(|id| self.collections.iter().find(|c| &c.id == id))
            .map(|c| DeviceCollection {
                id: c.id.clone(),
                name: c.name.clone(),
            })
            .collect();
        let client = if rng.gen_bool(self.config.offline_share) {
            if rng.gen_bool(0.5) {
                ClientState::OfflineFails
            } else {
                ClientState::OfflineSilent
            }
        } else {
            ClientState::Online
        };
        let id_bytes: [u8; 16] = rng.gen();
        let client_guid: [u8; 16] = rng.gen();
        let device = SiteDevice {
            id: uuid::Builder::from_random_bytes(id_bytes)
                .into_uuid()
                .to_string(),
            device_name: format!("{code}-{prefix}-{number:04}"),
            managed_by,
            owner_type: if server || rng.gen_bool(0.9) {
                OwnerType::Company
            } else {
                OwnerType::Personal
            },
            compliance_state,
            operating_system: Some(os.0.into()),
            os_version: Some(os.1.into()),
            user_principal_name: user.as_ref().map(|u| u.0.clone()),
            user_display_name: user.map(|u| u.1),
            enrolled_date_time: Some(rfc3339(now - time::Duration::days(rng.gen_range(30..900)))),
            serial_number: Some(serial),
            manufacturer: Some(manufacturer.into()),
            model: Some(model.into()),
            azure_ad_device_id: (managed_by != ManagedBy::ConfigMgr).then(|| {
                uuid::Builder::from_random_bytes(rng.gen())
                    .into_uuid()
                    .to_string()
            }),
            domain_name: Some(self.config.domain.clone()),
            sku: Some(os.2.into()),
            configuration_manager_client_information: Some(ConfigurationManagerClientInformation {
                client_identifier: format!(
                    "GUID:{}",
                    uuid::Builder::from_random_bytes(client_guid)
                        .into_uuid()
                        .to_string()
                        .to_uppercase()
                ),
                client_version: Some((*CLIENT_VERSIONS.choose(rng).expect("versions")).into()),
                is_blocked: false,
            }),
            client_health_state: match client {
                ClientState::Online if rng.gen_bool(0.95) => ClientHealthState::Healthy,
                ClientState::Online => ClientHealthState::Unknown,
                _ => ClientHealthState::Unhealthy,
            },
            last_policy_request_date_time: Some(rfc3339(last_active - time::Duration::minutes(2))),
            last_active_date_time: Some(rfc3339(last_active)),
            collections,
        };
        SimulatedDevice { device, client }
    }
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
        let requester_at_site = match self.check_requester(action.requested_by.as_ref()) {
            Ok(seen) => seen,
            Err(reason) => {
                let refused = ActionResult {
                    succeeded: false,
                    result_code: users::ACCESS_DENIED,
                    result_message: Some(reason),
                    requester_at_site: None,
                };
                return futures::future::ready(Started::Refused(refused)).boxed();
            }
        };
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
                requester_at_site: requester_at_site.clone(),
            }),
            Some(ClientState::OfflineFails) | None => Some(ActionResult {
                succeeded: false,
                result_code: RPC_SERVER_UNAVAILABLE,
                result_message: Some("The client could not be reached (0x800706BA).".into()),
                requester_at_site,
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

    /// Readings come from what the site holds (a quarter of the client's latency); CMPivot and
    /// scripts run on the client, which answers after its latency, fails when it is offline, or
    /// never answers.
    fn answer(
        &mut self,
        request: &SiteRequestWork,
    ) -> BoxFuture<'static, Option<SiteRequestOutcome>> {
        let (outcome, latency) = self.answer_request(request);
        async move {
            let outcome = outcome?;
            tokio::time::sleep(latency).await;
            Some(outcome)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(version: u32, scope: UploadScope) -> SimulatedHierarchy {
        let mut config = HierarchyConfig::new("Test", "TST", version, 300, 7);
        config.upload_scope = scope;
        SimulatedHierarchy::new(config)
    }

    #[test]
    fn the_same_seed_makes_the_same_hierarchy() {
        let a = hierarchy(2207, UploadScope::AllDevices);
        let b = hierarchy(2207, UploadScope::AllDevices);
        let ids = |h: &SimulatedHierarchy| {
            h.devices
                .iter()
                .map(|d| d.device.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.devices.len(), 300);
    }

    #[test]
    fn child_collections_count_only_from_2010() {
        let scope = UploadScope::Collection {
            collection_id: "TST00011".into(),
            collection_name: "Windows 11 Workstations".into(),
            include_child_collections: true,
        };
        let all = hierarchy(2207, UploadScope::AllDevices).devices_in_scope();
        let with_children = hierarchy(2010, scope.clone()).devices_in_scope();
        let without = hierarchy(2006, scope).devices_in_scope();
        assert!(!without.is_empty());
        assert!(
            without.len() < with_children.len(),
            "Finance's Windows 10 devices come in with children"
        );
        assert!(with_children.len() < all.len(), "servers stay out");
        assert!(without
            .iter()
            .all(|d| d.collections.iter().any(|c| c.id == "TST00011")));
    }

    #[test]
    fn old_sites_leave_out_the_details() {
        let old = hierarchy(2002, UploadScope::AllDevices).site_info();
        assert_eq!(old.service_connection_point, None);
        assert_eq!(old.upload_scope, None);
        let new = hierarchy(2103, UploadScope::AllDevices).site_info();
        assert!(new.service_connection_point.is_some());
        assert_eq!(new.endpoint_analytics_enabled, Some(true));
    }

    /// With a list of discovered users the simulated site applies tenant attach's rule for its
    /// version, as a real site's connector does; without one it checks nobody.
    #[tokio::test]
    async fn a_site_with_discovered_users_acts_only_for_them() {
        use admin_api::protocol::Requester;
        let requester = |upn: &str| Requester {
            display_name: upn.into(),
            user_principal_name: upn.into(),
            object_id: None,
            onprem_sid: None,
        };
        let mut config = HierarchyConfig::new("Test", "TST", 2010, 20, 7);
        config.offline_share = 0.0;
        config.latency = (Duration::ZERO, Duration::ZERO);
        config.discovered_users = Some(vec![
            DiscoveredUser::new("CONTOSO\\ada", "ada@contoso.com", true, true),
            DiscoveredUser::new("CONTOSO\\bob", "bob@contoso.com", true, false),
        ]);
        let mut site = SimulatedHierarchy::new(config);
        assert_eq!(site.site_info().checks_users, Some(true));
        let device_id = site.devices[0].device.id.clone();
        let action = |by: Option<Requester>| SiteAction {
            id: "a1".into(),
            device_id: device_id.clone(),
            action: ConfigurationManagerActionType::RefreshMachinePolicy,
            requested_by: by,
        };
        match site
            .start(&action(Some(requester("ada@contoso.com"))))
            .await
        {
            Started::Accepted(answer) => {
                let result = answer.await.unwrap().result;
                assert!(result.succeeded);
                assert_eq!(result.requester_at_site.as_deref(), Some("CONTOSO\\ada"));
            }
            Started::Refused(result) => panic!("{:?}", result.result_message),
        }
        for (by, reason) in [
            (
                Some(requester("bob@contoso.com")),
                "by Active Directory user discovery only",
            ),
            (
                Some(requester("eve@contoso.com")),
                "has not discovered eve@contoso.com",
            ),
            (None, "did not say who asked"),
        ] {
            match site.start(&action(by)).await {
                Started::Refused(result) => {
                    assert_eq!(result.result_code, users::ACCESS_DENIED);
                    let message = result.result_message.unwrap();
                    assert!(message.contains(reason), "{message}");
                }
                Started::Accepted(_) => panic!("{reason}: accepted"),
            }
        }
        let unchecked = SimulatedHierarchy::new(HierarchyConfig::new("Test", "TST", 2207, 5, 7));
        assert_eq!(unchecked.site_info().checks_users, Some(false));
    }

    #[test]
    fn churn_stays_in_scope() {
        let mut h = hierarchy(2207, UploadScope::AllDevices);
        let delta = h.churn(10);
        assert!(!delta.upserts.is_empty());
        let ids: HashSet<_> = h.devices_in_scope().into_iter().map(|d| d.id).collect();
        assert!(delta.upserts.iter().all(|d| ids.contains(&d.id)));
        assert!(delta.removals.iter().all(|id| !ids.contains(id)));
    }
}
