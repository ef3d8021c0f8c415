//! Tenant administration › Connectors and tokens › Microsoft Endpoint Configuration Manager:
//! the attached hierarchies (unhealthy first), a hierarchy's details, Delete (offboarding), and
//! onboarding tokens for new sites. Live from the event stream.

use admin_api::{
    reports_full_details_of, CheckResult, Collection, ConnectivityCheck, Connector,
    ConnectorStatus, OnboardingToken, Permission, UploadScope,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::Params;
use leptos_router::hooks::use_query;
use leptos_router::params::Params;

use crate::api::connectors;
use crate::components::dialog::ConfirmDialog;
use crate::components::loaded::{Answer, Fetched, Loaded};
use crate::components::permission::RequiresNote;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::components::table::{Column, Table};
use crate::components::toast::use_toasts;
use crate::format;
use crate::live::use_live;
use crate::pages::audit::AuditView;
use crate::paths;
use crate::session::use_session;
use crate::url_state::UrlState;

/// A hierarchy's name as the site reported it, or "Unknown hierarchy" until it does.
fn name_of(c: &Connector) -> String {
    c.hierarchy_name
        .clone()
        .unwrap_or_else(|| "Unknown hierarchy".to_owned())
}

#[component]
pub fn Connectors() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", paths::HOME),
        Crumb::here("Connectors and tokens"),
    ]);
    let live = use_live();
    let refreshes = RwSignal::new(0u32);
    let list = Fetched::new(move || {
        refreshes.track();
        live.connectors_changed.track();
        connectors::list()
    });
    let query = use_query::<ConnectorQuery>();
    let selected = Memo::new(move |_| query.with(|q| q.as_ref().ok().and_then(|q| q.id.clone())));
    let refresh = Callback::new(move |()| refreshes.update(|n| *n += 1));
    view! {
        <h1>"Connectors and tokens"</h1>
        <h2 class="subtitle">"Microsoft Endpoint Configuration Manager"</h2>
        <div class="toolbar">
            <button class="button" on:click=move |_| refresh.run(())>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
        </div>
        <Loaded resource=list loading="Loading connectors…" on_retry=refresh let:page>
            <ConnectorTable connectors=page selected />
        </Loaded>
        // The list is what admins come for; tokens for new sites follow it.
        <OnboardingTokens />
    }
}

/// The page's query: the connector whose details are open.
#[derive(Params, Clone, PartialEq)]
struct ConnectorQuery {
    id: Option<String>,
}

#[component]
fn ConnectorTable(
    connectors: Answer<Collection<Connector>>,
    selected: Memo<Option<String>>,
) -> impl IntoView {
    let sorted = move || {
        let mut sorted = connectors.with(|page| page.value.clone());
        crate::order::sort_short(&mut sorted, |a, b| {
            format::connector_status_rank(a.status)
                .cmp(&format::connector_status_rank(b.status))
                .then_with(|| a.hierarchy_name.cmp(&b.hierarchy_name))
        });
        sorted
    };
    let chosen = Memo::new(move |_| {
        let id = selected.get()?;
        connectors.with(|page| page.value.iter().find(|c| c.id == id).cloned())
    });
    view! {
        <Table
            label="Configuration Manager hierarchies"
            rows=sorted
            columns=Signal::stored(connector_columns(selected))
            key=|c: &Connector| c.id.clone()
            current=selected
            empty=|| view! {
                <div class="empty-state">
                    <h2>"No hierarchy is attached"</h2>
                    <p>"Create an onboarding token and give it to a site's service connection point to attach its hierarchy."</p>
                </div>
            }
        />
        {move || chosen.get().map(|c| view! { <ConnectorDetails connector=c /> })}
    }
}

/// The hierarchies' columns: the name opens its details (`selected`: the one open).
fn connector_columns(selected: Memo<Option<String>>) -> Vec<Column> {
    vec![
        Column::view("Hierarchy", move |c: &Connector| {
            let id = c.id.clone();
            let current = move || {
                selected
                    .with(|s| s.as_deref() == Some(id.as_str()))
                    .then_some("true")
            };
            view! {
                <a href=paths::connector(&c.id) aria-current=current>{name_of(c)}</a>
                {c.hierarchy_name.is_none().then(|| view! {
                    <span class="sub muted">
                        <code>{c.hierarchy_id.clone()}</code>
                        " · details not reported by the site yet"
                    </span>
                })}
            }
            .into_any()
        }),
        Column::text("Site code", |c: &Connector| {
            format::or_dash(c.site_code.as_deref())
        }),
        Column::text("Version", |c: &Connector| {
            format::or_dash(c.site_version.as_deref())
        }),
        Column::badge("Status", |c: &Connector| {
            (
                format!("badge status-{}", c.status.as_str()),
                format::connector_status(c.status).to_owned(),
            )
        }),
        Column::text("Online", |c: &Connector| {
            if c.online { "Online" } else { "Offline" }.to_owned()
        }),
        Column::text("Last sync", |c: &Connector| {
            c.last_sync_date_time
                .as_deref()
                .map(format::timestamp)
                .unwrap_or_else(|| "Never".into())
        }),
        Column::text("Devices", |c: &Connector| c.device_count.to_string()),
    ]
}

