//! `refresh_after`: a memoizing call that finds a value older than this rebuilds it; every
//! other caller meanwhile gets the current value without waiting; a failed refresh keeps it.
//! Time comes from a `ManualClock`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use tests::wait_until;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn map(expiry: Expiry) -> (TtlMap<String, u32>, ManualClock) {
    let clock = ManualClock::new();
    let map = TtlMap::builder()
        .ttl(secs(600))
        .expiry(expiry)
        .refresh_after(secs(60))
        .clock(clock.clone())
        .build();
    (map, clock)
}

#[test]
fn the_first_memoizing_call_after_refresh_after_rebuilds_the_value() {
    for expiry in [Expiry::Sliding, Expiry::Fixed] {
        let (map, clock) = map(expiry);
        assert_eq!(map.get_or_insert_with("k", || 1), 1);
        clock.advance(secs(59));
        assert_eq!(map.get_or_insert_with("k", || 2), 1, "not due yet");
        clock.advance(secs(1));
        assert_eq!(map.get("k"), Some(1), "get never refreshes");
        assert_eq!(
            map.get_or_insert_with("k", || 3),
            3,
            "due: rebuilt by this call"
        );
        assert_eq!(
            map.get_or_insert_with("k", || 4),
            3,
            "a new value: its own 60 s"
        );
        let stats = map.stats();
        assert_eq!((stats.refreshes, stats.refresh_failures), (1, 0));
    }
}

#[test]
fn an_insert_starts_a_new_refresh_period() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(50));
    map.insert("k".into(), 2);
    clock.advance(secs(50));
    assert_eq!(map.get_or_insert_with("k", || 3), 2);
}

#[test]
fn other_callers_get_the_current_value_while_a_refresh_runs() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let (release, refreshing) = mpsc::channel::<()>();
    let refreshing = std::sync::Mutex::new(refreshing);
    let started = AtomicUsize::new(0);
    let others_built = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let refresher = s.spawn(|| {
            map.get_or_insert_with("k", || {
                started.store(1, SeqCst);
                refreshing.lock().unwrap().recv().unwrap();
                2
            })
        });
        wait_until("the refresh started", || started.load(SeqCst) == 1);
        for _ in 0..3 {
            let value = map.get_or_insert_with("k", || {
                others_built.fetch_add(1, SeqCst);
                9
            });
            assert_eq!(value, 1, "the current value, at once");
        }
        release.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), 2);
    });
    assert_eq!(others_built.load(SeqCst), 0);
    assert_eq!(map.get("k"), Some(2));
    assert_eq!(map.stats().refreshes, 1);
}

/// A key that counts the comparisons made of it (`EQS`; only this file's one test uses it).
#[derive(Clone)]
struct Counted(&'static str);

impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

static EQS: AtomicUsize = AtomicUsize::new(0);

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        EQS.fetch_add(1, SeqCst);
        self.0 == other.0
    }
}

impl Eq for Counted {}

#[test]
fn calls_while_a_refresh_runs_look_the_key_up_once_and_ask_nothing_of_its_flight() {
    const HITS: usize = 100;
    let clock = ManualClock::new();
    let map = TtlMap::<Counted, u32>::builder()
        .ttl(secs(600))
        .refresh_after(secs(60))
        .clock(clock.clone())
        .build();
    map.insert(Counted("k"), 1);
    clock.advance(secs(60));
    let (release, refreshing) = mpsc::channel::<()>();
    let refreshing = std::sync::Mutex::new(refreshing);
    let started = AtomicUsize::new(0);
    let (values, eqs) = std::thread::scope(|s| {
        let refresher = s.spawn(|| {
            map.get_or_insert_with(&Counted("k"), || {
                started.store(1, SeqCst);
                refreshing.lock().unwrap().recv().unwrap();
                2
            })
        });
        wait_until("the refresh started", || started.load(SeqCst) == 1);
        EQS.store(0, SeqCst);
        let values: Vec<u32> = (0..HITS)
            .map(|_| map.get_or_insert_with(&Counted("k"), || 9))
            .collect();
        let eqs = EQS.load(SeqCst);
        release.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), 2);
        (values, eqs)
    });
    assert!(values.iter().all(|&v| v == 1), "the current value, at once");
    // One comparison per call, in the table. Looking for the rebuild's flight (under the
    // shard's flights lock, which every such call would then take) would be a second.
    assert!(eqs < 2 * HITS, "{eqs} comparisons for {HITS} calls");
    assert_eq!(map.get(&Counted("k")), Some(2));
}

