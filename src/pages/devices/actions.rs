//! The device overview's ConfigMgr actions: three buttons, a confirmation, a toast, and the
//! device's action status (its latest actions, all on request), live from the event stream.

use admin_api::{
    ConfigurationManagerActionType, ConnectorStatus, Device, DeviceAction, Permission,
};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{actions, connectors};
use crate::components::dialog::ConfirmDialog;
use crate::components::loaded::Fetched;
use crate::components::permission::RequiresNote;
use crate::components::table::{Column, Table};
use crate::components::toast::{use_toasts, Toasts};
use crate::format;
use crate::live::{supersedes, use_live, Live};
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
    crate::order::sort_short(&mut all, |a, b| {
        b.requested_date_time.cmp(&a.requested_date_time)
    });
    all
}

/// Actions the status table shows until the operator asks for all of them.
const RECENT_ACTIONS: usize = 5;

/// Seconds since 1970, now, by the browser's clock.
fn now() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// A time: to the second, and how long ago.
fn time_text(value: &str, now: i64) -> String {
    let mut text = format::timestamp_seconds(value);
    if let Some(ago) = format::relative(value, now) {
        text.push_str(" · ");
        text.push_str(&ago);
    }
    text
}

/// The status table's columns at `now`; a time's tooltip is its full timestamp.
fn action_columns(now: i64) -> Vec<Column> {
    vec![
        Column::text("Action", |a: &DeviceAction| {
            format::action(a.action).to_owned()
        }),
        Column::badge("Status", |a: &DeviceAction| {
            (
                format!("badge action-{}", a.action_state.as_str()),
                format::action_outcome(a),
            )
        }),
        Column::view("Requested", move |a: &DeviceAction| {
            time_text(&a.requested_date_time, now).into_any()
        })
        .titled(|a: &DeviceAction| Some(a.requested_date_time.clone())),
        Column::text("Requested by", |a: &DeviceAction| a.requested_by.clone()),
        Column::view("Last update", move |a: &DeviceAction| {
            time_text(&a.last_updated_date_time, now).into_any()
        })
        .titled(|a: &DeviceAction| Some(a.last_updated_date_time.clone())),
        Column::text("Result", |a: &DeviceAction| {
            format::or_dash(a.result_message.as_deref())
        })
        .class("result"),
    ]
}

