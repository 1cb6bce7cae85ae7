//! Review 13, async: the async memoizing forms (`get_or_insert_with_async`,
//! `try_get_or_insert_with_async`, `try_get_or_insert_with_shared_async`,
//! `optionally_get_or_insert_with_async`) and `#[ttl_cached]` on an `async fn`, attacked as
//! async users drive them: futures dropped at every await point, leaders polled from one thread
//! after another, sync waiters beside async ones, sync calls inside async constructors,
//! constructors that panic on one thread and are dropped on another, wakers whose `clone`
//! panics, waiters dropped right after the landing, a runtime dropped by a thread's
//! destructors, `spawn_blocking` constructors, 10,000 waiters on one key, invalidation, and
//! freshness, with the counters checked exactly.
//!
//! Not repeated (covered in `ported_async_peers.rs`, `review11_mix.rs`, `review12_hooks.rs`,
//! `attack_promises.rs`): runtime drops on their own thread, waker panics at the landing,
//! re-entry from the constructor's own task, `block_on` inside constructors.
//!
//! Found: re-polling or cancelling N waiters of one flight cost O(N^2) (`mod many_waiters`,
//! fixed). Held:
//! everything else tried here, including a panicking constructor whose poisoned future is kept
//! (unwinding out of the call's `async fn` drops its ticket, so waiters are woken at once).

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::thread;
use std::time::Duration;

use cache_core::{ManualClock, TtlMap, ttl_cached};
use tests::{Driven, counts, panic_message, two_worker_runtime, wait_until};

const HOUR: Duration = Duration::from_secs(3600);

