//! Adversarial round 3: peers' tests not ported before (moka `expire_after_update_none_on_
//! expired_entry`, quick_cache's placeholder-guard tests on the async leader), and attacks on
//! the async memoizing paths: which thread "leads" an async flight, cancellation, panics,
//! failures shared or not, invalidation during async flights and refreshes, `Send`.
//!
//! Sources: moka-rs/moka 2d8289e (`src/future/cache.rs` tests), arthurprs/quick-cache 99809ce
//! (`src/sync.rs` tests `test_guard_drop_after_overwrite_insert`,
//! `test_guard_drop_after_remove_and_reuse`, `test_entry_async_concurrent_guard_abandoned`).
//! Time comes from a `ManualClock`; every wait is bounded (a hang is a failure).
//!
//! Failing when written (library unchanged):
//! - `sync_waiter_on_the_thread_that_once_polled_a_handed_off_leader_gets_its_value` and
//!   `block_in_place_sync_waiter_after_handing_the_leader_to_another_task_gets_its_value`: a
//!   sync call panics ("this same thread polls") when its thread merely polled the async leader
//!   LAST, though another thread/task now drives it (false positive);
//! - `sync_call_in_a_shared_current_thread_runtime_never_hangs`: the converse, a true hang: the
//!   leader's task was last polled on another thread, but its only driver now is the blocked one;
//! - `dropped_async_waiters_release_their_wakers`: a dropped waiter's waker (its task) stays in
//!   the flight until it lands.
//!
//! Deliberate differences noted, not tested as failures: `try_get_or_insert_with(_async)` does
//! not share a `Clone` error (the `_shared` forms and the attribute do); with sliding expiry,
//! hits closer together than ttl/64 are ranked by a reference bit only, so for capacity a
//! recently hit entry stored earlier can be evicted before one hit longer ago (moka: exact LRU).

use std::cell::Cell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use tests::{Driven, panic_message, two_worker_runtime, wait_until, wait_until_async};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const HOUR: Duration = Duration::from_secs(3600);
/// Far longer than any step here needs: turns a hang into a failure.
const GUARD: Duration = Duration::from_secs(20);
/// How long a call that should return at once may take before it counts as hung.
const HANG: Duration = Duration::from_secs(30);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Runs `f` on its own thread: its result, or `None` if it did not finish within `within`
/// (the thread is then left behind, hung).
fn within<T: Send + 'static>(
    within: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<thread::Result<T>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    rx.recv_timeout(within).ok()
}

// =============================================================================================
// (2) Which thread "leads" an async flight: the thread that last polled it
// =============================================================================================

/// The re-entry guard through a nested sync flight: an async constructor of `a` runs a sync
/// `get_or_insert_with(b)` whose constructor asks for `a` on the same thread. It must panic
/// (re-entry), and `b`'s flight must land so that later callers of `b` are not stuck.
#[test]
fn async_leader_asked_for_through_a_nested_sync_constructor_panics_and_frees_both_keys() {
    let map: TtlMap<String, u64> = TtlMap::builder().ttl(HOUR).capacity(8).build();
    let outcome = within(HANG, {
        let map = map.clone();
        move || {
            current_thread().block_on(async {
                let inner = map.clone();
                map.get_or_insert_with_async("a", async move {
                    let m2 = inner.clone();
                    inner.get_or_insert_with("b", move || m2.get_or_insert_with("a", || 3))
                })
                .await
            })
        }
    });
    let panic = outcome
        .expect("a panic, not a hang")
        .expect_err("re-entry panics");
    assert!(
        panic_message(&*panic).contains("re-entrant call for the same key"),
        "{}",
        panic_message(&*panic)
    );
    let later = within(HANG, {
        let map = map.clone();
        move || {
            (
                map.get_or_insert_with("a", || 10),
                map.get_or_insert_with("b", || 20),
            )
        }
    });
    assert_eq!(later.expect("no hang").unwrap(), (10, 20));
}

/// A sync constructor on this thread leads `k`; inside it a current-thread runtime awaits
/// `get_or_insert_with_async(k)` on the same thread: re-entry, must panic, not hang.
#[test]
fn async_call_inside_a_sync_constructor_of_the_same_key_panics() {
    let map: TtlMap<String, u64> = TtlMap::new(HOUR);
    let outcome = within(HANG, {
        let map = map.clone();
        move || {
            let inner = map.clone();
            map.get_or_insert_with("k", move || {
                current_thread().block_on(inner.get_or_insert_with_async("k", async { 2 }))
            })
        }
    });
    let panic = outcome
        .expect("a panic, not a hang")
        .expect_err("re-entry panics");
    assert!(
        panic_message(&*panic).contains("re-entrant"),
        "{}",
        panic_message(&*panic)
    );
    assert_eq!(map.get_or_insert_with("k", || 5), 5, "the flight was freed");
}

// =============================================================================================
// (2) Cancellation
// =============================================================================================

