//! The engine every plain memoized function shares (sync, no `cache = name` handle, not
//! `shared`): keys and values of the small `Copy` types kept inline as a word, and keys and
//! values of any other type boxed. Each type must come back exactly as it went in (sign,
//! width, a float's bits), keys of one function must never match another's, and the kinds
//! (`Result`, `Option`, shared errors), `expire_after`, refreshes and generic instantiations
//! must behave on it as on a typed map.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};
use tests::{cache_named, shared_clock};

/// For every type kept as a word: a function from it to itself, called on its extremes
/// twice (a miss, then a hit), must give each value back unchanged.
macro_rules! round_trips {
    ($($name:ident: $t:ty = [$($v:expr),+ $(,)?];)*) => {$(
        #[test]
        fn $name() {
            static CALLS: AtomicUsize = AtomicUsize::new(0);
            #[ttl_cached(ttl = "1h", name = stringify!($name))]
            fn same(x: $t) -> $t {
                CALLS.fetch_add(1, SeqCst);
                x
            }
            let values: Vec<$t> = vec![$($v),+];
            for round in 0..2 {
                for &v in &values {
                    assert_eq!(same(v), v, "round {round}");
                }
            }
            assert_eq!(CALLS.load(SeqCst), values.len(), "each value built once");
            let s = cache_named(stringify!($name)).stats();
            assert_eq!((s.hits, s.misses), (values.len() as u64, values.len() as u64));
            assert_eq!(cache_named(stringify!($name)).len(), values.len());
        }
    )*};
}

round_trips! {
    words_u8: u8 = [0, 1, 127, 128, u8::MAX];
    words_u16: u16 = [0, 1, u16::MAX - 1, u16::MAX];
    words_u32: u32 = [0, 1, u32::MAX - 1, u32::MAX];
    words_u64: u64 = [0, 1, u64::MAX - 1, u64::MAX];
    words_usize: usize = [0, 1, usize::MAX];
    words_i8: i8 = [i8::MIN, -1, 0, 1, i8::MAX];
    words_i16: i16 = [i16::MIN, -1, 0, 1, i16::MAX];
    words_i32: i32 = [i32::MIN, -1, 0, 1, i32::MAX];
    words_i64: i64 = [i64::MIN, -1, 0, 1, i64::MAX];
    words_isize: isize = [isize::MIN, -1, 0, isize::MAX];
    words_bool: bool = [false, true];
    words_char: char = ['\0', 'a', 'é', '\u{D7FF}', char::MAX];
}

