//! Devices › All devices: server-side paging, sorting, search, filters with chips, a column
//! chooser, CSV export and bulk actions. The URL holds the view, so links, reloads and
//! back/forward restore it.

use std::collections::BTreeMap;

use admin_api::{Collection, ConfigurationManagerActionType, Device, Permission};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use super::view_state::{
    column, encode, select_name, ListView, CHECKIN_WINDOWS, COLUMNS, DEFAULT_COLUMNS, FILTERS,
    PAGE_SIZES,
};
use crate::api::{actions, connectors, devices};
use crate::components::dialog::ConfirmDialog;
use crate::components::error_banner::ErrorBanner;
use crate::components::permission::RequiresNote;
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::components::toast::use_toasts;
use crate::format;
use crate::live::use_live;
use crate::session::use_session;

/// Where the pages walked through are kept, so that Previous goes back through them (a reload
/// keeps them: sessionStorage is per tab).
const TRAIL_KEY: &str = "attach-center.devices.trail";
/// The performance mark of a rendered page of All devices.
pub const DEVICES_RENDERED_MARK: &str = "attach-center:devices-rendered";
const COLUMNS_KEY: &str = "attach-center.devices.columns";

fn stored_columns() -> Vec<String> {
    window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item(COLUMNS_KEY).ok().flatten())
        .map(|text| {
            text.split(',')
                .filter(|k| column(k).is_some())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|keys| !keys.is_empty())
        .unwrap_or_else(|| DEFAULT_COLUMNS.iter().map(|k| k.to_string()).collect())
}

