//! A real site attached through its AdminService: the site connector's real code against the
//! AdminService stand-in (`stand_in.rs`): HTTPS pinned, Windows authentication, OData paging,
//! the property mapping, the upload scope, deltas and the three client notifications.

use std::time::Duration;

use admin_api::{Collection, Connector, Device};
use serde_json::json;
use site_connector::admin_service::site::{RealSite, RealSiteOptions};
use site_connector::admin_service::{
    tls, AdminService, AdminServiceConfig, AdminServiceError, Authentication, Trust, WindowsAccount,
};
use site_connector::{Outcome, SiteConnector, SiteOptions};
use tokio_util::sync::CancellationToken;

use crate::events::EventStream;
use crate::protocol::{connector, connector_id, is_action, triggered};
use crate::stand_in::{Client, Site, StandIn, FIRST_RESOURCE, PASSWORD, USER};
use crate::{spawn_app, TestApp};

fn service(stand_in: &StandIn, password: &str) -> AdminService {
    service_trusting(
        stand_in,
        password,
        Trust::Pin(tls::parse_pin(&stand_in.pin).unwrap()),
    )
}

fn service_trusting(stand_in: &StandIn, password: &str, trust: Trust) -> AdminService {
    AdminService::new(&AdminServiceConfig {
        url: stand_in.url.clone(),
        authentication: Authentication::Windows(
            WindowsAccount::new(USER, password.into()).unwrap(),
        ),
        trust,
    })
    .unwrap()
}

/// A site read through the stand-in with `options`, attached and its devices uploaded.
pub(crate) async fn attach(
    app: &TestApp,
    stand_in: &StandIn,
    options: RealSiteOptions,
) -> SiteConnector<RealSite> {
    let connector = attach_through(app, service(stand_in, PASSWORD), options).await;
    connector.full_sync().await.unwrap();
    connector
}

/// A site read through `service`, attached with a new onboarding token (nothing uploaded yet).
async fn attach_through(
    app: &TestApp,
    service: AdminService,
    options: RealSiteOptions,
) -> SiteConnector<RealSite> {
    let site = RealSite::connect(service, options).await.unwrap();
    let token = app.onboarding_token().await;
    SiteConnector::attach(&app.url, &token, site, SiteOptions::default())
        .await
        .unwrap()
}

/// Why reading the site through `service` fails.
async fn refusal(service: AdminService) -> AdminServiceError {
    RealSite::connect(service, RealSiteOptions::default())
        .await
        .err()
        .expect("refused")
        .downcast::<AdminServiceError>()
        .unwrap()
}

/// The app registration the gateway tests sign in as.
const APP: &str = "6f1c2a0e-3b7d-4c55-9a0e-2d8f4b1c7e90";

