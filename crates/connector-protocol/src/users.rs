//! Tenant attach's rule for the user who asks for a device action: the site must have discovered
//! them as a hybrid identity. Configuration Manager 2103 and later accept a user found by Azure AD
//! user discovery or by Active Directory user discovery; 2010 and earlier need both. A site's
//! connector (a real one through `SMS_R_User`, or a simulated hierarchy from its list) finds the
//! user and applies the rule here, before the client is notified.

use admin_api::protocol::Requester;

/// The discovery agent of Active Directory user discovery, as `SMS_R_User.AgentName` lists it.
pub const ACTIVE_DIRECTORY_USER_DISCOVERY: &str = "SMS_AD_USER_DISCOVERY_AGENT";
/// The discovery agent of Azure AD (Entra ID) user discovery.
pub const ENTRA_USER_DISCOVERY: &str = "SMS_AZUREAD_DISCOVERY_AGENT";
/// The first version that accepts a user found by either discovery method alone.
pub const EITHER_DISCOVERY_FROM: u32 = 2103;
/// E_ACCESSDENIED: the result code of an action the site refused for its requester.
pub const ACCESS_DENIED: i64 = 0x8007_0005_u32 as i32 as i64;

/// A user resource as the site holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredUser {
    /// `DOMAIN\user`, as the site names the user (`SMS_R_User.UniqueUserName`).
    pub unique_user_name: String,
    pub user_principal_name: Option<String>,
    /// The Entra ID object id (`SMS_R_User.AADUserID`).
    pub object_id: Option<String>,
    pub sid: Option<String>,
    /// The discovery agents that found the user (`SMS_R_User.AgentName`).
    pub agents: Vec<String>,
}

impl DiscoveredUser {
    /// A user found by the given discovery methods.
    pub fn new(
        unique_user_name: &str,
        user_principal_name: &str,
        by_active_directory: bool,
        by_entra_id: bool,
    ) -> Self {
        let agents = [
            (by_active_directory, ACTIVE_DIRECTORY_USER_DISCOVERY),
            (by_entra_id, ENTRA_USER_DISCOVERY),
        ]
        .iter()
        .filter(|(found, _)| *found)
        .map(|(_, agent)| (*agent).to_owned())
        .collect();
        Self {
            unique_user_name: unique_user_name.to_owned(),
            user_principal_name: Some(user_principal_name.to_owned()),
            object_id: None,
            sid: None,
            agents,
        }
    }

    fn found_by(&self, agent: &str) -> bool {
        self.agents.iter().any(|a| a.eq_ignore_ascii_case(agent))
    }
}

