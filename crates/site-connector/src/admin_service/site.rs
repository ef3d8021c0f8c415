//! A real site as a [`DeviceSource`]: its information from `SMS_Site`, its devices read page by
//! page (keyset by ResourceID, so memory stays bounded whatever the site's size), deltas against
//! a kept snapshot, and actions as client notifications (`SMS_ClientOperation`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use admin_api::collection::odata_string;
use admin_api::protocol::{
    ActionResult, DeviceDelta, Requester, SiteAction, SiteDevice, SiteInfo, SiteRequestOutcome,
    SiteRequestWork,
};
use admin_api::{Cloud, ConfigurationManagerActionType, DeviceCollection, UploadScope};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::checks::AdminCenter;
use super::requests;
use super::wmi::{self, DeviceRecord, Row};
use super::{AdminService, AdminServiceError};
use crate::hierarchy::RPC_SERVER_UNAVAILABLE;
use crate::source::{label, DeviceSource, Finished, Started};
use connector_protocol::users::{self, DiscoveredUser, Lookup};

/// All systems: every device of a site is a member.
pub const ALL_SYSTEMS: &str = "SMS00001";

/// The result codes the connector reports for what the site said.
pub mod codes {
    /// E_FAIL: the client ran the action and reported a failure.
    pub const FAILED: i64 = 0x8000_4005_u32 as i32 as i64;
    /// E_ACCESSDENIED: the site refused the account the client notification.
    pub const ACCESS_DENIED: i64 = 0x8007_0005_u32 as i32 as i64;
    /// ERROR_TIMEOUT: no answer before the deadline.
    pub const TIMEOUT: i64 = 0x8007_05B4_u32 as i32 as i64;
    /// WBEM_E_NOT_FOUND: the site has no such device (any more).
    pub const NOT_FOUND: i64 = 0x8004_1002_u32 as i32 as i64;
}

/// How a real site is read and acted on.
#[derive(Debug, Clone)]
pub struct RealSiteOptions {
    /// One collection (and, from 2010, its child collections) instead of all devices.
    pub collection: Option<String>,
    pub include_child_collections: bool,
    /// Devices read per AdminService query.
    pub page_size: usize,
    /// When an action that the site took and the client never answered counts as failed.
    pub action_deadline: Duration,
    /// How often an action's status is read.
    pub status_every: Duration,
    /// Where the snapshot of the last upload is kept (a delta is what differs from it).
    pub state_folder: Option<PathBuf>,
    /// The admin center, for the connectivity checks reported with the site's information.
    pub admin_center: Option<AdminCenter>,
    /// Check that the user who asked for an action is one the site discovered (tenant attach's
    /// rule; `--user-check off` turns it off).
    pub user_check: bool,
    /// How long a user's lookup at the site is kept.
    pub user_lookup_kept: Duration,
}

impl Default for RealSiteOptions {
    fn default() -> Self {
        Self {
            collection: None,
            include_child_collections: false,
            page_size: 500,
            action_deadline: Duration::from_secs(600),
            status_every: Duration::from_secs(5),
            state_folder: None,
            admin_center: None,
            user_check: true,
            user_lookup_kept: Duration::from_secs(300),
        }
    }
}

/// The snapshot's file name in the state folder.
pub const SNAPSHOT_FILE: &str = "device-snapshot.json";

/// A site read through its AdminService.
pub struct RealSite {
    service: AdminService,
    options: RealSiteOptions,
    hierarchy_id: String,
    version: u32,
    info: SiteInfo,
    /// Hashes of the devices as last uploaded, by device id.
    snapshot: Arc<Mutex<HashMap<String, String>>>,
    /// Hashes of the upload in progress, the snapshot once it lands.
    pending: Arc<Mutex<Option<HashMap<String, String>>>>,
    /// Requesters looked up at the site, and when (kept for `user_lookup_kept`).
    users: UserLookups,
}

/// What the site answered when a requester was looked up, by requester.
type UserLookups = Arc<Mutex<HashMap<Requester, (tokio::time::Instant, Option<DiscoveredUser>)>>>;

