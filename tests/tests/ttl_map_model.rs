//! Model-based test: random operation sequences against a plain `HashMap` of deadlines.

use std::collections::HashMap;
use std::time::Duration;

use cache_core::{Expiry, ManualClock, TtlMap};
use proptest::prelude::*;

const TTL: u64 = 64;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u32),
    Get(u8),
    Remove(u8),
    Advance(u64),
    Sweep,
    GetOrInsertWith(u8, u32),
    Contains(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..16;
    prop_oneof![
        (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        key.clone().prop_map(Op::Get),
        key.clone().prop_map(Op::Remove),
        (0..2 * TTL).prop_map(Op::Advance),
        Just(Op::Sweep),
        (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsertWith(k, v)),
        key.prop_map(Op::Contains),
    ]
}

/// The reference: key -> (value, deadline, last refresh), with the map's documented rules.
struct Model {
    sliding: bool,
    now: u64,
    entries: HashMap<u8, (u32, u64)>,
}

impl Model {
    fn live(&self, k: u8) -> Option<u32> {
        self.entries
            .get(&k)
            .filter(|(_, deadline)| self.now < *deadline)
            .map(|(v, _)| *v)
    }

    fn hit(&mut self, k: u8) -> Option<u32> {
        let v = self.live(k)?;
        if self.sliding {
            // Time advances in whole seconds and the refresh step is ttl/64 = 1s: every hit
            // at a new time moves the deadline.
            self.entries.get_mut(&k).unwrap().1 = self.now + TTL;
        }
        Some(v)
    }

    fn live_count(&self) -> usize {
        self.entries.values().filter(|(_, d)| self.now < *d).count()
    }
}

fn check(expiry: Expiry, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let map: TtlMap<u8, u32> = TtlMap::builder()
        .ttl(Duration::from_secs(TTL))
        .expiry(expiry)
        .clock(clock.clone())
        .build();
    let mut model = Model {
        sliding: expiry == Expiry::Sliding,
        now: 0,
        entries: HashMap::new(),
    };
    for op in ops {
        match op {
            Op::Insert(k, v) => {
                let expected = model.live(k);
                model.entries.insert(k, (v, model.now + TTL));
                prop_assert_eq!(map.insert(k, v), expected);
            }
            Op::Get(k) => prop_assert_eq!(map.get(&k), model.hit(k)),
            Op::Remove(k) => {
                let expected = model.live(k);
                model.entries.remove(&k);
                prop_assert_eq!(map.remove(&k), expected);
            }
            Op::Advance(secs) => {
                model.now += secs;
                clock.advance(Duration::from_secs(secs));
            }
            Op::Sweep => {
                let expired = model.entries.len() - model.live_count();
                let held = map.len();
                model.entries.retain(|_, (_, d)| model.now < *d);
                let swept = map.sweep();
                // Expired entries the write path already removed are not swept again.
                prop_assert_eq!(held - swept, model.entries.len());
                prop_assert!(swept <= expired);
            }
            Op::GetOrInsertWith(k, v) => {
                let expected = match model.hit(k) {
                    Some(old) => old,
                    None => {
                        model.entries.insert(k, (v, model.now + TTL));
                        v
                    }
                };
                prop_assert_eq!(map.get_or_insert_with(&k, || v), expected);
            }
            Op::Contains(k) => prop_assert_eq!(map.contains_key(&k), model.live(k).is_some()),
        }
        prop_assert!(map.len() >= model.live_count());
        prop_assert!(map.len() <= model.entries.len());
    }
    map.sweep();
    model.entries.retain(|_, (_, d)| model.now < *d);
    prop_assert_eq!(map.len(), model.entries.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sliding_map_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..200)) {
        check(Expiry::Sliding, ops)?;
    }

    #[test]
    fn fixed_map_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..200)) {
        check(Expiry::Fixed, ops)?;
    }
}
