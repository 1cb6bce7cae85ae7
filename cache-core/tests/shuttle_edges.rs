//! Attacks on the single flight's edges with shuttle: own attempts after a failed or panicking
//! leader, new flights during attempts, writes (`insert`, `remove`, `clear`, `retain`) during
//! flights and attempts, capacity eviction, `refresh_after`, `stale_if_error`, shared errors,
//! and a `ManualClock` advanced by another thread mid-flight.
//!
//! Every assertion states the promise it checks (README.md "Semantics" unless said otherwise);
//! where the documentation leaves a case open, the scenario says so and does not assert it.
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_edges --release`.
//!
//! Found here and fixed: a failed constructor that fell back on a *live* value (stored
//! meanwhile by an insert, a flight or an own attempt) counted it in `stale_served`, which
//! counts expired values returned (`stale_served_counts_only_expired_values_returned`).
//!
//! Settled by the README since: a landing of another key is no write for an own attempt (only
//! `insert`, `remove`, `clear` and `retain` are); a panicking refresh panics in its caller and
//! is not counted in `refresh_failures`; a failed refresh whose value was removed meanwhile is
//! counted there and returns its error; a body that starts while `clear` or `retain` is still
//! going through the shards is concurrent with it and may store.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use shuttle::thread;
use shuttle_common::{flag, quiet_panics, spin_until};

const SCHEDULES: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Own attempts after a failed leader, with new flights of the key starting meanwhile.
// ---------------------------------------------------------------------------------------------

/// Three callers of one key: A and C always fail, B succeeds with 2. Whoever leads, B's value
/// is made either as a flight or as B's own attempt, and with no write at all it must be stored.
fn attempt_stored_though_failing_flights_surround_it(panics: bool) {
    quiet_panics();
    let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
    let call = |map: TtlMap<u32, u64>, ok: bool| {
        thread::spawn(move || -> Result<u64, ()> {
            if panics {
                catch_unwind(AssertUnwindSafe(|| {
                    map.get_or_insert_with(&1, || {
                        if !ok {
                            std::panic::panic_any("boom");
                        }
                        2
                    })
                }))
                .map_err(|_| ())
            } else {
                map.try_get_or_insert_with(&1, || if ok { Ok(2) } else { Err(()) })
            }
        })
    };
    let a = call(map.clone(), false);
    let b = call(map.clone(), true);
    let c = call(map.clone(), false);
    let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
    // B's own constructor succeeds: it returns its value or the equal one of a flight.
    assert_eq!(b, Ok(2));
    assert!(matches!(a, Ok(2) | Err(())) && matches!(c, Ok(2) | Err(())));
    let stats = map.stats();
    // "hits + misses is the number of calls".
    assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
    // README, "Failures never make callers queue": "an attempt's value is stored unless a
    // write to that shard's keys came meanwhile" (no write here at all), and a flight's value
    // is stored unless invalidated. Only B makes a value, so it is stored exactly once
    // (`Stats::inserts`: "Entries stored: ... by a constructor whose value was stored").
    assert_eq!(map.get(&1), Some(2), "B's value was lost; {stats:?}");
    assert_eq!(stats.inserts, 1, "{stats:?}");
}

#[test]
fn an_attempt_after_a_failed_leader_is_stored_though_a_new_flight_fails() {
    shuttle::check_random(
        || attempt_stored_though_failing_flights_surround_it(false),
        SCHEDULES,
    );
}

#[test]
fn an_attempt_after_a_panicking_leader_is_stored_though_a_new_flight_panics() {
    shuttle::check_random(
        || attempt_stored_though_failing_flights_surround_it(true),
        SCHEDULES,
    );
}

#[test]
fn an_attempt_and_a_new_succeeding_flight_leave_one_of_their_values() {
    // A fails; B and C make 2 and 3. B's attempt may race C's new flight: the README leaves
    // open which value stays (memo.rs: "if it succeeds its value replaces this one"), but one
    // must, and no caller gets a value nobody made for it.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let call = |v: Option<u64>| {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&1, || v.ok_or(())))
            };
            let (a, b, c) = (call(None), call(Some(2)), call(Some(3)));
            let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
            assert!(matches!(a, Ok(2 | 3) | Err(())), "{a:?}");
            assert!(matches!(b, Ok(2 | 3)), "{b:?}");
            assert!(matches!(c, Ok(2 | 3)), "{c:?}");
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
            // No write came: some constructor's value is stored (README, "Failures never make
            // callers queue"; single flight).
            let stored = map.get(&1);
            assert!(matches!(stored, Some(2 | 3)), "{stored:?}");
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Writes during own attempts and during failing flights.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Write {
    Insert,
    Remove,
    Clear,
    Retain,
}

impl Write {
    fn apply(self, map: &TtlMap<u32, u64>) {
        match self {
            Write::Insert => drop(map.insert(1, 9)),
            Write::Remove => drop(map.remove(&1)),
            Write::Clear => map.clear(),
            Write::Retain => map.retain(|_, _| false),
        }
    }

    /// What the key holds after this write if nothing stores over it.
    fn left(self) -> Option<u64> {
        match self {
            Write::Insert => Some(9),
            _ => None,
        }
    }
}

/// A always fails (an error or a panic); B's constructor starts, then waits until `write` has
/// returned, then makes 5. B runs it as the leader, or as its own attempt after A's failure:
/// either way a write returned while it ran.
fn a_write_during_the_attempt_wins(write: Write, panics: bool) {
    quiet_panics();
    let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
    let (started, written) = (flag(), flag());
    let a = {
        let map = map.clone();
        thread::spawn(move || -> Result<u64, ()> {
            if panics {
                catch_unwind(AssertUnwindSafe(|| {
                    map.get_or_insert_with(&1, || std::panic::panic_any("boom"))
                }))
                .map_err(|_| ())
            } else {
                map.try_get_or_insert_with(&1, || Err(()))
            }
        })
    };
    let b = {
        let (map, started, written) = (map.clone(), started.clone(), written.clone());
        thread::spawn(move || {
            map.try_get_or_insert_with(&1, || {
                started.store(true, SeqCst);
                spin_until(|| written.load(SeqCst));
                Ok::<_, ()>(5)
            })
        })
    };
    let writer = {
        let map = map.clone();
        thread::spawn(move || {
            spin_until(|| started.load(SeqCst));
            write.apply(&map);
            written.store(true, SeqCst);
        })
    };
    let a = a.join().unwrap();
    let b = b.join().unwrap();
    writer.join().unwrap();
    // Invalidation wins: "its callers still get it".
    assert_eq!(b, Ok(5));
    // A: its failure, B's value from B's flight, or a hit on the inserted 9 if it came late.
    assert!(matches!(a, Ok(5 | 9) | Err(())), "{a:?}");
    // Invalidation wins: "Once insert, remove, clear or retain has returned, no body that was
    // running for an affected key stores its value ... and an insert made during a flight is
    // not overwritten by it"; for an own attempt, "an attempt's value is stored unless a write
    // to that shard's keys came meanwhile".
    assert_eq!(
        map.get(&1),
        write.left(),
        "{write:?}: B's value outlived the write"
    );
}

#[test]
fn an_insert_during_an_own_attempt_wins() {
    shuttle::check_random(
        || a_write_during_the_attempt_wins(Write::Insert, false),
        SCHEDULES,
    );
}

#[test]
fn a_remove_during_an_own_attempt_wins() {
    shuttle::check_random(
        || a_write_during_the_attempt_wins(Write::Remove, true),
        SCHEDULES,
    );
}

#[test]
fn a_clear_during_an_own_attempt_wins() {
    shuttle::check_random(
        || a_write_during_the_attempt_wins(Write::Clear, false),
        SCHEDULES,
    );
}

#[test]
fn a_retain_during_an_own_attempt_wins() {
    shuttle::check_random(
        || a_write_during_the_attempt_wins(Write::Retain, true),
        SCHEDULES,
    );
}

/// The leader's constructor waits until `write` has returned, then fails; B waits for it (or
/// comes later) and makes 5.
fn a_write_during_a_failing_flight(write: Write) {
    let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
    let (started, written) = (flag(), flag());
    let leader = {
        let (map, started, written) = (map.clone(), started.clone(), written.clone());
        thread::spawn(move || {
            map.try_get_or_insert_with(&1, || {
                started.store(true, SeqCst);
                spin_until(|| written.load(SeqCst));
                Err::<u64, _>(())
            })
        })
    };
    let b = {
        let (map, started) = (map.clone(), started.clone());
        thread::spawn(move || {
            spin_until(|| started.load(SeqCst));
            map.try_get_or_insert_with(&1, || Ok::<_, ()>(5))
        })
    };
    let writer = {
        let map = map.clone();
        thread::spawn(move || {
            spin_until(|| started.load(SeqCst));
            write.apply(&map);
            written.store(true, SeqCst);
        })
    };
    let leader = leader.join().unwrap();
    let b = b.join().unwrap();
    writer.join().unwrap();
    assert_eq!(leader, Err(()));
    // B: its own value, or (after an insert) a hit on the inserted one.
    match write {
        Write::Insert => assert!(matches!(b, Ok(5 | 9)), "{b:?}"),
        _ => assert_eq!(b, Ok(5)),
    }
    let stats = map.stats();
    assert_eq!(stats.hits + stats.misses, 2, "{stats:?}");
    let stored = map.get(&1);
    match write {
        // "an insert made during a flight is not overwritten by it": B's attempt follows the
        // flight it waited for (the existing scenario
        // `the_own_attempts_after_a_panicking_leader_never_overwrite_an_insert` reads it so);
        // a B that came after the insert hits it.
        Write::Insert => assert_eq!(stored, Some(9), "the insert was overwritten"),
        // B's body started after the write returned: the docs allow it to store, and do not
        // require it (the write may count as "meanwhile" if B read its epoch before it).
        _ => assert!(matches!(stored, None | Some(5)), "{stored:?}"),
    }
}

#[test]
fn an_insert_during_a_failing_flight_survives_the_waiters_attempts() {
    shuttle::check_random(|| a_write_during_a_failing_flight(Write::Insert), SCHEDULES);
}

#[test]
fn a_clear_during_a_failing_flight_and_the_waiters_attempts() {
    shuttle::check_random(|| a_write_during_a_failing_flight(Write::Clear), SCHEDULES);
}

#[test]
fn a_retain_during_a_flight_with_waiters_wins_and_a_new_flight_stores() {
    // The leader's body waits for a `retain` that drops everything; B may have joined before
    // (then it gets 1 from the flight) or come after (then it leads a new flight: 2).
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let (started, written) = (flag(), flag());
            let leader = {
                let (map, started, written) = (map.clone(), started.clone(), written.clone());
                thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        started.store(true, SeqCst);
                        spin_until(|| written.load(SeqCst));
                        1
                    })
                })
            };
            let b = {
                let (map, started, written) = (map.clone(), started.clone(), written.clone());
                thread::spawn(move || {
                    spin_until(|| started.load(SeqCst));
                    let after = written.load(SeqCst);
                    (after, map.get_or_insert_with(&1, || 2))
                })
            };
            let writer = {
                let map = map.clone();
                thread::spawn(move || {
                    spin_until(|| started.load(SeqCst));
                    map.retain(|_, _| false);
                    written.store(true, SeqCst);
                })
            };
            // Invalidation wins: "its callers still get it".
            assert_eq!(leader.join().unwrap(), 1);
            let (after, b) = b.join().unwrap();
            writer.join().unwrap();
            // "a later caller does not join that older flight".
            if after {
                assert_eq!(b, 2, "a caller after the retain joined the older flight");
            }
            assert!(b == 1 || b == 2, "{b}");
            // "no body that was running for an affected key stores its value".
            let stored = map.get(&1);
            assert_eq!(stored, if b == 2 { Some(2) } else { None }, "b = {b}");
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Capacity.
// ---------------------------------------------------------------------------------------------

#[test]
fn capacity_one_with_an_attempt_and_another_keys_flight() {
    // Capacity 1, one shard. A fails on key 1, B makes 2 for key 1 (as a flight or as its
    // attempt), C makes 20 for key 2. Whether a landing of key 2 counts as a "write to that
    // shard's keys" for B's attempt is not said: which key stays is not asserted.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(1)
                .build();
            let call = |key: u32, v: Option<u64>| {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&key, || v.ok_or(())))
            };
            let (a, b, c) = (call(1, None), call(1, Some(2)), call(2, Some(20)));
            let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
            // Values go to the callers of their key only.
            assert!(matches!(a, Ok(2) | Err(())), "{a:?}");
            assert_eq!(b, Ok(2));
            assert_eq!(c, Ok(20));
            // "capacity = n keeps at most n entries whenever no write is in progress".
            assert!(map.len() <= 1, "{}", map.len());
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
            // Each stored entry is still held or was evicted (`Stats::evictions`: "Live
            // entries removed to stay within the capacity"); nothing expires or is removed.
            assert_eq!(
                stats.inserts,
                map.len() as u64 + stats.evictions,
                "{stats:?}"
            );
            let (one, two) = (map.get(&1), map.get(&2));
            assert!(matches!(one, None | Some(2)) && matches!(two, None | Some(20)));
        },
        SCHEDULES,
    );
}

#[test]
fn capacity_two_evicts_nothing_while_an_attempt_and_a_flight_land() {
    // As above with room for both keys: "evicts nothing while fewer are held".
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(2)
                .build();
            let call = |key: u32, v: Option<u64>| {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&key, || v.ok_or(())))
            };
            let (a, b, c) = (call(1, None), call(1, Some(2)), call(2, Some(20)));
            let (_, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
            assert_eq!((b, c), (Ok(2), Ok(20)));
            let stats = map.stats();
            // "capacity = n ... evicts nothing while fewer are held".
            assert_eq!(stats.evictions, 0, "{stats:?}");
            // A flight that nothing invalidated stores its value.
            assert_eq!(map.get(&2), Some(20));
            // Key 1: B's attempt may be dropped if C's landing counts as a write "meanwhile"
            // (the README does not say); with no insert/remove/clear/retain it should be
            // stored, which memo.rs's epoch implements. Asserted, as the README's words are
            // "a write", and nothing here writes.
            assert_eq!(map.get(&1), Some(2), "{stats:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn a_flight_evicted_by_capacity_mid_way_still_serves_its_waiters() {
    // Capacity 1: key 1's flight lands and is evicted by an insert of key 2 at any moment;
    // a later caller may rebuild. Every caller of key 1 gets 1 or 2 (its own run), waiters never
    // run the constructor.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .capacity(1)
                .build();
            let runs = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, runs) = (map.clone(), runs.clone());
                    thread::spawn(move || {
                        map.get_or_insert_with(&1, || {
                            runs.fetch_add(1, SeqCst);
                            1
                        })
                    })
                })
                .collect();
            let evictor = {
                let map = map.clone();
                thread::spawn(move || map.insert(2, 20))
            };
            for c in callers {
                assert_eq!(c.join().unwrap(), 1);
            }
            evictor.join().unwrap();
            let stats = map.stats();
            let runs = runs.load(SeqCst) as u64;
            // "coalesced the calls that waited for another's body"; a waiter of a value never
            // runs its own constructor (single flight: "Every waiter takes the flight's
            // outcome from the flight itself").
            assert!(stats.coalesced + runs <= 2, "{stats:?}, runs {runs}");
            assert_eq!(stats.hits + stats.misses, 2);
            assert!(map.len() <= 1);
            assert_eq!(
                stats.inserts,
                map.len() as u64 + stats.evictions,
                "{stats:?}"
            );
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// refresh_after.
// ---------------------------------------------------------------------------------------------

fn refreshing_map(clock: &ManualClock) -> TtlMap<u32, u64> {
    TtlMap::builder()
        .ttl(Duration::from_secs(600))
        .refresh_after(Duration::from_secs(60))
        .clock(clock.clone())
        .build()
}

#[test]
fn a_failed_refresh_racing_a_good_one_keeps_a_value_for_everyone() {
    // Value 1 is due. R fails to rebuild, G rebuilds 2: R gets 1 (kept) or 2 (G's stored value);
    // never an error, and the map is never left empty.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = refreshing_map(&clock);
            map.insert(1, 1);
            clock.advance(Duration::from_secs(60));
            let call = |v: Option<u64>| {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&1, || v.ok_or(())))
            };
            let (r, g) = (call(None), call(Some(2)));
            let (r, g) = (r.join().unwrap(), g.join().unwrap());
            // refresh_after: "a failed rebuild keeps it"; `Stats::refresh_failures`: "the old
            // value was kept (and returned)".
            assert!(matches!(r, Ok(1 | 2)), "{r:?}");
            assert!(matches!(g, Ok(1 | 2)), "{g:?}");
            let stats = map.stats();
            // The value is live throughout: both calls are hits.
            assert_eq!((stats.hits, stats.misses), (2, 0), "{stats:?}");
            assert!(stats.refreshes + stats.refresh_failures <= 2, "{stats:?}");
            let stored = map.get(&1);
            assert!(matches!(stored, Some(1 | 2)), "{stored:?}");
            if g == Ok(2) {
                // G led a refresh that nothing invalidated: its value is stored.
                assert_eq!(stored, Some(2));
            }
        },
        SCHEDULES,
    );
}

#[test]
fn a_panicking_refresh_keeps_the_value() {
    quiet_panics();
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = refreshing_map(&clock);
            map.insert(1, 1);
            clock.advance(Duration::from_secs(60));
            let first = Arc::new(AtomicBool::new(true));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, first) = (map.clone(), first.clone());
                    thread::spawn(move || {
                        catch_unwind(AssertUnwindSafe(|| {
                            map.get_or_insert_with(&1, || {
                                if first.swap(false, SeqCst) {
                                    std::panic::panic_any("boom");
                                }
                                2
                            })
                        }))
                        .ok()
                    })
                })
                .collect();
            for c in callers {
                let got = c.join().unwrap();
                assert!(matches!(got, None | Some(1 | 2)), "{got:?}");
            }
            // "a failed rebuild keeps it": the map never loses the value to a panic.
            let stored = map.get(&1);
            assert!(matches!(stored, Some(1 | 2)), "{stored:?}");
            // Whether a panicking refresh counts in `refresh_failures` is not documented.
        },
        SCHEDULES,
    );
}

#[test]
fn a_refresh_racing_a_remove_and_a_new_flight() {
    // Value 1 due. R memoizes 2 (a refresh, or a plain flight if it comes after the remove),
    // X removes the key, N (after X returned) memoizes 3.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = refreshing_map(&clock);
            map.insert(1, 1);
            clock.advance(Duration::from_secs(60));
            let removed = flag();
            let r = {
                let map = map.clone();
                thread::spawn(move || map.get_or_insert_with(&1, || 2))
            };
            let x = {
                let (map, removed) = (map.clone(), removed.clone());
                thread::spawn(move || {
                    map.remove(&1);
                    removed.store(true, SeqCst);
                })
            };
            let n = {
                let map = map.clone();
                thread::spawn(move || {
                    spin_until(|| removed.load(SeqCst));
                    map.get_or_insert_with(&1, || 3)
                })
            };
            let r = r.join().unwrap();
            x.join().unwrap();
            let n = n.join().unwrap();
            // R: its own 2 (refresh or flight), or N's 3 if it joined N's flight after the remove.
            assert!(r == 2 || r == 3, "{r}");
            // N started after the remove returned: the removed 1 is gone for it.
            assert_ne!(n, 1, "the removed value came back");
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 2);
            let stored = map.get(&1);
            // "Invalidation wins" (and memo.rs: "A refresh registered here cannot overwrite a
            // newer value"): whatever is stored was made by a flight registered after the
            // remove, the one N took its value from (R's plain flight, 2, or N's own, 3).
            assert_eq!(stored, Some(n), "r = {r}, n = {n}, {stats:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn a_refresh_whose_value_expires_mid_way_fails_and_a_waiter_attempts() {
    // Fixed ttl 120 s, refresh at 60 s. R's rebuild advances the clock past the deadline, then
    // fails. W, told of the expiry, misses and may join R's refresh flight; R's failure sends it
    // to its own attempt (its constructor makes 3).
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(120))
                .expiry(Expiry::Fixed)
                .refresh_after(Duration::from_secs(60))
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(Duration::from_secs(60));
            let expired = flag();
            let r = {
                let (map, clock, expired) = (map.clone(), clock.clone(), expired.clone());
                thread::spawn(move || {
                    map.try_get_or_insert_with(&1, || {
                        clock.advance(Duration::from_secs(60));
                        expired.store(true, SeqCst);
                        thread::yield_now();
                        thread::yield_now();
                        Err(())
                    })
                })
            };
            let w = {
                let map = map.clone();
                thread::spawn(move || {
                    spin_until(|| expired.load(SeqCst));
                    map.try_get_or_insert_with(&1, || Ok::<_, ()>(3))
                })
            };
            let (r, w) = (r.join().unwrap(), w.join().unwrap());
            // "an expired entry is never returned": R's kept value expired during its rebuild
            // (no stale_if_error here); it may get W's 3 if that was stored first.
            assert!(matches!(r, Err(()) | Ok(3)), "{r:?}");
            assert_eq!(w, Ok(3));
            let stats = map.stats();
            // R hit (a value due for refresh), W missed (expired).
            assert_eq!((stats.hits, stats.misses), (1, 1), "{stats:?}");
            assert_eq!(stats.refresh_failures, 1, "{stats:?}");
            // W's value, as a flight or as an attempt after R's failure, with no write
            // meanwhile: stored.
            assert_eq!(map.get(&1), Some(3));
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// stale_if_error.
// ---------------------------------------------------------------------------------------------

fn stale_map(clock: &ManualClock) -> TtlMap<u32, u64> {
    let map = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(600))
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    clock.advance(Duration::from_secs(120));
    map
}

#[test]
fn stale_values_are_counted_and_never_served_after_a_remove() {
    // Value 1 expired 60 s ago (window 600 s). Two failing rebuilds (Own errors: the waiter
    // attempts), while X removes the key.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = stale_map(&clock);
            let removed = flag();
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, removed) = (map.clone(), removed.clone());
                    thread::spawn(move || {
                        let after = removed.load(SeqCst);
                        (after, map.try_get_or_insert_with(&1, || Err::<u64, _>(())))
                    })
                })
                .collect();
            let x = {
                let map = map.clone();
                thread::spawn(move || {
                    map.remove(&1);
                    removed.store(true, SeqCst);
                })
            };
            let mut served = 0;
            for c in callers {
                let (after, got) = c.join().unwrap();
                assert!(matches!(got, Ok(1) | Err(())), "{got:?}");
                // `remove` "Removes key": a call that starts after it finds no last value to
                // serve (stale_if_error serves "the last value" of an entry kept longer).
                if after {
                    assert_eq!(got, Err(()), "a removed value was served stale");
                }
                served += u64::from(got.is_ok());
            }
            x.join().unwrap();
            // `Stats::stale_served`: "Memoizing calls whose constructor failed and that
            // returned an expired value instead".
            assert_eq!(map.stats().stale_served, served);
            assert_eq!(map.get(&1), None, "`get` never returns an expired value");
        },
        SCHEDULES,
    );
}

#[test]
fn the_stale_window_ending_mid_flight_is_honoured() {
    // Value 1 expired 60 s ago; T advances the clock by 600 s (past the window) at any moment.
    // Shared errors: waiters get the leader's error and then the stale value if allowed.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = stale_map(&clock);
            let late = flag();
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, late) = (map.clone(), late.clone());
                    thread::spawn(move || {
                        let after = late.load(SeqCst);
                        let got = map.try_get_or_insert_with_shared(&1, || Err::<u64, _>("down"));
                        (after, got.map_err(|e| *e))
                    })
                })
                .collect();
            let t = {
                let clock = clock.clone();
                thread::spawn(move || {
                    thread::yield_now();
                    clock.advance(Duration::from_secs(600));
                    late.store(true, SeqCst);
                })
            };
            let mut served = 0;
            for c in callers {
                let (after, got) = c.join().unwrap();
                assert!(matches!(got, Ok(1) | Err("down")), "{got:?}");
                // stale_if_error: "return the last value if it expired less than this long
                // ago"; a call that starts after the window ended must not get it.
                if after {
                    assert_eq!(got, Err("down"), "served stale past the window");
                }
                served += u64::from(got.is_ok());
            }
            t.join().unwrap();
            let stats = map.stats();
            assert_eq!(stats.stale_served, served, "{stats:?}");
            // Shared errors: "every caller that waited gets that outcome from the one run".
            assert!(stats.coalesced <= 1, "{stats:?}");
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Shared errors.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_shared_error_runs_once_for_all_its_waiters() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let runs = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let (map, runs) = (map.clone(), runs.clone());
                    thread::spawn(move || {
                        map.try_get_or_insert_with_shared(&1, || {
                            runs.fetch_add(1, SeqCst);
                            Err::<u64, _>("down")
                        })
                    })
                })
                .collect();
            for c in callers {
                assert_eq!(c.join().unwrap().map_err(|e| *e), Err("down"));
            }
            let stats = map.stats();
            let runs = runs.load(SeqCst) as u64;
            // "every caller that waited gets that outcome from the one run": each call either
            // ran the body or waited (`coalesced`), never both.
            assert_eq!(runs + stats.coalesced, 3, "runs {runs}, {stats:?}");
            assert_eq!((stats.misses, stats.inserts), (3, 0), "{stats:?}");
            assert_eq!(map.get(&1), None, "errors are not cached");
        },
        SCHEDULES,
    );
}

#[test]
fn an_own_error_waiter_of_a_shared_error_leader_attempts_and_stores() {
    // A (`_shared`) fails; B (`try_get_or_insert_with`, another error type) cannot take A's
    // error, so it makes its own attempt: 2, stored. C (`_shared`, same type) fails too.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let a = {
                let map = map.clone();
                thread::spawn(move || {
                    map.try_get_or_insert_with_shared(&1, || Err::<u64, _>("down"))
                        .map_err(|e| *e)
                })
            };
            let b = {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&1, || Ok::<u64, u8>(2)))
            };
            let c = {
                let map = map.clone();
                thread::spawn(move || {
                    map.try_get_or_insert_with_shared(&1, || Err::<u64, _>("down"))
                        .map_err(|e| *e)
                })
            };
            let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
            assert!(matches!(a, Ok(2) | Err("down")), "{a:?}");
            assert!(matches!(c, Ok(2) | Err("down")), "{c:?}");
            assert_eq!(b, Ok(2));
            // "an attempt's value is stored unless a write to that shard's keys came
            // meanwhile"; nothing writes.
            assert_eq!(map.get(&1), Some(2), "{:?}", map.stats());
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Expiry with the clock advanced by another thread.
// ---------------------------------------------------------------------------------------------

#[test]
fn an_entry_expired_by_another_thread_is_never_served_after() {
    // Value 0 stored at t0 (sliding, ttl 60 s: a hit at t0 moves nothing). T advances the clock
    // 60 s at any moment. Calls that start after T returned never get 0.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .clock(clock.clone())
                .build();
            map.insert(1, 0);
            let late = flag();
            let callers: Vec<_> = (0..2)
                .map(|i| {
                    let (map, late) = (map.clone(), late.clone());
                    thread::spawn(move || {
                        let mut seen = Vec::new();
                        for _ in 0..2 {
                            let after = late.load(SeqCst);
                            let got = if i == 0 {
                                map.get_or_insert_with(&1, || 7)
                            } else {
                                map.get(&1).unwrap_or(7)
                            };
                            seen.push((after, got));
                        }
                        seen
                    })
                })
                .collect();
            let t = {
                let (clock, late) = (clock.clone(), late.clone());
                thread::spawn(move || {
                    clock.advance(Duration::from_secs(60));
                    late.store(true, SeqCst);
                })
            };
            t.join().unwrap();
            for c in callers {
                for (after, got) in c.join().unwrap() {
                    // "an expired entry is never returned, whether or not it has been removed".
                    if after {
                        assert_eq!(got, 7, "served the expired value");
                    }
                }
            }
            let stored = map.get(&1);
            assert!(matches!(stored, None | Some(7)), "{stored:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn a_flight_whose_key_expires_before_it_lands_serves_its_waiters() {
    // Fixed ttl 60 s. The leader's value is stored at its landing time; T advances the clock
    // 60 s at any moment. Waiters get the flight's value even if it expired since ("Every waiter
    // takes the flight's outcome from the flight itself"); nobody runs twice.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .expiry(Expiry::Fixed)
                .clock(clock.clone())
                .build();
            let runs = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let (map, runs) = (map.clone(), runs.clone());
                    thread::spawn(move || {
                        map.get_or_insert_with(&1, || runs.fetch_add(1, SeqCst) as u64 + 1)
                    })
                })
                .collect();
            let t = {
                let clock = clock.clone();
                thread::spawn(move || {
                    thread::yield_now();
                    clock.advance(Duration::from_secs(60));
                })
            };
            let got: Vec<_> = callers.into_iter().map(|c| c.join().unwrap()).collect();
            t.join().unwrap();
            let runs = runs.load(SeqCst) as u64;
            let stats = map.stats();
            assert!(got.iter().all(|&v| (1..=runs).contains(&v)), "{got:?}");
            assert_eq!(stats.hits + stats.misses, 2);
            // A waiter never runs the body.
            assert!(stats.coalesced + runs <= 2, "runs {runs}, {stats:?}");
            // Fixed expiry: "it expires a ttl after it was stored"; every store happened at or
            // before now, so a ttl later nothing is live.
            clock.advance(Duration::from_secs(60));
            assert_eq!(map.get(&1), None);
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Counters on the failure paths.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_failed_rebuild_that_returns_a_live_inserted_value_is_not_counted_stale() {
    // Value 1 expired 60 s ago (stale window 600 s). L's rebuild waits until `insert(1, 9)` has
    // returned, then fails. L then finds 9, live, and returns it (stale_if_error's lookup takes
    // live values too). `Stats::stale_served` counts "Memoizing calls whose constructor failed
    // and that returned an expired value instead"; the README: "return the last value if it
    // expired less than the window ago (counted in `stale_served`)". 9 is not expired.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = stale_map(&clock);
            let (started, written) = (flag(), flag());
            let l = {
                let (map, started, written) = (map.clone(), started.clone(), written.clone());
                thread::spawn(move || {
                    map.try_get_or_insert_with(&1, || {
                        started.store(true, SeqCst);
                        spin_until(|| written.load(SeqCst));
                        Err::<u64, _>(())
                    })
                })
            };
            let w = {
                let map = map.clone();
                thread::spawn(move || {
                    spin_until(|| started.load(SeqCst));
                    map.insert(1, 9);
                    written.store(true, SeqCst);
                })
            };
            let got = l.join().unwrap();
            w.join().unwrap();
            // The live value is what a failed call may fall back on (not asserted: the README
            // speaks of the expired value only).
            assert!(matches!(got, Ok(9) | Err(())), "{got:?}");
            let stats = map.stats();
            assert_eq!(
                stats.stale_served, 0,
                "a live value counted as served stale: {stats:?}"
            );
        },
        SCHEDULES,
    );
}

/// Four threads: A fails, B makes 2, C fails (all memoizing key 1, with errors or panics), and
/// W writes (`insert(1, 9)` or `remove(&1)`) at any moment. Every constructor notes whether the
/// write had started when it began. "Once insert, remove, clear or retain has returned, no body
/// that was running for an affected key stores its value ... and an insert made during a
/// flight is not overwritten by it": if B's body began before the write began, B's value was
/// stored before the write or not at all, so the write is what stays.
fn a_write_at_any_moment_wins_over_bodies_already_running(write: Write, panics: bool) {
    quiet_panics();
    let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
    let write_started = flag();
    let b_began_first = flag();
    let call = |ok: bool| {
        let (map, write_started, b_began_first) =
            (map.clone(), write_started.clone(), b_began_first.clone());
        thread::spawn(move || -> Result<u64, ()> {
            let body = move || {
                if ok && !write_started.load(SeqCst) {
                    b_began_first.store(true, SeqCst);
                }
                thread::yield_now();
                ok
            };
            if panics {
                catch_unwind(AssertUnwindSafe(|| {
                    map.get_or_insert_with(&1, || {
                        if !body() {
                            std::panic::panic_any("boom");
                        }
                        2
                    })
                }))
                .map_err(|_| ())
            } else {
                map.try_get_or_insert_with(&1, || if body() { Ok(2) } else { Err(()) })
            }
        })
    };
    let (a, b, c) = (call(false), call(true), call(false));
    let w = {
        let map = map.clone();
        thread::spawn(move || {
            write_started.store(true, SeqCst);
            write.apply(&map);
        })
    };
    let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
    w.join().unwrap();
    for got in [a, c] {
        assert!(matches!(got, Ok(2 | 9) | Err(())), "{got:?}");
    }
    assert!(matches!(b, Ok(2 | 9)), "{b:?}");
    let stored = map.get(&1);
    assert!(stored == write.left() || stored == Some(2), "{stored:?}");
    if b_began_first.load(SeqCst) {
        assert_eq!(
            stored,
            write.left(),
            "{write:?}: a body running before it outlived it"
        );
    }
}

#[test]
fn an_insert_at_any_moment_wins_over_running_bodies_with_errors() {
    shuttle::check_random(
        || a_write_at_any_moment_wins_over_bodies_already_running(Write::Insert, false),
        SCHEDULES,
    );
}

#[test]
fn a_remove_at_any_moment_wins_over_running_bodies_with_panics() {
    shuttle::check_random(
        || a_write_at_any_moment_wins_over_bodies_already_running(Write::Remove, true),
        SCHEDULES,
    );
}

#[test]
fn a_remove_at_any_moment_wins_over_running_bodies_pct() {
    shuttle::check_pct(
        || a_write_at_any_moment_wins_over_bodies_already_running(Write::Remove, false),
        SCHEDULES,
        3,
    );
}

#[test]
fn failing_callers_each_run_once_and_are_counted_once() {
    // Three callers whose constructors all fail (errors that cannot be shared): each runs its
    // constructor exactly once, as a leader or as its own attempt ("each waiter makes its own
    // attempt at once ... no caller waits for more than two runs"), and `coalesced` counts the
    // ones that waited, once each.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let runs = Arc::new(AtomicUsize::new(0));
            let callers: Vec<_> = (0..3)
                .map(|_| {
                    let (map, runs) = (map.clone(), runs.clone());
                    thread::spawn(move || {
                        map.try_get_or_insert_with(&1, || {
                            runs.fetch_add(1, SeqCst);
                            Err::<u64, _>(())
                        })
                    })
                })
                .collect();
            for c in callers {
                assert_eq!(c.join().unwrap(), Err(()));
            }
            let stats = map.stats();
            assert_eq!(runs.load(SeqCst), 3, "{stats:?}");
            assert_eq!((stats.misses, stats.hits, stats.inserts), (3, 0, 0));
            assert!(stats.coalesced <= 2, "{stats:?}");
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// An async leader whose future is dropped.
// ---------------------------------------------------------------------------------------------

/// Never ready: a constructor still running when its future is dropped.
struct Never;

impl std::future::Future for Never {
    type Output = u64;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u64> {
        std::task::Poll::Pending
    }
}

#[test]
fn waiters_of_a_dropped_async_leader_start_over_and_one_leads() {
    // L polls `get_or_insert_with_async` once (its constructor pending) and drops it. W1 and W2
    // (sync) miss meanwhile or after. "If the leader's future is dropped, its waiters start over
    // and one of them leads."
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let polled = flag();
            let l = {
                let (map, polled) = (map.clone(), polled.clone());
                thread::spawn(move || {
                    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                    let mut fut = std::pin::pin!(map.get_or_insert_with_async(&1, Never));
                    let first = fut.as_mut().poll(&mut cx);
                    polled.store(true, SeqCst);
                    thread::yield_now();
                    first.is_ready()
                })
            };
            let runs = Arc::new(AtomicUsize::new(0));
            let ws: Vec<_> = (0..2)
                .map(|_| {
                    let (map, runs, polled) = (map.clone(), runs.clone(), polled.clone());
                    thread::spawn(move || {
                        spin_until(|| polled.load(SeqCst));
                        map.get_or_insert_with(&1, || {
                            runs.fetch_add(1, SeqCst);
                            2
                        })
                    })
                })
                .collect();
            let l_ready = l.join().unwrap();
            for w in ws {
                let got = w.join().unwrap();
                // L's future is dropped before its constructor made a value.
                assert_eq!(got, 2);
            }
            assert!(!l_ready, "the constructor never finishes");
            let stats = map.stats();
            // "hits + misses is the number of calls" (L counted once, at its first lookup).
            assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
            // One of them leads; nothing evicts, so the other waits for it or hits its value.
            assert_eq!(runs.load(SeqCst), 1, "{stats:?}");
            assert_eq!(map.get(&1), Some(2));
        },
        SCHEDULES,
    );
}

#[test]
fn a_clear_at_any_moment_wins_over_running_bodies_pct() {
    shuttle::check_pct(
        || a_write_at_any_moment_wins_over_bodies_already_running(Write::Clear, true),
        SCHEDULES,
        3,
    );
}

#[test]
fn a_retain_at_any_moment_wins_over_running_bodies() {
    shuttle::check_random(
        || a_write_at_any_moment_wins_over_bodies_already_running(Write::Retain, false),
        SCHEDULES,
    );
}

#[test]
fn an_insert_at_any_moment_wins_over_running_bodies_pct() {
    shuttle::check_pct(
        || a_write_at_any_moment_wins_over_bodies_already_running(Write::Insert, true),
        SCHEDULES,
        3,
    );
}

/// Polls `fut` to completion on this shuttle thread, yielding between polls.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::yield_now();
    }
}

#[test]
fn an_async_attempt_after_a_failed_leader_is_stored_though_a_new_flight_fails() {
    // As `an_attempt_after_a_failed_leader_is_stored_though_a_new_flight_fails`, with B and C
    // async (B's constructor yields once before making 2).
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let a = {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&1, || Err::<u64, _>(())))
            };
            let async_call = |ok: bool| {
                let map = map.clone();
                thread::spawn(move || {
                    block_on(map.try_get_or_insert_with_async(&1, async move {
                        let mut yielded = false;
                        std::future::poll_fn(|_| {
                            if std::mem::replace(&mut yielded, true) {
                                std::task::Poll::Ready(())
                            } else {
                                std::task::Poll::Pending
                            }
                        })
                        .await;
                        if ok { Ok(2) } else { Err(()) }
                    }))
                })
            };
            let (b, c) = (async_call(true), async_call(false));
            let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
            assert_eq!(b, Ok(2));
            assert!(matches!(a, Ok(2) | Err(())) && matches!(c, Ok(2) | Err(())));
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
            // "an attempt's value is stored unless a write to that shard's keys came meanwhile".
            assert_eq!(map.get(&1), Some(2), "B's value was lost; {stats:?}");
            assert_eq!(stats.inserts, 1, "{stats:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn stale_served_counts_only_expired_values_returned() {
    // The same count with no write at all: value 1 expired 60 s ago (window 600 s); A's
    // rebuild fails, B's makes 2 (as a flight, or as its own attempt after A's failure). A
    // may fall back on B's fresh 2, stored meanwhile: not an expired value.
    // `Stats::stale_served`: "Memoizing calls whose constructor failed and that returned an
    // expired value instead".
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = stale_map(&clock);
            let call = |v: Option<u64>| {
                let map = map.clone();
                thread::spawn(move || map.try_get_or_insert_with(&1, || v.ok_or(())))
            };
            let (a, b) = (call(None), call(Some(2)));
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            assert!(matches!(a, Ok(1 | 2)), "{a:?}");
            assert_eq!(b, Ok(2));
            let stats = map.stats();
            let expired_returned = u64::from(a == Ok(1));
            assert_eq!(stats.stale_served, expired_returned, "a = {a:?}, {stats:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn capacity_evicts_the_expired_entry_first_while_the_clock_moves() {
    // Capacity 2, fixed ttl 60 s: key 1 stored at 0 s, key 2 at 30 s. T moves the clock to 60 s
    // (key 1 expired, key 2 live) at any moment while F memoizes key 3.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(Duration::from_secs(60))
                .expiry(Expiry::Fixed)
                .capacity(2)
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(Duration::from_secs(30));
            map.insert(2, 2);
            let late = flag();
            let t = {
                let (clock, late) = (clock.clone(), late.clone());
                thread::spawn(move || {
                    clock.advance(Duration::from_secs(30));
                    late.store(true, SeqCst);
                })
            };
            let f = {
                let (map, late) = (map.clone(), late.clone());
                thread::spawn(move || {
                    let after = late.load(SeqCst);
                    (after, map.get_or_insert_with(&3, || 3))
                })
            };
            t.join().unwrap();
            let (after, got) = f.join().unwrap();
            assert_eq!(got, 3);
            let stats = map.stats();
            // Either way one entry goes: key 1, expired or (before T) the oldest insert.
            assert_eq!(stats.evictions + stats.expirations, 1, "{stats:?}");
            assert!(map.contains_key(&2) && map.contains_key(&3), "{stats:?}");
            if after {
                // "An expired entry goes first", and it counts in `expirations` ("the
                // entries removed because they had expired, whatever removed them"), not in
                // `evictions` ("the live entries removed for the capacity").
                assert_eq!((stats.expirations, stats.evictions), (1, 0), "{stats:?}");
            }
        },
        SCHEDULES,
    );
}

#[test]
fn a_none_is_shared_with_optional_waiters_and_a_plain_waiter_attempts() {
    // A's `optionally_` constructor finds nothing; B (`optionally_`) makes 5; C
    // (`get_or_insert_with`) makes 7. "the callers that waited for it get None too, from the
    // one run"; C cannot take a None, so it makes its own attempt.
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(Duration::from_secs(60));
            let b_ran = flag();
            let a = {
                let map = map.clone();
                thread::spawn(move || map.optionally_get_or_insert_with(&1, || None))
            };
            let b = {
                let (map, b_ran) = (map.clone(), b_ran.clone());
                thread::spawn(move || {
                    map.optionally_get_or_insert_with(&1, || {
                        b_ran.store(true, SeqCst);
                        Some(5)
                    })
                })
            };
            let c = {
                let map = map.clone();
                thread::spawn(move || map.get_or_insert_with(&1, || 7))
            };
            let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
            assert!(matches!(a, None | Some(5 | 7)), "{a:?}");
            assert!(matches!(b, None | Some(5 | 7)), "{b:?}");
            if b.is_none() {
                // B's None can only be A's, shared from the one run: B did not run.
                assert!(!b_ran.load(SeqCst), "B ran and still got None");
            }
            assert!(matches!(c, 5 | 7), "{c}");
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
            // C's value (or B's) is stored: no write came.
            let stored = map.get(&1);
            assert!(matches!(stored, Some(5 | 7)), "{stored:?} {stats:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn sweeps_and_writes_keep_an_entry_within_its_stale_window() {
    // Value 1 expired 60 s ago, window 600 s. S sweeps and W writes other keys (each write may
    // sweep due shards) while A and B fail to rebuild key 1.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map = stale_map(&clock);
            let s = {
                let map = map.clone();
                thread::spawn(move || map.sweep())
            };
            let w = {
                let map = map.clone();
                thread::spawn(move || {
                    for k in 2..6 {
                        map.insert(k, k.into());
                    }
                })
            };
            let callers: Vec<_> = (0..2)
                .map(|_| {
                    let map = map.clone();
                    thread::spawn(move || map.try_get_or_insert_with(&1, || Err::<u64, _>(())))
                })
                .collect();
            for c in callers {
                // stale_if_error: "return the last value if it expired less than the window
                // ago ...; expired entries are kept that much longer".
                assert_eq!(c.join().unwrap(), Ok(1), "{:?}", map.stats());
            }
            s.join().unwrap();
            w.join().unwrap();
            assert_eq!(map.stats().stale_served, 2);
        },
        SCHEDULES,
    );
}
