//! Bulk actions on the devices chosen in the grid: each device gets its own action request,
//! tracked on its overview.

use std::collections::BTreeMap;

use admin_api::{ConfigurationManagerActionType, Permission};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::actions;
use crate::components::dialog::ConfirmDialog;
use crate::components::permission::RequiresNote;
use crate::components::toast::{use_toasts, Toasts};
use crate::format;
use crate::live::{use_live, Live};
use crate::session::use_session;

#[component]
pub fn BulkActions(selected: RwSignal<BTreeMap<String, String>>) -> impl IntoView {
    let session = use_session();
    let allowed = move || session.may(Permission::RemoteTasksConfigurationManagerAction);
    let (toasts, live) = (use_toasts(), use_live());
    let confirming = RwSignal::new(None::<ConfigurationManagerActionType>);
    let any_selected = Memo::new(move |_| selected.with(|s| !s.is_empty()));
    let button = move |kind: ConfigurationManagerActionType| {
        view! {
            <button
                class="button"
                disabled=move || !allowed()
                aria-describedby="bulk-not-allowed"
                on:click=move |_| confirming.set(Some(kind))
            >
                {format::action(kind)}
            </button>
        }
    };
    view! {
        {move || any_selected.get().then(|| view! {
            <div class="bulk" role="region" aria-label="Bulk actions">
                <span>{move || format!("{} selected", selected.with(BTreeMap::len))}</span>
                {ConfigurationManagerActionType::ALL.iter().map(|&kind| button(kind)).collect_view()}
                <button class="button" on:click=move |_| selected.set(BTreeMap::new())>
                    "Clear selection"
                </button>
                <RequiresNote
                    permission=Permission::RemoteTasksConfigurationManagerAction
                    id="bulk-not-allowed"
                />
            </div>
        })}
        {move || confirming.get().map(|kind| {
            let count = selected.with_untracked(BTreeMap::len);
            let run = move |_| {
                confirming.set(None);
                spawn_local(run(kind, selected, toasts, live));
            };
            view! {
                <ConfirmDialog
                    title=format!("{}?", format::action(kind))
                    confirm_label=format!("{} on {count} devices", format::action(kind))
                    on_confirm=run
                    on_cancel=move |_| confirming.set(None)
                >
                    <p>
                        {format!(
                            "Each of the {count} selected devices gets its own {} request, tracked on its overview.",
                            format::action(kind)
                        )}
                    </p>
                </ConfirmDialog>
            }
        })}
    }
}

/// Requests `kind` for each chosen device, says how many were asked and which failed, and
/// clears the choice.
async fn run(
    kind: ConfigurationManagerActionType,
    selected: RwSignal<BTreeMap<String, String>>,
    toasts: Toasts,
    live: Live,
) {
    let targets = selected.get_untracked();
    let mut failed = Vec::new();
    for (id, name) in &targets {
        let key = actions::new_idempotency_key();
        match actions::trigger(id, kind, &key).await {
            Ok(action) => live.record(action),
            Err(error) => failed.push(format!("{name} ({error})")),
        }
    }
    let asked = targets.len() - failed.len();
    if asked > 0 {
        toasts.show(format!(
            "{} requested for {asked} devices",
            format::action(kind)
        ));
    }
    if !failed.is_empty() {
        toasts.error(format!(
            "{} could not be requested for {}",
            format::action(kind),
            failed.join(", ")
        ));
    }
    selected.set(BTreeMap::new());
}
