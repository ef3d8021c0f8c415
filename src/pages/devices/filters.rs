//! The Filter panel of All devices (management, OS, compliance, ownership, hierarchy, last
//! check-in) and the chips that show, and remove, the filters in force.

use leptos::prelude::*;

use super::view_state::{FilterKind, ListView, CHECKIN_WINDOWS, FILTERS};
use crate::api::connectors;
use crate::components::loaded::Fetched;
use crate::url_state::UrlView;

#[component]
pub fn FilterPanel(url: UrlView<ListView>) -> impl IntoView {
    view! {
        <section id="filter-panel" class="panel" aria-label="Filters">
            {FILTERS.iter().map(|kind| choice_filter(url, kind)).collect_view()}
            {hierarchy_filter(url)}
            {checkin_filter(url)}
        </section>
    }
}

/// One filter's choices, any number of them at once.
fn choice_filter(url: UrlView<ListView>, kind: &'static FilterKind) -> impl IntoView {
    let has = move |value: &str| {
        url.view.with(|v| {
            v.filters
                .iter()
                .any(|(p, values)| p == kind.field && values.iter().any(|x| x == value))
        })
    };
    let toggle = move |value: &'static str| {
        url.change(&|v| {
            let entry = match v.filters.iter_mut().find(|(p, _)| p == kind.field) {
                Some(entry) => entry,
                None => {
                    v.filters.push((kind.field.to_owned(), Vec::new()));
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
    };
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
                                prop:checked=move || has(value)
                                on:change=move |_| toggle(value)
                            />
                            {label}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

/// The attached hierarchies that report a name, any number of them at once.
fn hierarchy_filter(url: UrlView<ListView>) -> impl IntoView {
    let connectors = Fetched::new(connectors::list);
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
        crate::order::sort_short(&mut names, String::cmp);
        names.dedup();
        names
    };
    let option = move |name: String| {
        let checked = name.clone();
        let toggled = name.clone();
        view! {
            <label>
                <input
                    type="checkbox"
                    prop:checked=move || url.view.with(|v| v.hierarchies.contains(&checked))
                    on:change=move |_| {
                        url.change(&|v| {
                            if let Some(at) = v.hierarchies.iter().position(|h| *h == toggled) {
                                v.hierarchies.remove(at);
                            } else {
                                v.hierarchies.push(toggled.clone());
                            }
                        })
                    }
                />
                {name}
            </label>
        }
    };
    view! {
        <fieldset>
            <legend>"Hierarchy"</legend>
            {move || hierarchies().into_iter().map(option).collect_view()}
        </fieldset>
    }
}

/// When the devices last checked in: any time, or within one of the windows.
fn checkin_filter(url: UrlView<ListView>) -> impl IntoView {
    let choice = move |value: Option<&'static str>, label: &'static str| {
        view! {
            <label>
                <input
                    type="radio"
                    name="checkin"
                    prop:checked=move || url.view.with(|v| v.checkin.as_deref() == value)
                    on:change=move |_| url.change(&|v| v.checkin = value.map(str::to_owned))
                />
                {label}
            </label>
        }
    };
    view! {
        <fieldset>
            <legend>"Last check-in"</legend>
            {choice(None, "Any time")}
            {CHECKIN_WINDOWS
                .iter()
                .map(|&(value, label, _)| choice(Some(value), label))
                .collect_view()}
        </fieldset>
    }
}

/// What removing a chip does to the view.
type RemoveChip = Box<dyn Fn(&mut ListView) + Send + Sync>;

/// The filters in force as chips, each with its label and what removing it does.
fn chips_of(v: &ListView) -> Vec<(String, RemoveChip)> {
    let mut chips: Vec<(String, RemoveChip)> = Vec::new();
    for (param, values) in &v.filters {
        let Some(kind) = FILTERS.iter().find(|f| f.field == param) else {
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
}

#[component]
pub fn FilterChips(url: UrlView<ListView>) -> impl IntoView {
    view! {
        <div class="chips" aria-label="Active filters" role="group">
            {move || {
                url.view
                    .with(chips_of)
                    .into_iter()
                    .map(|(label, remove)| {
                        let aria = format!("Remove filter {label}");
                        view! {
                            <button class="chip" aria-label=aria on:click=move |_| url.change(&|v| remove(v))>
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
