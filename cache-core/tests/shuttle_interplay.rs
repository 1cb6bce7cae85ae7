//! Feature interplay under shuttle (helper-53): two mechanisms on one entry at once —
//! `refresh_after` with capacity eviction, an insert and a listener that panics; an async
//! refresh cancelled while a caller that missed waits for it; `stale_if_error` with capacity
//! eviction and shared errors; `expire_after` panicking while a flight with waiters lands;
//! capacity 0 with a cancelled async leader and sync and async waiters; a refresh racing a
//! remove and a capacity eviction; a value born expired, with a waiter, into a full map.
//!
//! Every assertion states the promise it checks (README.md "Semantics" and SPEC.md "Promises,
//! precisely"); counters are checked exactly where the README defines them.
//!
//! Run with `cargo test -p cache-core --features shuttle --test shuttle_interplay --release`.

#![cfg(feature = "shuttle")]

mod shuttle_common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};
use std::time::Duration;

use cache_core::{ManualClock, Reason, TtlMap};
use shuttle::thread;
use shuttle_common::{flag, quiet_panics, spin_until};

const SCHEDULES: usize = 20_000;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Never ready: a constructor still running when its future is dropped.
struct Never;

impl Future for Never {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u64> {
        Poll::Pending
    }
}

type Log = Arc<std::sync::Mutex<Vec<(u32, u64, Reason)>>>;

fn log() -> Log {
    Arc::new(std::sync::Mutex::new(Vec::new()))
}

fn heard(log: &Log) -> Vec<(u32, u64, Reason)> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()))
}

// ---------------------------------------------------------------------------------------------
// refresh_after + capacity.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_refresh_racing_a_capacity_eviction_and_a_caller_that_misses() {
    // Capacity 1, key 1 holds 1 and is due for a refresh. A and C memoize key 1 (making 2 and
    // 3), B inserts key 2, which evicts whatever key 1 holds. A caller that finds 1 live gets
    // it (C while A refreshes) or refreshes it; one that misses joins the flight under way or
    // leads. Single flight: a caller that waits never runs its constructor.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let events = log();
            let sink = events.clone();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(600))
                .refresh_after(secs(60))
                .capacity(1)
                .clock(clock.clone())
                .on_evict(move |k: &u32, v: &u64, r| sink.lock().unwrap().push((*k, *v, r)))
                .build();
            map.insert(1, 1);
            clock.advance(secs(60));
            let memo = |v: u64| {
                let map = map.clone();
                let ran = flag();
                let ran2 = ran.clone();
                let h = thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        ran2.store(true, SeqCst);
                        v
                    })
                });
                (h, ran)
            };
            let (a, a_ran) = memo(2);
            let b = {
                let map = map.clone();
                thread::spawn(move || map.insert(2, 20))
            };
            let (c, c_ran) = memo(3);
            let (a, c) = (a.join().unwrap(), c.join().unwrap());
            b.join().unwrap();
            let (a_ran, c_ran) = (a_ran.load(SeqCst), c_ran.load(SeqCst));
            // Each caller gets the old value, its own value, or the value of the flight it
            // joined: never another's unless it waited.
            assert!(matches!(a, 1..=3), "{a}");
            assert!(matches!(c, 1..=3), "{c}");
            assert_eq!(a == 2, a_ran, "A returns its own value iff it ran");
            assert_eq!(c == 3, c_ran, "C returns its own value iff it ran");
            let stats = map.stats();
            // "hits and misses count every get and memoizing call once".
            assert_eq!(stats.hits + stats.misses, 2, "{stats:?}");
            // A refresh happens only for a caller that found a live value (a hit) and ran.
            let runs = u64::from(a_ran) + u64::from(c_ran);
            assert!(stats.refreshes <= stats.hits.min(runs), "{stats:?}");
            assert_eq!(stats.refresh_failures, 0);
            // Nothing fails or is cancelled here, so a call that missed either ran its
            // constructor or waited for another's, counted once in `coalesced`.
            assert_eq!(
                stats.misses,
                runs - stats.refreshes + stats.coalesced,
                "{stats:?} a={a} c={c}"
            );
            // A call that returned the other's value and missed waited for it.
            assert!(
                stats.coalesced <= u64::from(a == 3) + u64::from(c == 2),
                "{stats:?}"
            );
            // Capacity: "len() <= capacity whenever no write is in progress".
            assert!(map.len() <= 1, "len {}", map.len());
            // Every store after the first evicted or replaced exactly one entry (capacity 1):
            // inserts = 1 (setup) + B + one per constructor run.
            assert_eq!(stats.inserts, 2 + runs, "{stats:?}");
            let events = heard(&events);
            let evicted = events.iter().filter(|e| e.2 == Reason::Capacity).count() as u64;
            let replaced = events.iter().filter(|e| e.2 == Reason::Replaced).count() as u64;
            assert_eq!(stats.evictions, evicted, "{events:?}");
            assert_eq!(stats.expirations, 0, "{events:?}");
            assert_eq!(
                evicted + replaced,
                stats.inserts - 1,
                "{events:?} {stats:?}"
            );
        },
        SCHEDULES,
    );
}