/// A client of the stand-in through its gateway, as [`APP`] proving itself with `credential`.
fn through_gateway(
    stand_in: &StandIn,
    credential: site_connector::admin_service::EntraCredential,
) -> AdminService {
    AdminService::new(&AdminServiceConfig {
        url: stand_in.url.clone(),
        authentication: Authentication::Entra(site_connector::admin_service::EntraClient {
            authority: stand_in.authority.clone(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: APP.into(),
            credential,
            scope: "api://configmgr-adminservice/.default".into(),
            authority_ca: Some(stand_in.certificate_pem.clone().into_bytes()),
        }),
        trust: Trust::Pin(tls::parse_pin(&stand_in.pin).unwrap()),
    })
    .unwrap()
}

async fn devices(app: &TestApp) -> Vec<Device> {
    let mut all = Vec::new();
    let mut path = "/api/v1/devices?$top=1000".to_owned();
    loop {
        let page: Collection<Device> = app.get(&path).await.json().await.unwrap();
        all.extend(page.value);
        match page.next_link {
            Some(next) => path = next,
            None => return all,
        }
    }
}

fn id_of(index: u32) -> String {
    format!(
        "GUID:{index:08X}-0000-4000-8000-{:012X}",
        u64::from(index) * 7
    )
}

fn device(all: &[Device], index: u32) -> &Device {
    all.iter()
        .find(|d| d.id == id_of(index))
        .unwrap_or_else(|| panic!("device {index} was uploaded"))
}

#[tokio::test]
async fn a_site_of_5000_devices_attaches_with_every_property_mapped() {
    let stand_in = StandIn::start(Site::with_devices(9088, 5000)).await;
    let app = spawn_app().await;
    let site = attach(&app, &stand_in, RealSiteOptions::default()).await;

    let all = devices(&app).await;
    assert_eq!(all.len(), 5000);
    let ids: std::collections::HashSet<_> = all.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), 5000, "each device once");
    // A co-managed workstation with an Entra ID user, field by field.
    let pc = device(&all, 0);
    assert_eq!(pc.device_name, "PC-00000");
    assert_eq!(serde_json::to_value(pc.managed_by).unwrap(), "coManaged");
    assert_eq!(pc.operating_system.as_deref(), Some("Windows"));
    assert_eq!(pc.os_version.as_deref(), Some("10.0.22631.3447"));
    assert_eq!(pc.user_principal_name.as_deref(), Some("user0@contoso.com"));
    assert_eq!(
        pc.user_display_name.as_deref(),
        Some("AzureAD\\user0@contoso.com")
    );
    assert_eq!(pc.serial_number.as_deref(), Some("SN000000"));
    assert_eq!(pc.manufacturer.as_deref(), Some("Dell Inc."));
    assert_eq!(pc.model.as_deref(), Some("Latitude 7440"));
    assert_eq!(
        pc.azure_ad_device_id.as_deref(),
        Some("00000000-1111-4222-8333-000000000000")
    );
    assert_eq!(pc.domain_name.as_deref(), Some("contoso.com"));
    assert_eq!(
        pc.enrolled_date_time.as_deref(),
        Some("2023-05-04T08:09:10Z")
    );
    assert_eq!(
        pc.last_policy_request_date_time.as_deref(),
        Some("2026-11-29T10:00:00Z")
    );
    assert_eq!(
        pc.last_active_date_time.as_deref(),
        Some("2026-11-29T11:00:00Z")
    );
    let client = pc
        .configuration_manager_client_information
        .as_ref()
        .unwrap();
    assert_eq!(client.client_identifier, id_of(0));
    assert_eq!(client.client_version.as_deref(), Some("5.00.9088.1007"));
    let mut collections: Vec<_> = pc.collections.iter().map(|c| c.name.as_str()).collect();
    collections.sort();
    assert_eq!(
        collections,
        [
            "All Systems",
            "All Workstations",
            "Finance Pilot",
            "Windows 11 Pilot"
        ]
    );
    // A ConfigMgr-only server with a domain user-less record, personal-owned and inactive ones.
    let server = device(&all, 4);
    assert_eq!(server.device_name, "SRV-00004");
    assert_eq!(
        serde_json::to_value(server.managed_by).unwrap(),
        "configMgr"
    );
    assert_eq!(
        serde_json::to_value(server.compliance_state).unwrap(),
        "configManager"
    );
    assert_eq!(server.user_principal_name, None);
    assert_eq!(server.azure_ad_device_id, None);
    assert_eq!(server.model.as_deref(), Some("ProLiant DL380 Gen10"));
    let domain_user = device(&all, 1);
    assert_eq!(
        domain_user.user_principal_name, None,
        "a domain account is not a UPN"
    );
    assert_eq!(
        domain_user.user_display_name.as_deref(),
        Some("CONTOSO\\user1")
    );
    assert_eq!(
        serde_json::to_value(device(&all, 3).owner_type).unwrap(),
        "personal"
    );
    assert_eq!(
        serde_json::to_value(device(&all, 5).client_health_state).unwrap(),
        "unhealthy"
    );
    assert_eq!(
        serde_json::to_value(device(&all, 6).client_health_state).unwrap(),
        "healthy"
    );

    // The site's information in Connectors and tokens.
    let connector = connector(&app, &connector_id(&site)).await;
    assert_eq!(connector.hierarchy_name.as_deref(), Some("Contoso Primary"));
    assert_eq!(connector.site_code.as_deref(), Some("PS1"));
    assert_eq!(connector.site_version.as_deref(), Some("2207"));
    assert_eq!(connector.device_count, 5000);
    assert!(connector.service_connection_point.is_some());
    // The AdminService paged past its own limit with next links, and the connector read it
    // page by page by ResourceID, never all at once.
    let queries = stand_in.site.lock().unwrap().queries.clone();
    let system_pages = queries
        .iter()
        .filter(|q| q.starts_with("SMS_R_System"))
        .count();
    assert!(system_pages >= 10, "{system_pages} pages of systems");
    assert!(queries
        .iter()
        .all(|q| !q.starts_with("SMS_R_System") || q.contains("$top")));
    // Every read on one kept-alive connection, authenticated once.
    assert_eq!(stand_in.connections_and_handshakes(), (1, 1));
    // The site closes it (as IIS closes an idle one): the next reads open another and sign in
    // on it once more.
    stand_in.site.lock().unwrap().close_after_next = true;
    assert_eq!(site.send_delta().await.unwrap(), None);
    assert_eq!(stand_in.connections_and_handshakes(), (2, 2));
    app.shut_down().await;
}

