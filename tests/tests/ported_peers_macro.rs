//! Peers' own test suites and real users' code shapes, ported to `#[ttl_cached]`.
//!
//! Sources: `cached` 0.56 `tests/cached.rs` and `examples/` (`#[cached]`, `#[once]`, the
//! `cached!` family; `#[io_cached]` only where its meaning survives without disk or Redis),
//! `cached` 3.0-rc `tests/cached.rs` (`expires = true`, async recursion, alias detection),
//! `memoize` (dermesser/memoize) `examples/`, and function shapes from public code that uses
//! `#[cached]`/`#[once]`. Each test names what it ports. Time comes from a `ManualClock`;
//! nothing sleeps.
//!
//! Intentional differences from the peers (our documented semantics, not bugs):
//! - `Result`/`Option` are recognised by type, so `result = true` / `option = true` are
//!   implied and `cache_err`/`cache_none` have no equivalent: an `Err`/`None` is never cached.
//! - `#[once]` (one value whatever the arguments) is `key: () = ()`.
//! - `time = n` is `ttl` with `expiry = "fixed"`; `time_refresh = true` is our default
//!   `expiry = "sliding"`; `size` is `capacity`; `result_fallback` is `stale_if_error`;
//!   `expires = true` (`Expires`/`CanExpire`) is `expire_after`.
//! - `_prime_cache` / `memoized_flush_*` / `memoized_size_*` / `cache_set` are the
//!   `cache = name` handle's `insert` / `clear` / `len`; `insert` counts neither a hit nor a
//!   miss. `memoized_original_*` and `with_cached_flag` have no equivalent.
//! - `hits`/`misses` also count `get` on the handle, so these tests read with
//!   `contains_key`.
//! - `memoize` caches per thread by default; ours is one cache for the process.
//! - `cached`'s `SizedCache` is exact LRU; ours is LRU by deadline, which moves only in
//!   steps of ttl/64, so tests that check eviction order advance the clock between uses.
//! - `memoize`'s `Ignore: x` of a `&mut` argument has no equivalent: `&mut` parameters are
//!   rejected (documented), even with a custom key. `impl Trait` parameters likewise.
//! - A stale value served by `stale_if_error` is not stored again (cached's
//!   `result_fallback` re-stores it and counts the next call as a hit).
//!
//! The valid shapes it found rejected compile now and run as `ui/pass` cases:
//! `async-dyn-send.rs`, `async-dyn-coercion.rs`, `static-str-error.rs`,
//! `static-dyn-error-async.rs`, `option-static-str.rs`, `arc-dyn-fn-value.rs` and
//! `nine-parameters.rs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant};

use cache_core::{ManualClock, ttl_cached};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// cached 0.56: tests/cached.rs
// ---------------------------------------------------------------------------------------------

mod unbound_fib {
    use super::*;

    #[ttl_cached(ttl = "1h", cache = fib_cache)]
    pub fn fib0(n: u32) -> u32 {
        if n == 0 || n == 1 {
            return n;
        }
        fib0(n - 1) + fib0(n - 2)
    }
}

/// Ports cached `test_unbound_cache` (`cached! { UNBOUND_FIB; fn fib0 }`): a recursive
/// function memoizes every level.
#[test]
fn cached_unbound_recursive_fib_keeps_every_level() {
    use unbound_fib::*;
    assert_eq!(fib0(20), 6765);
    assert_eq!(fib_cache().len(), 21);
}

mod sized_fib {
    use super::*;

    #[ttl_cached(ttl = "1h", capacity = 3, cache = fib_cache)]
    pub fn fib1(n: u32) -> u32 {
        if n == 0 || n == 1 {
            return n;
        }
        fib1(n - 1) + fib1(n - 2)
    }
}

/// Ports cached `test_sized_cache` (`SizedCache::with_size(3)` over a recursive fib): the
/// capacity holds and the last value stored is kept.
#[test]
fn cached_sized_recursive_fib_keeps_capacity_and_the_last_value() {
    use sized_fib::*;
    let last = fib1(20);
    assert_eq!(last, 6765);
    assert_eq!(fib_cache().len(), 3);
    assert!(fib_cache().contains_key(&20));
}

mod timed {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "2s", expiry = "fixed", capacity = 5, clock = CLOCK.clone(), cache = timed_cache)]
    pub fn timed(n: u32) -> u32 {
        CALLS.fetch_add(1, SeqCst);
        n
    }

    #[ttl_cached(ttl = "2s", expiry = "fixed", clock = CLOCK.clone(), cache = timed_2_cache, key: u32 = n)]
    pub fn timed_2(n: u32) -> u32 {
        CALLS.fetch_add(1, SeqCst);
        n
    }
}

/// Ports cached `test_timed_cache` and `test_timed_cache_key`
/// (`TimedCache::with_lifespan_and_capacity(2s, 5)`, and the `cached_key!` form with
/// `Key = { n }`): one miss, one hit, a miss after the lifespan. (`cache_set_lifespan` has
/// no equivalent: the ttl is fixed per function.)
#[test]
fn cached_timed_cache_counts_and_expires_after_its_lifespan() {
    use timed::*;
    for (f, handle) in [
        (
            timed as fn(u32) -> u32,
            timed_cache as fn() -> &'static cache_core::TtlMap<u32, u32>,
        ),
        (timed_2, timed_2_cache),
    ] {
        f(1);
        f(1);
        let s = handle().stats();
        assert_eq!((s.misses, s.hits), (1, 1));
    }
    CLOCK.advance(secs(3));
    timed(1);
    timed_2(1);
    for handle in [timed_cache, timed_2_cache] {
        let s = handle().stats();
        assert_eq!((s.misses, s.hits), (2, 1));
    }
}

mod timefac {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "2s", expiry = "fixed", capacity = 3, clock = CLOCK.clone(), cache = timefac_cache)]
    pub fn timefac(n: u32) -> u32 {
        if n > 1 { n * timefac(n - 1) } else { n }
    }
}

/// Ports cached `test_timed_sized_cache` (`TimedSizedCache::with_size_and_lifespan(3, 2s)`
/// over a recursive factorial): hits and misses at every level, the capacity holds.
#[test]
fn cached_timed_sized_recursive_factorial_counts_every_level() {
    use timefac::*;
    let counts = || {
        let s = timefac_cache().stats();
        (s.misses, s.hits)
    };
    timefac(1);
    timefac(1);
    assert_eq!(counts(), (1, 1));
    CLOCK.advance(secs(3));
    timefac(1);
    assert_eq!(counts(), (2, 1));
    assert_eq!(timefac(2), 2);
    assert_eq!(counts(), (3, 2));
    assert_eq!(timefac(3), 6);
    assert_eq!(counts(), (4, 3));
    timefac(3);
    timefac(2);
    timefac(1);
    assert_eq!(counts(), (4, 6));
    assert_eq!(timefac(4), 24);
    assert_eq!(counts(), (5, 7));
    assert_eq!(timefac_cache().len(), 3);
    assert_eq!(timefac_cache().stats().evictions, 1);
    assert!(timefac_cache().contains_key(&4), "the newest entry stays");
}

mod string_cache {
    use super::*;

    #[ttl_cached(ttl = "1h", capacity = 1, cache = strings)]
    pub fn string_1(a: String, b: String) -> String {
        a + b.as_ref()
    }
}

/// Ports cached `test_string_cache` (`SizedCache<(String, String), String>` of size 1): two
/// owned `String` arguments key by their tuple.
#[test]
fn cached_string_tuple_key_with_capacity_one() {
    use string_cache::*;
    assert_eq!(string_1("a".into(), "b".into()), "ab");
    assert_eq!(strings().len(), 1);
    assert!(strings().contains_key(&("a".to_string(), "b".to_string())));
    assert_eq!(string_1("c".into(), "d".into()), "cd");
    assert_eq!(strings().len(), 1);
}

mod sized_key {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "64s", capacity = 2, clock = CLOCK.clone(), cache = sized, key: String = format!("{a}{b}"))]
    pub fn sized_key(a: &str, b: &str) -> usize {
        a.len() + b.len()
    }
}

/// Ports cached `test_sized_cache_key` (`cached_key!` with `Key = { format!("{a}{b}") }` and
/// `SizedCache::with_size(2)`): the least recently used key goes, checked against cached's
/// `key_order` at every step. The clock moves 2 s (> ttl/64) between calls so use order is
/// visible to our deadline-based LRU.
#[test]
fn cached_sized_custom_key_evicts_least_recently_used() {
    use sized_key::*;
    let call = |a: &str, b: &str| {
        let v = sized_key(a, b);
        CLOCK.advance(secs(2));
        v
    };
    let held = |keys: &[&str]| {
        assert_eq!(sized().len(), keys.len());
        for k in keys {
            assert!(sized().contains_key(*k), "{k} should be held");
        }
    };
    call("a", "1");
    call("a", "1");
    let s = sized().stats();
    assert_eq!((s.misses, s.hits), (1, 1));
    held(&["a1"]);
    call("a", "1");
    assert_eq!(sized().stats().hits, 2);
    call("a", "2");
    held(&["a2", "a1"]);
    call("a", "3");
    held(&["a3", "a2"]);
    call("a", "4");
    call("a", "5");
    held(&["a5", "a4"]);
    assert_eq!(call("a", "67"), 3);
    call("a", "8");
    held(&["a8", "a67"]);
    assert_eq!(sized().get("a67"), Some(3));
}

mod result_key {
    use super::*;

    #[ttl_cached(ttl = "1h", cache = result_cache, key: u32 = n)]
    pub fn test_result_key(n: u32) -> Result<u32, ()> {
        if n < 5 { Ok(n) } else { Err(()) }
    }

    #[ttl_cached(ttl = "1h", cache = result_no_default_cache)]
    pub fn test_result_no_default(n: u32) -> Result<u32, ()> {
        if n < 5 { Ok(n) } else { Err(()) }
    }
}

