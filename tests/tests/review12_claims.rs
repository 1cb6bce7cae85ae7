//! Review 12: the claims the README, the crate docs and the public items' docs make to users,
//! each checked by a test that fails if the claim is false. Each test names where the claim
//! is made. Time comes from a `ManualClock`; a wait that could hang has a deadline. No test
//! prints a key.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap};
use tests::heard::{recorder, take, take_sorted};
use tests::{block_on, counts, wait_until, within};

const MINUTE: Duration = Duration::from_secs(60);
/// A ttl whose sliding step (ttl/64) is one second.
const TTL64: Duration = Duration::from_secs(64);
/// How long a scenario may take before it is judged hung.
const DEADLINE: Duration = Duration::from_secs(20);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------------------------
// `contains_key` and `iter` (map.rs): "does not count as a hit or extend its life"; "Hits are
// not counted and deadlines do not move".
// ---------------------------------------------------------------------------------------------

#[test]
fn contains_key_neither_counts_nor_extends_a_sliding_entry() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(TTL64).clock(clock.clone()).build();
    map.insert(1, 10);
    for _ in 0..63 {
        clock.advance(secs(1));
        assert!(map.contains_key(&1));
    }
    clock.advance(secs(1)); // 64 s after the store: had a check slid it, it would live on
    assert!(!map.contains_key(&1));
    assert_eq!(map.get(&1), None);
    let [hits, misses, ..] = counts(&map);
    assert_eq!((hits, misses), (0, 1), "only the `get` counts");
}

#[test]
fn iter_neither_counts_nor_extends_a_sliding_entry() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(TTL64).clock(clock.clone()).build();
    map.insert(1, 10);
    for _ in 0..63 {
        clock.advance(secs(1));
        assert_eq!(map.iter().collect::<Vec<_>>(), [(1, 10)]);
    }
    clock.advance(secs(1));
    assert_eq!(map.iter().count(), 0);
    assert_eq!(counts(&map)[..2], [0, 0]);
}

/// With a capacity and sliding expiry the victim is the least recently used; a check with
/// `contains_key` or `iter` is no use (they "do not count as a hit"), while a `get` is.
#[test]
fn contains_key_and_iter_are_not_uses_for_the_capacity_but_get_is() {
    let victim_after = |touch: &dyn Fn(&TtlMap<u32, u32>)| {
        let clock = ManualClock::new();
        let (heard, listener) = recorder();
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(TTL64)
            .capacity(2)
            .clock(clock.clone())
            .on_evict(listener)
            .build();
        map.insert(1, 10);
        map.insert(2, 20);
        touch(&map);
        map.insert(3, 30);
        let heard = take(&heard);
        assert_eq!(heard.len(), 1);
        assert_eq!(heard[0].2, Reason::Capacity);
        heard[0].0
    };
    assert_eq!(
        victim_after(&|_| {}),
        1,
        "oldest first when nothing was used"
    );
    assert_eq!(victim_after(&|m| assert!(m.contains_key(&1))), 1);
    assert_eq!(victim_after(&|m| assert_eq!(m.iter().count(), 2)), 1);
    assert_eq!(victim_after(&|m| assert_eq!(m.get(&1), Some(10))), 2);
}

// ---------------------------------------------------------------------------------------------
// `insert`, `remove`, `clear`, `retain`: what they return, what the listener hears
// (`Reason`'s docs), what `Stats` counts (stats.rs).
// ---------------------------------------------------------------------------------------------

#[test]
fn insert_over_an_expired_entry_returns_none_and_is_heard_and_counted_as_expired() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    assert_eq!(map.insert(1, 10), None);
    assert_eq!(map.insert(1, 11), Some(10), "the live value replaced");
    assert_eq!(take(&heard), [(1, 10, Reason::Replaced)]);
    clock.advance(MINUTE);
    assert_eq!(
        map.insert(1, 12),
        None,
        "an expired value is not handed back"
    );
    assert_eq!(take(&heard), [(1, 11, Reason::Expired)]);
    let stats = map.stats();
    assert_eq!((stats.inserts, stats.expirations), (3, 1));
}

#[test]
fn remove_of_an_expired_entry_returns_none_and_is_heard_and_counted_as_expired() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(1, 10);
    map.insert(2, 20);
    assert_eq!(map.remove(&1), Some(10));
    assert_eq!(take(&heard), [(1, 10, Reason::Removed)]);
    clock.advance(MINUTE);
    assert_eq!(map.remove(&2), None);
    assert_eq!(take(&heard), [(2, 20, Reason::Expired)]);
    assert_eq!(map.stats().expirations, 1);
    assert!(map.is_empty());
}

/// `Reason::Removed`: "`clear` reports every entry as `Removed`"; `Stats::expirations`:
/// "`clear` drops every entry as removed, expired or not, and counts none here".
#[test]
fn clear_reports_expired_entries_as_removed_and_counts_no_expiration() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(1, 10);
    clock.advance(MINUTE);
    map.insert(2, 20);
    map.clear();
    assert_eq!(
        take_sorted(&heard),
        [(1, 10, Reason::Removed), (2, 20, Reason::Removed)]
    );
    assert_eq!(map.stats().expirations, 0);
    assert!(map.is_empty());
}

/// `Stats::expirations` counts "entries removed because they had expired, by ... `retain`",
/// and README's Counters say so too: an expired entry that `retain` removes is an expiration,
/// heard as `Reason::Expired`; a live one it refuses is heard as `Reason::Removed`. (Until
/// this review, `TtlMap::retain`'s docs said every entry it removes is heard as `Removed`, and
/// `Reason::Removed`'s named only `remove` and `clear`.)
#[test]
fn retain_hears_expired_entries_as_expired_and_refused_live_ones_as_removed() {
    let clock = ManualClock::new();
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    map.insert(1, 10);
    clock.advance(MINUTE);
    map.insert(2, 20);
    map.insert(3, 30);
    let asked = Mutex::new(Vec::new());
    map.retain(|k, _| {
        asked.lock().unwrap().push(*k);
        *k == 3
    });
    let mut asked = asked.into_inner().unwrap();
    asked.sort_unstable();
    assert_eq!(asked, [2, 3], "the predicate sees live entries only");
    assert_eq!(
        take_sorted(&heard),
        [(1, 10, Reason::Expired), (2, 20, Reason::Removed)]
    );
    assert_eq!(map.stats().expirations, 1);
    assert_eq!(map.iter().collect::<Vec<_>>(), [(3, 30)]);
}

/// `retain`: "If it panics, the entries removed so far are heard and counted, and the panic
/// goes on."
#[test]
fn a_retain_predicate_that_panics_leaves_what_it_removed_heard_and_the_map_usable() {
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .capacity(100) // one shard: the predicate's order is the table's
        .on_evict(listener)
        .build();
    for k in 0..20 {
        map.insert(k, k);
    }
    let calls = AtomicUsize::new(0);
    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.retain(|_, _| {
            if calls.fetch_add(1, SeqCst) == 10 {
                panic!("predicate fails");
            }
            false
        })
    }));
    assert!(ended.is_err(), "the panic goes on");
    let heard = take(&heard);
    assert_eq!(
        heard.len(),
        10,
        "the ten refused before the panic are heard"
    );
    assert!(heard.iter().all(|(_, _, r)| *r == Reason::Removed));
    assert_eq!(map.len(), 10);
    map.insert(100, 100);
    assert_eq!(map.get(&100), Some(100));
}

