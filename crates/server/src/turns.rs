//! Long-held requests taken in turns: at most so many at once overall and per key (a user, a
//! session). A CSV export holds a database connection of its own (never one of the readers that
//! sign-in, sessions, lists and the connector protocol share) for as long as its client keeps
//! reading; an event stream holds a subscription and a connection for as long as it is open.
//! Past its bound a request is refused at once (429), never queued: its client would wait with
//! nothing to show.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

/// CSV exports at once, across all users: the store's export connections.
pub const EXPORTS_AT_ONCE: usize = crate::store::EXPORT_CONNECTIONS as usize;
/// CSV exports at once per user.
pub const EXPORTS_PER_USER: usize = 1;
/// Event streams open at once, across all sessions.
pub const STREAMS_AT_ONCE: usize = 1000;
/// Event streams open at once per session (one per browser tab).
pub const STREAMS_PER_SESSION: usize = 12;

/// What a client refused a turn is asked to wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Turns {
    overall: Arc<Semaphore>,
    at_once: usize,
    per_key: usize,
    running: Arc<Mutex<HashMap<Vec<u8>, usize>>>,
}

/// One running request: its places are given back when this is dropped.
pub struct Turn {
    _overall: OwnedSemaphorePermit,
    key: Vec<u8>,
    running: Arc<Mutex<HashMap<Vec<u8>, usize>>>,
}

/// Why a turn was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The key holds as many turns as it may.
    Yours,
    /// As many turns are taken as there are.
    Everyone,
}

impl Turns {
    pub fn new(at_once: usize, per_key: usize) -> Self {
        Self {
            overall: Arc::new(Semaphore::new(at_once)),
            at_once,
            per_key,
            running: Arc::default(),
        }
    }

    pub fn exports() -> Self {
        Self::new(EXPORTS_AT_ONCE, EXPORTS_PER_USER)
    }

    pub fn streams() -> Self {
        Self::new(STREAMS_AT_ONCE, STREAMS_PER_SESSION)
    }

    /// How many turns there are in all.
    pub fn at_once(&self) -> usize {
        self.at_once
    }

    /// A turn for `key`, if it and everyone together are under their bounds.
    pub fn begin(&self, key: &[u8]) -> Result<Turn, Refused> {
        let mut running = self.running.lock().expect("never poisoned");
        let held = running.get(key).copied().unwrap_or(0);
        if held >= self.per_key {
            return Err(Refused::Yours);
        }
        let permit = self
            .overall
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Everyone)?;
        running.insert(key.to_vec(), held + 1);
        Ok(Turn {
            _overall: permit,
            key: key.to_vec(),
            running: self.running.clone(),
        })
    }
}

impl Refused {
    /// The 429 for this refusal, with `yours` or `everyone` as its message.
    pub fn error(self, yours: &str, everyone: &str) -> AppError {
        AppError::TooManyRequests {
            message: match self {
                Self::Yours => yours,
                Self::Everyone => everyone,
            }
            .to_owned(),
            retry_after: RETRY_AFTER,
            limit: match self {
                Self::Yours => "one at a time per user",
                Self::Everyone => "the most at once for everyone",
            },
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut running = self.running.lock().expect("never poisoned");
        if let Some(count) = running.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_bounded_per_key_and_overall_and_given_back() {
        let turns = Turns::new(3, 2);
        let first = turns.begin(b"a").unwrap();
        let second = turns.begin(b"a").unwrap();
        assert_eq!(turns.begin(b"a").err(), Some(Refused::Yours));
        let other = turns.begin(b"b").unwrap();
        assert_eq!(turns.begin(b"c").err(), Some(Refused::Everyone));
        drop(first);
        let again = turns.begin(b"a").unwrap();
        drop((again, second, other));
        assert!(turns.running.lock().unwrap().is_empty());
        assert_eq!(turns.overall.available_permits(), 3);
    }
}
