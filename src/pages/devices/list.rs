//! Devices › All devices: server-side paging, sorting, search, filters with chips, a column
//! chooser, CSV export and bulk actions. The URL holds the view, so links, reloads and
//! back/forward restore it.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::bulk::BulkActions;
use super::columns::{stored_columns, ColumnPanel};
use super::filters::{FilterChips, FilterPanel};
use super::grid::DeviceGrid;
use super::view_state::{select_name, ListView};
use crate::api::devices;
use crate::components::loaded::{Fetched, Loaded};
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::live::use_live;
use crate::paths;
use crate::url_state::{use_url_state, UrlState, UrlView};

/// The start of a check-in window, `days` ago, as the API takes it.
fn days_ago(days: u32) -> String {
    let ms = js_sys::Date::now() - f64::from(days) * 86_400_000.0;
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms))
        .to_iso_string()
        .into()
}

#[component]
pub fn AllDevices() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", paths::HOME),
        Crumb::link("Devices", paths::DEVICES),
        Crumb::here("All devices"),
    ]);
    let url = use_url_state::<ListView>();
    let view = url.view;
    let live = use_live();
    let since = Memo::new(move |_| view.with(|v| v.checkin_days()).map(days_ago));
    let api_pairs = Memo::new(move |_| view.with(|v| v.api_pairs(since.get().as_deref())));
    let refreshes = RwSignal::new(0u32);
    let page_token = Memo::new(move |_| view.with(|v| v.page.clone()));
    let page_size = Memo::new(move |_| view.with(ListView::page_size));
    let page = Fetched::new(move || {
        refreshes.track();
        let (pairs, token, size) = (api_pairs.get(), page_token.get(), page_size.get());
        async move { devices::page(&pairs, size, token.as_deref()).await }
    });
    // Uploads change what matches: show it.
    Effect::new(move |previous: Option<u64>| {
        let now = live.devices_changed.get();
        if previous.is_some_and(|p| p != now) {
            refreshes.update(|n| *n += 1);
        }
        now
    });
    let columns = RwSignal::new(stored_columns());
    let selected = RwSignal::new(BTreeMap::<String, String>::new());
    let (show_filters, show_columns) = (RwSignal::new(false), RwSignal::new(false));
    let export_href = Signal::derive(move || {
        let keys = columns.get();
        let select: Vec<&str> = keys.iter().map(|k| select_name(k)).collect();
        devices::export_url(&api_pairs.get(), &select)
    });
    let refresh = Callback::new(move |()| refreshes.update(|n| *n += 1));
    view! {
        <h1>"All devices"</h1>
        {toolbar(url, refresh, show_filters, show_columns, export_href)}
        {move || show_filters.get().then(|| view! { <FilterPanel url /> })}
        {move || show_columns.get().then(|| view! { <ColumnPanel columns /> })}
        <FilterChips url />
        <BulkActions selected />
        <Loaded resource=page loading="Loading devices…" class="muted summary" on_retry=refresh let:page>
            <DeviceGrid page url columns selected />
        </Loaded>
    }
}

fn toolbar(
    url: UrlView<ListView>,
    refresh: Callback<()>,
    show_filters: RwSignal<bool>,
    show_columns: RwSignal<bool>,
    export_href: Signal<String>,
) -> impl IntoView {
    let toggle = move |panel: RwSignal<bool>| move |_| panel.update(|s| *s = !*s);
    view! {
        <div class="toolbar" role="toolbar" aria-label="All devices">
            <button class="button" on:click=move |_| refresh.run(())>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
            <button
                class="button"
                aria-expanded=move || show_filters.get().to_string()
                aria-controls="filter-panel"
                on:click=toggle(show_filters)
            >
                "Filter"
            </button>
            <button
                class="button"
                aria-expanded=move || show_columns.get().to_string()
                aria-controls="column-panel"
                on:click=toggle(show_columns)
            >
                "Columns"
            </button>
            <a class="button" href=export_href download="devices.csv">
                "Export"
            </a>
            {search_box(url)}
        </div>
    }
}

/// The search box follows the URL; typing puts the search in the URL after a pause.
fn search_box(url: UrlView<ListView>) -> impl IntoView {
    let text = RwSignal::new(url.view.get_untracked().search);
    Effect::new(move |_| text.set(url.view.with(|v| v.search.clone())));
    let timer = StoredValue::new_local(None::<leptos::prelude::TimeoutHandle>);
    let on_input = move |typed: String| {
        text.set(typed.clone());
        if let Some(handle) = timer.get_value() {
            handle.clear();
        }
        let handle = set_timeout_with_handle(
            move || {
                let mut next = url.view.get_untracked().first_page();
                next.search = typed.clone();
                url.go(&next, true);
            },
            std::time::Duration::from_millis(300),
        )
        .ok();
        timer.set_value(handle);
    };
    view! {
        <input
            class="search"
            type="search"
            placeholder="Search by name, serial or UPN (commas for several)"
            aria-label="Search devices"
            // As long as the server takes a search; a longer one could only be refused.
            maxlength=admin_api::collection::MAX_SEARCH_LENGTH
            prop:value=move || text.get()
            on:input:target=move |ev| on_input(ev.target().value())
        />
    }
}