/// `coalesced` counts a call once when it starts to wait, never twice: two waiters of a leader
/// that is dropped start over; one leads, the other waits again (same call: no new count).
#[test]
fn coalesced_counts_each_async_waiter_once_across_an_abandoned_flight() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let runs = AtomicUsize::new(0);
    let (release, released) = oneshot::channel::<()>();
    let released = std::sync::Mutex::new(Some(released));
    let mut a = Driven::new(map.get_or_insert_with_async(&1, std::future::pending()));
    a.pending();
    let make = |v: u32| {
        let (runs, released) = (&runs, &released);
        async move {
            runs.fetch_add(1, SeqCst);
            let rx = released.lock().unwrap().take();
            if let Some(rx) = rx {
                rx.await.unwrap();
            }
            v
        }
    };
    let mut b = Driven::new(map.get_or_insert_with_async(&1, make(2)));
    let mut c = Driven::new(map.get_or_insert_with_async(&1, make(3)));
    b.pending();
    c.pending();
    assert_eq!(map.stats().coalesced, 2);
    drop(a);
    assert!(
        b.wakes() >= 1 && c.wakes() >= 1,
        "both waiters woken by the abandonment"
    );
    b.pending(); // leads now, its constructor waits for the release
    c.pending(); // joins b's flight
    assert_eq!(runs.load(SeqCst), 1, "c's constructor is not run");
    assert_eq!(map.stats().coalesced, 2, "each call counted once");
    release.send(()).unwrap();
    assert_eq!(b.ready(), 2);
    assert!(c.wakes() >= 2, "c woken by b's landing");
    assert_eq!(c.ready(), 2, "c takes b's value");
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(map.get(&1), Some(2));
    let s = map.stats();
    assert_eq!((s.misses, s.inserts, s.coalesced), (3, 1, 2));
}

/// A sync waiter (another thread) of an async leader whose future is dropped mid-flight: it
/// must not hang; it leads and gets its own value.
#[test]
fn sync_waiter_of_a_dropped_async_leader_leads() {
    let map: TtlMap<String, u64> = TtlMap::new(HOUR);
    let mut leader = Driven::new(map.get_or_insert_with_async("k", std::future::pending()));
    leader.pending();
    let waiter = {
        let map = map.clone();
        thread::spawn(move || map.get_or_insert_with("k", || 9))
    };
    wait_until("the sync waiter waits", || map.stats().coalesced == 1);
    drop(leader);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(waiter.join()));
    let got = rx
        .recv_timeout(HANG)
        .expect("the waiter must not hang")
        .unwrap();
    assert_eq!(got, 9);
    assert_eq!(map.get("k"), Some(9));
}

/// quick_cache `test_guard_drop_after_overwrite_insert`, with an async leader as the guard:
/// an insert during the flight, then the leader dropped: the inserted value stays.
#[test]
fn quick_cache_guard_drop_after_overwrite_insert_async() {
    let map: TtlMap<i32, i32> = TtlMap::builder().ttl(HOUR).capacity(8).build();
    let mut guard = Driven::new(map.get_or_insert_with_async(&1, std::future::pending()));
    guard.pending();
    map.insert(1, 100);
    assert_eq!(map.get(&1), Some(100));
    drop(guard);
    assert_eq!(map.get(&1), Some(100));
    assert_eq!(map.get_or_insert_with(&1, || 5), 100);
}

/// quick_cache `test_guard_drop_after_remove_and_reuse`, async: a remove during the flight,
/// another key stored, a NEW flight of the same key started after the remove; dropping the
/// first leader must disturb neither the other key nor the new flight, whose waiter (joined
/// before the remove, on the old flight) starts over and joins the new one.
#[test]
fn quick_cache_guard_drop_after_remove_and_reuse_async() {
    let map: TtlMap<i32, i32> = TtlMap::builder().ttl(HOUR).capacity(8).build();
    let mut old = Driven::new(map.get_or_insert_with_async(&1, std::future::pending()));
    old.pending();
    let old_waiter_runs = AtomicUsize::new(0);
    let mut old_waiter = Driven::new(map.get_or_insert_with_async(&1, async {
        old_waiter_runs.fetch_add(1, SeqCst);
        77
    }));
    old_waiter.pending();
    assert_eq!(map.remove(&1), None);
    map.insert(2, 222);
    let (release, released) = oneshot::channel::<i32>();
    let mut new = Driven::new(map.get_or_insert_with_async(&1, async { released.await.unwrap() }));
    new.pending();
    assert_eq!(
        map.stats().coalesced,
        1,
        "the new caller led, it did not join the old flight"
    );
    drop(old);
    assert_eq!(map.get(&2), Some(222));
    old_waiter.pending(); // starts over: joins the new flight
    assert_eq!(old_waiter_runs.load(SeqCst), 0);
    release.send(11).unwrap();
    assert_eq!(new.ready(), 11);
    assert_eq!(old_waiter.ready(), 11);
    assert_eq!(old_waiter_runs.load(SeqCst), 0);
    assert_eq!((map.get(&1), map.get(&2)), (Some(11), Some(222)));
}

/// quick_cache `test_entry_async_concurrent_guard_abandoned`: a sync leader on another thread
/// gives up (its constructor's thread drops the flight by panicking... here: a sync leader
/// whose `try_` constructor fails) and the async waiter then leads and stores its own value.
#[test]
fn quick_cache_async_waiter_after_a_failed_sync_leader_stores_its_value() {
    let rt = two_worker_runtime();
    let map: TtlMap<i32, i32> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let (go, gate) = mpsc::channel::<()>();
    let holder = {
        let map = map.clone();
        thread::spawn(move || {
            map.try_get_or_insert_with(&1, || {
                gate.recv().unwrap();
                Err::<i32, _>("gave up")
            })
        })
    };
    wait_until("the holder leads", || map.stats().misses == 1);
    let got = rt.block_on(async {
        let waiter = tokio::spawn({
            let map = map.clone();
            async move {
                map.try_get_or_insert_with_async(&1, async { Ok::<_, &str>(99) })
                    .await
            }
        });
        wait_until_async("the waiter waits", || map.stats().coalesced == 1).await;
        go.send(()).unwrap();
        tokio::time::timeout(GUARD, waiter)
            .await
            .expect("no hang")
            .unwrap()
    });
    assert_eq!(got, Ok(99));
    assert!(holder.join().unwrap().is_err());
    assert_eq!(map.get(&1), Some(99));
}

// =============================================================================================
// (2) Panics and failures: waiters attempt in parallel, never one after another
// =============================================================================================

