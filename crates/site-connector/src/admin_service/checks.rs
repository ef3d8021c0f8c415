//! The connectivity checks a connector runs at start, every hour and on `site-connector check`:
//! one line each, with what to do when it fails. They go to the admin center with the site's
//! information and show in the connector's details.

use admin_api::{CheckResult, ConnectivityCheck};
use time::format_description::well_known::Rfc3339;

use super::{wmi, AdminService, AdminServiceError};
use admin_api::collection::odata_string;

/// What the checks need to know of the admin center.
#[derive(Debug, Clone)]
pub struct AdminCenter {
    pub url: String,
    pub ca_pem: Option<Vec<u8>>,
}

pub const REACHABLE: &str = "AdminService reachable over HTTPS";
pub const CERTIFICATE: &str = "AdminService certificate trusted";
pub const AUTHENTICATION: &str = "AdminService accepts the account";
pub const READ_DEVICES: &str = "Account may read devices";
pub const NOTIFY: &str = "Account may run client notifications";
pub const VERSION: &str = "Site version 1910 or later";
pub const CENTER_REACHABLE: &str = "Admin center reachable";
pub const CENTER_CERTIFICATE: &str = "Admin center certificate trusted";

/// ConfigMgr's object type of collections (SMS_RbacSecuredObject, SMS_ARoleOperation).
const COLLECTION_TYPE: u32 = 1;

struct Report {
    at: String,
    checks: Vec<ConnectivityCheck>,
}

impl Report {
    fn add(&mut self, check: &str, result: CheckResult, message: Option<String>) {
        self.checks.push(ConnectivityCheck {
            check: check.into(),
            result,
            checked_date_time: self.at.clone(),
            message,
        });
    }

    fn passed(&mut self, check: &str, message: Option<String>) {
        self.add(check, CheckResult::Passed, message);
    }

    fn failed(&mut self, check: &str, message: String) {
        self.add(check, CheckResult::Failed, Some(message));
    }

    fn skipped(&mut self, checks: &[&str], because: &str) {
        for check in checks {
            self.add(
                check,
                CheckResult::Skipped,
                Some(format!("Not checked: {because}.")),
            );
        }
    }
}

/// Runs every check, in order; a check that cannot run for an earlier failure is skipped.
pub async fn run(service: &AdminService, center: Option<&AdminCenter>) -> Vec<ConnectivityCheck> {
    let mut report = Report {
        at: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("zero is valid")
            .format(&Rfc3339)
            .expect("UTC formats"),
        checks: Vec::new(),
    };
    let later = [READ_DEVICES, NOTIFY, VERSION];
    match service
        .query(
            "SMS_Site",
            &["SiteCode", "BuildNumber", "Version", "ReportingSiteCode"],
            None,
            None,
        )
        .await
    {
        Err(AdminServiceError::Unreachable(error)) => {
            report.failed(
                REACHABLE,
                format!("{error}. Check the address (https://<SMS Provider FQDN>/AdminService), that the SMS Provider answers on port 443 and that no firewall blocks it."),
            );
            report.skipped(
                &[CERTIFICATE, AUTHENTICATION],
                "the AdminService could not be reached",
            );
            report.skipped(&later, "the AdminService could not be reached");
        }
        Err(error @ AdminServiceError::Untrusted(_)) => {
            report.passed(REACHABLE, None);
            report.failed(CERTIFICATE, error.to_string());
            report.skipped(&[AUTHENTICATION], "the certificate is not trusted");
            report.skipped(&later, "the certificate is not trusted");
        }
        Err(error @ AdminServiceError::Authentication { .. }) => {
            report.passed(REACHABLE, None);
            report.passed(CERTIFICATE, None);
            report.failed(AUTHENTICATION, error.to_string());
            report.skipped(&later, "the account was not accepted");
        }
        Err(error) => {
            report.passed(REACHABLE, None);
            report.passed(CERTIFICATE, None);
            report.failed(
                AUTHENTICATION,
                format!("{error}. The account needs a security role in Configuration Manager (at least Read-only Analyst)."),
            );
            report.skipped(&later, "the site could not be read");
        }
        Ok(sites) => {
            report.passed(REACHABLE, None);
            report.passed(CERTIFICATE, None);
            report.passed(
                AUTHENTICATION,
                Some(format!("Signed in as {}.", service.account_name())),
            );
            read_devices(service, &mut report).await;
            notifications(service, &mut report).await;
            version(&sites, &mut report);
        }
    }
    if let Some(center) = center {
        admin_center(center, &mut report).await;
    }
    report.checks
}

async fn read_devices(service: &AdminService, report: &mut Report) {
    match service
        .query("SMS_R_System", &["ResourceId"], None, Some(1))
        .await
    {
        Ok(_) => report.passed(READ_DEVICES, None),
        Err(error) => report.failed(
            READ_DEVICES,
            format!("{error}. Give the account a security role that reads the collections to upload (e.g. Read-only Analyst) with those collections in its scope."),
        ),
    }
}