#[tokio::test]
async fn a_collection_scope_uploads_its_members_and_from_2010_its_children() {
    /// The ids uploaded with PS100011 (with its children when asked) as the scope.
    async fn uploaded(stand_in: &StandIn, include_child_collections: bool) -> Vec<String> {
        let app = spawn_app().await;
        let options = RealSiteOptions {
            collection: Some("PS100011".into()),
            include_child_collections,
            ..RealSiteOptions::default()
        };
        attach(&app, stand_in, options).await;
        let mut ids: Vec<String> = devices(&app).await.into_iter().map(|d| d.id).collect();
        ids.sort();
        app.shut_down().await;
        ids
    }
    let stand_in = StandIn::start(Site::with_devices(9088, 300)).await;
    let workstations = || (0..300u32).filter(|i| i % 5 != 4);
    let ids = |indexes: Vec<u32>| {
        let mut ids: Vec<String> = indexes.into_iter().map(id_of).collect();
        ids.sort();
        ids
    };
    let pilot = ids(workstations().filter(|i| i % 3 == 0).collect());
    let with_children = ids(workstations()
        .filter(|i| i % 3 == 0 || i % 7 == 0)
        .collect());
    assert_eq!(uploaded(&stand_in, false).await, pilot);
    assert_eq!(uploaded(&stand_in, true).await, with_children);
    // A 2006 site has no child collections in its scope.
    let old = StandIn::start(Site::with_devices(9012, 300)).await;
    assert_eq!(uploaded(&old, true).await, pilot);
}

#[tokio::test]
async fn a_delta_carries_exactly_the_added_changed_and_removed_devices() {
    let stand_in = StandIn::start(Site::with_devices(9088, 400)).await;
    let app = spawn_app().await;
    let state = tempfile::tempdir().unwrap();
    let site = attach(
        &app,
        &stand_in,
        RealSiteOptions {
            state_folder: Some(state.path().to_owned()),
            ..RealSiteOptions::default()
        },
    )
    .await;
    assert!(state.path().join("device-snapshot.json").exists());
    assert_eq!(site.send_delta().await.unwrap(), None, "nothing changed");
    {
        let mut data = stand_in.site.lock().unwrap();
        data.add_device(400);
        data.set(
            "sms_combineddeviceresources",
            FIRST_RESOURCE + 7,
            "LastPolicyRequest",
            json!("2026-11-30T09:30:00Z"),
        );
        data.remove_device(FIRST_RESOURCE + 8);
    }
    let done = site.send_delta().await.unwrap().expect("a delta was sent");
    assert_eq!(done.changed, 3);
    assert_eq!(done.device_count, 400);
    let all = devices(&app).await;
    assert!(all.iter().any(|d| d.id == id_of(400)));
    assert!(all.iter().all(|d| d.id != id_of(8)));
    assert_eq!(
        device(&all, 7).last_policy_request_date_time.as_deref(),
        Some("2026-11-30T09:30:00Z")
    );
    assert_eq!(
        site.send_delta().await.unwrap(),
        None,
        "landed: nothing more to send"
    );
    app.shut_down().await;
}

