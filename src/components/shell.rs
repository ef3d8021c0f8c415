//! The admin-center frame: top bar, left navigation, breadcrumb and the content area.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::toast::ToastRegion;

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
            <a class="product" href="/">"Attach Center"</a>
            <span class="product-sub">"Configuration Manager tenant attach"</span>
        </header>
        <div class="frame">
            <nav
                id="left-nav"
                class="left-nav"
                class:open=move || nav_open.get()
                aria-label="Admin center"
                on:click=move |_| nav_open.set(false)
            >
                <ul>
                    <li>
                        <A href="/" exact=true>
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
                                <A href="/devices">"All devices"</A>
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
                                <A href="/tenant-admin/connectors">"Connectors and tokens"</A>
                            </li>
                        </ul>
                    </li>
                </ul>
            </nav>
            <main id="content" class="content" tabindex="-1">
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
                {children()}
            </main>
        </div>
        <ToastRegion />
    }
}
