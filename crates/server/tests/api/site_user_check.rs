//! Tenant attach's check of the user who asks for an action, at a real site's AdminService (the
//! stand-in): the requester is looked up in `SMS_R_User` by Entra object id, else SID, else user
//! principal name; a site at 2103 or later accepts a user found by either user discovery method,
//! 2010 and earlier need both; a user the site has not discovered, or a site that cannot say,
//! ends the action failed with the reason in words and notifies no client.

use std::time::Duration;

use admin_api::protocol::{Requester, SiteAction};
use admin_api::ConfigurationManagerActionType;
use connector_protocol::source::{DeviceSource, Started};
use site_connector::admin_service::site::{RealSite, RealSiteOptions};
use site_connector::admin_service::{
    tls, AdminService, AdminServiceConfig, Authentication, Trust, WindowsAccount,
};

use crate::events::EventStream;
use crate::protocol::{connector, connector_id, is_action, triggered};
use crate::spawn_app;
use crate::stand_in::{
    Site, StandIn, ACTIVE_DIRECTORY_USER_DISCOVERY, ENTRA_USER_DISCOVERY, PASSWORD, USER,
};

fn service(stand_in: &StandIn) -> AdminService {
    AdminService::new(&AdminServiceConfig {
        url: stand_in.url.clone(),
        authentication: Authentication::Windows(
            WindowsAccount::new(USER, PASSWORD.into()).unwrap(),
        ),
        trust: Trust::Pin(tls::parse_pin(&stand_in.pin).unwrap()),
    })
    .unwrap()
}

/// A site at `build` with three users: Ada found by Azure AD user discovery only (with her
/// object id and SID), Bob by Active Directory user discovery only (with his SID), Cy by neither.
async fn site_with_users(build: u32) -> StandIn {
    let mut site = Site::with_devices(build, 3);
    site.add_user(
        "CONTOSO\\ada",
        "ada@contoso.com",
        Some("aaaaaaaa-0000-0000-0000-00000000a0da"),
        Some("S-1-5-21-1-2-3-1101"),
        &[ENTRA_USER_DISCOVERY],
    );
    site.add_user(
        "CONTOSO\\bob",
        "bob@contoso.com",
        None,
        Some("S-1-5-21-1-2-3-1102"),
        &[ACTIVE_DIRECTORY_USER_DISCOVERY],
    );
    site.add_user("CONTOSO\\cy", "cy@contoso.com", None, None, &[]);
    StandIn::start(site).await
}

async fn connected(stand_in: &StandIn, user_check: bool) -> RealSite {
    RealSite::connect(
        service(stand_in),
        RealSiteOptions {
            status_every: Duration::from_millis(20),
            action_deadline: Duration::from_secs(5),
            user_check,
            ..RealSiteOptions::default()
        },
    )
    .await
    .unwrap()
}

fn requester(upn: &str, object_id: Option<&str>, sid: Option<&str>) -> Requester {
    Requester {
        display_name: upn.into(),
        user_principal_name: upn.into(),
        object_id: object_id.map(str::to_owned),
        onprem_sid: sid.map(str::to_owned),
    }
}

/// A Sync Machine Policy for the site's first (online) device asked by `by`: the name the site
/// knows the requester by when the client answered, or the failed result's message.
async fn outcome(site: &mut RealSite, by: Option<Requester>) -> Result<Option<String>, String> {
    let action = SiteAction {
        id: uuid::Uuid::new_v4().to_string(),
        device_id: id_of(0),
        action: ConfigurationManagerActionType::RefreshMachinePolicy,
        requested_by: by,
    };
    match site.start(&action).await {
        Started::Accepted(answer) => {
            let finished = answer.await.expect("the client answers");
            assert!(
                finished.result.succeeded,
                "{:?}",
                finished.result.result_message
            );
            Ok(finished.result.requester_at_site)
        }
        Started::Refused(result) => {
            assert!(!result.succeeded);
            Err(result.result_message.unwrap_or_default())
        }
    }
}