/// A future pending until `open` is set (polled again by hand or by a waker-less spin).
fn gate(open: Arc<AtomicBool>) -> impl Future<Output = ()> + Send {
    poll_fn(move |cx| {
        if open.load(SeqCst) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// A future pending exactly once: an await point.
fn step() -> impl Future<Output = ()> + Send {
    let mut done = false;
    poll_fn(move |_| {
        if std::mem::replace(&mut done, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// A value that counts its live copies, to see that the map gives every copy back.
#[derive(Debug)]
struct Tracked {
    n: u64,
    live: Arc<AtomicUsize>,
}

impl Tracked {
    fn new(n: u64, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, SeqCst);
        Tracked {
            n,
            live: Arc::clone(live),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.n, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, SeqCst);
    }
}

/// `[hits, misses, inserts, coalesced]`.
fn main_counts<K, V>(map: &TtlMap<K, V>) -> [u64; 4] {
    let c = counts(map);
    [c[0], c[1], c[2], c[5]]
}

/// 10,000 async waiters on one key, each its own task (its own waker): the constructor runs
/// once, every waiter is woken exactly once and gets the value, the counters are exact, and once
/// the waiters are done every copy of the value but the map's is gone, and no waker is kept.
#[test]
fn ten_thousand_async_waiters_one_run_each_woken_once_counts_exact_copies_given_back() {
    const N: usize = 10_000;
    let live = Arc::new(AtomicUsize::new(0));
    let map: TtlMap<u32, Tracked> = TtlMap::new(HOUR);
    let runs = AtomicUsize::new(0);
    let open = Arc::new(AtomicBool::new(false));
    let mut leader = Driven::new(map.get_or_insert_with_async(&1, async {
        runs.fetch_add(1, SeqCst);
        gate(Arc::clone(&open)).await;
        Tracked::new(42, &live)
    }));
    leader.pending();
    let mut waiters: Vec<_> = (0..N)
        .map(|_| {
            Driven::new(map.get_or_insert_with_async(&1, async {
                runs.fetch_add(1, SeqCst);
                Tracked::new(0, &live)
            }))
        })
        .collect();
    for w in &mut waiters {
        w.pending();
    }
    assert_eq!(main_counts(&map), [0, N as u64 + 1, 0, N as u64]);
    assert!(
        waiters.iter().all(|w| w.wakes() == 0),
        "woken before the landing"
    );
    open.store(true, SeqCst);
    assert_eq!(leader.ready().n, 42);
    assert!(
        waiters.iter().all(|w| w.wakes() == 1),
        "each waiter woken exactly once"
    );
    assert!(
        waiters.iter().all(|w| w.weak_waker().strong_count() == 1),
        "the flight keeps no waker after its landing"
    );
    for w in &mut waiters {
        assert_eq!(w.ready().n, 42);
    }
    assert_eq!(runs.load(SeqCst), 1, "one constructor run for 10,001 calls");
    drop(waiters);
    drop(leader);
    assert_eq!(live.load(SeqCst), 1, "only the map's copy is left");
    assert_eq!(main_counts(&map), [0, N as u64 + 1, 1, N as u64]);
    drop(map);
    assert_eq!(live.load(SeqCst), 0);
}

/// A leader dropped after each of its await points, with a sync waiter blocked on another
/// thread and an async waiter: exactly one of them leads next (one more constructor run), the
/// other gets that run's value, and the counters count three calls, two waits.
#[test]
fn a_leader_dropped_at_each_await_point_hands_over_to_one_sync_or_async_waiter() {
    const STEPS: usize = 4;
    for drop_after in 1..=STEPS {
        let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
        let runs = Arc::new(AtomicUsize::new(0));
        let mut leader = Driven::new({
            let runs = Arc::clone(&runs);
            let map = map.clone();
            async move {
                map.get_or_insert_with_async(&1, async move {
                    runs.fetch_add(1, SeqCst);
                    for _ in 0..STEPS {
                        step().await;
                    }
                    1
                })
                .await
            }
        });
        for _ in 0..drop_after {
            leader.pending();
        }
        let sync_waiter = {
            let (map, runs) = (map.clone(), Arc::clone(&runs));
            thread::spawn(move || {
                map.get_or_insert_with(&1, || {
                    runs.fetch_add(1, SeqCst);
                    2
                })
            })
        };
        wait_until("the sync waiter waits", || map.stats().coalesced == 1);
        let mut async_waiter = Driven::new({
            let (map, runs) = (map.clone(), Arc::clone(&runs));
            async move {
                map.get_or_insert_with_async(&1, async move {
                    runs.fetch_add(1, SeqCst);
                    step().await;
                    3
                })
                .await
            }
        });
        async_waiter.pending();
        assert_eq!(map.stats().coalesced, 2);
        drop(leader);
        // Drive the async waiter until it has its value: it may lead (and the sync thread
        // waits for it) or wait for the sync thread's run.
        let mut from_async = None;
        wait_until("the async waiter finishes", || {
            if let Poll::Ready(v) = async_waiter.poll() {
                from_async = Some(v);
            }
            from_async.is_some()
        });
        let from_sync = sync_waiter.join().unwrap();
        let from_async = from_async.unwrap();
        assert_eq!(
            from_sync, from_async,
            "after drop {drop_after}: one new leader"
        );
        assert!(from_sync == 2 || from_sync == 3);
        assert_eq!(runs.load(SeqCst), 2, "the dropped run and one more");
        assert_eq!(map.get(&1), Some(from_sync));
        assert_eq!(main_counts(&map), [1, 3, 1, 2], "after drop {drop_after}");
    }
}

/// A leader's future polled on thread A, then on thread B, then finished on the test's thread:
/// a sync call on A once B polls it waits (it is not refused), one on B while B polled it last
/// is refused with its message and not counted as a wait, and the constructor runs once.
#[test]
fn a_leader_polled_on_one_thread_after_another_keeps_its_flight_and_judges_sync_calls_by_the_last()
{
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let runs = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let leader = {
        let (map, runs, open) = (map.clone(), Arc::clone(&runs), Arc::clone(&open));
        Driven::new(async move {
            map.get_or_insert_with_async(&1, async move {
                runs.fetch_add(1, SeqCst);
                step().await;
                step().await;
                gate(open).await;
                7
            })
            .await
        })
    };
    let (to_a, on_a) = mpsc::channel::<Driven<_>>();
    let (from_a, back_from_a) = mpsc::channel();
    let (go_sync, sync_go) = mpsc::channel::<()>();
    let thread_a = {
        let map = map.clone();
        thread::spawn(move || {
            let mut leader = on_a.recv().unwrap();
            leader.pending();
            from_a.send(leader).unwrap();
            sync_go.recv().unwrap();
            // B polls the leader by now: this waits.
            map.get_or_insert_with(&1, || 99)
        })
    };
    to_a.send(leader).unwrap();
    let leader = back_from_a.recv().unwrap();
    let (leader, refused) = {
        let map = map.clone();
        thread::spawn(move || {
            let mut leader = leader;
            leader.pending();
            let refused = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with(&1, || 98)));
            (leader, refused.map_err(|p| panic_message(&*p).to_owned()))
        })
        .join()
        .unwrap()
    };
    let message = refused.expect_err("B polls the constructor: its sync call is refused");
    assert!(
        message.contains("async constructor this same thread polls"),
        "{message}"
    );
    assert_eq!(map.stats().coalesced, 0, "a refused call is not a wait");
    go_sync.send(()).unwrap();
    wait_until("A waits", || map.stats().coalesced == 1);
    let mut leader = leader;
    leader.pending();
    open.store(true, SeqCst);
    assert_eq!(leader.ready(), 7);
    assert_eq!(thread_a.join().unwrap(), 7);
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(main_counts(&map), [0, 3, 1, 1]);
}

/// An async constructor that makes a sync call for another key whose sync constructor runs on
/// another thread: it waits for it (blocking its thread, as documented for sync calls), and
/// every caller of both keys gets one run's value, sync and async waiters alike.
#[test]
fn an_async_constructor_waiting_in_a_sync_call_for_another_key_led_elsewhere() {
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let (release, released) = mpsc::channel::<()>();
    let runs = Arc::new(AtomicUsize::new(0));
    let other = {
        let (map, runs) = (map.clone(), Arc::clone(&runs));
        thread::spawn(move || {
            map.get_or_insert_with(&2, || {
                runs.fetch_add(1, SeqCst);
                released.recv().unwrap();
                20
            })
        })
    };
    wait_until("key 2 is led", || map.stats().misses == 1);
    let leader = {
        let (map, runs) = (map.clone(), Arc::clone(&runs));
        thread::spawn(move || {
            let inner = map.clone();
            tests::block_on(map.get_or_insert_with_async(&1, async move {
                runs.fetch_add(1, SeqCst);
                step().await;
                let two = inner.get_or_insert_with(&2, || 0);
                step().await;
                two + 1
            }))
        })
    };
    wait_until("key 1's constructor waits for 2", || {
        map.stats().coalesced == 1
    });
    let sync_one = {
        let map = map.clone();
        thread::spawn(move || map.get_or_insert_with(&1, || 0))
    };
    wait_until("a sync caller waits for 1", || map.stats().coalesced == 2);
    let mut async_one = Driven::new(map.get_or_insert_with_async(&1, async { 0 }));
    async_one.pending();
    release.send(()).unwrap();
    assert_eq!(other.join().unwrap(), 20);
    assert_eq!(leader.join().unwrap(), 21);
    assert_eq!(sync_one.join().unwrap(), 21);
    wait_until("the async waiter is woken", || async_one.wakes() == 1);
    assert_eq!(async_one.ready(), 21);
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(main_counts(&map), [0, 5, 2, 3]);
}

/// A constructor that panics while polled on thread A, whose future is dropped on thread B:
/// its sync and async waiters each make their own attempt at once, in parallel (each attempt
/// waits until the other has started), and each call is counted once.
#[test]
fn a_constructor_panicking_on_one_thread_dropped_on_another_sends_waiters_to_parallel_attempts() {
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let attempting = Arc::new(AtomicUsize::new(0));
    let boom = Arc::new(AtomicBool::new(false));
    let leader = {
        let (map, boom) = (map.clone(), Arc::clone(&boom));
        Driven::new(async move {
            map.get_or_insert_with_async(&1, async move {
                gate(boom).await;
                panic!("constructor fails");
            })
            .await
        })
    };
    let (leader_back, leader_here) = mpsc::channel();
    let (go, went) = mpsc::channel::<()>();
    let thread_a = thread::spawn(move || {
        let mut leader = leader;
        leader.pending();
        went.recv().unwrap();
        let panic = catch_unwind(AssertUnwindSafe(|| leader.poll())).expect_err("it panics");
        assert_eq!(panic_message(&*panic), "constructor fails");
        leader_back.send(leader).unwrap();
    });
    wait_until("the leader leads", || map.stats().misses == 1);
    let sync_waiter = {
        let (map, attempting) = (map.clone(), Arc::clone(&attempting));
        thread::spawn(move || {
            map.get_or_insert_with(&1, || {
                attempting.fetch_add(1, SeqCst);
                wait_until("the async attempt starts too", || {
                    attempting.load(SeqCst) == 2
                });
                2
            })
        })
    };
    wait_until("the sync waiter waits", || map.stats().coalesced == 1);
    let mut async_waiter = Driven::new({
        let (map, attempting) = (map.clone(), Arc::clone(&attempting));
        async move {
            map.get_or_insert_with_async(&1, async move {
                attempting.fetch_add(1, SeqCst);
                poll_fn(|cx| {
                    if attempting.load(SeqCst) == 2 {
                        Poll::Ready(3)
                    } else {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                })
                .await
            })
            .await
        }
    });
    async_waiter.pending();
    boom.store(true, SeqCst);
    go.send(()).unwrap();
    let leader = leader_here.recv().unwrap();
    thread_a.join().unwrap();
    thread::spawn(move || drop(leader)).join().unwrap();
    let mut from_async = None;
    wait_until("the async attempt ends", || {
        if let Poll::Ready(v) = async_waiter.poll() {
            from_async = Some(v);
        }
        from_async.is_some()
    });
    assert_eq!(from_async, Some(3));
    assert_eq!(sync_waiter.join().unwrap(), 2);
    assert_eq!(attempting.load(SeqCst), 2);
    let held = map.get(&1);
    assert!(held == Some(2) || held == Some(3), "{held:?}");
    // hits: the `get` above.
    assert_eq!(main_counts(&map), [1, 3, 1, 2]);
}

/// `select!`-style: waiters dropped right after the leader lands (woken, never polled again),
/// or raced by tokio's `select!` against a signal sent as the leader lands: no copy of the value
/// outlives the map's, every call is counted once, and those that won got the leader's value.
#[test]
fn waiters_dropped_right_after_the_landing_leave_no_copy_and_count_once() {
    let live = Arc::new(AtomicUsize::new(0));
    let map: TtlMap<u32, Tracked> = TtlMap::new(HOUR);
    let open = Arc::new(AtomicBool::new(false));
    let mut leader = Driven::new(map.get_or_insert_with_async(&1, async {
        gate(Arc::clone(&open)).await;
        Tracked::new(5, &live)
    }));
    leader.pending();
    let mut waiters: Vec<_> = (0..8)
        .map(|_| Driven::new(map.get_or_insert_with_async(&1, async { Tracked::new(0, &live) })))
        .collect();
    waiters.iter_mut().for_each(Driven::pending);
    open.store(true, SeqCst);
    assert_eq!(leader.ready().n, 5);
    drop(leader);
    assert!(waiters.iter().all(|w| w.wakes() == 1));
    drop(waiters);
    assert_eq!(live.load(SeqCst), 1, "the map's copy only");
    assert_eq!(main_counts(&map), [0, 9, 1, 8]);
    drop(map);
    assert_eq!(live.load(SeqCst), 0);

    // The same on a runtime, through `select!`.
    let rt = two_worker_runtime();
    for round in 0..20u32 {
        let map: TtlMap<u32, Tracked> = TtlMap::new(HOUR);
        let signal = Arc::new(tokio::sync::Notify::new());
        let (land, landing) = tokio::sync::oneshot::channel::<()>();
        let leader = {
            let (map, live) = (map.clone(), Arc::clone(&live));
            rt.spawn(async move {
                map.get_or_insert_with_async(&round, async move {
                    landing.await.unwrap();
                    Tracked::new(u64::from(round), &live)
                })
                .await
                .n
            })
        };
        wait_until("the leader leads", || map.stats().misses == 1);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (map, signal, live) = (map.clone(), Arc::clone(&signal), Arc::clone(&live));
                rt.spawn(async move {
                    tokio::select! {
                        v = map.get_or_insert_with_async(&round, async { Tracked::new(999, &live) }) => Some(v.n),
                        () = signal.notified() => None,
                    }
                })
            })
            .collect();
        wait_until("all wait", || map.stats().coalesced == 50);
        land.send(()).unwrap();
        signal.notify_waiters();
        let got: Vec<_> = rt.block_on(async {
            let mut got = Vec::new();
            for t in tasks {
                got.push(t.await.unwrap());
            }
            got
        });
        assert_eq!(rt.block_on(leader).unwrap(), u64::from(round));
        assert!(
            got.iter().flatten().all(|&v| v == u64::from(round)),
            "{got:?}"
        );
        assert_eq!(live.load(SeqCst), 1, "round {round}: the map's copy only");
        assert_eq!(main_counts(&map), [0, 51, 1, 50]);
        drop(map);
        assert_eq!(live.load(SeqCst), 0);
    }
}

thread_local! {
    static RUNTIME: std::cell::RefCell<Option<tokio::runtime::Runtime>> =
        const { std::cell::RefCell::new(None) };
}

/// A current-thread runtime kept in a thread-local, with a leader and async waiters pending in
/// its tasks, dropped by the thread's destructors as the thread ends: the leader's flight lands
/// abandoned from there, and a sync waiter on another thread leads and stores its value.
#[test]
fn a_runtime_dropped_by_thread_local_destructors_hands_its_flight_to_a_sync_waiter() {
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let owner = {
        let map = map.clone();
        thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for i in 0..10 {
                let map = map.clone();
                rt.spawn(async move {
                    map.get_or_insert_with_async(&1, async move {
                        std::future::pending::<()>().await;
                        i
                    })
                    .await
                });
            }
            rt.block_on(async {
                tests::wait_until_async("all ten in", || map.stats().misses == 10).await;
            });
            RUNTIME.with(|r| *r.borrow_mut() = Some(rt));
        })
    };
    wait_until("the tasks are in", || map.stats().coalesced == 9);
    let sync_waiter = {
        let map = map.clone();
        thread::spawn(move || map.get_or_insert_with(&1, || 100))
    };
    // The owner may end before or after the sync waiter joins.
    owner.join().unwrap();
    assert_eq!(sync_waiter.join().unwrap(), 100);
    assert_eq!(map.get(&1), Some(100));
    let [hits, misses, inserts, coalesced] = main_counts(&map);
    assert_eq!([hits, misses, inserts], [1, 11, 1]);
    assert!(coalesced == 9 || coalesced == 10, "{coalesced}");
}

/// Async constructors that hand their work to `spawn_blocking`, which makes sync calls for
/// other keys of the same map: 64 tasks over 4 keys run each async and each sync constructor
/// once per key, on a 2-worker runtime.
#[test]
fn spawn_blocking_constructors_using_the_sync_api_for_other_keys_run_once_per_key() {
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let async_runs = Arc::new(AtomicUsize::new(0));
    let sync_runs = Arc::new(AtomicUsize::new(0));
    let rt = two_worker_runtime();
    let tasks: Vec<_> = (0..64u32)
        .map(|i| {
            let (map, async_runs, sync_runs) =
                (map.clone(), Arc::clone(&async_runs), Arc::clone(&sync_runs));
            rt.spawn(async move {
                let k = i % 4;
                let inner = map.clone();
                map.get_or_insert_with_async(&k, async move {
                    async_runs.fetch_add(1, SeqCst);
                    tokio::task::spawn_blocking(move || {
                        let base = inner.get_or_insert_with(&(k + 100), || {
                            sync_runs.fetch_add(1, SeqCst);
                            u64::from(k) * 10
                        });
                        base + 1
                    })
                    .await
                    .unwrap()
                })
                .await
            })
        })
        .collect();
    let got = rt.block_on(async {
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap());
        }
        got
    });
    for (i, v) in got.iter().enumerate() {
        assert_eq!(*v, (i as u64 % 4) * 10 + 1);
    }
    assert_eq!(async_runs.load(SeqCst), 4);
    assert_eq!(sync_runs.load(SeqCst), 4);
    let [hits, misses, inserts, coalesced] = main_counts(&map);
    assert_eq!(hits + misses, 64 + 4);
    assert_eq!(inserts, 8);
    assert_eq!(misses, 8 + coalesced);
}

