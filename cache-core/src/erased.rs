//! One engine for every plain memoized function: `TtlMap<ErasedKey, ErasedValue>`, compiled once
//! in this crate, so that a crate of many `#[ttl_cached]` functions does not compile the
//! whole map for each key and value type (issue 8: 50 such functions took 4.2x the build time
//! of `cached`'s).
//!
//! Each function keeps its own [`ErasedMap`], so a map only ever holds one key type and one
//! value type, the ones its typed face ([`ErasedMap::memo`] and its kin, instantiated per
//! function) puts in and takes out:
//!
//! - A key is kept with its hash, computed once by the typed face with the map's seeded
//!   hasher; the engine hashes that word ([`PassHasher`]), so that growing the table reads no
//!   key. Integers, `bool`, `char` and `()` are kept inline as a word; other keys are boxed
//!   and compared through their type's `Eq` (a miss allocates that box).
//! - A value is kept inline as a word for the same types (and floats), else in an `Arc`,
//!   which the map's copy, the flight's and the leader's share. A hit clones the value out
//!   as its type under the shard's read lock ([`Sink`]), never the `Arc`: a hit writes no
//!   shared memory.
//! - A constructor's error stays with its typed face, which hands the engine a marker
//!   (`Failed`) or, when the error is shared with the flight's waiters, the error boxed.
//!
//! Only debug builds use it (the expansion picks it under `cfg(debug_assertions)`): there the
//! build time is what matters, and its frames are smaller. A release build instantiates a
//! typed map for each function, whose misses and recursion are twice as fast. Functions with a
//! `cache = name` handle (whose type is `TtlMap<K, V>`), `shared` ones and async ones keep the
//! typed engine in every build.

use std::any::Any;
use std::convert::Infallible;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::builder::{ExpireAfter, Parts};
use crate::key::{Equivalent, Lookup};
use crate::map::{drop_guarded, unless_panicked};
use crate::memo::{Declined, ErrorForm, Hit, Own, Shared};
use crate::{Builder, DefaultHashBuilder, TtlMap};

/// The words a value of a small `Copy` type is kept as, and the types: `to_word` and
/// `from_word` for each. What is generic is a `TypeId` test (constant once compiled); the
/// conversions themselves are compiled once.
macro_rules! words {
    ($($t:ty: |$v:ident| $to:expr, |$w:ident| $from:expr;)*) => {
        /// Whether `T` is kept as a word.
        #[inline(always)]
        pub(super) fn is_word<T: 'static>() -> bool {
            use std::any::TypeId;
            $(TypeId::of::<T>() == TypeId::of::<$t>())||*
        }

        /// `value` as a word, if its type is kept so.
        #[inline(always)]
        pub(super) fn to_word<T: 'static>(value: &T) -> Option<u64> {
            if is_word::<T>() { to_word_dyn(value) } else { None }
        }

        #[inline]
        fn to_word_dyn(any: &dyn Any) -> Option<u64> {
            $(if let Some(&$v) = any.downcast_ref::<$t>() {
                return Some($to);
            })*
            None
        }

        /// The value `word` is, of type `T` (which `to_word` made it from).
        #[inline(always)]
        pub(super) fn from_word<T: 'static>(word: u64) -> Option<T> {
            let mut out = None;
            if is_word::<T>() {
                from_word_dyn(word, &mut out);
            }
            out
        }

        /// Writes the value `word` is into `out`, an `Option` of its type.
        #[inline]
        fn from_word_dyn(word: u64, out: &mut dyn Any) {
            $(if let Some(out) = out.downcast_mut::<Option<$t>>() {
                let $w = word;
                *out = Some($from);
                return;
            })*
        }
    };
}

// Each conversion is exact both ways for the values `to_word` makes (`from_word` truncates
// back what `to_word` widened).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]
mod word {
    use super::Any;

    words! {
        u64: |v| v, |w| w;
        u32: |v| u64::from(v), |w| w as u32;
        u16: |v| u64::from(v), |w| w as u16;
        u8: |v| u64::from(v), |w| w as u8;
        usize: |v| v as u64, |w| w as usize;
        i64: |v| v as u64, |w| w as i64;
        i32: |v| v as u64, |w| w as i32;
        i16: |v| v as u64, |w| w as i16;
        i8: |v| v as u64, |w| w as i8;
        isize: |v| v as u64, |w| w as isize;
        bool: |v| u64::from(v), |w| w != 0;
        char: |v| u64::from(v), |w| char::from_u32(w as u32).unwrap_or_default();
        (): |_v| 0, |_w| ();
        f64: |v| v.to_bits(), |w| f64::from_bits(w);
        f32: |v| u64::from(v.to_bits()), |w| f32::from_bits(w as u32);
    }
}

