//! What `#[ttl_cached]` expands to uses; not a public API.
//!
//! Two decisions are taken here, by the types the compiler sees rather than by the names the
//! user wrote:
//!
//! - **What is cached** ([`Returns`]): a function returning any `Result<T, E>` caches only `Ok`,
//!   any `Option<T>` only `Some`, anything else every value, however the type is spelled (`type
//!   Res<T> = Result<T, MyErr>` counts). The generated code computes a `KIND` constant from the
//!   concrete return type with [`Probe`] (an inherent associated constant for `Result` and
//!   `Option` shadows the fallback trait's), and `<R as Returns<KIND>>` then names the cached
//!   value type (so the static can be typed) and the memoizing call.
//! - **Which cache** ([`Instances`]): a `static` in a function that is generic through its
//!   `impl` or trait is one static for every instantiation, so the caches are keyed by the
//!   [`TypeId`] of a closure written in the function's body, whose type carries the enclosing
//!   generics. The first instantiation to run gets a slot that a hit checks with one compare.
//!
//! A function memoized with `shared = tier` (feature `redis`) keeps a `redis::Shared` map
//! instead: its pairs are wrapped in [`Fleet`], whose impls also ask for `Serialize` and
//! `DeserializeOwned`, and its map is named by [`fleet_name`], which tells the instantiations
//! apart in Redis as `Instances` does in the process. Without the feature, `Fleet` has only
//! the impls that ask nothing, and `assert_redis` reports the one error.
//!
//! Compile time: what is instantiated per memoized function is kept to thin generic shims
//! (`Store::map`, `Memo::memo`, `Returns::memo`, `Instances::get`) over the map's own methods;
//! the list of a generic function's other instantiations is not generic. In a debug build a
//! plain function's pairs are [`Erased`]: its map is an [`ErasedMap`] on the engine compiled
//! once for all of them, and only its typed face is instantiated per function.

use std::any::{Any, TypeId};
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

pub use std::sync::OnceLock;
pub use std::time::Duration;

use crate::{Builder, Lookup, TtlMap};

pub use crate::erased::ErasedMap;

/// What a memoized function's value must be; named so the error can say why.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a cached value: it is not `Clone`",
    label = "every hit returns a clone of the cached value",
    note = "derive or implement `Clone`, or return `Arc<{Self}>` to share one value"
)]
pub trait CachedValue: Clone {}
#[diagnostic::do_not_recommend]
impl<T: Clone> CachedValue for T {}

/// What each part of a memoized function's key must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it is not `Hash + Eq + Clone`",
    label = "this argument is part of the key",
    note = "derive `Hash`, `PartialEq`, `Eq` and `Clone` for it (the cache keeps its own copy), or pick the key with `key: Type = expr`"
)]
pub trait CacheKey: Hash + Eq + Clone {}
#[diagnostic::do_not_recommend]
impl<T: Hash + Eq + Clone> CacheKey for T {}

/// What keys and values must be to live in a static that every thread uses.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be kept in a cache: it is not `Send + Sync`",
    label = "the cache is one static shared by every thread",
    note = "use a thread-safe type (`Arc` instead of `Rc`, `Mutex` or atomics instead of `Cell`/`RefCell`)"
)]
pub trait Shareable: Send + Sync + 'static {}
#[diagnostic::do_not_recommend]
impl<T: Send + Sync + 'static> Shareable for T {}

/// Fails to compile, at the type's span, unless the type can be a cached value.
pub const fn assert_value<T: CachedValue + Shareable>() {}

/// Fails to compile, at the type's span, unless the type can be part of a key.
pub const fn assert_key<T: CacheKey + Shareable>() {}

/// A value of type `T`, never made: `if false { return never::<R>() }` opening an async
/// block fixes its output type to `R` before the body is checked, so that the body's `return`s
/// and tail coerce to it (`Arc::new(x)` as `Arc<dyn Trait>`) and its `?` infers, as in an
/// `async fn`.
pub fn never<T>() -> T {
    unreachable!("only written behind `if false`")
}

/// `KIND` of a return type that is neither a `Result` nor an `Option`: every value is cached.
pub const PLAIN: u8 = 0;
/// `KIND` of a `Result` whose error cannot be handed to every waiter: only `Ok` is cached.
pub const RESULT: u8 = 1;
/// `KIND` of an `Option`: only `Some` is cached.
pub const OPTION: u8 = 2;
/// `KIND` of a `Result` whose error is `Clone + Send + Sync + 'static`: only `Ok` is cached, and
/// a failed flight's error could be shared with its waiters.
pub const RESULT_SHARED: u8 = 3;

/// Classifies a concrete return type `R`: `Probe::<R>::KIND + ProbeShared::<R>::SHARED` is
/// one of [`PLAIN`], [`RESULT`], [`OPTION`], [`RESULT_SHARED`]. The generated code brings
/// [`ProbePlain`] and [`ProbeUnshared`] into scope for the fallbacks.
pub struct Probe<R: ?Sized>(PhantomData<R>);

