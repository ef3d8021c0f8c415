use admin_api::Connector;
use leptos::prelude::*;

use crate::api::connectors;
use crate::components::error_banner::ErrorBanner;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::format;

#[component]
pub fn Connectors() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", "/"),
        Crumb::here("Connectors and tokens"),
    ]);
    let list = LocalResource::new(connectors::list);
    view! {
        <h1>"Connectors and tokens"</h1>
        <h2 class="subtitle">"Microsoft Endpoint Configuration Manager"</h2>
        <div class="toolbar">
            <button class="button" on:click=move |_| list.refetch()>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading connectors…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(page) => view! { <ConnectorTable connectors=page.value /> }.into_any(),
                    Err(error) => {
                        view! { <ErrorBanner error on_retry=move |_| list.refetch() /> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn ConnectorTable(mut connectors: Vec<Connector>) -> impl IntoView {
    if connectors.is_empty() {
        return view! {
            <div class="empty-state">
                <h2>"No hierarchy is attached"</h2>
                <p>"Attach a Configuration Manager hierarchy with an onboarding token from its service connection point."</p>
            </div>
        }
        .into_any();
    }
    connectors.sort_by(|a, b| {
        format::connector_status_rank(a.status)
            .cmp(&format::connector_status_rank(b.status))
            .then_with(|| a.hierarchy_name.cmp(&b.hierarchy_name))
    });
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
                            view! {
                                <tr>
                                    <td>{c.hierarchy_name.clone().unwrap_or_else(|| format!("Hierarchy {}", c.hierarchy_id))}</td>
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
    }
    .into_any()
}
