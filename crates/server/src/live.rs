//! Live events and site wake-ups, on one instance or several.
//!
//! On SQLite (one instance) an event goes straight to the instance's event streams. On PostgreSQL
//! (any number of instances) it is written to the store's outbox (`store::shared`) and every
//! instance's relay reads the outbox in order and hands each event, with its number, to its own
//! streams: a stream on instance A sees what instance B published, and a client that reconnects
//! with `Last-Event-ID` gets what it missed from the table. NOTIFY only wakes the relays; they
//! also look every [`RELAY_POLL`], so a notification missed during a reconnect delays an event by
//! that much at most, and never loses it.
//!
//! Site wake-ups go to the instance's own long-polls at once and, on PostgreSQL, to every other
//! instance's through a notification carrying the connector's id.

use std::sync::Arc;
use std::time::Duration;

use admin_api::Event;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::store::error::StoreResult;
use crate::store::shared::StoredEvent;
use crate::store::Store;

/// This instance's event streams and waiting long-polls, and the way to every other instance's.
/// Whoever makes a change tells it here; nothing here calls back.
#[derive(Clone)]
pub struct Live {
    store: Store,
    /// This instance's event streams.
    events: broadcast::Sender<Arc<LiveEvent>>,
    /// Wakes a connector's long-poll: carries the id of a connector that has something new.
    site_signals: broadcast::Sender<String>,
}

/// An event as the streams send it: its number (on PostgreSQL), name and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub id: Option<i64>,
    pub name: String,
    pub data: String,
}

impl LiveEvent {
    pub fn of(event: &Event) -> Self {
        Self {
            id: None,
            name: event.name().to_owned(),
            data: crate::store::event_data(event),
        }
    }

    fn stored(event: StoredEvent) -> Self {
        Self {
            id: Some(event.seq),
            name: event.name,
            data: event.data,
        }
    }
}

/// How often a relay reads the outbox without being woken.
pub const RELAY_POLL: Duration = Duration::from_secs(1);
/// Events read from the outbox at a time.
const PAGE: i64 = 500;
/// At most this many missed events are replayed to a stream that resumes; one that missed more
/// starts from now (its client refetches what it shows, as after any gap).
pub const REPLAY_LIMIT: usize = 5_000;

impl Live {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            events: broadcast::channel(1024).0,
            site_signals: broadcast::channel(256).0,
        }
    }

    /// Announces `event`, which no change wrote, to every event stream on every instance.
    /// Changes write theirs in their transaction instead (see [`Self::committed`]).
    pub async fn publish(&self, event: Event) {
        let live = LiveEvent::of(&event);
        let now = time::OffsetDateTime::now_utc();
        match self.store.append_event(&live.name, &live.data, now).await {
            // The relay hands it to this instance's streams too, in order.
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => {
                tracing::error!(%error, event = live.name, "an event could not be written to the outbox; only this instance's streams get it");
            }
        }
        self.send_local(Arc::new(live));
    }

    /// Announces `event`, which the store wrote in its change's transaction (see
    /// [`crate::store::write_event`]), once that committed: on SQLite to the streams; on
    /// PostgreSQL the relays deliver it from the outbox.
    pub fn committed(&self, event: Event) {
        if !self.store.is_shared() {
            self.send_local(Arc::new(LiveEvent::of(&event)));
        }
    }

    /// Hands an event to this instance's streams.
    fn send_local(&self, event: Arc<LiveEvent>) {
        // No subscriber is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.events.subscribe()
    }

    /// Wakes the long-poll of `connector_id`, wherever it waits.
    pub async fn signal_site(&self, connector_id: &str) {
        self.wake_local_site(connector_id);
        if let Err(error) = self.store.wake_site_elsewhere(connector_id).await {
            tracing::warn!(%error, connector = connector_id, "other instances' long-polls were not woken; the site finds the action on its next poll");
        }
    }

    fn wake_local_site(&self, connector_id: &str) {
        let _ = self.site_signals.send(connector_id.to_owned());
    }

    pub fn site_signals(&self) -> broadcast::Receiver<String> {
        self.site_signals.subscribe()
    }

    /// The events after `after` still in the outbox, oldest first, at most [`REPLAY_LIMIT`];
    /// `None` when more were missed than that (or on SQLite, which keeps none).
    pub async fn missed_since(&self, after: i64) -> StoreResult<Option<Vec<LiveEvent>>> {
        if !self.store.is_shared() {
            return Ok(None);
        }
        let mut missed = Vec::new();
        let mut last = after;
        loop {
            let page = self.store.events_after(last, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for event in page {
                last = event.seq;
                missed.push(LiveEvent::stored(event));
            }
            if missed.len() > REPLAY_LIMIT {
                return Ok(None);
            }
            if !full {
                return Ok(Some(missed));
            }
        }
    }

    /// On PostgreSQL, this instance's relays: the outbox to its event streams, other instances'
    /// site wake-ups to its long-polls. They run until `shutdown`.
    pub async fn run_relays(self, shutdown: CancellationToken) {
        if !self.store.is_shared() {
            return;
        }
        tokio::join!(
            self.clone().relay_events(shutdown.clone()),
            self.relay_site_signals(shutdown)
        );
    }

    async fn relay_events(self, shutdown: CancellationToken) {
        // Streams get what is published from now on.
        let mut last = loop {
            match self.store.last_event().await {
                Ok(last) => break last,
                Err(error) => {
                    tracing::warn!(%error, "the event relay could not read the outbox; trying again");
                    if pause(&shutdown).await {
                        return;
                    }
                }
            }
        };
        let mut listener = None;
        loop {
            if listener.is_none() {
                match self.store.event_listener().await {
                    Some(Ok(connected)) => listener = Some(connected),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the event relay could not listen; it polls")
                    }
                    None => return,
                }
            }
            // Whatever committed since the last read, woken or not.
            loop {
                match self.store.events_after(last, PAGE).await {
                    Ok(page) => {
                        let full = page.len() as i64 == PAGE;
                        for event in page {
                            last = event.seq;
                            self.send_local(Arc::new(LiveEvent::stored(event)));
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the event relay could not read the outbox");
                        break;
                    }
                }
            }
            let woken = async {
                match listener.as_mut() {
                    Some(listening) => listening.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = tokio::time::timeout(RELAY_POLL, woken) => {
                    if let Ok(Err(error)) = received {
                        tracing::warn!(%error, "the event relay's listener failed; it listens again");
                        listener = None;
                    }
                }
            }
        }
    }

    async fn relay_site_signals(self, shutdown: CancellationToken) {
        loop {
            let mut listener = match self.store.site_listener().await {
                Some(Ok(listener)) => listener,
                None => return,
                Some(Err(error)) => {
                    tracing::warn!(%error, "site wake-ups from other instances are not heard; sites poll");
                    if pause(&shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    received = listener.recv() => match received {
                        Ok(connector_id) => self.wake_local_site(&connector_id),
                        Err(error) => {
                            tracing::warn!(%error, "the site wake-up listener failed; it listens again");
                            break;
                        }
                    },
                }
            }
        }
    }
}

/// Waits a moment before trying again; true when the server is shutting down meanwhile.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(RELAY_POLL) => false,
    }
}