/// `Stats::inserts`: "not one a capacity of 0 refuses"; `Stats::evictions`: "and values a
/// capacity of 0 refused"; the listener hears them as `Capacity`.
#[test]
fn a_capacity_of_zero_refuses_every_value_and_counts_it_as_an_eviction() {
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .capacity(0)
        .on_evict(listener)
        .build();
    assert_eq!(map.insert(1, 10), None);
    assert_eq!(map.get_or_insert_with(&2, || 20), 20);
    assert_eq!(map.get_or_insert_with(&2, || 21), 21, "nothing was stored");
    assert!(map.is_empty());
    let stats = map.stats();
    assert_eq!((stats.inserts, stats.evictions), (0, 3));
    assert_eq!(
        take(&heard),
        [
            (1, 10, Reason::Capacity),
            (2, 20, Reason::Capacity),
            (2, 21, Reason::Capacity)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// `sweep` (map.rs): "returns how many it removed"; "From a listener of this map's own sweep it
// returns 0"; "Another map's sweep is no such obstacle".
// ---------------------------------------------------------------------------------------------

#[test]
fn sweep_returns_what_it_removed_and_zero_from_its_own_listener() {
    within(DEADLINE, || {
        let clock = ManualClock::new();
        let from_listener = Arc::new(Mutex::new(Vec::new()));
        let other: TtlMap<u32, u32> = TtlMap::builder().ttl(MINUTE).clock(clock.clone()).build();
        let slot: Arc<Mutex<Option<TtlMap<u32, u32>>>> = Arc::new(Mutex::new(None));
        let (seen, me, other2) = (Arc::clone(&from_listener), Arc::clone(&slot), other.clone());
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(MINUTE)
            .clock(clock.clone())
            .on_evict(move |_, _, reason| {
                if reason == Reason::Expired {
                    let own = me.lock().unwrap().clone().map(|m| m.sweep());
                    seen.lock().unwrap().push((own, other2.sweep()));
                }
            })
            .build();
        *slot.lock().unwrap() = Some(map.clone());
        for k in 0..5 {
            map.insert(k, k);
        }
        other.insert(1, 1);
        clock.advance(MINUTE);
        map.insert(99, 99); // live
        assert_eq!(map.sweep(), 5);
        let seen = from_listener.lock().unwrap().clone();
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|(own, _)| *own == Some(0)));
        let others: usize = seen.iter().map(|(_, o)| o).sum();
        assert_eq!(others, 1, "the other map's sweep removed its expired entry");
        assert_eq!(map.len(), 1);
        *slot.lock().unwrap() = None;
    });
}

// ---------------------------------------------------------------------------------------------
// The listener "is called outside the map's locks" (Builder::on_evict, SPEC, README): a
// listener that uses the same map, on every path that removes an entry, does not hang.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_listener_that_uses_its_own_map_does_not_hang_on_any_removal_path() {
    within(DEADLINE, || {
        let clock = ManualClock::new();
        let slot: Arc<Mutex<Option<TtlMap<u32, u32>>>> = Arc::new(Mutex::new(None));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let (me, log) = (Arc::clone(&slot), Arc::clone(&heard));
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(MINUTE)
            .capacity(3)
            .clock(clock.clone())
            .on_evict(move |k, _, reason| {
                let map = me.lock().unwrap().clone();
                if let Some(map) = map {
                    // Reads and writes of the same map, from inside the listener.
                    let _ = map.get(k);
                    let _ = map.len();
                    let _ = map.contains_key(k);
                    if *k < 1000 {
                        map.insert(k + 1000, 0);
                        map.remove(&(k + 1000));
                    }
                }
                log.lock().unwrap().push(reason);
            })
            .build();
        *slot.lock().unwrap() = Some(map.clone());
        map.insert(1, 1);
        map.insert(1, 2); // Replaced
        map.remove(&1); // Removed
        for k in 10..14 {
            map.insert(k, k); // the fourth evicts one: Capacity
        }
        clock.advance(MINUTE);
        map.sweep(); // Expired
        map.insert(20, 20);
        map.insert(21, 21);
        map.retain(|k, _| *k == 20); // Removed
        map.clear(); // Removed
        map.insert(30, 30);
        clock.advance(MINUTE);
        map.insert(30, 31); // Expired, through a store over it
        let heard = heard.lock().unwrap().clone();
        for reason in [
            Reason::Replaced,
            Reason::Removed,
            Reason::Capacity,
            Reason::Expired,
        ] {
            assert!(heard.contains(&reason), "{reason:?} was heard");
        }
        *slot.lock().unwrap() = None;
    });
}

// ---------------------------------------------------------------------------------------------
// Counters (stats.rs, README "Counters"): every `get` and memoizing call counts once as a hit
// or a miss, at its first lookup: `hits + misses` is the number of calls.
// ---------------------------------------------------------------------------------------------

#[test]
fn hits_plus_misses_is_the_number_of_calls_of_every_form() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .refresh_after(secs(10))
        .stale_if_error(MINUTE)
        .clock(clock.clone())
        .build();
    let call = |n: &mut u64| *n += 1;
    let mut n = 0u64;
    map.get(&1);
    call(&mut n);
    map.get_or_insert_with(&1, || 1);
    call(&mut n);
    map.get_or_insert_with(&1, || 2);
    call(&mut n);
    let _ = map.try_get_or_insert_with(&2, || Err::<u32, ()>(()));
    call(&mut n);
    let _ = map.try_get_or_insert_with_shared(&2, || Err::<u32, ()>(()));
    call(&mut n);
    let _ = map.optionally_get_or_insert_with(&3, || None);
    call(&mut n);
    let _ = map.optionally_get_or_insert_with(&3, || Some(3));
    call(&mut n);
    block_on(map.get_or_insert_with_async(&4, async { 4 }));
    call(&mut n);
    let _ = block_on(map.try_get_or_insert_with_async(&5, async { Err::<u32, ()>(()) }));
    call(&mut n);
    let _ = block_on(map.try_get_or_insert_with_shared_async(&5, async { Ok::<u32, ()>(5) }));
    call(&mut n);
    let _ = block_on(map.optionally_get_or_insert_with_async(&6, async { None }));
    call(&mut n);
    // A refresh: a hit that rebuilds.
    clock.advance(secs(10));
    assert_eq!(map.get_or_insert_with(&1, || 11), 11);
    call(&mut n);
    // A stale value served after a failed rebuild.
    clock.advance(MINUTE);
    assert_eq!(
        map.try_get_or_insert_with(&1, || Err::<u32, ()>(())),
        Ok(11)
    );
    call(&mut n);
    // Neither `contains_key`, `iter`, `insert`, `remove` nor `sweep` is a lookup.
    map.contains_key(&1);
    map.iter().for_each(drop);
    map.insert(7, 7);
    map.remove(&7);
    map.sweep();
    let stats = map.stats();
    assert_eq!(stats.hits + stats.misses, n, "{stats:?}");
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.stale_served, 1);
}

/// `Stats::coalesced`: "counted once per call when it starts to wait (also if it then makes
/// its own attempt because that constructor failed)".
#[test]
fn a_waiter_that_retries_after_a_failed_leader_is_coalesced_once() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let (release, gate) = mpsc::channel::<()>();
        let leader = {
            let map = map.clone();
            std::thread::spawn(move || {
                map.try_get_or_insert_with(&1, || {
                    gate.recv().unwrap();
                    Err::<u32, String>("down".into())
                })
            })
        };
        wait_until("the leader leads", || map.stats().misses == 1);
        let waiter = {
            let map = map.clone();
            std::thread::spawn(move || map.try_get_or_insert_with(&1, || Ok::<u32, String>(7)))
        };
        wait_until("the waiter waits", || map.stats().coalesced == 1);
        release.send(()).unwrap();
        assert!(leader.join().unwrap().is_err());
        assert_eq!(waiter.join().unwrap(), Ok(7), "the waiter's own attempt");
        let stats = map.stats();
        assert_eq!((stats.coalesced, stats.hits + stats.misses), (1, 2));
        assert_eq!(map.get(&1), Some(7));
    });
}

/// `Stats::coalesced`: "A call that panics instead of waiting (a constructor asking for its own
/// key) is not counted."
#[test]
fn a_reentrant_call_is_not_counted_as_coalesced() {
    let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
    let inner = map.clone();
    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.get_or_insert_with(&1, || inner.get_or_insert_with(&1, || 2))
    }));
    tests::assert_reentry(ended);
    assert_eq!(map.stats().coalesced, 0);
    assert_eq!(map.get_or_insert_with(&1, || 3), 3, "the map is usable");
}

// ---------------------------------------------------------------------------------------------
// Single flight (memo.rs docs, README "Single flight" and "Failures never make callers queue").
// ---------------------------------------------------------------------------------------------

/// Runs a leader of `key` whose constructor waits for the returned sender, and waits until it
/// leads (its miss is counted).
fn lead<T: Send + 'static>(
    map: &TtlMap<u32, u32>,
    run: impl FnOnce(TtlMap<u32, u32>, mpsc::Receiver<()>) -> T + Send + 'static,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<T>) {
    let misses = map.stats().misses;
    let (release, gate) = mpsc::channel::<()>();
    let map2 = map.clone();
    let handle = std::thread::spawn(move || run(map2, gate));
    wait_until("the leader leads", || map.stats().misses > misses);
    (release, handle)
}

/// `optionally_get_or_insert_with`: "the callers that waited for it get `None` too, from the
/// one run".
#[test]
fn optional_waiters_get_none_from_the_one_run() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let (release, leader) = lead(&map, move |map, gate| {
            map.optionally_get_or_insert_with(&1, || {
                r.fetch_add(1, SeqCst);
                gate.recv().unwrap();
                None
            })
        });
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (map, runs) = (map.clone(), Arc::clone(&runs));
                std::thread::spawn(move || {
                    map.optionally_get_or_insert_with(&1, || {
                        runs.fetch_add(1, SeqCst);
                        Some(9)
                    })
                })
            })
            .collect();
        wait_until("the waiters wait", || map.stats().coalesced == 3);
        release.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), None);
        for w in waiters {
            assert_eq!(w.join().unwrap(), None);
        }
        assert_eq!(runs.load(SeqCst), 1);
        assert!(map.is_empty(), "None is not stored");
    });
}

