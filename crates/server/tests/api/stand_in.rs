//! An AdminService stand-in for the site connector's tests (never shipped): a Configuration
//! Manager site's SMS Provider as Microsoft documents it and public AdminService clients show it.
//! OData JSON (`@odata.context`, `value`, `@odata.nextLink` past a page limit), WMI system
//! properties on every object, case-insensitive class and property names under `wmi/`, `$select`,
//! `$filter` (eq, ne, gt, ge, lt, le, and, startswith), `$top`, key lookups (`Class(key)`),
//! `SMS_ClientOperation.InitiateClientOperation` and `SMS_ClientOperationStatus`; HTTPS with a
//! self-signed certificate; Windows authentication required per connection (Negotiate with NTLM,
//! accepted by the same SSPI library in server mode).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use sspi::{
    AuthIdentity, BufferType, CredentialUse, Credentials, DataRepresentation, Negotiate,
    NegotiateConfig, SecurityBuffer, SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
};

pub use connector_protocol::users::{ACTIVE_DIRECTORY_USER_DISCOVERY, ENTRA_USER_DISCOVERY};

pub const USER: &str = "CONTOSO\\svc-attach";
pub const PASSWORD: &str = "Corr3ct-Horse";
pub const SITE_CODE: &str = "PS1";
/// The first ResourceID the stand-in gives a device.
pub const FIRST_RESOURCE: u32 = 16_777_220;

/// The stand-in's approved scripts without parameters: one that answers, one that fails, one whose
/// output is markup.
pub const SCRIPT_DISK_SPACE: &str = "11111111-1111-4111-8111-111111111111";
pub const SCRIPT_FAILING: &str = "22222222-2222-4222-8222-222222222222";
pub const SCRIPT_HOSTILE: &str = "33333333-3333-4333-8333-333333333333";
/// What the hostile script writes.
pub const HOSTILE_OUTPUT: &str = "<script>alert('owned')</script>";

/// The stand-in's bits of the collection operations it names (Notify Resource last).
const NOTIFY_BITS: [u32; 6] = [1, 2, 4, 32, 4096, 1 << 22];

/// How a simulated client answers a client notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Online,
    Offline,
    Fails,
    Silent,
}

pub type Row = Map<String, Value>;

/// The site's data, which a test may change at any time.
#[derive(Default)]
pub struct Site {
    /// Rows by lower-case class name, keyed rows in key order.
    pub classes: BTreeMap<String, Vec<Row>>,
    pub clients: HashMap<u32, Client>,
    /// Every `InitiateClientOperation` body received.
    pub notifications: Vec<Value>,
    /// Answer client notifications with 403 and this message.
    pub refuse_notifications: Option<String>,
    operations: HashMap<u32, (u32, Client, u32)>,
    next_operation: u32,
    /// Every query received (path and query string).
    pub queries: Vec<String>,
    /// Rows a page holds before `@odata.nextLink` (the AdminService's own paging).
    pub page_limit: usize,
    /// The app registration its cloud management gateway accepts: client id and secret.
    pub app: Option<(String, String)>,
    /// A certificate registered with that app: its SHA-256 thumbprint (base64url, as a client
    /// assertion's `x5t#S256` names it) and its public key (PEM).
    pub app_certificate: Option<(String, Vec<u8>)>,
    /// Client assertions' ids (`jti`) already used: each is accepted once.
    used_assertions: std::collections::HashSet<String>,
    /// Lifetime of the tokens its Entra ID stand-in issues, in seconds.
    pub token_lifetime: u64,
    /// Tokens issued and when each expires.
    tokens: HashMap<String, std::time::Instant>,
    /// Token requests received.
    pub token_requests: usize,
    /// Close the connection after the next successful query.
    pub close_after_next: bool,
    /// CMPivot operations and script runs: (resource, what was asked, times its result was read).
    operations_v1: HashMap<u64, (u32, Value, u32)>,
    /// Answer `RunCMPivot` and `RunScript` with 403 and this message.
    pub refuse_runs: Option<String>,
    /// Rows of the CMPivot entity `Big` (each about 200 bytes): a result larger than an answer.
    pub big_result_rows: usize,
}

impl Site {
    /// Every token issued so far stops working (as after a key rollover).
    pub fn revoke_tokens(&mut self) {
        self.tokens.clear();
    }
}

/// Holds the n-th query of `SMS_R_System` until opened: a test can stop a connector in the
/// middle of reading the site.
#[derive(Default)]
pub struct Gate {
    pause_at: std::sync::atomic::AtomicUsize,
    seen: std::sync::atomic::AtomicUsize,
    reached: tokio::sync::Notify,
    open: tokio::sync::Notify,
}