impl RealSite {
    /// Reads the site's information and checks the upload scope against it.
    pub async fn connect(service: AdminService, options: RealSiteOptions) -> anyhow::Result<Self> {
        let sites = service
            .query(
                "SMS_Site",
                &[
                    "SiteCode",
                    "SiteName",
                    "Version",
                    "BuildNumber",
                    "ReportingSiteCode",
                    "ServerName",
                ],
                None,
                None,
            )
            .await?;
        let top = sites
            .iter()
            .find(|site| wmi::text(site, "ReportingSiteCode").is_none())
            .or(sites.first())
            .ok_or_else(|| anyhow::anyhow!("the AdminService lists no site (SMS_Site is empty)"))?;
        let site_code = wmi::text(top, "SiteCode")
            .ok_or_else(|| anyhow::anyhow!("the site has no site code"))?;
        let build = wmi::uint(top, "BuildNumber")
            .or_else(|| wmi::text(top, "Version").and_then(|v| wmi::build_of_version(&v)))
            .ok_or_else(|| anyhow::anyhow!("the site {site_code} reports no build number"))?;
        let version = wmi::release_of_build(build).ok_or_else(|| {
            anyhow::anyhow!(
                "the site {site_code} runs build {build}, older than 1910: tenant attach through the AdminService needs 1910 or later"
            )
        })?;
        let server = wmi::text(top, "ServerName").unwrap_or_default();
        let hierarchy_id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("configmgr-hierarchy:{site_code}:{}", server.to_lowercase()).as_bytes(),
        )
        .to_string();
        let upload_scope = match &options.collection {
            None => UploadScope::AllDevices,
            Some(id) => {
                let found = service
                    .query(
                        "SMS_Collection",
                        &["CollectionID", "Name"],
                        Some(&format!("CollectionID eq {}", odata_string(id))),
                        Some(1),
                    )
                    .await?;
                let name = found
                    .first()
                    .and_then(|row| wmi::text(row, "Name"))
                    .ok_or_else(|| anyhow::anyhow!("the site has no collection {id}"))?;
                UploadScope::Collection {
                    collection_id: id.clone(),
                    collection_name: name,
                    include_child_collections: options.include_child_collections && version >= 2010,
                }
            }
        };
        let detailed = version > 2006;
        let info = SiteInfo {
            hierarchy_name: wmi::text(top, "SiteName").unwrap_or_else(|| site_code.clone()),
            site_code,
            site_version: version.to_string(),
            service_connection_point: detailed.then(super::host_name),
            cloud: detailed.then_some(Cloud::AzurePublicCloud),
            upload_scope: detailed.then_some(upload_scope),
            endpoint_analytics_enabled: None,
            connectivity_checks: None,
            checks_users: Some(options.user_check),
        };
        let snapshot = options
            .state_folder
            .as_ref()
            .map(|folder| load_snapshot(&folder.join(SNAPSHOT_FILE)))
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            service,
            options,
            hierarchy_id,
            version,
            info,
            snapshot: Arc::new(Mutex::new(snapshot)),
            pending: Arc::new(Mutex::new(None)),
            users: Arc::default(),
        })
    }

    pub fn info(&self) -> &SiteInfo {
        &self.info
    }

    fn reader(&self) -> Reader {
        Reader {
            service: self.service.clone(),
            page_size: self.options.page_size.max(1),
            collection: self.options.collection.clone(),
            include_children: self.options.include_child_collections && self.version >= 2010,
        }
    }
}

/// Reads the site's devices in pages.
#[derive(Clone)]
struct Reader {
    service: AdminService,
    page_size: usize,
    collection: Option<String>,
    include_children: bool,
}

/// Collection names by id, and the scope's collections (all devices when `None`).
type Collections = (HashMap<String, String>, Option<HashSet<String>>);

/// Where a reading of the site has got to.
struct Position {
    after: u32,
    done: bool,
    collections: Option<Collections>,
}