#[tokio::test]
async fn actions_become_client_notifications_and_end_as_the_client_answered() {
    let stand_in = StandIn::start(Site::with_devices(9088, 30)).await;
    {
        let mut data = stand_in.site.lock().unwrap();
        data.clients.insert(FIRST_RESOURCE + 1, Client::Offline);
        data.clients.insert(FIRST_RESOURCE + 2, Client::Fails);
        data.clients.insert(FIRST_RESOURCE + 3, Client::Silent);
    }
    let app = spawn_app().await;
    let site = RealSite::connect(
        service(&stand_in, PASSWORD),
        RealSiteOptions {
            status_every: Duration::from_millis(50),
            action_deadline: Duration::from_secs(2),
            ..RealSiteOptions::default()
        },
    )
    .await
    .unwrap();
    let token = app.onboarding_token().await;
    let site = SiteConnector::attach(&app.url, &token, site, SiteOptions::default())
        .await
        .unwrap();
    site.full_sync().await.unwrap();
    let stop = CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;

    for (kind, notification) in [
        ("refreshMachinePolicy", 8),
        ("refreshUserPolicy", 9),
        ("appEvaluation", 13),
    ] {
        let action = triggered(&app.api(), &id_of(0), kind).await;
        let done = events
            .wait_for("deviceAction", is_action(&action.id, "done"))
            .await;
        assert_eq!(done["resultCode"], 0);
        let sent = stand_in
            .site
            .lock()
            .unwrap()
            .notifications
            .last()
            .cloned()
            .unwrap();
        assert_eq!(sent["Type"], notification);
        assert_eq!(sent["TargetResourceIDs"], json!([FIRST_RESOURCE]));
        assert_eq!(sent["TargetCollectionID"], "SMS00001");
    }
    let offline = triggered(&app.api(), &id_of(1), "refreshMachinePolicy").await;
    let failed = events
        .wait_for("deviceAction", is_action(&offline.id, "failed"))
        .await;
    assert_eq!(
        failed["resultCode"],
        site_connector::hierarchy::RPC_SERVER_UNAVAILABLE
    );
    assert!(
        failed["resultMessage"]
            .as_str()
            .unwrap()
            .contains("offline"),
        "{failed}"
    );
    let failing = triggered(&app.api(), &id_of(2), "appEvaluation").await;
    let failed = events
        .wait_for("deviceAction", is_action(&failing.id, "failed"))
        .await;
    assert!(
        failed["resultMessage"].as_str().unwrap().contains("failed"),
        "{failed}"
    );
    let silent = triggered(&app.api(), &id_of(3), "refreshUserPolicy").await;
    let failed = events
        .wait_for("deviceAction", is_action(&silent.id, "failed"))
        .await;
    assert!(
        failed["resultMessage"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{failed}"
    );
    // The site refuses the account client notifications: failed with the site's words.
    stand_in.site.lock().unwrap().refuse_notifications =
        Some("The user does not have permission to run client notifications.".into());
    let refused = triggered(&app.api(), &id_of(5), "refreshMachinePolicy").await;
    let failed = events
        .wait_for("deviceAction", is_action(&refused.id, "failed"))
        .await;
    assert_eq!(
        failed["resultCode"],
        site_connector::admin_service::site::codes::ACCESS_DENIED
    );
    assert!(
        failed["resultMessage"]
            .as_str()
            .unwrap()
            .contains("does not have permission to run client notifications"),
        "{failed}"
    );
    let sent = stand_in.site.lock().unwrap().notifications.len();
    assert_eq!(sent, 7, "one notification per action, none repeated");
    stop.cancel();
    assert_eq!(serving.await.unwrap(), Outcome::Stopped);
    app.shut_down().await;
}

#[tokio::test]
async fn a_wrong_password_or_an_untrusted_certificate_reads_nothing() {
    let stand_in = StandIn::start(Site::with_devices(9088, 10)).await;
    let error = refusal(service(&stand_in, "not-the-password")).await;
    assert!(
        matches!(error, AdminServiceError::Authentication { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(USER), "{error}");
    // Trusted through the platform's store only: the self-signed certificate is refused, and
    // the message names the options that trust it.
    let error = refusal(service_trusting(&stand_in, PASSWORD, Trust::Platform)).await;
    assert!(matches!(error, AdminServiceError::Untrusted(_)), "{error}");
    assert!(error.to_string().contains("--admin-service-pin"), "{error}");
    // Another certificate's pin is refused too.
    let error = refusal(service_trusting(&stand_in, PASSWORD, Trust::Pin([7; 32]))).await;
    assert!(matches!(error, AdminServiceError::Untrusted(_)), "{error}");
    // Nothing but the first query was ever answered with data.
    let queries = stand_in.site.lock().unwrap().queries.clone();
    assert!(queries.is_empty(), "{queries:?}");
}

#[tokio::test]
async fn a_site_that_accepts_only_kerberos_is_read_with_a_ticket_from_its_kdc() {
    use crate::kdc::Kdc;
    use crate::stand_in::Acceptor;
    const REALM: &str = "CONTOSO.TEST";
    const SERVICE_PASSWORD: &str = "Http-Service-Key-1";
    let kdc = Kdc::start(
        REALM,
        &[
            ("svc-attach", PASSWORD),
            ("HTTP/localhost", SERVICE_PASSWORD),
        ],
    )
    .await;
    // The realm's own name as the domain (an MIT KDC has no enterprise names for UPNs).
    let account = format!("{REALM}\\svc-attach");
    let stand_in = StandIn::start_with(
        Site::with_devices(9088, 60),
        Acceptor::Kerberos {
            key: kdc.key("HTTP/localhost", SERVICE_PASSWORD),
            account: account.clone(),
        },
    )
    .await;
    // Kerberos names the service by host name (HTTP/localhost).
    let url = stand_in.url.replace("127.0.0.1", "localhost");
    let kerberos = |password: &str, kdc_address: Option<&str>| {
        let account = WindowsAccount::new(&account, password.into()).unwrap();
        let account = match kdc_address {
            Some(address) => account.with_kdc(address).unwrap(),
            None => account,
        };
        AdminService::new(&AdminServiceConfig {
            url: url.clone(),
            authentication: Authentication::Windows(account),
            trust: Trust::Pin(tls::parse_pin(&stand_in.pin).unwrap()),
        })
        .unwrap()
    };
    // With its KDC: a ticket for HTTP/localhost, one handshake on one connection.
    let app = spawn_app().await;
    let site = attach_through(
        &app,
        kerberos(PASSWORD, Some(&kdc.address)),
        RealSiteOptions::default(),
    )
    .await;
    assert_eq!(site.full_sync().await.unwrap().device_count, 60);
    assert_eq!(stand_in.connections_and_handshakes(), (1, 1));
    // A wrong password: the KDC refuses it, and so does the site (NTLM is off there).
    let queries = stand_in.site.lock().unwrap().queries.len();
    let error = refusal(kerberos("not-the-password", Some(&kdc.address))).await;
    assert!(
        matches!(error, AdminServiceError::Authentication { .. }),
        "{error}"
    );
    // No KDC to ask (none given, none found): NTLM, which this site does not take.
    let error = refusal(kerberos(PASSWORD, None)).await;
    assert!(
        matches!(error, AdminServiceError::Authentication { .. }),
        "{error}"
    );
    // A KDC that is not there: the same, told within its timeout.
    let gone = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let error = refusal(kerberos(PASSWORD, Some(&gone))).await;
    assert!(
        matches!(error, AdminServiceError::Authentication { .. }),
        "{error}"
    );
    assert_eq!(
        stand_in.site.lock().unwrap().queries.len(),
        queries,
        "nothing read"
    );
    assert!(WindowsAccount::new(&account, PASSWORD.into())
        .unwrap()
        .with_kdc("http://dc01")
        .is_err());
    app.shut_down().await;
}

/// What each connectivity check says, by its name.
fn results(checks: &[admin_api::ConnectivityCheck]) -> Vec<(String, admin_api::CheckResult)> {
    checks.iter().map(|c| (c.check.clone(), c.result)).collect()
}

#[tokio::test]
async fn the_connectivity_checks_say_what_fails_and_reach_the_connector_details() {
    use admin_api::CheckResult::{Failed, Passed, Skipped};
    use site_connector::admin_service::checks::{self, AdminCenter};
    let stand_in = StandIn::start(Site::with_devices(9088, 20)).await;
    let app = spawn_app().await;
    let center = AdminCenter {
        url: app.url.clone(),
        ca_pem: None,
    };
    let all_passed = checks::run(&service(&stand_in, PASSWORD), Some(&center)).await;
    assert_eq!(
        results(&all_passed),
        vec![
            (checks::REACHABLE.into(), Passed),
            (checks::CERTIFICATE.into(), Passed),
            (checks::AUTHENTICATION.into(), Passed),
            (checks::READ_DEVICES.into(), Passed),
            (checks::NOTIFY.into(), Passed),
            (checks::VERSION.into(), Passed),
            (checks::CENTER_REACHABLE.into(), Passed),
            (checks::CENTER_CERTIFICATE.into(), Skipped),
        ]
    );
    // A wrong password: authentication fails, and what needs it is not checked.
    let wrong = checks::run(&service(&stand_in, "wrong"), None).await;
    assert_eq!(wrong[2].result, Failed, "{wrong:?}");
    assert!(
        wrong[2].message.as_deref().unwrap().contains("password"),
        "{wrong:?}"
    );
    assert!(wrong[3..].iter().all(|c| c.result == Skipped), "{wrong:?}");
    // A read-only account may read devices but not notify clients.
    stand_in.site.lock().unwrap().set_roles(&["SMS000AR"]);
    let read_only = checks::run(&service(&stand_in, PASSWORD), None).await;
    assert_eq!(read_only[3].result, Passed);
    assert_eq!(read_only[4].result, Failed, "{read_only:?}");
    assert!(read_only[4]
        .message
        .as_deref()
        .unwrap()
        .contains("Notify Resource"));
    stand_in.site.lock().unwrap().set_roles(&["SMS0001R"]);
    // An admin center that cannot be reached.
    let nowhere = AdminCenter {
        url: "http://127.0.0.1:9".into(),
        ca_pem: None,
    };
    let unreachable = checks::run(&service(&stand_in, PASSWORD), Some(&nowhere)).await;
    assert_eq!(unreachable[6].result, Failed, "{unreachable:?}");

    // Attached, the site reports its checks with its information: the connector's details show them.
    let site = RealSite::connect(
        service(&stand_in, PASSWORD),
        RealSiteOptions {
            admin_center: Some(center),
            ..RealSiteOptions::default()
        },
    )
    .await
    .unwrap();
    let token = app.onboarding_token().await;
    let site = SiteConnector::attach(&app.url, &token, site, SiteOptions::default())
        .await
        .unwrap();
    let connector = connector(&app, &connector_id(&site)).await;
    let reported = connector.connectivity_checks;
    assert!(!reported.is_empty(), "checks reported");
    assert_eq!(results(&reported), results(&all_passed));
    assert!(reported.iter().all(|c| c.checked_date_time.ends_with('Z')));
    // Checks are a site's input like any other: bounded, dated, without control characters.
    let mut info = site.source().lock().await.info().clone();
    for bad in [
        |c: &mut admin_api::ConnectivityCheck| c.message = Some("bad\u{7}".into()),
        |c: &mut admin_api::ConnectivityCheck| c.checked_date_time = "yesterday".into(),
        |c: &mut admin_api::ConnectivityCheck| c.check = String::new(),
    ] {
        let mut checks = reported.clone();
        bad(&mut checks[0]);
        info.connectivity_checks = Some(checks);
        let refused = site.client().report_site(&info).await.unwrap_err();
        assert_eq!(refused.status().map(|s| s.as_u16()), Some(400), "{refused}");
    }
    info.connectivity_checks = Some(vec![reported[0].clone(); 21]);
    let refused = site.client().report_site(&info).await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(400), "{refused}");
    let unchanged = crate::protocol::connector(&app, &connector_id(&site)).await;
    assert_eq!(unchanged.connectivity_checks, reported);
    app.shut_down().await;
}

/// The `site-connector` binary of `profile` (`dev` or `release`), built now if it is not current.
fn site_connector_binary(profile: &str) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--locked", "-q", "--profile", profile])
        .args(["-p", "site-connector", "--bin", "site-connector"])
        .status()
        .unwrap();
    assert!(status.success(), "the site-connector binary builds");
    // target/<profile folder>/deps/<this test> → target/
    let deps = std::env::current_exe().unwrap();
    let target = deps.parent().unwrap().parent().unwrap().parent().unwrap();
    let folder = if profile == "dev" { "debug" } else { profile };
    let binary = target.join(folder).join("site-connector");
    assert!(binary.is_file(), "{} exists", binary.display());
    binary
}

/// Reads a child's output until a line contains `wanted`; every line read so far.
async fn until_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    wanted: &str,
) -> String {
    let mut printed = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        printed.push_str(&line);
        printed.push('\n');
        if line.contains(wanted) {
            return printed;
        }
    }
    panic!("the connector ended without printing '{wanted}':\n{printed}");
}

