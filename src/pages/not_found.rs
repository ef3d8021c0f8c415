use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::shell::{set_breadcrumb, Crumb};
use crate::paths;

#[component]
pub fn NotFound() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", paths::HOME),
        Crumb::here("Page not found"),
    ]);
    view! {
        <section class="empty-state">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address. It may have moved, or the link may be mistyped."</p>
            <A href=paths::HOME>"Go to Home"</A>
        </section>
    }
}
