//! `#[ttl_cached]` on shapes users write that thirteen earlier reviews did not try (review 14):
//! functions written by a `macro_rules!` from a whole `$item`, modules under
//! `#[no_implicit_prelude]`, return types that are projections of a concrete `impl`, options
//! that differ per instantiation of a generic `impl` or per implementor of a trait, recursion,
//! `Send + !Sync` errors and bodies, odd parameter types and odd option values. Each test
//! asserts what the function would do without the attribute, or what the README promises.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A whole function handed to a `macro_rules!` as one `$f:item` and annotated there: the
/// attribute gets the item as a fragment.
mod item_fragment {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    macro_rules! memoized {
        ($f:item) => {
            #[ttl_cached(ttl = "1h", cache = shouts)]
            $f
        };
    }

    memoized! {
        /// Upper-cases its argument.
        pub fn shout(word: &str) -> String {
            RUNS.fetch_add(1, SeqCst);
            word.to_uppercase()
        }
    }
}

#[test]
fn a_function_passed_to_a_macro_as_an_item_is_memoized() {
    use item_fragment::*;
    assert_eq!(shout("hi"), "HI");
    assert_eq!(shout("hi"), "HI");
    assert_eq!(RUNS.load(SeqCst), 1);
    assert_eq!(shouts().get("hi"), Some("HI".to_owned()));
}

/// A module under `#![no_implicit_prelude]` (generated code, `no_std`-style crates): nothing of
/// the prelude is in scope, so everything generated must name its paths absolutely.
#[no_implicit_prelude]
mod bare {
    pub static RUNS: ::std::sync::atomic::AtomicUsize = ::std::sync::atomic::AtomicUsize::new(0);

    #[::cache_core::ttl_cached(ttl = "1h", cache = lens, capacity = 8)]
    pub fn len(x: &str, y: ::std::option::Option<&str>, z: &[u8]) -> usize {
        RUNS.fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);
        x.len() + y.map_or(0, |y| y.len()) + z.len()
    }

    #[::cache_core::ttl_cached(ttl = "1h")]
    pub fn parse(x: &str) -> ::std::result::Result<u32, ::std::string::String> {
        RUNS.fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);
        x.parse::<u32>()
            .map_err(|e| ::std::string::ToString::to_string(&e))
    }

    #[::cache_core::ttl_cached(ttl = "1h", key: u32 = x + 1, expiry = "fixed")]
    pub async fn fetch(x: u32) -> ::std::option::Option<u32> {
        RUNS.fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);
        (x > 0).then_some(x)
    }

    pub struct Svc;

    impl Svc {
        #[::cache_core::ttl_cached(ttl = "1h", cache = Self::names)]
        pub fn name(id: u8) -> ::std::string::String {
            ::std::format!("svc{id}")
        }
    }
}

#[test]
fn no_implicit_prelude_modules_work() {
    use bare::*;
    assert_eq!(len("ab", Some("c"), b"d"), 4);
    assert_eq!(len("ab", Some("c"), b"d"), 4);
    assert_eq!(lens().len(), 1);
    assert_eq!(parse("x").map_err(|_| ()), Err(()));
    assert_eq!(parse("x").map_err(|_| ()), Err(()), "errors are not cached");
    assert_eq!(parse("7"), Ok(7));
    assert_eq!(parse("7"), Ok(7));
    let rt = runtime();
    assert_eq!(rt.block_on(fetch(0)), None);
    assert_eq!(rt.block_on(fetch(0)), None);
    assert_eq!(rt.block_on(fetch(3)), Some(3));
    assert_eq!(rt.block_on(fetch(3)), Some(3));
    // len once, parse twice for "x" and once for "7", fetch twice for 0 and once for 3.
    assert_eq!(RUNS.load(SeqCst), 1 + 3 + 3);
    assert_eq!(Svc::name(1), "svc1");
    assert_eq!(Svc::names().len(), 1);
}

/// The return type is a projection of a concrete `impl` (`<Api as Backend>::Reply`, the
/// shape of a client generic over its backend, specialised here), which is a `Result`: only
/// `Ok` may be cached, as for any other spelling of a `Result`.
mod projected {
    use super::*;

