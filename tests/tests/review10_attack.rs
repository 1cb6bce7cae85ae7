//! Review 10: an adversary's pass over the documented promises, from angles the earlier
//! reviews left: the heap after a burst in maps that keep limits and refresh times beside
//! their table (`max_lifetime`, `expire_after`, `refresh_after`: 6.5 MB stayed, fixed), the
//! heap after a burst of constructors in flight at once (9.6 MB stayed, fixed), the
//! counters' ledger under concurrency with every option, and durations at their extremes
//! with every option and capacities 0 and 1 (both held).
//!
//! Time comes from a `ManualClock` only. Each test says which promise it checks.

use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use tests::counting::{Counting, burst_then_trickle, net_bytes};

// ---------------------------------------------------------------------------------------
// A counting allocator, per thread
// ---------------------------------------------------------------------------------------

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------
// The heap after a burst, with extras
// ---------------------------------------------------------------------------------------

/// The options that keep something beside each entry (`Table::extras`).
#[derive(Debug, Clone, Copy)]
enum Extras {
    MaxLifetime,
    ExpireAfter,
    RefreshAfter,
}

fn map_with(extras: Extras, clock: &ManualClock) -> TtlMap<u64, [u64; 4]> {
    let builder = TtlMap::builder()
        .ttl(Duration::from_secs(1))
        .expiry(Expiry::Sliding)
        .clock(clock.clone());
    match extras {
        Extras::MaxLifetime => builder.max_lifetime(Duration::from_millis(900)).build(),
        Extras::ExpireAfter => builder
            .expire_after(|_, _| Some(Duration::from_millis(900)))
            .build(),
        Extras::RefreshAfter => builder.refresh_after(Duration::from_millis(500)).build(),
    }
}

/// Promise (README, Bounded memory: "The heap follows too ... so a burst's room goes with the
/// burst"; "The limits and refresh times live beside the table"): in a map whose entries keep
/// a limit or a refresh time beside the table, the heap after a burst has expired follows the
/// live keys as it does without them, not the peak: also the room the extras took. Swept by
/// the trickle's writes, and by `sweep()` as the background thread calls it.
#[test]
fn the_heap_follows_the_live_keys_after_a_burst_also_with_limits_and_refresh_times() {
    for extras in [
        Extras::MaxLifetime,
        Extras::ExpireAfter,
        Extras::RefreshAfter,
    ] {
        for swept_by_call in [false, true] {
            let clock = ManualClock::new();
            let start = net_bytes();
            let map = map_with(extras, &clock);
            let (peak, after) = burst_then_trickle(&map, &clock, start, swept_by_call);
            assert!(map.len() <= 1 + 16 * 16, "len {}", map.len());
            // As without extras (`the_heap_follows_the_live_keys_after_a_burst_not_the_peak`):
            // room for a few entries in each of the 16 shards, far below the peak.
            assert!(
                after < 64 * 1024,
                "{extras:?}, swept by call: {swept_by_call}: heap held: at the peak {peak} B, \
                 after the burst {after} B"
            );
            drop(map);
        }
    }
}

