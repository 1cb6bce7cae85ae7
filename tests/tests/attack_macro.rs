//! Adversarial behaviour tests of `#[ttl_cached]` (attack-2): shapes real users write that the
//! other macro tests do not cover. Time goes through a `ManualClock` passed with `clock = ...`;
//! nothing sleeps. Each test asserts what the function would do without the attribute (or what
//! the README promises), so each can fail.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{LazyLock, mpsc};
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Runs `f` on a thread of its own; `None` if it has not finished within 20 s (a hang).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).ok()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The registry: the map is "named after the function's path". Two types' methods of one name
// in one module must not be listed under one name (a Prometheus export of `caches()` as in the
// README would emit duplicate series).

mod registry {
    use super::*;

    pub struct Users;
    pub struct Orders;

    impl Users {
        #[ttl_cached(ttl = "1h")]
        pub fn get(id: u32) -> u32 {
            id
        }
    }

    impl Orders {
        #[ttl_cached(ttl = "1h")]
        pub fn get(id: u32) -> u32 {
            id + 1
        }
    }
}

#[test]
fn same_named_methods_of_two_types_have_distinct_registry_names() {
    assert_eq!(registry::Users::get(1), 1);
    assert_eq!(registry::Orders::get(1), 2);
    assert_eq!(registry::Orders::get(2), 3);
    let listed: Vec<(&'static str, usize)> = cache_core::caches()
        .iter()
        .filter(|c| c.name().starts_with("attack_macro::registry"))
        .map(|c| (c.name(), c.len()))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_ne!(
        listed[0].0, listed[1].0,
        "two different caches under one name: {listed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Re-entrance through another cached function: A's body calls B, whose body calls A with the
// same key, on one thread. It must panic with a message (not hang), never show the key, and
// leave both caches usable.

mod cycle {
    use super::*;

    pub static CLOSED: AtomicBool = AtomicBool::new(true);

    #[ttl_cached(ttl = "1h")]
    pub fn tenant(api_key: &str) -> String {
        if CLOSED.load(SeqCst) {
            plan(api_key)
        } else {
            format!("tenant:{}", api_key.len())
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn plan(api_key: &str) -> String {
        tenant(api_key) + "+plan"
    }
}

#[test]
fn reentry_through_another_cached_fn_panics_and_leaves_both_caches_usable() {
    let outcome =
        within(|| catch_unwind(|| cycle::tenant("sk-live-SECRET-1")).map_err(|p| panic_text(&*p)))
            .expect("A -> B -> A for one key on one thread hangs");
    let message = outcome.expect_err("A -> B -> A for one key must panic");
    assert!(message.contains("re-entrant"), "{message}");
    assert!(!message.contains("SECRET"), "the key leaks: {message}");
    cycle::CLOSED.store(false, SeqCst);
    assert_eq!(
        within(|| cycle::tenant("sk-live-SECRET-1")).expect("hangs after the panic"),
        "tenant:16"
    );
    assert_eq!(
        within(|| cycle::plan("sk-live-SECRET-1")).expect("hangs after the panic"),
        "tenant:16+plan"
    );
}

mod async_cycle {
    use super::*;

    pub static CLOSED: AtomicBool = AtomicBool::new(true);

    #[ttl_cached(ttl = "1h")]
    pub async fn session(api_key: &str) -> String {
        if CLOSED.load(SeqCst) {
            Box::pin(profile(api_key)).await
        } else {
            format!("session:{}", api_key.len())
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn profile(api_key: &str) -> String {
        Box::pin(session(api_key)).await + "+profile"
    }
}

#[test]
fn async_reentry_through_another_cached_fn_panics_and_leaves_both_caches_usable() {
    let outcome = within(|| {
        let rt = runtime();
        catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async_cycle::session("sk-live-SECRET-2"))
        }))
        .map_err(|p| panic_text(&*p))
    })
    .expect("async A -> B -> A for one key on one task hangs");
    let message = outcome.expect_err("async A -> B -> A for one key must panic");
    assert!(message.contains("re-entrant"), "{message}");
    assert!(!message.contains("SECRET"), "the key leaks: {message}");
    async_cycle::CLOSED.store(false, SeqCst);
    let after = within(|| {
        let rt = runtime();
        (
            rt.block_on(async_cycle::session("sk-live-SECRET-2")),
            rt.block_on(async_cycle::profile("sk-live-SECRET-2")),
        )
    })
    .expect("hangs after the panic");
    assert_eq!(after.0, "session:16");
    assert_eq!(after.1, "session:16+profile");
}

// ---------------------------------------------------------------------------------------------
// A panicking async body: the next call runs it again; a task that waited for it makes its own
// attempt.

mod async_panics {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = fragile_cache)]
    pub async fn fragile(key: &str) -> usize {
        let run = RUNS.fetch_add(1, SeqCst) + 1;
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        if run == 1 {
            panic!("first run fails");
        }
        run + key.len()
    }
}

#[test]
fn a_panicking_async_body_is_retried_by_its_waiter_and_the_next_call() {
    let rt = runtime();
    let (leader, waiter) = rt.block_on(async {
        let leader = tokio::spawn(async_panics::fragile("k"));
        tokio::task::yield_now().await;
        let waiter = tokio::spawn(async_panics::fragile("k"));
        (leader.await, waiter.await)
    });
    assert!(leader.unwrap_err().is_panic());
    assert_eq!(waiter.unwrap(), 3, "the waiter's own attempt");
    assert_eq!(rt.block_on(async_panics::fragile("k")), 3, "cached now");
    assert_eq!(async_panics::RUNS.load(SeqCst), 2);
    assert_eq!(async_panics::fragile_cache().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// `stale_if_error` and `refresh_after` for every kind of return, sync and async: a `Result`
// whose error is `Clone` (shared with waiters), one whose error is not (`io::Error`), and an
// `Option`. Each goes through a different map method, so each is checked.

macro_rules! freshness_module {
    ($module:ident, $($async:ident)?, $ret:ty, $ok:expr, $err:expr) => {
        mod $module {
            freshness_module!(@one stale, (ttl = "1m", stale_if_error = "10m"), $($async)?, $ret, $ok, $err);
            freshness_module!(@one fresh, (ttl = "1h", refresh_after = "1m"), $($async)?, $ret, $ok, $err);
        }
    };
    (@one $name:ident, ($($option:tt)*), $($async:ident)?, $ret:ty, $ok:expr, $err:expr) => {
        pub mod $name {
            use super::super::*;

            pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
            pub static UP: AtomicBool = AtomicBool::new(true);
            pub static RUNS: AtomicUsize = AtomicUsize::new(0);

            #[ttl_cached($($option)*, clock = CLOCK.clone(), cache = handle)]
            pub $($async)? fn call(key: &str) -> $ret {
                let _ = key;
                let run = RUNS.fetch_add(1, SeqCst);
                if UP.load(SeqCst) { $ok(run) } else { $err }
            }
        }
    };
}

fn io_down() -> std::io::Error {
    std::io::Error::other("down")
}

freshness_module!(sync_io, , std::io::Result<usize>, Ok, Err(io_down()));
freshness_module!(sync_opt, , Option<usize>, Some, None);
freshness_module!(sync_shared, , Result<usize, String>, Ok, Err("down".to_owned()));
freshness_module!(async_io, async, std::io::Result<usize>, Ok, Err(io_down()));
freshness_module!(async_opt, async, Option<usize>, Some, None);
freshness_module!(async_shared, async, Result<usize, String>, Ok, Err("down".to_owned()));

/// What a call returned, as text: the value, or "failed".
fn shown<T: std::fmt::Debug, E>(r: Result<T, E>) -> String {
    r.map_or_else(|_| "failed".to_owned(), |v| format!("{v:?}"))
}

fn opt<T: std::fmt::Debug>(o: Option<T>) -> String {
    shown(o.ok_or(()))
}

/// Stale: built at 0; down; 5 min after it expired the stale value; 11 min after, the failure;
/// up again, a new value.
macro_rules! stale_test {
    ($name:ident, $module:ident, $call:expr, $show:expr) => {
        #[test]
        fn $name() {
            use $module::stale::*;
            let ask = || $show($call(call("k")));
            assert_eq!(ask(), "0");
            UP.store(false, SeqCst);
            CLOCK.advance(Duration::from_secs(5 * 60));
            assert_eq!(ask(), "0", "down, within the window: the last value");
            CLOCK.advance(Duration::from_secs(6 * 60));
            assert_eq!(ask(), "failed", "past the window: the failure");
            UP.store(true, SeqCst);
            assert_ne!(ask(), "0");
            assert!(handle().stats().stale_served >= 1);
        }
    };
}

/// Refresh: built at 0; 61 s later, down: the refresh fails and the caller gets the kept
/// value (cache-core's documented outcome); up: the next call refreshes.
macro_rules! refresh_test {
    ($name:ident, $module:ident, $call:expr, $show:expr) => {
        #[test]
        fn $name() {
            use $module::fresh::*;
            let ask = || $show($call(call("k")));
            assert_eq!(ask(), "0");
            CLOCK.advance(Duration::from_secs(61));
            UP.store(false, SeqCst);
            assert_eq!(ask(), "0", "a failed refresh keeps and returns the value");
            assert_eq!(handle().stats().refresh_failures, 1);
            UP.store(true, SeqCst);
            let refreshed = ask();
            assert_ne!(refreshed, "0", "the next call refreshes");
            assert_ne!(refreshed, "failed");
            assert_eq!(handle().stats().refreshes, 1);
            assert_eq!(ask(), refreshed, "then it is a hit");
        }
    };
}

fn sync<T>(value: T) -> T {
    value
}

fn block<F: std::future::Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

stale_test!(stale_if_error_sync_io_error, sync_io, sync, shown);
stale_test!(stale_if_error_sync_option, sync_opt, sync, opt);
stale_test!(stale_if_error_sync_clone_error, sync_shared, sync, shown);
stale_test!(stale_if_error_async_io_error, async_io, block, shown);
stale_test!(stale_if_error_async_option, async_opt, block, opt);
stale_test!(stale_if_error_async_clone_error, async_shared, block, shown);
refresh_test!(refresh_failure_sync_io_error, sync_io, sync, shown);
refresh_test!(refresh_failure_sync_option, sync_opt, sync, opt);
refresh_test!(refresh_failure_sync_clone_error, sync_shared, sync, shown);
refresh_test!(refresh_failure_async_io_error, async_io, block, shown);
refresh_test!(refresh_failure_async_option, async_opt, block, opt);
refresh_test!(
    refresh_failure_async_clone_error,
    async_shared,
    block,
    shown
);

// ---------------------------------------------------------------------------------------------
// `Result` and `Option` through associated types and generic impls.

mod assoc {
    use super::*;

    pub trait Api {
        type Reply;
        type Lookup;
    }

    pub struct Http;

    impl Api for Http {
        type Reply = Result<u32, String>;
        type Lookup = Option<u32>;
    }

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn call(path: &str) -> <Http as Api>::Reply {
        RUNS.fetch_add(1, SeqCst);
        if path.is_empty() {
            return Err("empty".into());
        }
        Ok(path.len() as u32)
    }

    pub static FINDS: AtomicUsize = AtomicUsize::new(0);

    pub struct Repo<C>(PhantomData<C>);

    impl<C> Repo<C> {
        #[ttl_cached(ttl = "1h")]
        pub async fn find(id: u32) -> <Http as Api>::Lookup {
            FINDS.fetch_add(1, SeqCst);
            (id != 0).then_some(id * 10)
        }
    }
}

#[test]
fn a_result_through_an_associated_type_caches_only_ok() {
    use assoc::*;
    assert_eq!(call(""), Err("empty".into()));
    assert_eq!(call(""), Err("empty".into()));
    assert_eq!(RUNS.load(SeqCst), 2, "an Err was cached");
    assert_eq!(call("ab"), Ok(2));
    assert_eq!(call("ab"), Ok(2));
    assert_eq!(RUNS.load(SeqCst), 3);
}

#[test]
fn an_option_through_an_associated_type_in_a_generic_impl_caches_only_some() {
    use assoc::*;
    let rt = runtime();
    assert_eq!(rt.block_on(Repo::<u8>::find(0)), None);
    assert_eq!(rt.block_on(Repo::<u8>::find(0)), None);
    assert_eq!(FINDS.load(SeqCst), 2, "a None was cached");
    assert_eq!(rt.block_on(Repo::<u8>::find(2)), Some(20));
    assert_eq!(rt.block_on(Repo::<u8>::find(2)), Some(20));
    assert_eq!(rt.block_on(Repo::<String>::find(2)), Some(20));
    assert_eq!(FINDS.load(SeqCst), 4, "one cache per instantiation");
}

// ---------------------------------------------------------------------------------------------
// Keys: borrowed forms that look alike must stay apart.

mod keys {
    use super::*;

    #[ttl_cached(ttl = "1h")]
    pub fn describe(tag: Option<&str>, body: Option<&[u8]>, n: u8) -> String {
        format!("{tag:?}/{body:?}/{n}")
    }

    #[ttl_cached(ttl = "1h")]
    pub fn join(a: &str, b: &str, parts: &[String]) -> String {
        format!("{a}|{b}|{}", parts.join(","))
    }

    #[ttl_cached(ttl = "1h")]
    pub fn spelled_as_dir(path: &Path) -> bool {
        path.as_os_str().to_string_lossy().ends_with('/')
    }

    #[ttl_cached(ttl = "1h")]
    pub fn spelling(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }
}

#[test]
fn optional_borrows_none_and_empty_are_different_keys() {
    use keys::describe;
    let empty: &[u8] = &[];
    assert_eq!(describe(None, None, 0), "None/None/0");
    assert_eq!(describe(Some(""), None, 0), "Some(\"\")/None/0");
    assert_eq!(describe(None, Some(empty), 0), "None/Some([])/0");
    assert_eq!(describe(Some(""), Some(empty), 0), "Some(\"\")/Some([])/0");
    assert_eq!(describe(Some(""), Some(empty), 1), "Some(\"\")/Some([])/1");
    assert_eq!(describe(None, None, 0), "None/None/0");
}

#[test]
fn several_borrowed_parameters_do_not_run_together() {
    use keys::join;
    let ab = ["a".to_owned(), "b".to_owned()];
    let joined = ["a,b".to_owned()];
    assert_eq!(join("ab", "c", &ab), "ab|c|a,b");
    assert_eq!(join("a", "bc", &ab), "a|bc|a,b");
    assert_eq!(join("a", "bc", &joined), "a|bc|a,b");
    assert_eq!(join("", "abc", &[]), "|abc|");
    assert_eq!(join("abc", "", &[]), "abc||");
}

/// `&Path` keys by `PathBuf`, whose `Eq` compares components: `logs` and `logs/`, `a//b` and
/// `a/b` are one key, as the README says (take `&OsStr` or `&str` to tell spellings apart).
#[test]
fn path_keys_compare_by_components() {
    use keys::*;
    assert!(!spelled_as_dir(Path::new("logs")));
    assert!(!spelled_as_dir(Path::new("logs/")), "one key with `logs`");
    assert_eq!(spelling(Path::new("a/b")), "a/b");
    assert_eq!(spelling(Path::new("a//b")), "a/b", "one key with `a/b`");
    assert_eq!(spelling(Path::new("a/c")), "a/c");
}

// ---------------------------------------------------------------------------------------------
// Generic impls without `'static` bounds, implementors that borrow, early-bound lifetimes.

mod generics {
    use super::*;

    pub struct Wrap<T>(PhantomData<T>);

    impl<T> Wrap<T> {
        #[ttl_cached(ttl = "1h", cache = Self::sizes)]
        pub fn size(n: usize) -> usize {
            std::mem::size_of::<T>() * n
        }
    }

    pub trait Named {
        fn tag() -> &'static str;

        #[ttl_cached(ttl = "1h")]
        fn label(id: u32) -> String {
            format!("{}{id}", Self::tag())
        }
    }

    pub struct Borrowing<'a>(pub &'a str);

    impl Named for Borrowing<'_> {
        fn tag() -> &'static str {
            "b"
        }
    }

    impl Named for u8 {
        fn tag() -> &'static str {
            "u"
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn early<'a, 'b: 'a>(a: &'a str, b: &'b str) -> String
    where
        'a: 'a,
    {
        format!("{a}{b}")
    }

    pub fn through_local<'a>(_: &'a str) -> usize {
        Wrap::<&'a str>::size(1)
    }
}