/// `try_get_or_insert_with_shared`: "a failed constructor's error goes to every caller that
/// waited for it, as an `Arc`": the same one.
#[test]
fn shared_error_waiters_get_the_leaders_very_arc() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let (release, leader) = lead(&map, |map, gate| {
            map.try_get_or_insert_with_shared(&1, || {
                gate.recv().unwrap();
                Err::<u32, String>("backend down".into())
            })
        });
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let map = map.clone();
                std::thread::spawn(move || {
                    map.try_get_or_insert_with_shared(&1, || Ok::<u32, String>(5))
                })
            })
            .collect();
        wait_until("the waiters wait", || map.stats().coalesced == 2);
        release.send(()).unwrap();
        let first = leader.join().unwrap().unwrap_err();
        for w in waiters {
            let error = w.join().unwrap().unwrap_err();
            assert!(Arc::ptr_eq(&first, &error));
        }
        assert!(map.is_empty());
    });
}

/// `get_or_insert_with`: "If `key` is inserted, removed, cleared or dropped by `retain` while
/// `init` runs, its value is returned but not stored." Other keys' writes are no such thing:
/// with a capacity every key shares one shard, and the flight's value is still stored.
#[test]
fn a_flight_stores_its_value_though_other_keys_of_its_shard_were_written_meanwhile() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::builder().ttl(MINUTE).capacity(100).build();
        map.insert(2, 2);
        let (release, leader) = lead(&map, |map, gate| {
            map.get_or_insert_with(&1, || {
                gate.recv().unwrap();
                10
            })
        });
        map.remove(&2);
        map.insert(3, 3);
        release.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), 10);
        assert_eq!(map.get(&1), Some(10), "stored");
    });
}

#[test]
fn invalidation_during_a_flight_wins_but_its_callers_get_the_value() {
    within(DEADLINE, || {
        for invalidate in 0..4 {
            let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
            let (release, leader) = lead(&map, |map, gate| {
                map.get_or_insert_with(&1, || {
                    gate.recv().unwrap();
                    10
                })
            });
            match invalidate {
                0 => drop(map.remove(&1)),
                1 => map.clear(),
                2 => map.retain(|_, _| true),
                _ => drop(map.insert(1, 99)),
            }
            release.send(()).unwrap();
            assert_eq!(leader.join().unwrap(), 10, "its caller gets it");
            let expected = if invalidate == 3 { Some(99) } else { None };
            assert_eq!(map.get(&1), expected, "case {invalidate}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Freshness (builder.rs): `refresh_after`, `stale_if_error`, `max_lifetime`, `expire_after`.
// ---------------------------------------------------------------------------------------------

/// `refresh_after`: "`get` never refreshes".
#[test]
fn get_never_refreshes() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .refresh_after(secs(5))
        .clock(clock.clone())
        .build();
    map.get_or_insert_with(&1, || 1);
    clock.advance(secs(30));
    for _ in 0..3 {
        assert_eq!(map.get(&1), Some(1));
    }
    assert_eq!(map.stats().refreshes, 0);
    assert_eq!(map.get_or_insert_with(&1, || 2), 2, "a memoizing call does");
    assert_eq!(map.stats().refreshes, 1);
}

/// `refresh_after`: a failed refresh "keeps the current value, which the refreshing caller then
/// gets ... and is counted; the next memoizing call tries again"; a panicking one "panics in
/// its caller, keeps the value and is not counted".
#[test]
fn a_failed_or_panicking_refresh_keeps_the_value_and_the_next_call_tries_again() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .refresh_after(secs(5))
        .clock(clock.clone())
        .build();
    map.get_or_insert_with(&1, || 1);
    clock.advance(secs(5));
    assert_eq!(map.try_get_or_insert_with(&1, || Err::<u32, ()>(())), Ok(1));
    assert_eq!(map.optionally_get_or_insert_with(&1, || None), Some(1));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.get_or_insert_with(&1, || panic!("rebuild panics"))
    }));
    assert!(panicked.is_err());
    let stats = map.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (0, 2));
    assert_eq!(map.get(&1), Some(1));
    assert_eq!(
        map.get_or_insert_with(&1, || 2),
        2,
        "the next call tries again"
    );
    assert_eq!(map.stats().refreshes, 1);
}

/// `stale_if_error`: "`get` still never returns an expired value; a panicking constructor still
/// panics"; `None` counts as a failure (README: "(`Err`, `None`)").
#[test]
fn stale_if_error_serves_memoizing_calls_only_and_not_a_panic() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .stale_if_error(MINUTE)
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    clock.advance(MINUTE);
    assert_eq!(map.get(&1), None);
    assert!(!map.contains_key(&1));
    assert_eq!(map.iter().count(), 0);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        map.get_or_insert_with(&1, || panic!("backend panics"))
    }));
    assert!(
        panicked.is_err(),
        "a panic is not answered with the stale value"
    );
    assert_eq!(map.optionally_get_or_insert_with(&1, || None), Some(1));
    assert_eq!(
        block_on(map.try_get_or_insert_with_async(&1, async { Err::<u32, ()>(()) })),
        Ok(1)
    );
    assert_eq!(map.stats().stale_served, 2);
    clock.advance(MINUTE); // the window is over
    assert_eq!(map.optionally_get_or_insert_with(&1, || None), None);
}

/// `max_lifetime`: "With `Expiry::Fixed` the shorter of the two applies."
#[test]
fn with_fixed_expiry_the_shorter_of_ttl_and_max_lifetime_applies() {
    for (ttl, max, dies) in [(60, 30, 30), (30, 60, 30)] {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(secs(ttl))
            .expiry(Expiry::Fixed)
            .max_lifetime(secs(max))
            .clock(clock.clone())
            .build();
        map.insert(1, 1);
        clock.advance(secs(dies - 1));
        assert_eq!(map.get(&1), Some(1));
        clock.advance(secs(1));
        assert_eq!(map.get(&1), None, "ttl {ttl}, max_lifetime {max}");
    }
}

/// `expire_after`: "It runs once per stored value, as it is stored (never on a hit)"; "the
/// earliest limit wins" (a longer declared life does not outlive the ttl).
#[test]
fn expire_after_runs_once_per_stored_value_never_on_a_hit_and_cannot_extend_the_ttl() {
    let clock = ManualClock::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .expire_after(move |_, v| {
            r.fetch_add(1, SeqCst);
            Some(secs(u64::from(*v)))
        })
        .clock(clock.clone())
        .build();
    map.insert(1, 3600); // declares an hour: the minute still wins
    map.get_or_insert_with(&2, || 10);
    assert_eq!(runs.load(SeqCst), 2);
    for _ in 0..5 {
        map.get(&1);
        map.get_or_insert_with(&2, || 0);
    }
    assert_eq!(runs.load(SeqCst), 2, "hits do not run it");
    clock.advance(secs(10));
    assert_eq!(map.get(&2), None, "its own ten seconds");
    assert_eq!(map.get(&1), Some(3600)); // slides it to 70 s
    clock.advance(secs(50));
    assert_eq!(map.get(&1), Some(3600)); // slides it to 120 s
    clock.advance(MINUTE);
    assert_eq!(map.get(&1), None, "not the hour it declared");
}

// ---------------------------------------------------------------------------------------------
// Expiry and time (builder.rs `Expiry::Sliding`, README "Sliding or fixed expiry").
// ---------------------------------------------------------------------------------------------

/// "the deadline moves only when it would advance by at least ttl/64, so an entry may expire up
/// to ttl/64 before its last hit + ttl"; "Deadlines are kept to 2.048 µs, rounding earlier".
/// So after any series of hits an entry lives at least until last hit + ttl - ttl/64 - 2.048
/// µs, and never reaches last hit + ttl.
#[test]
fn a_sliding_entry_lives_within_ttl_64_of_its_last_hit_plus_ttl() {
    let ttl = TTL64;
    let step = ttl / 64;
    let slack = step + Duration::from_nanos(2048);
    // Hit gaps in ms, chosen around the step.
    let gaps: [u64; 12] = [1, 999, 1000, 1001, 500, 1500, 3, 63_000, 999, 1, 2000, 700];
    for split in 0..gaps.len() {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32> = TtlMap::builder().ttl(ttl).clock(clock.clone()).build();
        map.insert(1, 1);
        for gap in &gaps[..=split] {
            clock.advance(Duration::from_millis(*gap));
            assert_eq!(map.get(&1), Some(1));
        }
        clock.advance(ttl - slack);
        assert!(
            map.contains_key(&1),
            "alive ttl - ttl/64 after its last hit"
        );
        clock.advance(slack);
        assert!(!map.contains_key(&1), "dead ttl after its last hit");
    }
}

