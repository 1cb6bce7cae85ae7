//! Review 15: the shared engine that every plain `#[ttl_cached]` function runs on in a debug
//! build (sync, no `cache = name` handle, not `shared`; `cache-core/src/erased.rs`), attacked
//! through the attribute. Keys and values of small `Copy` types are kept as words, others
//! boxed; the key's hash is carried; a hit clones the value out under the shard's read lock;
//! errors stay with the typed face or are boxed to be shared. Each test checks a promise a
//! typed map keeps (single flight, never a wrong value, stats that add up, user code that
//! panics leaving the cache usable and the process alive, zero-allocation hits), and where
//! useful runs the same function with a `cache = name` handle (a typed map) beside it: the
//! two engines must agree.
//!
//! One test failed at the commit it was written against (e47bc09), marked `Was broken:`.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_core::{ManualClock, Stats, ttl_cached};
use tests::counting::{Counting, allocations_during};
use tests::{
    assert_reentry, cache_named, in_child, in_own_process, quiet_panics, shared_clock, wait_until,
    within,
};

#[global_allocator]
static GLOBAL: Counting = Counting;

const PATIENCE: Duration = Duration::from_secs(30);

/// A capacity of nothing, as an expression (the literal `0` is refused at compile time): no
/// value is ever stored, so the callers' copies are the only ones.
const NOTHING: usize = 0;

fn stats(name: &str) -> Stats {
    cache_named(name).stats()
}

/// Silences the panics the tests provoke: "boom...", and the engine's own messages for a
/// re-entrant call and a cycle of waits.
fn quiet() {
    quiet_panics(|p| {
        let message = tests::panic_message(p);
        message.starts_with("re-entrant") || message.starts_with("deadlock")
    });
}

// ---------------------------------------------------------------------------------------
// A value's `Drop` that panics: the process must survive.
// ---------------------------------------------------------------------------------------

/// A value whose `Drop` panics while `armed` says so: every copy of it, also one dropped while
/// another panic unwinds (a typed map drops such a copy on its own, catching the second
/// panic, so the process survives; see `Kept`, `drop_unwinding`, `unless_panicked`).
#[derive(Clone)]
struct Bomb {
    n: u64,
    armed: &'static AtomicBool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed.load(SeqCst) {
            panic!("boom: a value's Drop");
        }
    }
}

/// The typed engine: a function with a handle, capacity 0, whose value's `Drop` panics. The
/// call may panic (the map's copy panics as it is dropped), but the process lives on.
#[test]
fn typed_map_a_value_whose_drop_panics_does_not_abort() {
    in_child("typed_map_a_value_whose_drop_panics_does_not_abort", || {
        quiet();
        static ARMED: AtomicBool = AtomicBool::new(false);
        #[ttl_cached(ttl = "1h", capacity = NOTHING, cache = bombs)]
        fn bomb(n: u64) -> Bomb {
            Bomb { n, armed: &ARMED }
        }
        let _ = &bombs;
        ARMED.store(true, SeqCst);
        let got = catch_unwind(|| std::mem::forget(bomb(1)));
        ARMED.store(false, SeqCst);
        drop(got);
        assert_eq!(bomb(2).n, 2, "the function still works");
    });
}

/// The shared engine, the same function without a handle: the last `Arc` of the value goes
/// in the typed face, after the caller's copy is cloned out of it; its `Drop` panics there,
/// and the process must live on (the caller's copy must not be dropped while that unwinds).
#[test]
fn plain_function_a_value_whose_drop_panics_does_not_abort() {
    in_child(
        "plain_function_a_value_whose_drop_panics_does_not_abort",
        || {
            quiet();
            static ARMED: AtomicBool = AtomicBool::new(false);
            #[ttl_cached(ttl = "1h", capacity = NOTHING)]
            fn bomb(n: u64) -> Bomb {
                Bomb { n, armed: &ARMED }
            }
            ARMED.store(true, SeqCst);
            let got = catch_unwind(|| std::mem::forget(bomb(1)));
            ARMED.store(false, SeqCst);
            drop(got);
            assert_eq!(bomb(2).n, 2, "the function still works");
        },
    );
}

/// The same for a waiter of a flight whose value is not stored (invalidated by `clear` while
/// it was built): whichever caller drops the last `Arc` does so in the typed face.
#[test]
fn plain_function_a_waiter_whose_value_drop_panics_does_not_abort() {
    in_child(
        "plain_function_a_waiter_whose_value_drop_panics_does_not_abort",
        || {
            quiet();
            static ARMED: AtomicBool = AtomicBool::new(false);
            static GO: AtomicBool = AtomicBool::new(false);
            static RUNS: AtomicUsize = AtomicUsize::new(0);
            const NAME: &str = "review15::waiter_bomb";
            #[ttl_cached(ttl = "1h", name = NAME)]
            fn bomb(n: u64) -> Bomb {
                RUNS.fetch_add(1, SeqCst);
                wait_until("the waiter joined", || GO.load(SeqCst));
                // Invalidated: the flight's value is handed out but not stored.
                cache_named(NAME).clear();
                Bomb { n, armed: &ARMED }
            }
            let leader = std::thread::spawn(|| {
                let got = catch_unwind(|| std::mem::forget(bomb(1)));
                drop(got);
            });
            wait_until("the leader runs", || RUNS.load(SeqCst) == 1);
            let waiter = std::thread::spawn(|| {
                let got = catch_unwind(|| std::mem::forget(bomb(1)));
                drop(got);
            });
            wait_until("the waiter joined", || stats(NAME).coalesced == 1);
            ARMED.store(true, SeqCst);
            GO.store(true, SeqCst);
            let _ = leader.join();
            let _ = waiter.join();
            ARMED.store(false, SeqCst);
        },
    );
}

/// The `Drop` of a plain function's value uses the same function (and another) when the last
/// copy goes, in the caller's call (nothing stored: capacity 0) and in a `clear`: no lock is
/// held there, so it neither deadlocks nor panics.
#[test]
fn a_value_whose_drop_calls_its_own_function_does_not_deadlock() {
    within(PATIENCE, || {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Echo(u64);
        impl Clone for Echo {
            fn clone(&self) -> Self {
                Echo(self.0)
            }
        }
        impl Drop for Echo {
            fn drop(&mut self) {
                DROPS.fetch_add(1, SeqCst);
                if self.0 < 1000 {
                    assert_eq!(echo(self.0 + 1000).0, self.0 + 1000);
                    assert_eq!(stored_echo(self.0 + 1000).0, self.0 + 1000);
                    assert_eq!(square(self.0), self.0 * self.0);
                }
            }
        }
        #[ttl_cached(ttl = "1h", capacity = NOTHING)]
        fn echo(n: u64) -> Echo {
            Echo(n)
        }
        const NAME: &str = "review15::stored_echo";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn stored_echo(n: u64) -> Echo {
            Echo(n)
        }
        #[ttl_cached(ttl = "1h")]
        fn square(n: u64) -> u64 {
            n * n
        }
        for n in 0..20 {
            assert_eq!(echo(n).0, n);
            assert_eq!(stored_echo(n).0, n);
        }
        // Every stored value's `Drop` calls the function whose map is being cleared.
        cache_named(NAME).clear();
        assert!(DROPS.load(SeqCst) > 40);
        for n in 0..20 {
            assert_eq!(stored_echo(n).0, n);
        }
    });
}