/// Ports cached `cache_result_key` and `cache_result_no_default` (`cached_key_result!`,
/// `cached_result!`): only `Ok` is stored; two entries, two hits, four misses.
#[test]
fn cached_result_macros_store_only_ok() {
    use result_key::*;
    for (f, handle) in [
        (
            test_result_key as fn(u32) -> Result<u32, ()>,
            result_cache as fn() -> &'static cache_core::TtlMap<u32, u32>,
        ),
        (test_result_no_default, result_no_default_cache),
    ] {
        assert!(f(2).is_ok());
        assert!(f(4).is_ok());
        assert!(f(6).is_err());
        assert!(f(6).is_err());
        assert!(f(2).is_ok());
        assert!(f(4).is_ok());
        let s = handle().stats();
        assert_eq!(handle().len(), 2);
        assert_eq!((s.hits, s.misses), (2, 4));
    }
}

mod control {
    use super::*;

    #[ttl_cached(ttl = "1h", cache = control_cache)]
    pub fn can_fail(input: &str) -> Result<String, String> {
        let len = input.len();
        if len < 3 {
            Ok(format!("{input}-{len}"))
        } else {
            Err("too big".to_string())
        }
    }
}

/// Ports cached `test_can_fail` (`cached_control!` that returns `Err` without storing it).
#[test]
fn cached_control_returns_errors_without_storing_them() {
    use control::*;
    assert_eq!(can_fail("ab"), Ok("ab-2".to_string()));
    assert_eq!(can_fail("abc"), Err("too big".to_string()));
    assert_eq!(control_cache().stats().misses, 2);
    assert_eq!(can_fail("ab"), Ok("ab-2".to_string()));
    assert_eq!(control_cache().stats().hits, 1);
    assert!(!control_cache().contains_key("abc"));
}

mod racing {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", capacity = 2, cache = small, key: String = format!("{a}/{b}"))]
    pub fn slow_small_cache(a: &str, b: &str) -> String {
        CALLS.fetch_add(1, SeqCst);
        // Hold the first caller until the second waits on it.
        if a == "a" {
            tests::wait_until("the racer waits", || small().stats().coalesced == 1);
        }
        format!("{a}:{b}")
    }
}

/// Ports cached `test_racing_duplicate_keys_do_not_duplicate_sized_cache_ordering` (issue
/// #7): two threads racing on one key of a capacity-2 cache leave one entry, and later keys
/// evict cleanly. Ours also runs the body once.
#[test]
fn cached_racing_duplicate_keys_leave_one_entry() {
    use racing::*;
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            barrier.wait();
            slow_small_cache("a", "b")
        });
        let b = s.spawn(|| {
            barrier.wait();
            slow_small_cache("a", "b")
        });
        assert_eq!(a.join().unwrap(), "a:b");
        assert_eq!(b.join().unwrap(), "a:b");
    });
    assert_eq!(small().len(), 1);
    assert_eq!(CALLS.load(SeqCst), 1, "single flight");
    slow_small_cache("c", "d");
    slow_small_cache("e", "f");
    slow_small_cache("g", "h");
    assert_eq!(small().len(), 2);
}

mod no_clone {
    use super::*;

    /// Neither `Clone` nor `Debug`: the error type asks for nothing.
    pub struct NoClone {}

    #[ttl_cached(ttl = "1h", cache = result_cache)]
    pub fn proc_cached_result(n: u32) -> Result<Vec<u32>, NoClone> {
        if n < 5 { Ok(vec![n]) } else { Err(NoClone {}) }
    }

    #[ttl_cached(ttl = "1h", cache = option_cache)]
    pub fn proc_cached_option(n: u32) -> Option<Vec<u32>> {
        if n < 5 { Some(vec![n]) } else { None }
    }
}

/// Ports cached `test_proc_cached_result` (`#[cached(result = true)]` with an error type
/// that is not `Clone`): two entries, two hits, four misses.
#[test]
fn cached_proc_result_with_a_non_clone_error() {
    use no_clone::*;
    assert!(proc_cached_result(2).is_ok());
    assert!(proc_cached_result(4).is_ok());
    assert!(proc_cached_result(6).is_err());
    assert!(proc_cached_result(6).is_err());
    assert!(proc_cached_result(2).is_ok());
    assert!(proc_cached_result(4).is_ok());
    let s = result_cache().stats();
    assert_eq!(result_cache().len(), 2);
    assert_eq!((s.hits, s.misses), (2, 4));
}

/// Ports cached `test_proc_cached_option` (`#[cached(option = true)]`): three entries, three
/// hits, five misses.
#[test]
fn cached_proc_option_stores_only_some() {
    use no_clone::*;
    assert!(proc_cached_option(2).is_some());
    assert!(proc_cached_option(4).is_some());
    assert!(proc_cached_option(1).is_some());
    assert!(proc_cached_option(6).is_none());
    assert!(proc_cached_option(6).is_none());
    assert!(proc_cached_option(2).is_some());
    assert!(proc_cached_option(1).is_some());
    assert!(proc_cached_option(4).is_some());
    let s = option_cache().stats();
    assert_eq!(option_cache().len(), 3);
    assert_eq!((s.hits, s.misses), (3, 5));
}

mod timed_sized_sleeper {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", expiry = "fixed", capacity = 1, clock = CLOCK.clone(), cache = sleeper)]
    pub fn proc_timed_sized_sleeper(n: u64) -> u64 {
        n
    }
}

/// Ports cached `test_proc_timed_sized_cache` (`#[cached(size = 1, time = 1)]`): expiry
/// after a second, and a new key evicts the only entry.
#[test]
fn cached_proc_timed_sized_expires_and_evicts() {
    use timed_sized_sleeper::*;
    let counts = || {
        let s = sleeper().stats();
        (s.misses, s.hits)
    };
    proc_timed_sized_sleeper(1);
    proc_timed_sized_sleeper(1);
    assert_eq!(counts(), (1, 1));
    CLOCK.advance(secs(1));
    proc_timed_sized_sleeper(1);
    assert_eq!(counts(), (2, 1));
    assert!(sleeper().contains_key(&1));
    CLOCK.advance(secs(1));
    assert!(!sleeper().contains_key(&1), "expired, never returned");
    proc_timed_sized_sleeper(1);
    proc_timed_sized_sleeper(1);
    assert_eq!(counts(), (3, 2));
    proc_timed_sized_sleeper(2);
    assert_eq!(counts(), (4, 2));
    assert_eq!(sleeper().len(), 1);
    assert!(sleeper().contains_key(&2));
    assert!(!sleeper().contains_key(&1));
}

mod once_fns {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), key: () = ())]
    pub fn only_cached_once_per_second(s: String) -> Vec<String> {
        vec![s]
    }

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), key: () = ())]
    pub async fn only_cached_once_per_second_a(s: String) -> Vec<String> {
        vec![s]
    }

    #[ttl_cached(ttl = "36500d", key: () = ())]
    pub fn only_cached_result_once(s: String, error: bool) -> Result<Vec<String>, u32> {
        if error { Err(1) } else { Ok(vec![s]) }
    }

    #[ttl_cached(ttl = "36500d", key: () = ())]
    pub async fn only_cached_result_once_a(s: String, error: bool) -> Result<Vec<String>, u32> {
        if error { Err(1) } else { Ok(vec![s]) }
    }

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), key: () = ())]
    pub fn only_cached_result_once_per_second(s: String, error: bool) -> Result<Vec<String>, u32> {
        if error { Err(1) } else { Ok(vec![s]) }
    }

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), key: () = ())]
    pub async fn only_cached_result_once_per_second_a(
        s: String,
        error: bool,
    ) -> Result<Vec<String>, u32> {
        if error { Err(1) } else { Ok(vec![s]) }
    }

    #[ttl_cached(ttl = "36500d", key: () = ())]
    pub fn only_cached_option_once(s: String, none: bool) -> Option<Vec<String>> {
        if none { None } else { Some(vec![s]) }
    }

    #[ttl_cached(ttl = "36500d", key: () = ())]
    pub async fn only_cached_option_once_a(s: String, none: bool) -> Option<Vec<String>> {
        if none { None } else { Some(vec![s]) }
    }

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), key: () = ())]
    pub fn only_cached_option_once_per_second(s: String, none: bool) -> Option<Vec<String>> {
        if none { None } else { Some(vec![s]) }
    }

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), key: () = ())]
    pub async fn only_cached_option_once_per_second_a(
        s: String,
        none: bool,
    ) -> Option<Vec<String>> {
        if none { None } else { Some(vec![s]) }
    }
}

