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
//! Compile time: what is instantiated per memoized function is kept to thin generic shims
//! (`Store::map`, `Memo::memo`, `Returns::memo`, `Instances::get`) over the map's own methods;
//! the list of a generic function's other instantiations is not generic.

use std::any::{Any, TypeId};
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

pub use std::sync::OnceLock;
pub use std::time::Duration;

use crate::{Builder, Lookup, TtlMap};

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
    message = "`{Self}` cannot be part of a cache key: it is not `Hash + Eq`",
    label = "this argument is part of the key",
    note = "derive `Hash`, `PartialEq` and `Eq` for it, or pick the key with `key: Type = expr`"
)]
pub trait CacheKey: Hash + Eq {}
#[diagnostic::do_not_recommend]
impl<T: Hash + Eq> CacheKey for T {}

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

/// Returns `future`, fixing its output type so that `?` inside an async body infers.
pub fn typed_future<T, F: Future<Output = T>>(future: F) -> F {
    future
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

    /// Memoizes the async constructor `init` under `key`.
    fn memo_async<K, Q>(
        map: &TtlMap<K, Self::Value>,
        key: &Q,
        init: impl Future<Output = Self>,
    ) -> impl Future<Output = Self>
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K> + Sync,
        Self::Value: Clone;
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

    fn memo_async<K, Q>(
        map: &TtlMap<K, T>,
        key: &Q,
        init: impl Future<Output = T>,
    ) -> impl Future<Output = T>
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K> + Sync,
        T: Clone,
    {
        map.get_or_insert_with_async(key, init)
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

    fn memo_async<K, Q>(
        map: &TtlMap<K, T>,
        key: &Q,
        init: impl Future<Output = Self>,
    ) -> impl Future<Output = Self>
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K> + Sync,
        T: Clone,
    {
        map.try_get_or_insert_with_async(key, init)
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

    async fn memo_async<K, Q>(map: &TtlMap<K, T>, key: &Q, init: impl Future<Output = Self>) -> Self
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K> + Sync,
        T: Clone,
    {
        let shared = map.try_get_or_insert_with_shared_async(key, init).await;
        shared.map_err(Arc::unwrap_or_clone)
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

    fn memo_async<K, Q>(
        map: &TtlMap<K, T>,
        key: &Q,
        init: impl Future<Output = Self>,
    ) -> impl Future<Output = Self>
    where
        K: Hash + Eq,
        Q: ?Sized + Lookup<K> + Sync,
        T: Clone,
    {
        let init = async { init.await.ok_or(NotCached) };
        async {
            map.try_get_or_insert_with_shared_async(key, init)
                .await
                .ok()
        }
    }
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
    K: Hash + Eq + Send + Sync + 'static,
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

impl<K, R, Q, const KIND: u8> MemoAsync<KIND, true, Q> for (K, R)
where
    K: Hash + Eq,
    R: Returns<KIND>,
    R::Value: Clone,
    Q: ?Sized + Lookup<K> + Sync,
{
    type Ret = R;
    type Map = TtlMap<K, R::Value>;

    #[inline]
    fn memo_async(
        map: &Self::Map,
        key: &Q,
        init: impl Future<Output = R>,
    ) -> impl Future<Output = R> {
        R::memo_async(map, key, init)
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
            others: Others(Mutex::new(Vec::new())),
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

/// The caches of a function's instantiations after the first, type-erased.
struct Others(Mutex<Vec<(TypeId, AnyCache)>>);

impl Others {
    /// The cache of instantiation `id`, made by `make` (run at most once) the first time.
    fn get(&self, id: TypeId, make: &mut dyn FnMut() -> AnyCache) -> AnyCache {
        // Never poisoned in a way that matters: the list is only pushed to.
        let mut others = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(_, cache)) = others.iter().find(|(other, _)| *other == id) {
            return cache;
        }
        let cache = make();
        others.push((id, cache));
        cache
    }
}
