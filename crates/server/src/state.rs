//! What every handler shares: the store, the settings, the limits, live events and site signals.
//! It holds them and calls none of them back.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::limits::Limits;
use crate::live::Live;
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
    /// Live events and site wake-ups, on this instance and the others.
    pub live: Live,
    /// Cancelled when the server shuts down, so that streams and long-polls end.
    pub shutdown: CancellationToken,
    /// The organization's OpenID Connect provider, when one is configured.
    pub oidc: Option<Arc<crate::oidc::Oidc>>,
}

impl AppState {
    pub fn new(store: Store, config: Config, shutdown: CancellationToken) -> Self {
        let store = store.with_online_window(to_time(config.online_window));
        Self {
            live: Live::new(store.clone()),
            store,
            limits: Arc::new(Limits::new(&config)),
            exports: crate::turns::Turns::exports(),
            streams: crate::turns::Turns::streams(),
            config: Arc::new(config),
            shutdown,
            oidc: None,
        }
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