impl Reader {
    /// Every device in scope, page by page (pages with none in scope are skipped).
    fn devices(self) -> BoxStream<'static, anyhow::Result<Vec<SiteDevice>>> {
        let start = Position {
            after: 0,
            done: false,
            collections: None,
        };
        futures::stream::try_unfold(start, move |mut position| {
            let reader = self.clone();
            async move {
                if position.collections.is_none() {
                    position.collections = Some(reader.collections().await?);
                }
                while !position.done {
                    let page = reader.page(&mut position).await?;
                    if !page.is_empty() {
                        return Ok(Some((page, position)));
                    }
                }
                Ok(None)
            }
        })
        .boxed()
    }

    /// Collection names, and the scope: the collection and, when asked, the collections
    /// limited to it, to any depth (`LimitToCollectionID`).
    async fn collections(&self) -> anyhow::Result<Collections> {
        let rows = self
            .service
            .query(
                "SMS_Collection",
                &["CollectionID", "Name", "LimitToCollectionID"],
                None,
                None,
            )
            .await?;
        let mut names = HashMap::new();
        let mut limited_to: Vec<(String, String)> = Vec::new();
        for row in &rows {
            let Some(id) = wmi::text(row, "CollectionID") else {
                continue;
            };
            if let Some(parent) = wmi::text(row, "LimitToCollectionID") {
                limited_to.push((id.clone(), parent));
            }
            names.insert(id.clone(), wmi::text(row, "Name").unwrap_or(id));
        }
        let scope = self.collection.as_ref().map(|id| {
            let mut scope = HashSet::from([id.clone()]);
            if self.include_children {
                loop {
                    let before = scope.len();
                    for (child, parent) in &limited_to {
                        if scope.contains(parent) {
                            scope.insert(child.clone());
                        }
                    }
                    if scope.len() == before {
                        break;
                    }
                }
            }
            scope
        });
        Ok((names, scope))
    }

    /// The next page of systems, with what the other classes hold of them, in scope.
    async fn page(&self, position: &mut Position) -> anyhow::Result<Vec<SiteDevice>> {
        let filter = format!("ResourceId gt {} and Client eq 1", position.after);
        let mut systems = self
            .service
            .query(
                "SMS_R_System",
                &[
                    "ResourceId",
                    "Name",
                    "SMSUniqueIdentifier",
                    "Client",
                    "ClientVersion",
                    "OperatingSystemNameandVersion",
                    "Build",
                    "ResourceDomainORWorkgroup",
                    "CreationDate",
                    "AADDeviceID",
                ],
                Some(&filter),
                Some(self.page_size),
            )
            .await?;
        // Keyset paging needs the page in ResourceID order, whatever order it came in.
        let mut by_resource: BTreeMap<u32, Row> = BTreeMap::new();
        for row in systems.drain(..) {
            if let Some(id) = wmi::uint(&row, "ResourceId").filter(|id| *id > position.after) {
                by_resource.insert(id, row);
            }
        }
        let (Some(&low), Some(&high)) = (by_resource.keys().next(), by_resource.keys().last())
        else {
            position.done = true;
            return Ok(Vec::new());
        };
        // Fewer than a page: the last one.
        position.done = by_resource.len() < self.page_size;
        position.after = high;
        let range = |key: &str| format!("{key} ge {low} and {key} le {high}");
        let combined = self
            .keyed(
                "SMS_CombinedDeviceResources",
                "MachineID",
                &[
                    "MachineID",
                    "Name",
                    "CoManaged",
                    "DeviceOwner",
                    "DeviceOS",
                    "DeviceOSBuild",
                    "ClientVersion",
                    "ClientActiveStatus",
                    "IsClient",
                    "IsBlocked",
                    "LastPolicyRequest",
                    "LastActiveTime",
                    "AADDeviceID",
                    "Domain",
                ],
                &range("MachineID"),
            )
            .await?;
        let computers = self
            .keyed(
                "SMS_G_System_COMPUTER_SYSTEM",
                "ResourceID",
                &["ResourceID", "Manufacturer", "Model"],
                &range("ResourceID"),
            )
            .await?;
        let bioses = self
            .keyed(
                "SMS_G_System_PC_BIOS",
                "ResourceID",
                &["ResourceID", "SerialNumber"],
                &range("ResourceID"),
            )
            .await?;
        let mut memberships: HashMap<u32, Vec<String>> = HashMap::new();
        for row in self
            .service
            .query(
                "SMS_FullCollectionMembership",
                &["ResourceID", "CollectionID"],
                Some(&range("ResourceID")),
                None,
            )
            .await?
        {
            if let (Some(resource), Some(collection)) = (
                wmi::uint(&row, "ResourceID"),
                wmi::text(&row, "CollectionID"),
            ) {
                memberships.entry(resource).or_default().push(collection);
            }
        }
        let mut users: HashMap<u32, Vec<String>> = HashMap::new();
        for row in self
            .service
            .query(
                "SMS_UserMachineRelationship",
                &["ResourceID", "UniqueUserName", "IsActive"],
                Some(&format!("{} and IsActive eq true", range("ResourceID"))),
                None,
            )
            .await?
        {
            if let (Some(resource), Some(user)) = (
                wmi::uint(&row, "ResourceID"),
                wmi::text(&row, "UniqueUserName"),
            ) {
                users.entry(resource).or_default().push(user);
            }
        }
        let (names, scope) = position
            .collections
            .as_ref()
            .expect("collections are read first");
        let mut devices = Vec::with_capacity(by_resource.len());
        let mut combined = combined;
        let mut computers = computers;
        let mut bioses = bioses;
        for (resource, system) in by_resource {
            let mut member_of = memberships.remove(&resource).unwrap_or_default();
            member_of.sort();
            member_of.dedup();
            if let Some(scope) = scope {
                if !member_of.iter().any(|id| scope.contains(id)) {
                    continue;
                }
            }
            let mut primary_users = users.remove(&resource).unwrap_or_default();
            primary_users.sort();
            primary_users.dedup();
            let record = DeviceRecord {
                system,
                combined: combined.remove(&resource),
                computer: computers.remove(&resource),
                bios: bioses.remove(&resource),
                collections: member_of
                    .into_iter()
                    .map(|id| DeviceCollection {
                        name: names.get(&id).cloned().unwrap_or_else(|| id.clone()),
                        id,
                    })
                    .collect(),
                primary_users,
            };
            match wmi::site_device(&record) {
                Some(device) => devices.push(device),
                None => tracing::warn!(
                    resource,
                    "a device without a usable id or name was left out"
                ),
            }
        }
        Ok(devices)
    }

    /// Rows of a class by their ResourceID-like key.
    async fn keyed(
        &self,
        class: &str,
        key: &str,
        select: &[&str],
        filter: &str,
    ) -> anyhow::Result<HashMap<u32, Row>> {
        let rows = self
            .service
            .query(class, select, Some(filter), None)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((wmi::uint(&row, key)?, row)))
            .collect())
    }
}