/// `remove`, `clear` and `insert` while an async flight has sync and async waiters: every caller
/// of the flight gets its value, which is not stored (an inserted value stays), and a caller
/// after the invalidation starts a flight of its own instead of joining the old one.
#[test]
fn invalidation_during_an_async_flight_with_sync_and_async_waiters() {
    for how in ["remove", "clear", "insert"] {
        let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
        let open = Arc::new(AtomicBool::new(false));
        let mut leader = Driven::new(map.get_or_insert_with_async(&1, {
            let open = Arc::clone(&open);
            async move {
                gate(open).await;
                10
            }
        }));
        leader.pending();
        let sync_waiter = {
            let map = map.clone();
            thread::spawn(move || map.get_or_insert_with(&1, || 0))
        };
        wait_until("the sync waiter waits", || map.stats().coalesced == 1);
        let mut async_waiter = Driven::new(map.get_or_insert_with_async(&1, async { 0 }));
        async_waiter.pending();
        match how {
            "remove" => assert_eq!(map.remove(&1), None),
            "clear" => map.clear(),
            _ => assert_eq!(map.insert(1, 50), None),
        }
        let mut later = Driven::new(map.get_or_insert_with_async(&1, async {
            step().await;
            30
        }));
        let expected_later = if how == "insert" {
            later.ready()
        } else {
            later.pending();
            later.ready()
        };
        open.store(true, SeqCst);
        assert_eq!(leader.ready(), 10, "{how}");
        assert_eq!(sync_waiter.join().unwrap(), 10, "{how}");
        assert_eq!(async_waiter.ready(), 10, "{how}");
        let (held, later_value) = match how {
            "insert" => (50, 50),
            _ => (30, 30),
        };
        assert_eq!(expected_later, later_value, "{how}: the later call");
        assert_eq!(
            map.get(&1),
            Some(held),
            "{how}: the old flight did not store"
        );
    }
}

