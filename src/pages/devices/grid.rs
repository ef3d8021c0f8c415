//! The grid of All devices: one page of devices in the chosen columns and order, with a
//! checkbox each for bulk actions, and the pager.

use std::collections::BTreeMap;

use admin_api::{Collection, Device};
use leptos::prelude::*;
use leptos_router::components::A;

use super::trail;
use super::view_state::{column, ListView, PAGE_SIZES};
use crate::api::query::skiptoken_of;
use crate::components::loaded::Answer;
use crate::components::pager::pager;
use crate::components::table::{sort_state, Choosing, Column, Sorting, Table};
use crate::format;
use crate::paths;
use crate::url_state::{UrlState, UrlView};

/// The performance mark of a rendered page of All devices.
pub const DEVICES_RENDERED_MARK: &str = "attach-center:devices-rendered";

/// The grid's columns: the device name links to the device's overview.
fn table_columns(keys: &[String]) -> Vec<Column> {
    keys.iter()
        .filter_map(|key| column(key))
        .map(|c| {
            let column = if c.key == "deviceName" {
                Column::view(c.label, |d: &Device| {
                    let (href, name) = (paths::device(&d.id), d.device_name.clone());
                    view! { <A href=href>{name}</A> }.into_any()
                })
            } else {
                Column::text(c.label, c.cell)
            };
            column.sorts_by(c.key)
        })
        .collect()
}

#[component]
pub fn DeviceGrid(
    page: Answer<Collection<Device>>,
    url: UrlView<ListView>,
    columns: RwSignal<Vec<String>>,
    selected: RwSignal<BTreeMap<String, String>>,
) -> impl IntoView {
    let view = url.view;
    // Where the page shown starts, as the address said when it came (read when it comes).
    let from = move || view.with_untracked(|v| v.from.unwrap_or(1));
    // Each page of devices on screen (or its empty state) is marked in the browser's performance
    // timeline: the time from navigation, or from a click, to rows is then measurable, in
    // devtools and by the benchmarks (docs/performance.md).
    Effect::new(move |_| {
        page.with(|_| ());
        if let Some(performance) = window().performance() {
            let _ = performance.mark(DEVICES_RENDERED_MARK);
        }
    });
    let summary = move || {
        page.with(|page| {
            let (shown, from) = (page.value.len() as u64, from());
            let total = page.count.unwrap_or(shown);
            if shown == 0 {
                "0 devices".to_owned()
            } else {
                format!(
                    "{}–{} of {} devices",
                    format::count(from),
                    format::count(from + shown - 1),
                    format::count(total)
                )
            }
        })
    };
    let sorting = Sorting {
        state: Callback::new(move |field| {
            view.with(|v| sort_state(v.sort.as_ref(), "deviceName", field))
        }),
        sort_by: Callback::new(move |(field, descending): (&'static str, bool)| {
            url.change(&|v| v.sort = Some((field.to_owned(), descending)))
        }),
    };
    let pages = move || {
        page.with(|page| {
            let (shown, next) = (
                page.value.len(),
                page.next_link.as_deref().and_then(skiptoken_of),
            );
            (shown > 0).then(|| devices_pager(url, next, from(), shown))
        })
    };
    view! {
        <p class="muted summary" role="status">{summary}</p>
        <Table
            label="All devices"
            rows=move || page.with(|page| page.value.clone())
            columns=Signal::derive(move || columns.with(|keys| table_columns(keys)))
            key=|d: &Device| d.id.clone()
            sorting
            choosing=Choosing {
                chosen: selected,
                name: |d: &Device| d.device_name.clone(),
                all_label: "Select all devices on this page",
            }
            empty=|| view! {
                <div class="empty-state">
                    <h2>"No devices match"</h2>
                    <p>"Change the search or remove a filter to see more devices."</p>
                </div>
            }
        />
        {pages}
    }
}

/// Previous (back through the pages walked with Next), Next, and the page size.
fn devices_pager(
    url: UrlView<ListView>,
    next: Option<String>,
    from: u64,
    shown: usize,
) -> impl IntoView {
    let on_later_page = url.view.with_untracked(|v| v.page.is_some());
    let size = url.view.with_untracked(ListView::page_size);
    let previous = on_later_page.then(|| {
        Callback::new(move |()| {
            let here = url.view.get_untracked();
            let back = trail::pop(&here).unwrap_or_else(|| here.first_page());
            url.go(&back, false);
        })
    });
    let next = next.map(|token| {
        Callback::new(move |()| {
            let here = url.view.get_untracked();
            trail::push(&here);
            let mut next_view = here;
            next_view.page = Some(token.clone());
            next_view.from = Some(from + shown as u64);
            url.go(&next_view, false);
        })
    });
    let page_size = view! {
        <label class="page-size">
            "Per page "
            <select on:change=move |event| {
                let size: u32 = event_target_value(&event).parse().unwrap_or(PAGE_SIZES[0]);
                url.change(&|v| v.size = (size != PAGE_SIZES[0]).then_some(size));
            }>
                {PAGE_SIZES
                    .iter()
                    .map(|&n| view! { <option value=n.to_string() selected=size == n>{n.to_string()}</option> })
                    .collect_view()}
            </select>
        </label>
    };
    pager(("Previous", previous), ("Next", next), page_size.into_any())
}
