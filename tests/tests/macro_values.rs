//! `#[ttl_cached]` never returns a value that belongs to another function or caches a value
//! that should not be: `Result` and `Option` are recognised by type (aliases included), and a
//! function generic through its `impl` or trait gets one cache per instantiation.

use std::any::type_name;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_core::ttl_cached;

mod aliases {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct MyErr;

    /// Not `Clone`: an error that is never cached must not need to be.
    #[derive(Debug)]
    pub struct Opaque;

    pub type Res<T> = Result<T, MyErr>;
    pub type OpaqueRes<T> = Result<T, Opaque>;
    pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;
    pub type Maybe<T> = Option<T>;
    /// An alias without parameters hides the `Result` completely.
    pub type Port = Result<u16, MyErr>;

    pub static FAIL: AtomicUsize = AtomicUsize::new(1);
    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Fails while `FAIL` is set, like a backend that is down.
    fn backend() -> bool {
        CALLS.fetch_add(1, SeqCst);
        FAIL.load(SeqCst) == 0
    }

    #[ttl_cached(ttl = "1h")]
    pub fn res(key: u8) -> Res<u8> {
        if backend() { Ok(key) } else { Err(MyErr) }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn opaque(key: u8) -> OpaqueRes<u8> {
        if backend() { Ok(key) } else { Err(Opaque) }
    }

    #[ttl_cached(ttl = "1h", cache = boxed_cache)]
    pub fn boxed(key: u8) -> BoxResult<u8> {
        if backend() {
            Ok(key)
        } else {
            Err("backend down".into())
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn maybe(key: u8) -> Maybe<u8> {
        backend().then_some(key)
    }

    #[ttl_cached(ttl = "1h")]
    pub fn port(key: u8) -> Port {
        if backend() {
            Ok(u16::from(key))
        } else {
            Err(MyErr)
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn res_async(key: u8) -> Res<u8> {
        if backend() { Ok(key) } else { Err(MyErr) }
    }
}

#[test]
fn aliased_results_and_options_cache_only_ok_and_some() {
    use aliases::*;
    let calls = || CALLS.load(SeqCst);
    // The backend is down: nothing is cached, each call tries again.
    assert_eq!(res(1), Err(MyErr));
    assert!(opaque(1).is_err());
    assert!(boxed(1).is_err());
    assert_eq!(maybe(1), None);
    assert_eq!(port(1), Err(MyErr));
    let before = calls();
    assert_eq!(res(1), Err(MyErr));
    assert!(opaque(1).is_err());
    assert!(boxed(1).is_err());
    assert_eq!(maybe(1), None);
    assert_eq!(port(1), Err(MyErr));
    assert_eq!(calls() - before, 5, "no error and no None was cached");
    assert_eq!(boxed_cache().len(), 0);

    // The backend recovers: the next call of each gets a value, and then it is cached.
    FAIL.store(0, SeqCst);
    assert_eq!(res(1), Ok(1));
    assert_eq!(opaque(1).ok(), Some(1));
    assert_eq!(boxed(1).ok(), Some(1));
    assert_eq!(maybe(1), Some(1));
    assert_eq!(port(1), Ok(1));
    let before = calls();
    FAIL.store(1, SeqCst);
    assert_eq!(res(1), Ok(1));
    assert_eq!(opaque(1).ok(), Some(1));
    assert_eq!(boxed(1).ok(), Some(1));
    assert_eq!(maybe(1), Some(1));
    assert_eq!(port(1), Ok(1));
    assert_eq!(calls(), before, "every Ok and Some was a hit");

    let runtime = tests::two_worker_runtime();
    assert_eq!(runtime.block_on(res_async(2)), Err(MyErr));
    FAIL.store(0, SeqCst);
    assert_eq!(runtime.block_on(res_async(2)), Ok(2));
    FAIL.store(1, SeqCst);
    assert_eq!(
        runtime.block_on(res_async(2)),
        Ok(2),
        "cached after the error"
    );
}

/// A codec per type: the cached function is generic only through its `impl`.
struct Codec<T>(PhantomData<T>);

static DESCRIBED: AtomicUsize = AtomicUsize::new(0);

impl<T: 'static> Codec<T> {
    #[ttl_cached(ttl = "1h")]
    fn describe(n: u32) -> String {
        DESCRIBED.fetch_add(1, SeqCst);
        format!("{}#{n}", type_name::<T>())
    }

    #[ttl_cached(ttl = "1h", cache = Self::describe_cache)]
    fn describe_with_handle(n: u32) -> String {
        format!("{}#{n}", type_name::<T>())
    }
}

#[test]
fn a_function_generic_through_its_impl_has_a_cache_per_instantiation() {
    assert_eq!(Codec::<u8>::describe(1), "u8#1");
    assert_eq!(Codec::<String>::describe(1), "alloc::string::String#1");
    assert_eq!(Codec::<u16>::describe(1), "u16#1");
    assert_eq!(DESCRIBED.load(SeqCst), 3);
    assert_eq!(Codec::<u8>::describe(1), "u8#1");
    assert_eq!(Codec::<String>::describe(1), "alloc::string::String#1");
    assert_eq!(Codec::<u16>::describe(1), "u16#1");
    assert_eq!(
        DESCRIBED.load(SeqCst),
        3,
        "each instantiation hit its own cache"
    );

    assert_eq!(Codec::<u8>::describe_with_handle(2), "u8#2");
    assert_eq!(Codec::<i8>::describe_with_handle(2), "i8#2");
    assert_eq!(Codec::<u8>::describe_cache().len(), 1);
    assert_eq!(Codec::<i8>::describe_cache().len(), 1);
    Codec::<u8>::describe_cache().clear();
    assert_eq!(
        Codec::<i8>::describe_cache().len(),
        1,
        "the handle is per instantiation"
    );
}

/// A trait whose default method is cached: one cache per implementor.
trait Forge {
    const HOST: &'static str;

    #[ttl_cached(ttl = "1h")]
    fn url(repo: &str) -> String {
        format!("https://{}/{repo}", Self::HOST)
    }
}

struct GitHub;
struct GitLab;

impl Forge for GitHub {
    const HOST: &'static str = "github.com";
}

impl Forge for GitLab {
    const HOST: &'static str = "gitlab.com";
}

#[test]
fn a_cached_default_method_has_a_cache_per_implementor() {
    assert_eq!(GitHub::url("x"), "https://github.com/x");
    assert_eq!(GitLab::url("x"), "https://gitlab.com/x");
    assert_eq!(GitHub::url("x"), "https://github.com/x");
}

/// Lifetimes do not split the cache, and an impl over them still compiles.
struct Borrowed<'a>(PhantomData<&'a str>);

static BORROWED: AtomicUsize = AtomicUsize::new(0);

impl<'a> Borrowed<'a> {
    #[ttl_cached(ttl = "1h")]
    fn shared(n: u8) -> usize {
        BORROWED.fetch_add(1, SeqCst) + usize::from(n)
    }
}

#[test]
fn lifetime_generic_impls_share_one_cache() {
    let first = Borrowed::shared(1);
    let local = String::from("short-lived");
    let _tie: Borrowed<'_> = Borrowed(PhantomData);
    drop(local);
    assert_eq!(Borrowed::shared(1), first);
    assert_eq!(BORROWED.load(SeqCst), 1);
}

/// `ttl = Self::TTL` reads the impl's constant.
struct Tuned;

impl Tuned {
    const TTL: std::time::Duration = std::time::Duration::from_secs(60);

    #[ttl_cached(ttl = Self::TTL)]
    fn tuned(n: u8) -> u8 {
        n + 1
    }
}

#[test]
fn ttl_may_name_an_associated_constant() {
    assert_eq!(Tuned::tuned(1), 2);
}

mod shared_errors {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    /// A `Clone` error: the callers waiting for a failed flight all get the leader's error.
    #[ttl_cached(ttl = "1h", cache = tenants)]
    pub fn tenant(key: &str) -> Result<u32, String> {
        if RUNS.fetch_add(1, SeqCst) == 0 {
            tests::wait_until("3 callers wait", || tenants().stats().coalesced == 3);
        }
        Err(format!("backend down for {}", key.len()))
    }

    pub static NONE_RUNS: AtomicUsize = AtomicUsize::new(0);

    /// A `None` is shared the same way.
    #[ttl_cached(ttl = "1h", cache = lookups)]
    pub fn lookup(key: &str) -> Option<u32> {
        if NONE_RUNS.fetch_add(1, SeqCst) == 0 {
            tests::wait_until("3 callers wait", || lookups().stats().coalesced == 3);
        }
        key.parse().ok()
    }
}

#[test]
fn a_clone_error_or_a_none_reaches_every_waiting_caller_from_one_run() {
    use shared_errors::*;
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(tenant("sk-a"), Err("backend down for 4".to_string()));
            });
        }
    });
    assert_eq!(RUNS.load(SeqCst), 1, "one run for four callers");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(lookup("not a number"), None);
            });
        }
    });
    assert_eq!(NONE_RUNS.load(SeqCst), 1, "one run for four callers");
}