/// `stale_if_error` through `optionally_get_or_insert_with_async` and the shared async form:
/// a rebuild of an expired value that declines (`None`) or fails gives the leader and its sync
/// and async waiters the last value, each counted in `stale_served`; `get` never does.
#[test]
fn stale_if_error_serves_the_last_value_to_an_async_leader_and_all_its_waiters() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(30))
        .clock(clock.clone())
        .build();
    map.insert(1, 7);
    clock.advance(Duration::from_secs(70));
    assert_eq!(map.get(&1), None);
    for shared in [false, true] {
        let open = Arc::new(AtomicBool::new(false));
        let before = map.stats().stale_served;
        let got = {
            let o = Arc::clone(&open);
            let mut leader: Driven<Pin<Box<dyn Future<Output = Option<u32>> + Send + '_>>> =
                if shared {
                    Driven::new(Box::pin(async {
                        let r: Result<u32, Arc<&str>> = map
                            .try_get_or_insert_with_shared_async(&1, async move {
                                gate(o).await;
                                Err("down")
                            })
                            .await;
                        r.ok()
                    }))
                } else {
                    Driven::new(Box::pin(map.optionally_get_or_insert_with_async(
                        &1,
                        async move {
                            gate(o).await;
                            None
                        },
                    )))
                };
            leader.pending();
            let coalesced = map.stats().coalesced;
            let sync_waiter = {
                let map = map.clone();
                thread::spawn(move || {
                    if shared {
                        map.try_get_or_insert_with_shared(&1, || Err::<u32, &str>("never"))
                            .ok()
                    } else {
                        map.optionally_get_or_insert_with(&1, || Some(99))
                    }
                })
            };
            wait_until("the sync waiter waits", || {
                map.stats().coalesced == coalesced + 1
            });
            let mut async_waiter: Driven<Pin<Box<dyn Future<Output = Option<u32>> + Send>>> =
                if shared {
                    let map = map.clone();
                    Driven::new(Box::pin(async move {
                        map.try_get_or_insert_with_shared_async(&1, async {
                            Err::<u32, &str>("never")
                        })
                        .await
                        .ok()
                    }))
                } else {
                    let map = map.clone();
                    Driven::new(Box::pin(async move {
                        map.optionally_get_or_insert_with_async(&1, async { Some(98) })
                            .await
                    }))
                };
            async_waiter.pending();
            open.store(true, SeqCst);
            [
                leader.ready(),
                sync_waiter.join().unwrap(),
                async_waiter.ready(),
            ]
        };
        assert_eq!(got, [Some(7); 3], "shared: {shared}");
        assert_eq!(map.stats().stale_served, before + 3, "shared: {shared}");
        assert_eq!(map.get(&1), None, "get never returns the expired value");
    }
}