use word::{from_word, is_word, to_word};

/// A boxed key: its type's `Eq`, through `Any`.
trait DynKey: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn eq_key(&self, other: &dyn DynKey) -> bool;
}

impl<K: Eq + Send + Sync + 'static> DynKey for K {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn eq_key(&self, other: &dyn DynKey) -> bool {
        match other.as_any().downcast_ref::<K>() {
            Some(other) => other == self,
            None => false,
        }
    }
}

enum KeyRepr {
    Word(u64),
    Boxed(Box<dyn DynKey>),
}

/// A key of an [`ErasedMap`]. Shows nothing of the key.
pub(crate) struct ErasedKey {
    hash: u64,
    key: KeyRepr,
}

impl Hash for ErasedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for ErasedKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && match (&self.key, &other.key) {
                (KeyRepr::Word(a), KeyRepr::Word(b)) => a == b,
                (KeyRepr::Boxed(a), KeyRepr::Boxed(b)) => a.eq_key(&**b),
                _ => false,
            }
    }
}

impl Eq for ErasedKey {}

impl ErasedKey {
    /// The key as its type `K`, for `expire_after`.
    fn with<K: 'static, R>(&self, f: impl FnOnce(&K) -> R) -> R {
        match &self.key {
            KeyRepr::Word(word) => f(&typed(from_word(*word))),
            KeyRepr::Boxed(key) => f(typed(key.as_any().downcast_ref())),
        }
    }
}

/// A value of an [`ErasedMap`].
#[derive(Clone)]
pub(crate) enum ErasedValue {
    Word(u64),
    Shared(Arc<dyn Any + Send + Sync>),
}

impl ErasedValue {
    #[inline]
    fn of<V: Send + Sync + 'static>(value: V) -> Self {
        match to_word(&value) {
            Some(word) => ErasedValue::Word(word),
            None => ErasedValue::Shared(Arc::new(value)),
        }
    }

    /// The value as its type `V`.
    #[inline]
    fn into_typed<V: Clone + Send + Sync + 'static>(self) -> V {
        match self {
            ErasedValue::Word(word) => typed(from_word(word)),
            // The map's copy shares the `Arc`: a clone. If this was the last copy, its `Drop`,
            // which may panic, runs on its own.
            ErasedValue::Shared(value) => {
                let mine = typed(value.downcast_ref().cloned());
                unless_panicked(mine, drop_guarded(value))
            }
        }
    }

    fn with<V: 'static, R>(&self, f: impl FnOnce(&V) -> R) -> R {
        match self {
            ErasedValue::Word(word) => f(&typed(from_word(*word))),
            ErasedValue::Shared(value) => f(typed(value.downcast_ref())),
        }
    }
}

/// `found`'s value: a map holds the types of its one function only.
#[inline(always)]
fn typed<T>(found: Option<T>) -> T {
    match found {
        Some(found) => found,
        None => mistyped(),
    }
}

#[cold]
#[inline(never)]
fn mistyped() -> ! {
    unreachable!("an erased map holds its own function's key and value types")
}

/// The hash an [`ErasedKey`] or [`Probe`] carries, passed through.
#[derive(Default)]
pub(crate) struct PassHasher(u64);

impl Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Never called by this module's keys, which write one `u64`.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Engine = TtlMap<ErasedKey, ErasedValue, BuildHasherDefault<PassHasher>>;

/// The map of one memoized function, its types erased (see the module's docs).
pub struct ErasedMap {
    map: Engine,
    /// The keys' hasher: the map's seeded one.
    hasher: DefaultHashBuilder,
}

/// A key looked up: its hash, its word if its type is kept so, else the key itself.
pub(crate) struct Probe<'a> {
    hash: u64,
    word: Option<u64>,
    key: &'a dyn ProbeKey,
}

/// What a probe asks of a borrowed key whose type is not kept as a word.
trait ProbeKey {
    fn eq_key(&self, stored: &dyn DynKey) -> bool;
    fn to_boxed(&self) -> Box<dyn DynKey>;
}

struct Typed<'a, Q: ?Sized, K>(&'a Q, PhantomData<fn() -> K>);