/// The stand-in's device `index`, by its id.
fn id_of(index: u32) -> String {
    format!(
        "GUID:{index:08X}-0000-4000-8000-{:012X}",
        u64::from(index) * 7
    )
}

fn user_queries(stand_in: &StandIn) -> Vec<String> {
    stand_in
        .site
        .lock()
        .unwrap()
        .queries
        .iter()
        .filter(|q| q.starts_with("SMS_R_User?"))
        .cloned()
        .collect()
}

fn notifications(stand_in: &StandIn) -> usize {
    stand_in.site.lock().unwrap().notifications.len()
}

#[tokio::test]
async fn from_2103_a_user_found_by_either_discovery_method_may_act() {
    let stand_in = site_with_users(9088).await;
    let mut site = connected(&stand_in, true).await;

    // By object id (whatever the name says), by SID, by user principal name.
    let by_object_id = requester(
        "ada.renamed@contoso.com",
        Some("AAAAAAAA-0000-0000-0000-00000000A0DA"),
        Some("S-1-5-21-9"),
    );
    assert_eq!(
        outcome(&mut site, Some(by_object_id)).await,
        Ok(Some("CONTOSO\\ada".into()))
    );
    assert!(user_queries(&stand_in)
        .last()
        .unwrap()
        .contains("AADUserID eq 'AAAAAAAA-0000-0000-0000-00000000A0DA'"));
    let by_sid = requester("bob@contoso.com", None, Some("S-1-5-21-1-2-3-1102"));
    assert_eq!(
        outcome(&mut site, Some(by_sid)).await,
        Ok(Some("CONTOSO\\bob".into()))
    );
    assert!(user_queries(&stand_in)
        .last()
        .unwrap()
        .contains("SID eq 'S-1-5-21-1-2-3-1102'"));
    let by_name = requester("ada@contoso.com", None, None);
    assert_eq!(
        outcome(&mut site, Some(by_name.clone())).await,
        Ok(Some("CONTOSO\\ada".into()))
    );
    assert!(user_queries(&stand_in)
        .last()
        .unwrap()
        .contains("UserPrincipalName eq 'ada@contoso.com'"));
    assert_eq!(notifications(&stand_in), 3);

    // The lookup is kept a while: the same requester again asks the site nothing new.
    let asked = user_queries(&stand_in).len();
    assert!(outcome(&mut site, Some(by_name)).await.is_ok());
    assert_eq!(user_queries(&stand_in).len(), asked);

    // Found by neither method, not found, no requester: refused, no client notified.
    for (by, expected) in [
        (
            Some(requester("cy@contoso.com", None, None)),
            "The site PS1 has not discovered cy@contoso.com. Configuration Manager 2103 and later need Azure AD user discovery or Active Directory user discovery to find the user.",
        ),
        (
            Some(requester("jane@contoso.com", None, None)),
            "The site PS1 has not discovered jane@contoso.com. Configuration Manager 2103 and later need Azure AD user discovery or Active Directory user discovery to find the user.",
        ),
        (
            Some(requester("ada@contoso.com", Some("an-object-id-the-site-never-saw"), None)),
            "The site PS1 has not discovered ada@contoso.com. Configuration Manager 2103 and later need Azure AD user discovery or Active Directory user discovery to find the user.",
        ),
        (
            None,
            "The admin center did not say who asked for this action, and the site PS1 checks the user before it runs one.",
        ),
    ] {
        assert_eq!(outcome(&mut site, by).await, Err(expected.to_owned()));
    }
    assert_eq!(notifications(&stand_in), 4);

    // A site that cannot answer the lookup: the action is not run unchecked.
    stand_in.site.lock().unwrap().classes.remove("sms_r_user");
    let refused = outcome(&mut site, Some(requester("dee@contoso.com", None, None)))
        .await
        .unwrap_err();
    assert!(
        refused.starts_with("The site PS1 could not say whether it discovered dee@contoso.com, so the action was not run: "),
        "{refused}"
    );
    assert_eq!(notifications(&stand_in), 4);
}