/// The details of a hierarchy, as label and value.
fn details_of(connector: &Connector) -> Vec<(&'static str, String)> {
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
    let text = |v: &Option<String>| format::or_dash(v.as_deref());
    vec![
        ("Hierarchy name", text(&connector.hierarchy_name)),
        ("Hierarchy ID", connector.hierarchy_id.clone()),
        ("Site code", text(&connector.site_code)),
        ("Site version", text(&connector.site_version)),
        ("Status", format::connector_status(connector.status).into()),
        (
            "Online",
            if connector.online {
                "Online"
            } else {
                "Offline"
            }
            .into(),
        ),
        ("Last sync", time(&connector.last_sync_date_time)),
        ("Last heard from", time(&connector.last_heartbeat_date_time)),
        ("Devices", connector.device_count.to_string()),
        (
            "Service connection point",
            text(&connector.service_connection_point),
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
            "Requesting users",
            match connector.checks_users {
                Some(true) => "Checked at the site: an action runs only for a user the site discovered",
                Some(false) => "Not checked: the site does not check who asks (its connector runs with --user-check off)",
                None => "—",
            }
            .to_owned(),
        ),
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
    ]
}

#[component]
fn ConnectorDetails(connector: Connector) -> impl IntoView {
    let name = name_of(&connector);
    let few_details = connector.site_version.is_some() && !reports_full_details_of(&connector);
    let checks = connector.connectivity_checks.clone();
    view! {
        <section class="card" aria-labelledby="connector-details">
            <h2 id="connector-details">{name}</h2>
            {(connector.status == ConnectorStatus::Unknown || few_details).then(|| view! {
                <p class="notice" role="note">
                    "Some information isn't available for this hierarchy: sites at version 2006 or earlier, and sites that have not reported yet, don't send it."
                </p>
            })}
            <dl class="essentials-list">
                {details_of(&connector)
                    .into_iter()
                    .map(|(label, value)| view! { <div class="field"><dt>{label}</dt><dd>{value}</dd></div> })
                    .collect_view()}
            </dl>
            {(!checks.is_empty()).then(|| view! {
                <h3>"Connectivity checks"</h3>
                <Table
                    label="Connectivity checks"
                    rows=move || checks.clone()
                    columns=Signal::stored(check_columns())
                    key=|c: &ConnectivityCheck| c.check.clone()
                    wrap=true
                />
            })}
            <p>
                <a href=AuditView { connector: connector.id.clone(), ..AuditView::default() }.to_url()>"View in audit log"</a>
            </p>
            {delete_connector(connector)}
        </section>
    }
}

/// Delete, with its confirmation: starts offboarding the hierarchy.
fn delete_connector(connector: Connector) -> impl IntoView {
    let (toasts, live, session) = (use_toasts(), use_live(), use_session());
    let confirming = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let name = name_of(&connector);
    let fast = connector.online
        && admin_api::connectors::acknowledges_offboarding(connector.site_version.as_deref());
    let offboarding = connector.status == ConnectorStatus::Offboarding;
    let (id, devices) = (connector.id, connector.device_count);
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

fn check_columns() -> Vec<Column> {
    vec![
        Column::text("Check", |c: &ConnectivityCheck| c.check.clone()),
        Column::badge("Result", |c: &ConnectivityCheck| {
            (
                check_badge(c.result).to_owned(),
                format::check_result(c.result).to_owned(),
            )
        }),
        Column::text("Checked", |c: &ConnectivityCheck| {
            format::timestamp(&c.checked_date_time)
        }),
        Column::text("Message", |c: &ConnectivityCheck| {
            format::or_dash(c.message.as_deref())
        }),
    ]
}

/// A check's result drawn as the connector statuses are.
fn check_badge(result: CheckResult) -> &'static str {
    match result {
        CheckResult::Passed => "badge status-healthy",
        CheckResult::Failed => "badge status-unhealthy",
        CheckResult::Skipped => "badge status-unknown",
    }
}