impl<Q, K> ProbeKey for Typed<'_, Q, K>
where
    Q: ?Sized + Lookup<K>,
    K: Eq + Send + Sync + 'static,
{
    fn eq_key(&self, stored: &dyn DynKey) -> bool {
        match stored.as_any().downcast_ref::<K>() {
            Some(key) => self.0.equivalent(key),
            None => false,
        }
    }

    fn to_boxed(&self) -> Box<dyn DynKey> {
        Box::new(self.0.to_key())
    }
}

impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Equivalent<ErasedKey> for Probe<'_> {
    #[inline]
    fn equivalent(&self, stored: &ErasedKey) -> bool {
        self.hash == stored.hash
            && match (&stored.key, self.word) {
                (KeyRepr::Word(word), Some(mine)) => *word == mine,
                (KeyRepr::Boxed(key), None) => self.key.eq_key(&**key),
                _ => false,
            }
    }
}

impl Lookup<ErasedKey> for Probe<'_> {
    fn to_key(&self) -> ErasedKey {
        let key = match self.word {
            Some(word) => KeyRepr::Word(word),
            None => KeyRepr::Boxed(self.key.to_boxed()),
        };
        ErasedKey {
            hash: self.hash,
            key,
        }
    }
}

/// A hit: a word is copied; a shared value is handed to the typed face's sink, which clones
/// it out as its type.
struct Sink<'a>(&'a mut dyn FnMut(&(dyn Any + Send + Sync)));

impl Hit<ErasedValue> for Sink<'_> {
    type Out = Option<ErasedValue>;

    #[inline]
    fn hit(&mut self, value: &ErasedValue) -> Option<ErasedValue> {
        match value {
            ErasedValue::Word(word) => Some(ErasedValue::Word(*word)),
            ErasedValue::Shared(value) => {
                (self.0)(&**value);
                None
            }
        }
    }

    #[inline]
    fn own(value: ErasedValue) -> Option<ErasedValue> {
        Some(value)
    }
}

/// A constructor's error, kept by its typed face.
pub(crate) struct Failed;

/// A constructor's error shared with the flight's waiters.
pub(crate) type SharedFailure = Box<dyn Any + Send + Sync>;

impl ErasedMap {
    /// The map `builder` makes, keyed and valued as the typed face will.
    pub fn new<K, V>(builder: Builder<K, V>) -> Self
    where
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let Parts {
            ttl,
            options,
            hasher,
            listener,
            expire_after,
            age: _,
        } = builder.into_parts();
        // The macro sets no listener (nor could a user: the builder is the generated code's).
        debug_assert!(
            listener.is_none(),
            "a memoized function's map has no listener"
        );
        let expire_after = expire_after.map(|life| -> ExpireAfter<ErasedKey, ErasedValue> {
            Box::new(move |key: &ErasedKey, value: &ErasedValue| {
                key.with(|key: &K| value.with(|value: &V| life(key, value)))
            })
        });
        Self::from_parts(ttl, options, hasher, expire_after)
    }

    fn from_parts(
        ttl: Duration,
        options: crate::builder::Options,
        hasher: DefaultHashBuilder,
        expire_after: Option<ExpireAfter<ErasedKey, ErasedValue>>,
    ) -> Self {
        let map = TtlMap::from_parts(Parts {
            ttl,
            options,
            hasher: BuildHasherDefault::default(),
            listener: None,
            expire_after,
            age: None,
        });
        ErasedMap { map, hasher }
    }
}

/// How a kind of constructor's failure `X` goes through the engine: as the engine's error
/// `E`, in the form `F` (kept by its caller, or shared with the flight's waiters).
pub(crate) trait Mode<X> {
    type E;
    type F: ErrorForm<Self::E>;
    /// The engine's error for `failure`, and what the caller keeps of it.
    fn fail(failure: X) -> (Self::E, Option<X>);
    /// The caller's failure: the one it kept, or its share of a flight's.
    fn failed(error: <Self::F as ErrorForm<Self::E>>::Err, kept: Option<X>) -> X;
}

/// Any value is cached; nothing fails.
pub(crate) struct Plain;

impl Mode<Infallible> for Plain {
    type E = Infallible;
    type F = Own;
    fn fail(failure: Infallible) -> (Infallible, Option<Infallible>) {
        match failure {}
    }
    fn failed(error: Infallible, _: Option<Infallible>) -> Infallible {
        error
    }
}

/// `Ok` is cached; each caller keeps its own error (the engine sees a marker).
pub(crate) struct Fallible;