static GATE: AtomicBool = AtomicBool::new(false);
static MACRO_RUNS: AtomicUsize = AtomicUsize::new(0);

#[ttl_cached(ttl = "1h", cache = slow_cache)]
async fn slow(k: u32) -> u64 {
    MACRO_RUNS.fetch_add(1, SeqCst);
    step().await;
    poll_fn(|cx| {
        if GATE.load(SeqCst) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
    step().await;
    u64::from(k) * 3
}

/// `#[ttl_cached]` on an `async fn`: three leaders in a row dropped while another call waits
/// (each time that call leads next), then a sync caller of the cache handle on another thread
/// waits for the last one: the body ran once per leader, both get its value, each call counted.
#[test]
fn a_memoized_async_fn_whose_leaders_are_dropped_in_turn_beside_a_sync_caller_of_its_handle() {
    GATE.store(false, SeqCst);
    let mut current = Driven::new(slow(4));
    current.pending();
    for _ in 0..3 {
        let mut next = Driven::new(slow(4));
        next.pending();
        drop(current);
        current = next;
        current.pending(); // It leads now: the body runs again.
    }
    assert_eq!(MACRO_RUNS.load(SeqCst), 4);
    let sync_caller = thread::spawn(|| slow_cache().get_or_insert_with(&4, || 1000));
    wait_until("the sync caller waits", || {
        slow_cache().stats().coalesced == 4
    });
    GATE.store(true, SeqCst);
    let mut from_async = None;
    wait_until("the last call ends", || {
        if let Poll::Ready(v) = current.poll() {
            from_async = Some(v);
        }
        from_async.is_some()
    });
    assert_eq!(from_async, Some(12));
    assert_eq!(sync_caller.join().unwrap(), 12);
    assert_eq!(MACRO_RUNS.load(SeqCst), 4);
    assert_eq!(main_counts(slow_cache()), [0, 5, 1, 4]);
}

/// A waker whose `clone` panics: the panic goes to its poller, and the flight and its other
/// waiters are untouched: they are woken, get the value, and are counted once each.
#[test]
#[allow(unsafe_code)]
fn a_waiter_whose_waker_clone_panics_leaves_the_flight_and_other_waiters_alone() {
    fn raw() -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    static VTABLE: RawWakerVTable =
        RawWakerVTable::new(|_| panic!("waker clone"), |_| {}, |_| {}, |_| {});
    // SAFETY: the vtable's functions ignore the null data pointer.
    let bad = unsafe { Waker::from_raw(raw()) };
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let open = Arc::new(AtomicBool::new(false));
    let mut leader = Driven::new(map.get_or_insert_with_async(&1, gate_then(&open, 8)));
    leader.pending();
    let mut before = Driven::new(map.get_or_insert_with_async(&1, async { 0 }));
    before.pending();
    let mut victim = Box::pin(map.get_or_insert_with_async(&1, async { 0 }));
    let panic = catch_unwind(AssertUnwindSafe(|| {
        victim.as_mut().poll(&mut Context::from_waker(&bad))
    }))
    .expect_err("the clone panics");
    assert_eq!(panic_message(&*panic), "waker clone");
    drop(victim);
    let mut after = Driven::new(map.get_or_insert_with_async(&1, async { 0 }));
    after.pending();
    open.store(true, SeqCst);
    assert_eq!(leader.ready(), 8);
    assert_eq!((before.wakes(), after.wakes()), (1, 1));
    assert_eq!((before.ready(), after.ready()), (8, 8));
    assert_eq!(map.get(&1), Some(8));
    assert_eq!(main_counts(&map), [1, 4, 1, 3]);
}

fn gate_then(open: &Arc<AtomicBool>, v: u64) -> impl Future<Output = u64> + Send + use<> {
    let open = Arc::clone(open);
    async move {
        gate(open).await;
        v
    }
}

/// `refresh_after` through an async rebuild that is still running when the value expires:
/// callers that find the value due get it at once (no wait), callers after its expiry join the
/// rebuild's flight (sync and async), and all get the rebuilt value; counted as one refresh.
#[test]
fn callers_after_expiry_join_a_running_async_refresh_and_get_its_value() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .refresh_after(Duration::from_secs(10))
        .expiry(cache_core::Expiry::Fixed)
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    clock.advance(Duration::from_secs(20));
    let open = Arc::new(AtomicBool::new(false));
    let mut rebuild = Driven::new(map.get_or_insert_with_async(&1, gate_then_u32(&open, 2)));
    rebuild.pending();
    let before = counts(&map);
    let mut due = Driven::new(map.get_or_insert_with_async(&1, async { 9 }));
    assert_eq!(
        due.ready(),
        1,
        "a caller finding the value due does not wait"
    );
    assert_eq!(map.get_or_insert_with(&1, || 9), 1);
    clock.advance(Duration::from_secs(50));
    let sync_waiter = {
        let map = map.clone();
        thread::spawn(move || map.get_or_insert_with(&1, || 8))
    };
    wait_until("the sync caller joins the rebuild", || {
        map.stats().coalesced == before[5] + 1
    });
    let mut async_waiter = Driven::new(map.get_or_insert_with_async(&1, async { 7 }));
    async_waiter.pending();
    open.store(true, SeqCst);
    assert_eq!(rebuild.ready(), 2);
    assert_eq!(sync_waiter.join().unwrap(), 2);
    assert_eq!(async_waiter.ready(), 2);
    assert_eq!(map.get(&1), Some(2));
    let after = counts(&map);
    // hits: the rebuild's call, the two due callers and the `get`; misses: the two joiners.
    assert_eq!(
        [after[0], after[1], after[5], after[6], after[7]],
        [4, 2, 2, 1, 0]
    );
}

fn gate_then_u32(open: &Arc<AtomicBool>, v: u32) -> impl Future<Output = u32> + Send + use<> {
    let open = Arc::clone(open);
    async move {
        gate(open).await;
        v
    }
}

/// 10,000 tasks on one key on a 2-worker runtime, every other one aborted while it waits: the
/// constructor runs once, the others get its value, every call is counted once, and the
/// flight is gone once they are done (the map holds the value only).
#[test]
fn ten_thousand_tasks_half_aborted_while_waiting_one_run_exact_counts() {
    const N: usize = 10_000;
    let live = Arc::new(AtomicUsize::new(0));
    let map: TtlMap<u32, Tracked> = TtlMap::new(HOUR);
    let runs = Arc::new(AtomicUsize::new(0));
    let (land, landing) = tokio::sync::oneshot::channel::<()>();
    let rt = two_worker_runtime();
    let leader = {
        let (map, runs, live) = (map.clone(), Arc::clone(&runs), Arc::clone(&live));
        rt.spawn(async move {
            map.get_or_insert_with_async(&1, async move {
                runs.fetch_add(1, SeqCst);
                landing.await.unwrap();
                Tracked::new(3, &live)
            })
            .await
            .n
        })
    };
    wait_until("the leader leads", || map.stats().misses == 1);
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (map, runs, live) = (map.clone(), Arc::clone(&runs), Arc::clone(&live));
            rt.spawn(async move {
                map.get_or_insert_with_async(&1, async move {
                    runs.fetch_add(1, SeqCst);
                    Tracked::new(0, &live)
                })
                .await
                .n
            })
        })
        .collect();
    wait_until("all wait", || map.stats().coalesced == N as u64);
    let mut kept = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if i % 2 == 0 {
            t.abort();
        } else {
            kept.push(t);
        }
    }
    land.send(()).unwrap();
    let got = rt.block_on(async {
        let mut got = Vec::new();
        for t in kept {
            got.push(t.await.unwrap());
        }
        got
    });
    assert_eq!(rt.block_on(leader).unwrap(), 3);
    assert!(got.iter().all(|&v| v == 3));
    assert_eq!(runs.load(SeqCst), 1);
    drop(rt);
    assert_eq!(live.load(SeqCst), 1, "the map's copy only");
    assert_eq!(main_counts(&map), [0, N as u64 + 1, 1, N as u64]);
}