#[test]
fn an_insert_during_a_refresh_with_a_panicking_listener_wins() {
    // Key 1 holds 1, due for a refresh; A refreshes it (2) while B inserts 9. The listener
    // panics on every replacement. Whatever the order, 9 is what stays: an insert before A's
    // lookup leaves a value not due; one during A's refresh invalidates it ("an insert made
    // during a flight is not overwritten by it"); one after replaces it. A listener's panic
    // goes on in the call that ran it and leaves the map consistent.
    quiet_panics();
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(600))
                .refresh_after(secs(60))
                .capacity(1)
                .clock(clock.clone())
                .on_evict(|_: &u32, _: &u64, r| {
                    if r == Reason::Replaced {
                        std::panic::panic_any("boom: listener");
                    }
                })
                .build();
            map.insert(1, 1);
            clock.advance(secs(60));
            let a = {
                let map = map.clone();
                thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || 2))).ok()
                })
            };
            let b = {
                let map = map.clone();
                thread::spawn(move || catch_unwind(AssertUnwindSafe(|| map.insert(1, 9))).ok())
            };
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            assert_eq!(map.get(&1), Some(9), "a={a:?} b={b:?}");
            assert_eq!(map.len(), 1);
            // A gets the value it found, its own (refresh) or B's, or panics (its refresh
            // replaced 1 and the listener panicked).
            // (1 is due, and nothing else refreshes it: A never gets 1.)
            assert!(matches!(a, None | Some(2 | 9)), "{a:?}");
            // Key 1 always holds a live value when B stores: B hears a replacement and panics.
            assert_eq!(
                b, None,
                "B always replaces a live value, hears it and panics"
            );
            let stats = map.stats();
            assert_eq!(stats.hits + stats.misses, 2, "{stats:?}");
            assert_eq!(stats.evictions, 0, "{stats:?}");
            // Nothing is wedged: a later memoizing call returns at once.
            assert_eq!(map.get_or_insert_with(&1, || 7), 9);
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// An async refresh cancelled while a caller that missed waits for it.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_cancelled_async_refresh_with_a_waiter_that_missed() {
    // Key 1 holds 1 (ttl 100 s), due for a refresh at 60 s. L polls an async refresh once (its
    // constructor never finishes) and drops it. T moves the clock past the ttl; W (sync)
    // memoizes key 1 making 3. W gets 1 (live, a refresh under way), or misses and joins L's
    // flight (then starts over when L gives up: "If the leader's future is dropped, its
    // waiters start over and one of them leads"), or leads. A cancelled refresh is neither a
    // refresh nor a failure, and leaves no flight behind.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(100))
                .refresh_after(secs(60))
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(secs(60));
            let polled = flag();
            let l = {
                let (map, polled) = (map.clone(), polled.clone());
                thread::spawn(move || {
                    let mut cx = Context::from_waker(std::task::Waker::noop());
                    let mut fut = std::pin::pin!(map.get_or_insert_with_async(&1, Never));
                    let first = fut.as_mut().poll(&mut cx);
                    polled.store(true, SeqCst);
                    thread::yield_now();
                    first.is_ready()
                })
            };
            let t = {
                let clock = clock.clone();
                thread::spawn(move || clock.advance(secs(40)))
            };
            let runs = Arc::new(AtomicUsize::new(0));
            let w = {
                let (map, runs, polled) = (map.clone(), runs.clone(), polled.clone());
                thread::spawn(move || {
                    spin_until(|| polled.load(SeqCst));
                    map.get_or_insert_with(&1, || {
                        runs.fetch_add(1, SeqCst);
                        3
                    })
                })
            };
            assert!(!l.join().unwrap(), "L's constructor never finishes");
            t.join().unwrap();
            let got = w.join().unwrap();
            let runs = runs.load(SeqCst);
            assert!(runs <= 1);
            assert_eq!(got == 3, runs == 1, "W returns 3 iff it ran");
            assert!(matches!(got, 1 | 3), "{got}");
            let stats = map.stats();
            // L's refresh, cancelled, is neither; W refreshes if it found 1 live after L gave up.
            assert_eq!(stats.refresh_failures, 0, "{stats:?}");
            assert!(stats.refreshes <= runs as u64, "{stats:?}");
            assert_eq!(stats.hits + stats.misses, 2, "{stats:?}");
            assert!(stats.coalesced <= 1, "{stats:?}");
            if got == 3 {
                // Nothing invalidated W's flight: its value is stored.
                assert_eq!(map.get(&1), Some(3));
            }
            // No flight is left behind: the next call leads (or hits) at once.
            let next = map.get_or_insert_with(&1, || 4);
            assert!(matches!(next, 3 | 4), "{next}");
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// stale_if_error + capacity eviction + shared errors.
// ---------------------------------------------------------------------------------------------