fn store_columns(keys: &[String]) {
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item(COLUMNS_KEY, &keys.join(","));
    }
}

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
        Crumb::link("Home", "/"),
        Crumb::link("Devices", "/devices"),
        Crumb::here("All devices"),
    ]);
    let query = use_query_map();
    let navigate = use_navigate();
    let live = use_live();
    let view = Memo::new(move |_| {
        query.with(|q| {
            let pairs: Vec<(String, String)> = q
                .clone()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            ListView::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        })
    });
    let since = Memo::new(move |_| view.with(|v| v.checkin_days()).map(days_ago));
    let api_pairs = Memo::new(move |_| view.with(|v| v.api_pairs(since.get().as_deref())));
    let refreshes = RwSignal::new(0u32);
    let page_token = Memo::new(move |_| view.with(|v| v.page.clone()));
    let page_size = Memo::new(move |_| view.with(ListView::page_size));
    let page = LocalResource::new(move || {
        refreshes.track();
        let pairs = api_pairs.get();
        let token = page_token.get();
        let size = page_size.get();
        async move { devices::page(&pairs, size, token.as_deref()).await }
    });
    let go = {
        let navigate = navigate.clone();
        move |next: ListView, replace: bool| {
            let pairs = next.to_pairs();
            let url = if pairs.is_empty() {
                "/devices".to_owned()
            } else {
                format!("/devices?{}", encode(&pairs))
            };
            navigate(
                &url,
                NavigateOptions {
                    replace,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    };
    let go = StoredValue::new_local(go);
    let change = move |edit: &dyn Fn(&mut ListView)| {
        let mut next = view.get_untracked().first_page();
        edit(&mut next);
        go.with_value(|go| go(next, false));
    };
    let change = StoredValue::new_local(change);

    let columns = RwSignal::new(stored_columns());
    let selected = RwSignal::new(BTreeMap::<String, String>::new());
    let show_filters = RwSignal::new(false);
    let show_columns = RwSignal::new(false);

    // Search: the box follows the URL; typing updates the URL after a pause.
    let search_text = RwSignal::new(view.get_untracked().search);
    Effect::new(move |_| search_text.set(view.with(|v| v.search.clone())));
    let search_timer = StoredValue::new_local(None::<leptos::prelude::TimeoutHandle>);
    let on_search = move |text: String| {
        search_text.set(text.clone());
        if let Some(handle) = search_timer.get_value() {
            handle.clear();
        }
        let handle = set_timeout_with_handle(
            move || {
                let mut next = view.get_untracked().first_page();
                next.search = text.clone();
                go.with_value(|go| go(next, true));
            },
            std::time::Duration::from_millis(300),
        )
        .ok();
        search_timer.set_value(handle);
    };

    // Uploads change what matches: show it.
    Effect::new(move |previous: Option<u64>| {
        let now = live.devices_changed.get();
        if previous.is_some_and(|p| p != now) {
            refreshes.update(|n| *n += 1);
        }
        now
    });

    let export_href = move || {
        let keys = columns.get();
        let select: Vec<&str> = keys.iter().map(|k| select_name(k)).collect();
        devices::export_url(&api_pairs.get(), &select)
    };

    view! {
        <h1>"All devices"</h1>
        <div class="toolbar" role="toolbar" aria-label="All devices">
            <button class="button" on:click=move |_| refreshes.update(|n| *n += 1)>
                <span aria-hidden="true">"↻ "</span>
                "Refresh"
            </button>
            <button
                class="button"
                aria-expanded=move || show_filters.get().to_string()
                aria-controls="filter-panel"
                on:click=move |_| show_filters.update(|s| *s = !*s)
            >
                "Filter"
            </button>
            <button
                class="button"
                aria-expanded=move || show_columns.get().to_string()
                aria-controls="column-panel"
                on:click=move |_| show_columns.update(|s| *s = !*s)
            >
                "Columns"
            </button>
            <a class="button" href=export_href download="devices.csv">
                "Export"
            </a>
            <input
                class="search"
                type="search"
                placeholder="Search by name, serial or UPN (commas for several)"
                aria-label="Search devices"
                prop:value=move || search_text.get()
                on:input:target=move |ev| on_search(ev.target().value())
            />
        </div>
        {move || show_filters.get().then(|| view! { <FilterPanel view change /> })}
        {move || show_columns.get().then(|| view! { <ColumnPanel columns /> })}
        <FilterChips view change />
        <BulkActions selected />
        <Transition fallback=|| view! { <p class="muted summary" role="status">"Loading devices…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(result) => view! { <DeviceGrid page=result view columns selected change go /> }.into_any(),
                    Err(error) => {
                        view! { <ErrorBanner error on_retry=move |_| refreshes.update(|n| *n += 1) /> }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn FilterPanel(
    view: Memo<ListView>,
    #[prop(into)] change: StoredValue<impl Fn(&dyn Fn(&mut ListView)) + 'static, LocalStorage>,
) -> impl IntoView {
    let toggle = move |param: &'static str, value: &'static str| {
        change.with_value(|change| {
            change(&|v: &mut ListView| {
                let entry = match v.filters.iter_mut().find(|(p, _)| p == param) {
                    Some(entry) => entry,
                    None => {
                        v.filters.push((param.to_owned(), Vec::new()));
                        v.filters.last_mut().expect("just pushed")
                    }
                };
                if let Some(at) = entry.1.iter().position(|x| x == value) {
                    entry.1.remove(at);
                } else {
                    entry.1.push(value.to_owned());
                }
                v.filters.retain(|(_, values)| !values.is_empty());
            })
        })
    };
    // The hierarchies to choose from are the attached ones that report a name.
    let connectors = LocalResource::new(connectors::list);
    let hierarchies = move || {
        let mut names: Vec<String> = connectors
            .get()
            .and_then(|r| r.ok())
            .map(|page| {
                page.value
                    .into_iter()
                    .filter_map(|c| c.hierarchy_name)
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    };
    let hierarchies = Signal::derive(hierarchies);
    let has = move |param: &str, value: &str| {
        view.with(|v| {
            v.filters
                .iter()
                .any(|(p, values)| p == param && values.iter().any(|x| x == value))
        })
    };
    view! {
        <section id="filter-panel" class="panel" aria-label="Filters">
            {FILTERS
                .iter()
                .map(|kind| {
                    view! {
                        <fieldset>
                            <legend>{kind.label}</legend>
                            {kind
                                .choices
                                .iter()
                                .map(|&(value, label)| {
                                    view! {
                                        <label>
                                            <input
                                                type="checkbox"
                                                prop:checked=move || has(kind.param, value)
                                                on:change=move |_| toggle(kind.param, value)
                                            />
                                            {label}
                                        </label>
                                    }
                                })
                                .collect_view()}
                        </fieldset>
                    }
                })
                .collect_view()}
            <fieldset>
                <legend>"Hierarchy"</legend>
                {move || {
                    hierarchies
                        .get()
                        .into_iter()
                        .map(|name| {
                            let checked = name.clone();
                            let toggled = name.clone();
                            view! {
                                <label>
                                    <input
                                        type="checkbox"
                                        prop:checked=move || view.with(|v| v.hierarchies.contains(&checked))
                                        on:change=move |_| {
                                            let name = toggled.clone();
                                            change.with_value(|change| change(&|v: &mut ListView| {
                                                if let Some(at) = v.hierarchies.iter().position(|h| *h == name) {
                                                    v.hierarchies.remove(at);
                                                } else {
                                                    v.hierarchies.push(name.clone());
                                                }
                                            }))
                                        }
                                    />
                                    {name}
                                </label>
                            }
                        })
                        .collect_view()
                }}
            </fieldset>
            <fieldset>
                <legend>"Last check-in"</legend>
                <label>
                    <input
                        type="radio"
                        name="checkin"
                        prop:checked=move || view.with(|v| v.checkin.is_none())
                        on:change=move |_| change.with_value(|change| change(&|v: &mut ListView| v.checkin = None))
                    />
                    "Any time"
                </label>
                {CHECKIN_WINDOWS
                    .iter()
                    .map(|&(value, label, _)| {
                        view! {
                            <label>
                                <input
                                    type="radio"
                                    name="checkin"
                                    prop:checked=move || view.with(|v| v.checkin.as_deref() == Some(value))
                                    on:change=move |_| {
                                        change.with_value(|change| change(&|v: &mut ListView| v.checkin = Some(value.to_owned())))
                                    }
                                />
                                {label}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
        </section>
    }
}

/// What removing a chip does to the view.
type RemoveChip = Box<dyn Fn(&mut ListView) + Send + Sync>;

#[component]
fn FilterChips(
    view: Memo<ListView>,
    #[prop(into)] change: StoredValue<impl Fn(&dyn Fn(&mut ListView)) + 'static, LocalStorage>,
) -> impl IntoView {
    let chips = move || {
        let v = view.get();
        let mut chips: Vec<(String, RemoveChip)> = Vec::new();
        for (param, values) in &v.filters {
            let Some(kind) = FILTERS.iter().find(|f| f.param == param) else {
                continue;
            };
            for value in values {
                let label = kind
                    .choices
                    .iter()
                    .find(|c| c.0 == value)
                    .map_or(value.as_str(), |c| c.1);
                let (param, value) = (param.clone(), value.clone());
                chips.push((
                    format!("{}: {label}", kind.label),
                    Box::new(move |v: &mut ListView| {
                        for (p, values) in v.filters.iter_mut() {
                            if *p == param {
                                values.retain(|x| *x != value);
                            }
                        }
                        v.filters.retain(|(_, values)| !values.is_empty());
                    }),
                ));
            }
        }
        for name in &v.hierarchies {
            let name = name.clone();
            chips.push((
                format!("Hierarchy: {name}"),
                Box::new(move |v: &mut ListView| v.hierarchies.retain(|h| *h != name)),
            ));
        }
        if let Some(window) = &v.checkin {
            if let Some(w) = CHECKIN_WINDOWS.iter().find(|w| w.0 == window) {
                chips.push((
                    format!("Last check-in: {}", w.1),
                    Box::new(|v: &mut ListView| v.checkin = None),
                ));
            }
        }
        chips
    };
    view! {
        <div class="chips" aria-label="Active filters" role="group">
            {move || {
                chips()
                    .into_iter()
                    .map(|(label, remove)| {
                        let aria = format!("Remove filter {label}");
                        view! {
                            <button
                                class="chip"
                                aria-label=aria
                                on:click=move |_| change.with_value(|change| change(&|v: &mut ListView| remove(v)))
                            >
                                {label.clone()}
                                <span aria-hidden="true">" ×"</span>
                            </button>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}

#[component]
fn ColumnPanel(columns: RwSignal<Vec<String>>) -> impl IntoView {
    view! {
        <section id="column-panel" class="panel" aria-label="Columns">
            <fieldset>
                <legend>"Columns"</legend>
                {COLUMNS
                    .iter()
                    .map(|c| {
                        let key = c.key;
                        view! {
                            <label>
                                <input
                                    type="checkbox"
                                    disabled=key == "deviceName"
                                    prop:checked=move || columns.with(|keys| keys.iter().any(|k| k == key))
                                    on:change=move |_| {
                                        columns.update(|keys| {
                                            if let Some(at) = keys.iter().position(|k| k == key) {
                                                keys.remove(at);
                                            } else {
                                                // Keep the chooser's order.
                                                keys.push(key.to_owned());
                                                keys.sort_by_key(|k| COLUMNS.iter().position(|c| c.key == k));
                                            }
                                            store_columns(keys);
                                        })
                                    }
                                />
                                {c.label}
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <button
                class="button"
                on:click=move |_| {
                    let defaults: Vec<String> = DEFAULT_COLUMNS.iter().map(|k| k.to_string()).collect();
                    store_columns(&defaults);
                    columns.set(defaults);
                }
            >
                "Reset columns"
            </button>
        </section>
    }
}

#[component]
fn DeviceGrid(
    page: Collection<Device>,
    view: Memo<ListView>,
    columns: RwSignal<Vec<String>>,
    selected: RwSignal<BTreeMap<String, String>>,
    #[prop(into)] change: StoredValue<impl Fn(&dyn Fn(&mut ListView)) + 'static, LocalStorage>,
    #[prop(into)] go: StoredValue<impl Fn(ListView, bool) + 'static, LocalStorage>,
) -> impl IntoView {
    let total = page.count.unwrap_or(page.value.len() as u64);
    let shown = page.value.len();
    let next = page
        .next_link
        .as_deref()
        .and_then(|link| link.split("$skiptoken=").nth(1))
        .map(|token| {
            js_sys::decode_uri_component(token)
                .map(String::from)
                .unwrap_or_default()
        });
    let on_later_page = view.with_untracked(|v| v.page.is_some());
    let from = view.with_untracked(|v| v.from.unwrap_or(1));
    let size = view.with_untracked(ListView::page_size);
    let devices = StoredValue::new(page.value);
    // Each page of devices on screen (or its empty state) is marked in the browser's performance
    // timeline: the time from navigation, or from a click, to rows is then measurable, in
    // devtools and by the benchmarks (docs/performance.md).
    Effect::new(move |_| {
        if let Some(performance) = window().performance() {
            let _ = performance.mark(DEVICES_RENDERED_MARK);
        }
    });
    let sort_state = move |key: &str| {
        view.with(|v| match &v.sort {
            Some((k, true)) if k == key => "descending",
            Some((k, false)) if k == key => "ascending",
            None if key == "deviceName" => "ascending",
            _ => "none",
        })
    };
    let sort_by = move |key: &'static str| {
        let descending = sort_state(key) == "ascending";
        change.with_value(|change| {
            change(&|v: &mut ListView| v.sort = Some((key.to_owned(), descending)))
        });
    };
    let all_selected = move || {
        devices.with_value(|list| {
            !list.is_empty() && selected.with(|s| list.iter().all(|d| s.contains_key(&d.id)))
        })
    };
    if shown == 0 {
        return view! {
            <p class="muted summary" role="status">"0 devices"</p>
            <div class="empty-state">
                <h2>"No devices match"</h2>
                <p>"Change the search or remove a filter to see more devices."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <p class="muted summary" role="status">
            {format!(
                "{}–{} of {} devices",
                format::count(from),
                format::count(from + shown as u64 - 1),
                format::count(total)
            )}
        </p>
        <div class="table-wrap">
            <table class="grid" aria-label="All devices">
                <thead>
                    <tr>
                        <th scope="col" class="select">
                            <input
                                type="checkbox"
                                aria-label="Select all devices on this page"
                                prop:checked=all_selected
                                on:change=move |_| {
                                    let select = !all_selected();
                                    devices.with_value(|list| selected.update(|s| {
                                        for d in list {
                                            if select {
                                                s.insert(d.id.clone(), d.device_name.clone());
                                            } else {
                                                s.remove(&d.id);
                                            }
                                        }
                                    }));
                                }
                            />
                        </th>
                        {move || {
                            columns
                                .get()
                                .into_iter()
                                .filter_map(|key| column(&key))
                                .map(|c| {
                                    let key = c.key;
                                    view! {
                                        <th scope="col" aria-sort=move || sort_state(key)>
                                            <button class="sort" on:click=move |_| sort_by(key)>
                                                {c.label}
                                                <span aria-hidden="true">
                                                    {move || match sort_state(key) {
                                                        "ascending" => " ▲",
                                                        "descending" => " ▼",
                                                        _ => "",
                                                    }}
                                                </span>
                                            </button>
                                        </th>
                                    }
                                })
                                .collect_view()
                        }}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let keys = columns.get();
                        {
                            devices.get_value().into_iter()
                                .map(|device| {
                                    let id = device.id.clone();
                                    let name = device.device_name.clone();
                                    let checked_id = id.clone();
                                    let cells = keys
                                        .iter()
                                        .filter_map(|key| column(key))
                                        .map(|c| {
                                            if c.key == "deviceName" {
                                                let href = format!("/devices/{}", device.id);
                                                let label = device.device_name.clone();
                                                view! {
                                                    <td>
                                                        <A href=href>{label}</A>
                                                    </td>
                                                }
                                                    .into_any()
                                            } else {
                                                view! { <td>{(c.cell)(&device)}</td> }.into_any()
                                            }
                                        })
                                        .collect_view();
                                    view! {
                                        <tr>
                                            <td class="select">
                                                <input
                                                    type="checkbox"
                                                    aria-label=format!("Select {name}")
                                                    prop:checked=move || selected.with(|s| s.contains_key(&checked_id))
                                                    on:change=move |_| selected.update(|s| {
                                                        if s.remove(&id).is_none() {
                                                            s.insert(id.clone(), name.clone());
                                                        }
                                                    })
                                                />
                                            </td>
                                            {cells}
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }
                    }}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <button
                class="button"
                disabled=!on_later_page
                on:click=move |_| {
                    let here = view.get_untracked();
                    let back = trail::pop(&here).unwrap_or_else(|| here.first_page());
                    go.with_value(|go| go(back, false));
                }
            >
                "Previous"
            </button>
            <button
                class="button"
                disabled=next.is_none()
                on:click=move |_| {
                    if let Some(token) = next.clone() {
                        let here = view.get_untracked();
                        trail::push(&here);
                        let mut next_view = here;
                        next_view.page = Some(token);
                        next_view.from = Some(from + shown as u64);
                        go.with_value(|go| go(next_view, false));
                    }
                }
            >
                "Next"
            </button>
            <label class="page-size">
                "Per page "
                <select on:change=move |event| {
                    let size: u32 = event_target_value(&event).parse().unwrap_or(PAGE_SIZES[0]);
                    change.with_value(|change| {
                        change(&|v: &mut ListView| {
                            v.size = (size != PAGE_SIZES[0]).then_some(size)
                        })
                    });
                }>
                    <option value="50" selected=size == 50>"50"</option>
                    <option value="100" selected=size == 100>"100"</option>
                    <option value="250" selected=size == 250>"250"</option>
                </select>
            </label>
        </nav>
    }
    .into_any()
}

#[component]
fn BulkActions(selected: RwSignal<BTreeMap<String, String>>) -> impl IntoView {
    let session = use_session();
    let allowed = move || session.may(Permission::RemoteTasksConfigurationManagerAction);
    let toasts = use_toasts();
    let live = use_live();
    let confirming = RwSignal::new(None::<ConfigurationManagerActionType>);
    let run = move |kind: ConfigurationManagerActionType| {
        confirming.set(None);
        let targets = selected.get_untracked();
        spawn_local(async move {
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
        });
    };
    let any_selected = Memo::new(move |_| selected.with(|s| !s.is_empty()));
    view! {
        {move || any_selected.get().then(|| view! {
            <div class="bulk" role="region" aria-label="Bulk actions">
                <span>{move || format!("{} selected", selected.with(BTreeMap::len))}</span>
                {ConfigurationManagerActionType::ALL
                    .iter()
                    .map(|&kind| {
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
                    })
                    .collect_view()}
                <button class="button" on:click=move |_| selected.set(BTreeMap::new())>
                    "Clear selection"
                </button>
                <RequiresNote
                    permission=Permission::RemoteTasksConfigurationManagerAction
                    id="bulk-not-allowed"
                />
            </div>
        })}
        {move || {
            confirming
                .get()
                .map(|kind| {
                    let count = selected.with_untracked(BTreeMap::len);
                    view! {
                        <ConfirmDialog
                            title=format!("{}?", format::action(kind))
                            confirm_label=format!("{} on {count} devices", format::action(kind))
                            on_confirm=move |_| run(kind)
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
                })
        }}
    }
}

/// The pages walked through with Next, for Previous: per tab, for one search, filter, sort and
/// page size (another view starts a new trail).
mod trail {
    use super::{ListView, TRAIL_KEY};

    /// Stored as lines: the view's query, then `<position>\t<page token>` per page (an empty
    /// token is the first page).
    struct Trail {
        /// The view's query without its page.
        view: String,
        /// (page token, position) of each page before the one shown, oldest first.
        pages: Vec<(Option<String>, Option<u64>)>,
    }

    fn key_of(view: &ListView) -> String {
        super::encode(&view.without_page().to_pairs())
    }

    fn storage() -> Option<web_sys::Storage> {
        leptos::prelude::window().session_storage().ok().flatten()
    }

    fn load(view: &ListView) -> Trail {
        let key = key_of(view);
        let stored = storage().and_then(|s| s.get_item(TRAIL_KEY).ok().flatten());
        let mut lines = stored.as_deref().unwrap_or_default().lines();
        let pages = if lines.next() == Some(key.as_str()) {
            lines
                .filter_map(|line| {
                    let (from, token) = line.split_once('\t')?;
                    Some((
                        (!token.is_empty()).then(|| token.to_owned()),
                        from.parse().ok(),
                    ))
                })
                .collect()
        } else {
            Vec::new()
        };
        Trail { view: key, pages }
    }

    fn save(trail: &Trail) {
        let mut text = trail.view.clone();
        for (page, from) in &trail.pages {
            text.push('\n');
            text.push_str(&from.unwrap_or(1).to_string());
            text.push('\t');
            text.push_str(page.as_deref().unwrap_or_default());
        }
        if let Some(storage) = storage() {
            let _ = storage.set_item(TRAIL_KEY, &text);
        }
    }

    /// Remembers `here` before going on to the next page.
    pub fn push(here: &ListView) {
        let mut trail = load(here);
        // A page already on the trail (after Back, say) cuts it there.
        if let Some(at) = trail.pages.iter().position(|(page, _)| *page == here.page) {
            trail.pages.truncate(at);
        }
        trail.pages.push((here.page.clone(), here.from));
        save(&trail);
    }

    /// The page before `here`, if this tab walked to `here` with Next.
    pub fn pop(here: &ListView) -> Option<ListView> {
        let mut trail = load(here);
        let (page, from) = trail.pages.pop()?;
        save(&trail);
        let mut back = here.clone();
        back.page = page;
        back.from = from;
        Some(back)
    }
}