/// Floats are values only (not `Eq`): kept by their bits, so `-0.0`, a NaN's payload and
/// the extremes come back exactly.
#[test]
fn float_values_keep_their_bits() {
    #[ttl_cached(ttl = "1h")]
    fn f64_of(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    #[ttl_cached(ttl = "1h")]
    fn f32_of(bits: u32) -> f32 {
        f32::from_bits(bits)
    }
    let bits64 = [
        0u64,
        (-0.0f64).to_bits(),
        f64::NAN.to_bits() | 0x5,
        f64::MAX.to_bits(),
        f64::MIN_POSITIVE.to_bits(),
        f64::NEG_INFINITY.to_bits(),
    ];
    for _ in 0..2 {
        for &b in &bits64 {
            assert_eq!(f64_of(b).to_bits(), b);
        }
    }
    let bits32 = [
        0u32,
        (-0.0f32).to_bits(),
        f32::NAN.to_bits() | 0x3,
        f32::MAX.to_bits(),
    ];
    for _ in 0..2 {
        for &b in &bits32 {
            assert_eq!(f32_of(b).to_bits(), b);
        }
    }
}

/// Keys of a word type and of a boxed type, values of the other kind, and a unit key.
#[test]
fn word_keys_with_boxed_values_and_boxed_keys_with_word_values() {
    static BUILT: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h")]
    fn names(id: i16) -> String {
        BUILT.fetch_add(1, SeqCst);
        format!("user-{id}")
    }
    #[ttl_cached(ttl = "1h")]
    fn length(name: &str) -> usize {
        BUILT.fetch_add(1, SeqCst);
        name.len()
    }
    #[ttl_cached(ttl = "1h")]
    fn config() -> Vec<u8> {
        BUILT.fetch_add(1, SeqCst);
        vec![1, 2, 3]
    }
    for _ in 0..3 {
        assert_eq!(names(-3), "user--3");
        assert_eq!(names(3), "user-3");
        assert_eq!(length("four"), 4);
        assert_eq!(length(""), 0);
        assert_eq!(config(), [1, 2, 3]);
    }
    assert_eq!(BUILT.load(SeqCst), 5);
}

/// Composite keys (a tuple of borrowed and owned parts, an optional borrow) are boxed and
/// compared through their own `Eq`; keys whose hashes are equal stay apart.
#[test]
fn composite_keys_and_colliding_hashes_stay_apart() {
    #[derive(Clone, PartialEq, Eq, Debug)]
    struct Collides(u32);
    impl std::hash::Hash for Collides {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            state.write_u8(0);
        }
    }
    #[ttl_cached(ttl = "1h")]
    fn tagged(key: Collides) -> u32 {
        key.0 * 10
    }
    #[ttl_cached(ttl = "1h")]
    fn joined(tenant: &str, model: Option<&str>, n: u8) -> String {
        format!("{tenant}/{}/{n}", model.unwrap_or("-"))
    }
    for _ in 0..2 {
        for i in 0..20 {
            assert_eq!(tagged(Collides(i)), i * 10);
        }
        assert_eq!(joined("a", Some("b"), 1), "a/b/1");
        assert_eq!(joined("a", None, 1), "a/-/1");
        assert_eq!(joined("a", Some("b"), 2), "a/b/2");
        assert_eq!(joined("ab", Some(""), 1), "ab//1");
    }
}

/// The kinds: `Err` and `None` are never cached, an `Ok` and a `Some` are; a shared error
/// comes back as the constructor made it.
#[test]
fn results_and_options_cache_only_their_values() {
    static TRIES: AtomicUsize = AtomicUsize::new(0);
    #[derive(Clone, Debug, PartialEq)]
    struct Down(&'static str);
    #[ttl_cached(ttl = "1h")]
    fn port(name: &str) -> Result<u16, Down> {
        match TRIES.fetch_add(1, SeqCst) {
            0 => Err(Down("first try")),
            _ => name.len().try_into().map_err(|_| Down("too long")),
        }
    }
    /// A non-`Clone` error: its own attempt per caller.
    #[ttl_cached(ttl = "1h")]
    fn parse(text: &str) -> Result<u64, std::num::ParseIntError> {
        text.parse()
    }
    #[ttl_cached(ttl = "1h")]
    fn found(n: u32) -> Option<u32> {
        TRIES.fetch_add(1, SeqCst);
        n.is_multiple_of(2).then_some(n / 2)
    }
    assert_eq!(port("http"), Err(Down("first try")));
    assert_eq!(port("http"), Ok(4));
    assert_eq!(port("http"), Ok(4));
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(parse("12"), Ok(12));
    let before = TRIES.load(SeqCst);
    assert_eq!(found(3), None);
    assert_eq!(found(3), None);
    assert_eq!(found(4), Some(2));
    assert_eq!(found(4), Some(2));
    assert_eq!(TRIES.load(SeqCst) - before, 3, "None twice, Some once");
}

/// `expire_after` sees the key and the value as their own types, inline or boxed.
#[test]
fn expire_after_reads_typed_keys_and_values() {
    static CLOCK: Mutex<Option<ManualClock>> = Mutex::new(None);
    fn clock() -> ManualClock {
        shared_clock(&CLOCK)
    }
    static BUILT: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(
        ttl = "1h",
        clock = clock(),
        expire_after = |key: &i32, life: &Duration| (*key < 0).then_some(*life)
    )]
    fn token(key: i32) -> Duration {
        BUILT.fetch_add(1, SeqCst);
        Duration::from_secs(key.unsigned_abs().into())
    }
    assert_eq!(token(-10), Duration::from_secs(10));
    assert_eq!(token(10), Duration::from_secs(10));
    clock().advance(Duration::from_secs(11));
    assert_eq!(token(-10), Duration::from_secs(10));
    assert_eq!(token(10), Duration::from_secs(10));
    assert_eq!(
        BUILT.load(SeqCst),
        3,
        "the negative key's value declared 10 s of life"
    );
}