/// `Builder::ttl`, README: "Durations too long to represent saturate"; SPEC: "they never
/// panic".
#[test]
fn the_longest_durations_saturate_and_never_panic() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(Duration::MAX)
        .max_lifetime(Duration::MAX)
        .refresh_after(Duration::MAX)
        .stale_if_error(Duration::MAX)
        .sweep_every(Duration::MAX)
        .expire_after(|_, _| Some(Duration::MAX))
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    assert_eq!(map.get_or_insert_with(&2, || 2), 2);
    clock.advance(Duration::from_secs(400 * 365 * 86_400));
    assert_eq!(map.get(&1), Some(1));
    assert_eq!(map.get_or_insert_with(&2, || 3), 2);
    map.sweep();
    clock.advance(Duration::MAX);
    assert_eq!(map.get(&1), None, "at the end of time even this expires");
    map.insert(3, 3);
    map.sweep();
}

// ---------------------------------------------------------------------------------------------
// Configuration and Debug (builder.rs, map.rs, registry.rs).
// ---------------------------------------------------------------------------------------------

/// `TtlMap::new`: "A map with sliding expiry after `ttl`, no capacity and no background sweep".
#[test]
fn new_is_sliding_unbounded_and_unswept() {
    let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
    let debug = format!("{map:?}");
    assert!(debug.contains("expiry: Sliding"), "{debug}");
    assert!(debug.contains("capacity: None"), "{debug}");
    assert!(debug.contains("sweep_every: None"), "{debug}");
}

/// `Builder::sweep_every`: "every `interval` (at least 1 ms)".
#[test]
fn a_sweep_interval_below_a_millisecond_is_a_millisecond() {
    let builder = TtlMap::<u32, u32>::builder()
        .ttl(MINUTE)
        .sweep_every(Duration::ZERO);
    assert!(format!("{builder:?}").contains("sweep_every: Some(1ms)"));
    let map = builder.build();
    assert!(format!("{map:?}").contains("sweep_every: Some(1ms)"));
}

/// "`Debug` shows the configuration and the number of entries, never keys or values", for a
/// map, its builder, an iterator, a `Cache` of `caches()`, a clock.
#[test]
fn no_debug_output_shows_a_key_or_a_value() {
    const KEY: &str = "sk-review12-SECRETKEY";
    const VALUE: &str = "VALUE-review12-SECRET";
    let clock = ManualClock::new();
    let map: TtlMap<String, String> = TtlMap::builder()
        .ttl(MINUTE)
        .name("review12_debug_secrets")
        .clock(clock)
        .build();
    map.insert(KEY.to_owned(), VALUE.to_owned());
    let mut outputs = vec![format!("{map:?}"), format!("{:?}", map.iter())];
    let cache = cache_core::caches()
        .into_iter()
        .find(|c| c.name() == "review12_debug_secrets")
        .expect("listed");
    outputs.push(format!("{cache:?}"));
    outputs.push(format!("{:?}", map.stats()));
    for out in &outputs {
        // Assert without quoting the output: it would print the key if the claim failed.
        assert!(
            !out.contains("SECRET"),
            "a Debug output shows a key or a value"
        );
    }
    assert!(outputs[0].contains("len: 1"));
    assert!(outputs[2].contains("len: 1") && outputs[2].contains("review12_debug_secrets"));
}

/// `caches()`: "Every live map that was built with a name, in the order they were built"; a
/// dropped map drops out.
#[test]
fn caches_lists_named_maps_in_the_order_they_were_built() {
    let names = ["review12_order_a", "review12_order_b", "review12_order_c"];
    let maps: Vec<TtlMap<u32, u32>> = names
        .iter()
        .map(|n| TtlMap::builder().ttl(MINUTE).name(n).build())
        .collect();
    let unnamed: TtlMap<u32, u32> = TtlMap::new(MINUTE);
    let listed = || -> Vec<&'static str> {
        cache_core::caches()
            .iter()
            .map(|c| c.name())
            .filter(|n| n.starts_with("review12_order_"))
            .collect()
    };
    assert_eq!(listed(), names);
    let mut maps = maps;
    drop(maps.remove(1));
    assert_eq!(listed(), ["review12_order_a", "review12_order_c"]);
    drop((maps, unnamed));
    assert!(listed().is_empty());
}

/// `TtlMap`: "Cloning a `TtlMap` is cheap and gives another handle to the same map"; `Cache`
/// clears and resets the map it lists.
#[test]
fn a_clone_and_a_listed_cache_are_the_same_map() {
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .name("review12_same_map")
        .build();
    let other = map.clone();
    other.insert(1, 1);
    assert_eq!(map.get(&1), Some(1));
    let cache = cache_core::caches()
        .into_iter()
        .find(|c| c.name() == "review12_same_map")
        .unwrap();
    assert_eq!((cache.len(), cache.stats().hits), (1, 1));
    cache.reset_stats();
    assert_eq!(map.stats().hits, 0);
    cache.clear();
    assert!(map.is_empty() && other.is_empty() && cache.is_empty());
}

// ---------------------------------------------------------------------------------------------
// `#[ttl_cached]`: README's options table and "Semantics", the macro's docs in lib.rs.
// ---------------------------------------------------------------------------------------------

mod attribute {
    use std::path::Path;
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    use cache_core::{ManualClock, ttl_cached};

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    static BODY: AtomicUsize = AtomicUsize::new(0);
    static TTL_READS: AtomicUsize = AtomicUsize::new(0);

    fn ttl_read() -> Duration {
        TTL_READS.fetch_add(1, SeqCst);
        Duration::from_secs(60)
    }

    // README, `name`: default "the function's path (`module::function`; `module::Type::function`
    // in an `impl`)".
    #[ttl_cached(ttl = "1h", cache = by_path_map)]
    fn by_path(n: u32) -> u32 {
        n
    }

    struct Lookup;

    impl Lookup {
        #[ttl_cached(ttl = "1h")]
        fn in_impl(n: u32) -> u32 {
            n
        }
    }

    #[test]
    fn an_unnamed_map_is_listed_under_the_functions_path() {
        by_path(1);
        Lookup::in_impl(1);
        let names: Vec<&str> = cache_core::caches().iter().map(|c| c.name()).collect();
        assert!(
            names.contains(&"review12_claims::attribute::by_path"),
            "{names:?}"
        );
        assert!(
            names.contains(&"review12_claims::attribute::Lookup::in_impl"),
            "{names:?}"
        );
        assert!(format!("{:?}", by_path_map()).contains("review12_claims::attribute::by_path"));
    }

    // README: `ttl` "any expression of type `Duration` (evaluated once, when the cache is first
    // used)".
    #[ttl_cached(ttl = ttl_read(), clock = CLOCK.clone())]
    fn ttl_from_an_expression(n: u32) -> u32 {
        n
    }

    #[test]
    fn a_ttl_expression_is_evaluated_once_when_the_cache_is_first_used() {
        assert_eq!(TTL_READS.load(SeqCst), 0, "not before the first call");
        for n in 0..5 {
            ttl_from_an_expression(n);
        }
        assert_eq!(TTL_READS.load(SeqCst), 1);
    }

    // README: `sweep` default "off"; `"off"` accepted; `expiry` default "sliding"; `capacity`
    // "an expression of type `usize`".
    #[ttl_cached(ttl = "1h", cache = defaults_map)]
    fn defaults(n: u32) -> u32 {
        n
    }

    #[ttl_cached(ttl = "1h", sweep = "off", cache = off_map)]
    fn sweep_off(n: u32) -> u32 {
        n
    }

    const CAP: usize = 2 + 1;

    #[ttl_cached(ttl = "90s", sweep = "5m", expiry = "fixed", capacity = CAP * 2, cache = set_map)]
    fn all_set(n: u32) -> u32 {
        n
    }

    #[test]
    fn option_defaults_and_values_reach_the_map() {
        let shown = format!("{:?}", defaults_map());
        assert!(shown.contains("ttl: 3600s"), "{shown}");
        assert!(shown.contains("expiry: Sliding"), "{shown}");
        assert!(shown.contains("capacity: None"), "{shown}");
        assert!(shown.contains("sweep_every: None"), "{shown}");
        assert!(shown.contains("clock: System"), "{shown}");
        assert!(format!("{:?}", off_map()).contains("sweep_every: None"));
        let set = format!("{:?}", set_map());
        assert!(set.contains("ttl: 90s"), "{set}");
        assert!(set.contains("expiry: Fixed"), "{set}");
        assert!(set.contains("capacity: Some(6)"), "{set}");
        assert!(set.contains("sweep_every: Some(300s)"), "{set}");
        let _ = (defaults(1), sweep_off(1), all_set(1));
    }

