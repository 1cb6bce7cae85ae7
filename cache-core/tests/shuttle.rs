//! Schedule exploration with shuttle: each scenario runs under 10,000 random schedules of its
//! threads, switching at every lock, condition variable and atomic of the map (the feature
//! `shuttle` swaps them all for shuttle's, through `src/sync.rs`).
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle --release`.
//! Shuttle rather than loom: loom explores exhaustively and cannot finish over a map whose
//! operations take several locks each; shuttle's randomized scheduler (with its PCT variant)
//! finds ordering bugs with a probability guarantee in bounded time, which is what quick_cache
//! uses it for too.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use shuttle::thread;
use shuttle_common::spin_until;

const SCHEDULES: usize = 10_000;

#[test]
fn a_flight_runs_its_constructor_once_and_every_caller_gets_its_value() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(1)
                .build();
            let runs = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..3)
                .map(|i| {
                    let (map, runs) = (map.clone(), Arc::clone(&runs));
                    thread::spawn(move || {
                        let v = map.get_or_insert_with(&7, || {
                            runs.fetch_add(1, SeqCst);
                            70
                        });
                        // Churn that evicts the value, racing with the waiters' wake-up.
                        map.insert(100 + i, 0);
                        v
                    })
                })
                .collect();
            for caller in callers {
                assert_eq!(caller.join().unwrap(), 70);
            }
            let runs = runs.load(SeqCst);
            // A later caller may miss after an eviction and construct again, but each
            // construction served at least one caller: never more runs than callers, and
            // waiters never construct.
            assert!((1..=3).contains(&runs));
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 3);
            assert!(
                stats.coalesced + runs as u64 <= 3,
                "a waiter never constructs"
            );
        },
        SCHEDULES,
    );
}

#[test]
fn a_value_landing_while_another_caller_misses_is_never_built_twice() {
    // A miss skips its second lookup when the shard's store count has not moved since its
    // first: a landing between the two must be seen, or the key is built again.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let runs = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, runs) = (map.clone(), Arc::clone(&runs));
                    thread::spawn(move || {
                        map.get_or_insert_with(&7, || {
                            runs.fetch_add(1, SeqCst);
                            70
                        })
                    })
                })
                .collect();
            for caller in callers {
                assert_eq!(caller.join().unwrap(), 70);
            }
            assert_eq!(runs.load(SeqCst), 1, "nothing evicts: one construction");
        },
        SCHEDULES,
    );
}

#[test]
fn after_a_panicking_leader_every_caller_still_gets_a_value() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let first = Arc::new(AtomicBool::new(true));
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let (map, first) = (map.clone(), Arc::clone(&first));
                    thread::spawn(move || {
                        catch_unwind(AssertUnwindSafe(|| {
                            map.get_or_insert_with(&1, || {
                                assert!(!first.swap(false, SeqCst), "the first one panics");
                                5
                            })
                        }))
                    })
                })
                .collect();
            let results: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
            assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
            assert!(results.iter().flatten().all(|&v| v == 5));
            assert_eq!(map.get(&1), Some(5));
        },
        SCHEDULES,
    );
}

#[test]
fn a_remove_during_a_flight_wins_over_its_value() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let started = Arc::new(AtomicBool::new(false));
            let removed = Arc::new(AtomicBool::new(false));
            let leader = {
                let (map, started, removed) =
                    (map.clone(), Arc::clone(&started), Arc::clone(&removed));
                thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        started.store(true, SeqCst);
                        spin_until(|| removed.load(SeqCst));
                        1
                    })
                })
            };
            let invalidator = {
                let map = map.clone();
                thread::spawn(move || {
                    spin_until(|| started.load(SeqCst));
                    map.remove(&1);
                    removed.store(true, SeqCst);
                    // Racing the landing: a new caller gets a fresh value, never the stale one.
                    map.get_or_insert_with(&1, || 2)
                })
            };
            assert_eq!(leader.join().unwrap(), 1, "its caller still gets its value");
            let fresh = invalidator.join().unwrap();
            assert_eq!(
                fresh, 2,
                "no caller after the remove sees the older flight's value"
            );
            assert_eq!(map.get(&1), Some(2));
        },
        SCHEDULES,
    );
}

#[test]
fn an_insert_during_a_flight_is_not_overwritten() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let leader = {
                let map = map.clone();
                thread::spawn(move || map.get_or_insert_with(&1, || 1))
            };
            let writer = {
                let map = map.clone();
                thread::spawn(move || map.insert(1, 2))
            };
            let got = leader.join().unwrap();
            writer.join().unwrap();
            assert!(got == 1 || got == 2);
            assert_eq!(map.get(&1), Some(2), "the insert wins, whatever the order");
        },
        SCHEDULES,
    );
}

#[test]
fn a_constructor_that_clears_and_asks_for_its_key_again_races_another_caller() {
    // Two flights of one key on one thread's stack (the first invalidated by its own `clear`),
    // while another thread misses the same key: nobody takes a flight of its own thread for
    // re-entry, nothing waits forever, and the invalidated flight's value is never stored.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let nested = {
                let map = map.clone();
                thread::spawn(move || {
                    let inner = AtomicUsize::new(0);
                    let outer = map.get_or_insert_with(&7, || {
                        map.clear();
                        let got = map.get_or_insert_with(&7, || 2);
                        inner.store(got as usize, SeqCst);
                        1
                    });
                    (outer, inner.load(SeqCst))
                })
            };
            let other = {
                let map = map.clone();
                thread::spawn(move || map.get_or_insert_with(&7, || 3))
            };
            let (outer, inner) = nested.join().unwrap();
            let other = other.join().unwrap();
            // The outer call hit the other thread's value, or led and returns its own.
            assert!(outer == 1 || outer == 3, "{outer}");
            assert!(outer == 3 || inner == 2 || inner == 3, "{inner}");
            assert!([1, 2, 3].contains(&other), "{other}");
            let stored = map.get(&7);
            assert!(
                stored == Some(2) || stored == Some(3),
                "the invalidated flight stored its value: {stored:?}"
            );
        },
        SCHEDULES,
    );
}

#[test]
fn concurrent_writers_and_sweeps_keep_the_memory_bound() {
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(4))
                .expiry(Expiry::Fixed)
                .clock(clock.clone())
                .build();
            let writers: Vec<_> = (0..2)
                .map(|t| {
                    let (map, clock) = (map.clone(), clock.clone());
                    thread::spawn(move || {
                        for i in 0..40 {
                            map.insert(t * 1_000 + i, i);
                            clock.advance(Duration::from_secs(1));
                        }
                    })
                })
                .collect();
            let sweeper = {
                let map = map.clone();
                thread::spawn(move || {
                    map.sweep();
                    map.sweep();
                })
            };
            for w in writers {
                w.join().unwrap();
            }
            sweeper.join().unwrap();
            // The bound, with no write in progress: live keys (the last ttl's, 4 s), plus
            // 16 per shard of 16.
            assert!(map.len() <= 4 + 16 * 16, "{}", map.len());
            map.sweep();
            assert!(map.len() <= 4, "{}", map.len());
        },
        SCHEDULES,
    );
}

#[test]
fn a_sweep_racing_the_last_handle_and_writers_frees_everything_once() {
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let drops = Arc::new(AtomicUsize::new(0));
            let map: TtlMap<u32, Counted> = TtlMap::builder()
                .ttl(Duration::from_secs(1))
                .clock(clock.clone())
                .build();
            for i in 0..3 {
                map.insert(i, Counted(Arc::clone(&drops)));
            }
            clock.advance(Duration::from_secs(1));
            let sweeper = {
                let map = map.clone();
                thread::spawn(move || map.sweep())
            };
            let writer = {
                let (map, drops) = (map.clone(), Arc::clone(&drops));
                thread::spawn(move || {
                    map.insert(9, Counted(drops));
                })
            };
            drop(map);
            sweeper.join().unwrap();
            writer.join().unwrap();
            assert_eq!(drops.load(SeqCst), 4, "every value dropped exactly once");
        },
        SCHEDULES,
    );
}

#[test]
fn capacity_holds_under_concurrent_inserts() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(2)
                .build();
            let writers: Vec<_> = (0..3)
                .map(|t| {
                    let map = map.clone();
                    thread::spawn(move || {
                        for i in 0..3 {
                            map.insert(t * 10 + i, i);
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            assert_eq!(map.len(), 2);
            assert_eq!(map.stats().evictions, 7);
        },
        SCHEDULES,
    );
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_refresh_never_overwrites_a_later_insert_and_runs_once() {
    // Two callers find the value due for a refresh while a third inserts: whatever the order,
    // the insert is the last write, so it is what stays; one refresh at most runs.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(600))
                .refresh_after(Duration::from_secs(60))
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(Duration::from_secs(60));
            let refreshes = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, refreshes) = (map.clone(), Arc::clone(&refreshes));
                    thread::spawn(move || {
                        map.get_or_insert_with(&1, || {
                            refreshes.fetch_add(1, SeqCst);
                            2
                        })
                    })
                })
                .collect();
            let inserter = {
                let map = map.clone();
                thread::spawn(move || map.insert(1, 3))
            };
            for caller in callers {
                assert!([1, 2, 3].contains(&caller.join().unwrap()));
            }
            inserter.join().unwrap();
            assert!(refreshes.load(SeqCst) <= 1, "one refresh at a time, once");
            assert_eq!(map.get(&1), Some(3), "the insert wins");
        },
        SCHEDULES,
    );
}

#[test]
fn a_failed_rebuild_serves_the_stale_value_to_every_caller() {
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .stale_if_error(Duration::from_secs(600))
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(Duration::from_secs(120));
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let map = map.clone();
                    thread::spawn(move || {
                        map.try_get_or_insert_with_shared(&1, || Err::<u64, _>("down"))
                            .map_err(|e| *e)
                    })
                })
                .collect();
            for caller in callers {
                assert_eq!(caller.join().unwrap(), Ok(1));
            }
            assert_eq!(map.get(&1), None, "still expired");
            assert_eq!(map.stats().stale_served, 3);
        },
        SCHEDULES,
    );
}

#[test]
fn the_own_attempts_after_a_panicking_leader_never_overwrite_an_insert() {
    // The waiters of a panicking flight each make an attempt of their own (the flight lands
    // under the read lock, the epoch is read under it, the attempt stores under the write lock)
    // while another thread inserts: whatever the order, the insert is what stays.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let first = Arc::new(AtomicBool::new(true));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, first) = (map.clone(), Arc::clone(&first));
                    thread::spawn(move || {
                        catch_unwind(AssertUnwindSafe(|| {
                            map.get_or_insert_with(&1, || {
                                assert!(!first.swap(false, SeqCst), "the first one panics");
                                5
                            })
                        }))
                    })
                })
                .collect();
            let inserter = {
                let map = map.clone();
                thread::spawn(move || map.insert(1, 9))
            };
            for caller in callers {
                if let Ok(v) = caller.join().unwrap() {
                    assert!(v == 5 || v == 9, "{v}");
                }
            }
            inserter.join().unwrap();
            assert_eq!(map.get(&1), Some(9), "the insert wins");
        },
        SCHEDULES,
    );
}

#[test]
fn a_refresh_registered_before_a_remove_stores_nothing() {
    // A refresh is registered under the read lock of the lookup that found the value due; a
    // remove after that invalidates it. The value stays only if the caller missed (the remove
    // came first) and led a flight of its own.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(600))
                .refresh_after(Duration::from_secs(60))
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(Duration::from_secs(60));
            let caller = {
                let map = map.clone();
                thread::spawn(move || map.get_or_insert_with(&1, || 2))
            };
            let remover = {
                let map = map.clone();
                thread::spawn(move || map.remove(&1))
            };
            let got = caller.join().unwrap();
            let removed = remover.join().unwrap();
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 1);
            assert_eq!(got, 2, "a refresh or a miss: the new value either way");
            match stats.misses {
                1 => {
                    assert_eq!(removed, Some(1));
                    assert_eq!(map.get(&1), Some(2), "led after the remove: stored");
                }
                _ => {
                    assert_eq!(stats.refreshes, 1);
                    assert_eq!(map.get(&1), None, "a refresh never outlives a later remove");
                }
            }
        },
        SCHEDULES,
    );
}
