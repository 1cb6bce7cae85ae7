//! Single-flight test suites of other libraries, ported to `TtlMap`'s memoizing methods to find
//! promises we break: one module per source.
//!
//! Sources (read at these commits):
//! - Go, golang/sync ec11c4a93de22cde2abe2bf74d70791033c2464c, `singleflight/singleflight_test.go`
//!   (`TestDo`, `TestDoErr`, `TestDoDupSuppress`, `TestForget`, `TestDoChan`, `TestPanicDo`,
//!   `TestGoexitDo`, `TestPanicDoChan`, `TestPanicDoSharedByDoChan`, `TestPanicErrorUnwrap`,
//!   `ExampleGroup`); golang/sync's history has no `TestDoChanNoGoroutineLeak`, but its idea
//!   (a caller that stops waiting leaves nothing behind) is `no_waiter_leaks_its_waker`;
//! - PureWhiteWu/async_singleflight 5c516f7984c98b8484e421a72f73e5d751d140f4, `src/lib.rs`
//!   `mod tests` (and `Group::work`'s documented error rule in `src/group.rs`);
//! - ihciah/singleflight-async 60f9c45f6edd8af79c041bc7c6c13ce821e64626, `src/lib.rs` `mod tests`;
//! - tokio-rs/tokio ea91b33ca57ff0581b38e735cc108f831bccbdaa, `tokio/tests/sync_once_cell.rs`
//!   (the tests of `get_or_init`, `get_or_try_init`, `set`, `get`);
//! - danieldg/async-once-cell 61dec744f5905c0fe39a45569c1f593412d834f7, `src/lib.rs` `mod test`.
//!
//! The peers order their goroutines and tasks with `sleep`; these ports order them on the
//! map's counters (`coalesced`, which the SPEC lets tools watch), channels, barriers and
//! hand-polled futures, and every wait is bounded (`within`, `wait_until`, a Tokio `timeout`),
//! so a hang fails instead of blocking.
//!
//! Differences from the peers are marked `Difference:` where they are asserted. In short: a
//! panicking or unshareably failing constructor makes each waiter try for itself (Go hands
//! every waiter the leader's panic; tokio's and async-once-cell's cells queue them one after
//! another); a panic goes on in its caller with its own payload, unwrapped; an `insert` during
//! a flight wins over it (tokio's `set` fails then); and this is a cache: a landed value is a
//! hit for later callers, where a bare singleflight group forgets it.
//!
//! Found by this port: no broken promise. Not ported: Go's child-process crash checks (ours
//! does not crash), async_singleflight's `test_drop_leader_no_retry` (no such API), tokio's
//! `drop_cell*`, `drop_into_inner*` and `from` (no counterpart in a map).

use std::future::{Future, pending, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any, resume_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, Weak, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use cache_core::TtlMap;
use tests::{Driven, block_on, counts, panic_message, two_worker_runtime, wait_until, within};
use tokio::runtime::Runtime;
use tokio::sync::{Notify, oneshot};
use tokio::time::timeout;

const HOUR: Duration = Duration::from_secs(3600);
/// Far longer than any flight here needs: a guard that turns a hang into a failure.
const GUARD: Duration = Duration::from_secs(20);

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Both flavours of Tokio runtime.
fn runtimes() -> [Runtime; 2] {
    [current_thread(), two_worker_runtime()]
}

fn group<V: Clone + Send + Sync + 'static>() -> TtlMap<String, V> {
    TtlMap::new(HOUR)
}

/// Pending until `open` holds. It registers no waker: for futures polled by hand.
async fn gate(open: &AtomicBool) {
    poll_fn(|_| match open.load(SeqCst) {
        true => Poll::Ready(()),
        false => Poll::Pending,
    })
    .await
}

/// A waker whose wakes this test can read (`tests::CountingWaker` keeps its count private).
#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Go: golang.org/x/sync/singleflight
// ---------------------------------------------------------------------------------------------

mod go_singleflight {
    use super::*;

    /// `TestDo` and `TestDoChan`: one call, its value; `Do` is the sync form, `DoChan` (a
    /// result to receive later) the async one.
    #[test]
    fn test_do_and_test_do_chan() {
        let g = group::<&str>();
        assert_eq!(g.get_or_insert_with("key", || "bar"), "bar");
        let chan = group::<&str>();
        assert_eq!(
            block_on(chan.get_or_insert_with_async("key", async { "bar" })),
            "bar"
        );
        for g in [&g, &chan] {
            assert_eq!(counts(g), [0, 1, 1, 0, 0, 0, 0, 0, 0]);
            assert_eq!(g.get("key"), Some("bar"));
        }
    }