/// The fallback of [`Probe`]: any other type is plain.
pub trait ProbePlain {
    /// [`PLAIN`].
    const KIND: u8 = PLAIN;
}
impl<R: ?Sized> ProbePlain for Probe<R> {}

impl<T, E> Probe<Result<T, E>> {
    /// [`RESULT`].
    pub const KIND: u8 = RESULT;
}

impl<T> Probe<Option<T>> {
    /// [`OPTION`].
    pub const KIND: u8 = OPTION;
}

/// Adds `RESULT_SHARED - RESULT` to a `Result` whose error could be shared.
pub struct ProbeShared<R: ?Sized>(PhantomData<R>);

/// The fallback of [`ProbeShared`]: nothing to add.
pub trait ProbeUnshared {
    /// Zero.
    const SHARED: u8 = 0;
}
impl<R: ?Sized> ProbeUnshared for ProbeShared<R> {}

impl<T, E: Clone + Send + Sync + 'static> ProbeShared<Result<T, E>> {
    /// `RESULT_SHARED - RESULT`.
    pub const SHARED: u8 = RESULT_SHARED - RESULT;
}

/// A return type of kind `KIND`: what its cache stores, and how a call memoizes it.
pub trait Returns<const KIND: u8>: Sized {
    /// The cached value: `T` of `Result<T, E>` or `Option<T>`, else the type itself.
    type Value;