/// An async leader that panics under 6 waiting tasks (two workers): every waiter makes its own
/// attempt at once, in parallel. Each waiter's constructor waits until all 6 have started: if
/// they ran one after another, none would finish (a hang, caught by the timeout).
#[test]
fn waiters_of_a_panicking_async_leader_attempt_in_parallel() {
    const N: usize = 6;
    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(100).build();
    let started = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let (boom, armed) = oneshot::channel::<()>();
        let leader = tokio::spawn({
            let map = map.clone();
            async move {
                map.get_or_insert_with_async(&0, async move {
                    armed.await.unwrap();
                    panic!("constructor panicked");
                })
                .await
            }
        });
        wait_until_async("the leader leads", || map.stats().misses == 1).await;
        let waiters: Vec<_> = (0..N as u32)
            .map(|i| {
                let (map, started) = (map.clone(), Arc::clone(&started));
                tokio::spawn(async move {
                    map.get_or_insert_with_async(&0, async move {
                        started.fetch_add(1, SeqCst);
                        wait_until_async("all waiters attempt", || started.load(SeqCst) == N).await;
                        100 + i
                    })
                    .await
                })
            })
            .collect();
        wait_until_async("all wait", || map.stats().coalesced == N as u64).await;
        boom.send(()).unwrap();
        assert!(leader.await.unwrap_err().is_panic());
        for w in waiters {
            let v = tokio::time::timeout(GUARD, w)
                .await
                .expect("no hang")
                .unwrap();
            assert!((100..100 + N as u32).contains(&v), "{v}");
        }
    });
    assert_eq!(started.load(SeqCst), N);
    assert!(map.get(&0).is_some());
}

/// The same for `try_get_or_insert_with_async` with an error that is not shared.
#[test]
fn waiters_of_a_failed_unshared_async_flight_attempt_in_parallel() {
    const N: usize = 5;
    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let started = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let (fail, failing) = oneshot::channel::<()>();
        let leader = tokio::spawn({
            let map = map.clone();
            async move {
                let init = async move {
                    failing.await.unwrap();
                    Err::<u32, String>("down".into())
                };
                map.try_get_or_insert_with_async(&0, init).await
            }
        });
        wait_until_async("the leader leads", || map.stats().misses == 1).await;
        let waiters: Vec<_> = (0..N)
            .map(|_| {
                let (map, started) = (map.clone(), Arc::clone(&started));
                tokio::spawn(async move {
                    map.try_get_or_insert_with_async(&0, async move {
                        started.fetch_add(1, SeqCst);
                        wait_until_async("all attempt", || started.load(SeqCst) == N).await;
                        Ok::<u32, String>(5)
                    })
                    .await
                })
            })
            .collect();
        wait_until_async("all wait", || map.stats().coalesced == N as u64).await;
        fail.send(()).unwrap();
        assert_eq!(leader.await.unwrap(), Err("down".to_string()));
        for w in waiters {
            let v = tokio::time::timeout(GUARD, w)
                .await
                .expect("no hang")
                .unwrap();
            assert_eq!(v, Ok(5));
        }
    });
    assert_eq!(map.get(&0), Some(5));
}

/// moka `try_get_with` (future), shared form: every waiting task gets the leader's very error
/// (the same `Arc`), from one run; their constructors are never polled; nothing is cached.
#[test]
fn moka_future_try_get_with_every_waiter_gets_the_same_arc() {
    const N: usize = 6;
    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let polled = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let (fail, failing) = oneshot::channel::<()>();
        let leader = tokio::spawn({
            let map = map.clone();
            async move {
                let init = async move {
                    failing.await.unwrap();
                    Err::<u32, String>("backend down".into())
                };
                map.try_get_or_insert_with_shared_async(&0, init).await
            }
        });
        wait_until_async("the leader leads", || map.stats().misses == 1).await;
        let waiters: Vec<_> = (0..N)
            .map(|_| {
                let (map, polled) = (map.clone(), Arc::clone(&polled));
                tokio::spawn(async move {
                    let init = async move {
                        polled.fetch_add(1, SeqCst);
                        Ok::<u32, String>(1)
                    };
                    map.try_get_or_insert_with_shared_async(&0, init).await
                })
            })
            .collect();
        wait_until_async("all wait", || map.stats().coalesced == N as u64).await;
        fail.send(()).unwrap();
        let lead_err = leader.await.unwrap().unwrap_err();
        for w in waiters {
            let err = tokio::time::timeout(GUARD, w)
                .await
                .expect("no hang")
                .unwrap()
                .unwrap_err();
            assert!(Arc::ptr_eq(&err, &lead_err), "the leader's own error");
        }
    });
    assert_eq!(polled.load(SeqCst), 0);
    assert_eq!(map.get(&0), None);
}

/// moka `optionally_get_with` (future) across cancellation: the first leader is dropped, the
/// waiter leads and returns `None`, which a second waiter shares; nothing is cached; a later
/// `Some` is.
#[test]
fn moka_future_optionally_get_with_across_an_abandoned_leader() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let runs = AtomicUsize::new(0);
    let mut a = Driven::new(map.optionally_get_or_insert_with_async(&0, std::future::pending()));
    a.pending();
    let (release, released) = oneshot::channel::<()>();
    let mut b = Driven::new(map.optionally_get_or_insert_with_async(&0, async {
        runs.fetch_add(1, SeqCst);
        released.await.unwrap();
        None
    }));
    let mut c = Driven::new(map.optionally_get_or_insert_with_async(&0, async {
        runs.fetch_add(1, SeqCst);
        Some(3)
    }));
    b.pending();
    c.pending();
    drop(a);
    b.pending();
    c.pending();
    release.send(()).unwrap();
    assert_eq!(b.ready(), None);
    assert_eq!(c.ready(), None, "c shares b's None");
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(map.get(&0), None);
    let got = Driven::new(map.optionally_get_or_insert_with_async(&0, async { Some(4) })).ready();
    assert_eq!(got, Some(4));
    assert_eq!(map.get(&0), Some(4));
}