    /// `TestDoErr`: the caller gets the very error its function returned, and no value. Ours
    /// stores nothing either (errors are not cached), so the next call runs again.
    #[test]
    fn test_do_err() {
        #[derive(Debug)]
        struct SomeErr(&'static str);
        let some_err = Arc::new(SomeErr("Some error"));
        let g = group::<&str>();
        let err = g
            .try_get_or_insert_with("key", || Err(Arc::clone(&some_err)))
            .unwrap_err();
        assert!(Arc::ptr_eq(&err, &some_err), "{err:?}");
        // The shared form hands it out as an `Arc` of what the function returned.
        let shared = g
            .try_get_or_insert_with_shared("key", || Err(SomeErr("Some error")))
            .unwrap_err();
        assert_eq!(shared.0, "Some error");
        assert_eq!(g.get("key"), None);
        assert_eq!(g.len(), 0);
        let mut runs = 0;
        let ok = g.try_get_or_insert_with::<_, SomeErr>("key", || {
            runs += 1;
            Ok("bar")
        });
        assert_eq!((ok.unwrap(), runs), ("bar", 1));
        // misses: the two failures, the `get`, the success.
        assert_eq!(counts(&g), [0, 4, 1, 0, 0, 0, 0, 0, 0]);
    }

    /// `TestDoDupSuppress`: ten goroutines call `Do` while the function blocks on a channel.
    /// Go allows between 1 and 9 calls (its goroutines may arrive after the flight); here the
    /// channel is fed only once the nine others wait (`coalesced`), so exactly one call runs.
    #[test]
    fn test_do_dup_suppress() {
        const N: usize = 10;
        within(GUARD, || {
            let g = group::<String>();
            let calls = Arc::new(AtomicUsize::new(0));
            let (c_tx, c_rx) = mpsc::channel::<String>();
            let c_rx = Arc::new(Mutex::new(c_rx));
            let start = Arc::new(Barrier::new(N));
            let callers: Vec<_> = (0..N)
                .map(|_| {
                    let (g, calls, c_rx, start) =
                        (g.clone(), calls.clone(), c_rx.clone(), start.clone());
                    thread::spawn(move || {
                        start.wait();
                        g.get_or_insert_with("key", || {
                            calls.fetch_add(1, SeqCst);
                            c_rx.lock().unwrap().recv_timeout(GUARD).expect("bar")
                        })
                    })
                })
                .collect();
            wait_until("nine callers wait", || g.stats().coalesced == N as u64 - 1);
            c_tx.send("bar".to_owned()).unwrap();
            for caller in callers {
                assert_eq!(caller.join().unwrap(), "bar");
            }
            assert_eq!(calls.load(SeqCst), 1);
            assert_eq!(counts(&g), [0, N as u64, 1, 0, 0, N as u64 - 1, 0, 0, 0]);
        });
    }

    /// `TestForget` (golang/go#31420), with `Forget` as `remove`: a call made after `Forget`
    /// starts a new flight instead of joining the forgotten one, and a call made after the
    /// forgotten flight ended joins the new one and gets its value (2). Ours adds: the
    /// forgotten flight's caller still gets its value (1), which is not stored (invalidation
    /// wins). The first call is `Do` (a thread), the others `DoChan` (async, polled by hand).
    #[test]
    fn test_forget() {
        within(GUARD, || {
            let g = group::<i32>();
            let (first_started_tx, first_started) = mpsc::channel();
            let (unblock_first_tx, unblock_first) = mpsc::channel::<()>();
            let first = {
                let g = g.clone();
                thread::spawn(move || {
                    g.get_or_insert_with("key", || {
                        first_started_tx.send(()).unwrap();
                        unblock_first.recv_timeout(GUARD).unwrap();
                        1
                    })
                })
            };
            first_started.recv_timeout(GUARD).unwrap();
            assert_eq!(g.remove("key"), None);

            let (unblock_second_tx, unblock_second) = oneshot::channel::<()>();
            let mut second = Driven::new(g.get_or_insert_with_async("key", async {
                unblock_second.await.unwrap();
                2
            }));
            second.pending();
            assert_eq!(
                g.stats().coalesced,
                0,
                "the second call joined a forgotten flight"
            );

            unblock_first_tx.send(()).unwrap();
            assert_eq!(first.join().unwrap(), 1);
            assert_eq!(g.get("key"), None, "a forgotten flight stored its value");

            let mut third = Driven::new(g.get_or_insert_with_async("key", async { 3 }));
            third.pending();
            assert_eq!(g.stats().coalesced, 1);

            unblock_second_tx.send(()).unwrap();
            assert_eq!(second.ready(), 2);
            assert_eq!(third.wakes(), 1);
            assert_eq!(third.ready(), 2);
            assert_eq!(g.get("key"), Some(2));
            // misses: first, the `get`, second, third; the last `get` hits.
            assert_eq!(counts(&g), [1, 4, 1, 0, 0, 1, 0, 0, 0]);
        });
    }

    /// `TestForget` with every call `Do`, on threads.
    #[test]
    fn test_forget_all_sync() {
        within(GUARD, || {
            let g = group::<i32>();
            let (started_tx, started) = mpsc::channel();
            let (unblock_first_tx, unblock_first) = mpsc::channel::<()>();
            let (unblock_second_tx, unblock_second) = mpsc::channel::<()>();
            let first = {
                let (g, started_tx) = (g.clone(), started_tx.clone());
                thread::spawn(move || {
                    g.get_or_insert_with("key", || {
                        started_tx.send(1).unwrap();
                        unblock_first.recv_timeout(GUARD).unwrap();
                        1
                    })
                })
            };
            assert_eq!(started.recv_timeout(GUARD).unwrap(), 1);
            assert_eq!(g.remove("key"), None);
            let second = {
                let g = g.clone();
                thread::spawn(move || {
                    g.get_or_insert_with("key", || {
                        started_tx.send(2).unwrap();
                        unblock_second.recv_timeout(GUARD).unwrap();
                        2
                    })
                })
            };
            assert_eq!(started.recv_timeout(GUARD).unwrap(), 2);
            unblock_first_tx.send(()).unwrap();
            assert_eq!(first.join().unwrap(), 1);
            assert_eq!(g.get("key"), None);
            let third = {
                let g = g.clone();
                thread::spawn(move || g.get_or_insert_with("key", || 3))
            };
            wait_until("the third call waits", || g.stats().coalesced == 1);
            unblock_second_tx.send(()).unwrap();
            assert_eq!(second.join().unwrap(), 2);
            assert_eq!(third.join().unwrap(), 2);
            assert_eq!(g.get("key"), Some(2));
            assert_eq!(counts(&g), [1, 4, 1, 0, 0, 1, 0, 0, 0]);
        });
    }

    /// `TestPanicDo` (golang/go#41133): five callers of a panicking function all panic, and
    /// nothing hangs. Here the leader panics only once the four others wait for it.
    ///
    /// Difference: Go's waiters re-panic with the leader's panic (one run); ours each make
    /// their own attempt at once, so each panics with its own function's panic (five runs).
    #[test]
    fn test_panic_do() {
        const N: usize = 5;
        within(GUARD, || {
            let g = group::<u32>();
            let runs = Arc::new(AtomicUsize::new(0));
            let start = Arc::new(Barrier::new(N));
            let callers: Vec<_> = (0..N)
                .map(|i| {
                    let (g, runs, start) = (g.clone(), runs.clone(), start.clone());
                    thread::spawn(move || {
                        start.wait();
                        catch_unwind(AssertUnwindSafe(|| {
                            g.get_or_insert_with("key", || {
                                if runs.fetch_add(1, SeqCst) == 0 {
                                    let all = N as u64 - 1;
                                    wait_until("the others wait", || g.stats().coalesced == all);
                                } else {
                                    // Never one after another: all four attempts run at once.
                                    wait_until("every attempt runs", || runs.load(SeqCst) == N);
                                }
                                panic!("invalid memory address or nil pointer dereference ({i})")
                            })
                        }))
                    })
                })
                .collect();
            for (i, caller) in callers.into_iter().enumerate() {
                let panic = caller.join().unwrap().expect_err("every caller panics");
                let message = panic_message(&*panic);
                assert_eq!(
                    message,
                    format!("invalid memory address or nil pointer dereference ({i})")
                );
            }
            assert_eq!(runs.load(SeqCst), N);
            assert_eq!(counts(&g), [0, N as u64, 0, 0, 0, N as u64 - 1, 0, 0, 0]);
            assert_eq!(g.get_or_insert_with("key", || 7), 7);
        });
    }

    /// What `runtime.Goexit` unwinds with, here: a payload that is no message, thrown by
    /// `resume_unwind`, which (like `Goexit`) runs no panic hook.
    struct Goexit;

    /// `TestGoexitDo`: the leader's function leaves by `runtime.Goexit` (the goroutine ends
    /// without returning); no caller hangs. Rust's analogue is an unwind that is no panic
    /// message: `resume_unwind`. The leader's call unwinds on with that very payload.
    ///
    /// Difference: Go's waiters return a nil value and a nil error; ours each make their own
    /// attempt at once and return their own value, the first of which is stored.
    #[test]
    fn test_goexit_do() {
        const N: usize = 5;
        within(GUARD, || {
            let g = group::<usize>();
            let runs = Arc::new(AtomicUsize::new(0));
            let start = Arc::new(Barrier::new(N));
            let callers: Vec<_> = (0..N)
                .map(|i| {
                    let (g, runs, start) = (g.clone(), runs.clone(), start.clone());
                    thread::spawn(move || {
                        start.wait();
                        catch_unwind(AssertUnwindSafe(|| {
                            g.get_or_insert_with("key", || {
                                if runs.fetch_add(1, SeqCst) == 0 {
                                    let all = N as u64 - 1;
                                    wait_until("the others wait", || g.stats().coalesced == all);
                                    resume_unwind(Box::new(Goexit));
                                }
                                wait_until("every attempt runs", || runs.load(SeqCst) == N);
                                i
                            })
                        }))
                    })
                })
                .collect();
            let mut exited = 0;
            let mut returned = Vec::new();
            for (i, caller) in callers.into_iter().enumerate() {
                match caller.join().unwrap() {
                    Ok(value) => {
                        assert_eq!(value, i, "a waiter got another's value");
                        returned.push(value);
                    }
                    Err(payload) => {
                        assert!(payload.is::<Goexit>(), "{:?}", panic_message(&*payload));
                        exited += 1;
                    }
                }
            }
            assert_eq!((exited, returned.len()), (1, N - 1));
            assert_eq!(runs.load(SeqCst), N);
            let stored = g.get("key").expect("a waiter's attempt is stored");
            assert!(returned.contains(&stored));
            assert_eq!(counts(&g), [1, N as u64, 1, 0, 0, N as u64 - 1, 0, 0, 0]);
        });
    }

    /// `TestDoErr` under `TestDoDupSuppress`'s load, async: the function fails while four
    /// callers wait.
    ///
    /// Difference: Go hands the four its error; ours, for an error that is not shared
    /// (`try_get_or_insert_with_async`), makes each try for itself at once, all four at the
    /// same time (each attempt waits until all four run), each getting its own value.
    #[test]
    fn test_do_err_waiters_attempt_at_once_async() {
        const N: usize = 5;
        for rt in runtimes() {
            let g = group::<usize>();
            let runs = Arc::new(AtomicUsize::new(0));
            rt.block_on(async {
                let callers: Vec<_> = (0..N)
                    .map(|i| {
                        let (g, runs) = (g.clone(), runs.clone());
                        tokio::spawn(async move {
                            let init = async {
                                if runs.fetch_add(1, SeqCst) == 0 {
                                    let all = N as u64 - 1;
                                    let waiting = || g.stats().coalesced == all;
                                    tests::wait_until_async("the others wait", waiting).await;
                                    return Err(format!("leader {i}"));
                                }
                                let all = || runs.load(SeqCst) == N;
                                tests::wait_until_async("every attempt runs", all).await;
                                Ok(i)
                            };
                            g.try_get_or_insert_with_async("key", init).await
                        })
                    })
                    .collect();
                let mut failed = 0;
                for (i, caller) in callers.into_iter().enumerate() {
                    match timeout(GUARD, caller).await.unwrap().unwrap() {
                        Ok(value) => assert_eq!(value, i),
                        Err(error) => {
                            assert_eq!(error, format!("leader {i}"));
                            failed += 1;
                        }
                    }
                }
                assert_eq!(failed, 1);
            });
            assert_eq!(runs.load(SeqCst), N);
            assert!(g.get("key").is_some());
            assert_eq!(counts(&g), [1, N as u64, 1, 0, 0, N as u64 - 1, 0, 0, 0]);
        }
    }

    /// `TestForget` during a waiter's own attempt: the leader panicked, a waiter tries for
    /// itself, and `Forget` (`remove`) comes while it runs: its caller gets its value, which
    /// is not stored. The same for an `insert` during the attempt, which it does not
    /// overwrite, and for `clear` and `retain` (which wins even when it keeps every entry).
    #[test]
    fn test_forget_during_a_waiters_own_attempt() {
        for forget in ["remove", "insert", "clear", "retain"] {
            within(GUARD, move || {
                let g = group::<i32>();
                let (leading_tx, leading) = mpsc::channel();
                let (attempting_tx, attempting) = mpsc::channel();
                let (unblock_tx, unblock) = mpsc::channel::<()>();
                let leader = {
                    let g = g.clone();
                    thread::spawn(move || {
                        catch_unwind(AssertUnwindSafe(|| {
                            g.get_or_insert_with("key", || {
                                leading_tx.send(()).unwrap();
                                wait_until("the waiter waits", || g.stats().coalesced == 1);
                                panic!("leader")
                            })
                        }))
                    })
                };
                leading.recv_timeout(GUARD).unwrap();
                let waiter = {
                    let g = g.clone();
                    thread::spawn(move || {
                        g.get_or_insert_with("key", || {
                            attempting_tx.send(()).unwrap();
                            unblock.recv_timeout(GUARD).unwrap();
                            2
                        })
                    })
                };
                assert!(leader.join().unwrap().is_err());
                attempting.recv_timeout(GUARD).unwrap();
                match forget {
                    "remove" => assert_eq!(g.remove("key"), None),
                    "insert" => assert_eq!(g.insert("key".into(), 3), None),
                    "clear" => g.clear(),
                    _ => g.retain(|_, _| true),
                }
                unblock_tx.send(()).unwrap();
                assert_eq!(waiter.join().unwrap(), 2);
                let expected = (forget == "insert").then_some(3);
                assert_eq!(g.get("key"), expected, "after {forget}");
            });
        }
    }

    /// `TestPanicDoChan`: a function called through `DoChan` panics.
    ///
    /// Difference: Go cannot hand that panic to the receiver, so it crashes the process (the
    /// test runs it in a child process and expects a crash). Ours goes on in the task that
    /// awaits the call, where its executor catches it: the process and the map carry on.
    #[test]
    fn test_panic_do_chan() {
        for rt in runtimes() {
            let g = group::<&str>();
            rt.block_on(async {
                let task = {
                    let g = g.clone();
                    tokio::spawn(async move {
                        g.get_or_insert_with_async("", async { panic!("Panicking in DoChan") })
                            .await
                    })
                };
                let err = timeout(GUARD, task).await.unwrap().unwrap_err();
                assert!(err.is_panic());
                assert_eq!(panic_message(&*err.into_panic()), "Panicking in DoChan");
                assert_eq!(g.get(""), None);
                assert_eq!(g.get_or_insert_with_async("", async { "ok" }).await, "ok");
            });
            assert_eq!(g.get_or_insert_with("", || unreachable!()), "ok");
        }
    }

    /// `TestPanicDoSharedByDoChan`: `Do`'s function panics while a `DoChan` caller waits for
    /// it; the `DoChan` caller's own function must not have run by then, nothing hangs.
    ///
    /// Difference: Go crashes the process with the leader's panic and never runs the `DoChan`
    /// callback. Ours: the leader's call panics on its own thread, and the async waiter, woken,
    /// makes its own attempt (its callback runs now) and gets, and stores, its own value.
    #[test]
    fn test_panic_do_shared_by_do_chan() {
        within(GUARD, || {
            let g = group::<&str>();
            let (blocked_tx, blocked) = mpsc::channel();
            let (unblock_tx, unblock) = mpsc::channel::<()>();
            let leader = {
                let g = g.clone();
                thread::spawn(move || {
                    catch_unwind(AssertUnwindSafe(|| {
                        g.get_or_insert_with("", || {
                            blocked_tx.send(()).unwrap();
                            unblock.recv_timeout(GUARD).unwrap();
                            panic!("Panicking in Do")
                        })
                    }))
                })
            };
            blocked.recv_timeout(GUARD).unwrap();
            let ran = AtomicBool::new(false);
            let mut ch = Driven::new(g.get_or_insert_with_async("", async {
                ran.store(true, SeqCst);
                "DoChan's own attempt"
            }));
            ch.pending();
            assert_eq!(g.stats().coalesced, 1);
            unblock_tx.send(()).unwrap();
            let panic = leader.join().unwrap().expect_err("the leader panics");
            assert_eq!(panic_message(&*panic), "Panicking in Do");
            assert!(
                !ran.load(SeqCst),
                "the waiter's callback ran before the flight landed"
            );
            assert_eq!(ch.wakes(), 1);
            assert_eq!(ch.ready(), "DoChan's own attempt");
            assert!(ran.load(SeqCst));
            assert_eq!(g.get(""), Some("DoChan's own attempt"));
            assert_eq!(counts(&g), [1, 2, 1, 0, 0, 1, 0, 0, 0]);
        });
    }

    #[derive(Debug)]
    struct ErrValue;

    /// `TestPanicErrorUnwrap`: what a caller recovers from a panicking function.
    ///
    /// Difference: Go wraps the panic value in its `panicError` (with a stack trace); ours
    /// passes the original payload on, unwrapped, in the sync and the async forms alike.
    #[test]
    fn test_panic_error_unwrap() {
        let g = group::<u32>();
        let sync = catch_unwind(AssertUnwindSafe(|| {
            g.get_or_insert_with("error", || panic_any(ErrValue))
        }));
        assert!(sync.unwrap_err().is::<ErrValue>());
        let sync = catch_unwind(AssertUnwindSafe(|| {
            g.get_or_insert_with("string", || panic!("string value"))
        }));
        assert_eq!(panic_message(&*sync.unwrap_err()), "string value");
        let future = g.get_or_insert_with_async("error", async { panic_any(ErrValue) });
        let asynch = catch_unwind(AssertUnwindSafe(|| block_on(future)));
        assert!(asynch.unwrap_err().is::<ErrValue>());
        let future = g.try_get_or_insert_with_shared_async::<_, ErrValue>("string", async {
            panic!("string value")
        });
        let asynch = catch_unwind(AssertUnwindSafe(|| block_on(future)));
        assert_eq!(panic_message(&*asynch.unwrap_err()), "string value");
        assert_eq!(g.len(), 0);
    }

    /// `ExampleGroup`: two `DoChan` calls of one key while the first function blocks: only the
    /// first runs; both get "func 1", the second as shared (`coalesced`).
    #[test]
    fn example_group() {
        let g = group::<&str>();
        let block = AtomicBool::new(false);
        let second_ran = AtomicBool::new(false);
        let mut res1 = Driven::new(g.get_or_insert_with_async("key", async {
            gate(&block).await;
            "func 1"
        }));
        let mut res2 = Driven::new(g.get_or_insert_with_async("key", async {
            second_ran.store(true, SeqCst);
            gate(&block).await;
            "func 2"
        }));
        res1.pending();
        res2.pending();
        block.store(true, SeqCst);
        assert_eq!(res1.ready(), "func 1");
        assert_eq!(res2.wakes(), 1);
        assert_eq!(res2.ready(), "func 1");
        assert!(!second_ran.load(SeqCst));
        assert_eq!(counts(&g), [0, 2, 1, 0, 0, 1, 0, 0, 0]);
    }

    /// The idea of a `TestDoChanNoGoroutineLeak` (no test of that name is in golang/sync):
    /// callers that stop waiting leave nothing behind. Four of eight async waiters are
    /// dropped mid-flight: their wakers are let go at once; the four others are woken once
    /// each when it lands and hold nothing of the flight afterwards; the flight is gone (the
    /// next call hits).
    #[test]
    fn no_waiter_leaks_its_waker() {
        let g = group::<&str>();
        let open = AtomicBool::new(false);
        let mut leader = Driven::new(g.get_or_insert_with_async("key", async {
            gate(&open).await;
            "v"
        }));
        leader.pending();
        let mut waiters: Vec<_> = (0..8)
            .map(|_| Driven::new(g.get_or_insert_with_async("key", async { unreachable!() })))
            .collect();
        waiters.iter_mut().for_each(Driven::pending);
        assert_eq!(g.stats().coalesced, 8);
        let wakers: Vec<Weak<_>> = waiters.iter().map(Driven::weak_waker).collect();
        assert!(
            wakers.iter().all(|w| w.strong_count() == 2),
            "the flight holds each"
        );
        let mut kept = waiters.split_off(4);
        drop(waiters);
        assert!(wakers[..4].iter().all(|w| w.strong_count() == 0));
        open.store(true, SeqCst);
        assert_eq!(leader.ready(), "v");
        for (waiter, waker) in kept.iter_mut().zip(&wakers[4..]) {
            assert_eq!(waiter.wakes(), 1);
            assert_eq!(
                waker.strong_count(),
                1,
                "the landed flight still holds a waker"
            );
            assert_eq!(waiter.ready(), "v");
        }
        assert_eq!(g.get_or_insert_with("key", || unreachable!()), "v");
        assert_eq!(counts(&g), [1, 9, 1, 0, 0, 8, 0, 0, 0]);
    }

    /// The same for a waiter that moves to another task before the flight lands: the waker it
    /// replaced is let go at once, and only its latest is woken.
    #[test]
    fn a_waiter_polled_by_another_task_leaves_its_old_waker() {
        let g = group::<&str>();
        let open = AtomicBool::new(false);
        let mut leader = Driven::new(g.get_or_insert_with_async("key", async {
            gate(&open).await;
            "v"
        }));
        leader.pending();
        let (a, b) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        let mut waiter = pin!(g.get_or_insert_with_async("key", async { unreachable!() }));
        let poll_with = |waiter: std::pin::Pin<&mut _>, wakes: &Arc<Wakes>| {
            let waker = Waker::from(Arc::clone(wakes));
            Future::poll(waiter, &mut Context::from_waker(&waker))
        };
        assert!(poll_with(waiter.as_mut(), &a).is_pending());
        assert_eq!(Arc::strong_count(&a), 2);
        assert!(poll_with(waiter.as_mut(), &b).is_pending());
        assert_eq!((Arc::strong_count(&a), Arc::strong_count(&b)), (1, 2));
        open.store(true, SeqCst);
        assert_eq!(leader.ready(), "v");
        assert_eq!((a.0.load(SeqCst), b.0.load(SeqCst)), (0, 1));
        assert_eq!(poll_with(waiter.as_mut(), &b), Poll::Ready("v"));
        assert_eq!(Arc::strong_count(&b), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// PureWhiteWu/async_singleflight
// ---------------------------------------------------------------------------------------------

mod async_singleflight {
    use super::*;

    /// `test_simple`.
    #[test]
    fn test_simple() {
        let g = group::<usize>();
        let res = block_on(g.try_get_or_insert_with_async("key", async { Ok::<_, ()>(7) }));
        assert_eq!(res, Ok(7));
    }

    /// Ten tasks of one key on a two-worker runtime, one run: `key` is looked up as `lookup`.
    async fn ten_tasks<K>(g: TtlMap<K, usize>, key: K, value: usize, fallible: bool)
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        let runs = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (g, key, runs, release) =
                    (g.clone(), key.clone(), runs.clone(), release.clone());
                tokio::spawn(async move {
                    let init = async {
                        runs.fetch_add(1, SeqCst);
                        release.notified().await;
                        value
                    };
                    match fallible {
                        true => g
                            .try_get_or_insert_with_async(&key, async { Ok::<_, ()>(init.await) })
                            .await
                            .unwrap(),
                        false => g.get_or_insert_with_async(&key, init).await,
                    }
                })
            })
            .collect();
        tests::wait_until_async("nine tasks wait", || g.stats().coalesced == 9).await;
        release.notify_one();
        for task in tasks {
            assert_eq!(task.await.unwrap(), value);
        }
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(counts(&g), [0, 10, 1, 0, 0, 9, 0, 0, 0]);
    }

    /// `test_multiple_threads`, `test_multiple_threads_custom_type` (`Group<u64, usize, ()>`,
    /// key 42) and `test_multiple_threads_unary` (`UnaryGroup`: the infallible form). The
    /// peer sleeps 300 ms in each function and only prints; here the function is held until
    /// the nine other tasks wait, and it runs exactly once.
    #[test]
    fn test_multiple_threads_custom_type_and_unary() {
        let rt = two_worker_runtime();
        rt.block_on(async {
            timeout(GUARD, async {
                ten_tasks(group(), "key".to_owned(), 7, true).await;
                ten_tasks(TtlMap::new(HOUR), 42_u64, 8, true).await;
                ten_tasks(TtlMap::new(HOUR), 42_u64, 8, false).await;
            })
            .await
            .expect("no hang");
        });
    }

    /// `test_drop_leader`: the leader's task is aborted while a follower waits; the follower
    /// then leads with its own future and gets 42. The peer yields once and hopes the
    /// follower has joined; here it waits for `coalesced`.
    #[test]
    fn test_drop_leader() {
        for rt in runtimes() {
            let g = group::<usize>();
            rt.block_on(async {
                let (ready_tx, ready_rx) = oneshot::channel::<()>();
                let leader = {
                    let g = g.clone();
                    tokio::spawn(async move {
                        let fut = async move {
                            let _ = ready_tx.send(());
                            pending::<()>().await;
                            Ok::<usize, ()>(7)
                        };
                        g.try_get_or_insert_with_async("key", fut).await
                    })
                };
                ready_rx.await.unwrap();
                let follower = {
                    let g = g.clone();
                    tokio::spawn(async move {
                        g.try_get_or_insert_with_async("key", async { Ok::<usize, ()>(42) })
                            .await
                    })
                };
                tests::wait_until_async("the follower waits", || g.stats().coalesced == 1).await;
                leader.abort();
                assert!(leader.await.unwrap_err().is_cancelled());
                let res = timeout(GUARD, follower).await.unwrap().unwrap();
                assert_eq!(res, Ok(42));
            });
            assert_eq!(g.get("key"), Some(42));
            // The follower's second look, after its leader gave up, is not counted again.
            assert_eq!(counts(&g), [1, 2, 1, 0, 0, 1, 0, 0, 0]);
        }
    }

    /// `Group::work`'s documented rule (`src/group.rs`): "If the leader returns an error, owner
    /// call returns error, others will return `Err(None)`".
    ///
    /// Difference: with `try_get_or_insert_with_shared_async` every follower gets the
    /// leader's error itself (one `Arc`), not a bare "the leader failed"; with
    /// `try_get_or_insert_with_async` (errors not shareable) each makes its own attempt.
    #[test]
    fn work_hands_the_leaders_error_to_the_followers() {
        let g = group::<usize>();
        let fail = AtomicBool::new(false);
        let mut leader = Driven::new(g.try_get_or_insert_with_shared_async("key", async {
            gate(&fail).await;
            Err::<usize, _>("leader's error".to_owned())
        }));
        leader.pending();
        let mut shared = Driven::new(
            g.try_get_or_insert_with_shared_async::<_, String>("key", async { unreachable!() }),
        );
        let mut own =
            Driven::new(g.try_get_or_insert_with_async("key", async { Ok::<_, String>(3) }));
        shared.pending();
        own.pending();
        fail.store(true, SeqCst);
        let leaders = leader.ready().unwrap_err();
        let followers = shared.ready().unwrap_err();
        assert!(Arc::ptr_eq(&leaders, &followers));
        assert_eq!(*followers, "leader's error");
        assert_eq!(own.ready(), Ok(3));
        assert_eq!(counts(&g), [0, 3, 1, 0, 0, 2, 0, 0, 0]);
    }

    // `test_drop_leader_no_retry` is not ported: `work_no_retry` (a follower that returns
    // `LeaderDropped` instead of leading) has no counterpart; our waiters always start over.
}

// ---------------------------------------------------------------------------------------------
// ihciah/singleflight-async
// ---------------------------------------------------------------------------------------------

mod singleflight_async {
    use super::*;