    /// Memoizes the sync constructor `init` under `key`.
    fn memo<K, Q>(map: &TtlMap<K, Self::Value>, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K>,
        Self::Value: Clone;

    /// The same, on the erased engine.
    fn memo_erased<K, Q>(map: &ErasedMap, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Eq + Send + Sync + 'static,
        Q: ?Sized + Lookup<K>,
        Self::Value: Clone + Send + Sync + 'static;
}

impl<T> Returns<PLAIN> for T {
    type Value = T;

    #[inline]
    fn memo<K, Q>(map: &TtlMap<K, T>, key: &Q, init: impl FnOnce() -> T) -> T
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K>,
        T: Clone,
    {
        map.get_or_insert_with(key, init)
    }

    #[inline]
    fn memo_erased<K, Q>(map: &ErasedMap, key: &Q, init: impl FnOnce() -> T) -> T
    where
        K: Eq + Send + Sync + 'static,
        Q: ?Sized + Lookup<K>,
        T: Clone + Send + Sync + 'static,
    {
        map.memo::<K, Q, T>(key, init)
    }
}

impl<T, E> Returns<RESULT> for Result<T, E> {
    type Value = T;

    #[inline]
    fn memo<K, Q>(map: &TtlMap<K, T>, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K>,
        T: Clone,
    {
        map.try_get_or_insert_with(key, init)
    }

    #[inline]
    fn memo_erased<K, Q>(map: &ErasedMap, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Eq + Send + Sync + 'static,
        Q: ?Sized + Lookup<K>,
        T: Clone + Send + Sync + 'static,
    {
        map.try_memo::<K, Q, T, E>(key, init)
    }
}

/// A failed flight's error goes to every caller that waited for it: one run for all of them.
impl<T, E: Clone + Send + Sync + 'static> Returns<RESULT_SHARED> for Result<T, E> {
    type Value = T;

    #[inline]
    fn memo<K, Q>(map: &TtlMap<K, T>, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K>,
        T: Clone,
    {
        map.try_get_or_insert_with_shared(key, init)
            .map_err(Arc::unwrap_or_clone)
    }

    #[inline]
    fn memo_erased<K, Q>(map: &ErasedMap, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Eq + Send + Sync + 'static,
        Q: ?Sized + Lookup<K>,
        T: Clone + Send + Sync + 'static,
    {
        map.try_memo_shared::<K, Q, T, E>(key, init)
    }
}

/// Why a memoized `Option` function's `None` was not cached.
#[derive(Debug)]
pub struct NotCached;

impl<T> Returns<OPTION> for Option<T> {
    type Value = T;

    #[inline]
    fn memo<K, Q>(map: &TtlMap<K, T>, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K>,
        T: Clone,
    {
        // A `None` is shared like an error: the callers that waited get it from one run.
        map.try_get_or_insert_with_shared(key, || init().ok_or(NotCached))
            .ok()
    }

    #[inline]
    fn memo_erased<K, Q>(map: &ErasedMap, key: &Q, init: impl FnOnce() -> Self) -> Self
    where
        K: Eq + Send + Sync + 'static,
        Q: ?Sized + Lookup<K>,
        T: Clone + Send + Sync + 'static,
    {
        map.optionally_memo::<K, Q, T>(key, init)
    }
}

/// The copy of an owned argument that the key keeps (the body may consume the argument): its
/// clone, or when `OK` is false (an assertion has reported why) nothing asked of its type.
pub struct KeyPart<const OK: bool>;

impl KeyPart<true> {
    /// `part`'s clone.
    #[inline]
    pub fn of<T: Clone>(part: &T) -> T {
        part.clone()
    }
}

impl KeyPart<false> {
    /// Never run: a program with `OK == false` does not compile.
    pub fn of<T>(_: &T) -> T {
        unreachable!("a compile error was reported")
    }
}

/// Whether a borrowed key part `T` (a parameter `&T`) has an owned form to key by:
/// `Owns::<T>::OK`, with [`OwnsNot`] in scope for the fallback.
pub struct Owns<T: ?Sized>(PhantomData<T>);

/// The fallback of [`Owns`]: `T` is not `ToOwned` (not `Clone`).
pub trait OwnsNot {
    /// `false`.
    const OK: bool = false;
}
impl<T: ?Sized> OwnsNot for Owns<T> {}

impl<T: ?Sized + ToOwned> Owns<T> {
    /// `true`.
    pub const OK: bool = true;
}

/// What a parameter `&T` keys by: `T::Owned`, or, when `T` has no owned form, `T` itself, so
/// that the key's assertion reports `T` once, on the parameter, and nothing else does.
pub trait Owned<const OK: bool> {
    /// The key part.
    type Owned;
}

impl<T: ?Sized + ToOwned> Owned<true> for T {
    type Owned = T::Owned;
}

impl<T> Owned<false> for T {
    type Owned = T;
}

/// Whether a key type `K` and value type `V` can make a cache:
/// `Check::<(K, V)>::OK`, with [`CheckFails`] in scope for the fallback. When it is `false`
/// the generated code's own assertions have reported why, on the user's types, and
/// [`Store`] and [`Memo`] select impls that ask nothing more, so no second error follows.
pub struct Check<T: ?Sized>(PhantomData<T>);

/// The fallback of [`Check`]: the pair cannot make a cache.
pub trait CheckFails {
    /// `false`.
    const OK: bool = false;
}
impl<T: ?Sized> CheckFails for Check<T> {}

impl<K, V> Check<(K, V)>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `true`.
    pub const OK: bool = true;
}

/// The static behind a memoized function, implemented for `(K, V)`.
pub trait Store<const OK: bool> {
    /// The map: `TtlMap<K, V>`.
    type Map: 'static;
    /// What the function's `static` holds.
    type Static: 'static;
    /// The static's initial value.
    const NEW: Self::Static;
    /// `Builder<K, V>`.
    type Builder;
    /// The map of instantiation `id`, built by `builder` the first time.
    fn map(
        cache: &'static Self::Static,
        id: TypeId,
        builder: impl FnOnce() -> Self::Builder,
    ) -> &'static Self::Map;
}

impl<K, V> Store<true> for (K, V)
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    type Map = TtlMap<K, V>;
    type Static = Instances<TtlMap<K, V>>;
    // Only ever the initializer of a `static`, which is what an interior-mutable const is for.
    #[allow(clippy::declare_interior_mutable_const)]
    const NEW: Self::Static = Instances::new();
    type Builder = Builder<K, V>;

    #[inline]
    fn map(
        cache: &'static Self::Static,
        id: TypeId,
        builder: impl FnOnce() -> Builder<K, V>,
    ) -> &'static TtlMap<K, V> {
        cache.get(id, || builder().build())
    }
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K: 'static, V: 'static> Store<false> for (K, V) {
    type Map = TtlMap<K, V>;
    type Static = ();
    const NEW: Self::Static = ();
    type Builder = Builder<K, V>;

    fn map(_: &'static (), _: TypeId, _: impl FnOnce() -> Builder<K, V>) -> &'static TtlMap<K, V> {
        unreachable!("a compile error was reported")
    }
}

/// A plain memoized function's pair in a debug build: sync, with no `cache = name` handle
/// (whose type is `TtlMap<K, V>`) and not `shared`. Its map is an [`ErasedMap`], whose engine
/// is compiled once for every such function (see `erased.rs`).
pub struct Erased<T>(PhantomData<T>);

impl<K, V> Check<Erased<(K, V)>>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `true`.
    pub const OK: bool = true;
}

impl<K, V> Store<true> for Erased<(K, V)>
where
    K: Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Map = ErasedMap;
    type Static = Instances<ErasedMap>;
    // Only ever the initializer of a `static`, which is what an interior-mutable const is for.
    #[allow(clippy::declare_interior_mutable_const)]
    const NEW: Self::Static = Instances::new();
    type Builder = Builder<K, V>;

    #[inline]
    fn map(
        cache: &'static Self::Static,
        id: TypeId,
        builder: impl FnOnce() -> Builder<K, V>,
    ) -> &'static ErasedMap {
        let mut builder = Some(builder);
        let mut init = || ErasedMap::new(builder.take().expect("built once")());
        cache.get_erased(id, &mut init)
    }
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K: 'static, V: 'static> Store<false> for Erased<(K, V)> {
    type Map = ErasedMap;
    type Static = ();
    const NEW: Self::Static = ();
    type Builder = Builder<K, V>;

    fn map(_: &'static (), _: TypeId, _: impl FnOnce() -> Builder<K, V>) -> &'static ErasedMap {
        unreachable!("a compile error was reported")
    }
}

impl<K, R, Q, const KIND: u8> Memo<KIND, true, Q> for Erased<(K, R)>
where
    K: Eq + Send + Sync + 'static,
    R: Returns<KIND>,
    R::Value: Clone + Send + Sync + 'static,
    Q: ?Sized + Lookup<K>,
{
    type Ret = R;
    type Map = ErasedMap;

    #[inline]
    fn memo(map: &ErasedMap, key: &Q, init: impl FnOnce() -> R) -> R {
        R::memo_erased::<K, Q>(map, key, init)
    }
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K, R, Q: ?Sized, const KIND: u8> Memo<KIND, false, Q> for Erased<(K, R)>
where
    R: Returns<KIND>,
{
    type Ret = R;
    type Map = ErasedMap;

    fn memo(_: &ErasedMap, _: &Q, _: impl FnOnce() -> R) -> R {
        unreachable!("a compile error was reported")
    }
}

/// A memoizing call, implemented for `(K, R)` (key and return type) and looked up by `Q`.
pub trait Memo<const KIND: u8, const OK: bool, Q: ?Sized> {
    /// The return type.
    type Ret;
    /// `TtlMap<K, V>`.
    type Map;
    /// Memoizes the sync constructor `init` under `key`.
    fn memo(map: &Self::Map, key: &Q, init: impl FnOnce() -> Self::Ret) -> Self::Ret;
}

impl<K, R, Q, const KIND: u8> Memo<KIND, true, Q> for (K, R)
where
    K: Hash + Eq,
    R: Returns<KIND>,
    R::Value: Clone,
    Q: ?Sized + Lookup<K>,
{
    type Ret = R;
    type Map = TtlMap<K, R::Value>;

    #[inline]
    fn memo(map: &Self::Map, key: &Q, init: impl FnOnce() -> R) -> R {
        R::memo(map, key, init)
    }
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K, R, Q: ?Sized, const KIND: u8> Memo<KIND, false, Q> for (K, R)
where
    R: Returns<KIND>,
{
    type Ret = R;
    type Map = TtlMap<K, R::Value>;

    fn memo(_: &Self::Map, _: &Q, _: impl FnOnce() -> R) -> R {
        unreachable!("a compile error was reported")
    }
}

/// The async form of [`Memo`].
pub trait MemoAsync<const KIND: u8, const OK: bool, Q: ?Sized> {
    /// The return type.
    type Ret;
    /// `TtlMap<K, V>`.
    type Map;
    /// Memoizes the async constructor `init` under `key`.
    fn memo_async(
        map: &Self::Map,
        key: &Q,
        init: impl Future<Output = Self::Ret>,
    ) -> impl Future<Output = Self::Ret>;
}

// One impl per kind, each calling the map itself: a future that is another generic trait
// method's `impl Future` would not be `Send` when the return type holds a `dyn Trait` (the
// compiler cannot prove it for such nested opaque types; rust-lang/rust#130113).

impl<K, T, Q> MemoAsync<PLAIN, true, Q> for (K, T)
where
    K: Hash + Eq,
    T: Clone,
    Q: ?Sized + Lookup<K> + Sync,
{
    type Ret = T;
    type Map = TtlMap<K, T>;

    #[inline]
    fn memo_async(
        map: &Self::Map,
        key: &Q,
        init: impl Future<Output = T>,
    ) -> impl Future<Output = T> {
        map.get_or_insert_with_async(key, init)
    }
}

impl<K, T, E, Q> MemoAsync<RESULT, true, Q> for (K, Result<T, E>)
where
    K: Hash + Eq,
    T: Clone,
    Q: ?Sized + Lookup<K> + Sync,
{
    type Ret = Result<T, E>;
    type Map = TtlMap<K, T>;

    #[inline]
    fn memo_async(
        map: &Self::Map,
        key: &Q,
        init: impl Future<Output = Result<T, E>>,
    ) -> impl Future<Output = Result<T, E>> {
        map.try_get_or_insert_with_async(key, init)
    }
}

/// A failed flight's error goes to every caller that waited for it: one run for all of them.
impl<K, T, E, Q> MemoAsync<RESULT_SHARED, true, Q> for (K, Result<T, E>)
where
    K: Hash + Eq,
    T: Clone,
    E: Clone + Send + Sync + 'static,
    Q: ?Sized + Lookup<K> + Sync,
{
    type Ret = Result<T, E>;
    type Map = TtlMap<K, T>;

    #[inline]
    fn memo_async(
        map: &Self::Map,
        key: &Q,
        init: impl Future<Output = Result<T, E>>,
    ) -> impl Future<Output = Result<T, E>> {
        map.try_get_or_insert_with_cloned_async(key, init)
    }
}

impl<K, T, Q> MemoAsync<OPTION, true, Q> for (K, Option<T>)
where
    K: Hash + Eq,
    T: Clone,
    Q: ?Sized + Lookup<K> + Sync,
{
    type Ret = Option<T>;
    type Map = TtlMap<K, T>;

    #[inline]
    fn memo_async(
        map: &Self::Map,
        key: &Q,
        init: impl Future<Output = Option<T>>,
    ) -> impl Future<Output = Option<T>> {
        map.optionally_get_or_insert_with_async(key, init)
    }
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    /// [`try_get_or_insert_with_shared_async`](TtlMap::try_get_or_insert_with_shared_async)
    /// with the error cloned out of its `Arc`: an `async fn` of the map's own, as the other
    /// kinds' calls are (see above).
    async fn try_get_or_insert_with_cloned_async<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        Q: ?Sized + Lookup<K> + Sync,
        E: Clone + Send + Sync + 'static,
    {
        let shared = self.try_get_or_insert_with_shared_async(key, init).await;
        shared.map_err(Arc::unwrap_or_clone)
    }
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K, R, Q: ?Sized, const KIND: u8> MemoAsync<KIND, false, Q> for (K, R)
where
    R: Returns<KIND>,
{
    type Ret = R;
    type Map = TtlMap<K, R::Value>;

    #[allow(clippy::manual_async_fn)]
    fn memo_async(_: &Self::Map, _: &Q, _: impl Future<Output = R>) -> impl Future<Output = R> {
        async { unreachable!("a compile error was reported") }
    }
}

/// A function memoized with `shared = tier`: its key and value `(K, V)` for [`Check`] and
/// [`Store`], its key and return type `(K, R)` for [`MemoAsync`]. Its cache is a
/// [`Shared`] map (this process's `TtlMap` in front of Redis) rather than a `TtlMap`.
///
/// Exists with or without feature `redis`: without it only the impls that ask nothing are
/// there, and [`assert_redis`] says what is missing, once.
pub struct Fleet<T>(PhantomData<T>);

/// Whether a type can travel through Redis: `Serde::<T>::KEY` (`Serialize`) and
/// `Serde::<T>::VALUE` (`Serialize + DeserializeOwned`), with [`SerdeFails`] in scope for the
/// fallback. Decides whether the local assertions run (see [`Local`]).
pub struct Serde<T: ?Sized>(PhantomData<T>);

/// The fallback of [`Serde`]: the type cannot travel (or feature `redis` is off).
pub trait SerdeFails {
    /// `false`.
    const KEY: bool = false;
    /// `false`.
    const VALUE: bool = false;
}
impl<T: ?Sized> SerdeFails for Serde<T> {}

/// A shared function's local assertions ([`assert_key`], [`assert_value`]), made only once
/// its key part or value can travel through Redis (`GO`): a client that is neither
/// `Serialize` nor `Clone` gets one error, that it cannot be shared; once `shared` is
/// removed, the function's checks are those of any other.
pub struct Local<const GO: bool>;

impl Local<true> {
    /// [`assert_key`].
    pub const fn assert_key<T: CacheKey + Shareable>() {}
    /// [`assert_value`].
    pub const fn assert_value<T: CachedValue + Shareable>() {}
}

impl Local<false> {
    /// Asks nothing: another assertion has reported on the type.
    pub const fn assert_key<T>() {}
    /// Asks nothing: another assertion has reported on the type.
    pub const fn assert_value<T>() {}
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K: 'static, V: 'static> Store<false> for Fleet<(K, V)> {
    type Map = Shared<K, V>;
    type Static = ();
    const NEW: Self::Static = ();
    type Builder = SharedBuilder<K, V>;

    fn map(_: &'static (), _: TypeId, _: impl FnOnce() -> Self::Builder) -> &'static Self::Map {
        unreachable!("a compile error was reported")
    }
}

/// Never used at run time: a program with `OK == false` does not compile.
impl<K, R, Q: ?Sized, const KIND: u8> MemoAsync<KIND, false, Q> for Fleet<(K, R)>
where
    R: Returns<KIND>,
{
    type Ret = R;
    type Map = Shared<K, R::Value>;

    #[allow(clippy::manual_async_fn)]
    fn memo_async(_: &Self::Map, _: &Q, _: impl Future<Output = R>) -> impl Future<Output = R> {
        async { unreachable!("a compile error was reported") }
    }
}

/// The name of `F`: for a closure written in a function's body, the function's path (with its
/// `impl`'s type and generic arguments) followed by `::{{closure}}`s.
pub fn type_name_of<F>(_: &F) -> &'static str {
    std::any::type_name::<F>()
}

/// The name of a map the attribute makes without `name = ...` (for a shared map, its identity
/// in Redis): the path of `function` as the type name of a closure written in its body (or in
/// its `cache = name` handle's) gives it, such as `app::Codec<u8>::decode`. Unlike
/// `module_path!()` it holds the type of the function's `impl` and its generic arguments, so
/// that two methods of one name in one module, or two instantiations of one generic `impl`,
/// keep apart in `caches()` and in Redis. It is the same in every process built from the same
/// code by the same compiler (`type_name` promises no form across compilers: processes built
/// by two may not share values; `tests/macro_shared.rs` checks that instantiations are told
/// apart).
pub fn fleet_name(closure: &'static str, function: &str) -> &'static str {
    // `app::Codec<u8>::decode::{{closure}}::{{closure}}`: the closures' segments go.
    let mut path = closure;
    while let Some((head, last)) = path.rsplit_once("::")
        && last.starts_with('{')
    {
        path = head;
    }
    match path.rsplit_once("::") {
        Some((_, last)) if last == function => path,
        // A handle's path: the function is its sibling. Built once per map.
        Some((scope, _)) => Box::leak(format!("{scope}::{function}").into_boxed_str()),
        None => path,
    }
}

/// A shared map's identity in Redis when its function gives `name = ...`: the name, with the
/// function's path (see [`fleet_name`]) after it when that path shows generic arguments, so
/// that `Codec<u8>` and `Codec<u16>` keep apart in Redis as their local maps do.
pub fn fleet_named(name: &'static str, closure: &'static str, function: &str) -> &'static str {
    let path = fleet_name(closure, function);
    if path.contains('<') {
        Box::leak(format!("{name}@{path}").into_boxed_str())
    } else {
        name
    }
}

/// The fleet tier's side of the generated code, with feature `redis`.
#[cfg(feature = "redis")]
mod fleet {
    use std::hash::Hash;
    use std::ops::Deref;
    use std::sync::Arc;

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{
        Check, Fleet, Instances, MemoAsync, OPTION, PLAIN, RESULT, RESULT_SHARED, Serde, Store,
        TypeId,
    };
    use crate::redis::RedisTier;
    pub use crate::redis::{Shared, SharedBuilder};
    use crate::{Builder, Lookup};

    /// What a shared function's value must be, to be written to Redis and read back.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be shared through Redis: it is not `Serialize + DeserializeOwned`",
        label = "`shared` writes this value to Redis for the other processes to read",
        note = "a value that cannot leave its process (a client, a connection) is cached per process: remove `shared`",
        note = "for data, derive `serde::Serialize` and `serde::Deserialize`"
    )]
    pub trait SharedValue: Serialize + DeserializeOwned {}
    #[diagnostic::do_not_recommend]
    impl<T: Serialize + DeserializeOwned> SharedValue for T {}

    /// What each part of a shared function's key must be, to name its value in Redis.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be part of a shared cache key: it is not `Serialize`",
        label = "this argument is part of the key, which is serialized (then hashed) to find the value in Redis",
        note = "derive `serde::Serialize` for it, or pick the key with `key: Type = expr`"
    )]
    pub trait SharedKey: Serialize {}
    #[diagnostic::do_not_recommend]
    impl<T: Serialize> SharedKey for T {}

    /// Feature `redis` is on: nothing to report.
    pub const fn assert_redis<T>() {}

    /// Fails to compile, at the type's span, unless the type can be a shared value.
    pub const fn assert_shared_value<T: SharedValue>() {}

    /// Fails to compile, at the type's span, unless the type can be part of a shared key.
    pub const fn assert_shared_key<T: SharedKey>() {}

    impl<T: Serialize> Serde<T> {
        /// `true`.
        pub const KEY: bool = true;
    }

    impl<T: Serialize + DeserializeOwned> Serde<T> {
        /// `true`.
        pub const VALUE: bool = true;
    }

    /// What `shared = expr` takes: a tier, or a reference to one (`&TIER` for a
    /// `static TIER: LazyLock<RedisTier>`).
    #[diagnostic::on_unimplemented(
        message = "`shared` takes a `cache_core::redis::RedisTier`, not `{Self}`",
        label = "expected a `RedisTier` or a reference to one",
        note = "e.g. `shared = TIER.clone()` with `static TIER: LazyLock<RedisTier>`; clones share one connection"
    )]
    pub trait IntoTier {
        /// The tier.
        fn into_tier(self) -> RedisTier;
    }

    #[diagnostic::do_not_recommend]
    impl IntoTier for RedisTier {
        fn into_tier(self) -> RedisTier {
            self
        }
    }

    #[diagnostic::do_not_recommend]
    impl IntoTier for &RedisTier {
        fn into_tier(self) -> RedisTier {
            self.clone()
        }
    }

    #[diagnostic::do_not_recommend]
    impl<T: Deref<Target = RedisTier>> IntoTier for &T {
        fn into_tier(self) -> RedisTier {
            (**self).clone()
        }
    }

    /// `builder.shared(tier)`.
    pub fn share<K, V>(builder: Builder<K, V>, tier: impl IntoTier) -> SharedBuilder<K, V> {
        builder.shared(tier.into_tier())
    }

    impl<K, V> Check<Fleet<(K, V)>>
    where
        K: Hash + Eq + Clone + Serialize + Send + Sync + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        /// `true`.
        pub const OK: bool = true;
    }

    impl<K, V> Store<true> for Fleet<(K, V)>
    where
        K: Hash + Eq + Serialize + Send + Sync + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        type Map = Shared<K, V>;
        type Static = Instances<Shared<K, V>>;
        // Only ever the initializer of a `static`, which is what an interior-mutable const is for.
        #[allow(clippy::declare_interior_mutable_const)]
        const NEW: Self::Static = Instances::new();
        type Builder = SharedBuilder<K, V>;

        #[inline]
        fn map(
            cache: &'static Self::Static,
            id: TypeId,
            builder: impl FnOnce() -> SharedBuilder<K, V>,
        ) -> &'static Shared<K, V> {
            cache.get(id, || builder().build())
        }
    }

    // As for the local maps, one impl per kind, each calling the map itself.

    impl<K, T, Q> MemoAsync<PLAIN, true, Q> for Fleet<(K, T)>
    where
        K: Hash + Eq + Serialize + Send + Sync + 'static,
        T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
        Q: ?Sized + Lookup<K> + Sync,
    {
        type Ret = T;
        type Map = Shared<K, T>;

        #[inline]
        fn memo_async(
            map: &Self::Map,
            key: &Q,
            init: impl Future<Output = T>,
        ) -> impl Future<Output = T> {
            map.get_or_insert_with_async(key, init)
        }
    }

    impl<K, T, E, Q> MemoAsync<RESULT, true, Q> for Fleet<(K, Result<T, E>)>
    where
        K: Hash + Eq + Serialize + Send + Sync + 'static,
        T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
        Q: ?Sized + Lookup<K> + Sync,
    {
        type Ret = Result<T, E>;
        type Map = Shared<K, T>;

        #[inline]
        fn memo_async(
            map: &Self::Map,
            key: &Q,
            init: impl Future<Output = Result<T, E>>,
        ) -> impl Future<Output = Result<T, E>> {
            map.try_get_or_insert_with_async(key, init)
        }
    }

    /// A failed flight's error goes to every caller in this process that waited for it.
    impl<K, T, E, Q> MemoAsync<RESULT_SHARED, true, Q> for Fleet<(K, Result<T, E>)>
    where
        K: Hash + Eq + Serialize + Send + Sync + 'static,
        T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
        Q: ?Sized + Lookup<K> + Sync,
    {
        type Ret = Result<T, E>;
        type Map = Shared<K, T>;

        #[inline]
        fn memo_async(
            map: &Self::Map,
            key: &Q,
            init: impl Future<Output = Result<T, E>>,
        ) -> impl Future<Output = Result<T, E>> {
            map.try_get_or_insert_with_cloned_async(key, init)
        }
    }

    impl<K, V> Shared<K, V>
    where
        K: Hash + Eq + Serialize + Send + Sync + 'static,
        V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        /// As for a `TtlMap`: the shared error cloned out of its `Arc`.
        async fn try_get_or_insert_with_cloned_async<Q, E>(
            &self,
            key: &Q,
            init: impl Future<Output = Result<V, E>>,
        ) -> Result<V, E>
        where
            Q: ?Sized + Lookup<K> + Sync,
            E: Clone + Send + Sync + 'static,
        {
            let shared = self.try_get_or_insert_with_shared_async(key, init).await;
            shared.map_err(Arc::unwrap_or_clone)
        }
    }

    impl<K, T, Q> MemoAsync<OPTION, true, Q> for Fleet<(K, Option<T>)>
    where
        K: Hash + Eq + Serialize + Send + Sync + 'static,
        T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
        Q: ?Sized + Lookup<K> + Sync,
    {
        type Ret = Option<T>;
        type Map = Shared<K, T>;

        #[inline]
        fn memo_async(
            map: &Self::Map,
            key: &Q,
            init: impl Future<Output = Option<T>>,
        ) -> impl Future<Output = Option<T>> {
            map.optionally_get_or_insert_with_async(key, init)
        }
    }
}