impl Gate {
    /// Holds the `n`-th query of systems (from 1).
    pub fn pause_at(&self, n: usize) {
        self.pause_at.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until the held query has arrived.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held query (and every later one) through.
    pub fn open(&self) {
        self.pause_at.store(0, std::sync::atomic::Ordering::SeqCst);
        self.open.notify_waiters();
    }

    async fn pass(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let seen = self.seen.fetch_add(1, SeqCst) + 1;
        if seen == self.pause_at.load(SeqCst) {
            let opened = self.open.notified();
            self.reached.notify_one();
            opened.await;
        }
    }
}

pub struct StandIn {
    pub url: String,
    /// The Entra ID stand-in's authority (same server).
    pub authority: String,
    /// Its certificate (PEM), to trust it as a CA.
    pub certificate_pem: String,
    pub pin: String,
    pub site: Arc<Mutex<Site>>,
    pub gate: Arc<Gate>,
    seen: Arc<Mutex<(std::collections::HashSet<ConnectionId>, usize)>>,
    handle: axum_server::Handle<SocketAddr>,
}

impl StandIn {
    /// How many connections requests came on, and how many Negotiate handshakes began.
    pub fn connections_and_handshakes(&self) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        (seen.0.len(), seen.1)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn collection(id: &str, name: &str, limited_to: Option<&str>) -> Row {
    json!({"CollectionID": id, "Name": name, "LimitToCollectionID": limited_to})
        .as_object()
        .unwrap()
        .clone()
}

impl Site {
    /// A site at `build` (9088 = 2207) with `devices` clients: every fifth a server, the rest
    /// workstations; every third workstation in the pilot collection (limited to workstations),
    /// every seventh in Finance (limited to the pilot).
    pub fn with_devices(build: u32, devices: u32) -> Self {
        let mut site = Site {
            page_limit: 700,
            next_operation: 16_777_300,
            ..Site::default()
        };
        site.classes.insert(
            "sms_site".into(),
            vec![json!({
                "SiteCode": SITE_CODE, "SiteName": "Contoso Primary", "Version": format!("5.00.{build}.1000"),
                "BuildNumber": build, "ReportingSiteCode": "", "ServerName": "CM01.contoso.com", "Type": 2,
            })
            .as_object()
            .unwrap()
            .clone()],
        );
        site.classes.insert(
            "sms_collection".into(),
            vec![
                collection("SMS00001", "All Systems", None),
                collection("PS100010", "All Workstations", Some("SMS00001")),
                collection("PS100011", "Windows 11 Pilot", Some("PS100010")),
                collection("PS100012", "Finance Pilot", Some("PS100011")),
                collection("PS100020", "All Servers", Some("SMS00001")),
            ],
        );
        // Role-based administration: the operations of collections as the site names them (the
        // bit of each is the site's to say; the connector reads it), the account and its roles.
        let operations: Vec<Value> = [
            "Read",
            "Modify",
            "Delete",
            "Remote Control",
            "Read Resource",
            "Notify Resource",
        ]
        .iter()
        .enumerate()
        .map(|(index, name)| json!({"BitFlag": NOTIFY_BITS[index], "OperationName": name}))
        .collect();
        site.classes.insert(
            "sms_rbacsecuredobject".into(),
            vec![json!({"ObjectTypeID": 1, "ObjectTypeName": "SMS_Collection", "AvailableOperations": operations})
                .as_object()
                .unwrap()
                .clone()],
        );
        site.classes.insert(
            "sms_role".into(),
            vec![
                json!({"RoleID": "SMS0001R", "RoleName": "Full Administrator",
                       "Operations": [{"ObjectTypeID": 1, "GrantedOperations": NOTIFY_BITS.iter().sum::<u32>()}]}),
                json!({"RoleID": "SMS000AR", "RoleName": "Read-only Analyst",
                       "Operations": [{"ObjectTypeID": 1, "GrantedOperations": NOTIFY_BITS[0] + NOTIFY_BITS[4]}]}),
            ]
            .into_iter()
            .map(|role| role.as_object().unwrap().clone())
            .collect(),
        );
        site.set_roles(&["SMS0001R"]);
        let script = |guid: &str, name: &str, approval: u32, params: Option<&str>| {
            json!({
                "ScriptGuid": guid, "ScriptName": name, "Author": "CONTOSO\\cm-admin", "ApprovalState": approval,
                "ParamsDefinition": params, "Comment": format!("{name}, as the site keeps it."),
                "LastUpdateTime": "2026-10-14T08:30:00Z",
            })
            .as_object()
            .unwrap()
            .clone()
        };
        site.classes.insert(
            "sms_scripts".into(),
            vec![
                script(SCRIPT_DISK_SPACE, "Get free disk space", 3, None),
                script(SCRIPT_FAILING, "Repair WMI repository", 3, None),
                script(SCRIPT_HOSTILE, "Show a banner", 3, Some("")),
                script(
                    "44444444-4444-4444-8444-444444444444",
                    "Not approved yet",
                    1,
                    None,
                ),
                script(
                    "55555555-5555-4555-8555-555555555555",
                    "Takes parameters",
                    3,
                    Some("PFBhcmFtZXRlcnM+"),
                ),
            ],
        );
        site.classes.insert("sms_cmpivotstatus".into(), Vec::new());
        for index in 0..devices {
            site.add_device(index);
        }
        // The tests' administrator, discovered by both user discovery methods: their actions
        // pass the site's check of who asked.
        site.add_user(
            "CONTOSO\\admin",
            crate::helpers::ADMIN,
            None,
            None,
            &[ACTIVE_DIRECTORY_USER_DISCOVERY, ENTRA_USER_DISCOVERY],
        );
        site
    }

    /// A user the site discovered (`SMS_R_User`): by the discovery agents `agents`.
    pub fn add_user(
        &mut self,
        unique_user_name: &str,
        user_principal_name: &str,
        object_id: Option<&str>,
        sid: Option<&str>,
        agents: &[&str],
    ) {
        let users = self.classes.entry("sms_r_user".into()).or_default();
        let resource = 2_063_597_568 + users.len() as u64;
        users.push(
            json!({
                "ResourceId": resource, "ResourceType": 4, "UniqueUserName": unique_user_name,
                "UserName": unique_user_name.rsplit('\\').next(), "UserPrincipalName": user_principal_name,
                "AADUserID": object_id, "SID": sid, "AgentName": agents,
            })
            .as_object()
            .unwrap()
            .clone(),
        );
    }

    /// The security roles of the connector's account.
    pub fn set_roles(&mut self, roles: &[&str]) {
        self.classes.insert(
            "sms_admin".into(),
            vec![
                json!({"AdminID": 16777217, "LogonName": USER, "Roles": roles})
                    .as_object()
                    .unwrap()
                    .clone(),
            ],
        );
    }

