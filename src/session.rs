//! The signed-in user, provided once for the whole app: who they are and what they may do, so
//! that views disable what the server would refuse, and say why.

use admin_api::{Me, Permission};
use leptos::prelude::*;

use crate::api::query::encode;
use crate::paths;

#[derive(Clone, Copy)]
pub struct Session {
    /// `None` until `/me` answered, and after sign-out or a 401.
    pub me: RwSignal<Option<Me>>,
}

impl Session {
    pub fn may(&self, permission: Permission) -> bool {
        self.me
            .with(|me| me.as_ref().is_some_and(|me| me.may(permission)))
    }

    /// Why an action is not offered: `None` when the user holds `permission`.
    pub fn missing(&self, permission: Permission) -> Option<String> {
        (!self.may(permission)).then(|| requires(permission))
    }
}

/// The reason shown beside a control the user's roles do not allow.
pub fn requires(permission: Permission) -> String {
    format!("Requires {}", permission.label())
}

pub fn provide_session() -> Session {
    let session = Session {
        me: RwSignal::new(None),
    };
    provide_context(session);
    session
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// Where to go after signing in: a path of this app, never another site (`//host`) and never the
/// sign-in page itself.
pub fn safe_return_path(requested: Option<&str>) -> String {
    match requested {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.starts_with(paths::SIGN_IN) =>
        {
            path.to_owned()
        }
        _ => paths::HOME.to_owned(),
    }
}

/// The sign-in page's address that comes back to `here` (path and query).
pub fn sign_in_url(here: &str) -> String {
    if safe_return_path(Some(here)) == paths::HOME {
        return paths::SIGN_IN.to_owned();
    }
    format!(
        "{}?{}",
        paths::SIGN_IN,
        encode(&[("returnTo".to_owned(), here.to_owned())])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_app_are_returned_to() {
        assert_eq!(
            safe_return_path(Some("/devices?$search=PC")),
            "/devices?$search=PC"
        );
        assert_eq!(safe_return_path(Some("//evil.example/x")), "/");
        assert_eq!(safe_return_path(Some("/\\evil.example")), "/");
        assert_eq!(safe_return_path(Some("https://evil.example")), "/");
        assert_eq!(safe_return_path(Some("/signin?returnTo=/x")), "/");
        assert_eq!(safe_return_path(None), "/");
        assert_eq!(
            sign_in_url("/devices?search=PC 1"),
            "/signin?returnTo=%2Fdevices%3Fsearch%3DPC%201"
        );
        assert_eq!(sign_in_url("//evil.example"), "/signin");
    }

    #[test]
    fn a_missing_permission_reads_as_intune_names_it() {
        assert_eq!(
            requires(Permission::RemoteTasksConfigurationManagerAction),
            "Requires Remote tasks › Initiate Configuration Manager action"
        );
    }
}