    /// `direct_call`, `call_with_static_str_key`, `call_with_static_string_key` and
    /// `call_with_custom_key`: one call, by each kind of key.
    #[test]
    fn direct_call_by_each_kind_of_key() {
        let g = group::<String>();
        let result = async { "Result".to_owned() };
        assert_eq!(
            block_on(g.get_or_insert_with_async("key", result)),
            "Result"
        );
        let result = async { "Result".to_owned() };
        let other = "other".to_owned();
        assert_eq!(
            block_on(g.get_or_insert_with_async(&other, result)),
            "Result"
        );
        #[derive(Clone, PartialEq, Eq, Hash)]
        struct K(i32);
        let custom: TtlMap<K, String> = TtlMap::new(HOUR);
        let result = async { "Result".to_owned() };
        assert_eq!(
            block_on(custom.get_or_insert_with_async(&K(1), result)),
            "Result"
        );
        assert_eq!(custom.get(&K(1)).as_deref(), Some("Result"));
        assert_eq!(custom.get(&K(2)), None);
    }

    /// `parallel_call`: ten calls of one key in one task (`FuturesUnordered` there, polled by
    /// hand here): the function runs once and all get its value.
    #[test]
    fn parallel_call() {
        let g = group::<String>();
        let call_counter = AtomicUsize::new(0);
        let open = AtomicBool::new(false);
        let mut futures: Vec<_> = (0..10)
            .map(|_| {
                Driven::new(g.get_or_insert_with_async("key", async {
                    gate(&open).await;
                    call_counter.fetch_add(1, SeqCst);
                    "Result".to_owned()
                }))
            })
            .collect();
        futures.iter_mut().for_each(Driven::pending);
        open.store(true, SeqCst);
        assert!(futures.iter_mut().all(|f| f.ready() == "Result"));
        assert_eq!(
            call_counter.load(SeqCst),
            1,
            "future should only be executed once"
        );
        assert_eq!(counts(&g), [0, 10, 1, 0, 0, 9, 0, 0, 0]);
    }