/// Sync waiters (threads) of an async leader that panics in its poll: each makes its own
/// attempt at once, in parallel (barrier of N), none hangs.
#[test]
fn sync_waiters_of_a_panicking_async_leader_attempt_in_parallel() {
    const N: usize = 4;
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let (boom, armed) = oneshot::channel::<()>();
    let mut leader = Driven::new(map.get_or_insert_with_async(&0, async move {
        armed.await.unwrap();
        panic!("constructor panicked");
    }));
    leader.pending();
    let started = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..N as u32)
        .map(|i| {
            let (map, started) = (map.clone(), Arc::clone(&started));
            thread::spawn(move || {
                map.get_or_insert_with(&0, || {
                    started.fetch_add(1, SeqCst);
                    wait_until("all attempt", || started.load(SeqCst) == N);
                    i
                })
            })
        })
        .collect();
    wait_until("all wait", || map.stats().coalesced == N as u64);
    boom.send(()).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| leader.poll())).is_err());
    drop(leader);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        let _ = tx.send(r);
    });
    let got = rx.recv_timeout(GUARD).expect("waiters must not hang");
    assert_eq!(got.len(), N);
}

// =============================================================================================
// (2) Invalidation during async flights and refreshes
// =============================================================================================

fn refreshing_map(clock: &ManualClock) -> TtlMap<String, u32> {
    TtlMap::builder()
        .ttl(HOUR)
        .refresh_after(secs(60))
        .clock(clock.clone())
        .build()
}

/// A refresh (async) is under way when `remove(k)` returns: the rebuilt value is returned to
/// its caller but must not be stored ("invalidation wins").
#[test]
fn remove_during_an_async_refresh_wins() {
    let clock = ManualClock::new();
    let map = refreshing_map(&clock);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let (release, released) = oneshot::channel::<u32>();
    let mut refresher =
        Driven::new(map.get_or_insert_with_async("k", async { released.await.unwrap() }));
    refresher.pending();
    assert_eq!(map.stats().refreshes, 0);
    assert_eq!(map.remove("k"), Some(1));
    release.send(2).unwrap();
    assert_eq!(refresher.ready(), 2);
    assert_eq!(
        map.get("k"),
        None,
        "the refresh that began before the remove stored nothing"
    );
}

/// The same for `clear()`.
#[test]
fn clear_during_an_async_refresh_wins() {
    let clock = ManualClock::new();
    let map = refreshing_map(&clock);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let (release, released) = oneshot::channel::<u32>();
    let mut refresher =
        Driven::new(map.get_or_insert_with_async("k", async { released.await.unwrap() }));
    refresher.pending();
    map.clear();
    release.send(2).unwrap();
    assert_eq!(refresher.ready(), 2);
    assert_eq!(map.get("k"), None);
    assert!(map.is_empty());
}

/// The same for `retain` dropping the key.
#[test]
fn retain_during_an_async_refresh_wins() {
    let clock = ManualClock::new();
    let map = refreshing_map(&clock);
    map.insert("k".into(), 1);
    map.insert("other".into(), 5);
    clock.advance(secs(60));
    let (release, released) = oneshot::channel::<u32>();
    let mut refresher =
        Driven::new(map.get_or_insert_with_async("k", async { released.await.unwrap() }));
    refresher.pending();
    map.retain(|k, _| k != "k");
    release.send(2).unwrap();
    assert_eq!(refresher.ready(), 2);
    assert_eq!(map.get("k"), None);
    assert_eq!(map.get("other"), Some(5));
}

/// A failed async refresh of a value removed meanwhile returns the error (no stale value comes
/// back, nothing is stored).
#[test]
fn failed_async_refresh_of_a_removed_value_returns_the_error() {
    let clock = ManualClock::new();
    let map = refreshing_map(&clock);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let (release, released) = oneshot::channel::<()>();
    let mut refresher = Driven::new(map.try_get_or_insert_with_async("k", async {
        released.await.unwrap();
        Err::<u32, &str>("down")
    }));
    refresher.pending();
    map.remove("k");
    release.send(()).unwrap();
    assert_eq!(refresher.ready(), Err("down"));
    assert_eq!(map.get("k"), None);
}

/// `clear()` during an async flight with a waiter: the waiter (joined before) gets the old
/// flight's value; a caller after the clear leads its own flight; the old flight landing
/// AFTER the new one must not overwrite the newer value.
#[test]
fn clear_during_an_async_flight_a_later_caller_leads_and_the_old_landing_is_dropped() {
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(16).build();
    let (old_release, old_released) = oneshot::channel::<u32>();
    let mut old =
        Driven::new(map.get_or_insert_with_async(&1, async { old_released.await.unwrap() }));
    old.pending();
    let mut old_waiter = Driven::new(map.get_or_insert_with_async(&1, async { unreachable!() }));
    old_waiter.pending();
    map.clear();
    let (new_release, new_released) = oneshot::channel::<u32>();
    let mut new =
        Driven::new(map.get_or_insert_with_async(&1, async { new_released.await.unwrap() }));
    new.pending();
    assert_eq!(
        map.stats().coalesced,
        1,
        "the new caller leads its own flight"
    );
    new_release.send(20).unwrap();
    assert_eq!(new.ready(), 20);
    old_release.send(10).unwrap();
    assert_eq!(old.ready(), 10);
    assert_eq!(old_waiter.ready(), 10, "the waiter gets its flight's value");
    assert_eq!(
        map.get(&1),
        Some(20),
        "the older flight did not overwrite the newer value"
    );
    assert_eq!(
        map.stats().inserts,
        1,
        "the invalidated flight's value is not counted"
    );
}