/// Promise (README, Bounded memory, "a burst's room goes with the burst"): a burst of
/// constructors in flight at once (100,000 async requests for distinct keys, as when a
/// backend stalls) leaves no room behind once they have landed: neither when their values
/// expired and were swept, nor when they all failed and nothing was stored.
#[test]
fn the_heap_follows_the_flights_in_progress_after_a_burst_of_them() {
    use std::future::poll_fn;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::task::Poll;
    use tests::Driven;

    for fail in [false, true] {
        let clock = ManualClock::new();
        let start = net_bytes();
        let map: TtlMap<u64, [u64; 4]> = TtlMap::builder()
            .ttl(Duration::from_secs(1))
            .clock(clock.clone())
            .build();
        let gate = Arc::new(AtomicBool::new(false));
        let mut burst: Vec<_> = (0..100_000u64)
            .map(|k| {
                let (map, gate) = (map.clone(), Arc::clone(&gate));
                Driven::new(async move {
                    let init = poll_fn(|_| match gate.load(SeqCst) {
                        true if fail => Poll::Ready(Err("backend down")),
                        true => Poll::Ready(Ok([k; 4])),
                        false => Poll::Pending,
                    });
                    map.try_get_or_insert_with_async(&k, init).await
                })
            })
            .collect();
        for request in &mut burst {
            request.pending();
        }
        let peak = net_bytes() - start;
        gate.store(true, SeqCst);
        for request in &mut burst {
            assert!(request.poll().is_ready());
        }
        drop(burst);
        clock.advance(Duration::from_secs(1));
        for k in 200_000..200_100 {
            map.insert(k, [k; 4]);
            clock.advance(Duration::from_secs(1));
        }
        map.sweep();
        let after = net_bytes() - start;
        assert!(map.len() <= 1 + 16 * 16, "len {}", map.len());
        // The map's own (about 24 KB, see the test above) and room for up to 224 flights in
        // each shard (smaller tables never shrink): the pending tables' 9.6 MB stayed before.
        assert!(
            after < 512 * 1024,
            "constructors failed: {fail}: heap held: at the peak {peak} B, after the burst \
             {after} B"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The counters' ledger under concurrency, with every option
// ---------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift), one per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Promise (README, Counters, and Stats' docs): `hits + misses` is the number of `get` and
/// memoizing calls; `expirations` and `evictions` are the entries removed as expired and for
/// the capacity, as the listener hears them; `coalesced` counts calls that missed, once.
/// And a ledger that follows from them: every entry counted in `inserts` is either still held
/// or was heard leaving (expired, evicted, replaced or removed), once. Four threads mix every
/// operation on 24 keys while one of them moves the clock, in maps with each combination of
/// capacity, expiry, limits, refresh and stale values.
#[test]
fn the_counters_balance_under_concurrency_with_every_option() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

    const THREADS: u64 = 4;
    const CALLS: u64 = 3_000;
    for config in 0..32u64 {
        let clock = ManualClock::new();
        let heard: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
        let log = Arc::clone(&heard);
        let mut builder = TtlMap::<u64, u64>::builder()
            .ttl(Duration::from_millis(100))
            .clock(clock.clone())
            .on_evict(move |_, _, reason| {
                let i = match reason {
                    cache_core::Reason::Expired => 0,
                    cache_core::Reason::Capacity => 1,
                    cache_core::Reason::Replaced => 2,
                    _ => 3,
                };
                log[i].fetch_add(1, SeqCst);
            });
        if config & 1 != 0 {
            builder = builder.capacity(8);
        }
        if config & 2 != 0 {
            builder = builder.expiry(Expiry::Fixed);
        }
        if config & 4 != 0 {
            builder = builder
                .max_lifetime(Duration::from_millis(150))
                .expire_after(|_, v| {
                    (v.is_multiple_of(5)).then(|| Duration::from_millis(v % 3 * 20))
                });
        }
        if config & 8 != 0 {
            builder = builder.refresh_after(Duration::from_millis(30));
        }
        if config & 16 != 0 {
            builder = builder.stale_if_error(Duration::from_millis(50));
        }
        let map = builder.build();
        let calls = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (map, clock, calls) = (&map, &clock, &calls);
                s.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (config << 8 | t));
                    for _ in 0..CALLS {
                        let k = rng.below(24);
                        let v = rng.below(1_000);
                        match rng.below(20) {
                            0..=3 => {
                                calls.fetch_add(1, SeqCst);
                                map.get(&k);
                            }
                            4..=8 => {
                                calls.fetch_add(1, SeqCst);
                                map.get_or_insert_with(&k, || v);
                            }
                            9..=10 => {
                                calls.fetch_add(1, SeqCst);
                                let _ = map.try_get_or_insert_with(&k, || match v % 2 {
                                    0 => Ok(v),
                                    _ => Err(()),
                                });
                            }
                            11 => {
                                calls.fetch_add(1, SeqCst);
                                let _ = map.try_get_or_insert_with_shared(&k, || match v % 2 {
                                    0 => Ok(v),
                                    _ => Err(()),
                                });
                            }
                            12 => {
                                calls.fetch_add(1, SeqCst);
                                map.optionally_get_or_insert_with(&k, || {
                                    (!v.is_multiple_of(3)).then_some(v)
                                });
                            }
                            13..=14 => drop(map.insert(k, v)),
                            15 => drop(map.remove(&k)),
                            16 => drop(map.sweep()),
                            17 => map.retain(|k, _| k % 7 != v % 7),
                            _ if t == 0 => clock.advance(Duration::from_millis(v % 40)),
                            _ => drop(map.contains_key(&k)),
                        }
                    }
                });
            }
        });
        let s = map.stats();
        let heard: Vec<u64> = heard.iter().map(|n| n.load(SeqCst)).collect();
        let calls = calls.load(SeqCst);
        let context = format!(
            "config {config:05b}: {s:?}, heard {heard:?}, len {}",
            map.len()
        );
        assert_eq!(s.hits + s.misses, calls, "{context}");
        assert_eq!(s.expirations, heard[0], "{context}");
        assert_eq!(s.evictions, heard[1], "{context}");
        assert!(s.coalesced <= s.misses, "{context}");
        assert!(s.stale_served <= s.misses, "{context}");
        assert!(s.refreshes + s.refresh_failures <= s.hits, "{context}");
        assert_eq!(
            s.inserts,
            map.len() as u64 + heard.iter().sum::<u64>(),
            "every entry stored is held or was heard leaving: {context}"
        );
        if config & 1 != 0 {
            assert!(map.len() <= 8, "{context}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Durations at their extremes, with every option
// ---------------------------------------------------------------------------------------

/// Promise (SPEC: "Durations that overflow saturate; they never panic"; README, Capacity):
/// every combination of zero, tiny and saturating durations for the ttl, `max_lifetime`,
/// `expire_after`, `refresh_after` and `stale_if_error`, with capacities 0, 1 and none and a
/// clock moved by zero, a nanosecond, half of forever and forever, runs every operation
/// without a panic (these tests build with overflow checks), keeps the capacity, and returns
/// only values that were stored or built for the key.
#[test]
fn extreme_durations_with_every_option_never_panic_and_keep_the_capacity() {
    let ttls = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_nanos(2_047),
        Duration::from_secs(1),
        Duration::MAX,
    ];
    let others = [
        None,
        Some(Duration::ZERO),
        Some(Duration::from_nanos(1)),
        Some(Duration::MAX),
    ];
    let advances = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_nanos(u64::MAX / 2),
        Duration::MAX,
    ];
    let mut maps = 0;
    for ttl in ttls {
        for (i, extra) in others.iter().enumerate() {
            for capacity in [None, Some(0), Some(1)] {
                for expiry in [Expiry::Sliding, Expiry::Fixed] {
                    let clock = ManualClock::new();
                    let mut builder = TtlMap::<u64, u64>::builder()
                        .ttl(ttl)
                        .expiry(expiry)
                        .clock(clock.clone());
                    if let Some(d) = *extra {
                        // One option at a time at this extreme, the others at the next one.
                        let next = others[(i + 1) % others.len()].unwrap_or(Duration::MAX);
                        builder = builder
                            .max_lifetime(d)
                            .refresh_after(next)
                            .stale_if_error(d)
                            .expire_after(move |k, _| (k.is_multiple_of(2)).then_some(next));
                    }
                    if let Some(c) = capacity {
                        builder = builder.capacity(c);
                    }
                    let map = builder.build();
                    maps += 1;
                    for advance in advances {
                        for k in 0..4u64 {
                            let v = 100 * k;
                            assert_eq!(map.get_or_insert_with(&k, || v), v);
                            let built = map.try_get_or_insert_with(&k, || Err::<u64, ()>(()));
                            assert!(built.is_err() || built == Ok(v));
                            assert!(map.get(&k).is_none_or(|found| found == v));
                            map.insert(k + 10, v + 1);
                            assert!(map.get(&(k + 10)).is_none_or(|found| found == v + 1));
                            map.contains_key(&k);
                            if let Some(c) = capacity {
                                assert!(map.len() <= c, "{ttl:?} {extra:?} {capacity:?}");
                            }
                        }
                        for (k, v) in map.iter() {
                            assert!(v == 100 * k || v == 100 * (k - 10) + 1);
                        }
                        clock.advance(advance);
                        map.sweep();
                        map.retain(|k, _| k % 3 != 0);
                        map.remove(&1);
                    }
                    let _ = format!("{map:?}");
                    map.clear();
                    assert!(map.is_empty());
                }
            }
        }
    }
    assert_eq!(maps, 5 * 4 * 3 * 2);
}