/// How the requester is looked up at the site: by Entra object id when the admin center knows
/// it, else by on-premises SID, else by user principal name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    ObjectId(&'a str),
    Sid(&'a str),
    UserPrincipalName(&'a str),
}

impl<'a> Lookup<'a> {
    pub fn of(requester: &'a Requester) -> Self {
        let given = |value: &'a Option<String>| value.as_deref().filter(|v| !v.trim().is_empty());
        if let Some(id) = given(&requester.object_id) {
            Lookup::ObjectId(id)
        } else if let Some(sid) = given(&requester.onprem_sid) {
            Lookup::Sid(sid)
        } else {
            Lookup::UserPrincipalName(&requester.user_principal_name)
        }
    }

    /// Whether `user` is the one looked up.
    pub fn matches(&self, user: &DiscoveredUser) -> bool {
        let same = |kept: &Option<String>, wanted: &str| {
            kept.as_deref()
                .is_some_and(|kept| kept.eq_ignore_ascii_case(wanted))
        };
        match self {
            Lookup::ObjectId(id) => same(&user.object_id, id),
            Lookup::Sid(sid) => same(&user.sid, sid),
            Lookup::UserPrincipalName(upn) => same(&user.user_principal_name, upn),
        }
    }
}

/// Whether the site at `version` may act for `found`, the user resource the lookup found (if
/// any): the name the site knows the requester by, or why not, in words.
pub fn check(
    site_code: &str,
    version: u32,
    requester: &Requester,
    found: Option<&DiscoveredUser>,
) -> Result<String, String> {
    let who = &requester.user_principal_name;
    let by_ad = found.is_some_and(|u| u.found_by(ACTIVE_DIRECTORY_USER_DISCOVERY));
    let by_entra = found.is_some_and(|u| u.found_by(ENTRA_USER_DISCOVERY));
    let accepted = if version >= EITHER_DISCOVERY_FROM {
        by_ad || by_entra
    } else {
        by_ad && by_entra
    };
    match found {
        Some(user) if accepted => Ok(user.unique_user_name.clone()),
        _ if version >= EITHER_DISCOVERY_FROM => Err(format!(
            "The site {site_code} has not discovered {who}. Configuration Manager 2103 and later \
             need Azure AD user discovery or Active Directory user discovery to find the user."
        )),
        Some(_) if by_ad || by_entra => Err(format!(
            "The site {site_code} found {who} by {} only. Configuration Manager 2010 and earlier \
             (this site is at {version}) need both Azure AD user discovery and Active Directory \
             user discovery to find the user.",
            if by_ad {
                "Active Directory user discovery"
            } else {
                "Azure AD user discovery"
            }
        )),
        _ => Err(format!(
            "The site {site_code} has not discovered {who}. Configuration Manager 2010 and \
             earlier (this site is at {version}) need both Azure AD user discovery and Active \
             Directory user discovery to find the user."
        )),
    }
}

/// The refusal of an action that names no requester, at a site that checks them.
pub fn no_requester(site_code: &str) -> String {
    format!(
        "The admin center did not say who asked for this action, and the site {site_code} \
         checks the user before it runs one."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jane(object_id: Option<&str>, sid: Option<&str>) -> Requester {
        Requester {
            display_name: "Jane Doe".into(),
            user_principal_name: "jane@contoso.com".into(),
            object_id: object_id.map(str::to_owned),
            onprem_sid: sid.map(str::to_owned),
        }
    }

    fn user(by_ad: bool, by_entra: bool) -> DiscoveredUser {
        let mut user = DiscoveredUser::new("CONTOSO\\jane", "Jane@Contoso.com", by_ad, by_entra);
        user.object_id = Some("0000-aad".into());
        user.sid = Some("S-1-5-21-1-2-3-1104".into());
        user
    }

    #[test]
    fn the_lookup_prefers_the_object_id_then_the_sid_then_the_name() {
        assert_eq!(
            Lookup::of(&jane(Some("0000-aad"), Some("S-1"))),
            Lookup::ObjectId("0000-aad")
        );
        assert_eq!(Lookup::of(&jane(None, Some("S-1"))), Lookup::Sid("S-1"));
        assert_eq!(
            Lookup::of(&jane(Some(" "), None)),
            Lookup::UserPrincipalName("jane@contoso.com")
        );
        let found = user(true, true);
        assert!(Lookup::ObjectId("0000-AAD").matches(&found));
        assert!(!Lookup::ObjectId("other").matches(&found));
        assert!(Lookup::Sid("S-1-5-21-1-2-3-1104").matches(&found));
        assert!(Lookup::UserPrincipalName("jane@contoso.com").matches(&found));
    }

    #[test]
    fn from_2103_either_discovery_method_is_enough() {
        let jane = jane(None, None);
        for (ad, entra) in [(true, false), (false, true), (true, true)] {
            assert_eq!(
                check("PS1", 2103, &jane, Some(&user(ad, entra))),
                Ok("CONTOSO\\jane".to_owned())
            );
        }
        let refused = check("PS1", 2207, &jane, Some(&user(false, false))).unwrap_err();
        assert_eq!(
            refused,
            "The site PS1 has not discovered jane@contoso.com. Configuration Manager 2103 and \
             later need Azure AD user discovery or Active Directory user discovery to find the user."
        );
        assert_eq!(check("PS1", 2207, &jane, None).unwrap_err(), refused);
    }

    #[test]
    fn until_2010_both_discovery_methods_are_needed() {
        let jane = jane(None, None);
        assert!(check("PS1", 2010, &jane, Some(&user(true, true))).is_ok());
        let ad_only = check("PS1", 2010, &jane, Some(&user(true, false))).unwrap_err();
        assert!(
            ad_only.starts_with(
                "The site PS1 found jane@contoso.com by Active Directory user discovery only."
            ),
            "{ad_only}"
        );
        let entra_only = check("PS1", 2006, &jane, Some(&user(false, true))).unwrap_err();
        assert!(
            entra_only.contains("by Azure AD user discovery only")
                && entra_only.contains("at 2006"),
            "{entra_only}"
        );
        let unknown = check("PS1", 2010, &jane, None).unwrap_err();
        assert!(
            unknown.starts_with("The site PS1 has not discovered jane@contoso.com.")
                && unknown.contains("need both"),
            "{unknown}"
        );
    }
}