/// Async flights and capacity 0 / ttl 0: waiters take the value from the flight and never run
/// their own constructor, although nothing is stored.
#[test]
fn async_waiters_take_the_flights_value_with_capacity_zero_and_ttl_zero() {
    let clock = ManualClock::new();
    let maps: [TtlMap<u32, u32>; 2] = [
        TtlMap::builder()
            .ttl(HOUR)
            .capacity(0)
            .clock(clock.clone())
            .build(),
        TtlMap::builder()
            .ttl(Duration::ZERO)
            .clock(clock.clone())
            .build(),
    ];
    for map in maps {
        let (release, released) = oneshot::channel::<u32>();
        let mut leader =
            Driven::new(map.get_or_insert_with_async(&0, async { released.await.unwrap() }));
        leader.pending();
        let mut waiters: Vec<_> = (0..3)
            .map(|_| {
                Driven::new(map.get_or_insert_with_async(&0, async { unreachable!("own run") }))
            })
            .collect();
        waiters.iter_mut().for_each(Driven::pending);
        release.send(4).unwrap();
        assert_eq!(leader.ready(), 4);
        for w in &mut waiters {
            assert_eq!(w.ready(), 4);
        }
        assert_eq!(map.get(&0), None);
        map.sweep(); // `len` counts expired entries not yet removed (documented)
        assert_eq!(map.len(), 0);
    }
}

// =============================================================================================
// (2) Re-entrant async for other keys, one shard, recursion
// =============================================================================================

/// Async recursion through the map for other keys, all in one shard (a map with a capacity
/// keeps one shard), with waiters on every level from other tasks: fib(40) memoized, every
/// key built once, nobody hangs.
#[test]
fn async_recursion_for_other_keys_in_one_shard_with_waiters() {
    fn fib(
        map: TtlMap<u64, u64>,
        runs: Arc<AtomicUsize>,
        n: u64,
    ) -> Pin<Box<dyn Future<Output = u64> + Send>> {
        Box::pin(async move {
            let m = map.clone();
            map.get_or_insert_with_async(&n, async move {
                runs.fetch_add(1, SeqCst);
                tokio::task::yield_now().await;
                if n < 2 {
                    n
                } else {
                    fib(m.clone(), Arc::clone(&runs), n - 1).await + fib(m, runs, n - 2).await
                }
            })
            .await
        })
    }
    let rt = two_worker_runtime();
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(HOUR).capacity(64).build();
    let runs = Arc::new(AtomicUsize::new(0));
    let got = rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(fib(map.clone(), Arc::clone(&runs), 40 - (i % 3))))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(
                tokio::time::timeout(GUARD, t)
                    .await
                    .expect("no hang")
                    .unwrap(),
            );
        }
        out
    });
    let fibs = |n: u64| (0..n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0;
    for (i, v) in got.iter().enumerate() {
        assert_eq!(*v, fibs(40 - (i as u64 % 3)));
    }
    assert_eq!(runs.load(SeqCst), 41, "each key built once");
}

// =============================================================================================
// (2) Send
// =============================================================================================

/// The async futures are `Send` when the constructor's future is, for every form (also
/// `optionally_`), with borrowed keys of several shapes, and with an error that is `Send` but
/// not `Sync` in the forms that do not share it.
#[test]
fn every_async_form_is_send_when_its_constructor_is() {
    fn send<T: Send>(_: &T) {}
    let map: TtlMap<String, Arc<str>> = TtlMap::new(HOUR);
    let bytes: TtlMap<Vec<u8>, u8> = TtlMap::new(HOUR);
    let paths: TtlMap<std::path::PathBuf, u8> = TtlMap::new(HOUR);
    let f = map.optionally_get_or_insert_with_async("k", async { Some(Arc::from("v")) });
    send(&f);
    let f =
        map.try_get_or_insert_with_async("k", async { Err::<Arc<str>, Cell<u8>>(Cell::new(1)) });
    send(&f);
    let f = bytes.get_or_insert_with_async(&b"k"[..], async { 1 });
    send(&f);
    let f = paths.get_or_insert_with_async(std::path::Path::new("/k"), async { 1 });
    send(&f);
    // And through a spawned task with a borrowed key held across the await.
    let rt = two_worker_runtime();
    let map2 = map.clone();
    let v = rt.block_on(async move {
        tokio::spawn(async move {
            let key = String::from("s");
            let r = map2
                .try_get_or_insert_with_async(key.as_str(), async {
                    tokio::task::yield_now().await;
                    Ok::<_, Cell<u8>>(Arc::<str>::from("x"))
                })
                .await;
            r.ok().map(|v| v.to_string())
        })
        .await
        .unwrap()
    });
    assert_eq!(v.as_deref(), Some("x"));
}

// =============================================================================================
// (1) Peer ports: moka expiry and stats
// =============================================================================================

/// moka `expire_after_update_none_on_expired_entry`: a value that declares a zero life is
/// never returned; storing the key again with a value that declares no limit makes it
/// readable (the map's own ttl applies). moka counts the expired entry in `entry_count`; our
/// `len` may or may not count an expired, unswept entry, so only reads are compared.
#[test]
fn moka_expire_after_update_none_on_expired_entry() {
    let clock = ManualClock::new();
    let should_expire = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&should_expire);
    let map: TtlMap<String, String> = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .clock(clock.clone())
        .expire_after(move |_, _| flag.load(SeqCst).then_some(Duration::ZERO))
        .build();
    map.insert("test_key".into(), "first_value".into());
    assert_eq!(map.get("test_key"), None, "declared a zero life");
    assert!(!map.contains_key("test_key"));
    should_expire.store(false, SeqCst);
    map.insert("test_key".into(), "second_value".into());
    assert_eq!(map.get("test_key").as_deref(), Some("second_value"));
    assert_eq!(map.len(), 1);
    clock.advance(HOUR);
    assert_eq!(map.get("test_key"), None, "the map's ttl still applies");
}

