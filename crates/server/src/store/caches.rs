//! What a store keeps in memory between reads: the connectors whose devices are being deleted
//! (every read leaves theirs out) and device counts by query and generation.

use super::error::StoreResult;

/// Connectors that were offboarded but whose devices are still being deleted (see
/// [`Store::delete_leftovers`]): every read of devices leaves theirs out.
#[derive(Clone, Default)]
pub(crate) struct Removed {
    ids: std::sync::Arc<std::sync::RwLock<Vec<String>>>,
    /// Woken when there is something to delete.
    pub(crate) work: std::sync::Arc<tokio::sync::Notify>,
}

impl Removed {
    pub(crate) fn ids(&self) -> Vec<String> {
        self.ids.read().expect("never poisoned").clone()
    }

    pub(crate) fn add(&self, id: &str) {
        let mut ids = self.ids.write().expect("never poisoned");
        if !ids.iter().any(|kept| kept == id) {
            ids.push(id.to_owned());
        }
    }

    pub(crate) fn forget(&self, id: &str) {
        self.ids
            .write()
            .expect("never poisoned")
            .retain(|kept| kept != id);
    }
}

/// Device counts by query, each valid for one generation of the devices (a number triggers move
/// on every change to them).
#[derive(Clone, Default)]
pub(crate) struct CountCache(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Kept>>>,
);

/// A query's count at one generation: counted once, however many ask for it at the same time.
type Kept = (i64, std::sync::Arc<tokio::sync::OnceCell<u64>>);

/// Queries whose counts are kept; past that the cache starts over (they are cheap to make again).
const COUNTS_KEPT: usize = 1024;

impl CountCache {
    /// The count of `key` at `generation`: the one kept, or `count`'s. Whoever asks while a
    /// count is under way waits for its answer instead of scanning the same rows again: after a
    /// sync every open list asks for its count at once, and on PostgreSQL each scan of a large
    /// tenant slowed every other (22 of them at once took 610 ms each at 100k). A count that
    /// fails or is abandoned (its client went away) leaves the next one waiting to count.
    pub(crate) async fn get_or_count<F, Fut>(
        &self,
        key: String,
        generation: i64,
        count: F,
    ) -> StoreResult<u64>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = StoreResult<u64>>,
    {
        let cell = {
            let mut counts = self.0.lock().expect("the count cache is never poisoned");
            match counts.get(&key) {
                Some((kept, cell)) if *kept == generation => cell.clone(),
                // Read before the devices changed again: counted on its own, not kept.
                Some((kept, _)) if *kept > generation => Default::default(),
                _ => {
                    if counts.len() >= COUNTS_KEPT {
                        counts.clear();
                    }
                    let cell = std::sync::Arc::<tokio::sync::OnceCell<u64>>::default();
                    counts.insert(key, (generation, cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(count).await.copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::error::StoreError;
    use futures_util::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Eight asks for one count at once, all polled before the first count may finish (a gate
    /// opened by a ninth future, which `join_all` polls after them): one count. Then a new
    /// generation is counted again, an older one is counted apart, and a failed count leaves the
    /// next ask to count.
    #[tokio::test]
    async fn asks_for_one_count_at_once_make_one_count() {
        let cache = CountCache::default();
        let counted = AtomicUsize::new(0);
        let gate = tokio::sync::Semaphore::new(0);
        let count = |answer: u64| {
            let (counted, gate) = (&counted, &gate);
            move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let _pass = gate.acquire().await.expect("the gate stays open");
                StoreResult::Ok(answer)
            }
        };
        let asks = (0..8).map(|_| {
            let cache = cache.clone();
            let count = count(42);
            async move { cache.get_or_count("all".into(), 7, count).await.ok() }.boxed_local()
        });
        let opener = async {
            gate.add_permits(100);
            None
        }
        .boxed_local();
        let answers = futures_util::future::join_all(asks.chain(std::iter::once(opener))).await;
        assert_eq!(answers[..8], [Some(42); 8]);
        assert_eq!(
            counted.load(Ordering::SeqCst),
            1,
            "one count for eight asks"
        );

        assert_eq!(
            cache.get_or_count("all".into(), 7, count(0)).await.ok(),
            Some(42)
        );
        assert_eq!(counted.load(Ordering::SeqCst), 1, "kept");
        assert_eq!(
            cache.get_or_count("all".into(), 8, count(43)).await.ok(),
            Some(43)
        );
        assert_eq!(
            cache.get_or_count("all".into(), 7, count(41)).await.ok(),
            Some(41)
        );
        assert_eq!(
            cache.get_or_count("all".into(), 8, count(0)).await.ok(),
            Some(43)
        );
        assert_eq!(
            counted.load(Ordering::SeqCst),
            3,
            "the newer generation is still kept"
        );

        let failed = cache
            .get_or_count("other".into(), 8, || async {
                Err(StoreError::Internal("the database went away".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(
            cache.get_or_count("other".into(), 8, count(5)).await.ok(),
            Some(5)
        );
    }
}
