//! Failing repros (helper-57) of 9df3147's slide orders: shapes the README promises exact
//! (capacity <= 64, each key hit at most once per tick) where two entries used at different
//! moments get the same deadline word, so that the victim among them is whichever the scan
//! (seeded by the random hasher) meets first. Each scenario runs on many fresh maps (fresh
//! hash seeds) and counts the runs whose victims differ from strict recency.

use std::time::Duration;

use cache_core::{Expiry, ManualClock, Reason, TtlMap};
use tests::heard::{Heard, recorder, take};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn capacity_victims(heard: &Heard<u32, u32>) -> Vec<u32> {
    take(heard)
        .into_iter()
        .filter(|e| e.2 == Reason::Capacity)
        .map(|e| e.0)
        .collect()
}

/// A sliding map on `clock` whose values >= 1,000 declare a life of `value - 1,000` seconds.
fn map(capacity: usize, clock: &ManualClock) -> (TtlMap<u32, u32>, Heard<u32, u32>) {
    let (heard, listener) = recorder();
    let map = TtlMap::builder()
        .ttl(secs(60))
        .expiry(Expiry::Sliding)
        .capacity(capacity)
        .expire_after(|_: &u32, v: &u32| (*v >= 1_000).then(|| secs(u64::from(*v - 1_000))))
        .clock(clock.clone())
        .on_evict(listener)
        .build();
    (map, heard)
}

/// Runs `scenario` on 64 fresh maps; panics with the wrong victim sequences if any.
fn every_seed(expected: &[u32], scenario: impl Fn() -> Vec<u32>) {
    let wrong: Vec<Vec<u32>> = (0..64)
        .map(|_| scenario())
        .filter(|got| got != expected)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of 64 runs evicted out of recency order (expected ...{:?}), e.g. ...{:?}",
        wrong.len(),
        &expected[expected.len().saturating_sub(5)..],
        &wrong[0][wrong[0].len().saturating_sub(5)..]
    );
}

/// Slides do not raise `Ledger::max_slot`. Hit 1 slides it into slot S (order 0, `last` =
/// S); a store with a shorter life (`expire_after`) into an earlier slot E moves `last` to E
/// and `max_slot` to E < S; hit 2 then slides into S, which is "later than any" by
/// `max_slot`, so it takes order 0 again: 1 and 2 share the word S|0.
#[test]
fn a_slide_after_a_shorter_lived_store_ties_with_earlier_slides() {
    every_seed(&[3, 4, 1, 2, 5], || {
        let clock = ManualClock::new();
        let (map, heard) = map(4, &clock);
        for k in [1, 2, 3] {
            map.insert(k, k);
        }
        clock.advance(secs(30));
        assert_eq!(map.get(&1), Some(1));
        map.insert(4, 1_040); // lives 40 s: deadline 70 s, before the slid 90 s
        assert_eq!(map.get(&2), Some(2));
        for k in 5..=9 {
            map.insert(k, k);
        }
        capacity_victims(&heard)
    });
}

/// A slide into the latest slot given out while `last` names an earlier one (a shorter
/// life was stored after the latest slot's first store) takes `ORDER`, "last in its slot",
/// though the README keeps that for slides into an earlier slot: two such slides tie, and
/// `next_order`'s renumbering (dedup) keeps them tied.
#[test]
fn two_slides_into_the_latest_slot_after_a_shorter_lived_store_tie() {
    every_seed(&[3, 5, 4, 1, 2], || {
        let clock = ManualClock::new();
        let (map, heard) = map(5, &clock);
        for k in [1, 2, 3] {
            map.insert(k, k);
        }
        clock.advance(secs(30));
        map.insert(4, 4); // slot S (90 s), the latest
        map.insert(5, 1_040); // slot E (70 s): `last` is E
        assert_eq!(map.get(&1), Some(1)); // into S: ORDER
        assert_eq!(map.get(&2), Some(2)); // into S: ORDER as well
        for k in 6..=10 {
            map.insert(k, k);
        }
        capacity_victims(&heard)
    });
}

/// No limits at all: a capacity of 64, 512 stores in one tick (key 63 stored again and
/// again, which the README keeps exact "however many a tick sees") use up the slot's orders;
/// the hits that follow under the read lock cannot renumber, so each takes `ORDER`, the
/// order key 63 holds too: 63, 0 and 1 tie, and the next store's renumbering keeps them tied.
#[test]
fn slides_after_orders_ran_out_in_a_tick_tie() {
    let mut expected: Vec<u32> = (2..63).collect();
    expected.extend([63, 0, 1]);
    every_seed(&expected, || {
        let clock = ManualClock::new();
        let (map, heard) = map(64, &clock);
        for k in 0..64 {
            map.insert(k, k);
        }
        clock.advance(secs(30));
        for _ in 0..512 {
            map.insert(63, 63);
        }
        assert_eq!(map.get(&0), Some(0));
        assert_eq!(map.get(&1), Some(1));
        for k in 100..164 {
            map.insert(k, k);
        }
        capacity_victims(&heard)
    });
}