#[test]
fn stale_values_end_with_their_capacity_eviction() {
    // Capacity 1, ttl 10 s, stale window 30 s. Key 1 holds 1, expired 1 s ago. A and B rebuild
    // key 1 and fail (shared error); C inserts key 2, which evicts key 1 (an expired entry goes
    // first, heard as Expired). A caller gets the stale 1 only while key 1 is still held: one
    // that starts after C returned gets the error. `stale_served` counts exactly the calls that
    // returned 1; `get` never returns it.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let events = log();
            let sink = events.clone();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(10))
                .stale_if_error(secs(30))
                .capacity(1)
                .clock(clock.clone())
                .on_evict(move |k: &u32, v: &u64, r| sink.lock().unwrap().push((*k, *v, r)))
                .build();
            map.insert(1, 1);
            clock.advance(secs(11));
            let inserted = flag();
            let call = || {
                let (map, inserted) = (map.clone(), inserted.clone());
                thread::spawn(move || {
                    let after = inserted.load(SeqCst);
                    let got = map.try_get_or_insert_with_shared(&1, || Err::<u64, _>("down"));
                    (after, got.ok())
                })
            };
            let (a, b) = (call(), call());
            let c = {
                let (map, inserted) = (map.clone(), inserted.clone());
                thread::spawn(move || {
                    map.insert(2, 2);
                    inserted.store(true, SeqCst);
                })
            };
            let getter = {
                let map = map.clone();
                thread::spawn(move || map.get(&1))
            };
            c.join().unwrap();
            assert_eq!(
                getter.join().unwrap(),
                None,
                "get never returns an expired value"
            );
            let mut served = 0;
            for h in [a, b] {
                let (after, got) = h.join().unwrap();
                assert!(matches!(got, None | Some(1)), "{got:?}");
                if after {
                    assert_eq!(got, None, "stale value served after its entry was evicted");
                }
                served += u64::from(got == Some(1));
            }
            let stats = map.stats();
            assert_eq!(stats.stale_served, served, "{stats:?}");
            assert_eq!(map.len(), 1);
            assert_eq!(map.get(&2), Some(2));
            assert_eq!(
                heard(&events),
                vec![(1, 1, Reason::Expired)],
                "the expired entry goes first"
            );
            assert_eq!((stats.expirations, stats.evictions), (1, 0), "{stats:?}");
            assert_eq!(stats.misses, 3, "{stats:?}");
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// expire_after panicking as a flight with waiters lands.
// ---------------------------------------------------------------------------------------------