    /// `parallel_call_seq_await`: ten calls made, then awaited one after another.
    ///
    /// Difference: the peer registers a call when it is made; ours when it is first polled.
    /// So the first runs alone to its end, and the nine others find its value (hits), not a
    /// flight to join. The function still runs once.
    #[test]
    fn parallel_call_seq_await() {
        let g = group::<String>();
        let call_counter = AtomicUsize::new(0);
        let futures: Vec<_> = (0..10)
            .map(|_| {
                g.get_or_insert_with_async("key", async {
                    call_counter.fetch_add(1, SeqCst);
                    "Result".to_owned()
                })
            })
            .collect();
        for fut in futures {
            assert_eq!(block_on(fut), "Result");
        }
        assert_eq!(
            call_counter.load(SeqCst),
            1,
            "future should only be executed once"
        );
        assert_eq!(counts(&g), [9, 1, 1, 0, 0, 0, 0, 0, 0]);
    }

    /// `late_wait`: a call made during the flight but awaited after it ended gets its value,
    /// and its own function (which panics) never runs. Ours: a hit.
    #[test]
    fn late_wait() {
        let g = group::<String>();
        let fut_early = g.get_or_insert_with_async("key", async { "Result".to_owned() });
        let fut_late = g.get_or_insert_with_async("key", async { panic!("unexpected") });
        assert_eq!(block_on(fut_early), "Result");
        assert_eq!(block_on(fut_late), "Result");
        assert_eq!(counts(&g), [1, 1, 1, 0, 0, 0, 0, 0, 0]);
    }