mod named {
    use super::*;

    #[ttl_cached(ttl = "1h")]
    pub fn exchange_rate(currency: &str) -> u32 {
        currency.len() as u32
    }
}

#[test]
fn the_macro_names_its_map_after_the_function_for_the_registry() {
    named::exchange_rate("EUR");
    let caches = cache_core::caches();
    let cache = caches
        .iter()
        .find(|c| c.name() == "macro_values::named::exchange_rate")
        .expect("listed under its path");
    assert_eq!((cache.len(), cache.stats().misses), (1, 1));
}

mod renamed {
    use super::*;

    pub const RATES: &str = "fx-rates";

    #[ttl_cached(ttl = "1h", name = "exchange-rates")]
    pub fn exchange_rate(currency: &str) -> u32 {
        currency.len() as u32
    }

    #[ttl_cached(ttl = "1h", name = RATES)]
    pub fn fx(currency: &str) -> u32 {
        currency.len() as u32 + 1
    }
}

/// `name = ...` (the spec's macro option) names the map in the registry instead of the path:
/// a literal or any `&'static str` expression.
#[test]
fn the_name_option_names_the_map_for_the_registry() {
    renamed::exchange_rate("EUR");
    renamed::exchange_rate("EUR");
    renamed::fx("USD");
    let caches = cache_core::caches();
    let named = |name: &str| caches.iter().find(|c| c.name() == name).cloned();
    let rates = named("exchange-rates").expect("listed under its name");
    assert_eq!((rates.stats().hits, rates.stats().misses), (1, 1));
    assert_eq!(named("fx-rates").expect("a const name").len(), 1);
    assert!(named("macro_values::renamed::exchange_rate").is_none());
}