// ---------------------------------------------------------------------------------------
// A value's `Clone` that panics.
// ---------------------------------------------------------------------------------------

/// A value whose `Clone` panics on a hit (under the shard's read lock): the call panics, and
/// the map goes on serving this thread and others, and its stats add up.
#[test]
fn a_value_whose_clone_panics_on_a_hit_leaves_the_map_usable() {
    quiet();
    within(PATIENCE, || {
        static FRAGILE: AtomicBool = AtomicBool::new(false);
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        struct Fragile(Arc<str>);
        impl Clone for Fragile {
            fn clone(&self) -> Self {
                if FRAGILE.load(SeqCst) {
                    panic!("boom: a value's Clone");
                }
                Fragile(Arc::clone(&self.0))
            }
        }
        const NAME: &str = "review15::fragile";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn fragile(key: &str) -> Fragile {
            BUILT.fetch_add(1, SeqCst);
            Fragile(key.into())
        }
        assert_eq!(&*fragile("a").0, "a");
        FRAGILE.store(true, SeqCst);
        assert!(
            catch_unwind(|| fragile("a")).is_err(),
            "the hit's clone panics"
        );
        assert!(catch_unwind(|| fragile("a")).is_err(), "again");
        FRAGILE.store(false, SeqCst);
        assert_eq!(&*fragile("a").0, "a", "the same thread");
        let other = std::thread::spawn(|| fragile("a").0.to_string());
        assert_eq!(other.join().unwrap(), "a", "another thread");
        // A miss on the same map takes the write lock of a shard the panicking hit read.
        for key in ["b", "c", "d", "e", "f", "g", "h"] {
            assert_eq!(&*fragile(key).0, key);
        }
        assert_eq!(BUILT.load(SeqCst), 8);
        let s = stats(NAME);
        assert_eq!(
            (s.hits, s.misses),
            (4, 8),
            "11 calls (3 hits, 1 panicked on its clone)"
        );
        assert_eq!(s.inserts, 8);
    });
}

/// A value whose `Clone` panics in the leader's call and in each waiter's: no deadlock, no
/// abort, and the next calls get the value.
#[test]
fn a_value_whose_clone_panics_for_the_leader_and_its_waiters() {
    quiet();
    within(PATIENCE, || {
        static FRAGILE: AtomicBool = AtomicBool::new(false);
        static GO: AtomicBool = AtomicBool::new(false);
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        struct Fragile(u128);
        impl Clone for Fragile {
            fn clone(&self) -> Self {
                if FRAGILE.load(SeqCst) {
                    panic!("boom: a value's Clone");
                }
                Fragile(self.0)
            }
        }
        const NAME: &str = "review15::fragile_flight";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn fragile(key: u128) -> Fragile {
            RUNS.fetch_add(1, SeqCst);
            wait_until("the waiters joined", || GO.load(SeqCst));
            Fragile(key)
        }
        let leader = std::thread::spawn(|| catch_unwind(|| fragile(u128::MAX).0).ok());
        wait_until("the leader runs", || RUNS.load(SeqCst) == 1);
        let waiters: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(|| catch_unwind(|| fragile(u128::MAX).0).ok()))
            .collect();
        wait_until("the waiters joined", || stats(NAME).coalesced == 3);
        FRAGILE.store(true, SeqCst);
        GO.store(true, SeqCst);
        let mut got = vec![leader.join().unwrap()];
        got.extend(waiters.into_iter().map(|w| w.join().unwrap()));
        FRAGILE.store(false, SeqCst);
        for got in got.into_iter().flatten() {
            assert_eq!(
                got,
                u128::MAX,
                "a caller that got a value got the right one"
            );
        }
        assert_eq!(fragile(u128::MAX).0, u128::MAX);
        assert_eq!(fragile(7).0, 7);
        let s = stats(NAME);
        assert_eq!(s.hits + s.misses, 6, "six calls");
    });
}

// ---------------------------------------------------------------------------------------
// A key's `Eq`, `Hash` and `Clone` that panic.
// ---------------------------------------------------------------------------------------

static TOUCHY: AtomicBool = AtomicBool::new(false);

/// A boxed key whose `Eq` panics while `TOUCHY` is set.
#[derive(Clone)]
struct Touchy(u64);

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if TOUCHY.load(SeqCst) {
            panic!("boom: a key's Eq");
        }
        self.0 == other.0
    }
}

impl Eq for Touchy {}

/// A key whose `Eq` panics in the lookup (under the read lock) and in the flights' table
/// (under its mutex, while another thread leads the key's flight): the map stays usable, the
/// flight lands, and hits + misses count every call.
#[test]
fn a_key_whose_eq_panics_in_the_lookup_and_the_flights_table() {
    quiet();
    within(PATIENCE, || {
        static GO: AtomicBool = AtomicBool::new(false);
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        const NAME: &str = "review15::touchy";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn touchy(key: &Touchy) -> String {
            RUNS.fetch_add(1, SeqCst);
            if key.0 == 7 {
                wait_until("the other caller panicked", || GO.load(SeqCst));
            }
            format!("v{}", key.0)
        }
        assert_eq!(touchy(&Touchy(1)), "v1");
        TOUCHY.store(true, SeqCst);
        assert!(catch_unwind(|| touchy(&Touchy(1))).is_err(), "Eq panics");
        TOUCHY.store(false, SeqCst);
        assert_eq!(touchy(&Touchy(1)), "v1");
        // A flight of key 7 is under way; a caller's `Eq` panics as it looks for it.
        let leader = std::thread::spawn(|| touchy(&Touchy(7)));
        wait_until("the leader runs", || RUNS.load(SeqCst) == 2);
        TOUCHY.store(true, SeqCst);
        let joiner = std::thread::spawn(|| catch_unwind(|| touchy(&Touchy(7))).is_err());
        assert!(joiner.join().unwrap(), "Eq panics in the flights' table");
        TOUCHY.store(false, SeqCst);
        GO.store(true, SeqCst);
        assert_eq!(leader.join().unwrap(), "v7");
        assert_eq!(touchy(&Touchy(7)), "v7", "the flight landed");
        assert_eq!(RUNS.load(SeqCst), 2);
        let s = stats(NAME);
        assert_eq!(s.hits + s.misses, 6, "six calls: {s:?}");
        assert_eq!(s.hits, 2);
    });
}

/// A key whose `Hash` panics: nothing is registered, and the next call works.
#[test]
fn a_key_whose_hash_panics_leaves_nothing_behind() {
    quiet();
    within(PATIENCE, || {
        static ANGRY: AtomicBool = AtomicBool::new(false);
        #[derive(Clone, PartialEq, Eq)]
        struct Hashy(String);
        impl std::hash::Hash for Hashy {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                if ANGRY.load(SeqCst) {
                    panic!("boom: a key's Hash");
                }
                self.0.hash(state);
            }
        }
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        #[ttl_cached(ttl = "1h")]
        fn hashy(key: Hashy, n: u8) -> String {
            RUNS.fetch_add(1, SeqCst);
            format!("{}{n}", key.0)
        }
        ANGRY.store(true, SeqCst);
        assert!(catch_unwind(|| hashy(Hashy("a".into()), 1)).is_err());
        ANGRY.store(false, SeqCst);
        assert_eq!(hashy(Hashy("a".into()), 1), "a1");
        assert_eq!(hashy(Hashy("a".into()), 1), "a1");
        assert_eq!(RUNS.load(SeqCst), 1);
    });
}

