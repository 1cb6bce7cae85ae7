//! A clock that does what it likes: jumps forward and back, sits at 0 or at the end of its
//! range. The `Clock` trait asks for a monotonic clock, but a misbehaving one is user code,
//! and nothing in user code may make the map panic, wedge it or break its bounds. Every
//! option of the map is on in some case; after each operation the map's own bounds are
//! checked: `len() <= capacity`, a removed key is gone, `iter` yields live entries only,
//! listeners hear the values that were stored.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{Clock, Expiry, Reason, TtlMap};
use proptest::prelude::*;

/// The time is whatever the test last set, in nanoseconds.
#[derive(Clone, Default)]
struct Chaos(Arc<AtomicU64>);

impl Clock for Chaos {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(SeqCst))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(u64),
    Insert(u8),
    Get(u8),
    GetOrInsert(u8),
    TryFail(u8),
    Optionally(u8, bool),
    Remove(u8),
    Contains(u8),
    Iter,
    Retain(u8),
    Sweep,
    Clear,
}

fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        (u64::MAX - 10_000_000_000)..=u64::MAX,
        0..5_000_000_000u64,
        any::<u64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..8u8;
    prop_oneof![
        3 => time().prop_map(Op::Set),
        3 => key.clone().prop_map(Op::Insert),
        3 => key.clone().prop_map(Op::Get),
        3 => key.clone().prop_map(Op::GetOrInsert),
        1 => key.clone().prop_map(Op::TryFail),
        1 => (key.clone(), any::<bool>()).prop_map(|(k, some)| Op::Optionally(k, some)),
        1 => key.clone().prop_map(Op::Remove),
        1 => key.clone().prop_map(Op::Contains),
        1 => Just(Op::Iter),
        1 => key.prop_map(Op::Retain),
        1 => Just(Op::Sweep),
        1 => Just(Op::Clear),
    ]
}

#[derive(Debug, Clone)]
struct Config {
    sliding: bool,
    capacity: Option<usize>,
    ttl: u64,
    refresh: bool,
    stale: bool,
    max_lifetime: bool,
    expire_after: bool,
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(0usize)),
            Just(Some(1)),
            Just(Some(3)),
            Just(Some(64))
        ],
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(2_048),
            Just(1_000_000_000),
            Just(u64::MAX)
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(sliding, capacity, ttl, refresh, stale, max_lifetime, expire_after)| Config {
                sliding,
                capacity,
                ttl,
                refresh,
                stale,
                max_lifetime,
                expire_after,
            },
        )
}

type Heard = Arc<Mutex<Vec<(u32, u32, Reason)>>>;

fn build(config: &Config, clock: &Chaos) -> (TtlMap<u32, u32>, Heard) {
    let heard = Heard::default();
    let record = Arc::clone(&heard);
    let mut builder = TtlMap::builder()
        .ttl(Duration::from_nanos(config.ttl))
        .expiry(if config.sliding {
            Expiry::Sliding
        } else {
            Expiry::Fixed
        })
        .clock(clock.clone())
        .on_evict(move |k: &u32, v: &u32, reason| record.lock().unwrap().push((*k, *v, reason)));
    if let Some(capacity) = config.capacity {
        builder = builder.capacity(capacity);
    }
    if config.refresh {
        builder = builder.refresh_after(Duration::from_nanos(config.ttl / 2));
    }
    if config.stale {
        builder = builder.stale_if_error(Duration::from_secs(1));
    }
    if config.max_lifetime {
        builder = builder.max_lifetime(Duration::from_nanos(config.ttl / 3));
    }
    if config.expire_after {
        builder = builder
            .expire_after(|k: &u32, _: &u32| k.is_multiple_of(2).then(|| Duration::from_millis(1)));
    }
    (builder.build(), heard)
}

/// The value stored for `k`: listeners and lookups must only ever see these.
fn value(k: u8) -> u32 {
    1_000 + u32::from(k)
}

fn run(config: &Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = Chaos::default();
    let (map, heard) = build(config, &clock);
    for (i, op) in ops.iter().enumerate() {
        let key = |k: u8| u32::from(k);
        match *op {
            Op::Set(t) => clock.0.store(t, SeqCst),
            Op::Insert(k) => {
                let old = map.insert(key(k), value(k));
                prop_assert!(old.is_none_or(|v| v == value(k)));
            }
            Op::Get(k) => {
                prop_assert!(map.get(&key(k)).is_none_or(|v| v == value(k)));
            }
            Op::GetOrInsert(k) => {
                prop_assert_eq!(map.get_or_insert_with(&key(k), || value(k)), value(k));
            }
            Op::TryFail(k) => {
                let got = map.try_get_or_insert_with(&key(k), || Err::<u32, ()>(()));
                prop_assert!(got.is_err() || got == Ok(value(k)));
            }
            Op::Optionally(k, some) => {
                let got = map.optionally_get_or_insert_with(&key(k), || some.then(|| value(k)));
                prop_assert!(got.is_none_or(|v| v == value(k)));
                if some {
                    prop_assert_eq!(got, Some(value(k)));
                }
            }
            Op::Remove(k) => {
                prop_assert!(map.remove(&key(k)).is_none_or(|v| v == value(k)));
                prop_assert!(!map.contains_key(&key(k)), "op {}: removed, still held", i);
                prop_assert_eq!(map.get(&key(k)), None);
            }
            Op::Contains(k) => {
                let _ = map.contains_key(&key(k));
            }
            Op::Iter => {
                let live: Vec<(u32, u32)> = map.iter().collect();
                prop_assert!(live.len() <= map.len(), "op {}: iter beyond len", i);
                for (k, v) in live {
                    prop_assert_eq!(v, 1_000 + k);
                }
            }
            Op::Retain(k) => {
                map.retain(|held, _| *held != key(k));
                prop_assert!(!map.contains_key(&key(k)));
            }
            Op::Sweep => {
                map.sweep();
            }
            Op::Clear => {
                map.clear();
                prop_assert_eq!(map.len(), 0);
            }
        }
        if let Some(capacity) = config.capacity {
            prop_assert!(
                map.len() <= capacity,
                "op {} {:?}: len {} > capacity {}",
                i,
                op,
                map.len(),
                capacity
            );
        }
        for (k, v, reason) in heard.lock().unwrap().drain(..) {
            prop_assert_eq!(
                v,
                1_000 + k,
                "op {}: heard {:?} of a value never stored",
                i,
                reason
            );
        }
    }
    // Every entry evicted was stored first (a capacity of 0 counts its refusals as evictions).
    let stats = map.stats();
    if config.capacity != Some(0) {
        prop_assert!(stats.inserts >= stats.evictions, "{:?}", stats);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_clock_breaks_the_map(config in config(), ops in proptest::collection::vec(op(), 1..80)) {
        run(&config, &ops)?;
    }
}
