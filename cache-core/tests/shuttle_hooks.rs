//! User code that uses the map while other threads do (review 12), under shuttle: a listener
//! that writes to and memoizes through its own map while another thread clears it and a
//! third memoizes; values whose `Drop` uses the map while `clear`, eviction and a flight's
//! landing drop them; a constructor that panics while another thread removes its key and two
//! others wait. Shuttle fails a schedule that deadlocks; the assertions check that every
//! stored entry is heard leaving once, the counters, and that invalidation wins.
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_hooks --release`.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use cache_core::{Reason, TtlMap};
use shuttle::thread;
use shuttle_common::quiet_panics;

const SCHEDULES: usize = 20_000;

/// What a listener heard, as (value, reason).
type Heard = Arc<Mutex<Vec<(u64, Reason)>>>;

/// A map whose listener, for keys below 10, writes to the map itself: inserts key + 10,
/// removes key + 11, memoizes key + 12. What it heard, as (value, reason).
fn reentrant_map(capacity: usize) -> (TtlMap<u32, u64>, Heard) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let slot: Arc<OnceLock<TtlMap<u32, u64>>> = Arc::default();
    let (h, again) = (Arc::clone(&heard), Arc::clone(&slot));
    let map = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .capacity(capacity)
        .on_evict(move |k: &u32, v: &u64, reason| {
            h.lock().unwrap().push((*v, reason));
            if *k < 10 {
                let map = again.get().unwrap();
                map.insert(k + 10, 100 + u64::from(*k));
                map.remove(&(k + 11));
                map.get_or_insert_with(&(k + 12), || 200 + u64::from(*k));
            }
        })
        .build();
    slot.set(map.clone()).ok().unwrap();
    (map, heard)
}

/// Checks that every entry stored left once, heard: after a last `clear` (repeated until the
/// listeners' writes stop), `inserts` is what the listener heard, and its reasons match the
/// counters.
fn every_departure_heard_once(map: &TtlMap<u32, u64>, heard: &Mutex<Vec<(u64, Reason)>>) {
    for _ in 0..10 {
        map.clear();
        if map.is_empty() {
            break;
        }
    }
    assert!(map.is_empty());
    let heard = heard.lock().unwrap();
    let stats = map.stats();
    assert_eq!(stats.inserts, heard.len() as u64, "{stats:?}");
    let capacity = heard.iter().filter(|(_, r)| *r == Reason::Capacity).count();
    assert_eq!(stats.evictions, capacity as u64, "{stats:?}");
}

/// Listener re-entry on three threads at once: one inserts (evicting, with a capacity of 2),
/// one clears, one memoizes. No schedule deadlocks, every departure is heard once.
#[test]
fn a_listener_that_uses_its_own_map_while_others_clear_and_memoize() {
    shuttle::check_random(
        || {
            let (map, heard) = reentrant_map(2);
            map.insert(1, 1);
            map.insert(2, 2);
            let inserter = {
                let map = map.clone();
                thread::spawn(move || {
                    map.insert(3, 3); // evicts: the listener writes
                    map.insert(4, 4);
                })
            };
            let clearer = {
                let map = map.clone();
                thread::spawn(move || map.clear())
            };
            let memo = {
                let map = map.clone();
                thread::spawn(move || map.get_or_insert_with(&5, || 5))
            };
            inserter.join().unwrap();
            clearer.join().unwrap();
            assert_eq!(memo.join().unwrap(), 5);
            every_departure_heard_once(&map, &heard);
        },
        SCHEDULES,
    );
}

/// The map [`Loud`]'s `Drop` uses, per schedule (a shuttle schedule runs on one OS thread
/// at a time, so a thread-local of the test's is per schedule too).
static LOUD_MAP: Mutex<Option<TtlMap<u32, Arc<Loud>>>> = Mutex::new(None);
static LOUD_MADE: AtomicU64 = AtomicU64::new(0);
static LOUD_DROPPED: AtomicU64 = AtomicU64::new(0);

/// A value whose `Drop` memoizes, inserts and removes through its map.
struct Loud(u32);
impl Loud {
    fn new(n: u32) -> Arc<Loud> {
        LOUD_MADE.fetch_add(1, SeqCst);
        Arc::new(Loud(n))
    }
}
impl Drop for Loud {
    fn drop(&mut self) {
        LOUD_DROPPED.fetch_add(1, SeqCst);
        if self.0 >= 10 {
            return;
        }
        let map = LOUD_MAP.lock().unwrap().clone();
        if let Some(map) = map {
            drop(map.get_or_insert_with(&(self.0 + 10), || Loud::new(self.0 + 10)));
            drop(map.insert(self.0 + 20, Loud::new(self.0 + 20)));
            drop(map.remove(&(self.0 + 30)));
        }
    }
}

/// Values whose `Drop` uses the map, dropped by a capacity eviction, a `clear`, and an
/// invalidated flight's landing (a waiter holds the flight's copy last, or the leader), on
/// three threads: no schedule deadlocks, every value is dropped once.
#[test]
fn values_whose_drop_uses_the_map_dropped_by_eviction_clear_and_landing() {
    shuttle::check_random(
        || {
            LOUD_MADE.store(0, SeqCst);
            LOUD_DROPPED.store(0, SeqCst);
            let map: TtlMap<u32, Arc<Loud>> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(2)
                .build();
            *LOUD_MAP.lock().unwrap() = Some(map.clone());
            map.insert(1, Loud::new(1));
            let evicting = {
                let map = map.clone();
                thread::spawn(move || {
                    drop(map.insert(2, Loud::new(2)));
                    drop(map.insert(3, Loud::new(3)));
                })
            };
            let leader = {
                let map = map.clone();
                thread::spawn(move || {
                    drop(map.get_or_insert_with(&4, || {
                        map.remove(&4); // invalidated: its value is not stored
                        Loud::new(4)
                    }))
                })
            };
            let waiter = {
                let map = map.clone();
                thread::spawn(move || drop(map.get_or_insert_with(&4, || Loud::new(5))))
            };
            map.clear();
            evicting.join().unwrap();
            leader.join().unwrap();
            waiter.join().unwrap();
            *LOUD_MAP.lock().unwrap() = None;
            map.clear();
            drop(map);
            assert_eq!(LOUD_MADE.load(SeqCst), LOUD_DROPPED.load(SeqCst));
        },
        SCHEDULES,
    );
}

/// A constructor that panics while another thread removes its key and two others wait: every
/// caller returns (the panicking one may have joined another's flight instead); a caller that
/// began after the `remove` returned never gets a value built before the remove began; the
/// waiters are counted once each at most, and `hits + misses` counts every call.
#[test]
fn a_panicking_constructor_with_waiters_and_a_remove_meanwhile() {
    quiet_panics();
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            // The remove: begun, then done.
            let (begun, done) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let leader = {
                let map = map.clone();
                thread::spawn(move || {
                    // It panics, or it joined a waiter's flight, which never fails.
                    let joined = catch_unwind(AssertUnwindSafe(|| {
                        map.get_or_insert_with(&1, || {
                            thread::yield_now();
                            std::panic::panic_any("boom");
                        })
                    }));
                    joined.ok()
                })
            };
            let waiters: Vec<_> = (0..2u64)
                .map(|i| {
                    let (map, begun, done) = (map.clone(), Arc::clone(&begun), Arc::clone(&done));
                    thread::spawn(move || {
                        let after = done.load(SeqCst);
                        // 10 + i if the constructor began before the remove did, 20 + i if not.
                        let v = map.get_or_insert_with(&1, || 10 + i + 10 * begun.load(SeqCst));
                        (after, v)
                    })
                })
                .collect();
            let remover = {
                let (map, begun, done) = (map.clone(), Arc::clone(&begun), Arc::clone(&done));
                thread::spawn(move || {
                    begun.store(1, SeqCst);
                    map.remove(&1);
                    done.store(1, SeqCst);
                })
            };
            let joined = leader.join().unwrap();
            assert!(joined.is_none_or(|v| v >= 10), "{joined:?}");
            remover.join().unwrap();
            let mut calls = 1;
            for w in waiters {
                let (after, v) = w.join().unwrap();
                calls += 1;
                assert!(
                    v >= 10 + 10 * after,
                    "a call begun after the remove returned got a value built before it began"
                );
            }
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, calls, "{stats:?}");
            assert!(stats.coalesced <= 2, "{stats:?}");
        },
        SCHEDULES,
    );
}