    /// Adds device number `index` (its ResourceID is `FIRST_RESOURCE + index`).
    pub fn add_device(&mut self, index: u32) {
        let resource = FIRST_RESOURCE + index;
        let server = index % 5 == 4;
        let name = if server {
            format!("SRV-{index:05}")
        } else {
            format!("PC-{index:05}")
        };
        let co_managed = index.is_multiple_of(2) && !server;
        let guid = format!(
            "GUID:{:08X}-0000-4000-8000-{:012X}",
            index,
            u64::from(index) * 7
        );
        let row = |value: Value| value.as_object().unwrap().clone();
        let push = |site: &mut Site, class: &str, value: Value| {
            site.classes
                .entry(class.into())
                .or_default()
                .push(row(value))
        };
        push(
            self,
            "sms_r_system",
            json!({
                "ResourceId": resource, "Name": name, "SMSUniqueIdentifier": guid, "Client": 1, "Obsolete": 0,
                "ClientVersion": "5.00.9088.1007",
                "OperatingSystemNameandVersion": if server { "Microsoft Windows NT Server 10.0" } else { "Microsoft Windows NT Workstation 10.0" },
                "Build": if server { "10.0.20348" } else { "10.0.22631" },
                "ResourceDomainORWorkgroup": "CONTOSO", "CreationDate": "2023-05-04T08:09:10Z",
                "AADDeviceID": null,
            }),
        );
        push(
            self,
            "sms_combineddeviceresources",
            json!({
                "MachineID": resource, "ResourceID": resource, "Name": name, "CoManaged": co_managed,
                "DeviceOwner": if index % 11 == 3 { 2 } else { 1 },
                "DeviceOS": "Microsoft Windows NT Workstation 10.0", "DeviceOSBuild": if server { "10.0.20348.2340" } else { "10.0.22631.3447" },
                "ClientVersion": "5.00.9088.1007", "ClientActiveStatus": if index % 13 == 5 { 0 } else { 1 },
                "IsClient": true, "IsBlocked": false,
                "LastPolicyRequest": "2026-11-29T10:00:00Z", "LastActiveTime": "20261129110000.000000+000",
                "AADDeviceID": if co_managed { Value::from(format!("{:08x}-1111-4222-8333-{:012x}", index, index)) } else { Value::Null },
                "Domain": "contoso.com",
            }),
        );
        push(
            self,
            "sms_g_system_computer_system",
            json!({
                "ResourceID": resource, "Manufacturer": if server { "HPE" } else { "Dell Inc." }, "Model": if server { "ProLiant DL380 Gen10" } else { "Latitude 7440" },
            }),
        );
        push(
            self,
            "sms_g_system_pc_bios",
            json!({"ResourceID": resource, "SerialNumber": format!("SN{index:06}")}),
        );
        push(
            self,
            "sms_g_system_operating_system",
            json!({
                "ResourceID": resource, "GroupID": 1, "Caption": if server { "Microsoft Windows Server 2022 Standard" } else { "Microsoft Windows 11 Enterprise" },
                "Version": if server { "10.0.20348" } else { "10.0.22631" }, "TimeStamp": "2026-11-28T09:00:00Z",
            }),
        );
        push(
            self,
            "sms_g_system_logical_disk",
            json!({"ResourceID": resource, "GroupID": 1, "DeviceID": "C:", "FileSystem": "NTFS", "Size": 488_281, "FreeSpace": 120_000 + index, "TimeStamp": "2026-11-29T09:00:00Z"}),
        );
        for (number, product) in [
            "Microsoft Edge",
            "7-Zip 23.01 (x64)",
            "Configuration Manager Client",
        ]
        .iter()
        .enumerate()
        {
            push(
                self,
                "sms_g_system_installed_software",
                json!({"ResourceID": resource, "GroupID": number + 1, "ProductName": product, "Publisher": "Contoso", "TimeStamp": "2026-11-29T09:00:00Z"}),
            );
        }
        let mut member_of = vec!["SMS00001"];
        if server {
            member_of.push("PS100020");
        } else {
            member_of.push("PS100010");
            if index.is_multiple_of(3) {
                member_of.push("PS100011");
            }
            if index.is_multiple_of(7) {
                member_of.push("PS100012");
            }
        }
        for id in member_of {
            push(
                self,
                "sms_fullcollectionmembership",
                json!({"ResourceID": resource, "CollectionID": id}),
            );
        }
        if !server {
            let user = if index.is_multiple_of(4) {
                format!("AzureAD\\user{index}@contoso.com")
            } else {
                format!("CONTOSO\\user{index}")
            };
            push(
                self,
                "sms_usermachinerelationship",
                json!({
                    "ResourceID": resource, "UniqueUserName": user, "IsActive": true, "Types": [1],
                }),
            );
        }
        self.clients.insert(resource, Client::Online);
    }

    /// Removes a device from every class.
    pub fn remove_device(&mut self, resource: u32) {
        for rows in self.classes.values_mut() {
            rows.retain(|row| {
                !["ResourceId", "ResourceID", "MachineID"]
                    .iter()
                    .any(|key| row.get(*key).and_then(Value::as_u64) == Some(u64::from(resource)))
            });
        }
    }

    /// Sets a property of a device's row in a class.
    pub fn set(&mut self, class: &str, resource: u32, property: &str, value: Value) {
        for row in self.classes.get_mut(class).unwrap() {
            let key = ["ResourceId", "ResourceID", "MachineID"]
                .iter()
                .find_map(|key| row.get(*key).and_then(Value::as_u64));
            if key == Some(u64::from(resource)) {
                row.insert(property.into(), value.clone());
            }
        }
    }
}

/// One TCP connection (an address can be reused by a later connection: never by this id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnectionId(u64);

impl axum::extract::connect_info::Connected<SocketAddr> for ConnectionId {
    fn connect_info(_peer: SocketAddr) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
}

/// How the stand-in's IIS accepts Windows authentication.
#[derive(Clone)]
pub enum Acceptor {
    /// Negotiate with NTLM inside; no domain controller needed.
    Ntlm,
    /// Negotiate with Kerberos only (NTLM turned off, as hardened sites do): tickets for
    /// `HTTP/localhost` opened with the service's key; `account` is the one accepted. (Kerberos
    /// names services by host name: a client given an address uses NTLM, as Windows does.)
    Kerberos { key: Vec<u8>, account: String },
}

#[derive(Clone)]
struct Served {
    acceptor: Acceptor,
    site: Arc<Mutex<Site>>,
    gate: Arc<Gate>,
    /// Authentication per connection: a handshake in progress, or done.
    connections: Arc<Mutex<HashMap<ConnectionId, Connection>>>,
    /// Every connection a request came on, and how many handshakes began.
    seen: Arc<Mutex<(std::collections::HashSet<ConnectionId>, usize)>>,
}

enum Connection {
    Handshake(Box<(Negotiate, <Negotiate as SspiImpl>::CredentialsHandle)>),
    Authenticated,
}

impl StandIn {
    pub async fn start(site: Site) -> StandIn {
        Self::start_with(site, Acceptor::Ntlm).await
    }

