//! Constructors that call back into their map: recursion over other keys, re-entry through
//! other keys and other threads, and the same key again after an invalidation. A sync flight
//! names its leader's thread (`thread_token`), so these pin down what that name may and may
//! not be taken for.
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use cache_core::{ManualClock, TtlMap};
use tests::{assert_reentry, panic_message as message, wait_until};

const MINUTE: Duration = Duration::from_secs(60);

/// Fibonacci memoized in `map`, counting constructor runs in `runs`.
fn fib(map: &TtlMap<u64, u64>, runs: &AtomicUsize, n: u64) -> u64 {
    map.get_or_insert_with(&n, || {
        runs.fetch_add(1, SeqCst);
        match n {
            0 | 1 => n,
            _ => fib(map, runs, n - 1) + fib(map, runs, n - 2),
        }
    })
}

fn fib_plain(n: u64) -> u64 {
    (0..n).fold((0, 1), |(a, b), _| (b, a + b)).0
}

/// Nested flights of different keys, all in one shard (a map with a capacity has one), each
/// store evicting the entry the caller one level up still needs: every level recomputes
/// what it needs, none mistakes another level's flight for its own, and two threads recursing
/// at once wait for each other's flights without deadlock (keys only depend on smaller keys).
#[test]
fn memoized_recursion_works_on_a_capacity_one_map_from_two_threads() {
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(MINUTE).capacity(1).build();
    let runs = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..2).map(|_| s.spawn(|| fib(&map, &runs, 18))).collect();
        for caller in callers {
            assert_eq!(caller.join().unwrap(), fib_plain(18));
        }
    });
    assert!(map.len() <= 1);
}

/// With a ttl of zero nothing is ever found: every call of the recursion builds its value, so
/// runs count the calls exactly, and nested flights of the same shard never collide.
#[test]
fn memoized_recursion_with_a_zero_ttl_runs_every_call() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::ZERO)
        .clock(clock.clone())
        .build();
    let runs = AtomicUsize::new(0);
    assert_eq!(fib(&map, &runs, 15), fib_plain(15));
    // The call tree of fib(n) has 2 fib(n + 1) - 1 nodes.
    assert_eq!(runs.load(SeqCst) as u64, 2 * fib_plain(16) - 1);
    assert_eq!(map.stats().hits, 0);
}

/// With a ttl, each key is built once; once the ttl has passed on the map's clock, once more.
#[test]
fn memoized_recursion_builds_each_key_once_per_ttl() {
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder().ttl(MINUTE).clock(clock.clone()).build();
    let runs = AtomicUsize::new(0);
    assert_eq!(fib(&map, &runs, 60), fib_plain(60));
    assert_eq!(runs.load(SeqCst), 61);
    assert_eq!(fib(&map, &runs, 60), fib_plain(60));
    assert_eq!(runs.load(SeqCst), 61, "all hits");
    clock.advance(MINUTE * 2);
    assert_eq!(fib(&map, &runs, 60), fib_plain(60));
    assert_eq!(runs.load(SeqCst), 122);
}

/// A sync flight names its leader's thread: a thread that the constructor starts is another
/// thread, whose call for the same key waits for the flight and takes its value (it neither
/// panics as a re-entrant call nor builds the value itself).
#[test]
fn a_thread_that_a_constructor_starts_waits_for_its_flight() {
    let map: TtlMap<String, u64> = TtlMap::new(MINUTE);
    let runs = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let got = map.get_or_insert_with("k", || {
        let other = map.clone();
        std::thread::spawn(move || {
            let got = catch_unwind(AssertUnwindSafe(|| other.get_or_insert_with("k", || 2)));
            let _ = tx.send(got.map_err(|p| message(&*p).to_owned()));
        });
        wait_until("the other thread waits", || map.stats().coalesced == 1);
        runs.fetch_add(1, SeqCst);
        1
    });
    assert_eq!(got, 1);
    assert_eq!(rx.recv_timeout(MINUTE).expect("it returns"), Ok(1));
    assert_eq!(runs.load(SeqCst), 1);
}

