use admin_api::{Collection, Device};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api::{devices, ApiError};
use crate::components::error_banner::ErrorBanner;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::format;

const PAGE_SIZE: u32 = 50;
const COLUMNS: [&str; 8] = [
    "Device name",
    "Managed by",
    "Ownership",
    "Compliance",
    "OS",
    "OS version",
    "Primary user UPN",
    "Last check-in",
];

#[component]
pub fn AllDevices() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", "/"),
        Crumb::link("Devices", "/devices"),
        Crumb::here("All devices"),
    ]);
    let first_page = LocalResource::new(|| devices::first_page(PAGE_SIZE));
    view! {
        <h1>"All devices"</h1>
        <div class="toolbar">
            <button class="button" on:click=move |_| first_page.refetch()>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
        </div>
        <Transition fallback=|| view! { <DeviceTableSkeleton /> }>
            {move || Suspend::new(async move {
                match first_page.await {
                    Ok(page) => view! { <DeviceTable page /> }.into_any(),
                    Err(error) => {
                        view! { <ErrorBanner error on_retry=move |_| first_page.refetch() /> }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn DeviceTable(page: Collection<Device>) -> impl IntoView {
    let total = page.count;
    let rows = RwSignal::new(page.value);
    let next_link = RwSignal::new(page.next_link);
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);

    let load_more = move || {
        let Some(link) = next_link.get_untracked() else {
            return;
        };
        loading.set(true);
        error.set(None);
        spawn_local(async move {
            match devices::page_at(&link).await {
                Ok(page) => {
                    rows.update(|rows| rows.extend(page.value));
                    next_link.set(page.next_link);
                }
                Err(e) => error.set(Some(e)),
            }
            loading.set(false);
        });
    };

    view! {
        <p class="muted summary" aria-live="polite">
            {move || match total {
                Some(total) => format!("Showing {} of {total} devices", rows.with(Vec::len)),
                None => format!("Showing {} devices", rows.with(Vec::len)),
            }}
        </p>
        <Show
            when=move || rows.with(|rows| !rows.is_empty())
            fallback=|| {
                view! {
                    <div class="empty-state">
                        <h2>"No devices yet"</h2>
                        <p>"Devices appear here once a Configuration Manager hierarchy uploads them."</p>
                    </div>
                }
            }
        >
            <div class="table-wrap">
                <table class="grid" aria-label="All devices">
                    <thead>
                        <tr>
                            {COLUMNS.map(|c| view! { <th scope="col">{c}</th> })}
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=|device| device.id.clone() let:device>
                            <DeviceRow device />
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
        {move || error.get().map(|e| view! { <ErrorBanner error=e on_retry=move |_| load_more() /> })}
        <Show when=move || next_link.with(Option::is_some)>
            <button class="button" disabled=move || loading.get() on:click=move |_| load_more()>
                {move || if loading.get() { "Loading…" } else { "Load more" }}
            </button>
        </Show>
    }
}

#[component]
fn DeviceRow(device: Device) -> impl IntoView {
    let href = format!("/devices/{}", device.id);
    view! {
        <tr>
            <td>
                <A href=href>{device.device_name}</A>
            </td>
            <td>{format::managed_by(device.managed_by)}</td>
            <td>{format::owner_type(device.owner_type)}</td>
            <td>{format::compliance(device.compliance_state)}</td>
            <td>{format::or_dash(device.operating_system.as_deref())}</td>
            <td>{format::or_dash(device.os_version.as_deref())}</td>
            <td>{format::or_dash(device.user_principal_name.as_deref())}</td>
            <td>
                {device
                    .last_sync_date_time
                    .as_deref()
                    .map(format::timestamp)
                    .unwrap_or_else(|| "—".into())}
            </td>
        </tr>
    }
}

/// Rows of the table's final height while the first page loads, so nothing jumps.
#[component]
fn DeviceTableSkeleton() -> impl IntoView {
    view! {
        <p class="muted summary" role="status">"Loading devices…"</p>
        <div class="table-wrap" aria-hidden="true">
            <table class="grid skeleton">
                <thead>
                    <tr>
                        {COLUMNS.map(|c| view! { <th>{c}</th> })}
                    </tr>
                </thead>
                <tbody>
                    {(0..12)
                        .map(|_| {
                            view! {
                                <tr>
                                    {COLUMNS.map(|_| view! { <td><span class="bone"></span></td> })}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