fn v(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

/// Ports cached's eight `#[once]` tests (`test_only_cached_once_per_second`, `..._a`,
/// `test_only_cached_result_once[_per_second][_a]`, `test_only_cached_option_once[_per_second][_a]`):
/// `#[once]` is `key: () = ()`; the first value (first `Ok`/`Some`) is returned whatever the
/// arguments until it expires. "No time" is a ttl of 100 years. One test, since the eight
/// functions share one clock.
#[test]
fn cached_once_family_sync_and_async() {
    use once_fns::*;
    let rt = tests::two_worker_runtime();
    assert_eq!(only_cached_once_per_second("a".into()), v("a"));
    assert_eq!(only_cached_once_per_second("b".into()), v("a"));
    assert_eq!(
        rt.block_on(only_cached_once_per_second_a("a".into())),
        v("a")
    );
    assert_eq!(
        rt.block_on(only_cached_once_per_second_a("b".into())),
        v("a")
    );

    assert!(only_cached_result_once("z".into(), true).is_err());
    assert_eq!(only_cached_result_once("a".into(), false), Ok(v("a")));
    assert_eq!(only_cached_result_once("b".into(), false), Ok(v("a")));
    assert!(
        rt.block_on(only_cached_result_once_a("z".into(), true))
            .is_err()
    );
    assert_eq!(
        rt.block_on(only_cached_result_once_a("a".into(), false)),
        Ok(v("a"))
    );
    assert_eq!(
        rt.block_on(only_cached_result_once_a("b".into(), false)),
        Ok(v("a"))
    );

    assert!(only_cached_result_once_per_second("z".into(), true).is_err());
    assert_eq!(
        only_cached_result_once_per_second("a".into(), false),
        Ok(v("a"))
    );
    assert_eq!(
        only_cached_result_once_per_second("b".into(), false),
        Ok(v("a"))
    );
    assert!(
        rt.block_on(only_cached_result_once_per_second_a("z".into(), true))
            .is_err()
    );
    assert_eq!(
        rt.block_on(only_cached_result_once_per_second_a("a".into(), false)),
        Ok(v("a"))
    );
    assert_eq!(
        rt.block_on(only_cached_result_once_per_second_a("b".into(), false)),
        Ok(v("a"))
    );

    assert!(only_cached_option_once("z".into(), true).is_none());
    assert_eq!(only_cached_option_once("a".into(), false), Some(v("a")));
    assert_eq!(only_cached_option_once("b".into(), false), Some(v("a")));
    assert!(
        rt.block_on(only_cached_option_once_a("z".into(), true))
            .is_none()
    );
    assert_eq!(
        rt.block_on(only_cached_option_once_a("a".into(), false)),
        Some(v("a"))
    );
    assert_eq!(
        rt.block_on(only_cached_option_once_a("b".into(), false)),
        Some(v("a"))
    );

    assert!(only_cached_option_once_per_second("z".into(), true).is_none());
    assert_eq!(
        only_cached_option_once_per_second("a".into(), false),
        Some(v("a"))
    );
    assert_eq!(
        only_cached_option_once_per_second("b".into(), false),
        Some(v("a"))
    );
    assert!(
        rt.block_on(only_cached_option_once_per_second_a("z".into(), true))
            .is_none()
    );
    assert_eq!(
        rt.block_on(only_cached_option_once_per_second_a("a".into(), false)),
        Some(v("a"))
    );
    assert_eq!(
        rt.block_on(only_cached_option_once_per_second_a("b".into(), false)),
        Some(v("a"))
    );

    CLOCK.advance(secs(1));
    assert_eq!(only_cached_once_per_second("b".into()), v("b"));
    assert_eq!(
        rt.block_on(only_cached_once_per_second_a("b".into())),
        v("b")
    );
    assert_eq!(
        only_cached_result_once("b".into(), false),
        Ok(v("a")),
        "no time: kept"
    );
    assert_eq!(
        rt.block_on(only_cached_result_once_a("b".into(), false)),
        Ok(v("a"))
    );
    assert_eq!(
        only_cached_result_once_per_second("b".into(), false),
        Ok(v("b"))
    );
    assert_eq!(
        rt.block_on(only_cached_result_once_per_second_a("b".into(), false)),
        Ok(v("b"))
    );
    assert_eq!(
        only_cached_option_once("b".into(), false),
        Some(v("a")),
        "no time: kept"
    );
    assert_eq!(
        rt.block_on(only_cached_option_once_a("b".into(), false)),
        Some(v("a"))
    );
    assert_eq!(
        only_cached_option_once_per_second("b".into(), false),
        Some(v("b"))
    );
    assert_eq!(
        rt.block_on(only_cached_option_once_per_second_a("b".into(), false)),
        Some(v("b"))
    );
}

mod sync_writes {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);
    pub static ASYNC_CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "2s", expiry = "fixed", cache = writes, key: u32 = 1)]
    pub fn cached_sync_writes(s: String) -> Vec<String> {
        CALLS.fetch_add(1, SeqCst);
        tests::wait_until("the two others wait", || writes().stats().coalesced == 2);
        vec![s]
    }

    #[ttl_cached(ttl = "2s", expiry = "fixed", cache = writes_a, key: u32 = 1)]
    pub async fn cached_sync_writes_a(s: String) -> Vec<String> {
        ASYNC_CALLS.fetch_add(1, SeqCst);
        tests::wait_until_async("the two others wait", || writes_a().stats().coalesced == 2).await;
        vec![s]
    }

    #[ttl_cached(ttl = "2s", expiry = "fixed", cache = once_writes, key: () = ())]
    pub async fn only_cached_once_per_second_sync_writes(s: String) -> Vec<String> {
        tests::wait_until_async("the other waits", || once_writes().stats().coalesced == 1).await;
        vec![s]
    }
}

/// Ports cached `test_cached_sync_writes` (`sync_writes = "default"`, `key = "u32"`,
/// `convert = "{ 1 }"`): three threads with different arguments but one key get one value
/// from one run. Ours has single flight without any option.
#[test]
fn cached_sync_writes_threads_share_one_run() {
    use sync_writes::*;
    let barrier = Barrier::new(3);
    let out: Vec<Vec<String>> = std::thread::scope(|s| {
        let hs: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|x| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    cached_sync_writes(x.to_string())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(out.iter().all(|o| *o == out[0]));
    assert_eq!(CALLS.load(SeqCst), 1);
}

/// Ports cached `test_cached_sync_writes_a` and `test_only_cached_once_per_second_sync_writes`
/// (the async forms): tasks with different arguments but one key share one run.
#[test]
fn cached_sync_writes_tasks_share_one_run() {
    use sync_writes::*;
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|x| tokio::spawn(cached_sync_writes_a(x.to_string())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        assert!(out.iter().all(|o| *o == out[0]));
        let a = tokio::spawn(only_cached_once_per_second_sync_writes("a".into()));
        let b = tokio::spawn(only_cached_once_per_second_sync_writes("b".into()));
        assert_eq!(a.await.unwrap(), b.await.unwrap());
    });
    assert_eq!(ASYNC_CALLS.load(SeqCst), 1);
}

mod by_key {
    use super::*;

    pub static STARTED: AtomicUsize = AtomicUsize::new(0);
    pub static STARTED_A: AtomicUsize = AtomicUsize::new(0);

    /// Returns only once all three bodies run at the same time.
    #[ttl_cached(ttl = "2s", expiry = "fixed")]
    pub fn cached_sync_writes_by_key(s: String) -> Vec<String> {
        STARTED.fetch_add(1, SeqCst);
        tests::wait_until("three bodies run at once", || STARTED.load(SeqCst) == 3);
        vec![s]
    }

    #[ttl_cached(ttl = "5s", expiry = "fixed", key: String = format!("{s}"))]
    pub async fn cached_sync_writes_by_key_a(s: String) -> Vec<String> {
        STARTED_A.fetch_add(1, SeqCst);
        tests::wait_until_async("three bodies run at once", || STARTED_A.load(SeqCst) == 3).await;
        vec![s]
    }
}

/// Ports cached `test_cached_sync_writes_by_key` and `test_cached_sync_writes_by_key_a`
/// (three keys must not wait for each other): here each body waits until all three run.
#[test]
fn cached_by_key_bodies_of_different_keys_run_in_parallel() {
    use by_key::*;
    std::thread::scope(|s| {
        let hs: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|x| s.spawn(move || cached_sync_writes_by_key(x.to_string())))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        let ts: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|x| tokio::spawn(cached_sync_writes_by_key_a(x.to_string())))
            .collect();
        for t in ts {
            t.await.unwrap();
        }
    });
}

mod once_mutex {
    use super::*;

    #[ttl_cached(ttl = "1h", key: () = ())]
    pub async fn once_sync_writes_a(s: &tokio::sync::Mutex<String>) -> String {
        let mut guard = s.lock().await;
        let results: String = (*guard).clone();
        *guard = "consumed".to_string();
        results
    }
}

/// Ports cached `test_once_sync_writes_a` (`#[once(sync_writes = true)]` over a borrowed
/// `&tokio::sync::Mutex<String>`, which is not `Hash`): the body runs for the first call
/// only.
#[test]
fn cached_once_over_a_borrowed_mutex_runs_the_body_once() {
    use once_mutex::*;
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        let a_mutex = tokio::sync::Mutex::new("a".to_string());
        let b_mutex = tokio::sync::Mutex::new("b".to_string());
        let fut_a = once_sync_writes_a(&a_mutex);
        let fut_b = once_sync_writes_a(&b_mutex);
        let a = fut_a.await;
        let b = fut_b.await;
        assert_eq!(a, b);
        assert_eq!("a", a);
        assert_eq!("consumed", a_mutex.lock().await.to_string());
        assert_eq!("b", b_mutex.lock().await.to_string());
    });
}

mod smartstring {
    use super::*;

    /// A stand-in for `smartstring::alias::String`: a string type of the user's.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    pub struct Smart(pub Box<str>);

    #[ttl_cached(ttl = "1h", capacity = 2, cache = smart)]
    pub fn cached_smartstring(s: Smart) -> Smart {
        if &*s.0 == "very stringy" {
            Smart("equal".into())
        } else {
            Smart("not equal".into())
        }
    }

    #[ttl_cached(ttl = "1h", capacity = 2, cache = from_str, key: Smart = Smart(s.into()))]
    pub fn cached_smartstring_from_str(s: &str) -> bool {
        s == "true"
    }
}

/// Ports cached `test_cached_smartstring` and `test_cached_smartstring_from_str`: a custom
/// owned string type as the key, directly and through `key`/`convert`.
#[test]
fn cached_custom_string_type_keys() {
    use smartstring::*;
    fn counts<V>(m: &cache_core::TtlMap<Smart, V>) -> (u64, u64) {
        let s = m.stats();
        (s.hits, s.misses)
    }
    let string = Smart("very stringy".into());
    assert_eq!(cached_smartstring(string.clone()).0.as_ref(), "equal");
    assert_eq!(counts(smart()), (0, 1));
    assert_eq!(cached_smartstring(string.clone()).0.as_ref(), "equal");
    assert_eq!(counts(smart()), (1, 1));
    assert_eq!(
        cached_smartstring(Smart("also stringy".into())).0.as_ref(),
        "not equal"
    );
    assert_eq!(counts(smart()), (1, 2));

    assert!(cached_smartstring_from_str("true"));
    assert_eq!(counts(from_str()), (0, 1));
    assert!(cached_smartstring_from_str("true"));
    assert_eq!(counts(from_str()), (1, 1));
    assert!(!cached_smartstring_from_str("false"));
    assert_eq!(counts(from_str()), (1, 2));
}