    // README "Keys": "`PathBuf` compares paths by their components, so `logs` and `logs/` (or
    // `a//b` and `a/b`) get one value".
    #[ttl_cached(ttl = "1h")]
    fn by_path_arg(p: &Path) -> usize {
        BODY.fetch_add(1, SeqCst);
        p.as_os_str().len()
    }

    #[test]
    fn paths_that_compare_equal_share_one_entry() {
        let first = by_path_arg(Path::new("review12/logs"));
        assert_eq!(by_path_arg(Path::new("review12/logs/")), first);
        assert_eq!(by_path_arg(Path::new("review12//logs")), first);
        assert_eq!(first, "review12/logs".len());
    }

    // README "Keys": `Option<&T>` by `Option<T::Owned>`; no parameters: "a lazily built
    // singleton that expires".
    static OPTION_RUNS: AtomicUsize = AtomicUsize::new(0);
    static SINGLETON_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    fn by_option(name: Option<&str>) -> usize {
        OPTION_RUNS.fetch_add(1, SeqCst);
        name.map_or(0, str::len)
    }

    #[ttl_cached(ttl = "1m", clock = CLOCK.clone())]
    fn singleton() -> usize {
        SINGLETON_RUNS.fetch_add(1, SeqCst)
    }

    #[test]
    fn option_keys_and_the_expiring_singleton() {
        assert_eq!(by_option(None), 0);
        assert_eq!(by_option(Some("abc")), 3);
        assert_eq!(by_option(None), 0);
        assert_eq!(by_option(Some("abc")), 3);
        assert_eq!(OPTION_RUNS.load(SeqCst), 2);
        let first = singleton();
        assert_eq!(singleton(), first);
        assert_eq!(SINGLETON_RUNS.load(SeqCst), 1);
        // CLOCK is shared with other tests of this module, which only read it.
        CLOCK.advance(Duration::from_secs(3600));
        assert_eq!(singleton(), first + 1, "it expired and was built again");
    }

    // README "Errors and `None` are not cached": by the type, also through aliases.
    type Res<T> = Result<T, String>;
    type Maybe<T> = Option<T>;
    static RES_RUNS: AtomicUsize = AtomicUsize::new(0);
    static MAYBE_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    fn aliased_result(n: u32) -> Res<u32> {
        RES_RUNS.fetch_add(1, SeqCst);
        if n == 0 { Err("zero".into()) } else { Ok(n) }
    }

    #[ttl_cached(ttl = "1h")]
    fn aliased_option(n: u32) -> Maybe<u32> {
        MAYBE_RUNS.fetch_add(1, SeqCst);
        (n != 0).then_some(n)
    }

    #[test]
    fn aliases_of_result_and_option_cache_only_ok_and_some() {
        for _ in 0..3 {
            assert!(aliased_result(0).is_err());
            assert_eq!(aliased_result(1), Ok(1));
            assert_eq!(aliased_option(0), None);
            assert_eq!(aliased_option(1), Some(1));
        }
        assert_eq!(RES_RUNS.load(SeqCst), 3 + 1);
        assert_eq!(MAYBE_RUNS.load(SeqCst), 3 + 1);
    }

    // README `stale_if_error`: "when rebuilding an expired value fails (`Err`, `None`), return
    // the last value if it expired less than this long ago".
    static STALE_CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    static UPSTREAM_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    #[ttl_cached(ttl = "1m", stale_if_error = "10m", clock = STALE_CLOCK.clone(), cache = quotes)]
    fn quote(symbol: &str) -> Option<usize> {
        UPSTREAM_UP.load(SeqCst).then_some(symbol.len())
    }

    #[test]
    fn stale_if_error_answers_a_none_with_the_last_value() {
        assert_eq!(quote("ACME"), Some(4));
        STALE_CLOCK.advance(Duration::from_secs(90));
        UPSTREAM_UP.store(false, SeqCst);
        assert_eq!(quote("ACME"), Some(4), "the stale value");
        assert_eq!(quotes().stats().stale_served, 1);
        STALE_CLOCK.advance(Duration::from_secs(600));
        assert_eq!(quote("ACME"), None, "the window is over");
    }
}

// ---------------------------------------------------------------------------------------------
// More of the map's docs: the listener's reach, born-expired values, refreshes that do not
// make callers wait, stale windows and sweeps, waiters' own attempts in parallel.
// ---------------------------------------------------------------------------------------------

/// `Builder::on_evict` says "Call `listener` with every entry that leaves the map". Entries
/// that go with the map itself (its last handle dropped) are dropped unheard: there is no
/// `Reason` for it. (The doc now says so.)
#[test]
fn entries_dropped_with_the_map_are_not_heard() {
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(MINUTE).on_evict(listener).build();
    map.insert(1, 10);
    map.insert(2, 20);
    drop(map);
    assert_eq!(take(&heard), [], "no listener call for the map's own drop");
}

/// README "Capacity": "a value stored already expired (`expire_after` gave it no life) into a
/// full map is itself the one that goes, as expired".
#[test]
fn a_value_born_expired_into_a_full_map_is_the_one_that_goes() {
    let (heard, listener) = recorder();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .capacity(2)
        .expire_after(|_, v| (*v == 0).then_some(Duration::ZERO))
        .on_evict(listener)
        .build();
    map.insert(1, 1);
    map.insert(2, 2);
    map.insert(3, 0);
    assert_eq!(take(&heard), [(3, 0, Reason::Expired)]);
    assert_eq!(
        (map.get(&1), map.get(&2), map.get(&3)),
        (Some(1), Some(2), None)
    );
    let stats = map.stats();
    assert_eq!((stats.evictions, stats.expirations), (0, 1));
}

/// `Builder::refresh_after`: "every other caller meanwhile gets the current one at once".
#[test]
fn callers_during_a_refresh_get_the_current_value_without_waiting() {
    within(DEADLINE, || {
        let clock = ManualClock::new();
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(MINUTE)
            .refresh_after(secs(5))
            .clock(clock.clone())
            .build();
        map.get_or_insert_with(&1, || 1);
        clock.advance(secs(5));
        let (started, running) = mpsc::channel::<()>();
        let (release, gate) = mpsc::channel::<()>();
        let refresher = {
            let map = map.clone();
            std::thread::spawn(move || {
                map.get_or_insert_with(&1, || {
                    started.send(()).unwrap();
                    gate.recv().unwrap();
                    2
                })
            })
        };
        running.recv_timeout(DEADLINE).expect("the refresh runs");
        for _ in 0..3 {
            assert_eq!(
                map.get_or_insert_with(&1, || 3),
                1,
                "no wait, no second rebuild"
            );
            assert_eq!(
                block_on(map.get_or_insert_with_async(&1, async { 4 })),
                1,
                "no wait in the async form either"
            );
        }
        release.send(()).unwrap();
        assert_eq!(refresher.join().unwrap(), 2);
        assert_eq!(map.get(&1), Some(2));
        assert_eq!(map.stats().coalesced, 0);
    });
}

/// `Builder::stale_if_error`: "expired entries are then kept until the window is over too
/// (sweeps and the bound on expired entries count from the end of the window)"; `len` counts
/// them ("Entries held, counting expired ones not yet removed").
#[test]
fn a_stale_window_keeps_expired_entries_from_sweeps_until_it_is_over() {
    let clock = ManualClock::new();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(MINUTE)
        .stale_if_error(MINUTE)
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    clock.advance(MINUTE);
    assert_eq!(map.sweep(), 0);
    assert_eq!(map.len(), 1);
    clock.advance(MINUTE);
    assert_eq!(map.sweep(), 1);
    assert!(map.is_empty());
}

/// `Stats::inserts`: a constructor's value counts "not one whose key was invalidated
/// meanwhile".
#[test]
fn an_invalidated_flights_value_is_not_counted_as_an_insert() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let (release, leader) = lead(&map, |map, gate| {
            map.get_or_insert_with(&1, || {
                gate.recv().unwrap();
                10
            })
        });
        map.remove(&1);
        release.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), 10);
        assert_eq!(map.stats().inserts, 0);
    });
}

