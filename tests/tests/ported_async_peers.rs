//! Peers' async cache tests ported to `TtlMap`'s async memoizing forms, to find promises we
//! break in async code: coalescing on multi-thread and current-thread runtimes, cancellation at
//! every await point, panics, invalidation during a flight, freshness, and flights shared by
//! tasks of several runtimes.
//!
//! Sources (read at moka-rs/moka 2d8289e and arthurprs/quick-cache 99809ce):
//! - moka `src/future/cache.rs` `mod tests` (`get_with`, `get_with_by_ref`, `try_get_with`,
//!   `optionally_get_with`, `handle_panic_in_*`, `abort_*`, `cancel_future_while_*`),
//!   `tests/entry_api_tokio.rs`, `tests/runtime_tokio.rs`;
//! - quick_cache `src/sync.rs` `mod tests` (`test_entry_async_concurrent_wait`,
//!   `test_entry_async_concurrent_guard_abandoned`, `test_entry_async_concurrent_stress`).
//!
//! Not repeated here (ported already in `ported_peers_map.rs` / covered by `ttl_map_*.rs`):
//! the two-worker `get_with`, `try_get_with` (shared), `handle_panic_in_get_with` and
//! `abort_get_with` ports, 16 spawned tasks on one key, the Send checks, re-entry from a
//! sync constructor. moka's peer tests order tasks with `sleep`; these ports order them on the
//! map's counters (`misses`, `coalesced`), channels and hand-polled futures instead, with
//! time from a `ManualClock`. A `tokio::time::timeout` appears only where the port is about a
//! timeout, or as a guard that turns a hang into a failure.
//!
//! Differences from the peers (the assertions follow our documented promise):
//! - `try_get_or_insert_with_async` does not share errors: waiters make their own attempt at
//!   once (moka's `try_get_with` shares; `try_get_or_insert_with_shared_async` is that form);
//! - after a panicking constructor, waiters each make their own attempt at once, in parallel
//!   (moka: one of them retries as the new leader);
//! - a constructor that awaits its own key from its own task panics (moka hangs); one awaiting
//!   its own key through a nested executor (`block_on` inside its poll) hangs, as documented.
//!
//! Found by this port: a constructor that awaits its own key through a combinator polling
//! children with wakers of their own (`FuturesUnordered`, `join_all` of > 30,
//! `buffer_unordered`) hangs rather than panicking, since the waiter's waker is not the task's.
//! It cannot be told from a task the body drives inline; the README now lists it beside
//! `block_on` (`reentry_through_a_per_child_waker_combinator_hangs_as_documented`).

use std::future::{Future, pending, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};
use tests::{
    Driven, assert_reentry, panic_message, poll_for, two_worker_runtime, wait_until,
    wait_until_async,
};
use tokio::runtime::Runtime;
use tokio::sync::{Notify, oneshot};

const HOUR: Duration = Duration::from_secs(3600);
/// Far longer than any flight here needs: a guard that turns a hang into a failure.
const GUARD: Duration = Duration::from_secs(20);

#[derive(Debug, PartialEq)]
struct MyError(String);

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Both flavours: every test that takes a runtime runs on each.
fn runtimes() -> [(&'static str, Runtime); 2] {
    [
        ("current_thread", current_thread()),
        ("multi_thread", two_worker_runtime()),
    ]
}

fn map<V: Clone + Send + Sync + 'static>() -> TtlMap<u32, V> {
    TtlMap::builder().ttl(HOUR).capacity(100).build()
}

/// Pending once (waking itself), then ready: an await point.
async fn step() {
    let mut yielded = false;
    poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Counts how often the wrapped future is polled, and whether it was dropped.
struct Probe<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl<F: Future> Future for Probe<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

impl<F> Drop for Probe<F> {
    fn drop(&mut self) {
        self.dropped.store(true, SeqCst);
    }
}

fn probe<F: Future>(inner: F) -> (Probe<F>, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let probe = Probe {
        inner: Box::pin(inner),
        polls: Arc::clone(&polls),
        dropped: Arc::clone(&dropped),
    };
    (probe, polls, dropped)
}

// ---------------------------------------------------------------------------------------------
// moka future::cache::tests: the tasks joined in one task (`futures_util::join!`)
// ---------------------------------------------------------------------------------------------

/// Ports moka `future::cache::tests::get_with` and `get_with_by_ref` as moka runs them: five
/// futures joined in ONE task of a current-thread runtime (so they share one waker). Task 1
/// leads, task 2 waits (its future never runs), task 4's `get` misses meanwhile, tasks 3 and 5
/// find the value afterwards.
#[test]
fn moka_future_get_with_joined_in_one_task() {
    let rt = current_thread();
    rt.block_on(async {
        let owned: TtlMap<u32, &str> = map();
        let by_ref: TtlMap<String, &str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        for borrowed in [false, true] {
            let call = |init: Pin<Box<dyn Future<Output = &'static str>>>| async {
                match borrowed {
                    false => owned.get_or_insert_with_async(&0, init).await,
                    true => by_ref.get_or_insert_with_async("0", init).await,
                }
            };
            let stats = || match borrowed {
                false => owned.stats(),
                true => by_ref.stats(),
            };
            let get = || match borrowed {
                false => owned.get(&0),
                true => by_ref.get("0"),
            };
            let (release, released) = oneshot::channel::<()>();
            let task1 = async {
                let init = Box::pin(async {
                    released.await.unwrap();
                    "task1"
                });
                assert_eq!(call(init).await, "task1");
            };
            let task2 = async {
                wait_until_async("task 1 leads", || stats().misses == 1).await;
                assert_eq!(call(Box::pin(async { unreachable!() })).await, "task1");
            };
            let task4 = async {
                wait_until_async("task 2 waits", || stats().coalesced == 1).await;
                assert!(get().is_none());
                release.send(()).unwrap();
            };
            tokio::join!(task1, task2, task4);
            assert_eq!(call(Box::pin(async { unreachable!() })).await, "task1"); // task 3
            assert_eq!(get(), Some("task1")); // task 5
            assert_eq!(stats().coalesced, 1);
        }
    });
}

/// Ports moka `future::cache::tests::try_get_with` (and `_by_ref`) in one task, with
/// `try_get_or_insert_with_shared_async`: task 1 fails and task 2, which waited, gets its error
/// without running; task 3 then leads and succeeds, task 4 waits for it, task 5 hits.
#[test]
fn moka_future_try_get_with_joined_in_one_task() {
    let rt = current_thread();
    rt.block_on(async {
        let map: TtlMap<u32, &str> = map();
        let (fail, failed) = oneshot::channel::<()>();
        let (succeed, succeeded) = oneshot::channel::<()>();
        let task1 = async {
            let v = map
                .try_get_or_insert_with_shared_async(&0, async {
                    failed.await.unwrap();
                    Err(MyError("task1 error".into()))
                })
                .await;
            assert_eq!(v.unwrap_err().0, "task1 error");
        };
        let task2 = async {
            wait_until_async("task 1 leads", || map.stats().misses == 1).await;
            let v = map
                .try_get_or_insert_with_shared_async::<_, MyError>(&0, async { unreachable!() })
                .await;
            assert_eq!(v.unwrap_err().0, "task1 error", "task 1's error, shared");
        };
        let task6 = async {
            wait_until_async("task 2 waits", || map.stats().coalesced == 1).await;
            assert!(map.get(&0).is_none());
            fail.send(()).unwrap();
        };
        tokio::join!(task1, task2, task6);
        assert!(map.get(&0).is_none(), "task 7: an error is not stored");
        let misses = map.stats().misses;
        let task3 = async {
            let v = map
                .try_get_or_insert_with_shared_async::<_, MyError>(&0, async {
                    succeeded.await.unwrap();
                    Ok("task3")
                })
                .await;
            assert_eq!(v.unwrap(), "task3");
        };
        let task4 = async {
            wait_until_async("task 3 leads", || map.stats().misses == misses + 1).await;
            let v = map
                .try_get_or_insert_with_shared_async::<_, MyError>(&0, async { unreachable!() })
                .await;
            assert_eq!(v.unwrap(), "task3");
            assert_eq!(map.stats().coalesced, 2);
        };
        let release = async {
            wait_until_async("task 4 waits", || map.stats().coalesced == 2).await;
            succeed.send(()).unwrap();
        };
        tokio::join!(task3, task4, release);
        let task5 = map
            .try_get_or_insert_with_shared_async::<_, MyError>(&0, async { unreachable!() })
            .await;
        assert_eq!(task5.unwrap(), "task3");
        assert_eq!(map.get(&0), Some("task3")); // task 8
    });
}