/// Without feature `redis`: `shared` is one error, at the option, and nothing else asks
/// anything of the types.
#[cfg(not(feature = "redis"))]
mod fleet {
    use std::marker::PhantomData;

    use crate::Builder;

    /// What is missing.
    #[diagnostic::on_unimplemented(
        message = "`shared` needs cache-core's feature `redis`",
        label = "this option shares the cache with other processes through Redis",
        note = "enable it in Cargo.toml: `cache-core = {{ version = \"...\", features = [\"redis\"] }}`"
    )]
    pub trait Enabled {}

    /// Fails to compile, at the `shared` option: the feature is off.
    pub const fn assert_redis<T: Enabled>() {}

    /// Asks nothing: [`assert_redis`] reports.
    pub const fn assert_shared_value<T>() {}

    /// Asks nothing: [`assert_redis`] reports.
    pub const fn assert_shared_key<T>() {}

    /// Stands for `cache_core::redis::Shared`, which this build has not.
    pub struct Shared<K, V>(PhantomData<(K, V)>);

    /// Stands for `cache_core::redis::SharedBuilder`, which this build has not.
    pub struct SharedBuilder<K, V>(PhantomData<(K, V)>);

    /// Asks nothing: [`assert_redis`] reports.
    pub fn share<K, V, T>(_: Builder<K, V>, _: T) -> SharedBuilder<K, V> {
        SharedBuilder(PhantomData)
    }
}