/// A device's fingerprint in the snapshot.
fn hash(device: &SiteDevice) -> String {
    let bytes = serde_json::to_vec(device).expect("a device serializes");
    Sha256::digest(&bytes)[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn load_snapshot(path: &std::path::Path) -> anyhow::Result<HashMap<String, String>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            anyhow::anyhow!("{} is not a device snapshot: {error}", path.display())
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(error) => Err(error.into()),
    }
}

impl DeviceSource for RealSite {
    fn hierarchy_id(&self) -> String {
        self.hierarchy_id.clone()
    }

    fn version(&self) -> u32 {
        self.version
    }

    /// The site's information with fresh connectivity checks (sites after 2006).
    fn site_info(&mut self) -> BoxFuture<'static, anyhow::Result<Option<SiteInfo>>> {
        let mut info = self.info.clone();
        let service = self.service.clone();
        let center = self.options.admin_center.clone();
        let detailed = self.version > 2006;
        async move {
            if detailed {
                info.connectivity_checks =
                    Some(super::checks::run(&service, center.as_ref()).await);
            }
            Ok(Some(info))
        }
        .boxed()
    }

    /// Every device in scope; their hashes become the snapshot once the upload lands.
    fn device_pages(
        &mut self,
        batch_size: usize,
    ) -> BoxStream<'static, anyhow::Result<Vec<SiteDevice>>> {
        let pending = self.pending.clone();
        *pending.lock().expect("never poisoned") = Some(HashMap::new());
        let mut reader = self.reader();
        reader.page_size = reader.page_size.min(batch_size.max(1));
        reader
            .devices()
            .map(move |page| {
                let page = page?;
                if let Some(hashes) = pending.lock().expect("never poisoned").as_mut() {
                    for device in &page {
                        hashes.insert(device.id.clone(), hash(device));
                    }
                }
                Ok(page)
            })
            .boxed()
    }

    /// Reads the whole site (page by page) and keeps what differs from the snapshot: new and
    /// changed devices, and the ids of those no longer in scope.
    fn delta(&mut self) -> BoxFuture<'static, anyhow::Result<DeviceDelta>> {
        let reader = self.reader();
        let snapshot = self.snapshot.clone();
        let pending = self.pending.clone();
        async move {
            let mut seen = HashMap::new();
            let mut upserts = Vec::new();
            let mut pages = reader.devices();
            while let Some(page) = pages.next().await {
                let page = page?;
                // Compared under the lock, never copied: the snapshot holds every device.
                let known = snapshot.lock().expect("never poisoned");
                for device in page {
                    let fingerprint = hash(&device);
                    if known.get(&device.id) != Some(&fingerprint) {
                        upserts.push(device.clone());
                    }
                    seen.insert(device.id, fingerprint);
                }
            }
            let removals: Vec<String> = snapshot
                .lock()
                .expect("never poisoned")
                .keys()
                .filter(|id| !seen.contains_key(*id))
                .cloned()
                .collect();
            *pending.lock().expect("never poisoned") = Some(seen);
            Ok(DeviceDelta { upserts, removals })
        }
        .boxed()
    }

    fn has_snapshot(&self) -> bool {
        !self.snapshot.lock().expect("never poisoned").is_empty()
    }

    fn upload_landed(&mut self) {
        let Some(landed) = self.pending.lock().expect("never poisoned").take() else {
            return;
        };
        if let Some(folder) = &self.options.state_folder {
            let bytes = serde_json::to_vec(&landed).expect("a snapshot serializes");
            if let Err(error) = crate::secret_file::write(&folder.join(SNAPSHOT_FILE), &bytes) {
                tracing::error!(%error, "could not save the device snapshot; the next delta may resend devices");
            }
        }
        *self.snapshot.lock().expect("never poisoned") = landed;
    }

    fn start(&mut self, action: &SiteAction) -> BoxFuture<'static, Started> {
        let service = self.service.clone();
        let action = action.clone();
        let deadline = self.options.action_deadline;
        let every = self.options.status_every;
        let check = self.user_check();
        async move {
            let seen = match check {
                Some(check) => match check
                    .requester(&service, action.requested_by.as_ref())
                    .await
                {
                    Ok(seen) => Some(seen),
                    Err(refused) => return Started::Refused(refused),
                },
                None => None,
            };
            start(service, action, seen, deadline, every).await
        }
        .boxed()
    }

    /// Checks the requester as for an action, finds the device, then asks the site (see
    /// [`requests`]).
    fn answer(
        &mut self,
        request: &SiteRequestWork,
    ) -> BoxFuture<'static, Option<SiteRequestOutcome>> {
        let service = self.service.clone();
        let request = request.clone();
        let check = self.user_check();
        let following = requests::Following {
            every: self.options.status_every,
            deadline: self.options.action_deadline,
        };
        async move {
            let page = request.kind.page();
            let seen = match check {
                Some(check) => match check
                    .requester(&service, request.requested_by.as_ref())
                    .await
                {
                    Ok(seen) => Some(seen),
                    Err(refused) => {
                        return Some(SiteRequestOutcome::failed(
                            refused.result_message.unwrap_or_default(),
                        ))
                    }
                },
                None => None,
            };
            let resource = match resource_of(&service, &request.device_id).await {
                Ok(Some(resource)) => resource,
                Ok(None) => {
                    return Some(SiteRequestOutcome::failed(format!(
                        "The site no longer has this device: {page} cannot be read."
                    )))
                }
                Err(error) => {
                    return Some(SiteRequestOutcome::failed(format!(
                        "The site refused {page}: {error}"
                    )))
                }
            };
            requests::answer(&service, &request, resource, seen, following).await
        }
        .boxed()
    }
}

