//! Controls the user's roles do not allow stay visible but disabled, with the reason beside them.

use admin_api::Permission;
use leptos::prelude::*;

use crate::session::use_session;

/// "Requires …" when the signed-in user lacks `permission`; nothing otherwise. Give the
/// disabled controls `aria-describedby=id` so the reason is read with them.
#[component]
pub fn RequiresNote(permission: Permission, id: &'static str) -> impl IntoView {
    let session = use_session();
    move || {
        session.missing(permission).map(|reason| {
            view! {
                <p class="notice" role="note" id=id>
                    {reason}
                </p>
            }
        })
    }
}
