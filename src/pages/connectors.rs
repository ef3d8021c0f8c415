//! Tenant administration › Connectors and tokens › Microsoft Endpoint Configuration Manager:
//! the attached hierarchies (unhealthy first), a hierarchy's details, Delete (offboarding), and
//! onboarding tokens for new sites. Live from the event stream.

use admin_api::{
    reports_full_details_of, CheckResult, Connector, ConnectorStatus, OnboardingToken, Permission,
    UploadScope,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::connectors;
use crate::components::dialog::ConfirmDialog;
use crate::components::error_banner::ErrorBanner;
use crate::components::permission::RequiresNote;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::components::toast::use_toasts;
use crate::format;
use crate::live::use_live;
use crate::session::use_session;

/// A hierarchy's name as the site reported it, or "Unknown hierarchy" until it does.
fn name_of(c: &Connector) -> String {
    c.hierarchy_name
        .clone()
        .unwrap_or_else(|| "Unknown hierarchy".to_owned())
}

#[component]
pub fn Connectors() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", "/"),
        Crumb::here("Connectors and tokens"),
    ]);
    let live = use_live();
    let refreshes = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        refreshes.track();
        live.connectors_changed.track();
        connectors::list()
    });
    let query = use_query_map();
    let selected = Memo::new(move |_| query.with(|q| q.get("id")));
    view! {
        <h1>"Connectors and tokens"</h1>
        <h2 class="subtitle">"Microsoft Endpoint Configuration Manager"</h2>
        <div class="toolbar">
            <button class="button" on:click=move |_| refreshes.update(|n| *n += 1)>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading connectors…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(page) => view! { <ConnectorTable connectors=page.value selected /> }.into_any(),
                    Err(error) => {
                        view! { <ErrorBanner error on_retry=move |_| refreshes.update(|n| *n += 1) /> }
                            .into_any()
                    }
                }
            })}
        </Transition>
        // The list is what admins come for; tokens for new sites follow it.
        <OnboardingTokens />
    }
}

