//! Live updates: one `EventSource` on `/api/v1/events` for the whole app, its events kept in
//! signals that views read. The browser reconnects a dropped stream by itself; after a reconnect
//! the views refetch, since events may have been missed meanwhile.

use admin_api::{ActionState, DeviceAction, SiteRequest};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use crate::session::Session;

#[derive(Clone, Copy)]
pub struct Live {
    /// Every action seen on the stream (or made here), as it is now, in the order first seen.
    pub actions: RwSignal<Vec<DeviceAction>>,
    /// Site requests seen on the stream, each as it is now (without its answer).
    pub site_requests: RwSignal<Vec<SiteRequest>>,
    /// Bumped when a connector changed or was removed, and after a reconnect.
    pub connectors_changed: RwSignal<u64>,
    /// Bumped when an upload changed devices, and after a reconnect.
    pub devices_changed: RwSignal<u64>,
    pub connected: RwSignal<bool>,
}

impl Live {
    /// Keeps the newest word on each action: the answer to a request may arrive after the event
    /// stream already said the action was done.
    pub fn record(&self, action: DeviceAction) {
        self.actions.update(
            |actions| match actions.iter_mut().find(|a| a.id == action.id) {
                Some(known) if supersedes(&action, known) => *known = action,
                Some(_) => {}
                None => actions.push(action),
            },
        );
    }
}

fn progress(state: ActionState) -> u8 {
    match state {
        ActionState::Pending => 0,
        ActionState::Active => 1,
        _ => 2,
    }
}

/// Whether `new` is a later state of the action than `known`. An action only moves forward
/// (pending → active → final), and timestamps have whole seconds, so both are looked at.
pub fn supersedes(new: &DeviceAction, known: &DeviceAction) -> bool {
    (
        new.last_updated_date_time.as_str(),
        progress(new.action_state),
    ) >= (
        known.last_updated_date_time.as_str(),
        progress(known.action_state),
    )
}

pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// Provides [`Live`] to the app, with the event stream open while someone is signed in.
pub fn provide_live(session: Session) {
    let live = Live {
        actions: RwSignal::new(Vec::new()),
        site_requests: RwSignal::new(Vec::new()),
        connectors_changed: RwSignal::new(0),
        devices_changed: RwSignal::new(0),
        connected: RwSignal::new(false),
    };
    provide_context(live);
    let source = StoredValue::new_local(None::<web_sys::EventSource>);
    // Bumped to open the stream again after the server closed it (not after sign-out).
    let reopen = RwSignal::new(0u32);
    // Whether a stream was ever open: only a later opening means events may have been missed.
    let was_open = std::rc::Rc::new(std::cell::Cell::new(false));
    Effect::new(move |_| {
        reopen.track();
        let signed_in = session.me.with(Option::is_some);
        if let Some(old) = source.get_value() {
            old.close();
        }
        source.set_value(
            signed_in
                .then(|| open(live, reopen, was_open.clone()))
                .flatten(),
        );
        if !signed_in {
            live.connected.set(false);
        }
    });
}

fn open(
    live: Live,
    reopen: RwSignal<u32>,
    was_open: std::rc::Rc<std::cell::Cell<bool>>,
) -> Option<web_sys::EventSource> {
    // Same origin: the session cookie goes with it.
    let source = web_sys::EventSource::new(&format!("{}/events", crate::api::API_BASE)).ok()?;
    let listen = |name: &str, handler: Box<dyn FnMut(web_sys::MessageEvent)>| {
        let closure = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(handler);
        let _ = source.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
        // Kept as long as the page: a closed stream calls it no more.
        closure.forget();
    };
    listen(
        admin_api::Event::DEVICE_ACTION,
        Box::new(move |event| {
            if let Some(action) = event
                .data()
                .as_string()
                .and_then(|data| serde_json::from_str::<DeviceAction>(&data).ok())
            {
                live.record(action);
            }
        }),
    );
    listen(
        admin_api::Event::SITE_REQUEST,
        Box::new(move |event| {
            if let Some(request) = event
                .data()
                .as_string()
                .and_then(|data| serde_json::from_str::<SiteRequest>(&data).ok())
            {
                live.site_requests.update(|seen| {
                    seen.retain(|known| known.id != request.id);
                    // The pages follow the requests they made; older ones are let go.
                    if seen.len() >= 50 {
                        seen.remove(0);
                    }
                    seen.push(request);
                });
            }
        }),
    );
    listen(
        admin_api::Event::CONNECTOR,
        Box::new(move |_| live.connectors_changed.update(|n| *n += 1)),
    );
    listen(
        admin_api::Event::DEVICES,
        Box::new(move |_| live.devices_changed.update(|n| *n += 1)),
    );
    let opened = Closure::<dyn FnMut()>::new(move || {
        // Whatever happened while the stream was down is fetched again.
        if was_open.replace(true) {
            live.connectors_changed.update(|n| *n += 1);
            live.devices_changed.update(|n| *n += 1);
        }
        live.connected.set(true);
    });
    source.set_onopen(Some(opened.as_ref().unchecked_ref()));
    opened.forget();
    let watched = source.clone();
    let failed = Closure::<dyn FnMut()>::new(move || {
        live.connected.set(false);
        // The browser retries a dropped stream by itself, but not one the server refused:
        // ask who is signed in (a 401 leads to sign-in), and open it again if still someone.
        if watched.ready_state() == web_sys::EventSource::CLOSED {
            leptos::task::spawn_local(async move {
                if crate::api::session::me().await.is_ok() {
                    set_timeout(
                        move || reopen.update(|n| *n += 1),
                        std::time::Duration::from_secs(3),
                    );
                }
            });
        }
    });
    source.set_onerror(Some(failed.as_ref().unchecked_ref()));
    failed.forget();
    Some(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use admin_api::ConfigurationManagerActionType;

    fn action(state: ActionState, at: &str) -> DeviceAction {
        DeviceAction {
            id: "a".into(),
            device_id: "d".into(),
            action: ConfigurationManagerActionType::AppEvaluation,
            action_state: state,
            requested_by: "x".into(),
            requested_date_time: "2026-11-21T10:00:00Z".into(),
            last_updated_date_time: at.into(),
            result_code: None,
            result_message: None,
        }
    }

    #[test]
    fn a_late_answer_does_not_undo_a_later_state() {
        let done = action(ActionState::Done, "2026-11-21T10:00:00Z");
        let pending = action(ActionState::Pending, "2026-11-21T10:00:00Z");
        assert!(!supersedes(&pending, &done));
        assert!(supersedes(&done, &pending));
        let later_pending = action(ActionState::Pending, "2026-11-21T10:00:05Z");
        assert!(supersedes(&later_pending, &done), "a later timestamp wins");
    }
}