    pub async fn start_with(site: Site, acceptor: Acceptor) -> StandIn {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .unwrap();
        let pin = site_connector::admin_service::tls::fingerprint(certified.cert.der());
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            certified.cert.pem().into_bytes(),
            certified.signing_key.serialize_pem().into_bytes(),
        )
        .await
        .unwrap();
        let site = Arc::new(Mutex::new(site));
        let gate = Arc::new(Gate::default());
        let seen = Arc::<Mutex<_>>::default();
        let served = Served {
            acceptor,
            site: site.clone(),
            gate: gate.clone(),
            connections: Arc::default(),
            seen: seen.clone(),
        };
        let app = Router::new()
            .route("/AdminService/wmi/", get(service_document))
            .route("/AdminService/wmi/{class}", get(query).post(invoke))
            .route(
                "/AdminService/v1.0/{*path}",
                get(versioned).post(versioned_action),
            )
            .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
            .with_state(served);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let handle = axum_server::Handle::new();
        let serving = handle.clone();
        tokio::spawn(async move {
            axum_server::from_tcp_rustls(listener, tls)
                .unwrap()
                .handle(serving)
                .serve(app.into_make_service_with_connect_info::<ConnectionId>())
                .await
        });
        StandIn {
            url: format!("https://127.0.0.1:{}/AdminService", address.port()),
            authority: format!("https://127.0.0.1:{}", address.port()),
            certificate_pem: certified.cert.pem(),
            pin,
            site,
            gate,
            seen,
            handle,
        }
    }
}

fn odata_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": status.as_str(), "message": message}})),
    )
        .into_response()
}

fn challenge(token: Option<&[u8]>) -> Response {
    // IIS answers with a page, which a client must read for the connection to stay open.
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html")],
        "<!DOCTYPE html><html><head><title>401 - Unauthorized: Access is denied due to invalid credentials.</title></head><body><h2>401 - Unauthorized</h2></body></html>",
    )
        .into_response();
    let headers = response.headers_mut();
    match token {
        Some(token) => {
            let value = format!(
                "Negotiate {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            );
            headers.append(header::WWW_AUTHENTICATE, value.parse().unwrap());
        }
        None => {
            headers.append(header::WWW_AUTHENTICATE, "Negotiate".parse().unwrap());
            headers.append(header::WWW_AUTHENTICATE, "NTLM".parse().unwrap());
        }
    }
    response
}

/// A server-side Negotiate context as `acceptor` asks, and the account it accepts.
fn acceptor(acceptor: &Acceptor) -> (Negotiate, AuthIdentity) {
    match acceptor {
        Acceptor::Ntlm => {
            let identity = AuthIdentity {
                username: Username::parse(USER).unwrap(),
                password: PASSWORD.to_owned().into(),
            };
            let ntlm = sspi::ntlm::NtlmConfig::new("CM01".into());
            let context = Negotiate::new_server(
                NegotiateConfig::new(Box::new(ntlm), Some("!kerberos,ntlm".into()), "CM01".into()),
                vec![identity.clone()],
            )
            .unwrap();
            (context, identity)
        }
        Acceptor::Kerberos { key, account } => {
            let identity = AuthIdentity {
                username: Username::parse(account).unwrap(),
                password: PASSWORD.to_owned().into(),
            };
            let server = sspi::kerberos::ServerProperties::new(
                &["HTTP", "localhost"],
                None,
                std::time::Duration::from_secs(300),
                Some(sspi::Secret::new(key.clone())),
            )
            .unwrap();
            let config = sspi::KerberosServerConfig {
                kerberos_config: sspi::KerberosConfig {
                    kdc_resolution: sspi::KdcResolution::KdcUrl(None),
                    client_computer_name: "CM01".into(),
                },
                server_properties: server,
            };
            let context = Negotiate::new_server(
                NegotiateConfig::new(
                    Box::new(config),
                    Some("kerberos,!ntlm".into()),
                    "CM01".into(),
                ),
                vec![identity.clone()],
            )
            .unwrap();
            (context, identity)
        }
    }
}

/// Windows authentication of this connection: `None` when it is authenticated (go on), the
/// 401 to answer otherwise.
fn authenticate(served: &Served, peer: ConnectionId, headers: &HeaderMap) -> Option<Response> {
    // Through the gateway: a bearer token its Entra ID issued and that has not expired.
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        let site = served.site.lock().unwrap();
        // Five minutes of clock skew, as services allow.
        let skew = std::time::Duration::from_secs(300);
        let valid = site
            .tokens
            .get(token)
            .is_some_and(|expires| std::time::Instant::now() < *expires + skew);
        if valid {
            return None;
        }
        let mut refused = StatusCode::UNAUTHORIZED.into_response();
        refused.headers_mut().append(
            header::WWW_AUTHENTICATE,
            "Bearer error=\"invalid_token\"".parse().unwrap(),
        );
        return Some(refused);
    }
    served.seen.lock().unwrap().0.insert(peer);
    let mut connections = served.connections.lock().unwrap();
    if matches!(connections.get(&peer), Some(Connection::Authenticated)) {
        return None;
    }
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Negotiate "))
        .and_then(|token| base64::engine::general_purpose::STANDARD.decode(token).ok())
    else {
        connections.remove(&peer);
        return Some(challenge(None));
    };
    if !matches!(connections.get(&peer), Some(Connection::Handshake(_))) {
        served.seen.lock().unwrap().1 += 1;
        let (mut context, identity) = acceptor(&served.acceptor);
        let credentials = context
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Inbound)
            .with_auth_data(&Credentials::AuthIdentity(identity))
            .execute(&mut context)
            .unwrap()
            .credentials_handle;
        connections.insert(
            peer,
            Connection::Handshake(Box::new((context, credentials))),
        );
    }
    let Some(Connection::Handshake(state)) = connections.get_mut(&peer) else {
        unreachable!()
    };
    let (context, credentials) = &mut **state;
    let mut input = vec![SecurityBuffer::new(token, BufferType::Token)];
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = context
        .accept_security_context()
        .with_credentials_handle(credentials)
        .with_context_requirements(ServerRequestFlags::empty())
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    // A token the library cannot read is a refusal, never a crash of the stand-in.
    let accepted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        context
            .accept_security_context_impl(builder)
            .and_then(|mut generator| generator.resolve_to_result())
    }))
    .unwrap_or_else(|_| {
        Err(sspi::Error::new(
            sspi::ErrorKind::InvalidToken,
            "unreadable token",
        ))
    });
    match accepted {
        Ok(result) if result.status == SecurityStatus::Ok => {
            connections.insert(peer, Connection::Authenticated);
            None
        }
        Ok(result)
            if matches!(
                result.status,
                SecurityStatus::ContinueNeeded | SecurityStatus::CompleteAndContinue
            ) =>
        {
            Some(challenge(Some(&output[0].buffer)))
        }
        _ => {
            // A wrong password: the handshake starts over, as IIS's does.
            connections.remove(&peer);
            Some(challenge(None))
        }
    }
}