#[test]
fn a_refresh_invalidated_by_a_retain_that_keeps_the_value_leaves_it_due() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let refreshed = map.get_or_insert_with("k", || {
        map.retain(|_, _| true);
        2
    });
    assert_eq!(refreshed, 2, "the caller gets its constructor's value");
    assert_eq!(map.get("k"), Some(1), "the retain wins");
    assert_eq!(map.get_or_insert_with("k", || 3), 3, "still due: rebuilt");
}

#[test]
fn a_refresh_whose_store_panics_leaves_the_value_due() {
    let clock = ManualClock::new();
    let map = TtlMap::<String, u32>::builder()
        .ttl(secs(600))
        .refresh_after(secs(60))
        .expire_after(|_, value| {
            assert_ne!(*value, 13, "expire_after panics for 13");
            None
        })
        .clock(clock.clone())
        .build();
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let panicked = catch_unwind(AssertUnwindSafe(|| map.get_or_insert_with("k", || 13)));
    assert!(panicked.is_err());
    assert_eq!(
        map.get("k"),
        Some(1),
        "the store panicked: the value is kept"
    );
    assert_eq!(map.get_or_insert_with("k", || 3), 3, "still due: rebuilt");
}

#[test]
fn a_failed_refresh_keeps_the_value_and_the_next_call_tries_again() {
    let (map, clock) = map(Expiry::Fixed);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    assert_eq!(
        map.try_get_or_insert_with("k", || Err::<u32, _>("down")),
        Ok(1)
    );
    assert_eq!(map.optionally_get_or_insert_with("k", || None), Some(1));
    let shared = map.try_get_or_insert_with_shared("k", || Err::<u32, _>("down"));
    assert_eq!(shared.ok(), Some(1));
    assert_eq!(map.try_get_or_insert_with("k", || Ok::<_, &str>(5)), Ok(5));
    let stats = map.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (1, 3));
}

#[test]
fn a_failed_refresh_of_a_value_removed_meanwhile_returns_the_error() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let result = map.try_get_or_insert_with("k", || {
        map.remove("k");
        Err::<u32, _>("down")
    });
    assert_eq!(result, Err("down"));
    assert_eq!(map.get("k"), None);
}

#[test]
fn a_refresh_overtaken_by_an_insert_does_not_overwrite_it() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let refreshed = map.get_or_insert_with("k", || {
        map.insert("k".into(), 7);
        2
    });
    assert_eq!(refreshed, 2, "the caller gets its constructor's value");
    assert_eq!(map.get("k"), Some(7), "the insert wins");
}

#[test]
fn a_panicking_refresh_keeps_the_value_and_does_not_wedge_the_key() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        map.get_or_insert_with("k", || panic!("refresh failed"))
    }));
    assert!(panicked.is_err());
    assert_eq!(map.get("k"), Some(1));
    assert_eq!(
        map.get_or_insert_with("k", || 3),
        3,
        "the next call refreshes"
    );
}

#[test]
fn a_refresh_asking_for_its_own_key_gets_the_current_value() {
    let (map, clock) = map(Expiry::Sliding);
    map.insert("k".into(), 1);
    clock.advance(secs(60));
    let value = map.get_or_insert_with("k", || map.get_or_insert_with("k", || 100) + 1);
    assert_eq!(value, 2);
}

#[test]
fn values_refreshed_or_not_still_expire() {
    let (map, clock) = map(Expiry::Fixed);
    map.insert("k".into(), 1);
    clock.advance(secs(600));
    assert_eq!(map.get("k"), None);
    assert_eq!(
        map.get_or_insert_with("k", || 2),
        2,
        "expired: a miss, not a refresh"
    );
    assert_eq!(map.stats().refreshes, 0);
}

#[test]
fn the_async_forms_refresh_in_the_calling_task() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (map, clock) = map(Expiry::Sliding);
    runtime.block_on(async {
        assert_eq!(map.get_or_insert_with_async("k", async { 1 }).await, 1);
        clock.advance(secs(60));
        assert_eq!(map.get_or_insert_with_async("k", async { 2 }).await, 2);
        clock.advance(secs(60));
        let kept = map
            .try_get_or_insert_with_async("k", async { Err::<u32, _>("down") })
            .await;
        assert_eq!(kept, Ok(2));
    });
    let stats = map.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (1, 1));
}
