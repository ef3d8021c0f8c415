use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::devices;
use crate::components::loaded::{Fetched, Loaded};
use crate::components::shell::{set_breadcrumb, Crumb};
use crate::paths;

#[component]
pub fn Home() -> impl IntoView {
    set_breadcrumb(vec![Crumb::here("Home")]);
    let devices = Fetched::new(|| devices::first_page(1));
    view! {
        <h1>"Home"</h1>
        <div class="cards">
            <section class="card" aria-labelledby="devices-card">
                <h2 id="devices-card">"Devices"</h2>
                <Loaded
                    resource=devices
                    loading="Counting devices…"
                    on_retry=Callback::new(move |()| devices.refetch())
                    let:page
                >
                    <p class="big-number">{move || page.with(|page| page.count.unwrap_or_default())}</p>
                    <p class="muted">"devices attached from Configuration Manager"</p>
                </Loaded>
                <A href=paths::DEVICES>"Open All devices"</A>
            </section>
            <section class="card" aria-labelledby="connectors-card">
                <h2 id="connectors-card">"Connectors and tokens"</h2>
                <p class="muted">"The Configuration Manager hierarchies attached to this tenant."</p>
                <A href=paths::CONNECTORS>"Open Connectors and tokens"</A>
            </section>
        </div>
    }
}
