use admin_api::Device;
use leptos::prelude::*;
use leptos::Params;
use leptos_router::components::A;
use leptos_router::hooks::{use_params, use_query_map};
use leptos_router::params::Params;

use super::actions::DeviceActions;
use super::site::{device_tabs, site_page};
use crate::api::devices;
use crate::components::error_banner::ErrorBanner;
use crate::components::loaded::Fetched;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::format;
use crate::live::use_live;
use crate::pages::audit::AuditView;
use crate::paths;
use crate::url_state::UrlState;

/// The route's parameter: the device's id.
#[derive(Params, Clone, PartialEq)]
struct DeviceParams {
    id: Option<String>,
}

fn crumbs(name: &str) -> Vec<Crumb> {
    vec![
        Crumb::link("Home", paths::HOME),
        Crumb::link("Devices", paths::DEVICES),
        Crumb::link("All devices", paths::DEVICES),
        Crumb::here(name),
    ]
}

#[component]
pub fn DeviceOverview() -> impl IntoView {
    let params = use_params::<DeviceParams>();
    let id = Memo::new(move |_| {
        params.with(|p| {
            p.as_ref()
                .ok()
                .and_then(|p| p.id.clone())
                .unwrap_or_default()
        })
    });
    // One of the pages beside the overview (see `site::PAGES`), from `?page=`; none for the
    // overview.
    let query = use_query_map();
    let page = Memo::new(move |_| query.with(|q| q.get("page").unwrap_or_default()));
    set_breadcrumb(crumbs("Device"));
    let device = Fetched::new(move || {
        let id = id.get();
        async move { devices::device(&id).await }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading device…"</p> }>
            {move || Suspend::new(async move {
                match device.await {
                    Ok(device) => {
                        set_breadcrumb(crumbs(&device.device_name));
                        view! { <DevicePage device page /> }.into_any()
                    }
                    Err(error) if error.is_not_found() => {
                        set_breadcrumb(crumbs("Device not found"));
                        view! {
                            <section class="empty-state">
                                <h1>"Device not found"</h1>
                                <p>
                                    "No device has the id " <code>{id.get_untracked()}</code>
                                    ". It may have been removed when its hierarchy was offboarded."
                                </p>
                                <A href=paths::DEVICES>"Back to All devices"</A>
                            </section>
                        }
                            .into_any()
                    }
                    Err(error) => {
                        view! { <ErrorBanner error on_retry=move |_| device.refetch() /> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The device's page, as Intune lays it out: its name, the actions bar, Essentials, the action
/// status, its collections. What the site reports about it (a policy request after Sync Machine
/// Policy, say) replaces what is shown as soon as the upload is announced.
#[component]
fn DevicePage(device: Device, page: Memo<String>) -> impl IntoView {
    let id = device.id.clone();
    view! {
        <h1>{device.device_name.clone()}</h1>
        {device_tabs(id.clone(), page)}
        {move || {
            let shown = page.get();
            if shown.is_empty() {
                view! { <Overview device=device.clone() /> }.into_any()
            } else {
                site_page(id.clone(), &shown)
            }
        }}
    }
}

/// The overview: the actions bar, Essentials, the action status, the collections.
#[component]
fn Overview(device: Device) -> impl IntoView {
    let live = use_live();
    let id = device.id.clone();
    // Read again after each upload; until the first answer (or after a failed one), what the
    // page was opened with.
    let fresh = Fetched::new(move || {
        live.devices_changed.track();
        let id = id.clone();
        async move { devices::device(&id).await }
    });
    let opened = device.clone();
    let current = move || {
        fresh
            .get()
            .and_then(Result::ok)
            .unwrap_or_else(|| opened.clone())
    };
    view! {
        <DeviceActions device=device.clone()>
            <section class="card essentials" aria-labelledby="essentials">
                <h2 id="essentials">"Essentials"</h2>
                <dl>
                    {move || essentials(current())
                        .into_iter()
                        .map(|(label, value)| view! { <div class="field"><dt>{label}</dt><dd>{value}</dd></div> })
                        .collect_view()}
                </dl>
            </section>
        </DeviceActions>
        <section class="card" aria-labelledby="collections">
            <h2 id="collections">"Collections"</h2>
            <ul class="plain">
                {device
                    .collections
                    .into_iter()
                    .map(|c| view! { <li>{c.name} " " <span class="muted">"(" {c.id} ")"</span></li> })
                    .collect_view()}
            </ul>
        </section>
        <p>
            <a href=AuditView { resource: device.id.clone(), ..AuditView::default() }.to_url()>"View in audit log"</a>
        </p>
    }
}

fn essentials(device: Device) -> Vec<(&'static str, String)> {
    let client = device.configuration_manager_client_information.clone();
    let time = |value: Option<String>| {
        value
            .as_deref()
            .map(format::timestamp_seconds)
            .unwrap_or_else(|| "—".into())
    };
    let text = |value: Option<String>| format::or_dash(value.as_deref());
    vec![
        ("Device name", device.device_name.clone()),
        ("Managed by", format::managed_by(device.managed_by).into()),
        ("Ownership", format::owner_type(device.owner_type).into()),
        (
            "Compliance",
            format::compliance(device.compliance_state).into(),
        ),
        ("Operating system", text(device.operating_system)),
        ("OS version", text(device.os_version)),
        ("SKU", text(device.sku)),
        ("Primary user", text(device.user_display_name)),
        ("Primary user UPN", text(device.user_principal_name)),
        ("Manufacturer", text(device.manufacturer)),
        ("Model", text(device.model)),
        ("Serial number", text(device.serial_number)),
        ("Entra device ID", text(device.azure_ad_device_id)),
        ("Domain", text(device.domain_name)),
        ("Enrolled", time(device.enrolled_date_time)),
        ("Last check-in", time(device.last_sync_date_time)),
        ("Hierarchy", text(device.hierarchy_name)),
        ("Site code", text(device.site_code)),
        (
            "ConfigMgr client ID",
            text(client.as_ref().map(|c| c.client_identifier.clone())),
        ),
        (
            "ConfigMgr client version",
            text(client.as_ref().and_then(|c| c.client_version.clone())),
        ),
        (
            "Client health",
            format::client_health(device.client_health_state).into(),
        ),
        (
            "Last policy request",
            time(device.last_policy_request_date_time),
        ),
        ("Last active", time(device.last_active_date_time)),
    ]
}
