//! Bounded memory: without a sweeper, and with the process-wide sweeper.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cache_core::{ManualClock, TtlMap};

#[test]
fn a_million_never_repeated_keys_stay_within_one_ttl_of_keys_plus_a_constant() {
    const LIVE: u64 = 1_000; // keys inserted within one TTL
    let clock = ManualClock::new();
    let map: TtlMap<u64, u64> = TtlMap::builder()
        .ttl(Duration::from_millis(LIVE))
        .clock(clock.clone())
        .build();
    // The documented bound: live entries, plus 1/32 of them, plus 16 per shard (16 shards),
    // plus one per writing thread (this one).
    let bound = (LIVE + LIVE / 32 + 16 * 16 + 1) as usize;
    let mut most = 0;
    for key in 0..1_000_000u64 {
        map.insert(key, key);
        clock.advance(Duration::from_millis(1));
        most = most.max(map.len());
    }
    assert!(most <= bound, "held {most} entries, bound {bound}");
    assert!(
        most >= LIVE as usize - 1,
        "held {most}: live entries must stay"
    );
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_dropped_map_is_not_kept_alive_by_the_sweeper() {
    let dropped = Arc::new(AtomicBool::new(false));
    let map: TtlMap<u32, DropFlag> = TtlMap::builder()
        .ttl(Duration::from_secs(3600))
        .sweep_every(Duration::from_secs(3600))
        .build();
    map.insert(1, DropFlag(dropped.clone()));
    drop(map);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the sweeper must hold maps only weakly"
    );
}

#[test]
fn the_background_sweeper_removes_expired_entries() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(60))
        .sweep_every(Duration::from_millis(5))
        .clock(clock.clone())
        .build();
    for i in 0..100 {
        map.insert(i, i);
    }
    clock.advance(Duration::from_secs(60));
    // Expiry itself is driven by the manual clock; only the sweeper's schedule is real time.
    let started = Instant::now();
    // The sweeper counts what a batch removed after it releases the shard's lock: wait for the
    // count too.
    let done = || map.is_empty() && map.stats().expirations >= 100;
    while !done() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5)); // sleep-ok: the sweeper runs on real time
    }
    assert!(map.is_empty(), "{} entries left", map.len());
    assert_eq!(map.stats().expirations, 100);
}

#[test]
fn many_maps_share_one_sweeper_thread() {
    let maps: Vec<TtlMap<u32, u32>> = (0..50)
        .map(|_| {
            TtlMap::builder()
                .ttl(Duration::from_secs(1))
                .sweep_every(Duration::from_secs(60))
                .build()
        })
        .collect();
    let sweepers = || {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|name| name.starts_with("cache-core-swee"))
                    })
                    .count()
            })
            .unwrap_or(1)
    };
    // A new thread names itself once it first runs: the sweeper spawned by the first of these
    // maps (or by another test's, moments ago) may not have yet.
    tests::wait_until("the sweeper thread has its name", || sweepers() >= 1);
    assert_eq!(sweepers(), 1, "one sweeper thread for {} maps", maps.len());
}