pub use fleet::*;

/// The type [`assert_redis`] is asked about: its name reads as the missing feature.
pub struct FeatureRedis;

/// The `TypeId` of `f`'s type. For a closure written in a function's body that type carries
/// the generics of the function's `impl` or trait, and only those: a closure that captures
/// nothing is `'static` even in `impl<'a> Foo<'a>`, and lifetimes do not split it.
#[inline]
pub fn instance_of<F: 'static>(_: &F) -> TypeId {
    TypeId::of::<F>()
}

/// A cache, type-erased: what [`Others`] keeps, each leaked once for the whole program.
type AnyCache = &'static (dyn Any + Send + Sync);

/// The caches of one `#[ttl_cached]` function: one per instantiation of the function (one in
/// all unless it is generic through its `impl` or trait), keyed by [`instance_of`].
pub struct Instances<M: 'static> {
    /// The first instantiation's cache, typed: a hit checks it with one compare.
    first: OnceLock<(TypeId, M)>,
    /// The others'. Not generic, so their lock and list are compiled once, not per function.
    others: Others,
}

impl<M: Send + Sync> Instances<M> {
    /// No cache yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Instances {
            first: OnceLock::new(),
            others: Others::new(),
        }
    }

    /// The cache of instantiation `id`, made by `init` the first time.
    #[inline]
    pub fn get(&'static self, id: TypeId, init: impl FnOnce() -> M) -> &'static M {
        match self.first.get() {
            Some((first, cache)) if *first == id => cache,
            _ => self.get_cold(id, init),
        }
    }

    /// Out of line: the memoized function's frame (which a recursive function stacks once per
    /// level) holds none of its locals.
    #[cold]
    #[inline(never)]
    fn get_cold(&'static self, id: TypeId, init: impl FnOnce() -> M) -> &'static M {
        let mut init = Some(init);
        let (first, cache) = self
            .first
            .get_or_init(|| (id, (init.take().expect("not run yet"))()));
        if *first == id {
            return cache;
        }
        let mut make = || -> AnyCache { Box::leak(Box::new(init.take().expect("not run yet")())) };
        // Always `M`: an instantiation's closure type fixes its function's key and value.
        (self.others.get(id, &mut make).downcast_ref())
            .expect("an instantiation's cache has its type")
    }
}

impl Instances<ErasedMap> {
    /// [`get`](Self::get) with its constructor behind a pointer: compiled once for every plain
    /// function.
    #[inline]
    pub fn get_erased(
        &'static self,
        id: TypeId,
        init: &mut dyn FnMut() -> ErasedMap,
    ) -> &'static ErasedMap {
        self.get(id, init)
    }
}

