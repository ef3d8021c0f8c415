use leptos::prelude::*;

use crate::components::shell::{set_breadcrumb, Crumb};

#[component]
pub fn Connectors() -> impl IntoView {
    set_breadcrumb(vec![
        Crumb::link("Home", "/"),
        Crumb::here("Connectors and tokens"),
    ]);
    view! {
        <h1>"Connectors and tokens"</h1>
        <h2 class="subtitle">"Microsoft Endpoint Configuration Manager"</h2>
        <section class="notice" role="status">
            <p>
                "Connector status, details and offboarding are not available in this build yet: "
                "this server does not speak the connector protocol so far."
            </p>
        </section>
    }
}
