//! What a page fetched, once it is there: a status line while it loads (a page already shown
//! stays while the next one loads), the error with Retry when it failed.

use leptos::prelude::*;

use crate::api::ApiError;
use crate::components::error_banner::ErrorBanner;

#[component]
pub fn Loaded<T, V, F>(
    resource: LocalResource<Result<T, ApiError>>,
    /// The status line while loading, e.g. "Loading devices…".
    loading: &'static str,
    /// Fetches again.
    on_retry: Callback<()>,
    /// The view of what was fetched.
    children: F,
    /// The status line's class.
    #[prop(default = "muted")]
    class: &'static str,
) -> impl IntoView
where
    T: Clone + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Send + Sync + 'static,
{
    let children = StoredValue::new(children);
    view! {
        <Transition fallback=move || view! { <p class=class role="status">{loading}</p> }>
            {move || Suspend::new(async move {
                match resource.await {
                    Ok(value) => children.with_value(|children| children(value)).into_any(),
                    Err(error) => view! { <ErrorBanner error on_retry /> }.into_any(),
                }
            })}
        </Transition>
    }
}