/// `get_or_insert_with`: "If `init` panics, each waiter runs its own constructor at once";
/// `try_get_or_insert_with`: "The callers that were waiting for it each make their own attempt
/// at once"; README: "in parallel". Each waiter's constructor waits for the other's to start:
/// run one after another, they would never finish.
#[test]
fn waiters_of_a_failed_or_panicked_flight_attempt_in_parallel() {
    for panics in [true, false] {
        within(DEADLINE, move || {
            let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
            let (release, leader) = lead(&map, move |map, gate| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.try_get_or_insert_with(&1, || {
                        gate.recv().unwrap();
                        if panics {
                            panic!("leader panics");
                        }
                        Err::<u32, String>("leader fails".into())
                    })
                }))
            });
            let both = Arc::new(std::sync::Barrier::new(2));
            let waiters: Vec<_> = (0..2)
                .map(|i| {
                    let (map, both) = (map.clone(), Arc::clone(&both));
                    std::thread::spawn(move || {
                        map.try_get_or_insert_with(&1, || {
                            both.wait();
                            Ok::<u32, String>(100 + i)
                        })
                    })
                })
                .collect();
            wait_until("both wait", || map.stats().coalesced == 2);
            release.send(()).unwrap();
            let led = leader.join().unwrap();
            assert_eq!(led.is_err(), panics);
            for w in waiters {
                assert!(w.join().unwrap().is_ok());
            }
            assert_eq!(map.stats().coalesced, 2);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Clock reads on a hit. lib.rs "Guarantees": "A hit ... reads the clock once"; SPEC: "A hit
// reads the clock at most once"; README: "a hit that moves a deadline reads the clock again
// first; that happens at most once per ttl/64 per entry".
// ---------------------------------------------------------------------------------------------

/// A `ManualClock` that counts its reads.
#[derive(Clone, Default)]
struct CountingClock {
    time: ManualClock,
    reads: Arc<AtomicUsize>,
}

impl cache_core::Clock for CountingClock {
    fn now(&self) -> Duration {
        self.reads.fetch_add(1, SeqCst);
        self.time.now()
    }
}

impl CountingClock {
    /// Clock reads made by `f`.
    fn reads_of<T>(&self, f: impl FnOnce() -> T) -> (T, usize) {
        let before = self.reads.load(SeqCst);
        let out = f();
        (out, self.reads.load(SeqCst) - before)
    }
}

#[test]
fn a_hit_that_does_not_move_a_deadline_reads_the_clock_once() {
    for expiry in [Expiry::Sliding, Expiry::Fixed] {
        let clock = CountingClock::default();
        let map: TtlMap<u32, u32> = TtlMap::builder()
            .ttl(TTL64)
            .expiry(expiry)
            .clock(clock.clone())
            .build();
        map.insert(1, 1);
        assert_eq!(clock.reads_of(|| map.get(&1)), (Some(1), 1), "{expiry:?}");
        let (value, reads) = clock.reads_of(|| map.get_or_insert_with(&1, || 2));
        assert_eq!((value, reads), (1, 1), "memoizing hit, {expiry:?}");
    }
    // With every freshness option set too.
    let clock = CountingClock::default();
    let map: TtlMap<u32, u32> = TtlMap::builder()
        .ttl(TTL64)
        .max_lifetime(secs(600))
        .refresh_after(secs(300))
        .stale_if_error(secs(60))
        .expire_after(|_, _| Some(secs(500)))
        .capacity(10)
        .clock(clock.clone())
        .build();
    map.insert(1, 1);
    assert_eq!(clock.reads_of(|| map.get(&1)), (Some(1), 1));
    let (value, reads) = clock.reads_of(|| map.get_or_insert_with(&1, || 2));
    assert_eq!((value, reads), (1, 1), "memoizing hit, every option");
    let (value, reads) = clock.reads_of(|| block_on(map.get_or_insert_with_async(&1, async { 2 })));
    assert_eq!((value, reads), (1, 1), "async memoizing hit, every option");
}

/// A sliding hit that moves its deadline reads the clock a second time (README says so; the
/// crate's "Guarantees" and the SPEC say once). Once per ttl/64 per entry: the next hits in
/// that step read it once.
#[test]
fn a_sliding_hit_that_moves_the_deadline_reads_the_clock_twice_once_per_step() {
    let clock = CountingClock::default();
    let map: TtlMap<u32, u32> = TtlMap::builder().ttl(TTL64).clock(clock.clone()).build();
    map.insert(1, 1);
    clock.time.advance(secs(2));
    assert_eq!(clock.reads_of(|| map.get(&1)), (Some(1), 2));
    for _ in 0..3 {
        assert_eq!(clock.reads_of(|| map.get(&1)), (Some(1), 1));
    }
}

// ---------------------------------------------------------------------------------------------
// "A hit allocates nothing" (SPEC, crate docs, README), for the forms `zero_alloc.rs` does not
// reach: the fallible, optional and async forms, a map with every freshness option, sliding
// hits that move their deadline, and an `async fn` under the attribute.
// ---------------------------------------------------------------------------------------------

mod allocations {
    use std::sync::Arc;
    use std::time::Duration;

    use cache_core::{ManualClock, TtlMap, ttl_cached};
    use tests::block_on;
    use tests::counting::{Counting, allocations_during};

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    fn keys() -> Vec<String> {
        (0..64).map(|i| format!("sk-review12-{i:040}")).collect()
    }

    type Map = TtlMap<String, Arc<u64>>;

    fn filled(map: &Map, keys: &[String]) {
        for k in keys {
            map.insert(k.clone(), Arc::new(1));
        }
        map.get(keys[0].as_str()); // this thread's first use registers its lock stripe
    }

    /// Every memoizing form's hit on `map`, `rounds` times over `keys`.
    fn every_form(map: &Map, keys: &[String], rounds: usize) {
        for i in 0..rounds {
            let k = keys[i % keys.len()].as_str();
            assert!(map.get(k).is_some());
            map.get_or_insert_with(k, || unreachable!());
            let _ = map.try_get_or_insert_with(k, || Err::<Arc<u64>, ()>(()));
            let _ = map.try_get_or_insert_with_shared(k, || Err::<Arc<u64>, ()>(()));
            assert!(map.optionally_get_or_insert_with(k, || None).is_some());
            block_on(map.get_or_insert_with_async(k, async { unreachable!() }));
            let _ = block_on(map.try_get_or_insert_with_async(k, async { Err::<_, ()>(()) }));
            let _ =
                block_on(map.try_get_or_insert_with_shared_async(k, async { Err::<_, ()>(()) }));
            let _ = block_on(map.optionally_get_or_insert_with_async(k, async { None }));
        }
    }

    #[test]
    fn hits_of_every_memoizing_form_allocate_nothing() {
        let keys = keys();
        let map: Map = TtlMap::new(Duration::from_secs(3600));
        filled(&map, &keys);
        assert_eq!(allocations_during(|| every_form(&map, &keys, 1000)), 0);
    }

    #[test]
    fn hits_in_a_map_with_every_freshness_option_allocate_nothing() {
        let keys = keys();
        let clock = ManualClock::new();
        let map: Map = TtlMap::builder()
            .ttl(Duration::from_secs(64))
            .max_lifetime(Duration::from_secs(3600))
            .refresh_after(Duration::from_secs(1800))
            .stale_if_error(Duration::from_secs(60))
            .expire_after(|_, _| Some(Duration::from_secs(3000)))
            .capacity(1000)
            .clock(clock.clone())
            .build();
        filled(&map, &keys);
        // Each round's hits at a later second: sliding deadlines move (ttl/64 is 1 s).
        let n = allocations_during(|| {
            for _ in 0..20 {
                clock.advance(Duration::from_secs(2));
                every_form(&map, &keys, keys.len());
            }
        });
        assert_eq!(n, 0);
    }

    #[ttl_cached(ttl = "1h")]
    async fn async_client(api_key: &str, region: Option<&str>) -> Arc<usize> {
        Arc::new(api_key.len() + region.map_or(0, str::len))
    }

