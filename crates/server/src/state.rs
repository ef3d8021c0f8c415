//! What every handler shares: the store, the settings, the event stream and the site signals.

use std::sync::Arc;

use admin_api::Event;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::auth::limits::Limits;
use crate::live::LiveEvent;
use crate::store::Store;
use crate::Config;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    /// Request rates per user and connector, sign-in attempts per account and address.
    pub limits: Arc<Limits>,
    /// CSV exports running, overall and per user.
    pub exports: crate::turns::Turns,
    /// Event streams open, overall and per session.
    pub streams: crate::turns::Turns,
    /// This instance's event streams (fed by [`crate::live`]).
    events: broadcast::Sender<Arc<LiveEvent>>,
    /// Wakes a connector's long-poll: carries the id of a connector that has something new.
    site_signals: broadcast::Sender<String>,
    /// Cancelled when the server shuts down, so that streams and long-polls end.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(store: Store, config: Config, shutdown: CancellationToken) -> Self {
        Self {
            store: store.with_online_window(to_time(config.online_window)),
            limits: Arc::new(Limits::new(&config)),
            exports: crate::turns::Turns::exports(),
            streams: crate::turns::Turns::streams(),
            config: Arc::new(config),
            events: broadcast::channel(1024).0,
            site_signals: broadcast::channel(256).0,
            shutdown,
        }
    }

    /// Announces `event`, which no change wrote, to every event stream on every instance (see
    /// [`crate::live`]). Changes write theirs in their transaction instead (see [`Self::committed`]).
    pub async fn publish(&self, event: Event) {
        crate::live::publish(self, &event).await;
    }

    /// Announces `event`, which the store wrote in its change's transaction (see
    /// [`crate::store::write_event`]), once that committed: on SQLite to the streams; on
    /// PostgreSQL the relays deliver it from the outbox.
    pub fn committed(&self, event: Event) {
        if self.store.postgres().is_none() {
            self.send_local(Arc::new(LiveEvent::of(&event)));
        }
    }

    /// Hands an event to this instance's streams.
    pub(crate) fn send_local(&self, event: Arc<LiveEvent>) {
        // No subscriber is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.events.subscribe()
    }

    /// Wakes the long-poll of `connector_id`, on whichever instance it waits.
    pub async fn signal_site(&self, connector_id: &str) {
        crate::live::signal_site(self, connector_id).await;
    }

    pub(crate) fn wake_local_site(&self, connector_id: &str) {
        let _ = self.site_signals.send(connector_id.to_owned());
    }

    pub fn site_signals(&self) -> broadcast::Receiver<String> {
        self.site_signals.subscribe()
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    pub fn online_window(&self) -> time::Duration {
        to_time(self.config.online_window)
    }
}

pub fn to_time(duration: std::time::Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