mod timed_refresh {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", clock = CLOCK.clone(), cache = refresh, key: String = String::from(s))]
    pub fn cached_timed_refresh(s: &str) -> bool {
        s == "true"
    }

    #[ttl_cached(ttl = "1s", capacity = 2, clock = CLOCK.clone(), cache = sized_refresh, key: String = String::from(s))]
    pub fn cached_timed_sized_refresh(s: &str) -> bool {
        s == "true"
    }
}

/// Ports cached `test_cached_timed_refresh` and `test_cached_timed_sized_refresh`
/// (`time = 1, time_refresh = true`, with and without `size = 2`): hits every half second
/// keep the entry past its first second. `time_refresh` is our sliding expiry.
#[test]
fn cached_time_refresh_is_sliding_expiry() {
    use timed_refresh::*;
    for (f, handle) in [
        (
            cached_timed_refresh as fn(&str) -> bool,
            refresh as fn() -> &'static cache_core::TtlMap<String, bool>,
        ),
        (cached_timed_sized_refresh, sized_refresh),
    ] {
        assert!(f("true"));
        assert!(f("true"));
        let s = handle().stats();
        assert_eq!((s.hits, s.misses), (1, 1));
    }
    for _ in 0..3 {
        CLOCK.advance(millis(500));
        assert!(cached_timed_refresh("true"));
        assert!(cached_timed_sized_refresh("true"));
    }
    for handle in [refresh, sized_refresh] {
        let s = handle().stats();
        assert_eq!((s.hits, s.misses), (4, 1));
    }
}

mod priming {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", capacity = 2, clock = CLOCK.clone(), cache = refresh_prime, key: String = String::from(s))]
    pub fn cached_timed_sized_refresh_prime(s: &str) -> bool {
        s == "true"
    }

    #[ttl_cached(ttl = "1s", expiry = "fixed", capacity = 2, clock = CLOCK.clone(), cache = prime, key: String = String::from(s))]
    pub fn cached_timed_sized_prime(s: &str) -> bool {
        s == "true"
    }

    #[ttl_cached(ttl = "36500d", cache = once_prime)]
    pub fn once_for_priming() -> bool {
        true
    }
}

/// Ports cached `test_cached_timed_sized_refresh_prime`, `test_cached_timed_sized_prime` and
/// `test_once_for_priming` (`*_prime_cache` companions): priming is `insert` through the
/// handle, which keeps the entry fresh without counting a hit; `flush` is `sweep`.
#[test]
fn cached_priming_through_the_handle() {
    use priming::*;
    for (f, handle) in [
        (
            cached_timed_sized_refresh_prime as fn(&str) -> bool,
            refresh_prime as fn() -> &'static cache_core::TtlMap<String, bool>,
        ),
        (cached_timed_sized_prime, prime),
    ] {
        assert!(f("true"));
        assert!(f("true"));
        let s = handle().stats();
        assert_eq!((s.hits, s.misses), (1, 1));
    }
    for _ in 0..3 {
        CLOCK.advance(millis(500));
        refresh_prime().insert("true".into(), true);
        prime().insert("true".into(), true);
    }
    for (f, handle) in [
        (
            cached_timed_sized_refresh_prime as fn(&str) -> bool,
            refresh_prime as fn() -> &'static cache_core::TtlMap<String, bool>,
        ),
        (cached_timed_sized_prime, prime),
    ] {
        assert!(f("true"));
        let s = handle().stats();
        assert_eq!((s.hits, s.misses), (2, 1), "stats unchanged but this hit");
    }
    assert!(!prime().is_empty());
    CLOCK.advance(millis(1000));
    prime().sweep();
    assert_eq!(prime().len(), 0);

    once_prime().insert((), true);
    assert!(once_prime().contains_key(&()));
    assert!(once_for_priming());
    assert_eq!(once_prime().stats().misses, 0);
}

mod mutable {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn mutable_args(mut a: i32, mut b: i32) -> (i32, i32) {
        CALLS.fetch_add(1, SeqCst);
        a += 1;
        b += 1;
        (a, b)
    }

    #[ttl_cached(ttl = "1h")]
    pub fn mutable_args_str(mut a: String) -> String {
        a.push_str("-ok");
        a
    }

    #[ttl_cached(ttl = "1h", key: () = ())]
    pub fn mutable_args_once(mut a: i32, mut b: i32) -> (i32, i32) {
        a += 1;
        b += 1;
        (a, b)
    }
}

/// Ports cached `test_mutable_args`, `test_mutable_args_str`, `test_mutable_args_once`:
/// `mut` bindings key by the values passed in, not by what the body made of them.
#[test]
fn cached_mutable_arguments() {
    use mutable::*;
    assert_eq!((2, 2), mutable_args(1, 1));
    assert_eq!((2, 2), mutable_args(1, 1));
    assert_eq!(CALLS.load(SeqCst), 1);
    assert_eq!("a-ok", mutable_args_str(String::from("a")));
    assert_eq!("a-ok", mutable_args_str(String::from("a")));
    assert_eq!((2, 2), mutable_args_once(1, 1));
    assert_eq!((2, 2), mutable_args_once(1, 1));
    assert_eq!((2, 2), mutable_args_once(5, 6));
}

mod io_like {
    use super::*;

    #[derive(Debug, PartialEq, Clone)]
    pub enum TestError {
        Count(u32),
    }

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), cache = disk)]
    pub fn cached_disk(n: u32) -> Result<u32, TestError> {
        if n < 5 {
            Ok(n)
        } else {
            Err(TestError::Count(n))
        }
    }

    #[ttl_cached(ttl = "1s", clock = CLOCK.clone(), cache = disk_async)]
    pub async fn async_cached_disk(n: u32) -> Result<u32, TestError> {
        if n < 5 {
            Ok(n)
        } else {
            Err(TestError::Count(n))
        }
    }
}

/// Ports cached `test_cached_disk`, `test_cached_disk_cache_create`, `test_async_cached_disk`
/// and the Redis equivalents (`#[io_cached(time = 1, map_error = ..)]`) minus the store: `Ok`
/// cached, each `Err` returned as is. (Disk/Redis stores and `map_error` have no
/// equivalent; our Redis tier is `shared = ..`, tested elsewhere.)
#[test]
fn cached_io_cached_results_in_memory() {
    use io_like::*;
    assert_eq!(cached_disk(1), Ok(1));
    assert_eq!(cached_disk(1), Ok(1));
    assert_eq!(cached_disk(5), Err(TestError::Count(5)));
    assert_eq!(cached_disk(6), Err(TestError::Count(6)));
    assert_eq!(disk().len(), 1);
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        assert_eq!(async_cached_disk(1).await, Ok(1));
        assert_eq!(async_cached_disk(1).await, Ok(1));
        assert_eq!(async_cached_disk(5).await, Err(TestError::Count(5)));
        assert_eq!(async_cached_disk(6).await, Err(TestError::Count(6)));
    });
    assert_eq!(disk_async().stats().hits, 1);
}

mod articles {
    use super::*;

    #[derive(Clone)]
    pub struct NewsArticle {
        pub slug: String,
        pub is_expired: bool,
    }

    pub const EXPIRED_SLUG: &str = "expired_slug";
    pub const UNEXPIRED_SLUG: &str = "unexpired_slug";

    #[ttl_cached(
        ttl = "1h",
        capacity = 3,
        expire_after = |_slug: &String, a: &NewsArticle| a.is_expired.then_some(Duration::ZERO),
        cache = articles
    )]
    pub fn fetch_article(slug: String) -> Result<NewsArticle, ()> {
        match slug.as_str() {
            EXPIRED_SLUG => Ok(NewsArticle {
                slug: String::from(EXPIRED_SLUG),
                is_expired: true,
            }),
            UNEXPIRED_SLUG => Ok(NewsArticle {
                slug: String::from(UNEXPIRED_SLUG),
                is_expired: false,
            }),
            _ => Err(()),
        }
    }
}

/// Ports cached `test_expiring_value_expired_article_returned_with_miss` and
/// `..._unexpired_article_returned_with_hit` (`ExpiringValueCache` + `CanExpire`): a value
/// that says it has expired is returned once and never served from the cache; ours says so
/// through `expire_after` returning `Some(Duration::ZERO)`.
#[test]
fn cached_can_expire_values_through_expire_after() {
    use articles::*;
    let counts = || {
        let s = articles().stats();
        (s.hits, s.misses)
    };
    let expired = fetch_article(EXPIRED_SLUG.to_string());
    assert_eq!(expired.unwrap().slug, EXPIRED_SLUG);
    assert_eq!(counts(), (0, 1));
    let again = fetch_article(EXPIRED_SLUG.to_string());
    assert_eq!(again.unwrap().slug, EXPIRED_SLUG);
    assert_eq!(counts(), (0, 2), "fetched again: it had expired");

    let unexpired = fetch_article(UNEXPIRED_SLUG.to_string());
    assert_eq!(unexpired.unwrap().slug, UNEXPIRED_SLUG);
    assert_eq!(counts(), (0, 3));
    let cached = fetch_article(UNEXPIRED_SLUG.to_string());
    assert_eq!(cached.unwrap().slug, UNEXPIRED_SLUG);
    assert_eq!(counts(), (1, 3));
    assert!(fetch_article("other".into()).is_err());
}

mod fallback {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", expiry = "fixed", stale_if_error = "1h", clock = CLOCK.clone(), cache = failing)]
    pub fn always_failing() -> Result<String, ()> {
        Err(())
    }
}