    pub trait Backend {
        type Reply;
        type Maybe;
    }

    pub struct Api;

    impl Backend for Api {
        type Reply = Result<String, String>;
        type Maybe = Option<u32>;
    }

    /// An alias of the projection.
    pub type ApiReply = <Api as Backend>::Reply;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    #[ttl_cached(ttl = "1h")]
    pub fn call(id: u32) -> <Api as Backend>::Reply {
        RUNS.fetch_add(1, SeqCst);
        if FAIL.load(SeqCst) {
            Err(format!("down for {id}"))
        } else {
            Ok(format!("ok {id}"))
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn call_alias(id: u32) -> ApiReply {
        RUNS.fetch_add(1, SeqCst);
        if FAIL.load(SeqCst) {
            Err(format!("down for {id}"))
        } else {
            Ok(format!("ok {id}"))
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn call_async(id: u32) -> <Api as Backend>::Reply {
        RUNS.fetch_add(1, SeqCst);
        if FAIL.load(SeqCst) {
            Err(format!("down for {id}"))
        } else {
            Ok(format!("ok {id}"))
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn find(id: u32) -> <Api as Backend>::Maybe {
        RUNS.fetch_add(1, SeqCst);
        (!FAIL.load(SeqCst)).then_some(id)
    }
}

#[test]
fn a_result_or_option_named_through_a_projection_caches_only_ok_or_some() {
    use projected::*;
    let rt = runtime();
    assert!(call(1).is_err());
    assert!(call_alias(1).is_err());
    assert!(rt.block_on(call_async(1)).is_err());
    assert_eq!(find(1), None);
    assert_eq!(RUNS.load(SeqCst), 4);
    FAIL.store(false, SeqCst);
    assert_eq!(call(1), Ok("ok 1".to_owned()), "an Err was cached");
    assert_eq!(call_alias(1), Ok("ok 1".to_owned()), "an Err was cached");
    assert_eq!(rt.block_on(call_async(1)), Ok("ok 1".to_owned()));
    assert_eq!(find(1), Some(1), "a None was cached");
    assert_eq!(RUNS.load(SeqCst), 8);
    assert_eq!(call(1), Ok("ok 1".to_owned()));
    assert_eq!(find(1), Some(1));
    assert_eq!(RUNS.load(SeqCst), 8, "an Ok or Some is cached");
}

/// Options written with an `impl`'s const parameter or a trait's associated const: each
/// instantiation (each implementor) has its own cache, so each gets its own ttl and capacity.
mod per_instance_options {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    pub struct Window<const SECS: u64>;

    impl<const SECS: u64> Window<SECS> {
        #[ttl_cached(
            ttl = Duration::from_secs(SECS),
            capacity = SECS as usize,
            clock = CLOCK.clone(),
            cache = Self::entries
        )]
        pub fn stamp(id: u32) -> u64 {
            RUNS.fetch_add(1, SeqCst);
            SECS * 1000 + u64::from(id)
        }
    }

    pub trait Ttl {
        const TTL: Duration;

        #[ttl_cached(ttl = Self::TTL, clock = CLOCK.clone())]
        fn label(id: u32) -> String {
            RUNS.fetch_add(1, SeqCst);
            format!("{}:{id}", Self::TTL.as_secs())
        }
    }

    pub struct Short;
    pub struct Long;

    impl Ttl for Short {
        const TTL: Duration = Duration::from_secs(10);
    }

    impl Ttl for Long {
        const TTL: Duration = Duration::from_secs(100);
    }
}

#[test]
fn each_instantiation_has_its_own_options() {
    use per_instance_options::*;
    assert_eq!(Window::<10>::stamp(1), 10_001);
    assert_eq!(Window::<100>::stamp(1), 100_001);
    assert_eq!(Short::label(1), "10:1");
    assert_eq!(Long::label(1), "100:1");
    assert_eq!(RUNS.load(SeqCst), 4);
    CLOCK.advance(Duration::from_secs(50));
    // The 10 s entries expired; the 100 s ones did not.
    assert_eq!(Window::<10>::stamp(1), 10_001);
    assert_eq!(Window::<100>::stamp(1), 100_001);
    assert_eq!(Short::label(1), "10:1");
    assert_eq!(Long::label(1), "100:1");
    assert_eq!(RUNS.load(SeqCst), 6);
    // Capacity 10 for one, 100 for the other.
    for id in 0..50 {
        Window::<10>::stamp(id);
        Window::<100>::stamp(id);
    }
    assert!(Window::<10>::entries().len() <= 10);
    assert_eq!(Window::<100>::entries().len(), 50);
}

/// Recursion: a memoized Fibonacci calls itself for other keys (each computed once), and two
/// memoized functions call each other.
mod recursion {
    use super::*;

    pub static FIB_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn fib(n: u64) -> u64 {
        FIB_RUNS.fetch_add(1, SeqCst);
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn is_even(n: u32) -> bool {
        if n == 0 { true } else { is_odd(n - 1) }
    }

    #[ttl_cached(ttl = "1h")]
    pub fn is_odd(n: u32) -> bool {
        if n == 0 { false } else { is_even(n - 1) }
    }

    pub static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub async fn fib_async(n: u64) -> Result<u64, Arc<str>> {
        ASYNC_RUNS.fetch_add(1, SeqCst);
        if n < 2 {
            return Ok(n);
        }
        let a = Box::pin(fib_async(n - 1)).await?;
        let b = Box::pin(fib_async(n - 2)).await?;
        a.checked_add(b).ok_or_else(|| Arc::from("overflow"))
    }
}

#[test]
fn recursion_direct_and_mutual() {
    use recursion::*;
    assert_eq!(fib(80), 23_416_728_348_467_685);
    assert_eq!(FIB_RUNS.load(SeqCst), 81);
    assert_eq!(fib(80), 23_416_728_348_467_685);
    assert_eq!(FIB_RUNS.load(SeqCst), 81);
    assert!(is_even(200));
    assert!(is_odd(201));
    let rt = runtime();
    let n = rt
        .block_on(async { tokio::spawn(fib_async(90)).await })
        .expect("joins");
    assert_eq!(n, Ok(2_880_067_194_370_816_120));
    assert_eq!(ASYNC_RUNS.load(SeqCst), 91);
    let overflow = rt.block_on(fib_async(100));
    assert_eq!(
        overflow.map_err(|e| e.to_string()),
        Err("overflow".to_owned())
    );
}

/// Errors that are `Send` but not `Sync` (`Box<dyn Error + Send>`, a common spelling), and a
/// body that holds a `Send + !Sync` value across an `.await`: without the attribute the futures
/// are `Send` and can be spawned on a multi-thread runtime; so must they be with it.
mod send_not_sync {
    use super::*;

    pub type SendError = Box<dyn std::error::Error + Send>;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub async fn lookup(id: u32) -> Result<String, SendError> {
        RUNS.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        if id == 0 {
            return Err(Box::new(std::fmt::Error));
        }
        Ok(format!("user{id}"))
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn counted(id: u32) -> u32 {
        let cell = Cell::new(id);
        tokio::task::yield_now().await;
        cell.set(cell.get() + 1);
        cell.get()
    }
}

#[test]
fn send_but_not_sync_errors_and_bodies_can_be_spawned() {
    use send_not_sync::*;
    let rt = runtime();
    rt.block_on(async {
        let a = tokio::spawn(lookup(0)).await.expect("joins");
        assert_eq!(
            a.map_err(|e| e.to_string()),
            Err(std::fmt::Error.to_string())
        );
        let b = tokio::spawn(lookup(1)).await.expect("joins");
        assert_eq!(b.map_err(|e| e.to_string()), Ok("user1".to_owned()));
        let c = tokio::spawn(lookup(1)).await.expect("joins");
        assert_eq!(c.map_err(|e| e.to_string()), Ok("user1".to_owned()));
        assert_eq!(tokio::spawn(counted(1)).await.expect("joins"), 2);
    });
    assert_eq!(RUNS.load(SeqCst), 2);
}

/// Parameters of many borrowed and owned shapes, several at once: each keys by its owned form,
/// and equal arguments (however they are borrowed) hit.
mod shapes {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[allow(clippy::too_many_arguments)]
    #[ttl_cached(ttl = "1h", cache = entries)]
    pub fn combine(
        a: Option<&[u8]>,
        b: &[String],
        c: &Arc<str>,
        d: Box<str>,
        e: Cow<'static, str>,
        f: &'static str,
        g: &[u8; 4],
        h: (u8, char),
        i: &Option<String>,
    ) -> String {
        RUNS.fetch_add(1, SeqCst);
        format!("{a:?}{b:?}{c}{d}{e}{f}{g:?}{h:?}{i:?}")
    }

    pub fn call(b: &[String], e: Cow<'static, str>, i: &Option<String>) -> String {
        combine(
            Some(b"x"),
            b,
            &Arc::from("c"),
            Box::from("d"),
            e,
            "f",
            &[1, 2, 3, 4],
            (1, 'h'),
            i,
        )
    }
}

#[test]
fn parameters_of_many_shapes_key_by_their_owned_forms() {
    use shapes::*;
    let strings = vec!["b".to_owned()];
    let first = call(&strings, Cow::Borrowed("e"), &Some("i".to_owned()));
    let again = call(
        &["b".to_owned()],
        Cow::Owned("e".to_owned()),
        &Some("i".to_owned()),
    );
    assert_eq!(first, again);
    assert_eq!(RUNS.load(SeqCst), 1, "equal arguments hit");
    let other = call(&strings, Cow::Borrowed("e"), &None);
    assert_ne!(first, other);
    assert_eq!(RUNS.load(SeqCst), 2);
    assert_eq!(entries().len(), 2);
}

/// A trait object parameter (`&dyn Display`), left out of the key by `key: Type = expr`
/// computed from several arguments.
mod dyn_param {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", key: (String, u8) = (format!("{shown}"), times))]
    pub fn repeat(shown: &dyn Display, times: u8, _note: &(dyn std::any::Any + Sync)) -> String {
        RUNS.fetch_add(1, SeqCst);
        shown.to_string().repeat(usize::from(times))
    }
}

#[test]
fn dyn_parameters_with_a_custom_key() {
    use dyn_param::*;
    assert_eq!(repeat(&"ab", 2, &()), "abab");
    assert_eq!(repeat(&String::from("ab"), 2, &1u8), "abab");
    assert_eq!(repeat(&7, 2, &()), "77");
    assert_eq!(RUNS.load(SeqCst), 2);
}

/// Odd but valid option values: a ttl, sweep and max lifetime of `Duration::MAX`, a capacity of
/// `usize::MAX`, a ttl of one nanosecond, a name computed from `concat!`. No call panics.
mod odd_values {
    use super::*;

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(
        ttl = Duration::MAX,
        sweep = Duration::MAX,
        max_lifetime = Duration::MAX,
        refresh_after = Duration::MAX,
        stale_if_error = Duration::MAX,
        capacity = usize::MAX,
        name = concat!("odd", "::forever"),
        clock = CLOCK.clone()
    )]
    pub fn forever(id: u32) -> u32 {
        RUNS.fetch_add(1, SeqCst);
        id
    }

    #[ttl_cached(ttl = "1ns", sweep = "1ns", clock = CLOCK.clone())]
    pub fn blink(id: u32) -> u32 {
        RUNS.fetch_add(1, SeqCst);
        id
    }

    #[ttl_cached(ttl = "213503982334601d", expiry = "fixed", clock = CLOCK.clone())]
    pub fn long(id: u32) -> u32 {
        id
    }
}

#[test]
fn extreme_option_values_neither_panic_nor_misbehave() {
    use odd_values::*;
    assert_eq!(forever(1), 1);
    CLOCK.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(forever(1), 1);
    assert_eq!(RUNS.load(SeqCst), 1, "a ttl of Duration::MAX never expires");
    assert!(
        cache_core::caches()
            .iter()
            .any(|c| c.name() == "odd::forever")
    );
    assert_eq!(blink(1), 1);
    CLOCK.advance(Duration::from_millis(1));
    assert_eq!(blink(1), 1);
    assert_eq!(
        RUNS.load(SeqCst),
        3,
        "a ttl of 1ns expires within a millisecond"
    );
    assert_eq!(long(2), 2);
    CLOCK.advance(Duration::from_secs(u64::MAX / 4));
    assert_eq!(long(2), 2);
}

/// Unit functions (`-> ()` and none), `extern "C"` with a handle of `pub(crate)` visibility,
/// a `pub(super)` handle from a nested module, early `return`, `?`, closures and nested items
/// in the body, a `where` clause on a lifetime, `#[cfg_attr]` carrying the attribute.
mod kept {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn warm(id: u8) {
        RUNS.fetch_add(1, SeqCst);
        let _ = id;
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn warm_async(id: u8) -> () {
        RUNS.fetch_add(1, SeqCst);
        let _ = id;
    }

    #[ttl_cached(ttl = "1h", cache = doubled)]
    pub(crate) extern "C" fn double(x: u32) -> u32 {
        x * 2
    }

    pub mod inner {
        use super::*;

        // The explicit lifetime is the shape under test.
        #[allow(clippy::needless_lifetimes)]
        #[ttl_cached(ttl = "1h", cache = parsed)]
        pub(super) fn parse<'a>(text: &'a str, radix: u32) -> Result<u64, std::num::ParseIntError>
        where
            u32: Copy,
        {
            fn trimmed(text: &str) -> &str {
                text.trim()
            }
            if text.is_empty() {
                return Ok(0);
            }
            let digits = trimmed(text);
            let value = u64::from_str_radix(digits, radix)?;
            let twice = |v: u64| v * 2;
            Ok(twice(value) / 2)
        }
    }

    /// `parse` as a higher-ranked `fn` pointer, from where it is visible.
    pub fn parse_fn() -> for<'a> fn(&'a str, u32) -> Result<u64, std::num::ParseIntError> {
        inner::parse
    }

    /// The handle of `parse`, from where it is visible.
    pub fn handle_len() -> usize {
        inner::parsed().len()
    }

    #[cfg_attr(all(), ttl_cached(ttl = "1h"))]
    /// Documented after the attribute.
    #[inline]
    #[must_use]
    pub fn triple(x: u32) -> u32 {
        RUNS.fetch_add(1, SeqCst);
        x * 3
    }
}

#[test]
fn unit_functions_abi_visibility_and_bodies_are_kept() {
    use kept::*;
    warm(1);
    warm(1);
    let rt = runtime();
    rt.block_on(warm_async(1));
    rt.block_on(warm_async(1));
    assert_eq!(RUNS.load(SeqCst), 2);
    let f: extern "C" fn(u32) -> u32 = double;
    assert_eq!(f(2), 4);
    assert_eq!(doubled().get(&2), Some(4));
    let p = parse_fn();
    assert_eq!(p(" ff ", 16), Ok(255));
    assert!(p("zz", 16).is_err());
    assert_eq!(p("", 16), Ok(0));
    assert_eq!(handle_len(), 2, "the Err is not kept");
    assert_eq!(triple(1), 3);
    assert_eq!(triple(1), 3);
    assert_eq!(RUNS.load(SeqCst), 3);
}

/// A generic `impl` over a marker type whose body reads `T` only through a trait's const:
/// `Codec<Utf8>` and `Codec<Latin1>` must not share values (one cache per instantiation),
/// also through the `cache = Self::name` handle and in an `async fn`.
mod generic_marker {
    use super::*;

    pub trait Charset {
        const NAME: &'static str;
    }
    pub struct Utf8;
    pub struct Latin1;
    impl Charset for Utf8 {
        const NAME: &'static str = "utf-8";
    }
    impl Charset for Latin1 {
        const NAME: &'static str = "latin-1";
    }

    pub struct Codec<T>(PhantomData<T>);

    impl<T: Charset> Codec<T> {
        #[ttl_cached(ttl = "1h", cache = Self::labels)]
        pub fn label(id: u32) -> String {
            format!("{}#{id}", T::NAME)
        }

        #[ttl_cached(ttl = "1h")]
        pub async fn label_async(id: u32) -> Option<String> {
            Some(format!("{}#{id}", T::NAME))
        }
    }
}

#[test]
fn a_generic_impl_over_marker_types_keeps_one_cache_per_type() {
    use generic_marker::*;
    assert_eq!(Codec::<Utf8>::label(1), "utf-8#1");
    assert_eq!(Codec::<Latin1>::label(1), "latin-1#1");
    assert_eq!(Codec::<Utf8>::labels().len(), 1);
    assert_eq!(Codec::<Latin1>::labels().len(), 1);
    let rt = runtime();
    let (a, b) = rt.block_on(async {
        (
            tokio::spawn(Codec::<Utf8>::label_async(1))
                .await
                .expect("joins"),
            tokio::spawn(Codec::<Latin1>::label_async(1))
                .await
                .expect("joins"),
        )
    });
    assert_eq!(a.as_deref(), Some("utf-8#1"));
    assert_eq!(b.as_deref(), Some("latin-1#1"));
}

/// A `macro_rules!` that forwards `$(#[$m:meta])*` (the attribute among them, after a doc
/// comment and before `#[inline]`), a `$vis:vis`, typed parameters and a `$body:block`.
mod forwarded {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    macro_rules! api {
        ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $t:ty),*) -> $r:ty $body:block) => {
            $(#[$m])*
            $vis fn $name($($arg: $t),*) -> $r $body
        };
    }

    api! {
        /// Greets `name`, `times` times.
        #[ttl_cached(ttl = "1h", cache = greetings)]
        #[inline]
        pub fn greet(name: &str, times: u8) -> String {
            RUNS.fetch_add(1, SeqCst);
            if times == 0 {
                return String::new();
            }
            format!("hi {name}").repeat(usize::from(times))
        }
    }

    macro_rules! body_only {
        ($name:ident, $body:block) => {
            /// Answers from the block it was given.
            #[ttl_cached(ttl = "1h")]
            pub fn $name(id: u32) -> u32 $body
        };
    }

    body_only!(seven, {
        RUNS.fetch_add(1, SeqCst);
        7
    });
}

#[test]
fn forwarded_meta_vis_and_block_fragments() {
    use forwarded::*;
    assert_eq!(greet("a", 2), "hi ahi a");
    assert_eq!(greet("a", 2), "hi ahi a");
    assert_eq!(greet("a", 0), "");
    assert_eq!(greetings().len(), 2);
    assert_eq!(seven(1), 7);
    assert_eq!(seven(1), 7);
    assert_eq!(RUNS.load(SeqCst), 3);
}

/// An `impl<'a, T>` whose parameters borrow with the `impl`'s lifetime (`&'a str`,
/// `Option<&'a str>`), with a method-level `where` clause on `T`, and a function with
/// `#[target_feature]` whose body calls another function of that feature.
mod impl_lifetime_and_features {
    use super::*;

    pub struct Parser<'a, T>(PhantomData<(&'a str, T)>);