/// A borrowed key whose `Clone` (its `to_owned`, made under the locks to register the flight)
/// panics: no flight is left registered (a later caller would wait on it forever), and the
/// next call builds the value.
#[test]
fn a_key_whose_clone_panics_registers_no_flight() {
    quiet();
    within(PATIENCE, || {
        static CLONY: AtomicBool = AtomicBool::new(false);
        #[derive(Hash, PartialEq, Eq)]
        struct Clony(u32);
        impl Clone for Clony {
            fn clone(&self) -> Self {
                if CLONY.load(SeqCst) {
                    panic!("boom: a key's Clone");
                }
                Clony(self.0)
            }
        }
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        const NAME: &str = "review15::clony";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn clony(key: &Clony) -> Result<u64, String> {
            RUNS.fetch_add(1, SeqCst);
            Ok(u64::from(key.0) * 2)
        }
        CLONY.store(true, SeqCst);
        assert!(catch_unwind(|| clony(&Clony(5))).is_err());
        assert_eq!(RUNS.load(SeqCst), 0, "it panicked before the constructor");
        CLONY.store(false, SeqCst);
        let other = std::thread::spawn(|| clony(&Clony(5)));
        assert_eq!(other.join().unwrap(), Ok(10));
        assert_eq!(clony(&Clony(5)), Ok(10));
        assert_eq!(RUNS.load(SeqCst), 1);
        let s = stats(NAME);
        assert_eq!((s.hits, s.misses), (1, 2));
    });
}

// ---------------------------------------------------------------------------------------
// Key and value types at the edges of "a word".
// ---------------------------------------------------------------------------------------

/// Zero-sized keys and values, `()` returns and a function of no arguments.
#[test]
fn zero_sized_keys_values_and_unit_returns() {
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    struct Here;
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    struct There;
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static TOUCHED: AtomicUsize = AtomicUsize::new(0);
    static NONE: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h")]
    fn there(here: Here) -> There {
        let _ = here;
        RUNS.fetch_add(1, SeqCst);
        There
    }
    #[ttl_cached(ttl = "1h")]
    fn touch(n: u64) {
        let _ = n;
        TOUCHED.fetch_add(1, SeqCst);
    }
    #[ttl_cached(ttl = "1h")]
    fn unit_key_unit_value() {
        NONE.fetch_add(1, SeqCst);
    }
    #[ttl_cached(ttl = "1h")]
    fn nothing(unit: ()) -> PhantomData<String> {
        let () = unit;
        NONE.fetch_add(1, SeqCst);
        PhantomData
    }
    for _ in 0..3 {
        assert_eq!(there(Here), There);
        touch(1);
        touch(2);
        unit_key_unit_value();
        let PhantomData = nothing(());
    }
    assert_eq!(RUNS.load(SeqCst), 1);
    assert_eq!(TOUCHED.load(SeqCst), 2);
    assert_eq!(NONE.load(SeqCst), 2);
}

/// 128-bit integers are not words: keys beyond 64 bits must not meet the keys they truncate
/// to, and values come back whole.
#[test]
fn u128_and_i128_keys_and_values_keep_every_bit() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h")]
    fn wide(x: u128) -> u128 {
        RUNS.fetch_add(1, SeqCst);
        !x
    }
    #[ttl_cached(ttl = "1h")]
    fn signed(x: i128) -> i128 {
        RUNS.fetch_add(1, SeqCst);
        x.wrapping_neg() ^ 1
    }
    #[ttl_cached(ttl = "1h")]
    fn narrow(x: u64) -> u128 {
        RUNS.fetch_add(1, SeqCst);
        u128::from(x) << 64 | u128::from(x)
    }
    let wides = [
        0,
        1,
        u128::from(u64::MAX),
        u128::from(u64::MAX) + 1,
        1 << 127,
        (1 << 64) | 1,
        u128::MAX,
        u128::MAX - 1,
    ];
    let signeds = [
        0,
        -1,
        1,
        i128::from(i64::MIN),
        i128::from(i64::MAX),
        i128::from(u64::MAX),
        -i128::from(u64::MAX),
        i128::MIN,
        i128::MAX,
    ];
    for _ in 0..2 {
        for &x in &wides {
            assert_eq!(wide(x), !x);
        }
        for &x in &signeds {
            assert_eq!(signed(x), x.wrapping_neg() ^ 1);
        }
        for x in [0, 1, u64::MAX] {
            assert_eq!(narrow(x), u128::from(x) << 64 | u128::from(x));
        }
    }
    assert_eq!(RUNS.load(SeqCst), wides.len() + signeds.len() + 3);
}

/// Keys that are not words but are made of them: `Option<u64>`, tuples of words of mixed
/// signs, `&str` and `Option<&str>` (empty, NUL), and `char` at its edges as a word key.
#[test]
fn composite_keys_made_of_words_stay_apart() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h")]
    fn opt(x: Option<u64>) -> String {
        RUNS.fetch_add(1, SeqCst);
        format!("{x:?}")
    }
    #[ttl_cached(ttl = "1h")]
    fn pair(a: u64, b: i64) -> (u64, i64) {
        RUNS.fetch_add(1, SeqCst);
        (a, b)
    }
    #[ttl_cached(ttl = "1h")]
    fn triple(a: u8, b: bool, c: char) -> (u8, bool, char) {
        RUNS.fetch_add(1, SeqCst);
        (a, b, c)
    }
    #[ttl_cached(ttl = "1h")]
    fn text(s: &str) -> usize {
        RUNS.fetch_add(1, SeqCst);
        s.len() * 10 + s.chars().filter(|&c| c == '\0').count()
    }
    #[ttl_cached(ttl = "1h")]
    fn maybe(s: Option<&str>) -> i64 {
        RUNS.fetch_add(1, SeqCst);
        s.map_or(-1, |s| s.len() as i64)
    }
    #[ttl_cached(ttl = "1h")]
    fn code(c: char) -> u32 {
        RUNS.fetch_add(1, SeqCst);
        u32::from(c)
    }
    let opts = [None, Some(0), Some(1), Some(u64::MAX)];
    let pairs = [
        (0, 0),
        (0, -1),
        (u64::MAX, 0),
        (u64::MAX, -1),
        (1, i64::MIN),
    ];
    let triples = [
        (0, false, '\0'),
        (0, true, '\0'),
        (1, false, '\0'),
        (0, false, '\u{1}'),
    ];
    let texts = ["", "\0", "\0\0", "a", "a\0"];
    let maybes = [None, Some(""), Some("\0"), Some("x")];
    let chars = [
        '\0',
        '\u{7f}',
        '\u{ff}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{fffd}',
        char::MAX,
    ];
    for _ in 0..2 {
        for &x in &opts {
            assert_eq!(opt(x), format!("{x:?}"));
        }
        for &(a, b) in &pairs {
            assert_eq!(pair(a, b), (a, b));
        }
        for &(a, b, c) in &triples {
            assert_eq!(triple(a, b, c), (a, b, c));
        }
        for &s in &texts {
            assert_eq!(text(s), s.len() * 10 + s.matches('\0').count());
        }
        for &s in &maybes {
            assert_eq!(maybe(s), s.map_or(-1, |s| s.len() as i64));
        }
        for &c in &chars {
            assert_eq!(code(c), u32::from(c));
        }
    }
    let distinct =
        opts.len() + pairs.len() + triples.len() + texts.len() + maybes.len() + chars.len();
    assert_eq!(
        RUNS.load(SeqCst),
        distinct,
        "each key built once, none shared"
    );
}

