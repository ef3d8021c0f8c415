//! The admin-center frame: top bar, left navigation, breadcrumb and the content area.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::api;
use crate::components::toast::{use_toasts, ToastRegion};
use crate::paths;
use crate::session::use_session;

/// One step of the breadcrumb; the last one is the page itself and has no link.
#[derive(Debug, Clone, PartialEq)]
pub struct Crumb {
    pub label: String,
    pub href: Option<String>,
}

impl Crumb {
    pub fn link(label: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            href: Some(href.into()),
        }
    }

    pub fn here(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            href: None,
        }
    }
}

#[derive(Clone, Copy)]
struct Breadcrumbs(RwSignal<Vec<Crumb>>);

/// Sets the breadcrumb and the document title for the page being shown.
pub fn set_breadcrumb(crumbs: Vec<Crumb>) {
    if let Some(title) = crumbs.last() {
        document().set_title(&format!("{} · Attach Center", title.label));
    }
    if let Some(Breadcrumbs(signal)) = use_context::<Breadcrumbs>() {
        signal.set(crumbs);
    }
}

#[component]
pub fn Shell(children: Children) -> impl IntoView {
    let crumbs = RwSignal::new(Vec::<Crumb>::new());
    provide_context(Breadcrumbs(crumbs));
    let nav_open = RwSignal::new(false);
    // Signed in without a role (a provider user none of whose claim values is assigned one):
    // every page would be refusals, so the shell says why instead.
    let session = use_session();
    let no_role = move || {
        session
            .me
            .with(|me| me.as_ref().is_some_and(|me| me.roles.is_empty()))
    };

    view! {
        <a class="skip-link" href="#content">"Skip to main content"</a>
        <header class="top-bar">
            <button
                class="nav-toggle"
                aria-controls="left-nav"
                aria-expanded=move || nav_open.get().to_string()
                aria-label="Show navigation"
                on:click=move |_| nav_open.update(|open| *open = !*open)
            >
                <span aria-hidden="true">"☰"</span>
            </button>
            <a class="product" href=paths::HOME>"Attach Center"</a>
            <span class="product-sub">"Configuration Manager tenant attach"</span>
            <SignedInUser />
        </header>
        <div class="frame">
            {left_nav(nav_open)}
            <main id="content" class="content" tabindex="-1">
                {move || {
                    no_role()
                        .then(|| {
                            view! {
                                <section class="card no-role" role="alert">
                                    <h1>"No role here yet"</h1>
                                    <p>
                                        "Your account has no role in Attach Center. Ask a tenant administrator to assign one to a group you are in."
                                    </p>
                                </section>
                            }
                        })
                }}
                <div class="page" hidden=no_role>
                    {breadcrumb(crumbs)}
                    {children()}
                </div>
            </main>
        </div>
        <ToastRegion />
    }
}

/// The left navigation: Home, Devices, Tenant administration. Choosing a page closes it on
/// narrow screens.
fn left_nav(nav_open: RwSignal<bool>) -> impl IntoView {
    view! {
    <nav
        id="left-nav"
        class="left-nav"
        class:open=move || nav_open.get()
        aria-label="Admin center"
        on:click=move |_| nav_open.set(false)
    >
        <ul>
            <li>
                <A href=paths::HOME exact=true>
                    <span class="nav-icon" aria-hidden="true">"⌂"</span>
                    "Home"
                </A>
            </li>
            <li class="nav-group">
                <span class="nav-group-label">
                    <span class="nav-icon" aria-hidden="true">"▣"</span>
                    "Devices"
                </span>
                <ul>
                    <li>
                        <A href=paths::DEVICES>"All devices"</A>
                    </li>
                </ul>
            </li>
            <li class="nav-group">
                <span class="nav-group-label">
                    <span class="nav-icon" aria-hidden="true">"⚙"</span>
                    "Tenant administration"
                </span>
                <ul>
                    <li>
                        <A href=paths::CONNECTORS>"Connectors and tokens"</A>
                    </li>
                    <li>
                        <A href=paths::ROLES>"Roles"</A>
                    </li>
                    <li>
                        <A href=paths::AUDIT_LOGS>"Audit logs"</A>
                    </li>
                </ul>
            </li>
        </ul>
    </nav>
    }
}

/// Where the page is: links up to it, then the page itself.
fn breadcrumb(crumbs: RwSignal<Vec<Crumb>>) -> impl IntoView {
    view! {
    <nav class="breadcrumb" aria-label="Breadcrumb">
        <ol>
            {move || {
                crumbs
                    .get()
                    .into_iter()
                    .map(|crumb| match crumb.href {
                        Some(href) => {
                            view! {
                                <li>
                                    <A href=href>{crumb.label}</A>
                                </li>
                            }
                                .into_any()
                        }
                        None => {
                            view! {
                                <li aria-current="page">{crumb.label}</li>
                            }
                                .into_any()
                        }
                    })
                    .collect_view()
            }}
        </ol>
    </nav>
    }
}

/// Who is signed in, with their roles, and Sign out.
#[component]
fn SignedInUser() -> impl IntoView {
    let session = use_session();
    let toasts = use_toasts();
    let navigate = leptos_router::hooks::use_navigate();
    let signing_out = RwSignal::new(false);
    let sign_out = move |_| {
        signing_out.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match api::session::sign_out().await {
                // Signed in through the provider: on to sign out there too, which comes back to
                // the sign-in page.
                Ok(Some(signed_out)) => {
                    session.me.set(None);
                    if window()
                        .location()
                        .assign(&signed_out.provider_sign_out_url)
                        .is_err()
                    {
                        navigate(paths::SIGN_IN, Default::default());
                    }
                }
                Ok(None) => {
                    session.me.set(None);
                    navigate(paths::SIGN_IN, Default::default());
                }
                Err(error) => toasts.error(format!("Signing out failed: {error}")),
            }
            signing_out.set(false);
        });
    };
    view! {
        <div class="signed-in">
            {move || {
                session
                    .me
                    .get()
                    .map(|me| {
                        let through = me
                            .signed_in_through
                            .as_ref()
                            .map(|provider| format!("Signed in through {provider}"));
                        view! {
                            <span class="user-name" title=me.user_principal_name.clone()>
                                {me.display_name.clone()}
                            </span>
                            <span class="user-roles">{me.roles.join(", ")}</span>
                            {through.map(|through| view! { <span class="user-provider">{through}</span> })}
                            <span class="visually-hidden">{format!(" ({})", me.user_principal_name)}</span>
                        }
                    })
            }}
            <button class="button quiet" on:click=sign_out disabled=move || signing_out.get()>
                "Sign out"
            </button>
        </div>
    }
}