    #[test]
    fn an_async_fn_hit_under_the_attribute_allocates_nothing() {
        let keys = keys();
        for k in &keys {
            block_on(async_client(k, Some("eu")));
        }
        let n = allocations_during(|| {
            for i in 0..1000 {
                let hit = block_on(async_client(&keys[i % keys.len()], Some("eu")));
                assert_eq!(*hit, keys[0].len() + 2);
            }
        });
        assert_eq!(n, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// README "Capacity": which entry goes.
// ---------------------------------------------------------------------------------------------

/// A capacity-`cap` sliding map on `clock` whose listener records the victims.
fn capped(cap: usize, clock: &ManualClock) -> (TtlMap<u32, u32>, tests::heard::Heard<u32, u32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(TTL64)
        .capacity(cap)
        .expire_after(|_, v: &u32| (*v >= 1000).then(|| secs(u64::from(*v) - 1000)))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    (map, heard)
}

fn victims(heard: &tests::heard::Heard<u32, u32>) -> Vec<u32> {
    take(heard).into_iter().map(|(k, _, _)| k).collect()
}

/// "a hit since the deadline last moved counts as half a ttl/64 later": with ttl/64 = 1 s, an
/// entry stored at 0 and hit at 0.5 s (too soon to slide) ranks as if its deadline were half a
/// second later; an entry stored at 0.4 s expires sooner and goes first, one stored at 0.6 s
/// expires later and stays.
#[test]
fn a_hit_between_steps_counts_as_half_a_step_later() {
    for (b_at_ms, victim) in [(400, 2), (600, 1)] {
        let clock = ManualClock::new();
        let (map, heard) = capped(2, &clock);
        let at = |ms: u64, now: &mut u64| {
            clock.advance(Duration::from_millis(ms - *now));
            *now = ms;
        };
        let mut now = 0;
        map.insert(1, 1);
        // The hit on 1 at 0.5 s and the store of 2, in the order of their times.
        let mut events = [(500, 0), (b_at_ms, 2)];
        events.sort_unstable();
        for (ms, what) in events {
            at(ms, &mut now);
            match what {
                0 => assert_eq!(map.get(&1), Some(1)),
                k => drop(map.insert(k, k)),
            }
        }
        map.insert(3, 3);
        assert_eq!(victims(&heard), [victim], "2 stored at {b_at_ms} ms");
    }
}

/// "the victim is the entry that would expire soonest, so an entry whose life `expire_after`
/// or `max_lifetime` cut short ranks by that earlier deadline, ahead of older or less recently
/// used entries that will outlive it".
#[test]
fn an_entry_with_a_shortened_life_goes_before_older_ones() {
    let clock = ManualClock::new();
    let (map, heard) = capped(3, &clock);
    map.insert(1, 1);
    clock.advance(secs(1));
    map.insert(2, 1000 + 30); // 30 s of life, stored later than 1
    clock.advance(secs(1));
    map.insert(3, 3);
    map.insert(4, 4);
    assert_eq!(victims(&heard), [2]);
}

/// "Entries stored in one clock tick evict in their order of storage ..., and a hit that slides
/// an entry's deadline takes its place in that same order: after the entries stored or slid
/// into its new slot before it, before those stored or slid after it".
#[test]
fn a_slid_entry_takes_its_place_in_the_order_of_its_new_slot() {
    let clock = ManualClock::new();
    let (map, heard) = capped(4, &clock);
    map.insert(1, 1);
    map.insert(2, 2);
    clock.advance(secs(2));
    map.insert(3, 3); // slot 66 s: first
    assert_eq!(map.get(&2), Some(2)); // slides into 66 s: after 3
    map.insert(4, 4); // 66 s: after 2
    assert_eq!(map.get(&1), Some(1)); // slides into 66 s: after 4
    // Order by deadline now: 3, 2, 4, 1.
    for (k, victim) in [(10, 3), (11, 2), (12, 4), (13, 1)] {
        map.insert(k, k);
        assert_eq!(victims(&heard), [victim]);
    }
}

/// README "Invalidation wins": "a later caller does not join that older flight". It starts
/// its own, which runs while the older one is still running, and whose value is stored.
#[test]
fn a_caller_after_an_invalidation_starts_its_own_flight() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        let (release, leader) = lead(&map, |map, gate| {
            map.get_or_insert_with(&1, || {
                gate.recv().unwrap();
                10
            })
        });
        map.remove(&1);
        // Were it to join the older flight, this would wait for `release`: the deadline fails.
        assert_eq!(map.get_or_insert_with(&1, || 20), 20);
        assert_eq!(map.stats().coalesced, 0);
        release.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), 10);
        assert_eq!(
            map.get(&1),
            Some(20),
            "the older flight did not overwrite it"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// The fleet tier's offline promises (redis/tier.rs): `RedisTier::new` "Does no I/O"; errors
// and `Debug` never quote a key, a value or the URL ("which can hold a password").
// ---------------------------------------------------------------------------------------------

mod tier {
    use std::time::{Duration, Instant};

    use cache_core::TtlMap;
    use cache_core::redis::{RedisTier, TierError};

    const PASSWORD: &str = "review12-PASSWORD";

    #[test]
    fn a_tier_and_a_shared_map_are_made_without_io() {
        // 192.0.2.1 (TEST-NET-1) answers nothing: a connection attempt would take a timeout.
        let start = Instant::now();
        let tier = RedisTier::new(format!("redis://:{PASSWORD}@192.0.2.1:6379/"))
            .expect("a Redis URL")
            .namespace("review12")
            .timeout(Duration::from_secs(30));
        let shared = TtlMap::<String, u32>::builder()
            .ttl(Duration::from_secs(60))
            .name("review12_tier")
            .shared(tier.clone())
            .build();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(!tier.is_degraded());
        assert!(shared.is_empty());
        // README: "A shared map with a `name` is listed in `cache_core::caches()` as itself"
        // (its L1 is not listed besides).
        let listed = cache_core::caches()
            .iter()
            .filter(|c| c.name() == "review12_tier")
            .count();
        assert_eq!(listed, 1);
        for shown in [format!("{tier:?}"), format!("{shared:?}")] {
            assert!(!shown.contains("PASSWORD") && !shown.contains("192.0.2.1"));
        }
    }

    #[test]
    fn url_errors_name_no_url_and_a_cluster_needs_a_node() {
        for bad in [
            format!("rediss-nope://:{PASSWORD}@host:1/"),
            format!("redis://:{PASSWORD}@host:notaport/"),
            format!("http://user:{PASSWORD}@host/"),
        ] {
            let error = RedisTier::new(&bad).expect_err("not a Redis URL");
            assert!(matches!(error, TierError::InvalidUrl(_)));
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("PASSWORD"), "an error quotes the URL");
            let error = RedisTier::cluster([bad.as_str()]).expect_err("not a Redis URL");
            assert!(!format!("{error} {error:?}").contains("PASSWORD"));
        }
        let none: [&str; 0] = [];
        assert!(matches!(
            RedisTier::cluster(none),
            Err(TierError::InvalidUrl(_))
        ));
    }
}

/// `TtlMap::iter`: "no lock is held across the whole map": the loop's body may write to the map
/// it iterates, on the same thread, without waiting for itself.
#[test]
fn the_body_of_an_iteration_may_write_to_the_map() {
    within(DEADLINE, || {
        let map: TtlMap<u32, u32> = TtlMap::new(MINUTE);
        for k in 0..100 {
            map.insert(k, k);
        }
        let mut seen = 0;
        for (k, v) in map.iter() {
            seen += 1;
            map.insert(k + 1000, v);
            map.remove(&k);
            let _ = map.get_or_insert_with(&(k + 2000), || v);
            map.retain(|_, _| true);
        }
        assert!(seen >= 100);
        map.iter().for_each(|_| map.clear());
        assert!(map.is_empty());
    });
}

/// README "Failure rules": "Redis down, slow or resetting never fails a call and never holds it
/// more than the tier's `timeout` ... per Redis operation"; "a process started against a hung
/// Redis waits two timeouts once: this wait, then its first read, which opens the breaker".
/// 192.0.2.1 (TEST-NET-1) never answers: a hung Redis.
#[test]
fn a_call_against_a_redis_that_never_answers_takes_about_two_timeouts_once() {
    use cache_core::redis::RedisTier;
    use std::time::Instant;
    let timeout = Duration::from_millis(200);
    let tier = RedisTier::new("redis://192.0.2.1:6379/")
        .unwrap()
        .namespace("review12-hung")
        .timeout(timeout);
    let map = TtlMap::<u32, u32>::builder()
        .ttl(MINUTE)
        .shared(tier.clone())
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (first, took_first) = runtime.block_on(async {
        let start = Instant::now();
        let value = map.get_or_insert_with_async(&1, async { 10 }).await;
        (value, start.elapsed())
    });
    assert_eq!(first, 10, "the call did not fail");
    assert!(took_first < timeout * 5, "first call took {took_first:?}");
    assert!(tier.is_degraded(), "the breaker is open");
    let took_next = runtime.block_on(async {
        let start = Instant::now();
        assert_eq!(map.get_or_insert_with_async(&2, async { 20 }).await, 20);
        start.elapsed()
    });
    assert!(took_next < timeout, "with the breaker open: {took_next:?}");
    // `Shared::stats`: "This process's counters (its L1 ...)"; `FleetStats::built_locally`:
    // "Values built here without Redis: it was down, slow or failing".
    let stats = map.stats();
    assert_eq!((stats.hits, stats.misses, stats.inserts), (0, 2, 2));
    assert_eq!(map.fleet_stats().built_locally, 2);
    assert_eq!(map.fleet_stats().led + map.fleet_stats().from_redis, 0);
    assert_eq!(
        runtime.block_on(map.get_or_insert_with_async(&1, async { 11 })),
        10
    );
    assert_eq!(map.stats().hits, 1);
}

/// `Builder::sweep_every`: "Also remove expired entries in the background, every `interval`
/// ..., on the one process-wide sweeper thread"; README: it "holds maps only by `Weak`
/// reference (a dropped map is freed and forgotten)". Expiry by the `ManualClock`; only the
/// sweeper's schedule is real time.
#[test]
fn the_sweeper_thread_removes_expired_entries_and_lets_a_dropped_map_go() {
    let clock = ManualClock::new();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&threads);
    let map: TtlMap<u32, Arc<u32>> = TtlMap::builder()
        .ttl(MINUTE)
        .sweep_every(Duration::from_millis(1))
        .clock(clock.clone())
        .on_evict(move |_, _, reason| {
            let name = std::thread::current().name().map(str::to_owned);
            log.lock().unwrap().push((name, reason));
        })
        .build();
    let value = Arc::new(7);
    map.insert(1, Arc::clone(&value));
    clock.advance(MINUTE);
    // Heard once the shard's lock is let go, after the entry left the table: waited for too.
    wait_until("the sweeper removes the expired entry", || map.is_empty());
    wait_until("the removal is heard", || {
        !threads.lock().unwrap().is_empty()
    });
    assert_eq!(
        threads.lock().unwrap().clone(),
        [(Some("cache-core-sweeper".to_owned()), Reason::Expired)]
    );
    // A dropped map is freed: its values go with it, although it is still scheduled.
    map.insert(2, Arc::clone(&value));
    drop(map);
    // (A sweep under way may hold the map a moment longer: then it frees it.)
    wait_until("the dropped map's values are dropped", || {
        Arc::strong_count(&value) == 1
    });
}

