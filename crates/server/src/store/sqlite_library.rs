//! Process-wide settings of the SQLite library itself, made once before its first connection.
//!
//! SQLite allocates from mimalloc, the allocator the binaries use, rather than the C library's
//! `malloc`, and keeps no memory statistics (they take one process-wide mutex on every
//! allocation, and nothing here reads them). What this bought: docs/performance.md.

use std::ffi::{c_int, c_void};
use std::sync::Once;

use libmimalloc_sys as mi;
use libsqlite3_sys as sqlite;

static CONFIGURE: Once = Once::new();

/// Applies the settings; a no-op after the first call. Must run before any connection opens:
/// SQLite accepts them only before it initialises (later they are refused and it keeps its
/// defaults, which are correct, only slower).
pub fn configure() {
    CONFIGURE.call_once(|| {
        let methods = sqlite::sqlite3_mem_methods {
            xMalloc: Some(allocate),
            xFree: Some(free),
            xRealloc: Some(reallocate),
            xSize: Some(size),
            xRoundup: Some(round_up),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: both calls pass the argument types SQLite documents for these options (it
        // copies the methods struct).
        let (statistics, allocator) = unsafe {
            (
                sqlite::sqlite3_config(sqlite::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
                sqlite::sqlite3_config(
                    sqlite::SQLITE_CONFIG_MALLOC,
                    &methods as *const sqlite::sqlite3_mem_methods,
                ),
            )
        };
        if statistics != sqlite::SQLITE_OK || allocator != sqlite::SQLITE_OK {
            tracing::warn!(
                statistics,
                allocator,
                "SQLite was already initialised: it keeps its default allocator"
            );
        }
    });
}

// SQLite never asks for a negative size; a zero or negative one is answered as mimalloc answers 0.
fn bytes(n: c_int) -> usize {
    usize::try_from(n).unwrap_or(0)
}

unsafe extern "C" fn allocate(n: c_int) -> *mut c_void {
    // SAFETY: plain allocation; mimalloc aligns to at least 8 bytes, as SQLite requires.
    unsafe { mi::mi_malloc(bytes(n)) }
}

unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: SQLite frees only what `allocate` or `reallocate` returned.
    unsafe { mi::mi_free(p) }
}

unsafe extern "C" fn reallocate(p: *mut c_void, n: c_int) -> *mut c_void {
    // SAFETY: as `free`.
    unsafe { mi::mi_realloc(p, bytes(n)) }
}

unsafe extern "C" fn size(p: *mut c_void) -> c_int {
    // SAFETY: as `free`. SQLite's allocations stay far below 2 GiB (its own limit is 2^31 - 1).
    c_int::try_from(unsafe { mi::mi_usable_size(p) }).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn round_up(n: c_int) -> c_int {
    // SAFETY: a pure size calculation.
    c_int::try_from(unsafe { mi::mi_good_size(bytes(n)) }).unwrap_or(n)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    sqlite::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_allocates_from_mimalloc_and_keeps_no_statistics() {
        let folder = tempfile::tempdir().expect("a folder");
        let url = format!("sqlite://{}", folder.path().join("t.sqlite").display());
        let store = crate::store::Store::connect(&url).await.expect("a store");
        let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_schema")
            .fetch_all(&store.sqlite().reader)
            .await
            .expect("a read");
        assert!(!rows.is_empty());
        // With statistics on (SQLite's default, kept if the settings came too late), every
        // allocation adds to this; a store has allocated well over zero bytes by now.
        // SAFETY: reads a counter.
        assert_eq!(unsafe { sqlite::sqlite3_memory_used() }, 0);
        // SQLite's allocation size is mimalloc's answer for a block mimalloc gave.
        // SAFETY: allocates and frees one block through SQLite.
        unsafe {
            let p = sqlite::sqlite3_malloc(100);
            assert!(!p.is_null());
            assert!(mi::mi_is_in_heap_region(p));
            assert_eq!(sqlite::sqlite3_msize(p) as usize, mi::mi_usable_size(p));
            sqlite::sqlite3_free(p);
        }
        store.close().await;
    }
}