/// The actions bar, then `children` (the device's Essentials), then the action status.
#[component]
pub fn DeviceActions(device: Device, children: Children) -> impl IntoView {
    let live = use_live();
    let history = Fetched::new({
        let id = device.id.clone();
        move || {
            // Fetched again once the event stream is (re)connected: what happened before is in it.
            live.connected.track();
            let id = id.clone();
            async move { actions::for_device(&id).await }
        }
    });
    let all_actions = Memo::new({
        let device_id = device.id.clone();
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
    view! {
        {action_bar(device, all_actions)}
        {children()}
        {action_status(all_actions)}
    }
}

/// The three actions, each asked for after a confirmation; off while one of its kind is open,
/// for users without the permission, and while the hierarchy is offboarding.
fn action_bar(device: Device, all_actions: Memo<Vec<DeviceAction>>) -> impl IntoView {
    let session = use_session();
    let allowed = move || session.may(Permission::RemoteTasksConfigurationManagerAction);
    let offboarding = offboarding(device.connector_id);
    let confirming = RwSignal::new(None::<(ConfigurationManagerActionType, String)>);
    let sending = RwSignal::new(None::<ConfigurationManagerActionType>);
    let in_flight = move |kind: ConfigurationManagerActionType| {
        sending.get() == Some(kind)
            || all_actions.with(|list| {
                list.iter()
                    .any(|a| a.action == kind && a.action_state.is_open())
            })
    };
    let button = move |kind: ConfigurationManagerActionType| {
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
    };
    let device = (device.id, device.device_name);
    view! {
        <section class="card" aria-labelledby="device-actions">
            <h2 id="device-actions">"Configuration Manager actions"</h2>
            <div class="toolbar">
                {ConfigurationManagerActionType::ALL.iter().map(|&kind| button(kind)).collect_view()}
            </div>
            <RequiresNote
                permission=Permission::RemoteTasksConfigurationManagerAction
                id="actions-not-allowed"
            />
            {move || offboarding().then(|| view! {
                <p class="notice" role="note">
                    "This device's hierarchy is being offboarded: it takes no more actions."
                </p>
            })}
            {move || confirming.get().map(|asked| confirm(asked, device.clone(), confirming, sending))}
        </section>
    }
}

/// Whether the device's hierarchy is being offboarded, read again whenever a connector changes.
fn offboarding(connector_id: String) -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let live = use_live();
    let connector = Fetched::new(move || {
        live.connectors_changed.track();
        let id = connector_id.clone();
        async move { connectors::connector(&id).await }
    });
    move || {
        connector
            .get()
            .and_then(|c| c.ok())
            .is_some_and(|c| c.status == ConnectorStatus::Offboarding)
    }
}

/// The dialog that asks before an action (`asked`: its kind and idempotency key) is requested for
/// the device (id, name).
fn confirm(
    asked: (ConfigurationManagerActionType, String),
    device: (String, String),
    confirming: RwSignal<Option<(ConfigurationManagerActionType, String)>>,
    sending: RwSignal<Option<ConfigurationManagerActionType>>,
) -> impl IntoView {
    let (kind, key) = asked;
    let name = device.1.clone();
    let told = (use_live(), use_toasts());
    view! {
        <ConfirmDialog
            title=format!("{}?", format::action(kind))
            confirm_label=format::action(kind)
            on_confirm=move |_| {
                confirming.set(None);
                request(kind, key.clone(), device.clone(), sending, told);
            }
            on_cancel=move |_| confirming.set(None)
        >
            <p>
                "The Configuration Manager client on " <strong>{name}</strong>
                " will run " {format::action(kind)}
                " once its site delivers the request."
            </p>
        </ConfirmDialog>
    }
}

/// Requests the action for the device (id, name), `sending` while it is asked for; records the
/// action and says how that went.
fn request(
    kind: ConfigurationManagerActionType,
    key: String,
    (device_id, device_name): (String, String),
    sending: RwSignal<Option<ConfigurationManagerActionType>>,
    (live, toasts): (Live, Toasts),
) {
    sending.set(Some(kind));
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

/// The device's latest actions (all of them on request), their times redrawn as they age.
fn action_status(all_actions: Memo<Vec<DeviceAction>>) -> impl IntoView {
    let show_all = RwSignal::new(false);
    // "2 min ago" moves on: the relative times are redrawn every half minute.
    let clock = RwSignal::new(now());
    let ticking = leptos::prelude::set_interval_with_handle(
        move || clock.set(now()),
        std::time::Duration::from_secs(30),
    )
    .ok();
    on_cleanup(move || {
        if let Some(handle) = ticking {
            handle.clear();
        }
    });
    let rows = move || {
        let shown = if show_all.get() {
            usize::MAX
        } else {
            RECENT_ACTIONS
        };
        all_actions.with(|all| all.iter().take(shown).cloned().collect())
    };
    let table = view! {
        <Table
            label="Device action status"
            rows
            columns=Signal::derive(move || action_columns(clock.get()))
            key=|a: &DeviceAction| a.id.clone()
            wrap=true
            empty=|| view! { <p class="muted">"No actions were requested for this device yet."</p> }
        />
    };
    let more = move || {
        let total = all_actions.with(Vec::len);
        let all = show_all.get();
        (total > RECENT_ACTIONS).then(|| {
            view! {
                <p class="table-more">
                    <span class="muted">
                        {if all {
                            format!("All {total} actions")
                        } else {
                            format!("The latest {RECENT_ACTIONS} of {total} actions")
                        }}
                    </span>
                    " "
                    <button
                        class="button link"
                        aria-expanded=all.to_string()
                        on:click=move |_| show_all.update(|all| *all = !*all)
                    >
                        {if all { "Show the latest only" } else { "View all" }}
                    </button>
                </p>
            }
        })
    };
    view! {
        <section class="card" aria-labelledby="action-status">
            <h2 id="action-status">"Device action status"</h2>
            {table}
            {more}
        </section>
    }
}