/// `Builder::stale_if_error`: "When rebuilding an expired value fails (an error, `None`), give
/// memoizing callers the last value instead"; SPEC: "callers get the last good value". Callers
/// that waited for the failed rebuild, and got its outcome shared (`_shared`, `optionally_`),
/// are memoizing callers too.
#[test]
fn waiters_of_a_failed_rebuild_get_the_stale_value_too() {
    for form in ["shared", "optionally"] {
        within(DEADLINE, move || {
            let clock = ManualClock::new();
            let map: TtlMap<u32, u32> = TtlMap::builder()
                .ttl(MINUTE)
                .stale_if_error(MINUTE)
                .clock(clock.clone())
                .build();
            map.insert(1, 1);
            clock.advance(MINUTE);
            let call = move |map: &TtlMap<u32, u32>, gate: Option<mpsc::Receiver<()>>| {
                let fail = move || {
                    if let Some(gate) = gate {
                        gate.recv().unwrap();
                    }
                };
                match form {
                    "shared" => map
                        .try_get_or_insert_with_shared(&1, || {
                            fail();
                            Err::<u32, String>("down".into())
                        })
                        .ok(),
                    _ => map.optionally_get_or_insert_with(&1, || {
                        fail();
                        None
                    }),
                }
            };
            let (release, leader) = lead(&map, move |map, gate| call(&map, Some(gate)));
            let waiter = {
                let map = map.clone();
                std::thread::spawn(move || call(&map, None))
            };
            wait_until("the waiter waits", || map.stats().coalesced == 1);
            release.send(()).unwrap();
            assert_eq!(
                leader.join().unwrap(),
                Some(1),
                "{form}: the leader gets it"
            );
            assert_eq!(
                waiter.join().unwrap(),
                Some(1),
                "{form}: the waiter gets it"
            );
            assert_eq!(map.stats().stale_served, 2);
        });
    }
}

/// lib.rs: "Listeners, constructors and `Drop`s run with no lock held and may use it
/// freely." Keys and values whose `Drop` reads and writes their own map, dropped on every path
/// that lets go of one: replaced, removed, cleared, retained, swept, evicted, stored over when
/// expired, a flight landing normally, invalidated, failed, panicked, refused by a capacity of
/// 0, a refresh, a stale value served and replaced.
mod drops_use_the_map {
    use std::cell::Cell;
    use std::hash::{Hash, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    use cache_core::{ManualClock, TtlMap};

    use super::{DEADLINE, MINUTE, within};

    thread_local! {
        static IN_DROP: Cell<bool> = const { Cell::new(false) };
    }
    static DROPS: AtomicUsize = AtomicUsize::new(0);

    /// Uses `map` as a key's or value's `Drop` would: a read, a write, a removal.
    fn use_map(map: &OnceLock<TtlMap<Key, Val>>) {
        let Some(map) = map.get() else { return };
        if IN_DROP.with(|d| d.replace(true)) {
            return;
        }
        DROPS.fetch_add(1, SeqCst);
        let _ = map.len();
        let _ = map.get(&Key(77_777));
        map.insert(Key(88_888), Val(0));
        map.remove(&Key(88_888));
        IN_DROP.with(|d| d.set(false));
    }

    #[derive(Clone, Debug)]
    struct Key(u32);
    impl PartialEq for Key {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Key {}
    impl Hash for Key {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }
    impl Drop for Key {
        fn drop(&mut self) {
            use_map(&MAPS[slot()]);
        }
    }

    #[derive(Clone, Debug, PartialEq)]
    struct Val(u32);
    impl Drop for Val {
        fn drop(&mut self) {
            use_map(&MAPS[slot()]);
        }
    }

    /// One map per scenario, set once: the scenario's thread names its slot.
    static MAPS: [OnceLock<TtlMap<Key, Val>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(0) };
    }
    fn slot() -> usize {
        SLOT.with(Cell::get)
    }

    fn map_in(slot: usize, clock: &ManualClock, capacity: Option<usize>) -> TtlMap<Key, Val> {
        let mut builder = TtlMap::builder()
            .ttl(MINUTE)
            .refresh_after(Duration::from_secs(30))
            .stale_if_error(MINUTE)
            .clock(clock.clone());
        if let Some(capacity) = capacity {
            builder = builder.capacity(capacity);
        }
        let map = builder.build();
        assert!(MAPS[slot].set(map.clone()).is_ok());
        map
    }

    #[test]
    fn keys_and_values_whose_drop_uses_their_map_never_wait_for_it() {
        within(DEADLINE, || {
            SLOT.with(|s| s.set(1));
            let clock = ManualClock::new();
            let map = map_in(1, &clock, Some(3));
            map.insert(Key(1), Val(1));
            map.insert(Key(1), Val(2)); // replaced
            map.remove(&Key(1)); // removed
            for k in 10..14 {
                map.insert(Key(k), Val(k)); // the fourth evicts one
            }
            map.retain(|k, _| k.0 != 10); // retained
            clock.advance(MINUTE * 3);
            map.sweep(); // swept
            map.insert(Key(20), Val(20));
            clock.advance(MINUTE);
            map.insert(Key(20), Val(21)); // stored over an expired one
            map.clear(); // cleared
            // Flights: landing normally, refreshed, stale served and replaced, failed, panicked.
            map.get_or_insert_with(&Key(30), || Val(30));
            clock.advance(Duration::from_secs(30));
            map.get_or_insert_with(&Key(30), || Val(31)); // a refresh
            clock.advance(MINUTE);
            let stale = map.try_get_or_insert_with(&Key(30), || Err::<Val, ()>(()));
            assert_eq!(stale, Ok(Val(31)));
            map.get_or_insert_with(&Key(30), || Val(32)); // replaces the stale one
            let _ = map.try_get_or_insert_with(&Key(31), || Err::<Val, ()>(()));
            let _ = map.optionally_get_or_insert_with(&Key(32), || None);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                map.get_or_insert_with(&Key(33), || panic!("constructor panics"))
            }));
            assert!(DROPS.load(SeqCst) > 10);
        });
    }

    #[test]
    fn an_invalidated_flight_and_a_capacity_of_zero_drop_outside_the_locks() {
        within(DEADLINE, || {
            SLOT.with(|s| s.set(2));
            let clock = ManualClock::new();
            let map = map_in(2, &clock, Some(0));
            map.get_or_insert_with(&Key(1), || Val(1)); // refused by the capacity
            map.insert(Key(2), Val(2)); // refused too
        });
        within(DEADLINE, || {
            SLOT.with(|s| s.set(3));
            let clock = ManualClock::new();
            let map = map_in(3, &clock, None);
            let (release, leader) = lead_val(&map);
            map.remove(&Key(1)); // invalidates the flight: its key and value are not stored
            release.send(()).unwrap();
            assert_eq!(leader.join().unwrap(), Val(1));
        });
    }

    fn lead_val(
        map: &TtlMap<Key, Val>,
    ) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<Val>) {
        let misses = map.stats().misses;
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let map2 = map.clone();
        let handle = std::thread::spawn(move || {
            SLOT.with(|s| s.set(3));
            map2.get_or_insert_with(&Key(1), || {
                gate.recv().unwrap();
                Val(1)
            })
        });
        tests::wait_until("the leader leads", || map.stats().misses > misses);
        (release, handle)
    }
}