#[test]
fn generic_impls_without_static_bounds_and_borrowing_implementors() {
    use generics::*;
    assert_eq!(Wrap::<u8>::size(2), 2);
    assert_eq!(Wrap::<u64>::size(2), 16);
    let local = String::from("x");
    assert_eq!(through_local(&local), std::mem::size_of::<&str>());
    assert_eq!(Wrap::<u8>::sizes().len(), 1);
    assert_eq!(Wrap::<u64>::sizes().len(), 1);
    let s = String::from("borrowed");
    let holder = Borrowing(&s);
    assert_eq!(holder.0, "borrowed");
    assert_eq!(Borrowing::label(1), "b1");
    assert_eq!(<u8 as Named>::label(1), "u1");
    assert_eq!(Borrowing::label(1), "b1");
    assert_eq!(early("a", "b"), "ab");
    assert_eq!(early("a", "b"), "ab");
}

// ---------------------------------------------------------------------------------------------
// A function written by `macro_rules!`: `$ty` and `$ret` fragments keep their meaning.

macro_rules! cached_lookups {
    ($($(#[$meta:meta])* $vis:vis fn $name:ident($arg:ident: $ty:ty) -> $ret:ty $body:block)*) => {
        $(
            $(#[$meta])*
            #[ttl_cached(ttl = "1h")]
            $vis fn $name($arg: $ty) -> $ret $body
        )*
    };
}

type Maybe<T> = Option<T>;
static MACRO_RUNS: AtomicUsize = AtomicUsize::new(0);

cached_lookups! {
    /// Upper-cased region of a zone.
    pub fn region(zone: Option<&str>) -> Maybe<String> {
        MACRO_RUNS.fetch_add(1, SeqCst);
        zone.filter(|z| !z.is_empty()).map(str::to_uppercase)
    }
}

#[test]
fn macro_rules_fragments_keep_optional_borrows_and_aliased_options() {
    assert_eq!(region(Some("")), None);
    assert_eq!(region(Some("")), None);
    assert_eq!(MACRO_RUNS.load(SeqCst), 2, "a None was cached");
    assert_eq!(region(None), None);
    assert_eq!(region(Some("eu")), Some("EU".to_owned()));
    assert_eq!(region(Some("eu")), Some("EU".to_owned()));
    assert_eq!(MACRO_RUNS.load(SeqCst), 4);
}

// ---------------------------------------------------------------------------------------------
// Visibility and nesting: `pub(super)` / `pub(in path)` handles, a function in a fn body,
// recursion and mutual recursion.

mod outer {
    pub mod inner {
        use cache_core::ttl_cached;

        #[ttl_cached(ttl = "1h", cache = doubled_cache)]
        pub(super) fn doubled(x: u32) -> u32 {
            x * 2
        }

        #[ttl_cached(ttl = "1h", cache = tripled_cache)]
        pub(in crate::outer) fn tripled(x: u32) -> u32 {
            x * 3
        }
    }

    pub fn use_them() -> (u32, u32, usize, usize) {
        (
            inner::doubled(2),
            inner::tripled(2),
            inner::doubled_cache().len(),
            inner::tripled_cache().len(),
        )
    }
}

#[test]
fn restricted_visibility_handles_are_reachable_where_the_function_is() {
    assert_eq!(outer::use_them(), (4, 6, 1, 1));
}

fn collatz(n: u64) -> (u64, usize) {
    #[ttl_cached(ttl = "1h", cache = steps_cache)]
    fn steps(n: u64) -> u64 {
        match n {
            1 => 0,
            n if n % 2 == 0 => 1 + steps(n / 2),
            n => 1 + steps(3 * n + 1),
        }
    }
    (steps(n), steps_cache().len())
}

mod parity {
    use super::*;

    #[ttl_cached(ttl = "1h")]
    pub fn is_even(n: u32) -> bool {
        n == 0 || is_odd(n - 1)
    }

    #[ttl_cached(ttl = "1h")]
    pub fn is_odd(n: u32) -> bool {
        n != 0 && is_even(n - 1)
    }
}

#[test]
fn recursion_in_a_nested_fn_and_mutual_recursion() {
    assert_eq!(collatz(27), (111, 112));
    assert_eq!(collatz(27).0, 111);
    assert!(parity::is_even(200));
    assert!(parity::is_odd(201));
    assert!(!parity::is_odd(200));
}

// ---------------------------------------------------------------------------------------------
// Capacity with fixed expiry: the oldest insert goes, even if it was just hit.

const CAP: usize = 2;

mod capped {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[ttl_cached(ttl = "1h", expiry = "fixed", capacity = CAP, clock = CLOCK.clone(), cache = capped_cache)]
    pub fn page(n: u32) -> u32 {
        n
    }
}

#[test]
fn fixed_expiry_with_capacity_evicts_the_oldest_insert() {
    use capped::*;
    page(1);
    CLOCK.advance(Duration::from_secs(1));
    page(2);
    CLOCK.advance(Duration::from_secs(1));
    page(1);
    CLOCK.advance(Duration::from_secs(1));
    page(3);
    let cache = capped_cache();
    assert_eq!(cache.len(), 2);
    assert!(
        !cache.contains_key(&1),
        "the oldest insert goes under fixed expiry"
    );
    assert!(cache.contains_key(&2) && cache.contains_key(&3));
    CLOCK.advance(Duration::from_secs(3600 - 2));
    assert!(
        !cache.contains_key(&2),
        "fixed: an hour after it was stored"
    );
    assert!(cache.contains_key(&3));
}

// ---------------------------------------------------------------------------------------------
// async with `max_lifetime`, an untyped `expire_after` closure, a `mut` parameter, `?` and early
// `return` through a boxed-error alias.

mod async_life {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    pub static BUILT: AtomicUsize = AtomicUsize::new(0);

    #[derive(Clone, Debug, PartialEq)]
    pub struct Token {
        pub serial: usize,
        pub life: Duration,
    }

    #[ttl_cached(
        ttl = "1h",
        max_lifetime = "10m",
        expire_after = |_, token| Some(token.life),
        clock = CLOCK.clone()
    )]
    pub async fn token(tenant: &str, mut scopes: Vec<String>) -> Option<Token> {
        scopes.sort();
        let _ = tenant;
        let life = if scopes.first().is_some_and(|s| s == "short") {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(3600)
        };
        Some(Token {
            serial: BUILT.fetch_add(1, SeqCst),
            life,
        })
    }

    pub type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
    pub static PARSES: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub async fn parse(text: &str) -> BoxResult<u32> {
        PARSES.fetch_add(1, SeqCst);
        if text.is_empty() {
            return Err("empty".into());
        }
        let n: u32 = text.trim().parse()?;
        Ok(n)
    }
}

#[test]
fn async_max_lifetime_expire_after_and_mut_parameters() {
    use async_life::*;
    let rt = runtime();
    let scopes = || vec!["write".to_owned(), "read".to_owned()];
    let first = rt.block_on(token("t", scopes())).unwrap();
    for _ in 0..9 {
        CLOCK.advance(Duration::from_secs(60));
        assert_eq!(rt.block_on(token("t", scopes())).unwrap(), first);
    }
    CLOCK.advance(Duration::from_secs(61));
    assert_ne!(
        rt.block_on(token("t", scopes())).unwrap(),
        first,
        "max_lifetime ends it ten minutes after it was built"
    );
    let short = rt.block_on(token("t", vec!["short".to_owned()])).unwrap();
    CLOCK.advance(Duration::from_secs(29));
    assert_eq!(
        rt.block_on(token("t", vec!["short".to_owned()])).unwrap(),
        short
    );
    CLOCK.advance(Duration::from_secs(1));
    assert_ne!(
        rt.block_on(token("t", vec!["short".to_owned()])).unwrap(),
        short,
        "the token's own 30 s"
    );
}

#[test]
fn async_question_mark_and_early_return_through_a_box_error_alias() {
    use async_life::*;
    let rt = runtime();
    assert!(rt.block_on(parse("")).is_err());
    assert!(rt.block_on(parse("x")).is_err());
    assert!(rt.block_on(parse("x")).is_err());
    assert_eq!(PARSES.load(SeqCst), 3, "errors are not cached");
    assert_eq!(rt.block_on(parse(" 42 ")).unwrap(), 42);
    assert_eq!(rt.block_on(parse(" 42 ")).unwrap(), 42);
    assert_eq!(PARSES.load(SeqCst), 4);
}

// ---------------------------------------------------------------------------------------------
// A body that uses its own handle: reading, removing its own key, clearing. None of it may
// hang; a removal during the flight means the value is not stored.

mod self_aware {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", cache = own)]
    pub fn build(api_key: &str) -> usize {
        let run = RUNS.fetch_add(1, SeqCst);
        assert_eq!(own().get(api_key), None, "no value while it is being built");
        if api_key.starts_with("drop") {
            own().remove(api_key);
        }
        if api_key.starts_with("clear") {
            own().clear();
        }
        run
    }
}

#[test]
fn a_body_that_reads_or_invalidates_its_own_cache_does_not_hang() {
    use self_aware::*;
    let (a, b) = within(|| (build("keep-SECRET"), build("keep-SECRET"))).expect("hangs");
    assert_eq!(a, b);
    let (c, d) = within(|| (build("drop-SECRET"), build("drop-SECRET"))).expect("hangs");
    assert_ne!(
        c, d,
        "removed during its flight: not stored (invalidation wins)"
    );
    let (e, f) = within(|| (build("clear-SECRET"), build("clear-SECRET"))).expect("hangs");
    assert_ne!(e, f, "cleared during its flight: not stored");
    let shown = format!("{:?} {:?}", own(), cache_core::caches());
    assert!(!shown.contains("SECRET"), "{shown}");
}
