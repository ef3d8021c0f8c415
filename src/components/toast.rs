//! Toasts: short confirmations, dismissed by the user or after a while. Each is announced once,
//! through a polite live region that holds only the newest one (the visible list is redrawn as
//! toasts come and go, and is not a live region, so nothing is announced twice).

use leptos::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub id: u64,
    pub text: String,
    pub error: bool,
}

#[derive(Clone, Copy)]
pub struct Toasts {
    list: RwSignal<Vec<Toast>>,
    next: RwSignal<u64>,
    announced: RwSignal<String>,
}

const SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(8);

impl Toasts {
    pub fn show(&self, text: impl Into<String>) {
        self.push(text.into(), false);
    }

    pub fn error(&self, text: impl Into<String>) {
        self.push(text.into(), true);
    }

    fn push(&self, text: String, error: bool) {
        let id = self.next.get_untracked();
        self.next.set(id + 1);
        self.announced.set(text.clone());
        self.list
            .update(|list| list.push(Toast { id, text, error }));
        let list = self.list;
        set_timeout(move || list.update(|l| l.retain(|t| t.id != id)), SHOWN_FOR);
    }

    fn dismiss(&self, id: u64) {
        self.list.update(|l| l.retain(|t| t.id != id));
    }
}

pub fn provide_toasts() {
    provide_context(Toasts {
        list: RwSignal::new(Vec::new()),
        next: RwSignal::new(0),
        announced: RwSignal::new(String::new()),
    });
}

pub fn use_toasts() -> Toasts {
    expect_context::<Toasts>()
}

#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="visually-hidden" role="status" aria-live="polite">
            <span>{move || toasts.announced.get()}</span>
        </div>
        <div class="toasts">
            {move || {
                toasts
                    .list
                    .get()
                    .into_iter()
                    .map(|toast| {
                        let id = toast.id;
                        view! {
                            <div class="toast" class:error=toast.error>
                                <span>{toast.text}</span>
                                <button
                                    class="toast-close"
                                    aria-label="Dismiss"
                                    on:click=move |_| toasts.dismiss(id)
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
                    .collect_view()
            }}
        </div>
    }
}