mod projection {
    use super::*;

    pub trait Backend {
        type Reply;
    }
    pub struct Http;
    impl Backend for Http {
        type Reply = Result<u32, String>;
    }

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn fetch(id: u32) -> <Http as Backend>::Reply {
        CALLS.fetch_add(1, SeqCst);
        Err(format!("down {id}"))
    }

    pub static OPT_CALLS: AtomicUsize = AtomicUsize::new(0);

    pub trait Finder {
        type Found;
    }
    impl Finder for Http {
        type Found = Option<u32>;
    }

    #[ttl_cached(ttl = "1h")]
    pub fn find(id: u32) -> <Http as Finder>::Found {
        OPT_CALLS.fetch_add(1, SeqCst);
        let _ = id;
        None
    }
}

/// A `Result` or an `Option` written as an associated type of a trait: recognised by the
/// type it stands for too (helper-42).
#[test]
fn a_result_behind_an_associated_type_caches_only_ok() {
    assert!(projection::fetch(1).is_err());
    assert!(projection::fetch(1).is_err());
    assert_eq!(projection::CALLS.load(SeqCst), 2, "an Err was cached");
    assert_eq!(projection::find(1), None);
    assert_eq!(projection::find(1), None);
    assert_eq!(projection::OPT_CALLS.load(SeqCst), 2, "a None was cached");
}