    impl<'a, T: Display + Default> Parser<'a, T> {
        #[ttl_cached(ttl = "1h", cache = Self::words)]
        pub fn word(text: &'a str, n: Option<&'a str>) -> String
        where
            T: Send,
        {
            format!("{}{text}{n:?}", T::default())
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse4.2")]
    fn helper(x: u32) -> u32 {
        x + 1
    }

    #[cfg(target_arch = "x86_64")]
    #[ttl_cached(ttl = "1h")]
    #[target_feature(enable = "sse4.2")]
    pub fn with_feature(x: u32) -> u32 {
        helper(x)
    }
}

#[test]
fn impl_lifetimes_where_clauses_and_target_features() {
    use impl_lifetime_and_features::*;
    let text = String::from("x");
    assert_eq!(Parser::<u8>::word(&text, None), "0xNone");
    assert_eq!(Parser::<u8>::word(&text, Some("y")), "0xSome(\"y\")");
    assert_eq!(Parser::<u8>::words().len(), 2);
    assert_eq!(Parser::<u16>::words().len(), 0);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the feature was detected.
        #[allow(unsafe_code)]
        let n = unsafe { with_feature(1) };
        assert_eq!(n, 2);
    }
}

/// A `macro_rules!` fragment in the function's body, its key or its options: `$e:expr` of
/// `1 + 1` is one operand, so `k + $e * 2` is `k + 4`, with or without the attribute. The
/// attribute must emit what it was given: re-printed through syn, the fragment's invisible
/// group is a new one, which rustc reads as if it were not there (`k + 1 + 1 * 2`).
mod fragments {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    macro_rules! functions {
        ($e:expr) => {
            #[ttl_cached(ttl = "1h")]
            pub fn sync_body(k: u32) -> u32 {
                k + $e * 2
            }

            #[ttl_cached(ttl = "1h")]
            pub async fn async_body(k: u32) -> u32 {
                k + $e * 2
            }

            #[ttl_cached(ttl = "1h")]
            pub fn with_inner_attribute(k: u32) -> u32 {
                #![allow(clippy::identity_op)]
                k + $e * 2
            }

            /// The fragment alone, where parentheses would be `unused_parens`.
            #[ttl_cached(ttl = "1h")]
            pub fn alone_after_an_inner_attribute(k: u32) -> u32 {
                #![deny(unused_parens)]
                let _ = k;
                $e
            }

            #[ttl_cached(ttl = "1h")]
            pub fn nested_in_statement(k: u32) -> u32 {
                let doubled = k + $e * 2;
                doubled
            }

            /// `#[async_trait]`'s shape, written by hand: the async block is taken out of its
            /// `Box::pin`.
            #[ttl_cached(ttl = "1h")]
            pub fn boxed<'async_trait>(
                k: u32,
            ) -> Pin<Box<dyn Future<Output = u32> + Send + 'async_trait>> {
                Box::pin(async move { k + $e * 2 })
            }

