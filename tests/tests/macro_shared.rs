//! `#[ttl_cached(shared = tier)]` against a real `redis-server`.
//!
//! A memoized function evaluates its tier expression once, at its first call, so each test
//! starts its own server and puts its tier in the slot its functions read before calling them
//! (tests run in parallel threads of one process; no function is used by two tests). A second
//! `Shared` map built with the builder API, on a tier of its own, stands for another process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::redis::{RedisTier, Shared};
use cache_core::{TtlMap, ttl_cached};
use tests::redis_server::RedisServer;
use tests::two_worker_runtime;

/// A tier as every process of the test fleet makes it: same namespace, so same Redis keys.
fn tier(server: &RedisServer) -> RedisTier {
    RedisTier::new(server.url())
        .expect("a Redis URL")
        .namespace("macro")
}

/// The tier a test handed over, for its functions' `shared = ...`.
fn tier_in(slot: &OnceLock<RedisTier>) -> &RedisTier {
    slot.get()
        .expect("the test sets the tier before the first call")
}

/// Another process's map of the memoized function named `name` (the macro names a shared
/// map after the function's path, with its `impl`'s type when it has one).
fn other_process<K, V>(server: &RedisServer, name: &'static str) -> Shared<K, V>
where
    K: std::hash::Hash + Eq + serde::Serialize + Send + Sync + 'static,
    V: Clone + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    TtlMap::<K, V>::builder()
        .ttl(Duration::from_secs(3600))
        .name(name)
        .shared(tier(server))
        .build()
}

/// The values the server holds (leases, which a failed flight releases in the background,
/// left out).
fn values_in(server: &RedisServer) -> Vec<String> {
    let keys = server.command(&["KEYS", "macro:*"]);
    keys.lines()
        .filter(|key| !key.is_empty() && !key.ends_with(":lease"))
        .map(str::to_string)
        .collect()
}

mod built_once {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone())]
    pub async fn embedding(text: &str, dims: u32) -> Vec<f32> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        (0..dims).map(|i| (text.len() as u32 + i) as f32).collect()
    }
}

#[test]
fn a_value_built_once_is_read_from_redis_by_another_process() {
    let server = RedisServer::start();
    built_once::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    let other =
        other_process::<(String, u32), Vec<f32>>(&server, "macro_shared::built_once::embedding");
    runtime.block_on(async {
        assert_eq!(built_once::embedding("abc", 2).await, vec![3.0, 4.0]);
        assert_eq!(built_once::embedding("abc", 2).await, vec![3.0, 4.0]);
        let read = other
            .get_or_insert_with_async(&("abc".to_string(), 2), async {
                unreachable!("the value is in Redis")
            })
            .await;
        assert_eq!(read, vec![3.0, 4.0]);
    });
    assert_eq!(built_once::RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(values_in(&server).len(), 1);
}

mod fallible {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    /// A `Clone` error: this process's waiters share a failed run's error.
    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone(), cache = parsed)]
    pub async fn parse(text: &str) -> Result<u16, String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        text.parse().map_err(|e| format!("{e}"))
    }

    /// An error that is not `Clone`; the tier by reference.
    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER))]
    pub async fn read(name: String) -> std::io::Result<String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        match name.as_str() {
            "missing" => Err(std::io::Error::other("no such file")),
            _ => Ok(format!("contents of {name}")),
        }
    }
}

#[test]
fn a_result_caches_ok_and_never_writes_an_err_to_redis() {
    let server = RedisServer::start();
    fallible::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        assert!(fallible::parse("port").await.is_err());
        assert!(fallible::parse("port").await.is_err());
        assert!(fallible::read("missing".into()).await.is_err());
    });
    assert_eq!(fallible::RUNS.load(Ordering::SeqCst), 3, "no Err is cached");
    assert!(!fallible::parsed().contains_key("port"));
    assert_eq!(
        values_in(&server),
        Vec::<String>::new(),
        "no Err is written"
    );

    runtime.block_on(async {
        assert_eq!(fallible::parse("8080").await, Ok(8080));
        assert_eq!(fallible::parse("8080").await, Ok(8080));
        assert_eq!(fallible::read("a".into()).await.unwrap(), "contents of a");
        assert_eq!(fallible::read("a".into()).await.unwrap(), "contents of a");
    });
    assert_eq!(
        fallible::RUNS.load(Ordering::SeqCst),
        5,
        "each Ok built once"
    );
    assert_eq!(values_in(&server).len(), 2);
    let other = other_process::<String, u16>(&server, "macro_shared::fallible::parse");
    let read = runtime.block_on(
        other.try_get_or_insert_with_async::<str, ()>("8080", async {
            unreachable!("the value is in Redis")
        }),
    );
    assert_eq!(read, Ok(8080));
}

