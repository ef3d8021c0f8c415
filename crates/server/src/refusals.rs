//! Refusals that repeat are logged once and then summed up, so that a flood of them (a wrong token
//! tried fifteen thousand times, a client past its rate) cannot fill a disk: the first refusal of
//! a kind from an address is logged as it happens; the ones after it within the window are
//! counted, and one line says how many came, from where, over what time, when the window ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Which limit refused a request, carried by its response for the log (e.g. "sign-in attempts
/// for the account").
#[derive(Debug, Clone, Copy)]
pub struct RefusedBy(pub &'static str);

/// Kinds and addresses kept at once; past that, further ones are counted together.
const KEPT: usize = 4096;

#[derive(Debug)]
struct Repeats {
    first: Instant,
    last: Instant,
    more: u64,
}

/// The refusals of the current windows, by kind and address.
#[derive(Debug)]
pub struct RefusalLog {
    window: Duration,
    kept: Mutex<HashMap<(String, String), Repeats>>,
}

impl RefusalLog {
    /// A log whose windows last `window`, summed up by a task of its own for as long as the log
    /// is in use.
    pub fn start(window: Duration) -> Arc<Self> {
        let log = Arc::new(Self {
            window: window.max(Duration::from_millis(1)),
            kept: Mutex::default(),
        });
        let weak: Weak<Self> = Arc::downgrade(&log);
        let tick = log.window.min(Duration::from_secs(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(tick);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match weak.upgrade() {
                    Some(log) => log.sum_up(false),
                    None => return,
                }
            }
        });
        log
    }

    /// Notes one refusal of `kind` from `from`: true when it is the first of its window (to be
    /// logged in full), false when it was counted.
    pub fn note(&self, kind: &str, from: &str) -> bool {
        let now = Instant::now();
        let mut kept = self.kept.lock().expect("never poisoned");
        let mut key = (kind.to_owned(), from.to_owned());
        if kept.len() >= KEPT && !kept.contains_key(&key) {
            key = ("(other refusals)".to_owned(), "(many addresses)".to_owned());
        }
        match kept.get_mut(&key) {
            Some(repeats) if now.duration_since(repeats.first) < self.window => {
                repeats.more += 1;
                repeats.last = now;
                false
            }
            Some(repeats) => {
                summary(&key, repeats);
                *repeats = Repeats {
                    first: now,
                    last: now,
                    more: 0,
                };
                true
            }
            None => {
                kept.insert(
                    key,
                    Repeats {
                        first: now,
                        last: now,
                        more: 0,
                    },
                );
                true
            }
        }
    }

    /// Logs the sums of the windows that have ended (all of them with `all`) and forgets them.
    pub fn sum_up(&self, all: bool) {
        let now = Instant::now();
        let mut kept = self.kept.lock().expect("never poisoned");
        kept.retain(|key, repeats| {
            let ended = all || now.duration_since(repeats.first) >= self.window;
            if ended {
                summary(key, repeats);
            }
            !ended
        });
    }
}

impl Drop for RefusalLog {
    fn drop(&mut self) {
        self.sum_up(true);
    }
}

fn summary((kind, from): &(String, String), repeats: &Repeats) {
    if repeats.more > 0 {
        tracing::warn!(
            refusal = %kind,
            from = %from,
            repeated = repeats.more,
            over_seconds = format!("{:.1}", repeats.last.duration_since(repeats.first).as_secs_f64()),
            "the same refusal again, {} more time(s) after the one logged",
            repeats.more
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_of_a_window_is_logged_and_the_rest_counted() {
        let log = RefusalLog::start(Duration::from_secs(3600));
        assert!(log.note("401 POST /onboard", "10.0.0.1"));
        for _ in 0..99 {
            assert!(!log.note("401 POST /onboard", "10.0.0.1"));
        }
        assert!(log.note("401 POST /onboard", "10.0.0.2"), "another address");
        assert!(log.note("429 POST /onboard", "10.0.0.1"), "another kind");
        let kept = log.kept.lock().unwrap();
        assert_eq!(
            kept[&("401 POST /onboard".to_owned(), "10.0.0.1".to_owned())].more,
            99
        );
    }

    #[tokio::test]
    async fn kinds_past_the_bound_are_counted_together() {
        let log = RefusalLog::start(Duration::from_secs(3600));
        for n in 0..KEPT {
            assert!(log.note("401 GET /x", &format!("address {n}")));
        }
        assert!(log.note("401 GET /x", "one more"));
        assert!(!log.note("401 GET /x", "and another"));
        assert_eq!(log.kept.lock().unwrap().len(), KEPT + 1);
    }
}