    /// `cancel`: a call dropped after one poll (a timeout) leaves nothing: the next runs its
    /// own function. Then a slow call that is not dropped gives its value to a call joined
    /// with it, whose function (which panics) never runs; the joined call ends only once the
    /// slow one's function does (the peer measures 1.5 s of 2 s; here a gate, polled by hand).
    ///
    /// Difference: the second part uses another key: ours keeps "Result2" under the first.
    #[test]
    fn cancel() {
        let g = group::<String>();
        let mut fut_cancel = Driven::new(g.get_or_insert_with_async("key", async {
            pending::<()>().await;
            "Result1".to_owned()
        }));
        fut_cancel.pending();
        drop(fut_cancel);
        let fut_late = g.get_or_insert_with_async("key", async { "Result2".to_owned() });
        assert_eq!(block_on(fut_late), "Result2");

        let slow = AtomicBool::new(false);
        let mut fut_1 = Driven::new(g.get_or_insert_with_async("key 2", async {
            gate(&slow).await;
            "Result1".to_owned()
        }));
        let mut fut_2 = Driven::new(g.get_or_insert_with_async("key 2", async { panic!() }));
        fut_1.pending();
        fut_2.pending();
        fut_2.pending();
        slow.store(true, SeqCst);
        fut_2.pending();
        assert_eq!(fut_1.ready(), "Result1");
        assert_eq!(fut_2.ready(), "Result1");
        assert_eq!(
            (g.get("key").unwrap(), g.get("key 2").unwrap()),
            ("Result2".into(), "Result1".into())
        );
        assert_eq!(counts(&g), [2, 4, 2, 0, 0, 1, 0, 0, 0]);
    }
}

// ---------------------------------------------------------------------------------------------
// tokio: sync::OnceCell (tokio/tests/sync_once_cell.rs)
// ---------------------------------------------------------------------------------------------

mod tokio_once_cell {
    use super::*;

