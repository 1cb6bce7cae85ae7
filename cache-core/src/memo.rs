//! Memoization: `get_or_insert_with` and its fallible and async forms, with single flight.
//!
//! A miss registers a [`Pending`] entry for its key in the shard's pending table and becomes
//! the key's leader; later misses of the same key find it there and wait on its [`Flight`].
//! The leader runs the constructor with no lock held, then stores the value and removes the
//! pending entry in one step under the pending lock, so no caller can miss both.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasher, Hash};
use std::pin::pin;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::TtlMap;
use crate::flight::Flight;
use crate::key::Lookup;
use crate::map::Inner;

/// A key whose constructor is running.
pub(crate) struct Pending<K> {
    hash: u64,
    key: K,
    flight: Arc<Flight>,
}

enum Role<'a, K, V, S> {
    /// The value is there (or landed just before the caller took the pending lock).
    Hit(V),
    Wait(Arc<Flight>),
    Lead(Ticket<'a, K, V, S>),
}

/// The leader's duty to land its flight: by storing a value, or, if dropped first (the
/// constructor failed, panicked or its future was cancelled), by giving the key up.
struct Ticket<'a, K, V, S> {
    inner: &'a Inner<K, V, S>,
    hash: u64,
    flight: Arc<Flight>,
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// One round of a memoizing call: a hit, or the flight to wait for, or the duty to lead
    /// one. Only a caller's `first` lookup counts as its hit or miss.
    fn find_or_join<Q>(&self, hash: u64, key: &Q, first: &mut bool) -> Role<'_, K, V, S>
    where
        Q: ?Sized + Lookup<K>,
        V: Clone,
    {
        let found = self.get(hash, key);
        if std::mem::take(first) {
            self.counters.lookup(found.is_some());
        }
        match found {
            Some(value) => Role::Hit(value),
            None => self.join_or_lead(hash, key),
        }
    }

    fn join_or_lead<Q>(&self, hash: u64, key: &Q) -> Role<'_, K, V, S>
    where
        Q: ?Sized + Lookup<K>,
        V: Clone,
    {
        let mut pending = self.shard(hash).pending.lock();
        if let Some(p) = pending.find(hash, |p| key.equivalent(&p.key)) {
            return Role::Wait(Arc::clone(&p.flight));
        }
        if let Some(value) = self.get(hash, key) {
            return Role::Hit(value);
        }
        let flight = Arc::new(Flight::default());
        let entry = Pending {
            hash,
            key: key.to_key(),
            flight: Arc::clone(&flight),
        };
        pending.insert_unique(hash, entry, |p| p.hash);
        Role::Lead(Ticket {
            inner: self,
            hash,
            flight,
        })
    }
}

impl<K, V, S> Ticket<'_, K, V, S> {
    /// Takes this flight's entry out of the pending table, giving back its key.
    fn unregister(&self, pending: &mut HashTable<Pending<K>>) -> Option<K> {
        let found = pending.find_entry(self.hash, |p| Arc::ptr_eq(&p.flight, &self.flight));
        Some(found.ok()?.remove().0.key)
    }
}

impl<K, V, S> Ticket<'_, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    fn complete(self, value: V) {
        let inner = self.inner;
        let shard = inner.shard(self.hash);
        let after = {
            // The value is stored before the pending entry goes: a caller sees one or the other.
            let mut pending = shard.pending.lock();
            let Some(key) = self.unregister(&mut pending) else {
                return;
            };
            inner.insert_locked(&mut shard.write(), self.hash, key, value)
        };
        drop(self); // lands the flight: the waiters find the value
        inner.after_insert(after);
    }
}

impl<K, V, S> Drop for Ticket<'_, K, V, S> {
    fn drop(&mut self) {
        // After `complete` the entry is gone already; otherwise the key is given up.
        let key = self.unregister(&mut self.inner.shard(self.hash).pending.lock());
        drop(key);
        self.flight.land();
    }
}