// ---------------------------------------------------------------------------------------
// Failed flights with waiters: each gets the right error or value.
// ---------------------------------------------------------------------------------------

/// The harness of a failing flight: a leader blocked in its constructor until `waiters`
/// callers have joined (watched through `coalesced` of the map named `name`), then each
/// caller's result.
fn failing_flight<R: Send + 'static>(
    name: &'static str,
    runs: &'static AtomicUsize,
    go: &'static AtomicBool,
    waiters: usize,
    call: fn() -> R,
) -> (R, Vec<R>) {
    let leader = std::thread::spawn(call);
    wait_until("the leader runs", || runs.load(SeqCst) == 1);
    let waiting: Vec<_> = (0..waiters).map(|_| std::thread::spawn(call)).collect();
    wait_until("the waiters joined", || {
        stats(name).coalesced == waiters as u64
    });
    go.store(true, SeqCst);
    let led = leader.join().unwrap();
    (
        led,
        waiting.into_iter().map(|w| w.join().unwrap()).collect(),
    )
}

/// An error that is not `Clone` stays with the leader; each waiter makes its own attempt at
/// once, and gets its own result (here, a value).
#[test]
fn an_error_that_is_not_clone_stays_with_the_leader_and_waiters_try_for_themselves() {
    within(PATIENCE, || {
        #[derive(Debug, PartialEq)]
        struct Opaque(usize);
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        static GO: AtomicBool = AtomicBool::new(false);
        const NAME: &str = "review15::opaque";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn opaque(key: &str) -> Result<Arc<str>, Opaque> {
            let run = RUNS.fetch_add(1, SeqCst);
            if run == 0 {
                wait_until("the waiters joined", || GO.load(SeqCst));
                return Err(Opaque(run));
            }
            Ok(format!("{key}!").into())
        }
        let (led, waited) = failing_flight(NAME, &RUNS, &GO, 3, || opaque("k"));
        assert_eq!(led, Err(Opaque(0)), "the leader's own error");
        for got in waited {
            assert_eq!(got.as_deref(), Ok("k!"), "a waiter's own attempt");
        }
        assert_eq!(RUNS.load(SeqCst), 4);
        assert_eq!(
            opaque("k").as_deref(),
            Ok("k!"),
            "an attempt's value is stored"
        );
        assert_eq!(RUNS.load(SeqCst), 4);
        let s = stats(NAME);
        assert_eq!((s.hits, s.misses, s.coalesced), (1, 4, 3));
    });
}

/// An error that is `Clone` goes to every waiter of the flight: one run for all, each caller
/// gets the leader's error, as its own type, for boxed and word values alike.
#[test]
fn a_clone_error_is_shared_with_every_waiter() {
    within(PATIENCE, || {
        #[derive(Debug, Clone, PartialEq)]
        struct Down(String, u64);
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        static GO: AtomicBool = AtomicBool::new(false);
        const NAME: &str = "review15::down";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn down(key: u64) -> Result<u64, Down> {
            let run = RUNS.fetch_add(1, SeqCst);
            wait_until("the waiters joined", || GO.load(SeqCst));
            Err(Down(format!("run {run}"), key))
        }
        let (led, waited) = failing_flight(NAME, &RUNS, &GO, 3, || down(u64::MAX));
        let expected = Err(Down("run 0".into(), u64::MAX));
        assert_eq!(led, expected);
        for got in waited {
            assert_eq!(got, expected, "the leader's error, shared");
        }
        assert_eq!(RUNS.load(SeqCst), 1, "one run for all");
        let s = stats(NAME);
        assert_eq!((s.hits, s.misses, s.coalesced, s.inserts), (0, 4, 3, 0));
    });
}

/// A `None` goes to every waiter; a later `Some` is cached.
#[test]
fn a_none_is_shared_with_every_waiter() {
    within(PATIENCE, || {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        static GO: AtomicBool = AtomicBool::new(false);
        const NAME: &str = "review15::none";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn none(key: (u8, i8)) -> Option<Arc<[u8]>> {
            let run = RUNS.fetch_add(1, SeqCst);
            if run == 0 {
                wait_until("the waiters joined", || GO.load(SeqCst));
                return None;
            }
            Some(vec![key.0; 3].into())
        }
        let (led, waited) = failing_flight(NAME, &RUNS, &GO, 2, || none((9, -9)));
        assert_eq!(led, None);
        assert!(waited.iter().all(Option::is_none));
        assert_eq!(RUNS.load(SeqCst), 1);
        assert_eq!(none((9, -9)).as_deref(), Some(&[9, 9, 9][..]));
        assert_eq!(none((9, -9)).as_deref(), Some(&[9, 9, 9][..]));
        assert_eq!(RUNS.load(SeqCst), 2);
    });
}

/// A shared error whose `Clone` panics: the leader and each waiter panic as they take their
/// copy; nothing hangs and the function works afterwards.
#[test]
fn a_shared_error_whose_clone_panics() {
    quiet();
    within(PATIENCE, || {
        static SPIKY: AtomicBool = AtomicBool::new(false);
        #[derive(Debug)]
        struct Spiky;
        impl Clone for Spiky {
            fn clone(&self) -> Self {
                if SPIKY.load(SeqCst) {
                    panic!("boom: an error's Clone");
                }
                Spiky
            }
        }
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        static GO: AtomicBool = AtomicBool::new(false);
        const NAME: &str = "review15::spiky";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn spiky(key: &str) -> Result<String, Spiky> {
            let run = RUNS.fetch_add(1, SeqCst);
            if run == 0 {
                wait_until("the waiters joined", || GO.load(SeqCst));
                SPIKY.store(true, SeqCst);
                return Err(Spiky);
            }
            Ok(key.to_uppercase())
        }
        let call = || catch_unwind(|| spiky("x")).map(|r| r.is_ok());
        let (led, waited) = failing_flight(NAME, &RUNS, &GO, 2, call);
        SPIKY.store(false, SeqCst);
        // A panic or the leader's error: never a value nobody built.
        assert_ne!(led.ok(), Some(true));
        for got in waited {
            assert_ne!(got.ok(), Some(true));
        }
        assert_eq!(spiky("x").ok().as_deref(), Some("X"));
    });
}