/// Ports moka `future::cache::tests::try_get_with` with the plain
/// `try_get_or_insert_with_async`. Difference: the error is not shared, so task 2 makes its
/// own attempt as soon as task 1 fails, and its value is stored.
#[test]
fn moka_future_try_get_with_unshared_error_joined_in_one_task() {
    let rt = current_thread();
    rt.block_on(async {
        let map: TtlMap<u32, &str> = map();
        let (fail, failed) = oneshot::channel::<()>();
        let task1 = async {
            let v = map
                .try_get_or_insert_with_async(&0, async {
                    failed.await.unwrap();
                    Err(MyError("task1 error".into()))
                })
                .await;
            assert_eq!(v, Err(MyError("task1 error".into())));
        };
        let task2 = async {
            wait_until_async("task 1 leads", || map.stats().misses == 1).await;
            let v = map
                .try_get_or_insert_with_async::<_, MyError>(&0, async { Ok("task2") })
                .await;
            assert_eq!(v, Ok("task2"));
        };
        let release = async {
            wait_until_async("task 2 waits", || map.stats().coalesced == 1).await;
            fail.send(()).unwrap();
        };
        tokio::join!(task1, task2, release);
        assert_eq!(map.get(&0), Some("task2"));
    });
}

/// Ports moka `future::cache::tests::optionally_get_with` (and `_by_ref`) in one task: task 1's
/// `None` goes to task 2, which waited, without running it, and is not stored; task 3 then
/// gets `Some`, task 4 waits for it.
#[test]
fn moka_future_optionally_get_with_joined_in_one_task() {
    let rt = current_thread();
    rt.block_on(async {
        let map: TtlMap<String, &str> = TtlMap::builder().ttl(HOUR).capacity(100).build();
        for round in 0..2 {
            let (release, released) = oneshot::channel::<()>();
            let misses = map.stats().misses;
            let coalesced = map.stats().coalesced;
            let answer = (round == 1).then_some("task3");
            let task1 = async {
                let v = map
                    .optionally_get_or_insert_with_async("0", async {
                        released.await.unwrap();
                        answer
                    })
                    .await;
                assert_eq!(v, answer);
            };
            let task2 = async {
                wait_until_async("task 1 leads", || map.stats().misses == misses + 1).await;
                let v = map
                    .optionally_get_or_insert_with_async("0", async { unreachable!() })
                    .await;
                assert_eq!(v, answer, "the leader's outcome, None too");
            };
            let task6 = async {
                let waits = || map.stats().coalesced == coalesced + 1;
                wait_until_async("task 2 waits", waits).await;
                assert!(map.get("0").is_none());
                release.send(()).unwrap();
            };
            tokio::join!(task1, task2, task6);
            assert_eq!(map.get("0"), answer);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// moka tests/entry_api_tokio.rs, quick_cache test_entry_async_concurrent_stress: many tasks
// ---------------------------------------------------------------------------------------------

/// Ports moka `tests/entry_api_tokio.rs` `test_get_with` / `test_optionally_get_with` /
/// `test_try_get_with`: 16 tasks released by a barrier call the four forms (owned and borrowed
/// keys) for one key; the constructor, which awaits several times, runs once. On both runtime
/// flavours.
#[test]
fn moka_entry_api_tokio_16_tasks_one_run() {
    for (flavour, rt) in runtimes() {
        for round in 0..20 {
            let map: TtlMap<String, Arc<Vec<u8>>> = TtlMap::new(HOUR);
            let runs = Arc::new(AtomicUsize::new(0));
            let barrier = Arc::new(tokio::sync::Barrier::new(16));
            rt.block_on(async {
                let tasks: Vec<_> = (0..16)
                    .map(|task| {
                        let (map, runs, barrier) = (map.clone(), runs.clone(), barrier.clone());
                        tokio::spawn(async move {
                            barrier.wait().await;
                            let init = async {
                                runs.fetch_add(1, SeqCst);
                                for _ in 0..3 {
                                    step().await;
                                }
                                Arc::new(vec![task as u8; 1024 * 1024])
                            };
                            let key = "key1".to_string();
                            let value = match task % 4 {
                                0 => map.get_or_insert_with_async(&key, init).await,
                                1 => map.get_or_insert_with_async("key1", init).await,
                                2 => map
                                    .try_get_or_insert_with_shared_async::<_, MyError>(
                                        "key1",
                                        async { Ok(init.await) },
                                    )
                                    .await
                                    .unwrap(),
                                _ => map
                                    .optionally_get_or_insert_with_async(&key, async {
                                        Some(init.await)
                                    })
                                    .await
                                    .unwrap(),
                            };
                            assert_eq!(value.len(), 1024 * 1024);
                            assert!(map.get("key1").is_some());
                            value[0]
                        })
                    })
                    .collect();
                let mut seen = Vec::new();
                for task in tasks {
                    seen.push(task.await.unwrap());
                }
                seen.dedup();
                assert_eq!(seen.len(), 1, "{flavour} round {round}: one value for all");
            });
            assert_eq!(runs.load(SeqCst), 1, "{flavour} round {round}");
        }
    }
}

/// Ports quick_cache `sync::tests::test_entry_async_concurrent_stress`: 16 tasks, 50 keys, 200
/// memoizing calls each; every value is its key's. Extended: every key's constructor ran at
/// most once (capacity is ample, nothing expires).
#[test]
fn quick_cache_entry_async_concurrent_stress() {
    for (flavour, rt) in runtimes() {
        let map: TtlMap<usize, usize> = TtlMap::builder().ttl(HOUR).capacity(1000).build();
        let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..50).map(|_| AtomicUsize::new(0)).collect());
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|t| {
                    let (map, runs, barrier) = (map.clone(), runs.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        for i in 0..200 {
                            let key = (t * 200 + i) % 50;
                            let got = map
                                .try_get_or_insert_with_async(&key, async {
                                    runs[key].fetch_add(1, SeqCst);
                                    step().await;
                                    Ok::<_, ()>(key * 10)
                                })
                                .await;
                            assert_eq!(got, Ok(key * 10));
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert_eq!(map.len(), 50);
        for key in 0..50 {
            assert_eq!(map.get(&key), Some(key * 10));
            assert_eq!(runs[key].load(SeqCst), 1, "{flavour}: key {key}");
        }
    }
}

/// Coalescing at scale (moka `get_with` with many tasks): 500 tasks miss one key while its
/// constructor is held; every one of them waits (counted), none runs its constructor, and
/// all get the leader's value once it is released. Both runtime flavours, the four forms.
#[test]
fn five_hundred_tasks_wait_for_one_held_flight() {
    for (flavour, rt) in runtimes() {
        for form in 0..4 {
            let map: TtlMap<u32, u64> = map();
            let release = Arc::new(Notify::new());
            rt.block_on(async {
                let leader = {
                    let (map, release) = (map.clone(), release.clone());
                    tokio::spawn(async move {
                        map.get_or_insert_with_async(&7, async move {
                            release.notified().await;
                            70
                        })
                        .await
                    })
                };
                wait_until_async("the leader leads", || map.stats().misses == 1).await;
                let tasks: Vec<_> = (0..500)
                    .map(|_| {
                        let map = map.clone();
                        tokio::spawn(async move {
                            match form {
                                0 => {
                                    map.get_or_insert_with_async(&7, async {
                                        unreachable!("a waiter's constructor ran")
                                    })
                                    .await
                                }
                                1 => map
                                    .try_get_or_insert_with_async::<_, MyError>(&7, async {
                                        unreachable!("a waiter's constructor ran")
                                    })
                                    .await
                                    .unwrap(),
                                2 => map
                                    .try_get_or_insert_with_shared_async::<_, MyError>(&7, async {
                                        unreachable!("a waiter's constructor ran")
                                    })
                                    .await
                                    .unwrap(),
                                _ => map
                                    .optionally_get_or_insert_with_async(&7, async {
                                        unreachable!("a waiter's constructor ran")
                                    })
                                    .await
                                    .unwrap(),
                            }
                        })
                    })
                    .collect();
                wait_until_async("500 wait", || map.stats().coalesced == 500).await;
                release.notify_one();
                assert_eq!(leader.await.unwrap(), 70);
                for task in tasks {
                    assert_eq!(task.await.unwrap(), 70, "{flavour} form {form}");
                }
            });
            assert_eq!(map.stats().misses, 501);
            assert_eq!(map.get(&7), Some(70));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cancellation (moka abort_get_with / abort_try_get_with, cancel_future_while_*)
// ---------------------------------------------------------------------------------------------

/// Ports moka `future::cache::tests::abort_get_with` with the cancellation moka's users meet
/// most: `tokio::time::timeout` around the leader, with a task already waiting. The waiter
/// leads once the leader's future is dropped; so does a later caller without a waiter.
#[test]
fn moka_timeout_around_a_leader_lets_the_waiter_lead() {
    for (flavour, rt) in runtimes() {
        let map: TtlMap<u32, u32> = map();
        rt.block_on(async {
            let leader = map.get_or_insert_with_async(&1, pending());
            // Boxed, so that awaiting it below consumes (drops) it, as a caller's `timeout(..).await`.
            let mut leader = Box::pin(tokio::time::timeout(Duration::from_millis(5), leader));
            // One poll: it leads.
            poll_fn(|cx| {
                assert!(leader.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(map.stats().misses, 1);
            let waiter = {
                let map = map.clone();
                tokio::spawn(async move { map.get_or_insert_with_async(&1, async { 6 }).await })
            };
            wait_until_async("the waiter waits", || map.stats().coalesced == 1).await;
            assert!(leader.await.is_err(), "timed out");
            let got = tokio::time::timeout(GUARD, waiter).await;
            assert_eq!(
                got.expect("the waiter is stranded").unwrap(),
                6,
                "{flavour}"
            );
            assert_eq!(map.get(&1), Some(6));
            // Without a waiter.
            let lone = map.try_get_or_insert_with_shared_async::<_, MyError>(&2, pending());
            assert!(
                tokio::time::timeout(Duration::from_millis(1), lone)
                    .await
                    .is_err()
            );
            let next = map.try_get_or_insert_with_shared_async::<_, MyError>(&2, async { Ok(8) });
            assert_eq!(next.await.unwrap(), 8);
        });
    }
}

/// Cancellation at every await point of a leader (moka `abort_get_with`, generalised): the
/// leader's constructor has 4 await points; the leader is dropped after each, with a waiter
/// joined. The waiter is woken, leads, and gets its own value on its next poll; the four
/// forms (an abandoned flight is neither an error nor a `None` to share).
#[test]
fn a_leader_dropped_at_any_await_point_lets_its_waiter_lead() {
    for form in 0..4 {
        for cut in 0..4 {
            let map: TtlMap<u32, u32> = map();
            let call = |value: u32, steps: usize| {
                let map = &map;
                async move {
                    let init = async move {
                        for _ in 0..steps {
                            step().await;
                        }
                        value
                    };
                    match form {
                        0 => map.get_or_insert_with_async(&1, init).await,
                        1 => map
                            .try_get_or_insert_with_async::<_, MyError>(&1, async {
                                Ok(init.await)
                            })
                            .await
                            .unwrap(),
                        2 => map
                            .try_get_or_insert_with_shared_async::<_, MyError>(&1, async {
                                Ok(init.await)
                            })
                            .await
                            .unwrap(),
                        _ => map
                            .optionally_get_or_insert_with_async(&1, async { Some(init.await) })
                            .await
                            .unwrap(),
                    }
                }
            };
            let mut leader = Driven::new(call(10, 4));
            for _ in 0..=cut {
                leader.pending();
            }
            let mut waiter = Driven::new(call(20, 0));
            waiter.pending();
            assert_eq!(map.stats().coalesced, 1);
            assert_eq!(waiter.wakes(), 0);
            drop(leader);
            assert_eq!(
                waiter.wakes(),
                1,
                "form {form} cut {cut}: the waiter is woken"
            );
            assert_eq!(waiter.ready(), 20, "form {form} cut {cut}");
            assert_eq!(map.get(&1), Some(20));
        }
    }
}

/// A chain of abandoned leaders: the waiter that took over is dropped too, and the next
/// waiter leads; a waiter dropped at its await point leaves the others unharmed.
#[test]
fn abandoned_flights_chain_and_dropped_waiters_are_forgotten() {
    let map: TtlMap<u32, u32> = map();
    let call = |value: u32, held: bool| {
        let map = &map;
        async move {
            map.get_or_insert_with_async(&1, async move {
                if held {
                    pending::<()>().await;
                }
                value
            })
            .await
        }
    };
    let mut leader = Driven::new(call(1, true));
    leader.pending();
    let mut w1 = Driven::new(call(2, true));
    let mut w2 = Driven::new(call(3, true));
    let mut w3 = Driven::new(call(4, false));
    let mut w4 = Driven::new(call(5, false));
    w1.pending();
    w2.pending();
    w3.pending();
    w4.pending();
    assert_eq!(map.stats().coalesced, 4);
    drop(w2); // a waiter cancelled at its await point
    drop(leader);
    w1.pending(); // leads now, held
    w3.pending(); // joins w1's flight
    drop(w1);
    assert_eq!(w3.wakes(), 2, "woken by both abandonments");
    assert_eq!(w3.ready(), 4, "w3 leads a third flight, not held");
    assert_eq!(w4.wakes(), 1);
    assert_eq!(w4.ready(), 4, "w4 starts over and finds w3's value");
    assert_eq!(map.get(&1), Some(4));
    assert_eq!(map.stats().misses, 5);
}

/// Ports moka `future::cache::tests::abort_get_with` for a WAITER: one of three waiting tasks
/// is aborted; the leader and the other waiters are unaffected, and the aborted task's
/// constructor never runs.
#[test]
fn an_aborted_waiter_task_leaves_the_flight_alone() {
    for (flavour, rt) in runtimes() {
        let map: TtlMap<u32, u32> = map();
        let runs = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let (release, released) = oneshot::channel::<()>();
            let leader = {
                let (map, runs) = (map.clone(), runs.clone());
                tokio::spawn(async move {
                    map.get_or_insert_with_async(&1, async move {
                        runs.fetch_add(1, SeqCst);
                        released.await.unwrap();
                        1
                    })
                    .await
                })
            };
            wait_until_async("the leader leads", || map.stats().misses == 1).await;
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let (map, runs) = (map.clone(), runs.clone());
                    tokio::spawn(async move {
                        map.get_or_insert_with_async(&1, async move {
                            runs.fetch_add(1, SeqCst);
                            2
                        })
                        .await
                    })
                })
                .collect();
            wait_until_async("3 wait", || map.stats().coalesced == 3).await;
            waiters[1].abort();
            release.send(()).unwrap();
            assert_eq!(leader.await.unwrap(), 1);
            for (i, waiter) in waiters.into_iter().enumerate() {
                match i {
                    1 => assert!(waiter.await.unwrap_err().is_cancelled()),
                    _ => assert_eq!(waiter.await.unwrap(), 1, "{flavour}"),
                }
            }
        });
        assert_eq!(runs.load(SeqCst), 1);
    }
}

/// Race: the leading task is aborted while 8 tasks wait, on two workers, 200 times. Exactly
/// one of the waiters then runs its constructor; all get its value.
#[test]
fn aborting_a_leader_under_many_waiters_elects_exactly_one_new_leader() {
    let rt = two_worker_runtime();
    for round in 0..200 {
        let map: TtlMap<u32, usize> = map();
        let runs = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let leader = {
                let map = map.clone();
                tokio::spawn(async move { map.get_or_insert_with_async(&1, pending()).await })
            };
            wait_until_async("the leader leads", || map.stats().misses == 1).await;
            let waiters: Vec<_> = (0..8)
                .map(|i| {
                    let (map, runs) = (map.clone(), runs.clone());
                    tokio::spawn(async move {
                        map.get_or_insert_with_async(&1, async move {
                            runs.fetch_add(1, SeqCst);
                            step().await;
                            i
                        })
                        .await
                    })
                })
                .collect();
            // Abort while some are still joining: the race is the point.
            wait_until_async("one waits", || map.stats().coalesced >= 1).await;
            leader.abort();
            let mut got = Vec::new();
            for waiter in waiters {
                let joined = tokio::time::timeout(GUARD, waiter).await;
                got.push(joined.expect("a waiter is stranded").unwrap());
            }
            got.dedup();
            assert_eq!(got.len(), 1, "round {round}: one value for all: {got:?}");
            assert_eq!(map.get(&1), Some(got[0]));
        });
        assert_eq!(runs.load(SeqCst), 1, "round {round}");
    }
}

/// Drop a runtime with a pending leader (moka's users shutting a runtime down mid-request):
/// its task's future is dropped with the runtime, and the callers waiting for its flight on
/// another runtime and on a plain thread (sync) start over, one leading.
#[test]
fn dropping_the_leaders_runtime_lets_waiters_elsewhere_lead() {
    for leader_flavour in ["current_thread", "multi_thread"] {
        let map: TtlMap<u32, u32> = map();
        let leader_rt = match leader_flavour {
            "current_thread" => current_thread(),
            _ => two_worker_runtime(),
        };
        // A current-thread runtime runs its tasks only inside `block_on`: drive the leader
        // until it leads, then return with it still pending.
        {
            let leader_map = map.clone();
            let leader = leader_rt.spawn(async move {
                let map = leader_map;
                map.get_or_insert_with_async(&1, async { pending::<u32>().await })
                    .await
            });
            leader_rt.block_on(async {
                wait_until_async("the leader leads", || map.stats().misses == 1).await;
            });
            drop(leader); // detached
        }
        let other_rt = two_worker_runtime();
        let task = {
            let map = map.clone();
            other_rt.spawn(async move { map.get_or_insert_with_async(&1, async { 5 }).await })
        };
        let sync_waiter = {
            let map = map.clone();
            thread::spawn(move || map.get_or_insert_with(&1, || 6))
        };
        wait_until("both wait", || map.stats().coalesced == 2);
        drop(leader_rt);
        let from_task = other_rt
            .block_on(async { tokio::time::timeout(GUARD, task).await })
            .expect("the async waiter is stranded")
            .unwrap();
        let from_thread = sync_waiter.join().unwrap();
        assert_eq!(from_task, from_thread, "{leader_flavour}: one new leader");
        assert_eq!(map.get(&1), Some(from_task));
    }
}

/// Drop a runtime whose tasks wait for a flight led elsewhere: the flight then lands and
/// wakes tasks of a runtime that is gone, which must neither panic nor lose the value.
#[test]
fn dropping_the_waiters_runtime_does_not_disturb_the_landing() {
    let map: TtlMap<u32, u32> = map();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let leader = {
        let map = map.clone();
        thread::spawn(move || {
            map.get_or_insert_with(&1, || {
                released.recv().unwrap();
                1
            })
        })
    };
    wait_until("the leader leads", || map.stats().misses == 1);
    for flavour in ["current_thread", "multi_thread"] {
        let rt = match flavour {
            "current_thread" => current_thread(),
            _ => two_worker_runtime(),
        };
        let before = map.stats().coalesced;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let map = map.clone();
                rt.spawn(async move { map.get_or_insert_with_async(&1, async { 9 }).await })
            })
            .collect();
        rt.block_on(async {
            wait_until_async("4 wait", || map.stats().coalesced == before + 4).await;
        });
        drop(tasks);
        drop(rt);
    }
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap(), 1);
    assert_eq!(map.get(&1), Some(1));
    let rt = current_thread();
    assert_eq!(
        rt.block_on(map.get_or_insert_with_async(&1, async { 9 })),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Panics (moka handle_panic_in_get_with / handle_panic_in_try_get_with)
// ---------------------------------------------------------------------------------------------

/// Ports moka `future::cache::tests::handle_panic_in_get_with` / `_try_get_with` at every
/// await point of the constructor and in the four forms, with three waiters. Difference: moka
/// makes one waiter retry as the new leader; ours each make their own attempt at once (no
/// waiter gets the panic, an error or a `None` from it), and one of the values is stored.
#[test]
fn moka_handle_panic_at_any_await_point_in_each_form() {
    for form in 0..4 {
        for cut in 0..3 {
            let map: TtlMap<u32, u32> = map();
            let call = |value: Option<u32>, steps: usize| {
                let map = &map;
                async move {
                    let init = async move {
                        for _ in 0..steps {
                            step().await;
                        }
                        value.unwrap_or_else(|| panic!("Panic during get_with"))
                    };
                    match form {
                        0 => map.get_or_insert_with_async(&1, init).await,
                        1 => map
                            .try_get_or_insert_with_async::<_, MyError>(&1, async {
                                Ok(init.await)
                            })
                            .await
                            .unwrap(),
                        2 => map
                            .try_get_or_insert_with_shared_async::<_, MyError>(&1, async {
                                Ok(init.await)
                            })
                            .await
                            .unwrap(),
                        _ => map
                            .optionally_get_or_insert_with_async(&1, async { Some(init.await) })
                            .await
                            .unwrap(),
                    }
                }
            };
            let mut leader = Driven::new(call(None, cut + 1));
            for _ in 0..=cut {
                leader.pending();
            }
            let mut waiters: Vec<_> = (0..3).map(|i| Driven::new(call(Some(20 + i), 1))).collect();
            waiters.iter_mut().for_each(Driven::pending);
            assert_eq!(map.stats().coalesced, 3);
            let panicked = catch_unwind(AssertUnwindSafe(|| leader.poll()));
            let panic = panicked.expect_err("the leader panics");
            assert_eq!(panic_message(&*panic), "Panic during get_with");
            // Dropped later, outside the panic: the flight is still a panicked one.
            drop(leader);
            for w in &waiters {
                assert_eq!(w.wakes(), 1, "form {form} cut {cut}");
            }
            // Own attempts, in parallel: each is pending at its await point; none joined another.
            waiters.iter_mut().for_each(Driven::pending);
            assert_eq!(
                map.stats().coalesced,
                3,
                "form {form} cut {cut}: no new waits"
            );
            let got: Vec<u32> = waiters.iter_mut().map(Driven::ready).collect();
            assert_eq!(got, [20, 21, 22], "form {form} cut {cut}");
            let stored = map.get(&1).expect("an attempt's value is stored");
            assert!((20..23).contains(&stored));
        }
    }
}

/// quick_cache `test_entry_async_concurrent_guard_abandoned` / moka `handle_panic_in_get_with`
/// across sync and async: a SYNC constructor on a plain thread panics while tasks wait for it
/// (on both runtime flavours); each task makes its own attempt.
#[test]
fn quick_cache_async_waiters_of_a_panicking_sync_leader_recover() {
    for (flavour, rt) in runtimes() {
        let map: TtlMap<u32, u32> = map();
        let go = Arc::new(AtomicBool::new(false));
        let leader = {
            let (map, go) = (map.clone(), go.clone());
            thread::spawn(move || {
                map.get_or_insert_with(&1, || {
                    wait_until("released", || go.load(SeqCst));
                    panic!("guard abandoned")
                })
            })
        };
        wait_until("the leader leads", || map.stats().misses == 1);
        rt.block_on(async {
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let map = map.clone();
                    tokio::spawn(
                        async move { map.get_or_insert_with_async(&1, async move { i }).await },
                    )
                })
                .collect();
            wait_until_async("4 wait", || map.stats().coalesced == 4).await;
            go.store(true, SeqCst);
            for (i, task) in tasks.into_iter().enumerate() {
                let got = tokio::time::timeout(GUARD, task).await.expect("stranded");
                assert_eq!(got.unwrap(), i as u32, "{flavour}: its own attempt");
            }
        });
        assert!(leader.join().is_err());
        assert!(map.get(&1).is_some());
    }
}

/// Ports quick_cache `test_entry_async_concurrent_wait`: a sync leader on a plain thread,
/// an async waiter on a multi-thread runtime, gets the sync leader's value.
#[test]
fn quick_cache_entry_async_concurrent_wait() {
    let map: TtlMap<u32, u32> = map();
    let barrier = Arc::new(Barrier::new(2));
    let holder = {
        let (map, barrier) = (map.clone(), barrier.clone());
        thread::spawn(move || {
            map.get_or_insert_with(&1, || {
                barrier.wait();
                wait_until("the waiter waits", || map.stats().coalesced == 1);
                42
            })
        })
    };
    barrier.wait();
    let rt = two_worker_runtime();
    let got = rt.block_on(map.get_or_insert_with_async(&1, async { unreachable!() }));
    assert_eq!(got, 42);
    assert_eq!(holder.join().unwrap(), 42);
}

// ---------------------------------------------------------------------------------------------
// Invalidation during a flight (moka/Caffeine: invalidate discards the in-flight load)
// ---------------------------------------------------------------------------------------------

/// Caffeine's rule as moka's `future::Cache` follows it, for async flights and each of
/// `insert`, `remove`, `clear`, `retain`: a waiter that joined before the invalidation gets
/// the leader's value; a caller after it does not join the old flight; the old flight's value
/// does not overwrite what is stored after the invalidation.
#[test]
fn invalidation_during_an_async_flight_wins() {
    for op in ["insert", "remove", "clear", "retain"] {
        for later_caller in [false, true] {
            let map: TtlMap<u32, u32> = map();
            map.insert(2, 2); // another key, in some shard
            let (release, released) = oneshot::channel::<()>();
            let mut leader = Driven::new(map.get_or_insert_with_async(&1, async {
                released.await.unwrap();
                10
            }));
            leader.pending();
            let mut early = Driven::new(map.get_or_insert_with_async(&1, async { unreachable!() }));
            early.pending();
            match op {
                "insert" => drop(map.insert(1, 100)),
                "remove" => drop(map.remove(&1)),
                "clear" => map.clear(),
                _ => map.retain(|_, _| false),
            }
            let expected = match op {
                "insert" => Some(100),
                _ if later_caller => Some(30),
                _ => None,
            };
            if later_caller {
                let mut late = Driven::new(map.get_or_insert_with_async(&1, async { 30 }));
                assert_eq!(
                    late.ready(),
                    expected.unwrap(),
                    "{op}: not the old flight's"
                );
            }
            release.send(()).unwrap();
            assert_eq!(
                leader.ready(),
                10,
                "{op}: the leader's caller gets its value"
            );
            assert_eq!(early.ready(), 10, "{op}: so does its waiter");
            assert_eq!(map.get(&1), expected, "{op}, later caller {later_caller}");
        }
    }
}

/// The same with the flights on a multi-thread runtime and the invalidation racing the
/// landing, 300 rounds: after `remove` returns, the old flight's value is never found.
#[test]
fn remove_racing_an_async_landing_never_resurrects_the_old_value() {
    let rt = two_worker_runtime();
    for round in 0..300 {
        let map: TtlMap<u32, u32> = map();
        rt.block_on(async {
            let go = Arc::new(Notify::new());
            let leader = {
                let (map, go) = (map.clone(), go.clone());
                tokio::spawn(async move {
                    map.get_or_insert_with_async(&1, async move {
                        go.notified().await;
                        10
                    })
                    .await
                })
            };
            wait_until_async("the leader leads", || map.stats().misses == 1).await;
            go.notify_one();
            let removed = map.remove(&1);
            let after = map.get(&1);
            assert_eq!(leader.await.unwrap(), 10);
            // Either the value landed before the remove (and the remove took it), or the
            // flight was invalidated: never found after the remove returned.
            assert!(
                after.is_none(),
                "round {round}: found after remove ({removed:?})"
            );
            let last = map.get(&1);
            assert!(last.is_none() || removed.is_none(), "round {round}");
            if removed.is_none() {
                assert!(
                    last.is_none(),
                    "round {round}: the invalidated flight stored"
                );
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// "The init future is polled only once across waiters" (moka's get_with docs)
// ---------------------------------------------------------------------------------------------

/// moka's `get_with` docs: "the `init` future is resolved only once" and waiters' futures
/// are not polled. Ours: only the leader's constructor is polled, never by a waiter's task;
/// a waiter's constructor is dropped unpolled when it gets the leader's value, and the
/// leader's constructor is dropped with the leader.
#[test]
fn only_the_leaders_constructor_is_polled() {
    let map: TtlMap<u32, u32> = map();
    let (release, released) = oneshot::channel::<()>();
    let (init, leader_polls, leader_dropped) = probe(async {
        released.await.unwrap();
        1
    });
    let mut leader = Driven::new(map.get_or_insert_with_async(&1, init));
    leader.pending();
    assert_eq!(leader_polls.load(SeqCst), 1);
    let mut waiters: Vec<_> = (0..5)
        .map(|_| {
            let (init, polls, dropped) = probe(async { 2 });
            (
                Driven::new(map.get_or_insert_with_async(&1, init)),
                polls,
                dropped,
            )
        })
        .collect();
    for (w, _, _) in &mut waiters {
        w.pending();
        w.pending(); // polled again while waiting: still only waiting
    }
    assert_eq!(
        leader_polls.load(SeqCst),
        1,
        "waiters do not poll the leader's future"
    );
    release.send(()).unwrap();
    assert_eq!(leader.ready(), 1);
    assert_eq!(leader_polls.load(SeqCst), 2);
    drop(leader);
    assert!(leader_dropped.load(SeqCst));
    for (mut w, polls, dropped) in waiters {
        assert_eq!(w.ready(), 1);
        drop(w);
        assert_eq!(
            polls.load(SeqCst),
            0,
            "a waiter's constructor is never polled"
        );
        assert!(dropped.load(SeqCst));
    }
}

/// On a multi-thread runtime with tasks waking on both workers: the leader's constructor is
/// polled from the leader's task only (its polls count equals the leader's wake-ups), 100
/// rounds, 32 waiters each.
#[test]
fn the_leaders_constructor_runs_once_however_waiters_are_scheduled() {
    let rt = two_worker_runtime();
    for round in 0..100 {
        let map: TtlMap<u32, u32> = map();
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Barrier::new(33));
        rt.block_on(async {
            let tasks: Vec<_> = (0..33)
                .map(|i| {
                    let (map, runs, gate) = (map.clone(), runs.clone(), gate.clone());
                    tokio::spawn(async move {
                        gate.wait().await;
                        let (init, polls, _) = probe(async {
                            runs.fetch_add(1, SeqCst);
                            for _ in 0..5 {
                                tokio::task::yield_now().await;
                            }
                            i
                        });
                        let v = map.get_or_insert_with_async(&1, init).await;
                        (v, polls.load(SeqCst))
                    })
                })
                .collect();
            let mut polled = 0;
            let mut values = Vec::new();
            for task in tasks {
                let (v, polls) = task.await.unwrap();
                values.push(v);
                polled += usize::from(polls > 0);
            }
            values.dedup();
            assert_eq!(values.len(), 1, "round {round}");
            assert_eq!(polled, 1, "round {round}: one constructor polled");
        });
        assert_eq!(runs.load(SeqCst), 1, "round {round}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks of several runtimes, block_on inside a constructor
// ---------------------------------------------------------------------------------------------

/// One flight, waited for by tasks of three runtimes (a current-thread one on its own thread,
/// a two-worker one, and the current-thread runtime of the leader itself) and a sync thread:
/// one run, every caller gets its value.
#[test]
fn tasks_on_different_runtimes_wait_for_one_flight() {
    let map: TtlMap<u32, u32> = map();
    let runs = Arc::new(AtomicUsize::new(0));
    let (release, released) = oneshot::channel::<()>();
    let leader_thread = {
        let (map, runs) = (map.clone(), runs.clone());
        thread::spawn(move || {
            let rt = current_thread();
            rt.block_on(async {
                let same_rt_waiter = {
                    let map = map.clone();
                    tokio::spawn(async move {
                        wait_until_async("the leader leads", || map.stats().misses >= 1).await;
                        map.get_or_insert_with_async(&1, async { unreachable!() })
                            .await
                    })
                };
                let led = map
                    .get_or_insert_with_async(&1, async {
                        runs.fetch_add(1, SeqCst);
                        released.await.unwrap();
                        7
                    })
                    .await;
                (led, same_rt_waiter.await.unwrap())
            })
        })
    };
    wait_until("the leader leads", || map.stats().misses >= 1);
    let other_current = {
        let map = map.clone();
        thread::spawn(move || {
            current_thread().block_on(async {
                let waiters: Vec<_> = (0..4)
                    .map(|_| {
                        let map = map.clone();
                        tokio::spawn(async move {
                            map.get_or_insert_with_async(&1, async { unreachable!() })
                                .await
                        })
                    })
                    .collect();
                let mut got = Vec::new();
                for w in waiters {
                    got.push(w.await.unwrap());
                }
                got
            })
        })
    };
    let multi = two_worker_runtime();
    let multi_tasks: Vec<_> = (0..4)
        .map(|_| {
            let map = map.clone();
            multi.spawn(async move {
                map.get_or_insert_with_async(&1, async { unreachable!() })
                    .await
            })
        })
        .collect();
    let sync_waiter = {
        let map = map.clone();
        thread::spawn(move || map.get_or_insert_with(&1, || unreachable!()))
    };
    wait_until("all wait", || map.stats().coalesced == 10);
    release.send(()).unwrap();
    assert_eq!(leader_thread.join().unwrap(), (7, 7));
    assert_eq!(other_current.join().unwrap(), [7; 4]);
    for t in multi_tasks {
        assert_eq!(multi.block_on(t).unwrap(), 7);
    }
    assert_eq!(sync_waiter.join().unwrap(), 7);
    assert_eq!(runs.load(SeqCst), 1);
}

/// `block_on` inside constructors, for OTHER keys: a sync constructor drives an async call
/// with a runtime's `block_on`; an async constructor blocks its worker
/// (`block_in_place` + `Handle::block_on`) on another key's async call, and on a nested
/// executor (a hand-rolled `block_on`). All complete, waiters included.
#[test]
fn block_on_inside_a_constructor_for_other_keys() {
    let map: TtlMap<u32, u32> = map();
    // Sync constructor, runtime block_on inside.
    let got = map.get_or_insert_with(&1, || {
        current_thread().block_on(map.get_or_insert_with_async(&2, async { 2 })) + 10
    });
    assert_eq!((got, map.get(&2)), (12, Some(2)));
    // Async constructor, block_in_place + Handle::block_on inside, with a waiter.
    let rt = two_worker_runtime();
    rt.block_on(async {
        let leader = {
            let map = map.clone();
            tokio::spawn(async move {
                let inner = map.clone();
                map.get_or_insert_with_async(&3, async move {
                    wait_until_async("a waiter", || inner.stats().coalesced >= 1).await;
                    tokio::task::block_in_place(|| {
                        let handle = tokio::runtime::Handle::current();
                        handle.block_on(inner.get_or_insert_with_async(&4, async { 4 }))
                    }) + 30
                })
                .await
            })
        };
        wait_until_async("the leader leads", || map.stats().misses >= 3).await;
        let waiter = map
            .get_or_insert_with_async(&3, async { unreachable!() })
            .await;
        assert_eq!(waiter, 34);
        assert_eq!(leader.await.unwrap(), 34);
    });
    // Async constructor, a nested hand-rolled executor for another key.
    let got = current_thread().block_on(map.get_or_insert_with_async(&5, async {
        let nested = pin!(map.get_or_insert_with_async(&6, async { 6 }));
        poll_for(nested, GUARD).expect("another key completes") + 50
    }));
    assert_eq!((got, map.get(&6)), (56, Some(6)));
}

/// `block_on` inside a constructor for ITS OWN key. Sync constructor driving an async call of
/// its key with a Tokio `block_on`: panics as re-entry. Async constructor calling the sync
/// form of its key: panics as re-entry. Difference (documented in README "Single flight", moka
/// hangs in all three): an async constructor that runs a nested executor to await its own key
/// waits forever; here the nested wait is bounded (`poll_for`), given up, and the flight then
/// lands normally for its waiter.
#[test]
fn block_on_inside_a_constructor_for_its_own_key() {
    let map: TtlMap<u32, u32> = map();
    let sync_in = catch_unwind(AssertUnwindSafe(|| {
        map.get_or_insert_with(&1, || {
            current_thread().block_on(map.get_or_insert_with_async(&1, async { 1 }))
        })
    }));
    assert_reentry(sync_in);
    let rt = current_thread();
    let async_in = rt.block_on(async {
        let call = AssertUnwindSafe(
            map.get_or_insert_with_async(&2, async { map.get_or_insert_with(&2, || 2) }),
        );
        let mut call = pin!(call);
        poll_fn(|cx| Poll::Ready(catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))))).await
    });
    match async_in {
        Err(panic) => {
            let message = panic_message(&*panic);
            assert!(
                message.contains("re-entrant call for the same key"),
                "{message}"
            );
        }
        Ok(poll) => panic!("expected a re-entry panic, got {:?}", poll.is_ready()),
    }
    // Nested executor: documented hang, bounded here.
    let waiter_got = rt.block_on(async {
        let gave_up = Arc::new(AtomicBool::new(false));
        let leader = map.get_or_insert_with_async(&3, async {
            let nested = pin!(map.get_or_insert_with_async(&3, async { 99 }));
            let got = poll_for(nested, Duration::from_millis(50));
            gave_up.store(got.is_none(), SeqCst);
            step().await;
            3
        });
        let waiter = async {
            wait_until_async("the leader leads", || map.stats().misses >= 4).await;
            map.get_or_insert_with_async(&3, async { unreachable!() })
                .await
        };
        let (led, waited) = tokio::join!(leader, waiter);
        assert!(
            gave_up.load(SeqCst),
            "the nested wait for its own key hangs (documented)"
        );
        assert_eq!(led, 3);
        waited
    });
    assert_eq!(waiter_got, 3);
    assert_eq!(map.get(&3), Some(3));
}

// ---------------------------------------------------------------------------------------------
// Freshness in the async forms
// ---------------------------------------------------------------------------------------------

fn fresh_map(clock: &ManualClock) -> TtlMap<u32, u32> {
    TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .refresh_after(Duration::from_secs(10))
        .stale_if_error(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
}

/// `refresh_after` in async code: 16 tasks find a value due; one leads the rebuild (held),
/// the others get the current value at once, without waiting (on a current-thread runtime,
/// a waiting task would hang the test). Cancelling the rebuilding task keeps the value, and the
/// next call rebuilds again.
#[test]
fn async_refresh_serves_the_old_value_and_survives_cancellation() {
    for (flavour, rt) in runtimes() {
        let clock = ManualClock::new();
        let map = fresh_map(&clock);
        let runs = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            assert_eq!(map.get_or_insert_with_async(&1, async { 1 }).await, 1);
            clock.advance(Duration::from_secs(11));
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (map, runs) = (map.clone(), runs.clone());
                    tokio::spawn(async move {
                        map.get_or_insert_with_async(&1, async move {
                            runs.fetch_add(1, SeqCst);
                            pending::<u32>().await
                        })
                        .await
                    })
                })
                .collect();
            wait_until_async("the rebuild started", || runs.load(SeqCst) == 1).await;
            // 15 tasks return without waiting (a second waiting one would keep this from
            // holding, and fail it after PATIENCE, however loaded the machine); only then is
            // the one left the held rebuild, not a task merely scheduled late.
            wait_until_async(&format!("{flavour}: 15 tasks returned"), || {
                tasks.iter().filter(|task| task.is_finished()).count() == 15
            })
            .await;
            let mut held = None;
            for task in tasks {
                if task.is_finished() {
                    assert_eq!(task.await.unwrap(), 1, "{flavour}: the old value");
                } else {
                    assert!(held.is_none(), "{flavour}: two tasks wait");
                    held = Some(task);
                }
            }
            let held = held.expect("the rebuilding task is held");
            held.abort();
            assert!(held.await.unwrap_err().is_cancelled());
            assert_eq!(
                map.get(&1),
                Some(1),
                "{flavour}: a cancelled rebuild keeps it"
            );
            // The next call rebuilds again.
            assert_eq!(map.get_or_insert_with_async(&1, async { 2 }).await, 2);
            assert_eq!(map.get(&1), Some(2));
        });
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(map.stats().refreshes, 1, "{flavour}");
    }
}

/// An `insert` during an async rebuild wins: the rebuild's value is returned to its caller but
/// not stored over the inserted one.
#[test]
fn insert_during_an_async_refresh_wins() {
    let clock = ManualClock::new();
    let map = fresh_map(&clock);
    map.insert(1, 1);
    clock.advance(Duration::from_secs(11));
    let (release, released) = oneshot::channel::<()>();
    let mut rebuild = Driven::new(map.get_or_insert_with_async(&1, async {
        released.await.unwrap();
        2
    }));
    rebuild.pending();
    assert_eq!(map.get(&1), Some(1));
    map.insert(1, 100);
    release.send(()).unwrap();
    assert_eq!(rebuild.ready(), 2);
    assert_eq!(map.get(&1), Some(100));
}

/// `stale_if_error` in the async forms: the value expired 10 s ago and its rebuild fails.
/// Shared form: the leader and its waiters all get the stale value. Own form: the waiters'
/// own attempts fail too and they get it as well. `None` (optionally): the same.
#[test]
fn async_stale_if_error_serves_leader_and_waiters() {
    for form in ["shared", "own", "optionally"] {
        let clock = ManualClock::new();
        let map = fresh_map(&clock);
        let rt = current_thread();
        rt.block_on(async {
            map.insert(1, 1);
            clock.advance(Duration::from_secs(70));
            assert_eq!(map.get(&1), None, "expired");
            let (fail, failed) = oneshot::channel::<()>();
            let call = |held: Option<oneshot::Receiver<()>>| {
                let map = &map;
                async move {
                    let init = async move {
                        if let Some(held) = held {
                            held.await.unwrap();
                        }
                        Err::<u32, _>(MyError("down".into()))
                    };
                    match form {
                        "shared" => map.try_get_or_insert_with_shared_async(&1, init).await.ok(),
                        "own" => map.try_get_or_insert_with_async(&1, init).await.ok(),
                        _ => {
                            let init = async { init.await.ok() };
                            map.optionally_get_or_insert_with_async(&1, init).await
                        }
                    }
                }
            };
            let waiters = async {
                wait_until_async("the leader leads", || map.stats().misses == 2).await;
                let w = tokio::join!(call(None), call(None), async {
                    wait_until_async("2 wait", || map.stats().coalesced == 2).await;
                    fail.send(()).unwrap();
                });
                (w.0, w.1)
            };
            let (led, waited) = tokio::join!(call(Some(failed)), waiters);
            assert_eq!(led, Some(1), "{form}: the leader gets the stale value");
            assert_eq!(waited, (Some(1), Some(1)), "{form}: so do its waiters");
        });
        assert!(map.stats().stale_served >= 3, "{form}: {:?}", map.stats());
    }
}

// ---------------------------------------------------------------------------------------------
// More cancellation, panics and waiting shapes
// ---------------------------------------------------------------------------------------------

/// moka `abort_get_with` inside one task: `tokio::join!` of a leader under a `timeout` and a
/// waiter of the same key, so both share one waker. The timeout drops the leader; the waiter,
/// woken through that shared waker, leads.
#[test]
fn a_timed_out_leader_and_its_waiter_joined_in_one_task() {
    let rt = current_thread();
    let map: TtlMap<u32, u32> = map();
    rt.block_on(async {
        let leader = tokio::time::timeout(
            Duration::from_millis(5),
            map.get_or_insert_with_async(&1, pending()),
        );
        let waiter = async {
            wait_until_async("the leader leads", || map.stats().misses == 1).await;
            map.get_or_insert_with_async(&1, async { 3 }).await
        };
        let joined = tokio::time::timeout(GUARD, async { tokio::join!(leader, waiter) }).await;
        let (led, waited) = joined.expect("the waiter is stranded");
        assert!(led.is_err());
        assert_eq!(waited, 3);
    });
    assert_eq!(map.get(&1), Some(3));
}

/// A leader future dropped while its thread unwinds from an UNRELATED panic (a sibling branch
/// of its task panicked) abandons its flight, it did not panic itself: its waiters start over
/// with ONE leading (the second waiter joins the first's flight, its constructor unpolled),
/// rather than each making its own attempt.
#[test]
fn a_leader_dropped_by_an_unrelated_panic_is_abandoned_not_panicked() {
    let map: TtlMap<u32, u32> = map();
    let mut leader = Driven::new(map.get_or_insert_with_async(&1, pending()));
    leader.pending();
    let (init1, _, _) = probe(async { pending::<u32>().await });
    let mut w1 = Driven::new(map.get_or_insert_with_async(&1, init1));
    let (init2, polls2, _) = probe(async { 2 });
    let mut w2 = Driven::new(map.get_or_insert_with_async(&1, init2));
    w1.pending();
    w2.pending();
    let unrelated = catch_unwind(AssertUnwindSafe(move || {
        let _leader = leader;
        panic!("unrelated");
    }));
    assert!(unrelated.is_err());
    w1.pending(); // leads, held
    w2.pending(); // joins w1's flight
    assert_eq!(
        polls2.load(SeqCst),
        0,
        "w2 waits for w1 instead of attempting"
    );
}

/// A waiter of a failed shared-error flight, per form: a shared waiter with the same error type
/// gets the leader's error; waiters that cannot share it (another error type, the own-error
/// form, `optionally_`, the infallible form) each make their own attempt.
#[test]
fn waiters_of_other_forms_on_a_failed_shared_flight() {
    #[derive(Debug)]
    struct OtherError;
    let map: TtlMap<u32, u32> = map();
    let (fail, failed) = oneshot::channel::<()>();
    let mut leader = Driven::new(map.try_get_or_insert_with_shared_async(&1, async {
        failed.await.unwrap();
        Err::<u32, _>(MyError("down".into()))
    }));
    leader.pending();
    let mut same = Driven::new(
        map.try_get_or_insert_with_shared_async::<_, MyError>(&1, async { unreachable!() }),
    );
    let mut other =
        Driven::new(map.try_get_or_insert_with_shared_async::<_, OtherError>(&1, async { Ok(2) }));
    let mut own = Driven::new(map.try_get_or_insert_with_async::<_, MyError>(&1, async { Ok(3) }));
    let mut optionally =
        Driven::new(map.optionally_get_or_insert_with_async(&1, async { Some(4) }));
    let mut plain = Driven::new(map.get_or_insert_with_async(&1, async { 5 }));
    same.pending();
    other.pending();
    own.pending();
    optionally.pending();
    plain.pending();
    assert_eq!(map.stats().coalesced, 5);
    fail.send(()).unwrap();
    assert_eq!(leader.ready().unwrap_err().0, "down");
    assert_eq!(same.ready().unwrap_err().0, "down");
    assert_eq!(other.ready().unwrap(), 2);
    assert_eq!(own.ready().unwrap(), 3);
    assert_eq!(optionally.ready(), Some(4));
    assert_eq!(plain.ready(), 5);
}

/// "A panicking [refresh] panics in its caller and keeps [the value]", async: the rebuild's
/// future panics at its second poll; the old value stays and the next call rebuilds.
#[test]
fn a_panicking_async_refresh_keeps_the_value() {
    let clock = ManualClock::new();
    let map = fresh_map(&clock);
    map.insert(1, 1);
    clock.advance(Duration::from_secs(11));
    let mut rebuild = Driven::new(map.get_or_insert_with_async(&1, async {
        step().await;
        panic!("rebuild failed")
    }));
    rebuild.pending();
    assert_eq!(map.get_or_insert_with_async_now(&1), Some(1));
    assert!(catch_unwind(AssertUnwindSafe(|| rebuild.poll())).is_err());
    drop(rebuild);
    assert_eq!(map.get(&1), Some(1));
    let mut next = Driven::new(map.get_or_insert_with_async(&1, async { 2 }));
    assert_eq!(next.ready(), 2);
    assert_eq!(map.get(&1), Some(2));
}

/// Helper for the test above: a memoizing call that must not wait.
trait NowExt {
    fn get_or_insert_with_async_now(&self, key: &u32) -> Option<u32>;
}

impl NowExt for TtlMap<u32, u32> {
    fn get_or_insert_with_async_now(&self, key: &u32) -> Option<u32> {
        let mut call = Driven::new(self.get_or_insert_with_async(key, async { unreachable!() }));
        match call.poll() {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }
}

/// Waiters await without busy-polling: while the leader's constructor yields 50 times on a
/// current-thread runtime, each waiting task is polled twice (to join, and once woken by the
/// landing), not once per leader step.
#[test]
fn waiters_are_not_woken_until_the_flight_lands() {
    let rt = current_thread();
    let map: TtlMap<u32, u32> = map();
    rt.block_on(async {
        let leader = {
            let map = map.clone();
            tokio::spawn(async move {
                let inner = map.clone();
                map.get_or_insert_with_async(&1, async move {
                    wait_until_async("8 wait", || inner.stats().coalesced == 8).await;
                    for _ in 0..50 {
                        tokio::task::yield_now().await;
                    }
                    1
                })
                .await
            })
        };
        wait_until_async("the leader leads", || map.stats().misses == 1).await;
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let map = map.clone();
                let (call, polls, _) = probe(async move {
                    map.get_or_insert_with_async(&1, async { unreachable!() })
                        .await
                });
                (tokio::spawn(call), polls)
            })
            .collect();
        assert_eq!(leader.await.unwrap(), 1);
        for (task, polls) in waiters {
            assert_eq!(task.await.unwrap(), 1);
            assert_eq!(polls.load(SeqCst), 2, "polled to join, then once landed");
        }
    });
}

/// Polls its future with a waker of its own that forwards to the task's, as
/// `FuturesUnordered` (and so `join_all` of more than 30 futures, `buffer_unordered`) does.
async fn with_child_waker<F: Future>(future: F) -> F::Output {
    struct Child(Waker);
    impl Wake for Child {
        fn wake(self: Arc<Self>) {
            self.0.wake_by_ref();
        }
    }
    let mut future = pin!(future);
    poll_fn(|cx| {
        let child = Waker::from(Arc::new(Child(cx.waker().clone())));
        future.as_mut().poll(&mut Context::from_waker(&child))
    })
    .await
}

/// Re-entry through an in-task combinator with per-child wakers: the constructor of key 1
/// awaits, in its own task, a `FuturesUnordered`-style set that holds a call for key 1 (as a
/// recursive computation that `join_all`s its dependencies, one of which is itself). The
/// waiter's waker is the combinator's, not the task's, so this cannot be told from a task the
/// body drives inline (which may wait): the README lists it with `block_on` as a case that
/// hangs. This pins that documented limit: the call stays pending, and nothing else is stuck
/// (the flight is abandoned when the call is dropped, and the key is built afterwards).
#[test]
fn reentry_through_a_per_child_waker_combinator_hangs_as_documented() {
    let map: TtlMap<u32, u32> = map();
    let mut call = Driven::new(map.get_or_insert_with_async(&1, async {
        with_child_waker(map.get_or_insert_with_async(&1, async { 2 })).await + 1
    }));
    for _ in 0..10 {
        assert!(call.poll().is_pending(), "the documented limit changed");
    }
    drop(call);
    let mut again = Driven::new(map.get_or_insert_with_async(&1, async { 5 }));
    assert_eq!(again.poll(), Poll::Ready(5));
}