/// An async constructor that panics, polled under `catch_unwind` by a holder that keeps the
/// poisoned future (as `futures::future::Shared` does): its waiters are woken at the panic and
/// make their own attempts, a sync caller does not wait for the future's drop. (Unwinding out
/// of the call's `async fn` drops its leader's ticket then and there.)
#[test]
fn waiters_are_woken_when_the_constructor_panics_though_its_future_is_kept() {
    let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
    let boom = Arc::new(AtomicBool::new(false));
    let mut leader = Driven::new(map.get_or_insert_with_async(&1, {
        let boom = Arc::clone(&boom);
        async move {
            gate(boom).await;
            panic!("constructor fails");
        }
    }));
    leader.pending();
    let mut waiter = Driven::new(map.get_or_insert_with_async(&1, async { 2 }));
    waiter.pending();
    boom.store(true, SeqCst);
    let panic = catch_unwind(AssertUnwindSafe(|| leader.poll())).expect_err("it panics");
    assert_eq!(panic_message(&*panic), "constructor fails");
    // The leader's future is kept (poisoned), as `Shared` keeps it.
    let woken = waiter.wakes();
    let got = waiter.poll();
    let sync_got = {
        let map = map.clone();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(map.get_or_insert_with(&1, || 3));
        });
        let got = rx.recv_timeout(Duration::from_secs(5));
        drop(leader); // Lets the sync caller go either way.
        got
    };
    assert_eq!(woken, 1, "the waiter was not woken by the panic");
    assert_eq!(got, Poll::Ready(2), "the waiter makes its own attempt");
    assert!(
        sync_got.is_ok(),
        "a sync caller stays blocked behind a panicked constructor"
    );
}