    async fn func1() -> u32 {
        5
    }

    /// The peer's tests run with paused time (`start_paused`, feature `test-util`, which this
    /// package does not enable); here a held flight stands for the sleeping one.
    fn cell() -> TtlMap<(), u32> {
        TtlMap::new(HOUR)
    }

    /// `get_or_init`: two tasks initialise one cell, with `func1` (5) and `func2` (10): both
    /// get 5. Here `func1` is held until the second task waits, and `func2` is never polled.
    #[test]
    fn get_or_init() {
        for rt in runtimes() {
            let once = cell();
            let func2_ran = Arc::new(AtomicBool::new(false));
            rt.block_on(async {
                let release = Arc::new(Notify::new());
                let handle1 = {
                    let (once, release) = (once.clone(), release.clone());
                    tokio::spawn(async move {
                        let func1 = async {
                            release.notified().await;
                            func1().await
                        };
                        once.get_or_insert_with_async(&(), func1).await
                    })
                };
                tests::wait_until_async("handle 1 leads", || once.stats().misses == 1).await;
                let handle2 = {
                    let (once, ran) = (once.clone(), func2_ran.clone());
                    tokio::spawn(async move {
                        let func2 = async move {
                            ran.store(true, SeqCst);
                            10
                        };
                        once.get_or_insert_with_async(&(), func2).await
                    })
                };
                tests::wait_until_async("handle 2 waits", || once.stats().coalesced == 1).await;
                release.notify_one();
                let result1 = timeout(GUARD, handle1).await.unwrap().unwrap();
                let result2 = timeout(GUARD, handle2).await.unwrap().unwrap();
                assert_eq!((result1, result2), (5, 5));
            });
            assert!(!func2_ran.load(SeqCst));
            assert_eq!(counts(&once), [0, 2, 1, 0, 0, 1, 0, 0, 0]);
        }
    }