// ---------------------------------------------------------------------------------------
// Recursion.
// ---------------------------------------------------------------------------------------

/// Recursion through many keys, and a constructor asking for its own key (directly, through
/// another function, with a word key and a boxed one): the re-entrant call panics with the
/// message instead of hanging, and the map is usable afterwards.
#[test]
fn recursion_and_reentry_on_the_shared_engine() {
    quiet();
    within(PATIENCE, || {
        #[ttl_cached(ttl = "1h")]
        fn fib(n: u64) -> u64 {
            if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
        }
        #[ttl_cached(ttl = "1h")]
        fn depth(n: u32) -> Arc<str> {
            match n {
                0 => "0".into(),
                _ => format!("{}", depth(n - 1).len() as u32 + n).into(),
            }
        }
        #[ttl_cached(ttl = "1h")]
        fn selfish(n: u64) -> u64 {
            if n == 3 { selfish(3) } else { n }
        }
        #[ttl_cached(ttl = "1h")]
        fn selfish_text(s: &str, n: Option<&str>) -> String {
            if s == "loop" {
                selfish_text(s, n)
            } else {
                s.to_owned()
            }
        }
        #[ttl_cached(ttl = "1h")]
        fn ping(n: u8) -> i8 {
            pong(u16::from(n)) as i8
        }
        #[ttl_cached(ttl = "1h")]
        fn pong(n: u16) -> i16 {
            if n == 5 {
                i16::from(ping(5))
            } else {
                -(n as i16)
            }
        }
        assert_eq!(fib(90), 2_880_067_194_370_816_120);
        assert!(!depth(300).is_empty());
        for _ in 0..2 {
            assert_reentry(catch_unwind(|| selfish(3)));
            assert_reentry(catch_unwind(|| selfish_text("loop", Some("x"))));
            assert_reentry(catch_unwind(|| ping(5)));
        }
        assert_eq!(selfish(4), 4);
        assert_eq!(selfish_text("ok", None), "ok");
        assert_eq!(ping(6), -6);
        assert_eq!(pong(7), -7);
        // The same keys from another thread: no flight was left registered.
        let other = std::thread::spawn(|| {
            assert_reentry(catch_unwind(|| selfish(3)));
            assert_reentry(catch_unwind(|| ping(5)));
        });
        other.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// Generic impls.
// ---------------------------------------------------------------------------------------

/// How an instantiation reads a byte: the same key means a different value in each.
trait Reading: Send + Sync + 'static {
    fn read(x: u8) -> i64;
}

impl Reading for i8 {
    fn read(x: u8) -> i64 {
        i64::from(x as i8)
    }
}

impl Reading for u8 {
    fn read(x: u8) -> i64 {
        i64::from(x)
    }
}

impl Reading for char {
    fn read(x: u8) -> i64 {
        -i64::from(x) - 1000
    }
}

struct Reader<T>(PhantomData<T>);

impl<T: Reading> Reader<T> {
    #[ttl_cached(ttl = "1h")]
    fn word(x: u8) -> i64 {
        T::read(x)
    }

    #[ttl_cached(ttl = "1h")]
    fn boxed(x: &str, n: u8) -> (String, i64) {
        (x.to_owned(), T::read(n))
    }

    #[ttl_cached(ttl = "1h")]
    fn maybe(x: u8) -> Option<i64> {
        (x != 0).then(|| T::read(x))
    }
}

/// Instantiations of a generic `impl` with the same word keys and word values: each keeps
/// its own map on the shared engine, interleaved calls included.
#[test]
fn generic_instantiations_with_word_values_keep_their_own_maps() {
    for _ in 0..2 {
        for x in [0u8, 1, 127, 128, 200, 255] {
            assert_eq!(Reader::<i8>::word(x), i64::from(x as i8));
            assert_eq!(Reader::<u8>::word(x), i64::from(x));
            assert_eq!(Reader::<char>::word(x), -i64::from(x) - 1000);
            assert_eq!(Reader::<u8>::boxed("k", x), ("k".to_owned(), i64::from(x)));
            assert_eq!(
                Reader::<i8>::boxed("k", x),
                ("k".to_owned(), i64::from(x as i8))
            );
            assert_eq!(
                Reader::<char>::maybe(x),
                (x != 0).then(|| -i64::from(x) - 1000)
            );
            assert_eq!(Reader::<i8>::maybe(x), (x != 0).then(|| i64::from(x as i8)));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Stats, single flight and correctness under many threads.
// ---------------------------------------------------------------------------------------

/// Eight threads on word and boxed keys at once: each constructor runs once per key, every
/// call gets its key's value, and the stats of each map add up to the calls.
#[test]
fn many_threads_single_flight_and_stats_that_add_up() {
    within(Duration::from_secs(120), || {
        static BOXED_RUNS: AtomicUsize = AtomicUsize::new(0);
        static WORD_RUNS: AtomicUsize = AtomicUsize::new(0);
        const BOXED: &str = "review15::many_boxed";
        const WORDS: &str = "review15::many_words";
        #[ttl_cached(ttl = "1h", name = BOXED)]
        fn boxed(tenant: &str, region: Option<&str>) -> Arc<String> {
            BOXED_RUNS.fetch_add(1, SeqCst);
            std::thread::yield_now();
            Arc::new(format!("{tenant}/{region:?}"))
        }
        #[ttl_cached(ttl = "1h", name = WORDS)]
        fn words(n: i32) -> Result<i64, String> {
            WORD_RUNS.fetch_add(1, SeqCst);
            std::thread::yield_now();
            Ok(i64::from(n) * -3)
        }
        const THREADS: u64 = 8;
        const CALLS: u64 = 2000;
        let tenants: Vec<String> = (0..40).map(|i| format!("tenant-{i}")).collect();
        let tenants = Arc::new(tenants);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let tenants = Arc::clone(&tenants);
                s.spawn(move || {
                    let mut x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    for _ in 0..CALLS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let tenant = &tenants[(x % 40) as usize];
                        let region = (x & 64 == 0).then_some("eu");
                        assert_eq!(*boxed(tenant, region), format!("{tenant}/{region:?}"));
                        let n = (x % 100) as i32 - 50;
                        assert_eq!(words(n), Ok(i64::from(n) * -3));
                    }
                });
            }
        });
        let b = stats(BOXED);
        let w = stats(WORDS);
        assert_eq!(b.hits + b.misses, THREADS * CALLS, "{b:?}");
        assert_eq!(w.hits + w.misses, THREADS * CALLS, "{w:?}");
        assert_eq!(b.inserts as usize, BOXED_RUNS.load(SeqCst));
        assert_eq!(w.inserts as usize, WORD_RUNS.load(SeqCst));
        assert!(BOXED_RUNS.load(SeqCst) <= 80, "single flight per key");
        assert!(WORD_RUNS.load(SeqCst) <= 100, "single flight per key");
        assert_eq!(
            b.misses - b.coalesced,
            b.inserts,
            "each miss led or joined: {b:?}"
        );
        assert_eq!(
            w.misses - w.coalesced,
            w.inserts,
            "each miss led or joined: {w:?}"
        );
        assert_eq!(cache_named(BOXED).len(), BOXED_RUNS.load(SeqCst));
    });
}

// ---------------------------------------------------------------------------------------
// Capacity, expiry, freshness: the two engines agree.
// ---------------------------------------------------------------------------------------

/// The same capacity-bound function on both engines (a plain one and one with a handle),
/// with boxed keys, driven by one sequence of calls and clock moves: the same calls build,
/// so the same entries were evicted, and neither keeps more than its capacity.
#[test]
fn capacity_eviction_with_boxed_keys_agrees_with_a_typed_map() {
    static CLOCK: Mutex<Option<ManualClock>> = Mutex::new(None);
    fn clock() -> ManualClock {
        shared_clock(&CLOCK)
    }
    static ERASED_BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static TYPED_BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    const ERASED: &str = "review15::capacity_erased";
    #[ttl_cached(ttl = "100s", capacity = 5, clock = clock(), name = ERASED)]
    fn erased(key: &str) -> Arc<str> {
        ERASED_BUILT.lock().unwrap().push(key.to_owned());
        key.into()
    }
    #[ttl_cached(ttl = "100s", capacity = 5, clock = clock(), cache = typed_map)]
    fn typed(key: &str) -> Arc<str> {
        TYPED_BUILT.lock().unwrap().push(key.to_owned());
        key.into()
    }
    let keys: Vec<String> = (0..9).map(|i| format!("key-{i}")).collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for step in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = &keys[(x % 9) as usize];
        assert_eq!(&*erased(key), key.as_str());
        assert_eq!(&*typed(key), key.as_str());
        if x & 3 == 0 {
            clock().advance(Duration::from_secs(x >> 60));
        }
        assert!(cache_named(ERASED).len() <= 5);
        assert!(typed_map().len() <= 5);
        let (e, t) = (ERASED_BUILT.lock().unwrap(), TYPED_BUILT.lock().unwrap());
        assert_eq!(*e, *t, "the engines differ at step {step}");
    }
    let (e, t) = (stats(ERASED), typed_map().stats());
    assert_eq!(
        (e.hits, e.misses, e.evictions, e.expirations),
        (t.hits, t.misses, t.evictions, t.expirations)
    );
}