/// Ports cached `test_result_fallback` (`result_fallback = true`): once a value was stored,
/// a failing rebuild after expiry returns the last value. Ours is `stale_if_error`; it
/// serves the stale value without storing it again (so cached's final "hit" is a second
/// stale serve here).
#[test]
fn cached_result_fallback_is_stale_if_error() {
    use fallback::*;
    assert!(always_failing().is_err());
    let s = failing().stats();
    assert_eq!((s.hits, s.misses), (0, 1));
    failing().insert((), "abc".to_string());
    assert_eq!(always_failing(), Ok("abc".to_string()));
    let s = failing().stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    CLOCK.advance(secs(2));
    assert_eq!(always_failing(), Ok("abc".to_string()));
    assert_eq!(always_failing(), Ok("abc".to_string()));
    assert_eq!(failing().stats().stale_served, 2);
}

// ---------------------------------------------------------------------------------------------
// cached 3.0-rc: tests/cached.rs
// ---------------------------------------------------------------------------------------------

mod dyn_ttl {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[derive(Clone, Debug)]
    pub struct TtlVal {
        pub v: u32,
        pub ttl: Duration,
        pub built: usize,
    }

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(
        ttl = "1h",
        expire_after = |_k: &u32, v: &TtlVal| Some(v.ttl),
        clock = CLOCK.clone(),
        key: u32 = k
    )]
    pub fn dyn_ttl(k: u32, ttl_ms: u64) -> TtlVal {
        TtlVal {
            v: k,
            ttl: Duration::from_millis(ttl_ms),
            built: BUILT.fetch_add(1, SeqCst),
        }
    }

    #[derive(Clone, Debug)]
    pub struct Val {
        pub v: u32,
        pub expired: bool,
    }

    #[ttl_cached(
        ttl = "1h",
        capacity = 4,
        expire_after = |_k: &u32, v: &Val| v.expired.then_some(Duration::ZERO),
        cache = expires_lru,
        key: u32 = k
    )]
    pub fn sm_cached_expires_lru(k: u32, expired: bool) -> Val {
        Val { v: k, expired }
    }

    #[ttl_cached(
        ttl = "1h",
        expire_after = |_k: &(), v: &Val| v.expired.then_some(Duration::ZERO),
        key: () = ()
    )]
    pub fn sm_once_expires(expired: bool) -> Val {
        Val { v: 42, expired }
    }
}

/// Ports cached 3 `expires = true` tests (`dyn_ttl` from issue #246, `sm_cached_expires_lru`,
/// `sm_once_expires`): a per-value lifetime decided by an argument kept out of the key.
#[test]
fn cached_expires_true_is_expire_after() {
    use dyn_ttl::*;
    let a = dyn_ttl(1, 100);
    assert_eq!(a.v, 1);
    CLOCK.advance(millis(99));
    assert_eq!(dyn_ttl(1, 100).built, a.built);
    CLOCK.advance(millis(1));
    assert_ne!(dyn_ttl(1, 5000).built, a.built, "its own 100 ms are over");

    assert_eq!(sm_cached_expires_lru(10, false).v, 10);
    assert_eq!(sm_cached_expires_lru(10, true).v, 10);
    assert_eq!(expires_lru().stats().hits, 1);
    // prime with an expired value: the next call rebuilds
    expires_lru().insert(
        10,
        Val {
            v: 10,
            expired: true,
        },
    );
    assert!(!sm_cached_expires_lru(10, false).expired);
    assert_eq!(expires_lru().stats().hits, 1);

    assert!(sm_once_expires(true).expired);
    assert!(!sm_once_expires(false).expired, "expired value not served");
    assert!(!sm_once_expires(true).expired, "live value served");
}

mod async_rec {
    use super::*;

    #[ttl_cached(ttl = "1h", cache = fib_cache)]
    pub async fn fib_default_async(n: u64) -> u64 {
        if n < 2 {
            n
        } else {
            Box::pin(fib_default_async(n - 1)).await + Box::pin(fib_default_async(n - 2)).await
        }
    }
}

/// Ports cached 3 `bare_cached_async_recursion_does_not_deadlock`: an async fn that awaits
/// itself for other keys, on a spawned (so `Send`) task, with a timeout.
#[test]
fn cached_async_recursion_does_not_deadlock() {
    use async_rec::*;
    let rt = tests::two_worker_runtime();
    let res = rt.block_on(async {
        let task = tokio::spawn(fib_default_async(20));
        tokio::time::timeout(secs(30), task).await
    });
    assert_eq!(res.expect("no deadlock").unwrap(), 6765);
    assert_eq!(fib_cache().len(), 21);
}

mod aliases {
    use super::*;
    use std::collections::HashMap;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    pub type MyResult<T> = Result<T, String>;
    pub type BareResult = Result<u64, String>;

    #[ttl_cached(ttl = "1h")]
    pub fn slow_double_custom_result(x: u64) -> MyResult<u64> {
        CALLS.fetch_add(1, SeqCst);
        if x == 0 {
            Err("zero".to_string())
        } else {
            Ok(x * 2)
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn slow_double_bare(x: u64) -> BareResult {
        CALLS.fetch_add(1, SeqCst);
        if x == 0 {
            Err("zero".to_string())
        } else {
            Ok(x * 2)
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn plain_hash_map(x: u64) -> HashMap<u64, u64> {
        HashMap::from([(x, x * 2)])
    }
}

/// Ports cached 3 `concurrent_cached_default_in_memory` alias cases (`MyResult<T>`,
/// `BareResult` with no type arguments) and `plain_generic_return_is_not_misclassified_as_result`.
/// Difference: cached caches the `Err` of an alias it cannot see through; ours recognises the
/// type, so neither alias caches its `Err`.
#[test]
fn cached_result_aliases_are_seen_through() {
    use aliases::*;
    let before = CALLS.load(SeqCst);
    assert!(slow_double_custom_result(0).is_err());
    assert!(slow_double_custom_result(0).is_err());
    assert!(slow_double_bare(0).is_err());
    assert!(slow_double_bare(0).is_err());
    assert_eq!(slow_double_bare(2), Ok(4));
    assert_eq!(slow_double_bare(2), Ok(4));
    assert_eq!(CALLS.load(SeqCst) - before, 5);
    assert_eq!(plain_hash_map(7).get(&7), Some(&14));
    assert_eq!(plain_hash_map(7).get(&7), Some(&14));
}

// ---------------------------------------------------------------------------------------------
// cached 0.56: examples/
// ---------------------------------------------------------------------------------------------

mod kitchen_sink {
    use super::*;

    #[ttl_cached(ttl = "1h", cache = fib_cache)]
    pub fn fib(n: u32) -> u32 {
        if n == 0 || n == 1 {
            return n;
        }
        fib(n - 1) + fib(n - 2)
    }

    #[ttl_cached(ttl = "1h", cache = flib)]
    pub fn fib_2(n: u32) -> u32 {
        if n == 0 || n == 1 {
            return n;
        }
        fib(n - 1) + fib(n - 2)
    }

    #[ttl_cached(ttl = "1h", cache = fib_specific_cache)]
    pub fn fib_specific(n: u32) -> u32 {
        if n == 0 || n == 1 {
            return n;
        }
        fib_specific(n - 1) + fib_specific(n - 2)
    }

    #[ttl_cached(ttl = "1h", capacity = 100, cache = slow_cache)]
    pub fn slow(a: u32, b: u32) -> u32 {
        a * b
    }

    #[ttl_cached(ttl = "1h", capacity = 100, key: String = format!("{}{}", a, b))]
    pub fn keyed(a: &str, b: &str) -> usize {
        a.len() + b.len()
    }

    pub static CUSTOM: AtomicUsize = AtomicUsize::new(0);

    /// No return type at all: cached `fn custom(n: u32)`.
    #[ttl_cached(ttl = "1h", cache = custom_cache)]
    pub fn custom(n: u32) {
        CUSTOM.fetch_add(1, SeqCst);
        if n == 0 {
            return;
        }
        custom(n - 1);
    }

    #[ttl_cached(ttl = "1h", cache = slow_result_cache)]
    pub fn slow_result(a: u32, b: u32) -> Result<u32, ()> {
        Ok(a * b)
    }

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(), cache = priming)]
    pub fn expires_for_priming(a: i32) -> i32 {
        a
    }
}

/// Ports cached `examples/kitchen_sink_proc_macro.rs` (and `kitchen_sink.rs`): the counters
/// it asserts for `fib`, `fib_2` (named cache `FLIB`), `fib_specific`, `slow`, `slow_result`,
/// a unit-returning recursive `custom`, `keyed`, and "refresh by priming" from another
/// thread.
#[test]
fn cached_kitchen_sink_example() {
    use kitchen_sink::*;
    fib(3);
    fib(3);
    let s = fib_cache().stats();
    assert_eq!((s.hits, s.misses), (2, 4));
    fib_2(3);
    fib_2(3);
    let s = flib().stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    fib_specific(20);
    fib_specific(20);
    let s = fib_specific_cache().stats();
    assert_eq!((s.hits, s.misses), (19, 21));
    custom(25);
    custom(25);
    assert_eq!(CUSTOM.load(SeqCst), 26);
    assert_eq!(custom_cache().len(), 26);
    slow(10, 10);
    slow(10, 10);
    let s = slow_cache().stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    let _ = slow_result(10, 10);
    let _ = slow_result(10, 10);
    let s = slow_result_cache().stats();
    assert_eq!((s.hits, s.misses), (1, 1));
    assert_eq!(keyed("ab", "c"), 3);
    assert_eq!(keyed("a", "bc"), 3, "same key `abc`");

    // refresh by priming: another thread inserts every half second
    for n in 1..6 {
        std::thread::spawn(|| priming().insert(1, 1))
            .join()
            .unwrap();
        assert_eq!(1, expires_for_priming(1));
        let s = priming().stats();
        assert_eq!((s.hits, s.misses), (n, 0));
        CLOCK.advance(millis(500));
    }
    CLOCK.advance(millis(1000));
    assert_eq!(1, expires_for_priming(1));
    let s = priming().stats();
    assert_eq!((s.hits, s.misses), (5, 1));
}

mod basic_example {
    use super::*;

    #[ttl_cached(ttl = "1h", capacity = 50, cache = slow_fn_cache)]
    pub fn slow_fn(n: u32) -> String {
        if n == 0 {
            return "done".to_string();
        }
        slow_fn(n - 1)
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn cached_sleep_secs(secs: u64) {
        tokio::time::sleep(Duration::from_millis(secs)).await; // sleep-ok: the ported example's body, 1 ms
    }
}

/// Ports cached `examples/basic_proc_macro.rs` (`#[cached(size = 50)]` recursive `slow_fn`:
/// 1 hit, 11 misses) and `examples/tokio.rs` (`#[cached] async fn` with no return type).
#[test]
fn cached_basic_and_tokio_examples() {
    use basic_example::*;
    assert_eq!(slow_fn(10), "done");
    assert_eq!(slow_fn(10), "done");
    let s = slow_fn_cache().stats();
    assert_eq!((s.hits, s.misses), (1, 11));
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        cached_sleep_secs(1).await;
        tokio::spawn(cached_sleep_secs(1)).await.unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// memoize: examples/
// ---------------------------------------------------------------------------------------------

mod memoize_examples {
    use super::*;

    pub static HELLO: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = hello_cache)]
    pub fn hello(arg: String, arg2: usize) -> bool {
        HELLO.fetch_add(1, SeqCst);
        arg.len() % 2 == arg2
    }

    pub static EMPTY: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = empty_cache)]
    pub fn hello_empty() -> bool {
        EMPTY.fetch_add(1, SeqCst);
        true
    }

