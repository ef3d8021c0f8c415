use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::{path, NavigateOptions};

use crate::api;
use crate::components::error_banner::ErrorBanner;
use crate::components::shell::Shell;
use crate::components::toast::provide_toasts;
use crate::live::provide_live;
use crate::pages::audit::AuditLogs;
use crate::pages::connectors::Connectors;
use crate::pages::devices::{AllDevices, DeviceOverview};
use crate::pages::home::Home;
use crate::pages::not_found::NotFound;
use crate::pages::roles::Roles;
use crate::pages::sign_in::SignIn;
use crate::paths;
use crate::session::{provide_session, sign_in_url, use_session};

#[component]
pub fn App() -> impl IntoView {
    provide_toasts();
    let session = provide_session();
    provide_live(session);
    view! {
        <Router>
            <Gate />
        </Router>
    }
}

/// Shows the sign-in page, or the admin center once `/me` says who is signed in. Any 401 from
/// then on (the session expired or ended) comes back here: to sign-in, then to the same page.
#[component]
fn Gate() -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let navigate = use_navigate();
    // Memos, so that the frame is rebuilt only when these change, not on every navigation.
    let on_sign_in_page = Memo::new(move |_| location.pathname.get() == paths::SIGN_IN);
    let signed_in = Memo::new(move |_| session.me.with(Option::is_some));
    api::on_unauthenticated({
        let navigate = navigate.clone();
        move || {
            let location = window().location();
            let path = location.pathname().unwrap_or_default();
            if path == paths::SIGN_IN {
                return;
            }
            let here = format!("{path}{}", location.search().unwrap_or_default());
            session.me.set(None);
            navigate(
                &sign_in_url(&here),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
    let failure = RwSignal::new(None::<api::ApiError>);
    let check = move || {
        failure.set(None);
        spawn_local(async move {
            match api::session::me().await {
                Ok(me) => session.me.set(Some(me)),
                Err(error) if error.is_unauthenticated() => {}
                Err(error) => failure.set(Some(error)),
            }
        });
    };
    check();

    move || {
        if on_sign_in_page.get() {
            view! { <SignIn /> }.into_any()
        } else if signed_in.get() {
            view! {
                <Shell>
                    <Routes fallback=NotFound>
                        <Route path=path!("/") view=Home />
                        <Route path=paths::route(paths::DEVICES) view=AllDevices />
                        <Route path=paths::route_with(paths::DEVICES, "id") view=DeviceOverview />
                        <Route path=paths::route2(paths::CONNECTORS) view=Connectors />
                        <Route path=paths::route2(paths::AUDIT_LOGS) view=AuditLogs />
                        <Route path=paths::route2(paths::ROLES) view=Roles />
                    </Routes>
                </Shell>
            }
            .into_any()
        } else if let Some(error) = failure.get() {
            view! {
                <main class="sign-in-frame">
                    <ErrorBanner error=error on_retry=Callback::new(move |_| check()) />
                </main>
            }
            .into_any()
        } else {
            view! {
                <main class="sign-in-frame">
                    <p class="loading" role="status">"Checking your sign-in…"</p>
                </main>
            }
            .into_any()
        }
    }
}