            #[ttl_cached(ttl = "1h", key: u32 = k + $e * 2, cache = keyed_cache)]
            pub fn keyed(k: u32) -> u32 {
                k
            }

            #[ttl_cached(ttl = "1h", capacity = $e * 2, cache = capacity_cache)]
            pub fn with_capacity(k: u32) -> u32 {
                k
            }

            #[ttl_cached(ttl = Duration::from_secs($e * 60), cache = ttl_cache)]
            pub fn with_ttl(k: u32) -> u32 {
                k
            }

            pub struct Svc;

            impl Svc {
                #[ttl_cached(ttl = "1h")]
                pub fn method(k: u32) -> u32 {
                    k + $e * 2
                }
            }
        };
    }

    functions!(1 + 1);
}

#[test]
fn a_fragment_in_a_sync_body_keeps_its_precedence() {
    assert_eq!(fragments::sync_body(0), 4);
    assert_eq!(fragments::sync_body(0), 4, "a hit");
    assert_eq!(fragments::nested_in_statement(0), 4);
}

#[test]
fn a_fragment_in_an_async_body_keeps_its_precedence() {
    let rt = runtime();
    assert_eq!(rt.block_on(fragments::async_body(0)), 4);
    assert_eq!(rt.block_on(fragments::async_body(0)), 4, "a hit");
}