#[test]
fn expire_after_panicking_as_a_flight_lands_leaves_no_waiter_behind() {
    // L's constructor makes 13, whose `expire_after` panics; W waits for L's flight or leads
    // its own (making 5, which stores). "A store's waiters still get the value": W, if it
    // waited, gets 13 without running its constructor; L's call panics; nothing is wedged.
    quiet_panics();
    shuttle::check_random(
        || {
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(60))
                .capacity(1)
                .expire_after(|_: &u32, v: &u64| {
                    if *v == 13 {
                        std::panic::panic_any("boom: expire_after");
                    }
                    None
                })
                .build();
            let memo = |v: u64| {
                let map = map.clone();
                let ran = flag();
                let ran2 = ran.clone();
                let h = thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| {
                        map.get_or_insert_with(&1, || {
                            ran2.store(true, SeqCst);
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
            let (l, w) = (l.join().unwrap(), w.join().unwrap());
            let (l_ran, w_ran) = (l_ran.load(SeqCst), w_ran.load(SeqCst));
            let stats = map.stats();
            // The call that ran 13's store panics; one that waited for it gets 13.
            if l_ran {
                assert_eq!(l, None, "L's store panicked");
            } else {
                assert_eq!(l, Some(5), "L waited for W");
            }
            match (w_ran, w) {
                (true, got) => assert_eq!(got, Some(5)),
                (false, got) => assert_eq!(got, Some(13), "W waited for L: L's value"),
            }
            // A call that did not run either hit W's stored value or waited (once).
            assert_eq!(
                stats.hits + stats.coalesced,
                u64::from(!l_ran) + u64::from(!w_ran),
                "{stats:?}"
            );
            assert_eq!(stats.inserts, u64::from(w_ran), "{stats:?}");
            assert_eq!(map.get(&1), if w_ran { Some(5) } else { None });
            // No flight is left registered.
            assert_eq!(map.get_or_insert_with(&1, || 5), 5);
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Capacity 0 with a cancelled async leader, a sync and an async waiter.
// ---------------------------------------------------------------------------------------------

#[test]
fn capacity_zero_with_a_cancelled_async_leader_and_mixed_waiters() {
    // Nothing is ever kept; L (async) is dropped mid-constructor; S (sync) and A (async,
    // its constructor pending once) each get a value, their own or the flight's they joined,
    // never running twice. Every value made is heard as evicted for the capacity (README
    // "Counters": `evictions`), nothing is inserted.
    shuttle::check_random(
        || {
            let events = log();
            let sink = events.clone();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(60))
                .capacity(0)
                .on_evict(move |k: &u32, v: &u64, r| sink.lock().unwrap().push((*k, *v, r)))
                .build();
            let polled = flag();
            let l = {
                let (map, polled) = (map.clone(), polled.clone());
                thread::spawn(move || {
                    let mut cx = Context::from_waker(std::task::Waker::noop());
                    let mut fut = std::pin::pin!(map.get_or_insert_with_async(&1, Never));
                    let _ = fut.as_mut().poll(&mut cx);
                    polled.store(true, SeqCst);
                    thread::yield_now();
                })
            };
            let s_runs = Arc::new(AtomicUsize::new(0));
            let s = {
                let (map, runs, polled) = (map.clone(), s_runs.clone(), polled.clone());
                thread::spawn(move || {
                    spin_until(|| polled.load(SeqCst));
                    map.get_or_insert_with(&1, || {
                        runs.fetch_add(1, SeqCst);
                        2
                    })
                })
            };
            let a_runs = Arc::new(AtomicUsize::new(0));
            let a = {
                let (map, runs) = (map.clone(), a_runs.clone());
                thread::spawn(move || {
                    shuttle::future::block_on(map.get_or_insert_with_async(&1, async {
                        runs.fetch_add(1, SeqCst);
                        YieldOnce(false).await;
                        3
                    }))
                })
            };
            l.join().unwrap();
            let (s, a) = (s.join().unwrap(), a.join().unwrap());
            let (s_runs, a_runs) = (s_runs.load(SeqCst), a_runs.load(SeqCst));
            assert!(s_runs <= 1 && a_runs <= 1, "{s_runs} {a_runs}");
            assert_eq!(
                s == 2,
                s_runs == 1,
                "S returns its own value iff it ran: {s}"
            );
            assert!(matches!(s, 2 | 3), "{s}");
            assert!(matches!(a, 2 | 3), "{a}");
            assert_eq!(
                a == 3,
                a_runs == 1,
                "A returns its own value iff it ran: {a}"
            );
            let stats = map.stats();
            assert_eq!(map.len(), 0);
            assert_eq!(stats.inserts, 0, "{stats:?}");
            let made = (s_runs + a_runs) as u64;
            assert_eq!(stats.evictions, made, "{stats:?}");
            let events = heard(&events);
            assert_eq!(events.len() as u64, made, "{events:?}");
            assert!(events.iter().all(|e| e.2 == Reason::Capacity), "{events:?}");
            assert_eq!(stats.hits + stats.misses, 3, "{stats:?}");
            // A call that returned a value another made waited, once.
            let waited = u64::from(s == 3) + u64::from(a == 2);
            assert!(
                stats.coalesced >= waited && stats.coalesced <= 2,
                "{stats:?}"
            );
        },
        SCHEDULES,
    );
}

// ---------------------------------------------------------------------------------------------
// Review 11: refresh_after + remove + capacity eviction racing a flight; a born-expired value
// with a waiter in a full map.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_refresh_racing_a_remove_and_a_capacity_eviction_never_stores_after_the_remove() {
    // Capacity 1, key 1 holds 1 and is due for a refresh. A memoizes key 1 making 2 (a refresh,
    // or a miss if key 1 is gone by then); its constructor waits until R's remove has returned.
    // R removes key 1; I inserts key 2 (evicting key 1 if held); M memoizes key 1 making 3.
    // "Invalidation wins": if A's constructor started before R called `remove`, A's flight
    // began before it, so 2 is never stored (nor heard). Every stored value leaves at most once,
    // heard with the value stored; a caller returns its own value iff it ran.
    shuttle::check_random(
        || {
            let clock = ManualClock::new();
            let events = log();
            let sink = events.clone();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(600))
                .refresh_after(secs(60))
                .capacity(1)
                .clock(clock.clone())
                .on_evict(move |k: &u32, v: &u64, r| sink.lock().unwrap().push((*k, *v, r)))
                .build();
            map.insert(1, 1);
            clock.advance(secs(60));
            let (removing, removed) = (flag(), flag());
            let a_ran = flag();
            let a_first = flag();
            let a = {
                let (map, removing, removed) = (map.clone(), removing.clone(), removed.clone());
                let (ran, first) = (a_ran.clone(), a_first.clone());
                thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        ran.store(true, SeqCst);
                        first.store(!removing.load(SeqCst), SeqCst);
                        spin_until(|| removed.load(SeqCst));
                        2
                    })
                })
            };
            let r = {
                let map = map.clone();
                thread::spawn(move || {
                    removing.store(true, SeqCst);
                    let got = map.remove(&1);
                    removed.store(true, SeqCst);
                    got
                })
            };
            let i = {
                let map = map.clone();
                thread::spawn(move || map.insert(2, 20))
            };
            let m_ran = flag();
            let m = {
                let (map, ran) = (map.clone(), m_ran.clone());
                thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        ran.store(true, SeqCst);
                        3
                    })
                })
            };
            let (a, r, m) = (a.join().unwrap(), r.join().unwrap(), m.join().unwrap());
            i.join().unwrap();
            let (a_ran, a_first, m_ran) =
                (a_ran.load(SeqCst), a_first.load(SeqCst), m_ran.load(SeqCst));
            assert_eq!(a == 2, a_ran, "A returns its own value iff it ran: {a}");
            assert_eq!(m == 3, m_ran, "M returns its own value iff it ran: {m}");
            assert!((1..=3).contains(&a), "{a}");
            assert!((1..=3).contains(&m), "{m}");
            assert!(r.is_none_or(|v| (1..=3).contains(&v)), "{r:?}");
            let events = heard(&events);
            let stats = map.stats();
            if a_ran && a_first {
                // A's flight began before the remove was called: its value is never stored.
                assert!(
                    events.iter().all(|e| e.1 != 2),
                    "A's value stored after the remove: {events:?}"
                );
                assert_ne!(map.get(&1), Some(2), "A's value stored after the remove");
            }
            assert!(map.len() <= 1, "len {}", map.len());
            // Every value stored is held or was heard leaving, once.
            let mut values: Vec<u64> = events.iter().map(|e| e.1).collect();
            values.extend(map.iter().map(|(_, v)| v));
            let held = values.len();
            values.sort_unstable();
            values.dedup();
            assert_eq!(values.len(), held, "a value left twice: {events:?}");
            assert_eq!(stats.inserts as usize, held, "{stats:?} {events:?}");
            let evicted = events.iter().filter(|e| e.2 == Reason::Capacity).count();
            assert_eq!(stats.evictions as usize, evicted, "{events:?}");
            assert_eq!(stats.expirations, 0, "{events:?}");
            if let Some(v) = r {
                assert!(events.contains(&(1, v, Reason::Removed)), "{events:?}");
            }
            assert_eq!(stats.hits + stats.misses, 2, "{stats:?}");
            let runs = u64::from(a_ran) + u64::from(m_ran);
            assert!(stats.refreshes <= runs, "{stats:?}");
        },
        SCHEDULES,
    );
}