/// Promises found broken. Each test fails today; see its docs for the repro, the cause and a fix.
/// Re-polling and cancelling async waiters: their cost per waiter, which grew with the number
/// of waiters until their wakers were kept at their numbers (helper-78 found it).
mod many_waiters {
    use super::*;
    use std::time::Instant;

    /// The time, per waiter, to poll `n` async waiters of one flight once more each (as an
    /// executor that polls every child of a `join!`/`select!` loop does) and then to drop them
    /// newest first (as timeouts set in that order fire): the smallest of three tries.
    fn per_waiter(n: usize) -> (Duration, Duration) {
        let mut best = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            let map: TtlMap<u32, u64> = TtlMap::new(HOUR);
            let open = Arc::new(AtomicBool::new(false));
            let mut leader = Driven::new(map.get_or_insert_with_async(&1, gate_then(&open, 1)));
            leader.pending();
            let mut waiters: Vec<_> = (0..n)
                .map(|_| Driven::new(map.get_or_insert_with_async(&1, async { 0 })))
                .collect();
            waiters.iter_mut().for_each(Driven::pending);
            let start = Instant::now();
            waiters.iter_mut().for_each(Driven::pending);
            let repoll = start.elapsed() / n as u32;
            let start = Instant::now();
            while waiters.pop().is_some() {}
            let cancel = start.elapsed() / n as u32;
            best = (best.0.min(repoll), best.1.min(cancel));
            open.store(true, SeqCst);
            assert_eq!(leader.ready(), 1);
        }
        best
    }

    /// N async waiters of one key that are re-polled or cancelled cost a constant each: with
    /// the wakers in a list searched by number, 16,000 waiters took 7-15x per waiter what 2,000
    /// took (O(N^2) in all, under the flight's mutex). A complexity test: the ratio of two
    /// sizes in one process, the best of three tries each, against a bound (3x) well above
    /// the constant's noise and well below the linear search's 8x.
    #[test]
    fn re_polling_or_cancelling_many_waiters_costs_a_constant_per_waiter() {
        let (repoll_small, cancel_small) = per_waiter(2_000);
        let (repoll_big, cancel_big) = per_waiter(16_000);
        let repoll = repoll_big.as_secs_f64() / repoll_small.as_secs_f64();
        let cancel = cancel_big.as_secs_f64() / cancel_small.as_secs_f64();
        assert!(
            repoll < 3.0 && cancel < 3.0,
            "per-waiter cost grew {repoll:.1}x (re-poll) and {cancel:.1}x (cancel) for 8x the \
             waiters ({repoll_small:?} -> {repoll_big:?}, {cancel_small:?} -> {cancel_big:?})"
        );
    }
}