    /// Deliberately neither `Clone` nor `Hash`.
    pub struct C {
        pub c: u32,
    }

    #[ttl_cached(ttl = "1h", cache = add_cache, key: (u32, u32) = (b, d))]
    pub fn add(a: u32, b: u32, c: C, d: u32) -> u32 {
        a + b + c.c + d
    }

    #[ttl_cached(ttl = "1h", key: ((i32, i32), (i32, i32)) = (_p1, _p2))]
    pub fn manhattan_distance(_p1 @ (x1, y1): (i32, i32), _p2 @ (x2, y2): (i32, i32)) -> i32 {
        (x1 - x2).abs() + (y1 - y2).abs()
    }

    #[derive(Clone, PartialEq, Eq, Hash)]
    pub enum OnlyOne {
        Value(i32),
    }

    #[ttl_cached(ttl = "1h", key: i32 = value)]
    pub fn get_value(_enum @ OnlyOne::Value(value): OnlyOne) -> i32 {
        value
    }

    #[derive(Clone)]
    pub struct Struct {}
    #[derive(Clone)]
    pub struct Error {}

    #[ttl_cached(ttl = "1h", capacity = 1024)]
    pub fn my_function(arg: &'static str) -> Result<Struct, Error> {
        let _ = arg;
        Ok(Struct {})
    }

    #[ttl_cached(ttl = "1h")]
    pub fn expensive(mut n: i32) -> i32 {
        n += 1;
        n
    }

    #[ttl_cached(ttl = "1h")]
    pub fn fib(n: u64) -> u64 {
        if n < 2 { 1 } else { fib(n - 1) + fib(n - 2) }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn fac(n: u64) -> u64 {
        if n < 2 { 1 } else { n * fac(n - 1) }
    }

    #[allow(dead_code)]
    #[derive(Debug, Clone)]
    pub struct ComplexStruct {
        pub s: String,
        pub b: bool,
        pub i: Instant,
    }

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    pub const CAPACITY: usize = 123;

    /// memoize's `#[memoize(TimeToLive: Duration::from_secs(2), Capacity: 123)]`, with the
    /// ttl and capacity as expressions.
    #[ttl_cached(ttl = Duration::from_secs(2), expiry = "fixed", capacity = CAPACITY, clock = CLOCK.clone(), cache = full)]
    pub fn hello_full(key: String) -> ComplexStruct {
        ComplexStruct {
            s: key,
            b: false,
            i: Instant::now(),
        }
    }
}

/// Ports memoize `examples/trivial.rs`, `shared.rs` and `empty.rs`: two owned arguments, a
/// zero-argument function, `memoized_size_*` as `len` and `memoized_flush_*` as `clear`; a
/// value built on one thread is a hit on another (memoize's `SharedCache`; its default is a
/// cache per thread).
#[test]
fn memoize_trivial_shared_and_empty() {
    use memoize_examples::*;
    assert!(!hello("World".to_string(), 0));
    assert!(!hello("World".to_string(), 0));
    std::thread::spawn(|| assert!(!hello("World".to_string(), 0)))
        .join()
        .unwrap();
    assert_eq!(HELLO.load(SeqCst), 1);
    assert_eq!(hello_cache().len(), 1);
    hello_cache().clear();
    assert_eq!(hello_cache().len(), 0);

    assert!(hello_empty());
    assert_eq!(empty_cache().len(), 1);
    assert!(hello_empty());
    assert_eq!(empty_cache().len(), 1);
    empty_cache().clear();
    assert_eq!(empty_cache().len(), 0);
    assert!(hello_empty());
    assert_eq!(EMPTY.load(SeqCst), 2);
}

/// Ports memoize `examples/ignore.rs` (`Ignore: a, Ignore: c`, `c: C` neither `Clone` nor
/// `Hash`): a custom key leaves those arguments out. (`add2`'s `Ignore` of a `&mut u32` is a
/// documented compile error here.)
#[test]
fn memoize_ignore_is_a_custom_key() {
    use memoize_examples::*;
    assert_eq!(add(1, 2, C { c: 3 }, 4), 10);
    assert_eq!(add(3, 2, C { c: 4 }, 4), 10);
    add_cache().clear();
    assert_eq!(add(3, 2, C { c: 4 }, 4), 13);
}

/// Ports memoize `examples/patterns.rs` (`_p1 @ (x1, y1): (i32, i32)`, and a refutable-looking
/// single-variant enum pattern): with a custom key, bound patterns work. (Without one, ours
/// rejects destructuring: documented.)
#[test]
fn memoize_patterns_with_a_custom_key() {
    use memoize_examples::*;
    assert_eq!(manhattan_distance((1, 1), (1, 3)), 2);
    assert_eq!(manhattan_distance((1, 1), (1, 3)), 2);
    assert_eq!(manhattan_distance((0, 0), (3, 4)), 7);
    assert_eq!(get_value(OnlyOne::Value(0)), 0);
    assert_eq!(get_value(OnlyOne::Value(5)), 5);
}

/// Ports memoize `examples/issue30.rs`, `issue32.rs`, `recursive.rs` and `full_featured.rs`:
/// a `&'static str` argument, a `mut` argument, recursive functions used as `fn` values in
/// `map`, and `TimeToLive: 2s, Capacity: 123` (fixed expiry; flush is `clear`).
#[test]
fn memoize_issue_shapes_recursion_and_full_featured() {
    use memoize_examples::*;
    let s = "Hello World";
    assert!(my_function(s).is_ok());
    assert!(my_function(s).is_ok());
    assert_eq!(expensive(7), 8);
    assert_eq!(expensive(7), 8);
    let fibs = (0..21).map(fib).collect::<Vec<u64>>();
    assert_eq!(fibs[20], 10946);
    let facs = (0..21).map(fac).collect::<Vec<u64>>();
    assert_eq!(facs[20], 2_432_902_008_176_640_000);

    let abc = hello_full("ABC".to_string());
    let def = hello_full("DEF".to_string());
    assert_eq!(hello_full("ABC".to_string()).i, abc.i);
    CLOCK.advance(millis(2100));
    assert_ne!(hello_full("ABC".to_string()).i, abc.i);
    assert_ne!(hello_full("DEF".to_string()).i, def.i);
    full().clear();
    let efg = hello_full("EFG".to_string());
    assert_eq!(hello_full("EFG".to_string()).i, efg.i);
}

// ---------------------------------------------------------------------------------------------
// Shapes from public code using #[cached] / #[once]
// ---------------------------------------------------------------------------------------------

mod anyhowish {
    /// anyhow's shape: `type Result<T, E = Error> = core::result::Result<T, E>`.
    #[derive(Debug)]
    #[allow(dead_code)]
    pub struct Error(pub String);
    impl<E: std::error::Error> From<E> for Error {
        fn from(e: E) -> Self {
            Error(e.to_string())
        }
    }
    pub type Result<T, E = Error> = core::result::Result<T, E>;
}

mod user_shapes {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);
    /// The sync functions' calls: apart, since `user_async_shapes` counts `CALLS` while
    /// `user_sync_shapes` may run in parallel.
    pub static SYNC_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// `#[cached(time = 1800, sync_writes = "default", result = true)] pub(crate) async fn
    /// new(url: String) -> Result<Landscape>` with an anyhow-style `Result` alias whose error
    /// has a default, and `?` converting errors in the body.
    #[ttl_cached(ttl = "30m", expiry = "fixed", cache = landscapes)]
    pub(crate) async fn new(url: String) -> anyhowish::Result<u16> {
        CALLS.fetch_add(1, SeqCst);
        let port: u16 = url.parse()?;
        Ok(port)
    }

