//! TtlMap under many threads and tasks: no deadlock, invariants hold, single flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};
use tests::{wait_until, wait_until_async};

#[test]
fn hammering_threads_keep_the_invariants() {
    const THREADS: usize = 8;
    const OPS: usize = 20_000;
    const CAPACITY: usize = 100;
    let clock = ManualClock::new();
    let map: TtlMap<u32, u64> = TtlMap::builder()
        .ttl(Duration::from_micros(50))
        .capacity(CAPACITY)
        .clock(clock.clone())
        .build();
    let reads = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, clock, reads) = (&map, &clock, &reads);
            s.spawn(move || {
                let mut x = t as u64 * 7919 + 1;
                for _ in 0..OPS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = (x % 500) as u32;
                    match x % 6 {
                        0 => drop(map.insert(key, x)),
                        1 => drop(map.remove(&key)),
                        2 => clock.advance(Duration::from_micros(1)),
                        3 => {
                            map.get_or_insert_with(&key, || x);
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            map.get(&key);
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if x.is_multiple_of(1000) {
                        map.sweep();
                    }
                    assert!(map.len() <= CAPACITY, "len {}", map.len());
                }
            });
        }
    });
    let stats = map.stats();
    assert_eq!(
        stats.hits + stats.misses,
        reads.load(Ordering::Relaxed) as u64
    );
    assert!(map.len() <= CAPACITY);
}

#[test]
fn sixteen_threads_missing_one_key_run_the_constructor_once() {
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let runs = AtomicUsize::new(0);
    let barrier = Barrier::new(16);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                barrier.wait();
                map.get_or_insert_with("tenant", || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Finish only once all 15 others are waiting for this constructor.
                    wait_until("15 callers wait", || map.stats().coalesced == 15);
                    42
                })
            });
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = map.stats();
    assert_eq!(stats.inserts, 1);
    assert_eq!((stats.misses, stats.hits, stats.coalesced), (16, 0, 15));
}

#[test]
fn a_panicking_constructor_lets_the_waiters_recover() {
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let runs = AtomicUsize::new(0);
    let barrier = Barrier::new(8);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    map.get_or_insert_with("tenant", || {
                        if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                            wait_until("7 callers wait", || map.stats().coalesced == 7);
                            panic!("constructor failed");
                        }
                        7
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(results.iter().flatten().all(|v| *v == 7));
    // The waiters do not queue behind one retry after another: each tries at once.
    assert_eq!(
        runs.load(Ordering::SeqCst),
        8,
        "the panic, then one attempt per waiter"
    );
    assert_eq!(map.stats().coalesced, 7, "each waiter counted once");
    assert_eq!(map.get("tenant"), Some(7), "an attempt's value is stored");
}

#[test]
fn constructors_of_different_keys_overlap_in_time() {
    // Each constructor waits at a barrier for the other: this finishes only if both run at
    // once, i.e. no lock is held across a constructor.
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        for key in ["a", "b"] {
            let (map, barrier) = (&map, &barrier);
            s.spawn(move || {
                map.get_or_insert_with(key, || {
                    barrier.wait();
                    1
                })
            });
        }
    });
    assert_eq!(map.len(), 2);
}

#[test]
fn sixteen_tasks_missing_one_key_run_the_future_once() {
    let runtime = tests::two_worker_runtime();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(16));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (map, runs, gate) = (map.clone(), runs.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    map.get_or_insert_with_async("tenant", async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // 15 waiting tasks on 2 worker threads: this finishes only if waiting
                        // never blocks an executor thread.
                        wait_until_async("15 tasks wait", || map.stats().coalesced == 15).await;
                        9
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), 9);
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(map.stats().coalesced, 15);
}

#[test]
fn a_panicking_async_constructor_lets_the_waiting_tasks_recover() {
    let runtime = tests::two_worker_runtime();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(8));
    let results: Vec<_> = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (map, runs, gate) = (map.clone(), runs.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    map.get_or_insert_with_async("tenant", async {
                        if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                            wait_until_async("7 tasks wait", || map.stats().coalesced == 7).await;
                            panic!("constructor failed");
                        }
                        3
                    })
                    .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await);
        }
        results
    });
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(results.iter().flatten().all(|v| *v == 3));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        8,
        "the panic, then one attempt per waiter"
    );
}

#[test]
fn an_async_call_for_its_own_key_inside_a_sync_constructor_panics_instead_of_hanging() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.get_or_insert_with("a", || {
            runtime.block_on(map.get_or_insert_with_async("a", async { 1 }))
        })
    }));
    tests::assert_reentry(result);
    // The key is not wedged: the next caller constructs it.
    assert_eq!(map.get_or_insert_with("a", || 7), 7);
}

#[test]
fn an_async_constructor_awaiting_its_own_key_panics_instead_of_hanging() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let outcome = runtime.block_on(async {
        let inner = map.clone();
        tokio::spawn(async move {
            inner
                .get_or_insert_with_async("a", async {
                    inner.get_or_insert_with_async("a", async { 1 }).await
                })
                .await
        })
        .await
    });
    let panic = outcome.expect_err("must panic").into_panic();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        message.contains("re-entrant call for the same key"),
        "{message}"
    );
}

#[test]
fn async_futures_are_send_when_the_constructor_is() {
    fn assert_send<T: Send>(_: &T) {}
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    let fut = map.get_or_insert_with_async("k", async { 1 });
    assert_send(&fut);
    let fut = map.try_get_or_insert_with_async("k", async { Ok::<_, std::io::Error>(1) });
    assert_send(&fut);
}

/// The futures stay `Send` inside another future, awaited with a borrowed key, when the error
/// holds a `dyn Trait`: what `tokio::spawn` asks of a request handler. (The shared form's
/// `E: 'static` used to make the outer future's `Send` unprovable.)
#[test]
fn async_futures_with_dyn_errors_can_be_spawned() {
    type DynError = Box<dyn std::error::Error + Send + Sync>;
    static MAP: LazyLock<TtlMap<String, u64>> =
        LazyLock::new(|| TtlMap::new(Duration::from_secs(60)));
    async fn shared(key: &str) -> Result<u64, Arc<DynError>> {
        let init = async move { key.parse::<u64>().map_err(DynError::from) };
        MAP.try_get_or_insert_with_shared_async(key, init).await
    }
    async fn own(key: &str) -> Result<u64, DynError> {
        let init = async move { key.parse::<u64>().map_err(DynError::from) };
        MAP.try_get_or_insert_with_async(key, init).await
    }
    let runtime = tests::two_worker_runtime();
    runtime.block_on(async {
        let spawned = tokio::spawn(async { (shared("7").await, own("8").await) });
        let (shared_value, own_value) = spawned.await.unwrap();
        assert_eq!((shared_value.unwrap(), own_value.unwrap()), (7, 8));
        let failed = tokio::spawn(async { shared("x").await.is_err() });
        assert!(failed.await.unwrap());
    });
}

#[test]
fn a_dropped_async_leader_lets_a_waiter_lead() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(Duration::from_secs(60));
    runtime.block_on(async {
        let leader = map.get_or_insert_with_async("k", std::future::pending());
        // Poll the leader once so it owns the flight, then cancel it.
        let timed_out = tokio::time::timeout(Duration::from_millis(1), leader).await;
        assert!(timed_out.is_err());
        assert_eq!(map.get_or_insert_with_async("k", async { 5 }).await, 5);
    });
}
