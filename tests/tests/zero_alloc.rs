//! A hit allocates nothing: a counting global allocator watches 10,000 lookups.

use std::time::Duration;

use cache_core::{OptionRef, TtlMap, TupleRef, ttl_cached};
use tests::counting::{Counting, allocations_during};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[ttl_cached(ttl = "1h")]
fn client(api_key: &str) -> std::sync::Arc<usize> {
    std::sync::Arc::new(api_key.len())
}

#[ttl_cached(ttl = "1h")]
fn route(tenant: &str, model: &str, region: Option<&str>) -> u64 {
    (tenant.len() + model.len() + region.map_or(0, str::len)) as u64
}

fn keys() -> Vec<String> {
    (0..100).map(|i| format!("sk-proj-{i:043}")).collect()
}

#[test]
fn hits_allocate_nothing() {
    let ttl = Duration::from_secs(3600);
    let keys = keys();

    let by_str: TtlMap<String, std::sync::Arc<u64>> = TtlMap::new(ttl);
    for k in &keys {
        by_str.insert(k.clone(), std::sync::Arc::new(1));
    }
    by_str.get(keys[0].as_str()); // first use registers this thread's lock and stripe
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert!(by_str.get(keys[i % 100].as_str()).is_some());
        }
    });
    assert_eq!(n, 0, "get(&str) on String keys");
    let n = allocations_during(|| {
        for i in 0..10_000 {
            by_str.get_or_insert_with(keys[i % 100].as_str(), || unreachable!());
        }
    });
    assert_eq!(n, 0, "get_or_insert_with(&str) hits");

    let by_tuple: TtlMap<(String, String, Option<String>), u64> = TtlMap::new(ttl);
    for k in &keys {
        by_tuple.insert((k.clone(), "gpt".into(), Some("eu".into())), 1);
    }
    let n = allocations_during(|| {
        for i in 0..10_000 {
            let key = TupleRef((keys[i % 100].as_str(), "gpt", &OptionRef(Some("eu"))));
            assert!(by_tuple.get(&key).is_some());
            by_tuple.get_or_insert_with(&key, || unreachable!());
        }
    });
    assert_eq!(n, 0, "tuple keys by tuples of borrows");

    for k in &keys {
        client(k);
        route(k, "gpt", Some("eu"));
    }
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert_eq!(*client(&keys[i % 100]), 51);
        }
    });
    assert_eq!(n, 0, "#[ttl_cached] hit with one &str argument");
    let n = allocations_during(|| {
        for i in 0..10_000 {
            assert_eq!(route(&keys[i % 100], "gpt", Some("eu")), 56);
        }
    });
    assert_eq!(n, 0, "#[ttl_cached] hit with three borrowed arguments");
}