impl RealSite {
    fn user_check(&self) -> Option<UserCheck> {
        self.options.user_check.then(|| UserCheck {
            site_code: self.info.site_code.clone(),
            version: self.version,
            lookups: self.users.clone(),
            kept: self.options.user_lookup_kept,
        })
    }
}

/// The client notification type of an action.
pub fn notification_type(action: ConfigurationManagerActionType) -> u32 {
    match action {
        ConfigurationManagerActionType::RefreshMachinePolicy => 8,
        ConfigurationManagerActionType::RefreshUserPolicy => 9,
        ConfigurationManagerActionType::AppEvaluation => 13,
    }
}

fn failed(result_code: i64, message: String) -> ActionResult {
    ActionResult {
        succeeded: false,
        result_code,
        result_message: Some(message),
        requester_at_site: None,
    }
}

/// Tenant attach's check of the requester at this site.
struct UserCheck {
    site_code: String,
    version: u32,
    lookups: UserLookups,
    kept: Duration,
}

impl UserCheck {
    /// The name the site knows the requester by, or the failed result that ends the action: a
    /// user the site has not discovered as its version needs, or a site that could not say.
    async fn requester(
        &self,
        service: &AdminService,
        requester: Option<&Requester>,
    ) -> Result<String, ActionResult> {
        let Some(requester) = requester else {
            return Err(failed(
                users::ACCESS_DENIED,
                users::no_requester(&self.site_code),
            ));
        };
        let kept = self
            .lookups
            .lock()
            .expect("never poisoned")
            .get(requester)
            .filter(|(at, _)| at.elapsed() < self.kept)
            .map(|(_, found)| found.clone());
        let found = match kept {
            Some(found) => found,
            None => {
                let found = find_user(service, &Lookup::of(requester))
                    .await
                    .map_err(|error| {
                        failed(
                            codes::FAILED,
                            format!(
                                "The site {} could not say whether it discovered {}, so the action was not run: {error}",
                                self.site_code, requester.user_principal_name
                            ),
                        )
                    })?;
                let mut lookups = self.lookups.lock().expect("never poisoned");
                // Bounded: a connector serves one tenant's operators; past that it starts over.
                if lookups.len() >= 10_000 {
                    lookups.clear();
                }
                lookups.insert(
                    requester.clone(),
                    (tokio::time::Instant::now(), found.clone()),
                );
                found
            }
        };
        users::check(&self.site_code, self.version, requester, found.as_ref())
            .map_err(|reason| failed(users::ACCESS_DENIED, reason))
    }
}