impl<K, V, S> TtlMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
    V: Clone,
{
    /// The live value for `key`, or the value `init` makes, which is stored.
    ///
    /// Single flight: while `init` runs, other callers missing the same key wait for its value
    /// instead of running their own. No lock is held while it runs, so constructors of
    /// different keys run in parallel and `init` may use this map for other keys. If `init`
    /// panics, one of the waiters runs its own constructor.
    ///
    /// # Panics
    ///
    /// If `init` asks this map for `key` itself, which could only wait forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// assert_eq!(map.get_or_insert_with("k", || 1), 1);
    /// assert_eq!(map.get_or_insert_with("k", || 2), 1);
    /// ```
    pub fn get_or_insert_with<Q>(&self, key: &Q, init: impl FnOnce() -> V) -> V
    where
        Q: ?Sized + Lookup<K>,
    {
        match self.try_get_or_insert_with(key, || Ok::<_, Infallible>(init())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for a constructor that can fail:
    /// an error is returned to this caller and not stored; a waiting caller then tries again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
    /// assert_eq!(map.try_get_or_insert_with("k", || "nope".parse::<u32>()).is_err(), true);
    /// assert_eq!(map.try_get_or_insert_with("k", || "7".parse::<u32>()), Ok(7));
    /// ```
    pub fn try_get_or_insert_with<Q, E>(
        &self,
        key: &Q,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        Q: ?Sized + Lookup<K>,
    {
        let inner = &*self.inner;
        let hash = inner.hash(key);
        let mut first = true;
        loop {
            match inner.find_or_join(hash, key, &mut first) {
                Role::Hit(value) => return Ok(value),
                Role::Wait(flight) => {
                    inner.counters.coalesced();
                    flight.wait();
                }
                Role::Lead(ticket) => {
                    let value = ticket.flight.lead(init)?;
                    ticket.complete(value.clone());
                    return Ok(value);
                }
            }
        }
    }

    /// The async form of [`get_or_insert_with`](Self::get_or_insert_with): `init` is awaited
    /// only if this caller leads; waiters await without blocking their executor thread. The
    /// future is `Send` when `init` is.
    ///
    /// ```
    /// # futures_lite_block_on(async {
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map = TtlMap::new(Duration::from_secs(60));
    /// let v = map.get_or_insert_with_async("k", async { 1 }).await;
    /// assert_eq!(v, 1);
    /// # });
    /// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    pub async fn get_or_insert_with_async<Q>(&self, key: &Q, init: impl Future<Output = V>) -> V
    where
        Q: ?Sized + Lookup<K> + Sync,
    {
        let init = async { Ok::<_, Infallible>(init.await) };
        match self.try_get_or_insert_with_async(key, init).await {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The async form of [`try_get_or_insert_with`](Self::try_get_or_insert_with).
    ///
    /// ```
    /// # block_on(async {
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u16> = TtlMap::new(Duration::from_secs(60));
    /// let port = map.try_get_or_insert_with_async("k", async { "8080".parse::<u16>() }).await;
    /// assert_eq!(port, Ok(8080));
    /// # });
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    pub async fn try_get_or_insert_with_async<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E>
    where
        Q: ?Sized + Lookup<K> + Sync,
    {
        let inner = &*self.inner;
        let hash = inner.hash(key);
        let mut first = true;
        loop {
            match inner.find_or_join(hash, key, &mut first) {
                Role::Hit(value) => return Ok(value),
                Role::Wait(flight) => {
                    inner.counters.coalesced();
                    poll_fn(|cx| flight.poll_wait(cx)).await;
                }
                Role::Lead(ticket) => {
                    let mut init = pin!(init);
                    let flight = Arc::clone(&ticket.flight);
                    let value = poll_fn(|cx| flight.lead(|| init.as_mut().poll(cx))).await?;
                    ticket.complete(value.clone());
                    return Ok(value);
                }
            }
        }
    }
}