#[tokio::test]
async fn until_2010_a_user_needs_both_discovery_methods() {
    let stand_in = site_with_users(9040).await;
    let mut site = connected(&stand_in, true).await;
    let ada = outcome(&mut site, Some(requester("ada@contoso.com", None, None)))
        .await
        .unwrap_err();
    assert_eq!(
        ada,
        "The site PS1 found ada@contoso.com by Azure AD user discovery only. Configuration Manager 2010 and earlier (this site is at 2010) need both Azure AD user discovery and Active Directory user discovery to find the user."
    );
    let bob = outcome(&mut site, Some(requester("bob@contoso.com", None, None)))
        .await
        .unwrap_err();
    assert!(
        bob.contains("by Active Directory user discovery only"),
        "{bob}"
    );
    // The tests' administrator was found by both.
    let admin = requester(crate::helpers::ADMIN, None, None);
    assert_eq!(
        outcome(&mut site, Some(admin)).await,
        Ok(Some("CONTOSO\\admin".into()))
    );
    assert_eq!(notifications(&stand_in), 1);
}

#[tokio::test]
async fn with_the_user_check_off_the_site_does_not_look_users_up_and_says_so() {
    let stand_in = site_with_users(9088).await;
    let mut site = connected(&stand_in, false).await;
    assert_eq!(
        outcome(&mut site, Some(requester("jane@contoso.com", None, None))).await,
        Ok(None)
    );
    assert_eq!(outcome(&mut site, None).await, Ok(None));
    assert!(user_queries(&stand_in).is_empty());
    assert_eq!(
        site.site_info().await.unwrap().unwrap().checks_users,
        Some(false)
    );
}

/// Through the admin center: the administrator's action is carried with who asked and ends done,
/// its audit entry naming them as the site knows them; a local account the site never discovered
/// ends failed with the site's reason; the connector's details say the site checks users.
#[tokio::test]
async fn the_admin_center_carries_the_requester_and_audits_them_as_the_site_saw_them() {
    let stand_in = site_with_users(9088).await;
    let app = spawn_app().await;
    let site = connected(&stand_in, true).await;
    let token = app.onboarding_token().await;
    let site = site_connector::SiteConnector::attach(
        &app.url,
        &token,
        site,
        site_connector::SiteOptions::default(),
    )
    .await
    .unwrap();
    site.full_sync().await.unwrap();
    site.report_site().await.unwrap();
    assert_eq!(
        connector(&app, &connector_id(&site)).await.checks_users,
        Some(true)
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(site.serve(stop.clone()));
    let mut events = EventStream::open(&app).await;
    let device = id_of(0);

    let action = triggered(&app.api(), &device, "refreshMachinePolicy").await;
    events
        .wait_for("deviceAction", is_action(&action.id, "done"))
        .await;
    let audit: serde_json::Value = app
        .get("/api/v1/auditEvents?$filter=activity eq 'configurationManagerActionResult'")
        .await
        .json()
        .await
        .unwrap();
    let details = audit["value"][0]["details"].as_str().unwrap().to_owned();
    assert!(
        details.contains(&format!(
            "requested by {}, whom the site knows as CONTOSO\\admin.",
            crate::helpers::ADMIN
        )),
        "{details}"
    );

    app.add_user(
        "stranger@tests.example",
        &[admin_api::identity::HELP_DESK_OPERATOR],
    )
    .await;
    let stranger = app.api_as("stranger@tests.example").await;
    let action = triggered(&stranger, &device, "refreshMachinePolicy").await;
    let failed = events
        .wait_for("deviceAction", is_action(&action.id, "failed"))
        .await;
    assert_eq!(
        failed["resultMessage"],
        "The site PS1 has not discovered stranger@tests.example. Configuration Manager 2103 and later need Azure AD user discovery or Active Directory user discovery to find the user."
    );
    assert_eq!(
        failed["resultCode"],
        connector_protocol::users::ACCESS_DENIED
    );
    assert_eq!(notifications(&stand_in), 1);
    stop.cancel();
    serving.await.unwrap();
    app.shut_down().await;
}
