//! `#[ttl_cached]` functions behave like the TtlMap calls they expand to; time comes from a
//! `ManualClock` passed through the `clock` option.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

/// A stand-in for an expensive client: each construction gets a new id.
#[derive(Clone, Debug, PartialEq)]
struct Client {
    id: usize,
    key: String,
}

fn build(key: &str, built: &AtomicUsize) -> Client {
    Client {
        id: built.fetch_add(1, SeqCst),
        key: key.to_string(),
    }
}

mod seed {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    /// The seed's function, annotated.
    #[ttl_cached(ttl = "1h", sweep = "5m", clock = CLOCK.clone(), cache = clients)]
    pub fn get_or_create_client(api_key: &str) -> Client {
        build(api_key, &BUILT)
    }
}

#[test]
fn same_key_constructs_once_different_keys_separately_and_expiry_rebuilds() {
    use seed::*;
    let a = get_or_create_client("sk-a");
    assert_eq!(get_or_create_client("sk-a"), a);
    let b = get_or_create_client("sk-b");
    assert_ne!(a.id, b.id);
    assert_eq!(BUILT.load(SeqCst), 2);
    let stats = clients().stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));

    CLOCK.advance(Duration::from_secs(3600));
    assert_ne!(
        get_or_create_client("sk-a").id,
        a.id,
        "expired after the ttl"
    );
    assert_eq!(
        clients().sweep(),
        1,
        "sk-b expired too and is swept via the handle"
    );
    assert_eq!(clients().len(), 1);
}

mod sliding_fixed {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "64s", clock = CLOCK.clone())]
    pub fn sliding(key: &str) -> Client {
        build(key, &BUILT)
    }

    #[ttl_cached(ttl = "64s", expiry = "fixed", clock = CLOCK.clone())]
    pub fn fixed(key: &str) -> Client {
        build(key, &BUILT)
    }
}

#[test]
fn sliding_keeps_a_used_value_fixed_does_not() {
    use sliding_fixed::*;
    let (s, f) = (sliding("k"), fixed("k"));
    for _ in 0..4 {
        CLOCK.advance(Duration::from_secs(32));
        assert_eq!(sliding("k"), s);
    }
    assert_ne!(fixed("k"), f);
}

mod capacity {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", capacity = 2, cache = handle)]
    pub fn limited(key: u32) -> usize {
        BUILT.fetch_add(1, SeqCst) + usize::from(key > u32::MAX / 2)
    }
}

#[test]
fn capacity_bounds_the_entries() {
    use capacity::*;
    for k in 0..10 {
        limited(k);
    }
    assert_eq!(handle().len(), 2);
    assert_eq!(handle().stats().evictions, 8);
}

mod fallible {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn parse_port(text: &str) -> std::io::Result<u16> {
        CALLS.fetch_add(1, SeqCst);
        if text.is_empty() {
            return Err(std::io::Error::other("empty"));
        }
        let port = text.parse::<u16>().map_err(std::io::Error::other)?;
        Ok(port)
    }

    #[ttl_cached(ttl = "1h")]
    pub fn lookup(name: &str) -> Option<usize> {
        CALLS.fetch_add(1, SeqCst);
        (name != "missing").then_some(name.len())
    }
}

#[test]
fn errors_and_none_are_returned_but_not_cached() {
    use fallible::*;
    let before = CALLS.load(SeqCst);
    assert!(parse_port("").is_err());
    assert!(parse_port("").is_err());
    assert!(parse_port("x").is_err());
    assert_eq!(parse_port("8080").unwrap(), 8080);
    assert_eq!(parse_port("8080").unwrap(), 8080);
    assert_eq!(lookup("missing"), None);
    assert_eq!(lookup("missing"), None);
    assert_eq!(lookup("abc"), Some(3));
    assert_eq!(lookup("abc"), Some(3));
    assert_eq!(CALLS.load(SeqCst) - before, 7);
}

mod shapes {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn singleton() -> Arc<usize> {
        Arc::new(CALLS.fetch_add(1, SeqCst))
    }

    #[ttl_cached(ttl = "1h", cache = by_three)]
    pub fn three(tenant: &str, model: String, region: Option<&str>) -> String {
        CALLS.fetch_add(1, SeqCst);
        format!("{tenant}/{model}/{}", region.unwrap_or("-"))
    }

    #[ttl_cached(ttl = "1h")]
    pub fn consumes(mut name: String, key: u32, cache: u32, value: u32) -> String {
        name.push('!');
        CALLS.fetch_add(1, SeqCst);
        format!("{name}{}", key + cache + value)
    }

    #[ttl_cached(ttl = "1h", key: usize = text.len())]
    pub fn by_length(text: &str) -> String {
        CALLS.fetch_add(1, SeqCst);
        text.to_uppercase()
    }
}

#[test]
fn zero_argument_function_is_a_lazily_built_singleton() {
    let a = shapes::singleton();
    assert!(Arc::ptr_eq(&a, &shapes::singleton()));
}

