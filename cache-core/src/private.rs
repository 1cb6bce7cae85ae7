//! What `#[ttl_cached]` expands to uses; not a public API.

pub use std::sync::OnceLock;
pub use std::time::Duration;

/// What a memoized function's value must be; named so the error can say why.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a cached value: it is not `Clone`",
    label = "every hit returns a clone of the cached value",
    note = "derive or implement `Clone`, or return `Arc<{Self}>` to share one value"
)]
pub trait CachedValue: Clone {}
impl<T: Clone> CachedValue for T {}

/// What each part of a memoized function's key must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it is not `Hash + Eq`",
    label = "this argument is part of the key",
    note = "derive `Hash`, `PartialEq` and `Eq` for it, or pick the key with `key: Type = expr`"
)]
pub trait CacheKey: std::hash::Hash + Eq {}
impl<T: std::hash::Hash + Eq> CacheKey for T {}

/// Fails to compile, at the type's span, unless the type can be a cached value.
pub const fn assert_clone<T: CachedValue>() {}

/// Fails to compile, at the type's span, unless the type can be part of a key.
pub const fn assert_key<T: CacheKey>() {}

/// Returns `future`, fixing its output type so that `?` inside an async body infers.
pub fn typed_future<T, F: Future<Output = T>>(future: F) -> F {
    future
}

/// Why a memoized `Option` function's `None` was not cached.
#[derive(Debug)]
pub struct NotCached;

/// Turns an `Option` constructor into a fallible one: `None` is returned, not cached.
pub fn some_or_skip<T>(f: impl FnOnce() -> Option<T>) -> impl FnOnce() -> Result<T, NotCached> {
    move || f().ok_or(NotCached)
}

/// The async form of [`some_or_skip`].
pub async fn some_or_skip_async<T>(f: impl Future<Output = Option<T>>) -> Result<T, NotCached> {
    f.await.ok_or(NotCached)
}