mod optional {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone())]
    pub async fn find(id: u64) -> Option<String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        id.is_multiple_of(2).then(|| format!("user {id}"))
    }
}

#[test]
fn an_option_caches_some_and_never_writes_a_none_to_redis() {
    let server = RedisServer::start();
    optional::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        assert_eq!(optional::find(1).await, None);
        assert_eq!(optional::find(1).await, None);
    });
    assert_eq!(
        optional::RUNS.load(Ordering::SeqCst),
        2,
        "no None is cached"
    );
    assert_eq!(
        values_in(&server),
        Vec::<String>::new(),
        "no None is written"
    );
    runtime.block_on(async {
        assert_eq!(optional::find(2).await.as_deref(), Some("user 2"));
        assert_eq!(optional::find(2).await.as_deref(), Some("user 2"));
    });
    assert_eq!(optional::RUNS.load(Ordering::SeqCst), 3);
    let other = other_process::<u64, String>(&server, "macro_shared::optional::find");
    let read =
        runtime.block_on(other.optionally_get_or_insert_with_async(&2, async {
            unreachable!("the value is in Redis")
        }));
    assert_eq!(read.as_deref(), Some("user 2"));
}

mod removed {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone(), cache = greetings)]
    pub async fn greeting(name: &str) -> String {
        let run = RUNS.fetch_add(1, Ordering::SeqCst);
        format!("hello {name} #{run}")
    }
}

#[test]
fn the_handle_removes_a_key_from_redis_and_this_process() {
    let server = RedisServer::start();
    removed::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        assert_eq!(removed::greeting("ann").await, "hello ann #0");
        assert_eq!(removed::greeting("bob").await, "hello bob #1");
        assert_eq!(values_in(&server).len(), 2);
        let handle: &'static Shared<String, String> = removed::greetings();
        handle.remove_async("ann").await.expect("Redis answers");
        assert!(!handle.contains_key("ann"));
        assert_eq!(values_in(&server).len(), 1, "only bob's value is left");
        assert_eq!(
            removed::greeting("ann").await,
            "hello ann #2",
            "built again"
        );
        assert_eq!(
            removed::greeting("bob").await,
            "hello bob #1",
            "still cached"
        );
    });
    let other = other_process::<String, String>(&server, "macro_shared::removed::greeting");
    let read = runtime.block_on(
        other.get_or_insert_with_async("ann", async { unreachable!("the new value is in Redis") }),
    );
    assert_eq!(read, "hello ann #2");
}

mod two_functions {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();

    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone())]
    pub async fn upper(text: &str) -> String {
        text.to_uppercase()
    }

    #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone())]
    pub async fn reversed(text: &str) -> String {
        text.chars().rev().collect()
    }
}

#[test]
fn functions_of_one_key_and_value_type_on_one_tier_keep_their_own_values() {
    let server = RedisServer::start();
    two_functions::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        assert_eq!(two_functions::upper("abc").await, "ABC");
        assert_eq!(two_functions::reversed("abc").await, "cba");
        assert_eq!(two_functions::upper("abc").await, "ABC");
        assert_eq!(two_functions::reversed("abc").await, "cba");
    });
    assert_eq!(values_in(&server).len(), 2, "one value per function");
}

mod generic {
    use super::*;

    pub static TIER: OnceLock<RedisTier> = OnceLock::new();

    pub struct Codec<T>(T);

    impl<T: 'static> Codec<T> {
        /// The same key and value types for every `T`, but a value of each `T`'s own.
        #[ttl_cached(ttl = "1h", shared = tier_in(&TIER).clone())]
        pub async fn describe(bytes: &[u8]) -> String {
            format!("{} bytes as {}", bytes.len(), std::any::type_name::<T>())
        }
    }
}

#[test]
fn each_instantiation_of_a_generic_impl_has_its_own_values_in_redis() {
    let server = RedisServer::start();
    generic::TIER.set(tier(&server)).expect("set once");
    let runtime = two_worker_runtime();
    runtime.block_on(async {
        assert_eq!(generic::Codec::<u8>::describe(b"ab").await, "2 bytes as u8");
        assert_eq!(
            generic::Codec::<u16>::describe(b"ab").await,
            "2 bytes as u16"
        );
    });
    assert_eq!(values_in(&server).len(), 2, "one value per instantiation");
    let names: Vec<&str> = cache_core::caches().iter().map(|c| c.name()).collect();
    for name in [
        "macro_shared::generic::Codec<u8>::describe",
        "macro_shared::generic::Codec<u16>::describe",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let other =
        other_process::<Vec<u8>, String>(&server, "macro_shared::generic::Codec<u16>::describe");
    let read = runtime.block_on(
        other.get_or_insert_with_async(&b"ab"[..], async { unreachable!("the value is in Redis") }),
    );
    assert_eq!(read, "2 bytes as u16");
}