/// moka's `expire_after` through `get_with` (future): the constructor's value declares its
/// life; with sliding expiry a hit never extends it past that life.
#[test]
fn moka_expire_after_through_the_async_constructor_caps_sliding_hits() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, (u32, Duration)> = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Sliding)
        .clock(clock.clone())
        .expire_after(|_, v: &(u32, Duration)| Some(v.1))
        .build();
    let v = Driven::new(map.get_or_insert_with_async(&1, async { (1, secs(100)) })).ready();
    assert_eq!(v.0, 1);
    clock.advance(secs(50));
    assert!(
        map.get(&1).is_some(),
        "hit at 50 s slides to 110 s, capped at 100 s"
    );
    clock.advance(secs(49));
    assert!(map.get(&1).is_some(), "99 s");
    clock.advance(secs(1));
    assert_eq!(map.get(&1), None, "dead at its declared 100 s");
    let v = Driven::new(map.get_or_insert_with_async(&1, async { (2, secs(100)) })).ready();
    assert_eq!(v.0, 2, "rebuilt after expiry");
    assert_eq!(map.stats().expirations, 1);
}

/// Stats of an async flight with waiters, as moka's `get_with` test counts: every caller
/// whose first lookup missed is a miss; one insert; waiters counted in `coalesced`; a later
/// call is a hit.
#[test]
fn stats_of_an_async_flight_with_waiters() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let (release, released) = oneshot::channel::<u32>();
    let mut leader =
        Driven::new(map.get_or_insert_with_async(&0, async { released.await.unwrap() }));
    leader.pending();
    let mut waiters: Vec<_> = (0..3)
        .map(|_| Driven::new(map.get_or_insert_with_async(&0, async { 9 })))
        .collect();
    waiters.iter_mut().for_each(Driven::pending);
    release.send(1).unwrap();
    assert_eq!(leader.ready(), 1);
    waiters.iter_mut().for_each(|w| assert_eq!(w.ready(), 1));
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&0, async { 9 })).ready(),
        1
    );
    let s = map.stats();
    assert_eq!(
        (
            s.hits,
            s.misses,
            s.inserts,
            s.coalesced,
            s.evictions,
            s.expirations
        ),
        (1, 4, 1, 3, 0, 0)
    );
}

/// moka `invalidate_entries_if` while async flights run: `retain` that keeps everything still
/// invalidates running flights (the spec: once `retain` has returned, no flight that began
/// before it stores its value); the callers get their values.
#[test]
fn moka_retain_during_async_flights_keeps_their_values_out() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    map.insert(0, 0);
    let (release, released) = oneshot::channel::<u32>();
    let mut leader =
        Driven::new(map.get_or_insert_with_async(&1, async { released.await.unwrap() }));
    leader.pending();
    map.retain(|_, _| true);
    release.send(1).unwrap();
    assert_eq!(leader.ready(), 1);
    assert_eq!(map.get(&1), None);
    assert_eq!(map.get(&0), Some(0));
}

/// A waiter task that is dropped (timed out) while the leader runs, and a fresh call after the
/// leader lands: the value is stored once and the fresh call hits; the dropped waiter's
/// constructor never ran.
#[test]
fn dropped_async_waiters_leave_the_flight_alone() {
    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let polled = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let (release, released) = oneshot::channel::<u32>();
        let leader = tokio::spawn({
            let map = map.clone();
            async move {
                map.get_or_insert_with_async(&0, async { released.await.unwrap() })
                    .await
            }
        });
        wait_until_async("leader leads", || map.stats().misses == 1).await;
        for _ in 0..5 {
            let polled = Arc::clone(&polled);
            let waited = tokio::time::timeout(
                Duration::from_millis(1),
                map.get_or_insert_with_async(&0, async move {
                    polled.fetch_add(1, SeqCst);
                    9
                }),
            )
            .await;
            assert!(waited.is_err(), "the waiter times out");
        }
        release.send(3).unwrap();
        assert_eq!(
            tokio::time::timeout(GUARD, leader).await.unwrap().unwrap(),
            3
        );
        assert_eq!(map.get_or_insert_with_async(&0, async { 9 }).await, 3);
    });
    assert_eq!(polled.load(SeqCst), 0);
    assert_eq!(map.stats().inserts, 1);
}

/// After a panicking async leader, a waiter's own attempt (not a flight) must not overwrite an
/// `insert` made while it ran, nor store after a `remove` or `clear` made while it ran.
#[test]
fn an_async_waiters_own_attempt_after_a_leader_panic_loses_to_insert_and_remove() {
    for invalidate in ["insert", "remove", "clear"] {
        let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
        let (boom, armed) = oneshot::channel::<()>();
        let mut leader = Driven::new(map.get_or_insert_with_async(&0, async move {
            armed.await.unwrap();
            panic!("constructor panicked");
        }));
        leader.pending();
        let (release, released) = oneshot::channel::<u32>();
        let attempts = AtomicUsize::new(0);
        let mut waiter = Driven::new(map.get_or_insert_with_async(&0, async {
            attempts.fetch_add(1, SeqCst);
            released.await.unwrap()
        }));
        waiter.pending();
        boom.send(()).unwrap();
        assert!(catch_unwind(AssertUnwindSafe(|| leader.poll())).is_err());
        drop(leader);
        waiter.pending(); // its own attempt, pending on `released`
        assert_eq!(attempts.load(SeqCst), 1);
        match invalidate {
            "insert" => {
                map.insert(0, 50);
            }
            "remove" => {
                map.remove(&0);
            }
            _ => map.clear(),
        }
        release.send(7).unwrap();
        assert_eq!(waiter.ready(), 7);
        let expected = if invalidate == "insert" {
            Some(50)
        } else {
            None
        };
        assert_eq!(
            map.get(&0),
            expected,
            "{invalidate} during the attempt wins"
        );
    }
}