#[test]
fn a_born_expired_value_with_a_waiter_goes_itself_from_a_full_map() {
    // Capacity 1, key 2 holds 2. L memoizes key 1 making 13, which `expire_after` gives no
    // life; W memoizes key 1 making 5. 13 stored into the full map is the entry that goes,
    // heard as expired, not key 2 (README "Capacity"); a waiter of L's flight still gets 13
    // from the flight ("single flight": never by looking the key up again). W runs only if it
    // did not wait, and then evicts key 2.
    shuttle::check_random(
        || {
            let events = log();
            let sink = events.clone();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(60))
                .capacity(1)
                .expire_after(|_: &u32, v: &u64| (*v == 13).then_some(Duration::ZERO))
                .on_evict(move |k: &u32, v: &u64, r| sink.lock().unwrap().push((*k, *v, r)))
                .build();
            map.insert(2, 2);
            let memo = |v: u64| {
                let map = map.clone();
                let ran = flag();
                let ran2 = ran.clone();
                let h = thread::spawn(move || {
                    map.get_or_insert_with(&1, || {
                        ran2.store(true, SeqCst);
                        thread::yield_now();
                        v
                    })
                });
                (h, ran)
            };
            let (l, l_ran) = memo(13);
            let (w, w_ran) = memo(5);
            let (l, w) = (l.join().unwrap(), w.join().unwrap());
            let (l_ran, w_ran) = (l_ran.load(SeqCst), w_ran.load(SeqCst));
            assert_eq!(l == 13, l_ran, "L returns its own value iff it ran: {l}");
            assert_eq!(w == 5, w_ran, "W returns its own value iff it ran: {w}");
            assert!(l_ran || w_ran);
            let stats = map.stats();
            let mut expected = Vec::new();
            if l_ran {
                expected.push((1, 13, Reason::Expired));
            }
            if w_ran {
                expected.push((2, 2, Reason::Capacity));
            }
            let mut events = heard(&events);
            events.sort_unstable_by_key(|e| e.1);
            expected.sort_unstable_by_key(|e| e.1);
            assert_eq!(events, expected, "l={l} w={w}");
            assert_eq!(map.len(), 1);
            assert_eq!(map.get(&1), w_ran.then_some(5));
            assert_eq!(map.get(&2), (!w_ran).then_some(2));
            assert_eq!(
                (stats.inserts, stats.expirations, stats.evictions),
                (
                    1 + u64::from(l_ran) + u64::from(w_ran),
                    u64::from(l_ran),
                    u64::from(w_ran)
                ),
                "{stats:?}"
            );
            // A call that ran neither constructor hit W's value or waited, once.
            assert_eq!(
                stats.hits + stats.coalesced,
                u64::from(!l_ran) + u64::from(!w_ran),
                "{stats:?}"
            );
        },
        SCHEDULES,
    );
}