    /// `get_or_init_panic`: `func1` initialises the cell first, so `func_panic` never runs and
    /// both tasks get 5. Then the other order, which the peer does not test: `func_panic`
    /// leads and panics (its task ends in that panic), and the task waiting for it runs
    /// `func1` (tokio's cell does the same: its next waiter initialises).
    #[test]
    fn get_or_init_panic() {
        for rt in runtimes() {
            let once = cell();
            rt.block_on(async {
                let handle1 = {
                    let once = once.clone();
                    tokio::spawn(async move { once.get_or_insert_with_async(&(), func1()).await })
                };
                assert_eq!(timeout(GUARD, handle1).await.unwrap().unwrap(), 5);
                let func_panic = async { panic!("func_panic") };
                assert_eq!(once.get_or_insert_with_async(&(), func_panic).await, 5);
            });
            let reversed = cell();
            rt.block_on(async {
                let release = Arc::new(Notify::new());
                let panicking = {
                    let (once, release) = (reversed.clone(), release.clone());
                    tokio::spawn(async move {
                        let func_panic = async move {
                            release.notified().await;
                            panic!("func_panic")
                        };
                        once.get_or_insert_with_async(&(), func_panic).await
                    })
                };
                tests::wait_until_async("func_panic leads", || reversed.stats().misses == 1).await;
                let waiter = {
                    let once = reversed.clone();
                    tokio::spawn(async move { once.get_or_insert_with_async(&(), func1()).await })
                };
                tests::wait_until_async("func1's task waits", || reversed.stats().coalesced == 1)
                    .await;
                release.notify_one();
                let panic = timeout(GUARD, panicking).await.unwrap().unwrap_err();
                assert_eq!(panic_message(&*panic.into_panic()), "func_panic");
                assert_eq!(timeout(GUARD, waiter).await.unwrap().unwrap(), 5);
            });
            assert_eq!(reversed.get(&()), Some(5));
        }
    }

    /// `set_and_get`, `get_uninit` and `set_twice`.
    ///
    /// Difference: a second `set` of tokio's cell fails (`AlreadyInitError`); `insert`
    /// replaces the value and returns the old one.
    #[test]
    fn set_and_get_get_uninit_set_twice() {
        let once = cell();
        assert_eq!(once.get(&()), None);
        assert_eq!(once.insert((), 5), None);
        assert_eq!(once.get(&()), Some(5));
        assert_eq!(once.insert((), 6), Some(5));
        assert_eq!(once.get(&()), Some(6));
    }

    /// `set_while_initializing`: a `set` while `get_or_init` runs.
    ///
    /// Difference: tokio's `set` fails then (`InitializingError`) and the cell keeps 5. Ours:
    /// the `insert` wins (Caffeine's rule): the running flight's caller still gets its 5, but
    /// the map keeps the 10 inserted, and a caller arriving after the insert gets 10 at once.
    #[test]
    fn set_while_initializing() {
        let once = cell();
        let open = AtomicBool::new(false);
        let mut handle1 = Driven::new(once.get_or_insert_with_async(&(), async {
            gate(&open).await;
            5
        }));
        handle1.pending();
        assert_eq!(once.insert((), 10), None);
        let late = once.get_or_insert_with_async(&(), async { unreachable!() });
        assert_eq!(block_on(late), 10);
        open.store(true, SeqCst);
        assert_eq!(handle1.ready(), 5);
        assert_eq!(once.get(&()), Some(10));
        assert_eq!(counts(&once), [2, 1, 1, 0, 0, 0, 0, 0, 0]);
    }

    /// `get_or_try_init`: `func_err` fails, and the other task's `func_ok` then initialises
    /// the cell with 10. Here `func_ok`'s task waits for `func_err`'s flight and, as it failed
    /// with an error that is not shared, makes its own attempt at once. With the shared form
    /// it gets `func_err`'s error instead (a difference from tokio, whose cell has no such
    /// form).
    #[test]
    fn get_or_try_init() {
        for shared in [false, true] {
            let once = cell();
            let fail = AtomicBool::new(false);
            let func_ok_ran = AtomicBool::new(false);
            let func_err = async {
                gate(&fail).await;
                Err::<u32, ()>(())
            };
            let func_ok = async {
                func_ok_ran.store(true, SeqCst);
                Ok::<u32, ()>(10)
            };
            let (result1, result2) = if shared {
                let mut h1 = Driven::new(once.try_get_or_insert_with_shared_async(&(), func_err));
                let mut h2 = Driven::new(once.try_get_or_insert_with_shared_async(&(), func_ok));
                h1.pending();
                h2.pending();
                fail.store(true, SeqCst);
                (h1.ready().map_err(|e| *e), h2.ready().map_err(|e| *e))
            } else {
                let mut h1 = Driven::new(once.try_get_or_insert_with_async(&(), func_err));
                let mut h2 = Driven::new(once.try_get_or_insert_with_async(&(), func_ok));
                h1.pending();
                h2.pending();
                fail.store(true, SeqCst);
                (h1.ready(), h2.ready())
            };
            assert_eq!(result1, Err(()));
            match shared {
                false => assert_eq!(result2, Ok(10)),
                true => assert_eq!(result2, Err(())),
            }
            assert_eq!(func_ok_ran.load(SeqCst), !shared);
            assert_eq!(once.get(&()), (!shared).then_some(10));
        }
    }

    // Not ported: `drop_cell`, `drop_cell_new_with`, `drop_into_inner`,
    // `drop_into_inner_new_with` and `from` test `OnceCell::new_with`, `into_inner` and `From`,
    // which have no counterpart in a map.
}

// ---------------------------------------------------------------------------------------------
// danieldg/async-once-cell
// ---------------------------------------------------------------------------------------------

mod async_once_cell {
    use super::*;

    /// Pending while the command is 0, else ready with it; panics when dropped with command
    /// 6. The peer's `CmdWait`.
    struct CmdWait<'a>(&'a AtomicUsize);