/// `refresh_after`, `stale_if_error` (with an error that is not `Clone`), `max_lifetime`,
/// fixed expiry and `expire_after` over a boxed key: a plain function and its twin with a
/// handle give the same answers and build the same number of times.
#[test]
fn freshness_options_agree_with_a_typed_map() {
    static CLOCK: Mutex<Option<ManualClock>> = Mutex::new(None);
    fn clock() -> ManualClock {
        shared_clock(&CLOCK)
    }
    static FAIL: AtomicBool = AtomicBool::new(false);
    static ERASED_RUNS: AtomicU64 = AtomicU64::new(0);
    static TYPED_RUNS: AtomicU64 = AtomicU64::new(0);
    #[derive(Debug, PartialEq)]
    struct Opaque;
    fn build(runs: &AtomicU64, key: &str) -> Result<(Arc<str>, u64), Opaque> {
        let run = runs.fetch_add(1, SeqCst);
        match FAIL.load(SeqCst) {
            true => Err(Opaque),
            false => Ok((key.into(), run)),
        }
    }
    #[ttl_cached(
        ttl = "60s",
        refresh_after = "20s",
        stale_if_error = "30s",
        max_lifetime = "200s",
        expire_after = |key: &String, _: &(Arc<str>, u64)| key.starts_with("short").then(|| Duration::from_secs(5)),
        clock = clock()
    )]
    fn erased(key: &str) -> Result<(Arc<str>, u64), Opaque> {
        build(&ERASED_RUNS, key)
    }
    #[ttl_cached(
        ttl = "60s",
        refresh_after = "20s",
        stale_if_error = "30s",
        max_lifetime = "200s",
        expire_after = |key: &String, _: &(Arc<str>, u64)| key.starts_with("short").then(|| Duration::from_secs(5)),
        clock = clock(),
        cache = typed_map
    )]
    fn typed(key: &str) -> Result<(Arc<str>, u64), Opaque> {
        build(&TYPED_RUNS, key)
    }
    let _ = typed_map;
    let script: &[(u64, bool, &str)] = &[
        (0, false, "long"),
        (0, false, "short"),
        (4, false, "short"),
        (2, false, "short"),
        (15, false, "long"),
        (10, false, "long"),
        (1, false, "long"),
        (70, true, "long"),
        (20, true, "long"),
        (20, true, "long"),
        (0, false, "long"),
        (50, false, "long"),
        (50, false, "long"),
        (50, false, "long"),
        (50, false, "long"),
        (3, false, "long"),
    ];
    for (i, &(advance, fail, key)) in script.iter().enumerate() {
        clock().advance(Duration::from_secs(advance));
        FAIL.store(fail, SeqCst);
        let e = erased(key).map(|(k, run)| (k.to_string(), run));
        let t = typed(key).map(|(k, run)| (k.to_string(), run));
        assert_eq!(e, t, "step {i}");
        assert_eq!(
            ERASED_RUNS.load(SeqCst),
            TYPED_RUNS.load(SeqCst),
            "step {i}"
        );
    }
}

/// A custom key over the arguments (a word, and a `String` built from them).
#[test]
fn custom_keys_on_the_shared_engine() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h", key: u16 = (host.len() as u16) << 8 | (port % 256))]
    fn by_word(host: &str, port: u16) -> String {
        RUNS.fetch_add(1, SeqCst);
        format!("{host}:{port}")
    }
    #[ttl_cached(ttl = "1h", key: String = format!("{host}:{port}"))]
    fn by_string(host: &str, port: u16) -> (u16, usize) {
        RUNS.fetch_add(1, SeqCst);
        (port, host.len())
    }
    assert_eq!(by_word("ab", 1), "ab:1");
    assert_eq!(by_word("cd", 1), "ab:1", "one key: the first value");
    assert_eq!(by_word("cd", 257), "ab:1", "one key: the first value");
    assert_eq!(by_word("abc", 1), "abc:1");
    assert_eq!(by_string("a", 1), (1, 1));
    assert_eq!(by_string("a", 1), (1, 1));
    assert_eq!(by_string("a", 2), (2, 1));
    assert_eq!(RUNS.load(SeqCst), 4);
}

// ---------------------------------------------------------------------------------------
// Hits allocate nothing.
// ---------------------------------------------------------------------------------------