impl<X> Mode<X> for Fallible {
    type E = Failed;
    type F = Own;
    fn fail(failure: X) -> (Failed, Option<X>) {
        (Failed, Some(failure))
    }
    fn failed(_: Failed, kept: Option<X>) -> X {
        typed(kept)
    }
}

/// `Ok` is cached; the error goes to the flight's waiters too.
pub(crate) struct SharedError;

impl<X: Clone + Send + Sync + 'static> Mode<X> for SharedError {
    type E = SharedFailure;
    type F = Shared;
    fn fail(failure: X) -> (SharedFailure, Option<X>) {
        (Box::new(failure), None)
    }
    fn failed(error: Arc<SharedFailure>, _: Option<X>) -> X {
        typed(error.downcast_ref::<X>().cloned())
    }
}

/// `Some` is cached; a `None` goes to the flight's waiters too.
pub(crate) struct Optional;

impl Mode<()> for Optional {
    type E = Declined;
    type F = Shared;
    fn fail((): ()) -> (Declined, Option<()>) {
        (Declined, None)
    }
    fn failed(_: Arc<Declined>, _: Option<()>) {}
}

type Step<V, X> = crate::memo::Step<Result<V, X>>;
type Ticket<'a> = crate::memo::Ticket<'a, ErasedKey, ErasedValue, BuildHasherDefault<PassHasher>>;

// The typed faces, instantiated per function. As a typed map's memoizing call, the call is
// inlined into the memoized function and keeps only a ticket on its stack while the
// constructor runs (a recursive function stacks it per level): the lookup before it and the
// landing after it run out of line.
impl ErasedMap {
    #[inline(always)]
    fn probe<'a, K, Q>(&self, hash: u64, key: &'a Q, typed: &'a Typed<'a, Q, K>) -> Probe<'a>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
    {
        Probe {
            hash,
            word: match is_word::<K>() {
                true => to_word(&key.to_key()),
                false => None,
            },
            key: typed,
        }
    }

    /// Memoizes `init` under `key` (a value of any type).
    #[inline(always)]
    pub fn memo<K, Q, V>(&self, key: &Q, init: impl FnOnce() -> V) -> V
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        match self.memoize::<K, Q, V, Infallible, Plain>(key, || Ok(init())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Memoizes `init` under `key`, its `Ok` values only (a `Result`).
    #[inline(always)]
    pub fn try_memo<K, Q, V, E>(&self, key: &Q, init: impl FnOnce() -> Result<V, E>) -> Result<V, E>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.memoize::<K, Q, V, E, Fallible>(key, init)
    }

    /// Memoizes `init` under `key`, its `Ok` values only, its errors shared with the
    /// callers that waited for them.
    #[inline(always)]
    pub fn try_memo_shared<K, Q, V, E>(
        &self,
        key: &Q,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        self.memoize::<K, Q, V, E, SharedError>(key, init)
    }

    /// Memoizes `init` under `key`, its `Some` values only, its `None` shared with the
    /// callers that waited for it.
    #[inline(always)]
    pub fn optionally_memo<K, Q, V>(&self, key: &Q, init: impl FnOnce() -> Option<V>) -> Option<V>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.memoize::<K, Q, V, (), Optional>(key, || init().ok_or(()))
            .ok()
    }

    #[inline(always)]
    fn memoize<K, Q, V, X, M>(&self, key: &Q, init: impl FnOnce() -> Result<V, X>) -> Result<V, X>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        M: Mode<X>,
    {
        let (hash, step) = self.look_up::<K, Q, V, X, M>(key);
        match step {
            Step::Done(result) => result,
            Step::Lead(id) => {
                // A panic in `init` lands the flight as panicked from the ticket's `Drop`.
                let ticket = Ticket::new(&self.map.inner, hash, id);
                self.land::<K, Q, V, X, M>(ticket, key, init(), false)
            }
            Step::Refresh(id) => self.rebuild::<K, Q, V, X, M>(hash, key, id, init),
            Step::Attempt(epoch) => self.attempted::<K, Q, V, X, M>(hash, key, epoch, init()),
        }
    }

    /// The lookup, and the value if it finds one (or its flight's, having waited for it).
    #[inline(never)]
    fn look_up<K, Q, V, X, M>(&self, key: &Q) -> (u64, Step<V, X>)
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        M: Mode<X>,
    {
        let hash = self.hasher.hash_one(key);
        let typed = Typed(key, PhantomData);
        let probe = self.probe(hash, key, &typed);
        let mut hit = None;
        let mut sink = |value: &(dyn Any + Send + Sync)| hit = value.downcast_ref::<V>().cloned();
        let step = (self.map.inner).look_up::<_, M::E, M::F, _>(hash, &probe, &mut Sink(&mut sink));
        let step = match step {
            Step::Done(Ok(made)) => Step::Done(Ok(typed_value(made, hit))),
            Step::Done(Err(error)) => Step::Done(Err(M::failed(error, None))),
            Step::Lead(id) => Step::Lead(id),
            Step::Refresh(id) => Step::Refresh(id),
            Step::Attempt(epoch) => Step::Attempt(epoch),
        };
        (hash, step)
    }

    /// Lands the flight of `ticket` with the constructor's `result`.
    #[inline(never)]
    fn land<K, Q, V, X, M>(
        &self,
        ticket: Ticket<'_>,
        key: &Q,
        result: Result<V, X>,
        refresh: bool,
    ) -> Result<V, X>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        M: Mode<X>,
    {
        let typed = Typed(key, PhantomData);
        let probe = self.probe(ticket.hash(), key, &typed);
        let (result, mine) = erase::<V, X, M>(result);
        let landed = ticket.land_with::<_, M::E, M::F>(&probe, result, refresh);
        finish::<V, X, M>(landed, mine)
    }

    /// Rebuilds a value found due for a refresh, as the leader of flight `id`.
    #[inline(never)]
    fn rebuild<K, Q, V, X, M>(
        &self,
        hash: u64,
        key: &Q,
        id: u64,
        init: impl FnOnce() -> Result<V, X>,
    ) -> Result<V, X>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        M: Mode<X>,
    {
        let ticket = Ticket::new(&self.map.inner, hash, id);
        self.land::<K, Q, V, X, M>(ticket, key, init(), true)
    }

    /// A caller's own attempt, not made as a flight (see `Inner::attempted`).
    #[inline(never)]
    fn attempted<K, Q, V, X, M>(
        &self,
        hash: u64,
        key: &Q,
        epoch: u64,
        result: Result<V, X>,
    ) -> Result<V, X>
    where
        Q: ?Sized + Lookup<K>,
        K: Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        M: Mode<X>,
    {
        let typed = Typed(key, PhantomData);
        let probe = self.probe(hash, key, &typed);
        let (result, mine) = erase::<V, X, M>(result);
        let made = (self.map.inner).attempted::<_, M::E, M::F>(hash, &probe, epoch, result);
        finish::<V, X, M>(made, mine)
    }
}