    impl Future for CmdWait<'_> {
        type Output = usize;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<usize> {
            match self.0.load(SeqCst) {
                0 => Poll::Pending,
                n => Poll::Ready(n),
            }
        }
    }

    impl Drop for CmdWait<'_> {
        fn drop(&mut self) {
            if self.0.load(SeqCst) == 6 {
                panic!("Panic on drop");
            }
        }
    }

    fn cell() -> TtlMap<(), usize> {
        TtlMap::new(HOUR)
    }

    /// The peer's `maybe`: `get_or_try_init` whose function fails on command 1 and succeeds
    /// with 2 on command 2; `runs` counts the runs of the function.
    async fn maybe(
        cmd: &AtomicUsize,
        cell: &TtlMap<(), usize>,
        runs: &AtomicUsize,
    ) -> Result<usize, usize> {
        cell.try_get_or_insert_with_async(&(), async {
            runs.fetch_add(1, SeqCst);
            match CmdWait(cmd).await {
                1 => Err(1),
                2 => Ok(2),
                n => unreachable!("command {n}"),
            }
        })
        .await
    }

    /// The peer's `never_init`: `get_or_init` whose function must not run.
    async fn never_init(cell: &TtlMap<(), usize>) {
        let v = cell
            .get_or_insert_with_async(&(), async { unreachable!() })
            .await;
        assert_eq!(v, 2);
    }

    /// `slow_path`: `never_init` waits for `maybe`'s flight (a fallible and an infallible
    /// form on one flight), is not ready before it lands, and gets its value.
    #[test]
    fn slow_path() {
        let (cmd, cell, runs) = (AtomicUsize::new(0), cell(), AtomicUsize::new(0));
        let mut f1 = Driven::new(maybe(&cmd, &cell, &runs));
        let mut f2 = Driven::new(never_init(&cell));
        f1.pending();
        f2.pending();
        cmd.store(2, SeqCst);
        f2.pending();
        assert_eq!(f2.wakes(), 0);
        assert_eq!(f1.ready(), Ok(2));
        assert_eq!(f2.wakes(), 1);
        f2.ready();
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(counts(&cell), [0, 2, 1, 0, 0, 1, 0, 0, 0]);
    }

    /// `fast_path_tricked`: a waiter is dropped and replaced by a new call before the flight
    /// lands; the new call, first polled after it, finds the value at once.
    #[test]
    fn fast_path_tricked() {
        let (cmd, cell, runs) = (AtomicUsize::new(0), cell(), AtomicUsize::new(0));
        let mut f1 = Driven::new(maybe(&cmd, &cell, &runs));
        let mut f2 = Driven::new(never_init(&cell));
        f1.pending();
        f2.pending();
        cmd.store(2, SeqCst);
        let dropped = f2.weak_waker();
        f2 = Driven::new(never_init(&cell));
        assert_eq!(
            dropped.strong_count(),
            0,
            "the dropped waiter's waker is kept"
        );
        assert_eq!(f1.ready(), Ok(2));
        f2.ready();
        assert_eq!(counts(&cell), [1, 2, 1, 0, 0, 1, 0, 0, 0]);
    }

    /// `second_try`: `f1` fails while `f2`, `f3`, `f4` wait; each is woken once; `f4` is
    /// dropped and remade; `f2` and `f3` try again and succeed; the remade `f4` finds the
    /// value without running its function ("nobody else should run their closure").
    ///
    /// Difference: there, `f2` takes over the initialisation and `f3` queues behind it until
    /// it is done. Ours: after a failure that cannot be shared, each waiter makes its own
    /// attempt at once, so `f3`, polled with command 2, runs its own function and is ready
    /// first (its value is stored); `f2`'s attempt, ready next, returns its own 2 and stores
    /// nothing (the key holds a live value by then).
    #[test]
    fn second_try() {
        let (cmd, cell, runs) = (AtomicUsize::new(0), cell(), AtomicUsize::new(0));
        let mut f1 = Driven::new(maybe(&cmd, &cell, &runs));
        let mut f2 = Driven::new(maybe(&cmd, &cell, &runs));
        let mut f3 = Driven::new(maybe(&cmd, &cell, &runs));
        let mut f4 = Driven::new(maybe(&cmd, &cell, &runs));
        f1.pending();
        f2.pending();
        f3.pending();
        f4.pending();
        assert_eq!(cell.stats().coalesced, 3);

        cmd.store(1, SeqCst);
        // f2 does nothing while f1 has not finished.
        f2.pending();
        assert_eq!([f2.wakes(), f3.wakes(), f4.wakes()], [0, 0, 0]);
        assert_eq!(runs.load(SeqCst), 1);

        // f1 fails, as commanded, and wakes each waiter once.
        assert_eq!(f1.ready(), Err(1));
        assert_eq!([f2.wakes(), f3.wakes(), f4.wakes()], [1, 1, 1]);

        // Drop one waiting task: it leaves its waker behind nowhere.
        let dropped = f4.weak_waker();
        f4 = Driven::new(maybe(&cmd, &cell, &runs));
        assert_eq!(dropped.strong_count(), 0);

        // f2 starts its attempt.
        cmd.store(0, SeqCst);
        f2.pending();
        assert_eq!(runs.load(SeqCst), 2);

        // f3 makes its own at once, with command 2: ready, and stored.
        cmd.store(2, SeqCst);
        assert_eq!(f3.ready(), Ok(2));
        assert_eq!(runs.load(SeqCst), 3);
        assert_eq!(cell.get(&()), Some(2));
        assert_eq!(f2.ready(), Ok(2));

        // Nobody else runs their function.
        cmd.store(3, SeqCst);
        assert_eq!(f4.ready(), Ok(2));
        assert_eq!(runs.load(SeqCst), 3);
        assert_eq!([f2.wakes(), f3.wakes(), f4.wakes()], [1, 1, 0]);
        // misses: f1..f4 and... the remade f4 and the `get` hit; f2 and f3 count once each.
        assert_eq!(counts(&cell), [2, 4, 1, 0, 0, 3, 0, 0, 0]);
    }

    /// `lazy_panic`: the initialising future finishes with 6 and panics when it is dropped;
    /// the peer's `Lazy` must then hold 6, its value.
    ///
    /// Difference: an `.await` drops a finished future inside the poll that finished it, so
    /// here the constructor's poll panics: that is a panicking constructor. The call that ran
    /// it panics, nothing is stored, and the waiter makes its own attempt (7).
    #[test]
    fn lazy_panic() {
        let (cmd, cell) = (AtomicUsize::new(0), cell());
        let mut leader = Driven::new(cell.get_or_insert_with_async(&(), CmdWait(&cmd)));
        let mut waiter = Driven::new(cell.get_or_insert_with_async(&(), async { 7 }));
        leader.pending();
        waiter.pending();
        cmd.store(6, SeqCst);
        let panic = catch_unwind(AssertUnwindSafe(|| leader.poll())).unwrap_err();
        assert_eq!(panic_message(&*panic), "Panic on drop");
        assert_eq!(cell.get(&()), None);
        assert_eq!(waiter.wakes(), 1);
        assert_eq!(waiter.ready(), 7);
        assert_eq!(cell.get(&()), Some(7));
        assert_eq!(counts(&cell), [1, 3, 1, 0, 0, 1, 0, 0, 0]);
    }

    /// `lazy_panic`'s drop, when the leader's call is dropped before its future finished:
    /// the future's `Drop` panics as the call is dropped; the waiter leads then, with its own
    /// function.
    #[test]
    fn a_dropped_leaders_future_panicking_in_drop_lets_the_waiter_lead() {
        let (cmd, cell) = (AtomicUsize::new(0), cell());
        let mut leader = Driven::new(cell.get_or_insert_with_async(&(), CmdWait(&cmd)));
        let mut waiter = Driven::new(cell.get_or_insert_with_async(&(), async { 7 }));
        leader.pending();
        waiter.pending();
        cmd.store(6, SeqCst);
        let panic = catch_unwind(AssertUnwindSafe(|| drop(leader))).unwrap_err();
        assert_eq!(panic_message(&*panic), "Panic on drop");
        assert_eq!(waiter.wakes(), 1);
        assert_eq!(waiter.ready(), 7);
        assert_eq!(cell.get(&()), Some(7));
    }
}