/// Hits of plain functions with boxed keys and shared values, with `Result` and `Option`
/// returns, and with 128-bit keys, allocate nothing.
#[test]
fn plain_function_hits_with_boxed_keys_and_shared_values_allocate_nothing() {
    #[ttl_cached(ttl = "1h")]
    fn client(api_key: &str) -> Arc<String> {
        Arc::new(api_key.to_uppercase())
    }
    #[ttl_cached(ttl = "1h")]
    fn route(tenant: &str, region: Option<&str>, n: u128) -> Result<Arc<str>, String> {
        Ok(format!("{tenant}{region:?}{n}").into())
    }
    #[ttl_cached(ttl = "1h")]
    fn wide(n: u128) -> Option<(u128, [u64; 4])> {
        Some((n, [1, 2, 3, 4]))
    }
    #[ttl_cached(ttl = "1h")]
    fn opt(n: Option<u64>) -> i128 {
        i128::from(n.unwrap_or(7)) << 70
    }
    let keys: Vec<String> = (0..50).map(|i| format!("sk-{i:040}")).collect();
    // Warm up: the misses, and the thread's first use of each lock.
    for (i, key) in keys.iter().enumerate() {
        client(key);
        let _ = route(key, Some("eu"), i as u128);
        wide(u128::MAX - i as u128);
        opt(Some(i as u64));
    }
    let n = allocations_during(|| {
        for round in 0..20 {
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(client(key).len(), key.len());
                assert!(route(key, Some("eu"), i as u128).is_ok());
                assert_eq!(
                    wide(u128::MAX - i as u128).map(|v| v.0),
                    Some(u128::MAX - i as u128)
                );
                assert_eq!(opt(Some(i as u64)), i128::from(i as u64) << 70);
                let _ = round;
            }
        }
    });
    assert_eq!(n, 0, "hits allocated");
}

// ---------------------------------------------------------------------------------------
// Calls from a thread's thread-local destructors.
// ---------------------------------------------------------------------------------------

/// A thread-local's `Drop` calls plain functions (word and boxed, `Result` too) while its
/// thread's thread-locals are destroyed, where no flight can be led: the calls get their
/// values, the process lives.
#[test]
fn plain_functions_called_during_thread_local_destruction() {
    in_own_process(
        "plain_functions_called_during_thread_local_destruction",
        || {
            static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
            #[ttl_cached(ttl = "1h")]
            fn late_word(n: u32) -> u32 {
                n + 1
            }
            #[ttl_cached(ttl = "1h")]
            fn late_text(s: &str) -> Result<Arc<str>, String> {
                Ok(format!("<{s}>").into())
            }
            struct Late;
            impl Drop for Late {
                fn drop(&mut self) {
                    let mut seen = SEEN.lock().unwrap();
                    for _ in 0..2 {
                        seen.push(late_word(41).to_string());
                        seen.push(late_text("x").unwrap().to_string());
                    }
                }
            }
            thread_local! {
                static LATE: Late = const { Late };
            }
            std::thread::spawn(|| LATE.with(|_| ())).join().unwrap();
            let seen = SEEN.lock().unwrap().clone();
            assert_eq!(seen, ["42", "<x>", "42", "<x>"]);
            let distinct: HashSet<_> = seen.into_iter().collect();
            assert_eq!(distinct.len(), 2);
        },
    );
}

// ---------------------------------------------------------------------------------------
// More of the protocol on the shared engine.
// ---------------------------------------------------------------------------------------

/// A constructor that panics while callers wait: the leader's call panics, each waiter makes
/// its own attempt and gets its key's value, and an attempt's value is stored.
#[test]
fn a_panicking_leader_sends_its_waiters_to_their_own_attempts() {
    quiet();
    within(PATIENCE, || {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        static GO: AtomicBool = AtomicBool::new(false);
        const NAME: &str = "review15::panicking_leader";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn flaky(key: &str, n: u128) -> Arc<(String, u128)> {
            if RUNS.fetch_add(1, SeqCst) == 0 {
                wait_until("the waiters joined", || GO.load(SeqCst));
                panic!("boom: the leader's constructor");
            }
            Arc::new((key.to_owned(), n))
        }
        let call = || catch_unwind(|| flaky("k", u128::MAX)).map(|v| (*v).clone());
        let (led, waited) = failing_flight(NAME, &RUNS, &GO, 3, call);
        assert!(led.is_err(), "the leader's call panics");
        for got in waited {
            assert_eq!(got.ok(), Some(("k".to_owned(), u128::MAX)));
        }
        assert_eq!(RUNS.load(SeqCst), 4, "one attempt per waiter");
        assert_eq!(flaky("k", u128::MAX).1, u128::MAX);
        assert_eq!(RUNS.load(SeqCst), 4, "stored");
        let s = stats(NAME);
        assert_eq!((s.hits, s.misses, s.coalesced), (1, 4, 3));
    });
}

/// Two plain functions' constructors on two threads, each waiting for the other's key (a
/// cycle): a call panics with the deadlock message instead of both hanging (the other side,
/// whose flight it was waiting for then panicked, makes its own attempt, which re-enters its
/// own key and panics so).
#[test]
fn a_cycle_of_waits_across_threads_panics_instead_of_hanging() {
    quiet();
    within(PATIENCE, || {
        static IN_A: AtomicBool = AtomicBool::new(false);
        static IN_B: AtomicBool = AtomicBool::new(false);
        #[ttl_cached(ttl = "1h")]
        fn a(n: u64) -> String {
            IN_A.store(true, SeqCst);
            wait_until("b runs", || IN_B.load(SeqCst));
            format!("a{n}{}", b(&n.to_string()))
        }
        #[ttl_cached(ttl = "1h")]
        fn b(n: &str) -> u64 {
            IN_B.store(true, SeqCst);
            wait_until("a runs", || IN_A.load(SeqCst));
            a(n.parse().unwrap()).len() as u64
        }
        let ta = std::thread::spawn(|| catch_unwind(|| a(1)));
        let tb = std::thread::spawn(|| catch_unwind(|| b("1")));
        let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
        let messages: Vec<String> = [ra.err(), rb.err()]
            .into_iter()
            .flatten()
            .map(|p| tests::panic_message(&*p).to_owned())
            .collect();
        assert!(
            messages.iter().any(|m| m.starts_with("deadlock")),
            "the cycle is reported: {messages:?}"
        );
        assert!(
            (messages.iter()).all(|m| m.starts_with("deadlock") || m.starts_with("re-entrant")),
            "{messages:?}"
        );
    });
}

/// A `clear` (through `caches()`) while a flight is under way wins: its value is returned to
/// its callers but not stored.
#[test]
fn a_clear_during_a_flight_wins() {
    within(PATIENCE, || {
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        const NAME: &str = "review15::cleared";
        #[ttl_cached(ttl = "1h", name = NAME)]
        fn cleared(key: Option<&u64>) -> (Option<u64>, usize) {
            let run = RUNS.fetch_add(1, SeqCst);
            if run == 0 {
                cache_named(NAME).clear();
            }
            (key.copied(), run)
        }
        assert_eq!(cleared(Some(&5)), (Some(5), 0));
        assert_eq!(cleared(Some(&5)), (Some(5), 1), "not stored");
        assert_eq!(cleared(Some(&5)), (Some(5), 1));
        assert_eq!(cleared(None), (None, 2));
        assert_eq!(cache_named(NAME).len(), 2);
    });
}

/// `sweep` on the shared engine: the one sweeper thread removes expired entries of a plain
/// function's map (watched through `caches()`).
#[test]
fn the_sweeper_sweeps_a_plain_functions_map() {
    static CLOCK: Mutex<Option<ManualClock>> = Mutex::new(None);
    fn clock() -> ManualClock {
        shared_clock(&CLOCK)
    }
    const NAME: &str = "review15::swept";
    #[ttl_cached(ttl = "10s", sweep = "5ms", clock = clock(), name = NAME)]
    fn swept(key: &str) -> Arc<str> {
        key.into()
    }
    for k in ["a", "b", "c"] {
        swept(k);
    }
    assert_eq!(cache_named(NAME).len(), 3);
    clock().advance(Duration::from_secs(11));
    wait_until("the sweeper swept", || cache_named(NAME).is_empty());
    assert_eq!(stats(NAME).expirations, 3);
}

