//! Today's change under shuttle: `expire_after` is asked before the shard's lock is taken
//! (map.rs `own_life`, memo.rs `store_attempt` and `complete`), so another store, a
//! remove, a clear or the flight's waiters may come between the question and the store.
//! Checked in every schedule: the entry stored has the life its own value declared, never
//! another value's; every value stored was asked about; single flight holds with an
//! `expire_after` that panics or uses its own map; nothing deadlocks.
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_today --release`.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};
use shuttle::thread;
use shuttle_common::quiet_panics;

const SCHEDULES: usize = 20_000;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

type Asked = Arc<Mutex<Vec<u64>>>;

/// The map's own handle, for its `expire_after`.
type Slot = Arc<Mutex<Option<TtlMap<u32, u64>>>>;

/// A map whose values declare a life of that many seconds (the ttl is far longer), with
/// every value `expire_after` is asked about recorded; `extra` runs in `expire_after` too.
fn map_of_lives(
    clock: &ManualClock,
    extra: impl Fn(&TtlMap<u32, u64>, u64) + Send + Sync + 'static,
) -> (TtlMap<u32, u64>, Asked, Slot) {
    let asked: Asked = Arc::default();
    let slot: Slot = Arc::default();
    let (a, s) = (Arc::clone(&asked), Arc::clone(&slot));
    let map = TtlMap::builder()
        .ttl(secs(100_000))
        .clock(clock.clone())
        .expire_after(move |_: &u32, v: &u64| {
            a.lock().unwrap().push(*v);
            thread::yield_now();
            let map = s.lock().unwrap().clone();
            if let Some(map) = map {
                extra(&map, *v);
            }
            Some(secs(*v))
        })
        .build();
    *slot.lock().unwrap() = Some(map.clone());
    (map, asked, slot)
}

/// What key 1 holds once the threads are done must be a value that was asked about, and
/// live exactly its own life from time 0 (the clock never moved while they ran).
fn check_own_life(map: &TtlMap<u32, u64>, clock: &ManualClock, asked: &Asked) {
    let Some(v) = map.get(&1) else {
        return;
    };
    assert!(
        asked.lock().unwrap().contains(&v),
        "value {v} was stored without being asked about"
    );
    clock.advance(secs(v) - Duration::from_millis(1));
    assert_eq!(map.get(&1), Some(v), "value {v} died before its own life");
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        map.get(&1),
        None,
        "value {v} outlived its own life: another's"
    );
}

#[test]
fn stores_of_one_key_racing_through_expire_after_each_keep_their_own_life() {
    // An insert, a memoizing miss and a `try_` miss of key 1 with three lives, and a remove.
    quiet_panics();
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let (map, asked, slot) = map_of_lives(&clock, |_, _| {});
            let m = map.clone();
            let a = thread::spawn(move || {
                m.insert(1, 10);
            });
            let m = map.clone();
            let b = thread::spawn(move || {
                m.get_or_insert_with(&1, || {
                    thread::yield_now();
                    20
                })
            });
            let m = map.clone();
            let c = thread::spawn(move || {
                let got: Result<u64, ()> = m.try_get_or_insert_with(&1, || Ok(30));
                got.unwrap()
            });
            let m = map.clone();
            let d = thread::spawn(move || {
                m.remove(&1);
            });
            a.join().unwrap();
            let (b, c) = (b.join().unwrap(), c.join().unwrap());
            d.join().unwrap();
            assert!([10, 20, 30].contains(&b) && [10, 20, 30].contains(&c));
            let stores = map.stats().inserts as usize;
            assert!(
                stores <= asked.lock().unwrap().len(),
                "{stores} stores, {:?} asked",
                asked.lock().unwrap()
            );
            check_own_life(&map, &clock, &asked);
            *slot.lock().unwrap() = None;
        },
        SCHEDULES,
    );
}

#[test]
fn a_flight_whose_expire_after_panics_racing_an_insert_and_a_waiter() {
    // L memoizes 13, whose `expire_after` panics; W memoizes 5 (joining L's flight or leading
    // its own); I inserts 7. A waiter of L's flight gets 13 from it, L's call panics (or L
    // waited for W and got 5), and key 1 holds a value with its own life.
    quiet_panics();
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let (map, asked, slot) = map_of_lives(&clock, |_, v| {
                if v == 13 {
                    std::panic::panic_any("boom: expire_after");
                }
            });
            let memo = |v: u64| {
                let map = map.clone();
                let ran = Arc::new(AtomicBool::new(false));
                let r = Arc::clone(&ran);
                let h = thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| {
                        map.get_or_insert_with(&1, || {
                            r.store(true, SeqCst);
                            thread::yield_now();
                            v
                        })
                    }))
                    .ok()
                });
                (h, ran)
            };
            let (l, l_ran) = memo(13);
            let (w, w_ran) = memo(5);
            let m = map.clone();
            let i = thread::spawn(move || {
                m.insert(1, 7);
            });
            let (l, w) = (l.join().unwrap(), w.join().unwrap());
            i.join().unwrap();
            if l_ran.load(SeqCst) {
                assert_eq!(l, None, "L's landing panicked in expire_after");
            } else {
                assert!(l == Some(5) || l == Some(7), "L got another's value: {l:?}");
            }
            if w_ran.load(SeqCst) {
                assert_eq!(w, Some(5));
            } else {
                assert!(w == Some(13) || w == Some(7), "W: {w:?}");
            }
            assert_ne!(
                map.get(&1),
                Some(13),
                "a value whose expire_after panicked is stored"
            );
            check_own_life(&map, &clock, &asked);
            *slot.lock().unwrap() = None;
        },
        SCHEDULES,
    );
}

#[test]
fn an_expire_after_that_uses_its_map_beside_stores_and_clears() {
    // `expire_after` of key 1's values inserts key 2, removes key 3 and memoizes key 4 (whose
    // own `expire_after` does nothing more), while other threads store key 1 and clear.
    quiet_panics();
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let (map, asked, slot) = map_of_lives(&clock, |map, v| {
                if v < 100 {
                    map.insert(2, 200 + v);
                    map.remove(&3);
                    map.get_or_insert_with(&4, || 400);
                }
            });
            let m = map.clone();
            let a = thread::spawn(move || {
                m.insert(1, 10);
            });
            let m = map.clone();
            let b = thread::spawn(move || m.get_or_insert_with(&1, || 20));
            let m = map.clone();
            let c = thread::spawn(move || {
                m.insert(3, 300);
                m.clear();
            });
            a.join().unwrap();
            let b = b.join().unwrap();
            c.join().unwrap();
            assert!(b == 10 || b == 20, "{b}");
            check_own_life(&map, &clock, &asked);
            *slot.lock().unwrap() = None;
        },
        SCHEDULES,
    );
}

/// A memoizing miss is counted once its flight is registered: a caller that sees the miss
/// counted and then asks for the key joins that flight, in every schedule (it could lead a
/// second construction when the miss was counted before the flight was registered).
#[test]
fn a_caller_that_sees_a_miss_counted_joins_its_flight() {
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::new(secs(60));
            let built = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let leader = {
                let (map, built) = (map.clone(), Arc::clone(&built));
                thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        built.fetch_add(1, SeqCst);
                        thread::yield_now();
                        1
                    })
                })
            };
            while map.stats().misses == 0 {
                thread::yield_now();
            }
            let got = map.get_or_insert_with(&1, || {
                built.fetch_add(1, SeqCst);
                2
            });
            assert_eq!(leader.join().unwrap(), 1);
            assert_eq!(got, 1, "the second caller joined the first one's flight");
            assert_eq!(built.load(SeqCst), 1);
            assert_eq!(map.stats().coalesced + map.stats().hits, 1);
        },
        SCHEDULES,
    );
}