/// A filter term's value.
fn literal(text: &str) -> Value {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Value::String(inner.replace("''", "'"));
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => text.parse::<i64>().map(Value::from).unwrap_or(Value::Null),
    }
}

fn property<'a>(row: &'a Row, name: &str) -> Option<&'a Value> {
    row.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

fn compare(left: Option<&Value>, right: &Value) -> Option<std::cmp::Ordering> {
    match (left?, right) {
        (Value::Number(a), Value::Number(b)) => a.as_i64()?.partial_cmp(&b.as_i64()?),
        (Value::String(a), Value::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

/// The device key of a row (ResourceID, ResourceId or MachineID).
fn device_key(row: &Row) -> Option<u64> {
    ["ResourceId", "ResourceID", "MachineID"]
        .iter()
        .find_map(|key| row.get(*key).and_then(Value::as_u64))
}

/// The rows a filter's bounds on the device key leave: rows of the device classes are kept in key
/// order (devices are added in ResourceID order), so a page of a large site is found by binary
/// search rather than by reading every row. The filter is still applied to each row left.
fn key_range<'a>(rows: &'a [Row], filter: &str) -> &'a [Row] {
    let (mut low, mut high) = (0u64, u64::MAX);
    for term in filter.split(" and ") {
        let parts: Vec<&str> = term.split_whitespace().collect();
        let [name, operator, value] = parts[..] else {
            continue;
        };
        if !["resourceid", "machineid"].contains(&name.to_lowercase().as_str()) {
            continue;
        }
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match operator {
            "gt" => low = low.max(value + 1),
            "ge" => low = low.max(value),
            "lt" => high = high.min(value.saturating_sub(1)),
            "le" => high = high.min(value),
            "eq" => (low, high) = (low.max(value), high.min(value)),
            _ => {}
        }
    }
    if (low, high) == (0, u64::MAX) || rows.iter().take(1).any(|row| device_key(row).is_none()) {
        return rows;
    }
    let start = rows.partition_point(|row| device_key(row).unwrap_or(0) < low);
    let end = rows.partition_point(|row| device_key(row).unwrap_or(0) <= high);
    &rows[start..end.max(start)]
}

/// `a eq 1 and startswith(Name,'PC')`: terms joined by `and`.
fn matches(row: &Row, filter: &str) -> Result<bool, String> {
    for term in filter.split(" and ") {
        let term = term.trim();
        if let Some(arguments) = term
            .strip_prefix("startswith(")
            .and_then(|t| t.strip_suffix(')'))
        {
            let (name, prefix) = arguments
                .split_once(',')
                .ok_or("startswith needs two arguments")?;
            let Value::String(prefix) = literal(prefix) else {
                return Err("startswith needs a string".into());
            };
            let value = property(row, name.trim())
                .and_then(Value::as_str)
                .unwrap_or("");
            if !value.to_lowercase().starts_with(&prefix.to_lowercase()) {
                return Ok(false);
            }
            continue;
        }
        let parts: Vec<&str> = term.splitn(3, ' ').collect();
        let [name, operator, value] = parts[..] else {
            return Err(format!("'{term}' is not a comparison"));
        };
        let ordering = compare(property(row, name), &literal(value));
        use std::cmp::Ordering::*;
        let holds = match operator {
            "eq" => ordering == Some(Equal),
            "ne" => ordering != Some(Equal),
            "gt" => ordering == Some(Greater),
            "ge" => matches!(ordering, Some(Greater | Equal)),
            "lt" => ordering == Some(Less),
            "le" => matches!(ordering, Some(Less | Equal)),
            other => return Err(format!("the operator '{other}' is not supported")),
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The object as the AdminService sends it: its properties and WMI's system properties.
fn with_system_properties(class: &str, key: &str, row: &Row) -> Row {
    let mut out = Map::new();
    let relpath = format!("{class}.{key}");
    out.insert("@odata.etag".into(), json!(format!("W/\"{}\"", row.len())));
    out.insert("__CLASS".into(), json!(class));
    out.insert("__RELPATH".into(), json!(relpath));
    out.insert(
        "__PATH".into(),
        json!(format!("\\\\CM01\\root\\sms\\site_{SITE_CODE}:{relpath}")),
    );
    out.extend(row.clone());
    out
}

/// The class's name as WMI spells it, from the lower-case one.
fn spelled(class: &str) -> String {
    match class {
        "sms_r_system" => "SMS_R_System".into(),
        "sms_r_user" => "SMS_R_User".into(),
        "sms_g_system_pc_bios" => "SMS_G_System_PC_BIOS".into(),
        "sms_g_system_computer_system" => "SMS_G_System_COMPUTER_SYSTEM".into(),
        other if other.starts_with("sms_g_system_") => {
            format!(
                "SMS_G_System_{}",
                other["sms_g_system_".len()..].to_uppercase()
            )
        }
        other => {
            let known = [
                "SMS_Site",
                "SMS_Collection",
                "SMS_CombinedDeviceResources",
                "SMS_FullCollectionMembership",
                "SMS_UserMachineRelationship",
                "SMS_ClientOperationStatus",
                "SMS_Admin",
                "SMS_Role",
                "SMS_RbacSecuredObject",
                "SMS_Scripts",
                "SMS_CMPivotStatus",
            ];
            known
                .iter()
                .find(|k| k.eq_ignore_ascii_case(other))
                .map(|k| k.to_string())
                .unwrap_or_else(|| other.into())
        }
    }
}

/// A query's answer; after the one a test asked for, the connection closes (as IIS closes an idle
/// one), and the client must open and authenticate another.
async fn query(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<ConnectionId>,
    headers: HeaderMap,
    Path(class): Path<String>,
    Query(options): Query<HashMap<String, String>>,
) -> Response {
    let mut response = answer_query(served.clone(), peer, headers, class, options).await;
    let close = std::mem::take(&mut served.site.lock().unwrap().close_after_next);
    if close && response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, "close".parse().unwrap());
    }
    response
}

async fn answer_query(
    served: Served,
    peer: ConnectionId,
    headers: HeaderMap,
    class: String,
    options: HashMap<String, String>,
) -> Response {
    if let Some(refusal) = authenticate(&served, peer, &headers) {
        return refusal;
    }
    if class.eq_ignore_ascii_case("SMS_R_System") {
        served.gate.pass().await;
    }
    let mut site = served.site.lock().unwrap();
    site.queries.push(format!("{class}?{options:?}"));
    // A key lookup: `SMS_ClientOperationStatus(16777300)`.
    if let Some((name, key)) = class.strip_suffix(')').and_then(|c| c.split_once('(')) {
        if name.eq_ignore_ascii_case("SMS_Role") {
            let key = key.trim_matches('\'');
            let found: Vec<Value> = site.classes["sms_role"]
                .iter()
                .filter(|row| row["RoleID"] == key)
                .map(|row| {
                    Value::Object(with_system_properties(
                        "SMS_Role",
                        &format!("RoleID=\"{key}\""),
                        row,
                    ))
                })
                .collect();
            if found.is_empty() {
                return odata_error(StatusCode::NOT_FOUND, "no such role");
            }
            return Json(json!({"@odata.context": "https://cm01/AdminService/wmi/$metadata#SMS_Role", "value": found}))
                .into_response();
        }
        if !name.eq_ignore_ascii_case("SMS_ClientOperationStatus") {
            return odata_error(StatusCode::NOT_FOUND, "no such class");
        }
        let Ok(id) = key.parse::<u32>() else {
            return odata_error(StatusCode::BAD_REQUEST, "the key is not a number");
        };
        let Some((resource, client, reads)) = site.operations.get_mut(&id) else {
            return odata_error(StatusCode::NOT_FOUND, "no such operation");
        };
        *reads += 1;
        let settled = *reads >= 2 && *client != Client::Silent;
        let count = |state: Client| u32::from(settled && *client == state);
        let row = json!({
            "ID": id, "Type": 8, "CollectionID": "SMS00001", "TotalClients": 1,
            "CompletedClients": count(Client::Online), "FailedClients": count(Client::Fails),
            "OfflineClients": count(Client::Offline), "NotApplicableClients": 0, "UnknownClients": 0,
            "ResourceID": *resource,
        });
        let row = with_system_properties(
            "SMS_ClientOperationStatus",
            &format!("ID={id}"),
            row.as_object().unwrap(),
        );
        return Json(json!({
            "@odata.context": "https://cm01/AdminService/wmi/$metadata#SMS_ClientOperationStatus",
            "value": [row],
        }))
        .into_response();
    }
    let lower = class.to_lowercase();
    let Some(rows) = site.classes.get(&lower) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            &format!("The resource '{class}' was not found."),
        );
    };
    let mut out = Vec::new();
    let rows = match options.get("$filter") {
        Some(filter) => key_range(rows, filter),
        None => &rows[..],
    };
    for row in rows {
        match options.get("$filter").map(|filter| matches(row, filter)) {
            Some(Err(message)) => return odata_error(StatusCode::BAD_REQUEST, &message),
            Some(Ok(false)) => continue,
            _ => out.push(row.clone()),
        }
    }
    if let Some(top) = options.get("$top") {
        let Ok(top) = top.parse::<usize>() else {
            return odata_error(StatusCode::BAD_REQUEST, "$top is not a number");
        };
        out.truncate(top);
    }
    let skip: usize = options
        .get("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let total = out.len();
    let page: Vec<Row> = out.into_iter().skip(skip).take(site.page_limit).collect();
    let wmi_name = spelled(&lower);
    let selected: Option<Vec<String>> = options.get("$select").map(|select| {
        select
            .split(',')
            .map(|name| name.trim().to_lowercase())
            .collect()
    });
    let value: Vec<Value> = page
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let row: Row = match &selected {
                Some(names) => row
                    .iter()
                    .filter(|(key, _)| names.contains(&key.to_lowercase()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None => row.clone(),
            };
            Value::Object(with_system_properties(
                &wmi_name,
                &format!("Row={}", skip + index),
                &row,
            ))
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("https://cm01/AdminService/wmi/$metadata#{wmi_name}"),
        "value": value,
    });
    if skip + page.len() < total {
        let mut next: Vec<(String, String)> = options
            .iter()
            .filter(|(key, _)| key.as_str() != "$skiptoken")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        next.push(("$skiptoken".into(), (skip + page.len()).to_string()));
        let query = serde_urlencoded_pairs(&next);
        body["@odata.nextLink"] = json!(format!("/AdminService/wmi/{class}?{query}"));
    }
    Json(body).into_response()
}

fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    let mut url = reqwest::Url::parse("https://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

async fn invoke(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<ConnectionId>,
    headers: HeaderMap,
    Path(class): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = authenticate(&served, peer, &headers) {
        return refusal;
    }
    if !class.eq_ignore_ascii_case("SMS_ClientOperation.InitiateClientOperation") {
        return odata_error(StatusCode::NOT_FOUND, "no such method");
    }
    let Ok(parameters) = serde_json::from_slice::<Value>(&body) else {
        return odata_error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let mut site = served.site.lock().unwrap();
    site.notifications.push(parameters.clone());
    if let Some(message) = site.refuse_notifications.clone() {
        return odata_error(StatusCode::FORBIDDEN, &message);
    }
    let Some(resource) = parameters["TargetResourceIDs"][0].as_u64() else {
        return odata_error(StatusCode::BAD_REQUEST, "TargetResourceIDs is required");
    };
    let resource = resource as u32;
    let client = site
        .clients
        .get(&resource)
        .copied()
        .unwrap_or(Client::Offline);
    site.next_operation += 1;
    let id = site.next_operation;
    site.operations.insert(id, (resource, client, 0));
    Json(json!({
        "@odata.context": "https://cm01/AdminService/wmi/$metadata#__PARAMETERS",
        "@odata.type": "#AdminService.__PARAMETERS",
        "ReturnValue": 0,
        "OperationID": id,
    }))
    .into_response()
}

/// Entra ID's token endpoint, client credentials only: a secret, or a client assertion signed
/// with the app's certificate (checked as Entra ID documents it: PS256, `x5t#S256`, audience the
/// token endpoint, issuer and subject the client id, at most 10 minutes, each used once).
async fn token(
    State(served): State<Served>,
    headers: HeaderMap,
    uri: axum::extract::OriginalUri,
    axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    let mut site = served.site.lock().unwrap();
    site.token_requests += 1;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let refuse = |code: &str| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": code})),
        )
            .into_response()
    };
    let Some((app, secret)) = site.app.clone() else {
        return refuse("AADSTS700016: Application not found in the directory.");
    };
    if field("grant_type") != "client_credentials"
        || field("client_id") != app
        || field("scope").is_empty()
    {
        return refuse("AADSTS700016: Application not found in the directory.");
    }
    if form.contains_key("client_assertion") {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let audience = format!("https://{host}{}", uri.0.path());
        match verify_assertion(&mut site, &app, &audience, &form) {
            Ok(()) => {}
            Err(code) => return refuse(code),
        }
    } else if field("client_secret") != secret {
        return refuse("AADSTS7000215: Invalid client secret provided.");
    }
    let token = format!("eyJ.stand-in.{}", site.token_requests);
    let lifetime = site.token_lifetime;
    site.tokens.insert(
        token.clone(),
        std::time::Instant::now() + std::time::Duration::from_secs(lifetime),
    );
    Json(json!({"token_type": "Bearer", "expires_in": lifetime, "access_token": token}))
        .into_response()
}

fn verify_assertion(
    site: &mut Site,
    app: &str,
    audience: &str,
    form: &HashMap<String, String>,
) -> Result<(), &'static str> {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err("AADSTS50027: Invalid JWT token. The client assertion type is not jwt-bearer.");
    }
    let assertion = &form["client_assertion"];
    let Some((thumbprint, public_key)) = site.app_certificate.clone() else {
        return Err("AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.");
    };
    let header = decode_header(assertion).map_err(|_| "AADSTS50027: Invalid JWT token.")?;
    if header.alg != Algorithm::PS256 || header.x5t_s256.as_deref() != Some(thumbprint.as_str()) {
        return Err("AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.");
    }
    let mut validation = Validation::new(Algorithm::PS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[app]);
    validation.sub = Some(app.to_owned());
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    let key = DecodingKey::from_rsa_pem(&public_key).unwrap();
    let claims = decode::<Value>(assertion, &key, &validation)
        .map_err(|_| "AADSTS700027: Client assertion contains an invalid signature.")?
        .claims;
    let number = |name: &str| claims.get(name).and_then(Value::as_u64).unwrap_or_default();
    if number("exp").saturating_sub(number("nbf")) > 600 {
        return Err("AADSTS700024: Client assertion is not within its valid time range.");
    }
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else {
        return Err("AADSTS50027: Invalid JWT token. No jti.");
    };
    if !site.used_assertions.insert(jti.to_owned()) {
        return Err("AADSTS700021: Client assertion has already been used.");
    }
    Ok(())
}