/// A refresh that fails keeps the value; one that succeeds replaces it.
#[test]
fn a_failed_refresh_keeps_the_value() {
    static CLOCK: Mutex<Option<ManualClock>> = Mutex::new(None);
    fn clock() -> ManualClock {
        shared_clock(&CLOCK)
    }
    static FAIL: AtomicUsize = AtomicUsize::new(0);
    static BUILT: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h", refresh_after = "10s", clock = clock())]
    fn version(service: &str) -> Result<String, String> {
        let n = BUILT.fetch_add(1, SeqCst);
        match FAIL.load(SeqCst) {
            0 => Ok(format!("{service} v{n}")),
            _ => Err("down".to_string()),
        }
    }
    assert_eq!(version("api").as_deref(), Ok("api v0"));
    clock().advance(Duration::from_secs(10));
    FAIL.store(1, SeqCst);
    assert_eq!(version("api").as_deref(), Ok("api v0"), "kept");
    FAIL.store(0, SeqCst);
    assert_eq!(version("api").as_deref(), Ok("api v2"), "rebuilt");
    assert_eq!(version("api").as_deref(), Ok("api v2"));
}

/// A function generic through its `impl` keeps one map per instantiation on the shared
/// engine too: the same key never returns another instantiation's value.
#[test]
fn generic_impls_keep_a_map_per_instantiation() {
    struct Codec<T>(std::marker::PhantomData<T>);
    impl<T: 'static> Codec<T> {
        #[ttl_cached(ttl = "1h")]
        fn describe(id: u32) -> String {
            format!("{}#{id}", std::any::type_name::<T>())
        }
    }
    assert_eq!(Codec::<u8>::describe(1), "u8#1");
    assert_eq!(Codec::<String>::describe(1), "alloc::string::String#1");
    assert_eq!(Codec::<u8>::describe(1), "u8#1");
}

/// Hits from many threads on word and boxed values, while misses land: every call gets its
/// own key's value.
#[test]
fn threads_get_their_own_keys_values() {
    #[ttl_cached(ttl = "1h")]
    fn square(n: u64) -> u64 {
        n * n
    }
    #[ttl_cached(ttl = "1h")]
    fn label(n: u64) -> std::sync::Arc<str> {
        format!("n{n}").into()
    }
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for round in 0..3 {
                    for n in 0..500u64 {
                        let n = (n * 7 + t + round) % 500;
                        assert_eq!(square(n), n * n);
                        assert_eq!(&*label(n), format!("n{n}"));
                    }
                }
            });
        }
    });
}

/// Many instantiations of a generic `impl`, first called from several threads at once, each
/// find their own map (the later ones through a list a hit only reads).
#[test]
fn instantiations_made_at_once_from_several_threads_keep_their_own_maps() {
    struct Tag<const N: usize>;
    trait Named {
        fn name() -> usize;
    }
    impl<const N: usize> Named for Tag<N> {
        fn name() -> usize {
            N
        }
    }
    struct Table<T>(std::marker::PhantomData<T>);
    impl<T: Named + 'static> Table<T> {
        #[ttl_cached(ttl = "1h")]
        fn row(id: u32) -> (usize, u32) {
            (T::name(), id)
        }
    }
    fn all(id: u32) -> [(usize, u32); 6] {
        [
            Table::<Tag<0>>::row(id),
            Table::<Tag<1>>::row(id),
            Table::<Tag<2>>::row(id),
            Table::<Tag<3>>::row(id),
            Table::<Tag<4>>::row(id),
            Table::<Tag<5>>::row(id),
        ]
    }
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for round in 0..50 {
                    let id = round % 7;
                    let want: Vec<(usize, u32)> = (0..6).map(|n| (n, id)).collect();
                    assert_eq!(all(id).to_vec(), want);
                }
            });
        }
    });
}