/// A constructor's result as the engine takes it, and the caller's: its value, or what it
/// keeps of its failure. The engine's copy of a value is cloned first, as a typed map clones
/// the map's copy before storing it: a `Clone` that panics stores nothing (the leader's
/// ticket then lands the flight as panicked).
#[inline(always)]
fn erase<V, X, M>(result: Result<V, X>) -> (Result<ErasedValue, M::E>, Result<V, Option<X>>)
where
    V: Clone + Send + Sync + 'static,
    M: Mode<X>,
{
    match result {
        Ok(value) => (Ok(ErasedValue::of(value.clone())), Ok(value)),
        Err(failure) => {
            let (error, kept) = M::fail(failure);
            (Err(error), Err(kept))
        }
    }
}

/// The caller's result once the engine has landed or stored `made`: its own value (the
/// engine's copy, if it was not stored, let go on its own: its `Drop` may panic), the value
/// the engine stood in with for a failure (the one a refresh kept, a stale one), or its
/// failure.
#[inline(always)]
fn finish<V, X, M>(
    made: Result<ErasedValue, <M::F as ErrorForm<M::E>>::Err>,
    mine: Result<V, Option<X>>,
) -> Result<V, X>
where
    V: Clone + Send + Sync + 'static,
    M: Mode<X>,
{
    match (made, mine) {
        (Ok(copy), Ok(mine)) => Ok(unless_panicked(mine, drop_guarded(copy))),
        (Ok(stand_in), Err(_)) => Ok(stand_in.into_typed()),
        (Err(error), Err(kept)) => Err(M::failed(error, kept)),
        (Err(_), Ok(_)) => unreachable!("a value lands as a value"),
    }
}

/// The caller's value: the engine's, or the clone its sink took of a value found.
#[inline(always)]
fn typed_value<V: Clone + Send + Sync + 'static>(made: Option<ErasedValue>, hit: Option<V>) -> V {
    match made {
        Some(value) => value.into_typed(),
        None => typed(hit),
    }
}

impl std::fmt::Debug for ErasedMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.map.fmt(f)
    }
}