/// `GET wmi/`: the service document, one entity set per class the site has.
async fn service_document(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<ConnectionId>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = authenticate(&served, peer, &headers) {
        return refusal;
    }
    let site = served.site.lock().unwrap();
    let sets: Vec<Value> = site
        .classes
        .keys()
        .map(|class| {
            let name = spelled(class);
            json!({"name": name, "kind": "EntitySet", "url": name})
        })
        .collect();
    Json(json!({"@odata.context": "https://cm01/AdminService/wmi/$metadata", "value": sets}))
        .into_response()
}

/// The rows of `class` that belong to `resource`.
fn rows_of(site: &Site, class: &str, resource: u32) -> Vec<Row> {
    site.classes
        .get(class)
        .map(|rows| {
            rows.iter()
                .filter(|row| device_key(row) == Some(u64::from(resource)))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// `Device(16777220)` and what follows it in a versioned path.
fn device_path(path: &str) -> Option<(u32, &str)> {
    let rest = path.strip_prefix("Device(")?;
    let (key, rest) = rest.split_once(')')?;
    Some((key.parse().ok()?, rest.trim_start_matches('/')))
}

/// `GET v1.0/...`: a device, its collections, a CMPivot result, a script result.
async fn versioned(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<ConnectionId>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    if let Some(refusal) = authenticate(&served, peer, &headers) {
        return refusal;
    }
    let mut site = served.site.lock().unwrap();
    site.queries.push(format!("v1.0/{path}"));
    let Some((resource, rest)) = device_path(&path) else {
        return odata_error(StatusCode::NOT_FOUND, "no such entity");
    };
    let Some(device) = rows_of(&site, "sms_combineddeviceresources", resource).pop() else {
        return odata_error(StatusCode::NOT_FOUND, "no such device");
    };
    let client = site
        .clients
        .get(&resource)
        .copied()
        .unwrap_or(Client::Offline);
    if rest.is_empty() {
        let mut row = device.clone();
        let online = client != Client::Offline;
        row.insert("MachineId".into(), json!(resource));
        row.insert("CNIsOnline".into(), json!(online));
        row.insert("CNLastOnlineTime".into(), json!("2026-11-29T08:00:00Z"));
        row.insert("CNLastOfflineTime".into(), json!("2026-11-28T18:00:00Z"));
        row.insert("LastHardwareScan".into(), json!("2026-11-29T09:00:00Z"));
        row.insert("LastSoftwareScan".into(), json!("2026-11-29T07:00:00Z"));
        row.insert("LastMPServerName".into(), json!("CM01.contoso.com"));
        row.insert(
            "BoundaryGroups".into(),
            json!(["Contoso HQ", "Contoso VPN"]),
        );
        let users: Vec<Value> = rows_of(&site, "sms_usermachinerelationship", resource)
            .iter()
            .filter_map(|r| r.get("UniqueUserName").cloned())
            .collect();
        row.insert("PrimaryUser".into(), json!(users));
        let mut body =
            json!({"@odata.context": "https://cm01/AdminService/v1.0/$metadata#Device/$entity"});
        body.as_object_mut().unwrap().extend(row);
        return Json(body).into_response();
    }
    if rest.starts_with("ResourceCollectionMembership") {
        let memberships: Vec<Value> = rows_of(&site, "sms_fullcollectionmembership", resource)
            .iter()
            .filter_map(|m| {
                let id = m.get("CollectionID")?.as_str()?;
                let collection = site.classes["sms_collection"]
                    .iter()
                    .find(|c| c["CollectionID"] == id)?;
                Some(json!({"Collection": {"CollectionId": id, "Name": collection["Name"]}}))
            })
            .collect();
        return Json(json!({"value": memberships})).into_response();
    }
    let operation = rest
        .split_once("(OperationId=")
        .and_then(|(_, id)| id.trim_end_matches(')').parse::<u64>().ok());
    let Some(operation) = operation else {
        return odata_error(StatusCode::NOT_FOUND, "no such function");
    };
    let big = site.big_result_rows;
    let entry = site
        .operations_v1
        .get_mut(&operation)
        .map(|(on, asked, reads)| {
            *reads += 1;
            (*on, asked.clone(), *reads)
        });
    let Some((on, asked, reads)) = entry.filter(|(on, ..)| *on == resource) else {
        return odata_error(StatusCode::NOT_FOUND, "no such operation");
    };
    // The first read finds nothing yet; a client that never answers never has a result.
    if reads < 2 || client == Client::Silent {
        return odata_error(StatusCode::NOT_FOUND, "the result is not there yet");
    }
    if let Some(query) = asked.get("InputQuery").and_then(Value::as_str) {
        let entity = query
            .split('|')
            .next()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let class = match entity.as_str() {
            "device" => "sms_g_system_computer_system",
            "os" | "operatingsystem" => "sms_g_system_operating_system",
            "disk" | "logicaldisk" => "sms_g_system_logical_disk",
            "installedsoftware" => "sms_g_system_installed_software",
            "big" => "",
            _ => {
                let error = json!({"ClientOperationId": operation, "State": -1,
                    "ErrorMessage": format!("Failed to resolve entity '{entity}'.")});
                site.classes
                    .get_mut("sms_cmpivotstatus")
                    .unwrap()
                    .push(error.as_object().unwrap().clone());
                return odata_error(StatusCode::NOT_FOUND, "the result is not there yet");
            }
        };
        let name = device.get("Name").cloned().unwrap_or(Value::Null);
        let rows: Vec<Value> = if class.is_empty() {
            (0..big)
                .map(|i| json!({"Device": name, "Line": i, "Text": "x".repeat(180)}))
                .collect()
        } else {
            rows_of(&site, class, on)
                .into_iter()
                .map(|mut row| {
                    row.remove("ResourceID");
                    row.remove("GroupID");
                    row.insert("Device".into(), name.clone());
                    Value::Object(row)
                })
                .collect()
        };
        return Json(
            json!({"value": {"Status": "Completed", "MoreResult": false, "Result": rows}}),
        )
        .into_response();
    }
    let script = asked["ScriptGuid"].as_str().unwrap_or_default();
    let (code, output) = match script {
        SCRIPT_FAILING => (
            1,
            json!(["winmgmt /salvagerepository failed: 0x80041002"]).to_string(),
        ),
        SCRIPT_HOSTILE => (0, json!([HOSTILE_OUTPUT, "done"]).to_string()),
        _ => (0, json!(["C:  117 GB free of 476 GB"]).to_string()),
    };
    Json(json!({"value": {"Status": 1, "Result": [{"ScriptOutput": output, "ScriptExitCode": code}]}}))
        .into_response()
}

/// `POST v1.0/Device(id)/AdminService.RunCMPivot` or `.RunScript`: an operation id.
async fn versioned_action(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<ConnectionId>,
    headers: HeaderMap,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(refusal) = authenticate(&served, peer, &headers) {
        return refusal;
    }
    let Ok(asked) = serde_json::from_slice::<Value>(&body) else {
        return odata_error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let mut site = served.site.lock().unwrap();
    site.queries.push(format!("v1.0/{path} {asked}"));
    let Some((resource, action)) = device_path(&path) else {
        return odata_error(StatusCode::NOT_FOUND, "no such entity");
    };
    if rows_of(&site, "sms_combineddeviceresources", resource).is_empty() {
        return odata_error(StatusCode::NOT_FOUND, "no such device");
    }
    if let Some(message) = site.refuse_runs.clone() {
        return odata_error(StatusCode::FORBIDDEN, &message);
    }
    let cmpivot = action.eq_ignore_ascii_case("AdminService.RunCMPivot");
    if !cmpivot && !action.eq_ignore_ascii_case("AdminService.RunScript") {
        return odata_error(StatusCode::NOT_FOUND, "no such action");
    }
    site.next_operation += 1;
    let id = u64::from(site.next_operation);
    site.operations_v1.insert(id, (resource, asked, 0));
    if cmpivot {
        Json(json!({"value": {"OperationId": id}})).into_response()
    } else {
        Json(json!({"value": id})).into_response()
    }
}
