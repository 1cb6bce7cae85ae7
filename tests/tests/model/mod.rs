//! The model both model tests share: random operation sequences against a plain `HashMap`
//! that follows the documented rules, with a `ManualClock` (`ttl_map_model.rs`; with crafted,
//! colliding hashes, `review_table_edges.rs`).
//!
//! Time advances in whole seconds and the ttl is 64 s, so sliding expiry's step (ttl/64) is
//! one second: a hit at a later second than the entry's last use always moves its deadline.
//! Write-path sweeping may remove expired entries at any time; the model keeps them until
//! `sweep` and compares lengths within that slack.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use proptest::prelude::*;

pub const TTL: u64 = 64;

#[derive(Debug, Clone)]
pub enum Op {
    Insert(u8, u32),
    Get(u8),
    Remove(u8),
    Clear,
    /// Keep the entries whose value is not divisible by this.
    Retain(u32),
    Advance(u64),
    Sweep,
    GetOrInsertWith(u8, u32),
    /// `Err` when the flag is set.
    TryGetOrInsertWith(u8, u32, bool),
    Contains(u8),
}

/// Operations on keys below `keys`, advancing the clock by less than `advance` seconds.
pub fn op_in(keys: u8, advance: u64) -> impl Strategy<Value = Op> {
    let key = 0..keys;
    prop_oneof![
        4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => key.clone().prop_map(Op::Get),
        2 => key.clone().prop_map(Op::Remove),
        1 => Just(Op::Clear),
        1 => (2u32..5).prop_map(Op::Retain),
        3 => prop_oneof![Just(0), Just(1), 0..advance].prop_map(Op::Advance),
        1 => Just(Op::Sweep),
        4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsertWith(k, v)),
        2 => (key.clone(), any::<u32>(), any::<bool>())
            .prop_map(|(k, v, fail)| Op::TryGetOrInsertWith(k, v, fail)),
        2 => key.prop_map(Op::Contains),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    value: u32,
    deadline: u64,
    /// The latest its deadline may move to (`max_lifetime`).
    limit: u64,
    /// When it was stored or last moved its deadline, and whether it was hit since, in the
    /// same second.
    last_use: u64,
    used_since: bool,
    /// Order of storage, for ties within one second.
    seq: u64,
}

struct Model {
    sliding: bool,
    max_lifetime: Option<u64>,
    now: u64,
    seq: u64,
    entries: HashMap<u8, Entry>,
}

impl Model {
    fn live(&self, k: u8) -> Option<u32> {
        let e = self.entries.get(&k)?;
        (self.now < e.deadline).then_some(e.value)
    }

    fn hit(&mut self, k: u8) -> Option<u32> {
        let v = self.live(k)?;
        let (now, sliding) = (self.now, self.sliding);
        let e = self.entries.get_mut(&k).unwrap();
        if sliding {
            if now > e.last_use {
                (e.deadline, e.last_use, e.used_since) = ((now + TTL).min(e.limit), now, false);
            } else {
                e.used_since = true;
            }
        }
        Some(v)
    }

    fn store(&mut self, k: u8, value: u32) {
        self.seq += 1;
        let limit = self.max_lifetime.map_or(u64::MAX, |m| self.now + m);
        let entry = Entry {
            value,
            deadline: (self.now + TTL).min(limit),
            limit,
            last_use: self.now,
            used_since: false,
            seq: self.seq,
        };
        self.entries.insert(k, entry);
    }

    fn live_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| self.now < e.deadline)
            .count()
    }

    /// The live entries a capacity eviction may pick: least recently used (sliding, a hit
    /// within the second counting half a second later) or oldest (fixed), ties by storage.
    fn victims(&self) -> Vec<u8> {
        let rank = |e: &Entry| (2 * e.last_use + u64::from(e.used_since), e.seq);
        let live = self.entries.iter().filter(|(_, e)| self.now < e.deadline);
        let best = live.clone().map(|(_, e)| rank(e)).min();
        let (best_use, best_seq) = best.unwrap_or_default();
        live.filter(|(_, e)| {
            let (used, seq) = rank(e);
            // Within one second, entries stored by an insert order by `seq`; a deadline moved
            // by a hit is not ordered against them.
            used == best_use && (seq == best_seq || self.sliding)
        })
        .map(|(k, _)| *k)
        .collect()
    }
}