#[test]
fn three_arguments_key_by_their_tuple() {
    use shapes::*;
    let one = three("acme", "gpt".into(), Some("eu"));
    assert_eq!(one, "acme/gpt/eu");
    assert_eq!(three("acme", "gpt".into(), Some("eu")), one);
    assert_eq!(three("acme", "gpt".into(), None), "acme/gpt/-");
    let stats = by_three().stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
    assert!(by_three().contains_key(&("acme".to_string(), "gpt".to_string(), None)));
}

#[test]
fn owned_mut_and_oddly_named_arguments_work() {
    assert_eq!(shapes::consumes("a".into(), 1, 2, 3), "a!6");
    assert_eq!(shapes::consumes("a".into(), 1, 2, 3), "a!6");
}

#[test]
fn a_custom_key_decides_what_is_shared() {
    assert_eq!(shapes::by_length("abc"), "ABC");
    assert_eq!(shapes::by_length("xyz"), "ABC", "same length, same key");
}

mod handle_ops {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = clients)]
    pub fn client(key: &str) -> Client {
        build(key, &BUILT)
    }
}

#[test]
fn the_cache_handle_invalidates_and_clears() {
    use handle_ops::*;
    let a = client("a");
    client("b");
    assert_eq!(clients().remove("a").map(|c| c.id), Some(a.id));
    assert_ne!(client("a").id, a.id, "rebuilt after remove");
    clients().clear();
    assert!(clients().is_empty());
}

struct Registry;

impl Registry {
    /// An associated function in an `impl` block, with its handle beside it.
    #[ttl_cached(ttl = "1h", cache = Self::entries)]
    pub fn entry(name: &str) -> String {
        format!("entry:{name}")
    }

    #[ttl_cached(ttl = "1h")]
    #[must_use]
    #[inline]
    fn private_entry(name: &str) -> String {
        name.repeat(2)
    }
}

#[test]
fn associated_functions_in_impl_blocks_work() {
    assert_eq!(Registry::entry("x"), "entry:x");
    assert_eq!(Registry::entry("x"), "entry:x");
    assert_eq!(Registry::entries().stats().hits, 1);
    assert_eq!(Registry::private_entry("ab"), "abab");
}

#[cfg(not(test))]
#[ttl_cached(ttl = "1h")]
fn compiled_out(_: &str) -> u32 {
    compile_error!("a cfg-gated function must vanish with its cache")
}

#[cfg(test)]
#[ttl_cached(ttl = "1h", cache = gated_cache)]
fn compiled_in(key: &str) -> usize {
    key.len()
}

#[test]
fn cfg_gated_functions_keep_their_cfg() {
    assert_eq!(compiled_in("four"), 4);
    assert_eq!(gated_cache().len(), 1);
}

#[test]
fn the_function_keeps_its_type() {
    // Coerced, not called: other tests count these functions' builds, hits and calls (`seed`'s
    // BUILT and stats, `fallible`'s CALLS), and the tests of a binary run in parallel, in any
    // order.
    let _: fn(&str) -> Client = seed::get_or_create_client;
    let _: fn(&str) -> std::io::Result<u16> = fallible::parse_port;
}

mod concurrent {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);
    pub static ASYNC_BUILT: AtomicUsize = AtomicUsize::new(0);

    /// Finishes only once the 15 other callers wait for it.
    #[ttl_cached(ttl = "1h", cache = slow_cache)]
    pub fn slow(key: &str) -> Client {
        tests::wait_until("15 callers wait", || slow_cache().stats().coalesced == 15);
        build(key, &BUILT)
    }

    #[ttl_cached(ttl = "1h", cache = slow_async_cache)]
    pub async fn slow_async(key: &str) -> Client {
        let waiting = || slow_async_cache().stats().coalesced == 15;
        tests::wait_until_async("15 tasks wait", waiting).await;
        build(key, &ASYNC_BUILT)
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn fallible_async(key: &str) -> Result<u16, std::num::ParseIntError> {
        if key.is_empty() {
            return Ok(0);
        }
        let n = key.parse::<u16>()?;
        Ok(n)
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn maybe_async(key: u8) -> Option<u8> {
        key.checked_mul(2)
    }
}

#[test]
fn sixteen_threads_on_one_key_construct_once() {
    let barrier = Barrier::new(16);
    let ids: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    concurrent::slow("shared").id
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(concurrent::BUILT.load(SeqCst), 1);
    assert!(ids.iter().all(|id| *id == ids[0]));
}

#[test]
fn sixteen_tasks_on_one_key_construct_once() {
    let runtime = tests::two_worker_runtime();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| tokio::spawn(concurrent::slow_async("shared")))
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().key, "shared");
        }
        assert_eq!(concurrent::fallible_async("42").await, Ok(42));
        assert!(concurrent::fallible_async("x").await.is_err());
        assert_eq!(concurrent::fallible_async("").await, Ok(0));
        assert_eq!(concurrent::maybe_async(200).await, None);
        assert_eq!(concurrent::maybe_async(2).await, Some(4));
    });
    assert_eq!(concurrent::ASYNC_BUILT.load(SeqCst), 1);
}