#[tokio::test]
async fn the_binary_killed_mid_upload_resumes_from_its_state_and_lands_once() {
    use tokio::io::AsyncBufReadExt;
    let binary = site_connector_binary("dev");
    let stand_in = StandIn::start(Site::with_devices(9088, 2000)).await;
    let app = spawn_app().await;
    let state = tempfile::tempdir().unwrap();
    let folder = state.path().join("connector");
    let token = app.onboarding_token().await;
    let common = |command: &mut tokio::process::Command| {
        command
            .args(["--admin-service", &stand_in.url])
            .args(["--admin-service-user", USER])
            .args(["--admin-service-pin", &stand_in.pin])
            .args(["--server", &app.url])
            .arg("--state")
            .arg(&folder)
            .args(["--batch-size", "400"])
            .env("ADMIN_SERVICE_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
    };
    // Attach, and be killed while the third page of systems is read (two batches sent).
    stand_in.gate.pause_at(3);
    let mut attach = tokio::process::Command::new(&binary);
    attach.arg("attach").args(["--onboarding-token", &token]);
    common(&mut attach);
    let mut first = attach.spawn().unwrap();
    tokio::select! {
        () = stand_in.gate.reached() => {}
        ended = first.wait() => panic!("the connector ended before reading the site: {ended:?}"),
    }
    first.kill().await.unwrap();
    stand_in.gate.open();
    let kept = site_connector::state::StateFile::in_folder(&folder)
        .unwrap()
        .load()
        .unwrap()
        .expect("the credential was kept at once");
    assert!(kept.full_sync_in_progress.is_some());
    assert!(
        devices(&app).await.is_empty(),
        "an unfinished full sync is invisible"
    );

    // `run` resumes without a token and lands the whole site once.
    let mut run = tokio::process::Command::new(&binary);
    run.arg("run");
    common(&mut run);
    let mut second = run.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(second.stdout.take().unwrap()).lines();
    let printed = until_line(&mut lines, "Uploaded").await;
    assert!(
        printed.contains(&format!("Resuming connector {}", kept.connector_id)),
        "{printed}"
    );
    assert!(printed.contains("Uploaded 2000 devices."), "{printed}");
    let all = devices(&app).await;
    assert_eq!(all.len(), 2000);
    let connectors: Collection<Connector> =
        app.get("/api/v1/connectors").await.json().await.unwrap();
    assert_eq!(
        connectors.value.len(),
        1,
        "the same connector, no second one"
    );
    assert_eq!(connectors.value[0].id, kept.connector_id);
    let after = site_connector::state::StateFile::in_folder(&folder)
        .unwrap()
        .load()
        .unwrap()
        .unwrap();
    assert_eq!(after.full_sync_in_progress, None);
    assert!(folder.join("device-snapshot.json").is_file());
    // Stopped with Ctrl+C, it says so; started again, a delta will do.
    let stopped = std::process::Command::new("kill")
        .args(["-INT", &second.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    until_line(&mut lines, "Stopped.").await;
    assert!(second.wait().await.unwrap().success());
    let mut again = tokio::process::Command::new(&binary);
    again.arg("run");
    common(&mut again);
    let mut third = again.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(third.stdout.take().unwrap()).lines();
    until_line(
        &mut lines,
        "Resumed; nothing changed since the last upload.",
    )
    .await;

    // Offboarded: the connector says so, exits, and forgets its state.
    let deleted = app
        .client
        .delete(format!(
            "{}/api/v1/connectors/{}",
            app.url, kept.connector_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 202);
    until_line(&mut lines, "offboarded this hierarchy").await;
    assert_eq!(third.wait().await.unwrap().code(), Some(3));
    assert!(!folder.join("connector-state.json").exists());
    assert!(!folder.join("device-snapshot.json").exists());
    app.shut_down().await;
}

#[tokio::test]
async fn through_a_gateway_the_connector_signs_in_with_entra_tokens_and_renews_them() {
    use site_connector::admin_service::EntraCredential;
    let mut data = Site::with_devices(9088, 50);
    data.app = Some((APP.into(), "app-s3cret".into()));
    data.token_lifetime = 3600;
    let stand_in = StandIn::start(data).await;
    let entra = |secret: &str| through_gateway(&stand_in, EntraCredential::Secret(secret.into()));
    let app = spawn_app().await;
    let site = attach_through(&app, entra("app-s3cret"), RealSiteOptions::default()).await;
    assert_eq!(site.full_sync().await.unwrap().device_count, 50);
    let queries = stand_in.site.lock().unwrap().queries.len();
    assert!(queries > 5);
    assert_eq!(
        stand_in.site.lock().unwrap().token_requests,
        1,
        "one token for every query"
    );
    // A token the service no longer accepts is replaced once, and the read goes on.
    stand_in.site.lock().unwrap().revoke_tokens();
    assert_eq!(site.send_delta().await.unwrap(), None);
    assert_eq!(stand_in.site.lock().unwrap().token_requests, 2);
    // Tokens that expire at once are fetched again before each request.
    stand_in.site.lock().unwrap().token_lifetime = 0;
    let (tokens_before, queries_before) = {
        let data = stand_in.site.lock().unwrap();
        (data.token_requests, data.queries.len())
    };
    let service = entra("app-s3cret");
    let checks = site_connector::admin_service::checks::run(&service, None).await;
    assert!(
        checks[..4]
            .iter()
            .all(|c| c.result == admin_api::CheckResult::Passed),
        "{checks:?}"
    );
    {
        let data = stand_in.site.lock().unwrap();
        let queries = data.queries.len() - queries_before;
        assert!(queries >= 2);
        assert_eq!(
            data.token_requests - tokens_before,
            queries,
            "a new token for each request"
        );
    }
    // A wrong secret: Entra ID's own words, and nothing read.
    let wrong = refusal(entra("wrong")).await;
    assert!(
        matches!(wrong, AdminServiceError::Authentication { .. }),
        "{wrong}"
    );
    assert!(wrong.to_string().contains("AADSTS7000215"), "{wrong}");
    assert!(!format!("{:?}", entra("app-s3cret").url()).contains("s3cret"));
    app.shut_down().await;
}

#[tokio::test]
async fn through_a_gateway_a_certificate_signs_the_connectors_own_assertions() {
    use site_connector::admin_service::{EntraCertificate, EntraCredential};
    let registered = include_bytes!("fixtures/entra-app.pem");
    let other = include_bytes!("fixtures/entra-other.pem");
    let certificate = EntraCertificate::from_pem(registered).unwrap();
    let mut data = Site::with_devices(9088, 50);
    // No secret works: only the certificate proves the app.
    data.app = Some((APP.into(), uuid::Uuid::new_v4().to_string()));
    data.app_certificate = Some((
        certificate.thumbprint().to_owned(),
        include_bytes!("fixtures/entra-app.pub.pem").to_vec(),
    ));
    data.token_lifetime = 0;
    let stand_in = StandIn::start(data).await;
    let entra = |pem: &[u8]| {
        let certificate = EntraCertificate::from_pem(pem).unwrap();
        through_gateway(&stand_in, EntraCredential::Certificate(certificate))
    };
    // Tokens that expire at once: a fresh assertion for each token (the stand-in takes each
    // assertion once), and every read goes through.
    let app = spawn_app().await;
    let site = attach_through(&app, entra(registered), RealSiteOptions::default()).await;
    assert_eq!(site.full_sync().await.unwrap().device_count, 50);
    {
        let data = stand_in.site.lock().unwrap();
        assert!(data.token_requests > 5, "{}", data.token_requests);
        assert_eq!(
            data.token_requests,
            data.queries.len(),
            "one token per read"
        );
    }
    // A certificate the app does not have: Entra ID's words, nothing read.
    let queries = stand_in.site.lock().unwrap().queries.len();
    let refused = refusal(entra(other)).await;
    assert!(
        matches!(refused, AdminServiceError::Authentication { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("AADSTS700027"), "{refused}");
    assert_eq!(stand_in.site.lock().unwrap().queries.len(), queries);
    // Files that hold no usable credential are told at once.
    let certificate_only = String::from_utf8_lossy(registered)
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .to_owned();
    let error = EntraCertificate::from_pem(certificate_only.as_bytes())
        .err()
        .unwrap();
    assert!(error.to_string().contains("no private key"), "{error}");
    let ec = rcgen::generate_simple_self_signed(vec!["app".into()]).unwrap();
    let ec_pem = format!("{}{}", ec.cert.pem(), ec.signing_key.serialize_pem());
    let error = EntraCertificate::from_pem(ec_pem.as_bytes()).err().unwrap();
    assert!(error.to_string().contains("RSA"), "{error}");
    assert!(EntraCertificate::from_pem(b"not a certificate").is_err());
    // The key never prints.
    let printed = format!("{:?}", EntraCredential::Certificate(certificate));
    assert!(!printed.contains("PRIVATE"), "{printed}");
    app.shut_down().await;
}

/// The connector's memory at 200,000 devices (issue 15's budget: under 150 MB): the release
/// binary attaches a stand-in site of that size; its peak RSS is printed and held to the budget.
/// A measurement (about 12 minutes here, the debug stand-in being the slow part), run by hand:
/// `cargo test -p admin-server --test api -- --ignored --nocapture connector_memory`; the last
/// result is in docs/performance.md.
#[tokio::test]
#[ignore = "a measurement (minutes, a release build); run by hand and report in docs/performance.md"]
async fn connector_memory_at_200k_devices() {
    use tokio::io::AsyncBufReadExt;
    const DEVICES: u32 = 200_000;
    let binary = site_connector_binary("release");
    let stand_in = StandIn::start(Site::with_devices(9088, DEVICES)).await;
    let app = spawn_app().await;
    let state = tempfile::tempdir().unwrap();
    let token = app.onboarding_token().await;
    let started = std::time::Instant::now();
    let mut child = tokio::process::Command::new(&binary)
        .arg("attach")
        .args(["--onboarding-token", &token])
        .args(["--admin-service", &stand_in.url])
        .args(["--admin-service-user", USER])
        .args(["--admin-service-pin", &stand_in.pin])
        .args(["--server", &app.url])
        .arg("--state")
        .arg(state.path())
        .env("ADMIN_SERVICE_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let printed = until_line(&mut lines, "Uploaded").await;
    assert!(
        printed.contains(&format!("Uploaded {DEVICES} devices.")),
        "{printed}"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap()
        .to_owned();
    println!(
        "site-connector attach, {DEVICES} devices, batch 500: {peak} (peak RSS), {:.0} s, {:?} (connections, handshakes)",
        started.elapsed().as_secs_f64(),
        stand_in.connections_and_handshakes(),
    );
    let kilobytes: u64 = peak
        .split_whitespace()
        .nth(1)
        .and_then(|number| number.parse().ok())
        .unwrap();
    assert!(kilobytes < 150 * 1024, "over the 150 MB budget: {peak}");
    child.kill().await.unwrap();
    app.shut_down().await;
}