    /// `#[cached(time = 3600, result = true)] pub async fn list() -> Result<Vec<Arc<dyn Model>>>`.
    pub trait Model: Send + Sync {
        fn name(&self) -> String;
    }
    pub struct Gpt;
    impl Model for Gpt {
        fn name(&self) -> String {
            "gpt".into()
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn list() -> anyhowish::Result<Vec<Arc<dyn Model>>> {
        CALLS.fetch_add(1, SeqCst);
        Ok(vec![Arc::new(Gpt)])
    }

    /// `async fn get_lastfm(http: &Client, u: String) -> Result<.., Box<dyn std::error::Error>>`
    /// keyed on `u` only: a non-`Send` error, a borrowed non-`Hash` client.
    pub struct Client {
        pub base: String,
    }

    #[ttl_cached(ttl = "1d", key: String = u.clone())]
    pub async fn get_lastfm(
        http: &Client,
        u: String,
    ) -> Result<String, Box<dyn std::error::Error>> {
        CALLS.fetch_add(1, SeqCst);
        if u.is_empty() {
            return Err("no user".into());
        }
        Ok(format!("{}/{u}", http.base))
    }

    /// `#[cached(time = 300, result = true, key = "bool", convert = r#"{ true }"#)] pub async fn
    /// get_demos(config_maps: &Api<ConfigMap>) -> Result<Vec<(String, String)>, ServiceError>`.
    #[derive(Debug, Clone, PartialEq)]
    pub enum ServiceError {
        Unavailable(String),
    }

    #[ttl_cached(ttl = "5m", key: bool = true)]
    pub async fn get_demos(
        config_maps: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, ServiceError> {
        CALLS.fetch_add(1, SeqCst);
        if config_maps.is_empty() {
            return Err(ServiceError::Unavailable("none".into()));
        }
        Ok(config_maps
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect())
    }

    /// `#[cached(result)] pub fn try_get_integrity_files(timeout: Option<u64>) ->
    /// anyhow::Result<Vec<IntegrityFile>>`.
    #[ttl_cached(ttl = "1h")]
    pub fn try_get_integrity_files(timeout: Option<u64>) -> anyhowish::Result<Vec<PathBuf>> {
        SYNC_CALLS.fetch_add(1, SeqCst);
        match timeout {
            Some(0) => Err(anyhowish::Error("timed out".into())),
            _ => Ok(vec![PathBuf::from("data/level0")]),
        }
    }

    /// `#[cached(result = true, key = "String", convert = r#"{ format!("{:?}", task.path) }"#)]
    /// pub fn cached_build_module(context: &Arc<Context>, task: Task) -> Result<(Module,
    /// ModuleDeps, Task)>`: the key reads a field of an argument the body then consumes.
    pub struct Context {
        pub root: String,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct Task {
        pub path: PathBuf,
    }

    #[ttl_cached(ttl = "1h", key: String = format!("{:?}", task.path))]
    pub fn cached_build_module(
        context: &Arc<Context>,
        task: Task,
    ) -> anyhowish::Result<(String, Task)> {
        SYNC_CALLS.fetch_add(1, SeqCst);
        let module = format!("{}/{}", context.root, task.path.display());
        Ok((module, task))
    }

    /// `#[inline(always)] #[cached(key = "u128", convert = r##"{ cache_nonce }"##, time = 60)]
    /// fn element(cache_nonce: u128) -> Markup`: another attribute before ours.
    #[inline(always)]
    #[ttl_cached(ttl = "60s", expiry = "fixed", key: u128 = cache_nonce)]
    pub fn element(cache_nonce: u128) -> String {
        SYNC_CALLS.fetch_add(1, SeqCst);
        format!("<div>{cache_nonce}</div>")
    }

    /// `#[cached(ty = "SizedCache<String, bool>", create = "{ SizedCache::with_size(10000) }",
    /// convert = "{ design.to_string() }")] fn is_possible(towels: &HashSet<String>,
    /// towel_max_len: usize, design: &str) -> bool` (Advent of Code): recursion through a
    /// borrowed non-`Hash` argument left out of the key.
    #[ttl_cached(ttl = "1h", capacity = 10000, key: String = design.to_string())]
    pub fn is_possible(towels: &HashSet<String>, towel_max_len: usize, design: &str) -> bool {
        if design.is_empty() {
            return true;
        }
        for l in (1..=towel_max_len.min(design.len())).rev() {
            if towels.contains(&design[..l]) && is_possible(towels, towel_max_len, &design[l..]) {
                return true;
            }
        }
        false
    }

    /// `#[once(time = 30)] fn dates_end_calc(start_date: &DateTime<Utc>, end_date:
    /// &DateTime<Utc>) -> Dates` declared inside another function's body.
    pub fn dates_end(start: &Duration, end: &Duration) -> (Duration, usize) {
        #[derive(Clone)]
        struct Dates {
            left: Duration,
            n: usize,
        }
        static INNER: AtomicUsize = AtomicUsize::new(0);
        #[ttl_cached(ttl = "30s", expiry = "fixed", key: () = ())]
        fn dates_end_calc(start_date: &Duration, end_date: &Duration) -> Dates {
            Dates {
                left: end_date.saturating_sub(*start_date),
                n: INNER.fetch_add(1, SeqCst),
            }
        }
        let d = dates_end_calc(start, end);
        (d.left, d.n)
    }

    /// `#[once(time = "60")] pub async fn index(State(state): State<AppState>) ->
    /// IndexTemplate` (an axum handler: a destructuring extractor pattern).
    pub struct State<T>(pub T);
    #[derive(Clone)]
    pub struct AppState {
        pub balance: u64,
    }

    #[ttl_cached(ttl = "60s", expiry = "fixed", key: () = ())]
    pub async fn index(State(state): State<AppState>) -> String {
        format!("balance {}", state.balance)
    }

    /// `#[cached(time = 60, result = true)] async fn get_coverage(service: Service, name:
    /// String) -> Res<u64>` with an enum argument and `Res<T>` an alias over a boxed error.
    #[derive(Debug, Hash, Clone, PartialEq, Eq)]
    pub enum Service {
        GitHub,
        GitLab,
    }
    pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

    #[ttl_cached(ttl = "60s", expiry = "fixed")]
    pub async fn get_coverage(service: Service, name: String) -> Res<u64> {
        CALLS.fetch_add(1, SeqCst);
        if name.is_empty() {
            return Err("empty".into());
        }
        Ok(match service {
            Service::GitHub => 90,
            Service::GitLab => 80,
        })
    }
}

/// Ports async user shapes: an anyhow-style `Result<T, E = Error>` alias with `?` (cassie,
/// landscape2), `Result<Vec<Arc<dyn Model>>>` with no arguments, a `Box<dyn Error>` (not
/// `Send`) error with a borrowed client left out of the key (lastfm), `key = "bool"` with a
/// borrowed argument (get_demos), an enum argument with a `Res<T>` alias (get_coverage), and
/// an axum-style destructuring extractor with `#[once]` (index).
#[test]
fn user_async_shapes() {
    use user_shapes::*;
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        let before = CALLS.load(SeqCst);
        assert_eq!(new("8080".into()).await.unwrap(), 8080);
        assert_eq!(
            tokio::spawn(new("8080".into())).await.unwrap().unwrap(),
            8080
        );
        assert!(new("x".into()).await.is_err());
        assert!(new("x".into()).await.is_err());
        assert_eq!(CALLS.load(SeqCst) - before, 3);
        assert_eq!(landscapes().len(), 1);

        let models = tokio::spawn(list()).await.unwrap().unwrap();
        assert_eq!(models[0].name(), "gpt");
        assert!(Arc::ptr_eq(&models[0], &list().await.unwrap()[0]));

        let http = Client {
            base: "https://ws".into(),
        };
        assert_eq!(
            get_lastfm(&http, "bob".into()).await.unwrap(),
            "https://ws/bob"
        );
        let other = Client {
            base: "https://other".into(),
        };
        assert_eq!(
            get_lastfm(&other, "bob".into()).await.unwrap(),
            "https://ws/bob"
        );
        assert!(get_lastfm(&http, String::new()).await.is_err());

        assert!(get_demos(&[]).await.is_err());
        let demos = get_demos(&[("a", "b")]).await.unwrap();
        assert_eq!(get_demos(&[("c", "d")]).await.unwrap(), demos);

        let github = tokio::spawn(get_coverage(Service::GitHub, "x".into()));
        assert_eq!(github.await.unwrap().unwrap(), 90);
        assert_eq!(get_coverage(Service::GitLab, "x".into()).await.unwrap(), 80);
        assert!(get_coverage(Service::GitLab, String::new()).await.is_err());

        let page = index(State(AppState { balance: 1 })).await;
        assert_eq!(index(State(AppState { balance: 2 })).await, page);
        assert_eq!(
            tokio::spawn(index(State(AppState { balance: 3 })))
                .await
                .unwrap(),
            page
        );
    });
}

/// Ports sync user shapes: `Option<u64>` argument with an anyhow-style result, a key read
/// from a field of an argument the body consumes (`cached_build_module`), `#[inline(always)]`
/// before the attribute, a recursive solver keyed on one borrowed argument of three
/// (`is_possible`), and `#[once]` on a function declared inside another function.
#[test]
fn user_sync_shapes() {
    use user_shapes::*;
    assert!(try_get_integrity_files(Some(0)).is_err());
    assert_eq!(
        try_get_integrity_files(None).unwrap(),
        vec![PathBuf::from("data/level0")]
    );
    assert_eq!(try_get_integrity_files(Some(5)).unwrap().len(), 1);

    let ctx = Arc::new(Context {
        root: "/src".into(),
    });
    let task = Task {
        path: PathBuf::from("a.rs"),
    };
    let (module, back) = cached_build_module(&ctx, task.clone()).unwrap();
    assert_eq!(module, "/src/a.rs");
    assert_eq!(back, task);
    assert_eq!(cached_build_module(&ctx, task.clone()).unwrap().0, module);

    assert_eq!(element(7), "<div>7</div>");
    assert_eq!(element(7), "<div>7</div>");

    let towels: HashSet<String> = ["r", "wr", "b", "g", "bwu", "rb", "gb", "br"]
        .into_iter()
        .map(String::from)
        .collect();
    assert!(is_possible(&towels, 3, "brwrr"));
    assert!(is_possible(&towels, 3, "bggr"));
    assert!(!is_possible(&towels, 3, "ubwu"));
    assert!(!is_possible(&towels, 3, "bbrgwb"));

    let (left, n) = dates_end(&secs(10), &secs(25));
    assert_eq!(left, secs(15));
    assert_eq!(
        dates_end(&secs(0), &secs(99)),
        (left, n),
        "#[once]: first value"
    );
}

mod impls {
    use super::*;
    use std::marker::PhantomData;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// `impl Service { #[cached(time = 600)] pub fn fetch(id: u32) -> Result<Record> }` plus
    /// a generic impl and a trait with an async default method.
    pub struct Repo<T>(PhantomData<T>);