/// A waiter future that is dropped (timed out, its request cancelled) must not keep its
/// task's waker, and so its task, alive until the leader lands: under a leader that hangs,
/// timed-out waiters from many tasks would otherwise pile up without bound (moka's waiters
/// and quick_cache's guards release theirs when dropped).
#[test]
fn dropped_async_waiters_release_their_wakers() {
    let map: TtlMap<u32, u32> = TtlMap::new(HOUR);
    let mut leader = Driven::new(map.get_or_insert_with_async(&0, std::future::pending()));
    leader.pending();
    let mut weak = Vec::new();
    for _ in 0..1000 {
        let mut waiter = Driven::new(map.get_or_insert_with_async(&0, async { 1 }));
        waiter.pending();
        weak.push(waiter.weak_waker());
        drop(waiter);
    }
    assert_eq!(map.stats().coalesced, 1000);
    let retained = weak.iter().filter(|w| w.upgrade().is_some()).count();
    drop(leader);
    assert_eq!(
        retained, 0,
        "wakers (tasks) of dropped waiters retained by the flight"
    );
}

/// moka `test_expiry_using_get_with` / Caffeine: a memoized value's life starts when it is
/// stored, not when its constructor started: a constructor that takes longer than the ttl
/// still stores a value that lives one ttl.
#[test]
fn a_slow_async_constructors_value_lives_one_ttl_from_its_landing() {
    for expiry in [Expiry::Fixed, Expiry::Sliding] {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(secs(60))
            .expiry(expiry)
            .clock(clock.clone())
            .build();
        let (release, released) = oneshot::channel::<u32>();
        let mut leader =
            Driven::new(map.get_or_insert_with_async(&0, async { released.await.unwrap() }));
        leader.pending();
        clock.advance(secs(100));
        release.send(1).unwrap();
        assert_eq!(leader.ready(), 1);
        assert_eq!(
            map.get(&0),
            Some(1),
            "{expiry:?}: stored at 100 s, lives until 160 s"
        );
        clock.advance(secs(59));
        assert_eq!(map.get(&0), Some(1), "{expiry:?}");
    }
}