mod lifetimes {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1m", max_lifetime = "5m", clock = CLOCK.clone())]
    pub fn rotating(key: &str) -> Client {
        build(key, &BUILT)
    }

    /// A token that says how long it is good for.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Token {
        pub id: usize,
        pub expires_in: Duration,
    }

    #[ttl_cached(
        ttl = "1h",
        expire_after = |_tenant: &String, token: &Token| Some(token.expires_in),
        clock = CLOCK.clone()
    )]
    pub fn token(tenant: &str) -> Result<Token, String> {
        if tenant.is_empty() {
            return Err("no tenant".into());
        }
        let id = BUILT.fetch_add(1, SeqCst);
        Ok(Token {
            id,
            expires_in: Duration::from_secs(90),
        })
    }
}

#[test]
fn max_lifetime_and_expire_after_are_options_of_the_attribute() {
    use lifetimes::*;
    let client = rotating("k");
    for _ in 0..4 {
        CLOCK.advance(Duration::from_secs(59));
        assert_eq!(rotating("k"), client, "hits keep it within five minutes");
    }
    CLOCK.advance(Duration::from_secs(64));
    assert_ne!(rotating("k"), client, "five minutes after it was built");

    let first = token("acme").unwrap();
    CLOCK.advance(Duration::from_secs(89));
    assert_eq!(token("acme").unwrap(), first);
    CLOCK.advance(Duration::from_secs(1));
    assert_ne!(token("acme").unwrap(), first, "the token's own 90 s");
    assert!(token("").is_err());
}

mod refreshing {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1h", refresh_after = "1m", clock = CLOCK.clone(), cache = rates)]
    pub fn rate(currency: &str) -> Result<usize, String> {
        if currency == "XXX" {
            return Err("unknown".into());
        }
        Ok(BUILT.fetch_add(1, SeqCst))
    }
}

#[test]
fn refresh_after_is_an_option_of_the_attribute() {
    use refreshing::*;
    let first = rate("EUR").unwrap();
    CLOCK.advance(Duration::from_secs(59));
    assert_eq!(rate("EUR").unwrap(), first);
    CLOCK.advance(Duration::from_secs(1));
    assert_ne!(
        rate("EUR").unwrap(),
        first,
        "rebuilt by the first call after a minute"
    );
    assert_eq!(rates().stats().refreshes, 1);
}

mod stale {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    pub static UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    #[ttl_cached(ttl = "1m", stale_if_error = "10m", clock = CLOCK.clone())]
    pub fn quote(symbol: &str) -> Option<String> {
        UP.load(SeqCst)
            .then(|| format!("{symbol}@{}", BUILT_AT.fetch_add(1, SeqCst)))
    }

    pub static BUILT_AT: AtomicUsize = AtomicUsize::new(0);
}

#[test]
fn stale_if_error_is_an_option_of_the_attribute() {
    use stale::*;
    let first = quote("ACME").unwrap();
    UP.store(false, SeqCst);
    CLOCK.advance(Duration::from_secs(5 * 60));
    assert_eq!(quote("ACME"), Some(first.clone()), "down: the stale value");
    CLOCK.advance(Duration::from_secs(6 * 60));
    assert_eq!(quote("ACME"), None, "past the window: the failure");
    UP.store(true, SeqCst);
    assert_ne!(quote("ACME"), Some(first));
}

/// Two functions of one name in two blocks of one function have one path, so their maps
/// share the default name in `cache_core::caches()` (README, option `name`); `name = ...`
/// tells them apart.
#[test]
fn same_named_functions_in_two_blocks_share_the_default_name_until_named() {
    let first = {
        #[ttl_cached(ttl = "1h")]
        fn twin_in_blocks(key: u32) -> u32 {
            key
        }
        twin_in_blocks(1)
    };
    let second = {
        #[ttl_cached(ttl = "1h")]
        fn twin_in_blocks(key: u32) -> u32 {
            key + 1
        }
        twin_in_blocks(1)
    };
    assert_eq!((first, second), (1, 2), "two maps, one per function");
    let path = concat!(
        module_path!(),
        "::same_named_functions_in_two_blocks_share_the_default_name_until_named::twin_in_blocks"
    );
    let named = |name: &str| {
        (cache_core::caches().iter())
            .filter(|c| c.name() == name)
            .count()
    };
    assert_eq!(named(path), 2);

    let third = {
        #[ttl_cached(ttl = "1h", name = "twin_in_blocks_a")]
        fn named_twin(key: u32) -> u32 {
            key
        }
        named_twin(1)
    };
    let fourth = {
        #[ttl_cached(ttl = "1h", name = "twin_in_blocks_b")]
        fn named_twin(key: u32) -> u32 {
            key + 1
        }
        named_twin(1)
    };
    assert_eq!((third, fourth), (1, 2));
    assert_eq!(named("twin_in_blocks_a"), 1);
    assert_eq!(named("twin_in_blocks_b"), 1);
}