/// An `Option` return with `stale_if_error`, and a `Result` whose error is `Clone` (shared) with
/// `stale_if_error`: a plain function and its twin with a handle agree at every step.
#[test]
fn stale_values_for_options_and_shared_errors_agree_with_a_typed_map() {
    static CLOCK: Mutex<Option<ManualClock>> = Mutex::new(None);
    fn clock() -> ManualClock {
        shared_clock(&CLOCK)
    }
    static FAIL: AtomicBool = AtomicBool::new(false);
    static RUNS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    fn run(i: usize) -> u64 {
        RUNS[i].fetch_add(1, SeqCst)
    }
    #[ttl_cached(ttl = "10s", stale_if_error = "20s", clock = clock())]
    fn opt_erased(k: u8) -> Option<(u8, u64)> {
        let r = run(0);
        (!FAIL.load(SeqCst)).then_some((k, r))
    }
    #[ttl_cached(ttl = "10s", stale_if_error = "20s", clock = clock(), cache = opt_map)]
    fn opt_typed(k: u8) -> Option<(u8, u64)> {
        let r = run(1);
        (!FAIL.load(SeqCst)).then_some((k, r))
    }
    #[ttl_cached(ttl = "10s", stale_if_error = "20s", clock = clock())]
    fn res_erased(k: u8) -> Result<u64, String> {
        let r = run(2);
        if FAIL.load(SeqCst) {
            Err(format!("down {k}"))
        } else {
            Ok(r)
        }
    }
    #[ttl_cached(ttl = "10s", stale_if_error = "20s", clock = clock(), cache = res_map)]
    fn res_typed(k: u8) -> Result<u64, String> {
        let r = run(3);
        if FAIL.load(SeqCst) {
            Err(format!("down {k}"))
        } else {
            Ok(r)
        }
    }
    let _ = (opt_map, res_map);
    let script: &[(u64, bool)] = &[
        (0, false),
        (5, true),
        (6, true),
        (10, true),
        (10, true),
        (0, false),
        (11, true),
        (0, false),
    ];
    for (i, &(advance, fail)) in script.iter().enumerate() {
        clock().advance(Duration::from_secs(advance));
        FAIL.store(fail, SeqCst);
        assert_eq!(opt_erased(1), opt_typed(1), "step {i}");
        assert_eq!(res_erased(1), res_typed(1), "step {i}");
        assert_eq!(RUNS[0].load(SeqCst), RUNS[1].load(SeqCst), "step {i}");
        assert_eq!(RUNS[2].load(SeqCst), RUNS[3].load(SeqCst), "step {i}");
    }
}

/// An error type that is neither `Send` nor `Sync` stays with its caller (it is never shared).
#[test]
fn a_thread_bound_error_stays_with_its_caller() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    #[ttl_cached(ttl = "1h")]
    fn local(n: u64) -> Result<u64, std::rc::Rc<str>> {
        RUNS.fetch_add(1, SeqCst);
        match n {
            0 => Err("zero".into()),
            n => Ok(n * 2),
        }
    }
    assert_eq!(local(0).unwrap_err().as_ref(), "zero");
    assert_eq!(local(0).unwrap_err().as_ref(), "zero");
    assert_eq!(local(3), Ok(6));
    assert_eq!(local(3), Ok(6));
    assert_eq!(RUNS.load(SeqCst), 3);
}

/// A value whose `Clone` panics once, on the copy a miss makes: what happens next must not
/// depend on the build. With a typed map (a handle, or any function in a release build) the
/// copy is made before the value is stored, so nothing is stored and the next call builds
/// again; the shared engine stores the value first and clones the caller's copy after.
// Was broken: the engines disagreed: after a miss whose value's `Clone` panicked, a plain
// function (debug build) had stored the value and the next call was a hit; the same function
// with a handle (and every plain function in a release build) stored nothing and built again.
#[test]
fn a_value_whose_clone_panics_on_a_miss_agrees_with_a_typed_map() {
    quiet();
    within(PATIENCE, || {
        static PANIC_NEXT: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];
        static RUNS: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];
        struct Once(usize, u128);
        impl Clone for Once {
            fn clone(&self) -> Self {
                if PANIC_NEXT[self.0].swap(false, SeqCst) {
                    panic!("boom: a value's Clone");
                }
                Once(self.0, self.1)
            }
        }
        #[ttl_cached(ttl = "1h")]
        fn erased(k: u128) -> Once {
            RUNS[0].fetch_add(1, SeqCst);
            Once(0, k)
        }
        #[ttl_cached(ttl = "1h", cache = typed_map)]
        fn typed(k: u128) -> Once {
            RUNS[1].fetch_add(1, SeqCst);
            Once(1, k)
        }
        let _ = typed_map;
        PANIC_NEXT[0].store(true, SeqCst);
        PANIC_NEXT[1].store(true, SeqCst);
        let e = catch_unwind(|| erased(7).1).ok();
        let t = catch_unwind(|| typed(7).1).ok();
        assert_eq!(e, t, "the first call");
        assert_eq!(erased(7).1, typed(7).1);
        assert_eq!(
            RUNS[0].load(SeqCst),
            RUNS[1].load(SeqCst),
            "constructor runs: [plain fn, fn with a handle]"
        );
    });
}

/// An `expire_after` that panics for a value: the call panics, the value is not stored, and
/// the next call builds again; a plain function and its twin with a handle agree.
#[test]
fn an_expire_after_that_panics_agrees_with_a_typed_map() {
    quiet();
    within(PATIENCE, || {
        static RUNS: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];
        #[allow(clippy::ptr_arg)] // the shape `expire_after` takes: `|&K, &V|`
        fn life(key: &String, value: &Arc<str>) -> Option<Duration> {
            if value.starts_with("bad") {
                panic!("boom: expire_after");
            }
            Some(Duration::from_secs(key.len() as u64))
        }
        #[ttl_cached(ttl = "1h", expire_after = life)]
        fn erased(k: &str) -> Arc<str> {
            RUNS[0].fetch_add(1, SeqCst);
            k.into()
        }
        #[ttl_cached(ttl = "1h", expire_after = life, cache = typed_map)]
        fn typed(k: &str) -> Arc<str> {
            RUNS[1].fetch_add(1, SeqCst);
            k.into()
        }
        let _ = typed_map;
        for k in ["bad", "good", "bad", "good", "bad!"] {
            let e = catch_unwind(|| erased(k).to_string()).ok();
            let t = catch_unwind(|| typed(k).to_string()).ok();
            assert_eq!(e, t, "{k}");
            assert_eq!(RUNS[0].load(SeqCst), RUNS[1].load(SeqCst), "{k}");
        }
        assert_eq!(RUNS[0].load(SeqCst), 4);
    });
}