    pub trait Named {
        const NAME: &'static str;
    }
    pub struct Users;
    pub struct Orders;
    impl Named for Users {
        const NAME: &'static str = "users";
    }
    impl Named for Orders {
        const NAME: &'static str = "orders";
    }

    impl<T: Named + 'static> Repo<T> {
        #[ttl_cached(ttl = "10m", cache = Self::rows)]
        pub fn fetch(id: u32) -> Result<String, String> {
            CALLS.fetch_add(1, SeqCst);
            if id == 0 {
                return Err(format!("{}: no id 0", T::NAME));
            }
            Ok(format!("{}#{id}", T::NAME))
        }

        #[ttl_cached(ttl = "10m")]
        pub async fn fetch_async(id: u32) -> Option<String> {
            CALLS.fetch_add(1, SeqCst);
            (id != 0).then(|| format!("{}@{id}", T::NAME))
        }
    }

    pub trait Lookup {
        const PREFIX: &'static str;

        #[ttl_cached(ttl = "1h")]
        async fn resolve(name: &str) -> String {
            CALLS.fetch_add(1, SeqCst);
            format!("{}{name}", Self::PREFIX)
        }
    }
    impl Lookup for Users {
        const PREFIX: &'static str = "u:";
    }
    impl Lookup for Orders {
        const PREFIX: &'static str = "o:";
    }
}

/// Ports `#[cached(time = ..)]` on associated functions of generic impls and (async)
/// trait default methods: one cache per instantiation / implementor, `Result`/`Option`
/// returns, the `Self::name` handle.
#[test]
fn user_generic_impls_and_trait_defaults() {
    use impls::*;
    assert_eq!(Repo::<Users>::fetch(1).unwrap(), "users#1");
    assert_eq!(Repo::<Orders>::fetch(1).unwrap(), "orders#1");
    assert_eq!(Repo::<Users>::fetch(1).unwrap(), "users#1");
    assert!(Repo::<Users>::fetch(0).is_err());
    assert_eq!(Repo::<Users>::rows().len(), 1);
    assert_eq!(Repo::<Orders>::rows().stats().misses, 1);
    let rt = tests::two_worker_runtime();
    rt.block_on(async {
        assert_eq!(Repo::<Users>::fetch_async(2).await.unwrap(), "users@2");
        assert_eq!(Repo::<Orders>::fetch_async(2).await.unwrap(), "orders@2");
        assert_eq!(Repo::<Orders>::fetch_async(0).await, None);
        assert_eq!(Users::resolve("x").await, "u:x");
        assert_eq!(Orders::resolve("x").await, "o:x");
        assert_eq!(Users::resolve("x").await, "u:x");
    });
}

mod many_args {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Eight parameters of every borrowed and owned kind.
    #[allow(clippy::too_many_arguments)]
    #[ttl_cached(ttl = "1h", cache = eight)]
    pub fn eight_kinds(
        tenant: &str,
        model: String,
        region: Option<&str>,
        body: &[u8],
        path: &Path,
        n: u64,
        flag: bool,
        pair: (u8, u8),
    ) -> String {
        CALLS.fetch_add(1, SeqCst);
        format!(
            "{tenant}|{model}|{region:?}|{}|{}|{n}|{flag}|{pair:?}",
            body.len(),
            path.display()
        )
    }

    /// `&String`, `&Vec<u8>`, `&u32`, `&[String]` and an explicit lifetime with a `where`.
    #[ttl_cached(ttl = "1h", cache = refs)]
    pub fn borrowed_refs<'a>(s: &'a String, v: &Vec<u8>, n: &u32, names: &[String]) -> usize
    where
        'a: 'a,
    {
        CALLS.fetch_add(1, SeqCst);
        s.len() + v.len() + *n as usize + names.len()
    }

    /// Twelve parameters with a custom key (peers accept up to 12 without one).
    #[allow(clippy::too_many_arguments)]
    #[ttl_cached(ttl = "1h", key: [u8; 12] = [a, b, c, d, e, f, g, h, i, j, k, l])]
    pub fn twelve(
        a: u8,
        b: u8,
        c: u8,
        d: u8,
        e: u8,
        f: u8,
        g: u8,
        h: u8,
        i: u8,
        j: u8,
        k: u8,
        l: u8,
    ) -> u32 {
        [a, b, c, d, e, f, g, h, i, j, k, l]
            .iter()
            .map(|x| u32::from(*x))
            .sum()
    }
}

/// Ports many-argument and borrowed-argument shapes: each argument is part of the key, an
/// argument differing in any one position misses, and references key by their owned form.
#[test]
fn user_many_and_borrowed_arguments() {
    use many_args::*;
    let call = |tenant, region, n| {
        eight_kinds(
            tenant,
            "m".into(),
            region,
            b"xyz",
            Path::new("/p"),
            n,
            true,
            (1, 2),
        )
    };
    let a = call("t", Some("eu"), 1);
    assert_eq!(call("t", Some("eu"), 1), a);
    assert_ne!(call("t", None, 1), a);
    assert_ne!(call("u", Some("eu"), 1), a);
    assert_ne!(call("t", Some("eu"), 2), a);
    assert_eq!(eight().stats().hits, 1);
    assert_eq!(eight().len(), 4);

    let s = String::from("ab");
    let names = vec!["x".to_string()];
    assert_eq!(borrowed_refs(&s, &vec![1, 2], &3, &names), 8);
    assert_eq!(borrowed_refs(&s, &vec![1, 2], &3, &names), 8);
    assert_eq!(borrowed_refs(&s, &vec![1, 2], &4, &names), 9);
    assert_eq!(refs().stats().hits, 1);

    assert_eq!(twelve(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), 12);
}

mod threads {
    use super::*;

    pub static BUILT: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = per_host)]
    pub fn client_for(host: &str) -> Arc<String> {
        BUILT.fetch_add(1, SeqCst);
        Arc::new(format!("client:{host}"))
    }
}

/// Ports "functions used from many threads" (an HTTP client per host, cached's and
/// memoize's `SharedCache` use): 8 threads × 2,000 calls over 50 hosts build each client
/// once and all see the same `Arc`.
#[test]
fn user_many_threads_build_each_key_once() {
    use threads::*;
    let hosts: Vec<String> = (0..50).map(|i| format!("host{i}.example")).collect();
    let barrier = Barrier::new(8);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (hosts, barrier) = (&hosts, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..2000 {
                    let h = &hosts[(i * 7 + t) % hosts.len()];
                    let c = client_for(h);
                    assert_eq!(*c, format!("client:{h}"));
                }
            });
        }
    });
    assert_eq!(BUILT.load(SeqCst), 50);
    assert_eq!(per_host().len(), 50);
    let s = per_host().stats();
    assert_eq!(s.hits + s.misses, 16_000);
    let first = client_for("host0.example");
    assert!(Arc::ptr_eq(&first, &client_for("host0.example")));
}

mod runtime_ttl {
    use super::*;

    /// memoize's `TimeToLive: chrono::Duration::hours(3).to_std().unwrap()`: a ttl computed at
    /// run time, once.
    pub fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = hours(3), expiry = "fixed", sweep = "5m", clock = CLOCK.clone(), cache = rates)]
    pub fn rate(currency: &str) -> u32 {
        currency.len() as u32
    }
}

/// Ports memoize's `TimeToLive: chrono::Duration::hours(3).to_std().unwrap()` (a runtime
/// expression) with a sweep: the value lives three hours.
#[test]
fn memoize_runtime_time_to_live_expression() {
    use runtime_ttl::*;
    rate("EUR");
    CLOCK.advance(Duration::from_secs(3 * 3600 - 1));
    rate("EUR");
    assert_eq!(rates().stats().hits, 1);
    CLOCK.advance(secs(1));
    rate("EUR");
    assert_eq!(rates().stats().misses, 2);
}

mod panics {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = parsed)]
    pub fn parse(text: &str) -> u32 {
        CALLS.fetch_add(1, SeqCst);
        text.parse().expect("a number")
    }

    #[ttl_cached(ttl = "1h", cache = secrets)]
    pub fn client(api_key: &str) -> String {
        if api_key.ends_with("loop") {
            return client(api_key);
        }
        format!("client-{}", api_key.len())
    }
}

/// Ports the failure users hit with `cached`'s `Mutex` store (a panicking body poisons it and
/// every later call panics) and `memoize`'s `RefCell`: here a panic leaves the cache usable,
/// caches nothing, and the key is retried.
#[test]
fn a_panicking_body_does_not_poison_the_cache() {
    use panics::*;
    let before = CALLS.load(SeqCst);
    assert!(std::panic::catch_unwind(|| parse("x")).is_err());
    assert!(std::panic::catch_unwind(|| parse("x")).is_err());
    assert_eq!(parse("7"), 7);
    assert_eq!(parse("7"), 7);
    assert_eq!(CALLS.load(SeqCst) - before, 3);
    assert_eq!(parsed().len(), 1);
}

/// Ports recursion onto the same key (memoize and cached bare recursion hang or overflow):
/// ours panics with "re-entrant call", and neither that message nor the handle's `Debug`
/// shows the key (an API key).
#[test]
fn reentry_and_debug_never_show_the_key() {
    use panics::*;
    let secret = "sk-live-5ecret-loop";
    let panic = std::panic::catch_unwind(|| client(secret)).expect_err("re-entrant call");
    let message = tests::panic_message(&*panic).to_string();
    assert!(message.contains("re-entrant call"), "{message}");
    assert!(
        !message.contains("5ecret"),
        "key in the panic message: {message}"
    );
    client("sk-live-5ecret-ok");
    let debug = format!("{:?}", secrets());
    assert!(!debug.contains("5ecret"), "key in Debug: {debug}");
    assert_eq!(client("sk-live-5ecret-ok"), "client-17");
}