#[component]
fn ConnectorTable(mut connectors: Vec<Connector>, selected: Memo<Option<String>>) -> impl IntoView {
    if connectors.is_empty() {
        return view! {
            <div class="empty-state">
                <h2>"No hierarchy is attached"</h2>
                <p>"Create an onboarding token and give it to a site's service connection point to attach its hierarchy."</p>
            </div>
        }
        .into_any();
    }
    connectors.sort_by(|a, b| {
        format::connector_status_rank(a.status)
            .cmp(&format::connector_status_rank(b.status))
            .then_with(|| a.hierarchy_name.cmp(&b.hierarchy_name))
    });
    let navigate = use_navigate();
    let all = StoredValue::new(connectors.clone());
    let chosen = move || {
        let id = selected.get()?;
        all.with_value(|list| list.iter().find(|c| c.id == id).cloned())
    };
    view! {
        <div class="table-wrap">
            <table class="grid" aria-label="Configuration Manager hierarchies">
                <thead>
                    <tr>
                        <th scope="col">"Hierarchy"</th>
                        <th scope="col">"Site code"</th>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Online"</th>
                        <th scope="col">"Last sync"</th>
                        <th scope="col">"Devices"</th>
                    </tr>
                </thead>
                <tbody>
                    {connectors
                        .into_iter()
                        .map(|c| {
                            let navigate = navigate.clone();
                            let href = format!("/tenant-admin/connectors?id={}", c.id);
                            let row_id = c.id.clone();
                            let is_selected = Memo::new(move |_| selected.get().as_deref() == Some(row_id.as_str()));
                            view! {
                                <tr class:selected=move || is_selected.get()>
                                    <td>
                                        <a
                                            href=href.clone()
                                            aria-current=move || is_selected.get().then_some("true")
                                            on:click=move |ev| {
                                                ev.prevent_default();
                                                navigate(&href, Default::default());
                                            }
                                        >
                                            {name_of(&c)}
                                        </a>
                                        {c.hierarchy_name.is_none().then(|| view! {
                                            <span class="sub muted">
                                                <code>{c.hierarchy_id.clone()}</code>
                                                " · details not reported by the site yet"
                                            </span>
                                        })}
                                    </td>
                                    <td>{format::or_dash(c.site_code.as_deref())}</td>
                                    <td>{format::or_dash(c.site_version.as_deref())}</td>
                                    <td>
                                        <span class=format!("badge status-{}", c.status.as_str())>
                                            {format::connector_status(c.status)}
                                        </span>
                                    </td>
                                    <td>{if c.online { "Online" } else { "Offline" }}</td>
                                    <td>
                                        {c.last_sync_date_time.as_deref().map(format::timestamp).unwrap_or_else(|| "Never".into())}
                                    </td>
                                    <td>{c.device_count}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        {move || chosen().map(|c| view! { <ConnectorDetails connector=c /> })}
    }
    .into_any()
}

#[component]
fn ConnectorDetails(connector: Connector) -> impl IntoView {
    let toasts = use_toasts();
    let live = use_live();
    let confirming = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let session = use_session();
    let name = name_of(&connector);
    let fast = connector.online
        && admin_api::connectors::acknowledges_offboarding(connector.site_version.as_deref());
    let few_details = connector.site_version.is_some() && !reports_full_details_of(&connector);
    let scope = match &connector.upload_scope {
        None => "—".to_owned(),
        Some(UploadScope::AllDevices) => "All devices".to_owned(),
        Some(UploadScope::Collection {
            collection_name,
            collection_id,
            include_child_collections,
        }) => format!(
            "Collection {collection_name} ({collection_id}){}",
            if *include_child_collections {
                ", with its child collections"
            } else {
                ""
            }
        ),
    };
    let yes_no = |v: Option<bool>| match v {
        Some(true) => "Enabled".to_owned(),
        Some(false) => "Disabled".to_owned(),
        None => "—".to_owned(),
    };
    let time = |v: &Option<String>| {
        v.as_deref()
            .map(format::timestamp)
            .unwrap_or_else(|| "—".into())
    };
    let fields: Vec<(&str, String)> = vec![
        (
            "Hierarchy name",
            format::or_dash(connector.hierarchy_name.as_deref()),
        ),
        ("Hierarchy ID", connector.hierarchy_id.clone()),
        ("Site code", format::or_dash(connector.site_code.as_deref())),
        (
            "Site version",
            format::or_dash(connector.site_version.as_deref()),
        ),
        ("Status", format::connector_status(connector.status).into()),
        (
            "Online",
            if connector.online {
                "Online".into()
            } else {
                "Offline".into()
            },
        ),
        ("Last sync", time(&connector.last_sync_date_time)),
        ("Last heard from", time(&connector.last_heartbeat_date_time)),
        ("Devices", connector.device_count.to_string()),
        (
            "Service connection point",
            format::or_dash(connector.service_connection_point.as_deref()),
        ),
        (
            "Cloud",
            connector
                .cloud
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| "—".into()),
        ),
        ("Upload scope", scope),
        (
            "Endpoint analytics",
            yes_no(connector.endpoint_analytics_enabled),
        ),
        (
            "Onboarded",
            format::timestamp(&connector.onboarded_date_time),
        ),
        (
            "Offboarding requested",
            time(&connector.offboard_requested_date_time),
        ),
        ("Connector ID", connector.id.clone()),
    ];
    let checks = connector.connectivity_checks.clone();
    let offboarding = connector.status == ConnectorStatus::Offboarding;
    let id = connector.id.clone();
    let devices = connector.device_count;
    let delete = {
        let name = name.clone();
        move || {
            confirming.set(false);
            deleting.set(true);
            let (id, name) = (id.clone(), name.clone());
            spawn_local(async move {
                match connectors::offboard(&id).await {
                    Ok(_) => {
                        toasts.show(format!("Offboarding {name}"));
                        live.connectors_changed.update(|n| *n += 1);
                    }
                    Err(error) => toasts.error(format!("{name} could not be offboarded: {error}")),
                }
                deleting.set(false);
            });
        }
    };
    view! {
        <section class="card" aria-labelledby="connector-details">
            <h2 id="connector-details">{name.clone()}</h2>
            {(connector.status == ConnectorStatus::Unknown || few_details).then(|| view! {
                <p class="notice" role="note">
                    "Some information isn't available for this hierarchy: sites at version 2006 or earlier, and sites that have not reported yet, don't send it."
                </p>
            })}
            <dl class="essentials-list">
                {fields
                    .into_iter()
                    .map(|(label, value)| view! { <div class="field"><dt>{label}</dt><dd>{value}</dd></div> })
                    .collect_view()}
            </dl>
            {(!checks.is_empty()).then(|| view! {
                <h3>"Connectivity checks"</h3>
                <table class="grid wrap" aria-label="Connectivity checks">
                    <thead><tr><th>"Check"</th><th>"Result"</th><th>"Checked"</th><th>"Message"</th></tr></thead>
                    <tbody>
                        {checks.into_iter().map(|c| view! {
                            <tr>
                                <td>{c.check}</td>
                                <td><span class=check_badge(c.result)>{format::check_result(c.result)}</span></td>
                                <td>{format::timestamp(&c.checked_date_time)}</td>
                                <td>{format::or_dash(c.message.as_deref())}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            <div class="toolbar">
                <button
                    class="button danger"
                    disabled=move || {
                        offboarding || deleting.get() || !session.may(Permission::OrganizationDelete)
                    }
                    aria-describedby="delete-not-allowed"
                    on:click=move |_| confirming.set(true)
                >
                    {if offboarding { "Offboarding…" } else { "Delete" }}
                </button>
                <RequiresNote permission=Permission::OrganizationDelete id="delete-not-allowed" />
            </div>
            {move || confirming.get().then(|| {
                let delete = delete.clone();
                let name = name.clone();
                view! {
                    <ConfirmDialog
                        title=format!("Delete {name}?")
                        confirm_label="Delete"
                        danger=true
                        on_confirm=move |_| delete()
                        on_cancel=move |_| confirming.set(false)
                    >
                        <p>
                            {format!("{name} will be offboarded and its {devices} devices will leave the admin center. ")}
                            {if fast {
                                "The site is online at 2103 or later, so this takes minutes."
                            } else {
                                "Removal can take up to two hours (minutes for a healthy site at 2103 or later)."
                            }}
                        </p>
                    </ConfirmDialog>
                }
            })}
        </section>
    }
}

#[component]
fn OnboardingTokens() -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let created = RwSignal::new(None::<OnboardingToken>);
    let creating = RwSignal::new(false);
    let create = move |_| {
        creating.set(true);
        spawn_local(async move {
            match connectors::create_onboarding_token().await {
                Ok(token) => created.set(Some(token)),
                Err(error) => toasts.error(format!("No onboarding token was created: {error}")),
            }
            creating.set(false);
        });
    };
    let copy = move |_| {
        if let Some(token) = created.get_untracked() {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&token.token);
            toasts.show("Onboarding token copied");
        }
    };
    view! {
        <section class="card" aria-labelledby="onboarding-tokens">
            <h2 id="onboarding-tokens">"Onboarding tokens"</h2>
            <p class="muted">"A new site attaches its hierarchy with a one-time token from here."</p>
            <button
                class="button"
                disabled=move || creating.get() || !session.may(Permission::OrganizationUpdate)
                aria-describedby="token-not-allowed"
                on:click=create
            >
                "Create onboarding token"
            </button>
            <RequiresNote permission=Permission::OrganizationUpdate id="token-not-allowed" />
            {move || created.get().map(|token| view! {
                <div class="token" role="region" aria-label="New onboarding token">
                    <p>"Copy it now: it is shown only once. Valid until " {format::timestamp(&token.expires_date_time)} "."</p>
                    <code class="token-value">{token.token.clone()}</code>
                    <button class="button" on:click=copy>"Copy"</button>
                </div>
            })}
        </section>
    }
}

/// A check's result drawn as the connector statuses are.
fn check_badge(result: CheckResult) -> &'static str {
    match result {
        CheckResult::Passed => "badge status-healthy",
        CheckResult::Failed => "badge status-unhealthy",
        CheckResult::Skipped => "badge status-unknown",
    }
}