/// Whether one of the account's security roles grants Notify Resource on collections: the
/// operation's bit as the site names it (`SMS_RbacSecuredObject`), the account's roles
/// (`SMS_Admin`) and what they grant (`SMS_Role`).
async fn notifications(service: &AdminService, report: &mut Report) {
    if !service.is_windows_account() {
        report.add(
            NOTIFY,
            CheckResult::Skipped,
            Some("Signed in as an app through the gateway: the first action will show whether it may run client notifications.".into()),
        );
        return;
    }
    match may_notify(service).await {
        Ok(Some(true)) => report.passed(NOTIFY, None),
        Ok(Some(false)) => report.failed(
            NOTIFY,
            "None of the account's security roles grants Notify Resource on collections: give it a role that does (e.g. Operations Administrator) with the devices' collections in its scope.".into(),
        ),
        Ok(None) => report.add(
            NOTIFY,
            CheckResult::Skipped,
            Some("The account is not an administrative user by its own name (its rights may come from a group): the first action will show whether it may run client notifications.".into()),
        ),
        Err(error) => report.add(
            NOTIFY,
            CheckResult::Skipped,
            Some(format!("The account's rights could not be read ({error}): the first action will show whether it may run client notifications.")),
        ),
    }
}

async fn may_notify(service: &AdminService) -> Result<Option<bool>, AdminServiceError> {
    let operations = service
        .query(
            "SMS_RbacSecuredObject",
            &["ObjectTypeID", "AvailableOperations"],
            Some(&format!("ObjectTypeID eq {COLLECTION_TYPE}")),
            None,
        )
        .await?;
    let bit = operations
        .iter()
        .filter_map(|row| wmi::get(row, "AvailableOperations")?.as_array())
        .flatten()
        .filter_map(|operation| operation.as_object())
        .find(|operation| {
            wmi::text(operation, "OperationName").as_deref() == Some("Notify Resource")
        })
        .and_then(|operation| wmi::uint(operation, "BitFlag"));
    let Some(bit) = bit else {
        return Ok(None);
    };
    let admins = service
        .query(
            "SMS_Admin",
            &["LogonName", "Roles"],
            Some(&format!(
                "LogonName eq {}",
                odata_string(service.account_name())
            )),
            Some(1),
        )
        .await?;
    let Some(admin) = admins.first() else {
        return Ok(None);
    };
    let roles: Vec<String> = wmi::get(admin, "Roles")
        .and_then(|roles| roles.as_array())
        .map(|roles| {
            roles
                .iter()
                .filter_map(|role| role.as_str().map(str::to_owned))
                .take(100)
                .collect()
        })
        .unwrap_or_default();
    for role in roles {
        let found = service
            .query(
                &format!("SMS_Role({})", odata_string(&role)),
                &[],
                None,
                None,
            )
            .await?;
        let grants = found
            .iter()
            .filter_map(|row| wmi::get(row, "Operations")?.as_array())
            .flatten()
            .filter_map(|operation| operation.as_object())
            .any(|operation| {
                wmi::uint(operation, "ObjectTypeID") == Some(COLLECTION_TYPE)
                    && wmi::uint(operation, "GrantedOperations")
                        .is_some_and(|granted| granted & bit != 0)
            });
        if grants {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

fn version(sites: &[wmi::Row], report: &mut Report) {
    let top = sites
        .iter()
        .find(|site| wmi::text(site, "ReportingSiteCode").is_none())
        .or(sites.first());
    let build = top.and_then(|site| {
        wmi::uint(site, "BuildNumber")
            .or_else(|| wmi::text(site, "Version").and_then(|v| wmi::build_of_version(&v)))
    });
    match build.map(|build| (build, wmi::release_of_build(build))) {
        Some((_, Some(release))) => report.passed(VERSION, Some(format!("The site runs {release}."))),
        Some((build, None)) => report.failed(
            VERSION,
            format!("The site runs build {build}, older than 1910: the AdminService's client notifications need 1910 or later. Update the site."),
        ),
        None => report.failed(VERSION, "The site reports no build number.".into()),
    }
}

async fn admin_center(center: &AdminCenter, report: &mut Report) {
    let client =
        crate::client::ProtocolClient::trusting(&center.url, None, center.ca_pem.as_deref());
    let outcome = match client {
        Ok(client) => client.reach().await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => {
            report.passed(CENTER_REACHABLE, None);
            if center.url.starts_with("https://") {
                report.passed(CENTER_CERTIFICATE, None);
            } else {
                report.add(
                    CENTER_CERTIFICATE,
                    CheckResult::Skipped,
                    Some("The admin center is reached over plain HTTP.".into()),
                );
            }
        }
        Err(error) => {
            let text = super::error_chain(&error);
            if text.contains("certificate") {
                report.passed(CENTER_REACHABLE, None);
                report.failed(
                    CENTER_CERTIFICATE,
                    format!("{text}. Trust the admin center's CA with --ca-file <PEM file>."),
                );
            } else {
                report.failed(
                    CENTER_REACHABLE,
                    format!("{text}. Check --server and that this machine may reach it."),
                );
                report.skipped(
                    &[CENTER_CERTIFICATE],
                    "the admin center could not be reached",
                );
            }
        }
    }
}