/// The user resource a lookup finds at the site (`SMS_R_User`), if any.
async fn find_user(
    service: &AdminService,
    lookup: &Lookup<'_>,
) -> Result<Option<DiscoveredUser>, AdminServiceError> {
    let (property, value) = match lookup {
        Lookup::ObjectId(id) => ("AADUserID", *id),
        Lookup::Sid(sid) => ("SID", *sid),
        Lookup::UserPrincipalName(upn) => ("UserPrincipalName", *upn),
    };
    let rows = service
        .query(
            "SMS_R_User",
            &[
                "ResourceId",
                "UniqueUserName",
                "UserPrincipalName",
                "AADUserID",
                "SID",
                "AgentName",
            ],
            Some(&format!("{property} eq {}", odata_string(value))),
            Some(1),
        )
        .await?;
    Ok(rows.first().map(|row| DiscoveredUser {
        unique_user_name: wmi::text(row, "UniqueUserName")
            .or_else(|| wmi::text(row, "UserPrincipalName"))
            .unwrap_or_else(|| value.to_owned()),
        user_principal_name: wmi::text(row, "UserPrincipalName"),
        object_id: wmi::text(row, "AADUserID"),
        sid: wmi::text(row, "SID"),
        agents: row
            .get("AgentName")
            .and_then(serde_json::Value::as_array)
            .map(|agents| {
                agents
                    .iter()
                    .filter_map(|agent| agent.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

async fn start(
    service: AdminService,
    action: SiteAction,
    seen: Option<String>,
    deadline: Duration,
    every: Duration,
) -> Started {
    let name = label(action.action);
    let resource = match resource_of(&service, &action.device_id).await {
        Ok(resource) => resource,
        Err(error) => return Started::Refused(refusal(name, &error)),
    };
    let Some(resource) = resource else {
        return Started::Refused(failed(
            codes::NOT_FOUND,
            format!("{name} was not sent: the site no longer has this device."),
        ));
    };
    let parameters = json!({
        "TargetCollectionID": ALL_SYSTEMS,
        "Type": notification_type(action.action),
        "TargetResourceIDs": [resource],
        "RandomizationWindow": 1,
    });
    let out = match service
        .invoke(
            "SMS_ClientOperation",
            "InitiateClientOperation",
            &parameters,
        )
        .await
    {
        Ok(out) => out,
        Err(error) => return Started::Refused(refusal(name, &error)),
    };
    let returned = wmi::int(&out, "ReturnValue").unwrap_or(0);
    let operation = wmi::uint(&out, "OperationID");
    let (0, Some(operation)) = (returned, operation) else {
        return Started::Refused(failed(
            if returned == 0 { codes::FAILED } else { returned },
            format!("{name} was not sent: the site answered ReturnValue {returned} without an operation."),
        ));
    };
    tracing::info!(action = %action.id, operation, resource, "client notification sent");
    Started::Accepted(follow(service, operation, name, seen, deadline, every).boxed())
}

/// The device's ResourceID at the site: in its id, or looked up by its SMS unique identifier;
/// `None` when the site no longer has it.
async fn resource_of(
    service: &AdminService,
    device_id: &str,
) -> Result<Option<u32>, AdminServiceError> {
    if let Some(resource) = wmi::resource_of_id(device_id) {
        return Ok(Some(resource));
    }
    let rows = service
        .query(
            "SMS_R_System",
            &["ResourceId"],
            Some(&format!(
                "SMSUniqueIdentifier eq {}",
                odata_string(device_id)
            )),
            Some(1),
        )
        .await?;
    Ok(rows.first().and_then(|row| wmi::uint(row, "ResourceId")))
}

/// What the site said when it refused a client notification, as a failed result.
fn refusal(name: &str, error: &AdminServiceError) -> ActionResult {
    let code = match error.status() {
        Some(reqwest::StatusCode::FORBIDDEN) => codes::ACCESS_DENIED,
        _ => codes::FAILED,
    };
    failed(code, format!("The site refused {name}: {error}"))
}

/// Reads the operation's status until the client answered or the deadline passed.
async fn follow(
    service: AdminService,
    operation: u32,
    name: &'static str,
    seen: Option<String>,
    deadline: Duration,
    every: Duration,
) -> Option<Finished> {
    let answer = |mut result: ActionResult| {
        result.requester_at_site = seen.clone();
        Some(Finished { result, then: None })
    };
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let wait = every.min(until.saturating_duration_since(tokio::time::Instant::now()));
        tokio::time::sleep(wait).await;
        let status = service
            .query(
                &format!("SMS_ClientOperationStatus({operation})"),
                &[],
                None,
                None,
            )
            .await;
        let count = |row: &Row, name: &str| wmi::uint(row, name).unwrap_or(0);
        match status {
            Ok(rows) => {
                if let Some(row) = rows.first() {
                    let result = if count(row, "CompletedClients") > 0 {
                        Some(ActionResult {
                            succeeded: true,
                            result_code: 0,
                            result_message: Some(format!("{name} completed on the client.")),
                            requester_at_site: None,
                        })
                    } else if count(row, "FailedClients") > 0 {
                        Some(failed(
                            codes::FAILED,
                            format!("The client reported that {name} failed."),
                        ))
                    } else if count(row, "OfflineClients") > 0 {
                        Some(failed(
                            RPC_SERVER_UNAVAILABLE,
                            format!("The client is offline: the site could not notify it to run {name}."),
                        ))
                    } else if count(row, "NotApplicableClients") > 0 {
                        Some(failed(
                            codes::FAILED,
                            format!("The client cannot run {name} (not applicable)."),
                        ))
                    } else {
                        None
                    };
                    if let Some(result) = result {
                        return answer(result);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, operation, "could not read a client operation's status")
            }
        }
        if tokio::time::Instant::now() >= until {
            return answer(failed(
                codes::TIMEOUT,
                format!(
                    "The client did not answer within {}.",
                    humantime::format_duration(deadline)
                ),
            ));
        }
    }
}
