use leptos::prelude::*;

use crate::api::ApiError;

/// An error the operator can act on: what the server said, the request id to quote, and Retry.
#[component]
pub fn ErrorBanner(
    #[prop(into)] error: ApiError,
    #[prop(into)] on_retry: Callback<()>,
) -> impl IntoView {
    let request_id = error.request_id().map(str::to_owned);
    view! {
        <div class="error-banner" role="alert">
            <span class="error-icon" aria-hidden="true">"⚠"</span>
            <div class="error-text">
                <p class="error-message">{error.to_string()}</p>
                {request_id
                    .map(|id| {
                        view! {
                            <p class="error-request-id">
                                "Request id: " <code>{id}</code>
                            </p>
                        }
                    })}
            </div>
            <button class="button" on:click=move |_| on_retry.run(())>
                "Retry"
            </button>
        </div>
    }
}