pub fn check_with<S>(
    hasher: S,
    expiry: Expiry,
    capacity: Option<usize>,
    max_lifetime: Option<u64>,
    ops: Vec<Op>,
) -> Result<(), TestCaseError>
where
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    let clock = ManualClock::new();
    let mut builder = TtlMap::builder()
        .ttl(Duration::from_secs(TTL))
        .expiry(expiry)
        .clock(clock.clone())
        .hasher(hasher);
    if let Some(m) = max_lifetime {
        builder = builder.max_lifetime(Duration::from_secs(m));
    }
    let map: TtlMap<u8, u32, S> = match capacity {
        Some(c) => builder.capacity(c).build(),
        None => builder.build(),
    };
    let mut model = Model {
        sliding: expiry == Expiry::Sliding,
        max_lifetime,
        now: 0,
        seq: 0,
        entries: HashMap::new(),
    };
    for op in ops {
        let (len_before, evictions_before) = (map.len(), map.stats().evictions);
        let victims = model.victims();
        let mut stored = None;
        match op {
            Op::Insert(k, v) => {
                let expected = model.live(k);
                model.store(k, v);
                stored = Some(k).filter(|_| expected.is_none());
                prop_assert_eq!(map.insert(k, v), expected);
            }
            Op::Get(k) => prop_assert_eq!(map.get(&k), model.hit(k)),
            Op::Remove(k) => {
                let expected = model.live(k);
                model.entries.remove(&k);
                prop_assert_eq!(map.remove(&k), expected);
            }
            Op::Clear => {
                model.entries.clear();
                map.clear();
                prop_assert!(map.is_empty());
            }
            Op::Retain(m) => {
                let now = model.now;
                model
                    .entries
                    .retain(|_, e| now < e.deadline && e.value % m != 0);
                map.retain(|_, v| v % m != 0);
                prop_assert_eq!(map.len(), model.entries.len());
            }
            Op::Advance(secs) => {
                model.now += secs;
                clock.advance(Duration::from_secs(secs));
            }
            Op::Sweep => {
                let held = map.len();
                model.entries.retain(|_, e| model.now < e.deadline);
                let swept = map.sweep();
                // Expired entries the write path already removed are not swept again.
                prop_assert_eq!(held - swept, model.entries.len());
            }
            Op::GetOrInsertWith(k, v) => {
                let expected = match model.hit(k) {
                    Some(old) => old,
                    None => {
                        model.store(k, v);
                        stored = Some(k);
                        v
                    }
                };
                prop_assert_eq!(map.get_or_insert_with(&k, || v), expected);
            }
            Op::TryGetOrInsertWith(k, v, fail) => {
                let expected = match model.hit(k) {
                    Some(old) => Ok(old),
                    None if fail => Err("failed"),
                    None => {
                        model.store(k, v);
                        stored = Some(k);
                        Ok(v)
                    }
                };
                let got =
                    map.try_get_or_insert_with(&k, || if fail { Err("failed") } else { Ok(v) });
                prop_assert_eq!(got, expected);
            }
            Op::Contains(k) => prop_assert_eq!(map.contains_key(&k), model.live(k).is_some()),
        }
        if map.stats().evictions > evictions_before {
            // A live entry went for the capacity: only when the map was full, and the right one.
            prop_assert!(capacity.is_some_and(|c| len_before >= c));
            let gone: Vec<u8> = model
                .entries
                .keys()
                .copied()
                .filter(|&k| Some(k) != stored && model.live(k).is_some() && !map.contains_key(&k))
                .collect();
            prop_assert_eq!(gone.len(), 1, "one eviction, one entry gone");
            prop_assert!(
                victims.contains(&gone[0]),
                "evicted {}, expected one of {:?}",
                gone[0],
                victims
            );
            model.entries.remove(&gone[0]);
        }
        if let Some(c) = capacity {
            prop_assert!(map.len() <= c);
        }
        // `len()` counts held entries, expired ones not yet removed included; `iter` sees
        // exactly the live ones.
        prop_assert!(map.len() >= model.live_count());
        prop_assert!(map.len() <= model.entries.len());
        let mut seen: Vec<(u8, u32)> = map.iter().collect();
        seen.sort_unstable();
        let mut live: Vec<(u8, u32)> = (0..=u8::MAX)
            .filter_map(|k| model.live(k).map(|v| (k, v)))
            .collect();
        live.sort_unstable();
        prop_assert_eq!(seen, live);
    }
    map.sweep();
    model.entries.retain(|_, e| model.now < e.deadline);
    prop_assert_eq!(map.len(), model.entries.len());
    Ok(())
}
