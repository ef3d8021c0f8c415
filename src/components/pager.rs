//! A pager: a button back (to the previous or the first page) and one on, each off where there is
//! nowhere to go, and whatever the list offers beside them (the page size, say).

use leptos::prelude::*;

/// A pager's button: its label, and where it goes (off when nowhere).
pub type PageButton = (&'static str, Option<Callback<()>>);

pub fn pager(back: PageButton, on: PageButton, beside: AnyView) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {button(back)}
            {button(on)}
            {beside}
        </nav>
    }
}

fn button((label, go): PageButton) -> impl IntoView {
    view! {
        <button class="button" disabled=go.is_none() on:click=move |_| if let Some(go) = go { go.run(()) }>
            {label}
        </button>
    }
}
