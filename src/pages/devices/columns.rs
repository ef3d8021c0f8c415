//! The column chooser of All devices; the choice is kept in the browser (localStorage).

use leptos::prelude::*;

use super::view_state::{column, COLUMNS, DEFAULT_COLUMNS};

const COLUMNS_KEY: &str = "attach-center.devices.columns";

/// The columns chosen in this browser, or the default ones.
pub fn stored_columns() -> Vec<String> {
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
        .unwrap_or_else(default_columns)
}

fn default_columns() -> Vec<String> {
    DEFAULT_COLUMNS.iter().map(|k| k.to_string()).collect()
}

fn store_columns(keys: &[String]) {
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item(COLUMNS_KEY, &keys.join(","));
    }
}

#[component]
pub fn ColumnPanel(columns: RwSignal<Vec<String>>) -> impl IntoView {
    let toggle = move |key: &'static str| {
        columns.update(|keys| {
            if let Some(at) = keys.iter().position(|k| k == key) {
                keys.remove(at);
            } else {
                // Keep the chooser's order.
                keys.push(key.to_owned());
                let position = |key: &String| COLUMNS.iter().position(|c| c.key == key);
                crate::order::sort_short(keys, |a, b| position(a).cmp(&position(b)));
            }
            store_columns(keys);
        })
    };
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
                                    on:change=move |_| toggle(key)
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
                    let defaults = default_columns();
                    store_columns(&defaults);
                    columns.set(defaults);
                }
            >
                "Reset columns"
            </button>
        </section>
    }
}