/// The caches of a function's instantiations after the first, type-erased: a list that only
/// grows, each of its cells set once, so that a hit finds its cache by reading alone (a lock
/// would be a shared write per hit).
struct Others {
    cache: OnceLock<(TypeId, AnyCache)>,
    next: OnceLock<Box<Others>>,
}

impl Others {
    const fn new() -> Self {
        Others {
            cache: OnceLock::new(),
            next: OnceLock::new(),
        }
    }

    /// The cache of instantiation `id`, made by `make` (run at most once) the first time: in
    /// the first cell not taken by another instantiation. Two threads that make the same
    /// instantiation's cache meet at one cell, where the second waits for the first.
    fn get(&self, id: TypeId, make: &mut dyn FnMut() -> AnyCache) -> AnyCache {
        let mut cell = self;
        loop {
            let &(other, cache) = cell.cache.get_or_init(|| (id, make()));
            if other == id {
                return cache;
            }
            cell = cell.next.get_or_init(|| Box::new(Others::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fleet_name, type_name_of};

    #[test]
    fn a_shared_map_is_named_after_its_function_with_the_impl_it_is_in() {
        // In an async fn's body, a closure in a closure.
        let free = "app::api::embedding::{{closure}}::{{closure}}";
        assert_eq!(fleet_name(free, "embedding"), "app::api::embedding");
        let method = "app::Codec<alloc::string::String>::decode::{{closure}}";
        assert_eq!(
            fleet_name(method, "decode"),
            "app::Codec<alloc::string::String>::decode"
        );
        let default = "<app::Pg as app::Store>::load::{{closure}}::{{closure}}";
        assert_eq!(fleet_name(default, "load"), "<app::Pg as app::Store>::load");
        // A `cache = decoded` handle holds the map: its path names the function's sibling.
        let handle = "app::Codec<u8>::decoded::{{closure}}";
        assert_eq!(fleet_name(handle, "decode"), "app::Codec<u8>::decode");
    }

    /// The compiler's own type names have the shape the cases above assume.
    #[test]
    fn the_name_comes_from_the_type_name_of_a_closure() {
        fn here() -> &'static str {
            type_name_of(&|| ())
        }
        assert_eq!(
            fleet_name(here(), "here"),
            concat!(
                module_path!(),
                "::the_name_comes_from_the_type_name_of_a_closure::here"
            )
        );
    }
}
