use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::components::shell::Shell;
use crate::components::toast::provide_toasts;
use crate::live::provide_live;
use crate::pages::connectors::Connectors;
use crate::pages::devices::{AllDevices, DeviceOverview};
use crate::pages::home::Home;
use crate::pages::not_found::NotFound;

#[component]
pub fn App() -> impl IntoView {
    provide_toasts();
    provide_live();
    view! {
        <Router>
            <Shell>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Home />
                    <Route path=path!("/devices") view=AllDevices />
                    <Route path=path!("/devices/:id") view=DeviceOverview />
                    <Route path=path!("/tenant-admin/connectors") view=Connectors />
                </Routes>
            </Shell>
        </Router>
    }
}