#[test]
fn a_fragment_in_a_boxed_future_keeps_its_precedence() {
    let rt = runtime();
    assert_eq!(rt.block_on(fragments::boxed(0)), 4);
    assert_eq!(rt.block_on(fragments::boxed(0)), 4, "a hit");
}

/// The inner attribute stays the function's, and the body's tokens after it are still read
/// as they came.
#[test]
fn a_fragment_after_an_inner_attribute_keeps_its_precedence() {
    assert_eq!(fragments::with_inner_attribute(0), 4);
    assert_eq!(fragments::alone_after_an_inner_attribute(0), 2);
}

#[test]
fn a_fragment_in_a_method_keeps_its_precedence() {
    assert_eq!(fragments::Svc::method(0), 4);
}

#[test]
fn a_fragment_in_the_key_keeps_its_precedence() {
    assert_eq!(fragments::keyed(0), 0);
    assert!(
        fragments::keyed_cache().contains_key(&4),
        "keyed by 0 + (1 + 1) * 2"
    );
}

#[test]
fn a_fragment_in_an_option_keeps_its_precedence() {
    assert_eq!(fragments::with_capacity(0), 0);
    assert_eq!(fragments::capacity_cache().capacity(), Some(4));
    assert_eq!(fragments::with_ttl(0), 0);
    assert_eq!(fragments::ttl_cache().ttl(), Duration::from_secs(120));
}