/// A re-entrant call two levels down (a's constructor builds b, whose constructor asks for a)
/// panics; a catches the panic and goes on: b's flight lands as panicked (b is not stored and
/// not wedged), a's value is stored and reaches a's waiter.
#[test]
fn a_reentry_through_another_key_panics_and_the_outer_flight_still_lands() {
    let map: TtlMap<String, u64> = TtlMap::new(MINUTE);
    let (tx, rx) = mpsc::channel();
    let got = map.get_or_insert_with("a", || {
        let waiter = map.clone();
        std::thread::spawn(move || {
            let _ = tx.send(waiter.get_or_insert_with("a", || 99));
        });
        wait_until("a's waiter joined", || map.stats().coalesced == 1);
        let nested = catch_unwind(AssertUnwindSafe(|| {
            map.get_or_insert_with("b", || map.get_or_insert_with("a", || 3))
        }));
        assert_reentry(nested);
        1
    });
    assert_eq!(got, 1);
    assert_eq!(rx.recv_timeout(MINUTE).expect("a's waiter returns"), 1);
    assert_eq!(map.get("a"), Some(1));
    assert_eq!(map.get("b"), None);
    assert_eq!(map.get_or_insert_with("b", || 2), 2, "b is not wedged");
}

/// Two flights of one key on one thread's stack: a constructor clears the map (its own flight
/// is invalidated) and asks for its own key again. That is not re-entry: the call leads a new
/// flight (whose own re-entry still panics), its value is stored, the outer one's is not, and a
/// waiter of the outer flight gets the outer value.
#[test]
fn after_a_clear_a_constructor_may_lead_its_own_key_again_on_the_same_thread() {
    let map: TtlMap<String, u64> = TtlMap::new(MINUTE);
    let (tx, rx) = mpsc::channel();
    let outer = map.get_or_insert_with("k", || {
        let waiter = map.clone();
        std::thread::spawn(move || {
            let _ = tx.send(waiter.get_or_insert_with("k", || 99));
        });
        wait_until("a waiter joined", || map.stats().coalesced == 1);
        map.clear();
        let inner = map.get_or_insert_with("k", || {
            assert_reentry(catch_unwind(AssertUnwindSafe(|| {
                map.get_or_insert_with("k", || 3)
            })));
            2
        });
        assert_eq!(inner, 2);
        assert_eq!(map.get("k"), Some(2), "the inner flight stores");
        1
    });
    assert_eq!(outer, 1);
    assert_eq!(rx.recv_timeout(MINUTE).expect("the waiter returns"), 1);
    assert_eq!(
        map.get("k"),
        Some(2),
        "the invalidated outer flight stores nothing"
    );
}

/// The same, with the second call async, driven by `block_on` inside the sync constructor:
/// the invalidated sync flight of this thread must not be taken for the async call's own.
#[test]
fn after_a_clear_an_async_call_inside_a_sync_constructor_leads_a_new_flight() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(MINUTE);
    let outer = map.get_or_insert_with("k", || {
        map.clear();
        let inner = runtime.block_on(map.get_or_insert_with_async("k", async { 2 }));
        assert_eq!(inner, 2);
        1
    });
    assert_eq!(outer, 1);
    assert_eq!(map.get("k"), Some(2));
}

/// A constructor that inserts its own key and then asks for it finds the insert (a hit, not
/// a re-entry), and its own value does not overwrite the insert.
#[test]
fn a_constructor_that_inserts_its_own_key_then_asks_for_it_finds_the_insert() {
    let map: TtlMap<String, u64> = TtlMap::new(MINUTE);
    let got = map.get_or_insert_with("k", || {
        map.insert("k".to_owned(), 5);
        assert_eq!(map.get_or_insert_with("k", || 3), 5);
        1
    });
    assert_eq!(got, 1);
    assert_eq!(map.get("k"), Some(5));
}

/// Sync in async in sync, on one thread: a's sync constructor drives (`block_on`) an async
/// flight of b whose constructor asks for a synchronously. a's flight names this thread, so
/// the call panics instead of blocking the thread that would have to finish it; the panic
/// comes out of b's flight (not stored, not wedged) into a's constructor.
#[test]
fn a_sync_call_for_the_outer_key_inside_a_nested_async_flight_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let map: TtlMap<String, u64> = TtlMap::new(MINUTE);
    let got = map.get_or_insert_with("a", || {
        let nested = catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(
                map.get_or_insert_with_async("b", async { map.get_or_insert_with("a", || 3) }),
            )
        }));
        assert_reentry(nested);
        1
    });
    assert_eq!(got, 1);
    assert_eq!(map.get("b"), None);
    let b = runtime.block_on(map.get_or_insert_with_async("b", async { 2 }));
    assert_eq!(b, 2, "b is not wedged");
}
