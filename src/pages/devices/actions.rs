//! The device overview's ConfigMgr actions: three buttons, a confirmation, a toast, and the
//! device's action status, live from the event stream.

use admin_api::{
    ConfigurationManagerActionType, ConnectorStatus, Device, DeviceAction, Permission,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{actions, connectors};
use crate::components::dialog::ConfirmDialog;
use crate::components::permission::RequiresNote;
use crate::components::toast::use_toasts;
use crate::format;
use crate::live::{supersedes, use_live};
use crate::session::use_session;

/// The device's actions: what the list said (newest first, in request order), overridden by what
/// the event stream said since, with actions the list does not have yet (seen in `live`'s order)
/// first. The sort by request time is stable, so actions of the same second keep that order.
fn merged(listed: Vec<DeviceAction>, live: Vec<DeviceAction>) -> Vec<DeviceAction> {
    let mut all: Vec<DeviceAction> = live
        .iter()
        .rev()
        .filter(|a| !listed.iter().any(|l| l.id == a.id))
        .cloned()
        .collect();
    all.extend(
        listed
            .into_iter()
            .map(|known| match live.iter().find(|a| a.id == known.id) {
                Some(newer) if supersedes(newer, &known) => newer.clone(),
                _ => known,
            }),
    );
    all.sort_by(|a, b| b.requested_date_time.cmp(&a.requested_date_time));
    all
}

#[component]
pub fn DeviceActions(device: Device) -> impl IntoView {
    let live = use_live();
    let toasts = use_toasts();
    let session = use_session();
    let allowed = move || session.may(Permission::RemoteTasksConfigurationManagerAction);
    let device_id = device.id.clone();
    let device_name = device.device_name.clone();
    let history = LocalResource::new({
        let id = device_id.clone();
        move || {
            // Fetched again once the event stream is (re)connected: what happened before is in it.
            live.connected.track();
            let id = id.clone();
            async move { actions::for_device(&id).await }
        }
    });
    let connector = LocalResource::new({
        let id = device.connector_id.clone();
        move || {
            live.connectors_changed.track();
            let id = id.clone();
            async move { connectors::connector(&id).await }
        }
    });
    let offboarding = move || {
        connector
            .get()
            .and_then(|c| c.ok())
            .is_some_and(|c| c.status == ConnectorStatus::Offboarding)
    };
    let all_actions = Memo::new({
        let device_id = device_id.clone();
        move |_| {
            let listed = history
                .get()
                .and_then(|r| r.ok())
                .map(|page| page.value)
                .unwrap_or_default();
            let seen = live.actions.with(|seen| {
                seen.iter()
                    .filter(|a| a.device_id == device_id)
                    .cloned()
                    .collect()
            });
            merged(listed, seen)
        }
    });
    let confirming = RwSignal::new(None::<(ConfigurationManagerActionType, String)>);
    let sending = RwSignal::new(None::<ConfigurationManagerActionType>);
    let in_flight = move |kind: ConfigurationManagerActionType| {
        sending.get() == Some(kind)
            || all_actions.with(|list| {
                list.iter()
                    .any(|a| a.action == kind && a.action_state.is_open())
            })
    };

    let run = {
        let device_id = device_id.clone();
        let device_name = device_name.clone();
        move |kind: ConfigurationManagerActionType, key: String| {
            confirming.set(None);
            sending.set(Some(kind));
            let device_id = device_id.clone();
            let device_name = device_name.clone();
            spawn_local(async move {
                match actions::trigger(&device_id, kind, &key).await {
                    Ok(action) => {
                        live.record(action);
                        toasts.show(format!(
                            "{} requested for {device_name}",
                            format::action(kind)
                        ));
                    }
                    Err(error) => toasts.error(format!(
                        "{} could not be requested for {device_name}: {error}",
                        format::action(kind)
                    )),
                }
                sending.set(None);
            });
        }
    };

    view! {
        <section class="card" aria-labelledby="device-actions">
            <h2 id="device-actions">"Configuration Manager actions"</h2>
            <div class="toolbar">
                {ConfigurationManagerActionType::ALL
                    .iter()
                    .map(|&kind| {
                        view! {
                            <button
                                class="button"
                                disabled=move || !allowed() || offboarding() || in_flight(kind)
                                aria-describedby="actions-not-allowed"
                                on:click=move |_| confirming.set(Some((kind, actions::new_idempotency_key())))
                            >
                                {format::action(kind)}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
            <RequiresNote
                permission=Permission::RemoteTasksConfigurationManagerAction
                id="actions-not-allowed"
            />
            <Show when=offboarding>
                <p class="notice" role="note">
                    "This device's hierarchy is being offboarded: it takes no more actions."
                </p>
            </Show>
            {move || {
                confirming
                    .get()
                    .map(|(kind, key)| {
                        let run = run.clone();
                        let name = device_name.clone();
                        view! {
                            <ConfirmDialog
                                title=format!("{}?", format::action(kind))
                                confirm_label=format::action(kind)
                                on_confirm=move |_| run(kind, key.clone())
                                on_cancel=move |_| confirming.set(None)
                            >
                                <p>
                                    "The Configuration Manager client on " <strong>{name}</strong>
                                    " will run " {format::action(kind)}
                                    " once its site delivers the request."
                                </p>
                            </ConfirmDialog>
                        }
                    })
            }}
        </section>
        <section class="card" aria-labelledby="action-status">
            <h2 id="action-status">"Device action status"</h2>
            <Show
                when=move || all_actions.with(|a| !a.is_empty())
                fallback=|| view! { <p class="muted">"No actions were requested for this device yet."</p> }
            >
                <div class="table-wrap">
                    <table class="grid" aria-label="Device action status">
                        <thead>
                            <tr>
                                <th scope="col">"Action"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Requested"</th>
                                <th scope="col">"Requested by"</th>
                                <th scope="col">"Last update"</th>
                                <th scope="col">"Result"</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For
                                each=move || all_actions.get()
                                key=|a| (a.id.clone(), a.action_state, a.last_updated_date_time.clone())
                                let:action
                            >
                                <tr data-action-id=action.id.clone()>
                                    <td>{format::action(action.action)}</td>
                                    <td>
                                        <span class=format!("badge action-{}", action.action_state.as_str())>
                                            {format::action_outcome(&action)}
                                        </span>
                                    </td>
                                    <td>{format::timestamp(&action.requested_date_time)}</td>
                                    <td>{action.requested_by.clone()}</td>
                                    <td>{format::timestamp(&action.last_updated_date_time)}</td>
                                    <td>{format::or_dash(action.result_message.as_deref())}</td>
                                </tr>
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
        </section>
    }
}