/// Every option at once, three threads (the third moving the clock by 5 s twice, so that values
/// fall due for a refresh, expire and go stale), each value made once: whatever the schedule, every
/// value stored is held or heard leaving exactly once, with the reason counted where the
/// README says (`expirations`, `evictions`), only values that were stored are heard, `len()`
/// stays within the capacity, and every call counts once as a hit or a miss.
fn every_option_bookkeeping(capacity: usize, sliding: bool) {
    shuttle::check_random(
        move || {
            let clock = ManualClock::new();
            let events = log();
            let sink = events.clone();
            let map: TtlMap<u32, u64> = TtlMap::builder()
                .ttl(secs(10))
                .expiry(if sliding {
                    cache_core::Expiry::Sliding
                } else {
                    cache_core::Expiry::Fixed
                })
                .capacity(capacity)
                .max_lifetime(secs(15))
                .refresh_after(secs(4))
                .stale_if_error(secs(6))
                // Values ending in 7 live 2 s, ending in 9 are born expired.
                .expire_after(|_: &u32, v: &u64| match v % 10 {
                    7 => Some(secs(2)),
                    9 => Some(Duration::ZERO),
                    _ => None,
                })
                .clock(clock.clone())
                .on_evict(move |k: &u32, v: &u64, r| sink.lock().unwrap().push((*k, *v, r)))
                .build();
            map.insert(1, 10);
            map.insert(2, 20);
            let calls = Arc::new(AtomicUsize::new(0));
            let worker = |t: u64| {
                let (map, clock, calls) = (map.clone(), clock.clone(), calls.clone());
                thread::spawn(move || {
                    // Values of thread t: 100 t + i * 10 + last digit.
                    let v = |i: u64, last: u64| 100 * t + 10 * i + last;
                    let k = |i: u64| ((t + i) % 3) as u32 + 1;
                    for i in 0..4 {
                        match (t + i) % 4 {
                            0 => {
                                let _ = map.get_or_insert_with(&k(i), || v(i, 7 + 2 * (i % 2)));
                                calls.fetch_add(1, SeqCst);
                            }
                            1 => {
                                let _ = map.try_get_or_insert_with(&k(i), || {
                                    if i % 2 == 0 { Err(()) } else { Ok(v(i, 1)) }
                                });
                                calls.fetch_add(1, SeqCst);
                            }
                            2 if t == 3 => clock.advance(secs(5)),
                            2 => {
                                map.insert(k(i), v(i, 3));
                            }
                            _ => {
                                if t == 3 {
                                    clock.advance(secs(5));
                                } else {
                                    let _ = map.remove(&k(i));
                                }
                                let _ = map.get(&k(i));
                                calls.fetch_add(1, SeqCst);
                            }
                        }
                    }
                })
            };
            let hs = [worker(1), worker(2), worker(3)];
            for h in hs {
                h.join().unwrap();
            }
            assert!(map.len() <= capacity, "len {}", map.len());
            let before = map.stats();
            assert_eq!(
                before.hits + before.misses,
                calls.load(SeqCst) as u64,
                "{before:?}"
            );
            // What is still held (expired entries too) is heard as removed by `clear`.
            map.clear();
            let events = heard(&events);
            let stats = map.stats();
            let mut values: Vec<u64> = events.iter().map(|e| e.1).collect();
            values.sort_unstable();
            values.dedup();
            assert_eq!(
                values.len(),
                events.len(),
                "a value heard twice: {events:?}"
            );
            let refused = if capacity == 0 { stats.evictions } else { 0 };
            assert_eq!(
                events.len() as u64,
                stats.inserts + refused,
                "every value stored leaves once: {events:?} {stats:?}"
            );
            let expired = events.iter().filter(|e| e.2 == Reason::Expired).count() as u64;
            let evicted = events.iter().filter(|e| e.2 == Reason::Capacity).count() as u64;
            assert_eq!(
                (stats.expirations, stats.evictions),
                (expired, evicted),
                "{events:?}"
            );
        },
        SCHEDULES,
    );
}

#[test]
fn every_option_at_once_keeps_its_books_with_a_capacity_of_one_sliding() {
    every_option_bookkeeping(1, true);
}

#[test]
fn every_option_at_once_keeps_its_books_with_a_capacity_of_two_fixed() {
    every_option_bookkeeping(2, false);
}

#[test]
fn every_option_at_once_keeps_its_books_with_a_capacity_of_zero() {
    every_option_bookkeeping(0, true);
}