/// Stress on two workers: 16 tasks memoize 12 keys with constructors that yield, fail (shared
/// or not), return `None`, panic, or are cancelled by a tiny timeout, while a thread removes,
/// inserts and clears. No call may hang, every value must belong to its key, and afterwards no
/// flight may be left registered: a fresh call per key leads at once (no wait is counted).
#[test]
fn async_stress_with_cancellation_panics_failures_and_invalidation_leaves_no_flight_behind() {
    const KEYS: u32 = 12;
    let rt = two_worker_runtime();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(HOUR).capacity(8).build();
    let stop = Arc::new(AtomicBool::new(false));
    let invalidator = {
        let (map, stop) = (map.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(SeqCst) {
                match i % 3 {
                    0 => drop(map.remove(&(i % KEYS))),
                    1 => drop(map.insert(i % KEYS, (i % KEYS) * 1000 + 999)),
                    _ => map.clear(),
                }
                i = i.wrapping_add(1);
                thread::yield_now();
            }
        })
    };
    let outcome = rt.block_on(async {
        let tasks: Vec<_> = (0..16u32)
            .map(|t| {
                let map = map.clone();
                tokio::spawn(async move {
                    for i in 0..400u32 {
                        let key = (t * 7 + i) % KEYS;
                        let yields = (t + i) % 4;
                        let make = move |v: u32| async move {
                            for _ in 0..yields {
                                tokio::task::yield_now().await;
                            }
                            key * 1000 + v
                        };
                        let check = |v: u32| assert_eq!(v / 1000, key, "a value of another key");
                        match (t + i) % 6 {
                            0 => check(map.get_or_insert_with_async(&key, make(1)).await),
                            1 => {
                                let init = async move { Err::<u32, u32>(make(2).await) };
                                if let Ok(v) =
                                    map.try_get_or_insert_with_shared_async(&key, init).await
                                {
                                    check(v)
                                }
                            }
                            2 => {
                                let init =
                                    async move { Err::<u32, String>(make(3).await.to_string()) };
                                if let Ok(v) = map.try_get_or_insert_with_async(&key, init).await {
                                    check(v)
                                }
                            }
                            3 => {
                                let init =
                                    async move { Some(make(4).await).filter(|v| v % 2 == 0) };
                                if let Some(v) =
                                    map.optionally_get_or_insert_with_async(&key, init).await
                                {
                                    check(v)
                                }
                            }
                            4 => {
                                let fut = map.get_or_insert_with_async(&key, make(5));
                                if let Ok(v) =
                                    tokio::time::timeout(Duration::from_micros(50), fut).await
                                {
                                    check(v)
                                }
                            }
                            _ => {
                                let m = map.clone();
                                let panicky = tokio::spawn(async move {
                                    m.get_or_insert_with_async(&key, async move {
                                        tokio::task::yield_now().await;
                                        panic!("constructor panicked")
                                    })
                                    .await
                                });
                                if let Ok(v) = panicky.await {
                                    check(v)
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        let mut failed = None;
        for task in tasks {
            match tokio::time::timeout(GUARD, task).await {
                Err(_) => return Err("a task hung".to_string()),
                Ok(Err(e)) if failed.is_none() => failed = Some(e.to_string()),
                Ok(_) => {}
            }
        }
        failed.map_or(Ok(()), Err)
    });
    stop.store(true, SeqCst);
    invalidator.join().unwrap();
    outcome.unwrap();
    for (key, value) in map.iter() {
        assert_eq!(value / 1000, key);
    }
    map.clear();
    let before = map.stats().coalesced;
    for key in 0..KEYS {
        let fresh =
            Driven::new(map.get_or_insert_with_async(&key, async move { key * 1000 + 7 })).ready();
        assert_eq!(fresh, key * 1000 + 7, "a fresh call leads at once");
    }
    assert_eq!(
        map.stats().coalesced,
        before,
        "no flight was left registered"
    );
}

/// moka `test_expiry_using_get_with` (future): the value's life is asked for once per value
/// created through the async constructor (also with waiters: once per flight, not per
/// caller), never on a hit, and again after an invalidation and a new construction.
#[test]
fn moka_expiry_using_get_with_async() {
    let creations = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&creations);
    let map: TtlMap<&'static str, &'static str> = TtlMap::builder()
        .ttl(HOUR)
        .capacity(100)
        .expire_after(move |_, _| {
            counted.fetch_add(1, SeqCst);
            None
        })
        .build();
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&"a", async { "alice" })).ready(),
        "alice"
    );
    assert_eq!(creations.load(SeqCst), 1);
    assert_eq!(
        Driven::new(map.get_or_insert_with_async(&"a", async { "alex" })).ready(),
        "alice"
    );
    assert_eq!(creations.load(SeqCst), 1, "a hit asks nothing");
    map.remove(&"a");
    let (release, released) = oneshot::channel::<&'static str>();
    let mut leader =
        Driven::new(map.get_or_insert_with_async(&"a", async { released.await.unwrap() }));
    leader.pending();
    let mut waiters: Vec<_> = (0..3)
        .map(|_| Driven::new(map.get_or_insert_with_async(&"a", async { "x" })))
        .collect();
    waiters.iter_mut().for_each(Driven::pending);
    release.send("amanda").unwrap();
    assert_eq!(leader.ready(), "amanda");
    waiters
        .iter_mut()
        .for_each(|w| assert_eq!(w.ready(), "amanda"));
    assert_eq!(creations.load(SeqCst), 2, "once per stored value");
}

/// Listener causes from async landings (moka `test_removal_notifications`, async): a landing
/// that exceeds the capacity evicts (`Capacity`), one over an expired entry of its key reports
/// `Expired`, and a listener may memoize on the map (also the evicted key) from inside the
/// landing without deadlock.
#[test]
fn listener_causes_from_async_landings_and_a_listener_that_memoizes() {
    use cache_core::Reason;
    let clock = ManualClock::new();
    let heard = Arc::new(std::sync::Mutex::new(Vec::<(u32, u32, Reason)>::new()));
    let slot: Arc<std::sync::OnceLock<TtlMap<u32, u32>>> = Arc::default();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Fixed)
        .capacity(2)
        .clock(clock.clone())
        .on_evict({
            let (heard, slot) = (Arc::clone(&heard), Arc::clone(&slot));
            move |k: &u32, v: &u32, reason| {
                heard.lock().unwrap().push((*k, *v, reason));
                if reason == Reason::Capacity && *k == 1 {
                    // Memoize from inside the listener, for another key and the evicted one.
                    let map = slot.get().unwrap();
                    assert_eq!(map.get_or_insert_with(&100, || 100), 100);
                }
            }
        })
        .build();
    slot.set(map.clone()).ok().unwrap();
    let outcome = within(HANG, {
        let map = map.clone();
        let clock = clock.clone();
        move || {
            let run = |k: u32, v: u32| {
                Driven::new(map.get_or_insert_with_async(&k, async move { v })).ready()
            };
            run(1, 10);
            clock.advance(secs(1));
            run(2, 20);
            clock.advance(secs(1));
            run(3, 30); // evicts 1 (oldest insert); the listener memoizes 100, evicting 2
            clock.advance(secs(60));
            run(3, 31); // 3 expired: stored over it
        }
    });
    outcome.expect("no deadlock in the listener").unwrap();
    let heard = heard.lock().unwrap().clone();
    assert!(heard.contains(&(1, 10, Reason::Capacity)), "{heard:?}");
    assert!(heard.contains(&(3, 30, Reason::Expired)), "{heard:?}");
    assert_eq!(map.get(&3), Some(31));
    assert!(map.len() <= 2);
}

/// A constructor whose future is not `Send` (holds an `Rc` across an await) still works, on a
/// `LocalSet`, with a waiter in another local task sharing its value.
#[test]
fn a_non_send_constructor_works_on_a_local_set_with_a_waiter() {
    let rt = current_thread();
    let local = tokio::task::LocalSet::new();
    let map: TtlMap<String, u64> = TtlMap::new(HOUR);
    let (leader, waiter) = local.block_on(&rt, async {
        let (release, released) = oneshot::channel::<u64>();
        let leader = tokio::task::spawn_local({
            let map = map.clone();
            async move {
                let init = async move {
                    let rc = std::rc::Rc::new(released.await.unwrap());
                    tokio::task::yield_now().await;
                    *rc
                };
                map.get_or_insert_with_async("k", init).await
            }
        });
        wait_until_async("the leader leads", || map.stats().misses == 1).await;
        let waiter = tokio::task::spawn_local({
            let map = map.clone();
            async move { map.get_or_insert_with_async("k", async { 2 }).await }
        });
        wait_until_async("the waiter waits", || map.stats().coalesced == 1).await;
        release.send(1).unwrap();
        let leader = tokio::time::timeout(GUARD, leader).await.unwrap().unwrap();
        let waiter = tokio::time::timeout(GUARD, waiter).await.unwrap().unwrap();
        (leader, waiter)
    });
    assert_eq!((leader, waiter), (1, 1));
}
