//! The sign-in page: the organization's provider when one is configured, and the user name and
//! password of a local account unless local sign-in is off; then back to the page the user came
//! from.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;

use crate::api::{self, ApiError};
use crate::session::{safe_return_path, use_session, Session};

#[component]
pub fn SignIn() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let return_to =
        Memo::new(move |_| safe_return_path(query.with(|q| q.get("returnTo")).as_deref()));
    document().set_title("Sign in · Attach Center");

    go_on_when_signed_in(session, return_to);

    let user_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    // A sign-in through the provider that did not complete comes back with its reason.
    let failure = RwSignal::new(query.with_untracked(|q| q.get("signInError")));
    let options = LocalResource::new(api::session::options);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        failure.set(None);
        let (name, secret) = (user_name.get_untracked(), password.get_untracked());
        spawn_local(async move {
            match api::session::sign_in(&name, &secret).await {
                Ok(me) => {
                    password.set(String::new());
                    session.me.set(Some(me));
                }
                Err(error) => {
                    failure.set(Some(message_for(&error)));
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <main class="sign-in-frame">
            <form class="sign-in card" on:submit=submit aria-labelledby="sign-in-title">
                <p class="product">"Attach Center"</p>
                <h1 id="sign-in-title">"Sign in"</h1>
                <p class="muted">"Configuration Manager tenant attach"</p>
                {move || {
                    failure
                        .get()
                        .map(|message| {
                            view! {
                                <p class="sign-in-error" role="alert">
                                    {message}
                                </p>
                            }
                        })
                }}
                {move || {
                    let options = options.get()?.ok()?;
                    let provider = options.provider?;
                    let href = format!(
                        "{}?returnTo={}",
                        provider.start_path,
                        String::from(js_sys::encode_uri_component(&return_to.get())),
                    );
                    Some(
                        view! {
                            // A server address, not a route: the router leaves it to the browser.
                            <a class="button primary sign-in-provider" href=href rel="external">
                                {format!("Sign in with {}", provider.display_name)}
                            </a>
                            {options
                                .local
                                .then(|| view! { <p class="sign-in-or muted">"or with a local account"</p> })}
                        },
                    )
                }}
                <div
                    class="sign-in-local"
                    hidden=move || {
                        options.get().and_then(Result::ok).is_some_and(|options| !options.local)
                    }
                >
                <label for="sign-in-user">"User name"</label>
                <input
                    id="sign-in-user"
                    name="username"
                    type="text"
                    autocomplete="username"
                    required=true
                    autofocus=true
                    prop:value=move || user_name.get()
                    on:input=move |e| user_name.set(event_target_value(&e))
                />
                <label for="sign-in-password">"Password"</label>
                <input
                    id="sign-in-password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required=true
                    prop:value=move || password.get()
                    on:input=move |e| password.set(event_target_value(&e))
                />
                <button class="button primary" type="submit" disabled=move || pending.get()>
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
                </div>
            </form>
        </main>
    }
}

/// Signed in already (or just now): goes where the user was headed. The target is read
/// untracked: once there, the sign-in page's query is gone and must not send the user on.
fn go_on_when_signed_in(session: Session, return_to: Memo<String>) {
    let navigate = use_navigate();
    Effect::new(move |_| {
        if session.me.with(Option::is_some) {
            navigate(
                &return_to.get_untracked(),
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    });
}

/// What to tell someone whose sign-in failed: the server's words for a wrong password or a
/// throttle, ours for anything else.
fn message_for(error: &ApiError) -> String {
    match error {
        ApiError::Server {
            status: 401 | 403 | 429,
            message,
            ..
        } => message.clone(),
        ApiError::Server { .. } | ApiError::Status { .. } => {
            format!("Signing in failed: {error}")
        }
        other => other.to_string(),
    }
}
