//! Memoization: `get_or_insert_with` and its fallible, shared-error and async forms.
//!
//! The protocol, per key:
//!
//! - A caller that misses looks in the shard's pending table without letting go of the read
//!   lock of its lookup (the table has a mutex of its own for such callers), so no value can
//!   land in between. If a flight is registered for the key, it waits for that flight; if not,
//!   it registers one and leads it: it runs the constructor with no lock held.
//! - A value lands by storing it and unregistering the flight in one step under the shard's
//!   write lock, then handing a clone to every waiter through the flight. A waiter never looks
//!   the key up again, so nothing between the landing and its wake-up can make it construct.
//! - Invalidation wins: `insert`, `remove` and `clear` mark the key's flight invalidated under
//!   the same write lock. An invalidated flight does not store its value (its callers still
//!   receive it), so nothing older than an invalidation is ever stored after it.
//! - A failed flight never makes callers queue. With a shareable error (the `_shared` forms,
//!   `Result<V, Arc<E>>`), every waiter gets the leader's error. Otherwise, and after a panic,
//!   every waiter makes its own attempt at once, in parallel, not as a flight; such an attempt
//!   stores its value only if nothing invalidated the shard's keys while it ran. A leader whose
//!   future was dropped lands its flight abandoned: its waiters start over, one leading.
//!
//! - Freshness: a memoizing call that finds a value due for `refresh_after` leads a flight to
//!   rebuild it unless one is under way (other callers keep getting the value meanwhile); if
//!   it fails, the value is kept. A constructor that fails to rebuild an expired value may
//!   return the last one instead, within `stale_if_error`.
//!
//! A [`Ticket`] is the leader's duty to land its flight; its `Drop` lands it on every exit
//! path (error, panic, cancelled future).

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasher, Hash};
use std::mem::ManuallyDrop;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::Context;

use hashbrown::{HashTable, hash_table};

use crate::TtlMap;
use crate::flight::{self, Flight, FlightId, Outcome, SharedError};
use crate::key::{Equivalent, Lookup};
use crate::map::{
    Count, Incoming, Inner, Kept, Locked, drop_guarded, drop_unwinding, unless_panicked,
};
use crate::payload::{Panic, catch, resume};
use crate::stats::Miss;
use crate::sync::thread_token;
use crate::trace;

/// Flights a shard's pending table may have room for when none is in progress (times 8):
/// smaller tables are kept, so that recursions and ordinary concurrency, whose flights come
/// and go by the dozen, never pay for giving the room back and growing again.
const SMALL_PENDING: usize = 32;

/// A key whose constructor is running.
pub(crate) struct Pending<K, V> {
    hash: u64,
    key: K,
    /// This flight's number in its shard.
    id: u64,
    /// A later `insert`, `remove`, `clear` or `retain` of the key: the flight must not store its
    /// value, and callers that miss from now on start a new flight instead of joining it.
    invalidated: bool,
    /// The thread that leads it (`thread_token`), if its constructor is sync: while the flight
    /// is registered the constructor is on that thread's stack, so a caller from that thread
    /// is the constructor asking for its own key.
    sync_leader: Option<usize>,
    /// The thread that leads it, if its constructor is async.
    async_leader: Option<usize>,
    /// The rendezvous, made when the first waiter joins: a flight nobody waits for costs no
    /// allocation.
    flight: Option<Arc<Flight<V>>>,
    /// For the construction's duration in its event (nothing without the feature `tracing`).
    started: trace::Started,
    /// A rebuild of a value found due for `refresh_after`: the mark it left on the value's
    /// refresh time (see `Extras::refreshing`).
    refresh_mark: Option<u64>,
}

impl<K, V> Pending<K, V> {
    /// A flight that `caller` is to lead.
    fn new(hash: u64, key: K, id: u64, caller: Caller, refresh_mark: Option<u64>) -> Self {
        let (sync_leader, async_leader) = match caller.is_async {
            false => (caller.thread, None),
            true => (None, caller.thread),
        };
        Pending {
            hash,
            key,
            id,
            invalidated: false,
            sync_leader,
            async_leader,
            flight: None,
            started: trace::started(),
            refresh_mark,
        }
    }
}

/// A shard's flights in progress, and a count of the invalidations of its keys.
pub(crate) struct Flights<K, V> {
    pending: HashTable<Pending<K, V>>,
    epoch: u64,
    next_id: u64,
}

impl<K, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Flights {
            pending: HashTable::new(),
            epoch: 0,
            next_id: 0,
        }
    }

    /// Drops the flights left (of leaders whose futures were forgotten), for a map's `Drop`,
    /// catching a panic of a key's `Drop`. All at once, as one table: a second key whose
    /// `Drop` panics too would abort the process, but dropping each on its own would cost
    /// every key and value type the table's drain.
    pub(crate) fn drop_all(&mut self) {
        drop(drop_guarded(std::mem::take(&mut self.pending)));
    }

    /// `key` was stored or removed: its flight, if any, must not store its value.
    pub(crate) fn invalidate<Q>(&mut self, hash: u64, key: &Q)
    where
        Q: ?Sized + Equivalent<K>,
    {
        self.epoch += 1;
        if !self.pending.is_empty() {
            for p in self.pending.iter_mut() {
                if p.hash == hash && key.equivalent(&p.key) {
                    p.invalidated = true;
                }
            }
        }
    }

    /// Every key was removed.
    pub(crate) fn invalidate_all(&mut self) {
        self.epoch += 1;
        self.pending.iter_mut().for_each(|p| p.invalidated = true);
    }
}

/// What a sync memoizing call makes of the live value it finds, under the shard's read lock,
/// and of a value it gets otherwise (its own, or its flight's).
pub(crate) trait Hit<V> {
    type Out;
    fn hit(&mut self, value: &V) -> Self::Out;
    fn own(value: V) -> Self::Out;
}

/// A typed map's: the value's clone.
pub(crate) struct Cloned;

impl<V: Clone> Hit<V> for Cloned {
    type Out = V;
    #[inline(always)]
    fn hit(&mut self, value: &V) -> V {
        value.clone()
    }
    #[inline(always)]
    fn own(value: V) -> V {
        value
    }
}

/// What a memoizing call found, and what it does next; `H`, what it made of a value found.
enum Role<V, H = V> {
    /// The live value.
    Hit(H),
    Wait(Arc<Flight<V>>),
    /// Lead the flight with this number.
    Lead(u64),
    /// Lead the flight with this number to rebuild a value found due for `refresh_after`: if
    /// it fails, the value is kept and returned.
    Refresh(u64),
    /// Make an attempt of its own, storing its value unless the shard's invalidation count has
    /// moved from this: the thread cannot lead a flight now (see `Caller::can_lead`).
    Attempt(u64),
    /// The flight is led by a sync constructor on the caller's own stack.
    Reentry,
}

/// Who misses: this thread (`thread_token`), and whether its constructor is async.
#[derive(Clone, Copy)]
struct Caller {
    thread: Option<usize>,
    is_async: bool,
}

impl Caller {
    fn this_thread(is_async: bool) -> Self {
        Caller {
            thread: thread_token(),
            is_async,
        }
    }

    /// Whether this caller can lead a flight: not while its thread's thread-locals are being
    /// destroyed, when its re-entry could not be told from waiting (a sync leader is known by
    /// its thread's token, an async one by a thread-local mark).
    fn can_lead(self) -> bool {
        match self.is_async {
            false => self.thread.is_some(),
            true => flight::can_lead(),
        }
    }
}

/// What a sync caller does next, decided before its constructor runs, out of line. Recursive
/// memoized functions recurse through the constructor, so what stays on their stack per level
/// is kept small: with a small value this is two registers, not memory.
pub(crate) enum Step<R> {
    /// Return this: a found value or a joined flight's outcome.
    Done(R),
    /// As the `Role`s of the same names.
    Lead(u64),
    Refresh(u64),
    Attempt(u64),
}

/// The leader's duty to land its flight: its `Drop` lands it on every exit path that does
/// not (a panic, a dropped future).
pub(crate) struct Ticket<'a, K, V, S> {
    inner: &'a Inner<K, V, S>,
    hash: u64,
    /// The flight's number in its shard (see `FlightId`).
    id: u64,
}

/// An async leader's ticket. Its constructor may panic in one poll and its future be dropped
/// later, outside that panic, so a panic is noted in `panicked` (by `flight::mark`) instead of
/// being judged by `thread::panicking` when the ticket drops.
struct AsyncTicket<'a, K, V, S> {
    ticket: Option<Ticket<'a, K, V, S>>,
    panicked: AtomicBool,
}

/// How a memoizing call treats a constructor's error: its own (`E`), or shared (`Arc<E>`).
pub(crate) trait ErrorForm<E> {
    type Err;
    /// The caller's error, and what the flight's waiters get, if they can share it.
    fn fail(error: E) -> (Self::Err, Option<SharedError>);
    /// A waiter's share of its leader's error, if the leader's error had this type.
    fn share(error: &SharedError) -> Option<Self::Err>;
}

/// Each caller keeps its own error: waiters of a failed flight try for themselves.
pub(crate) struct Own;

impl<E> ErrorForm<E> for Own {
    type Err = E;
    fn fail(error: E) -> (E, Option<SharedError>) {
        (error, None)
    }
    fn share(_: &SharedError) -> Option<E> {
        None
    }
}

/// Every caller of a failed flight gets the leader's error.
pub(crate) struct Shared;

impl<E: Send + Sync + 'static> ErrorForm<E> for Shared {
    type Err = Arc<E>;
    fn fail(error: E) -> (Arc<E>, Option<SharedError>) {
        let error = Arc::new(error);
        let shared: SharedError = Arc::clone(&error) as SharedError;
        (error, Some(shared))
    }
    fn share(error: &SharedError) -> Option<Arc<E>> {
        Arc::clone(error).downcast::<E>().ok()
    }
}

/// An `optionally_` constructor's `None`, shared with its waiters like an error.
pub(crate) struct Declined;

/// What a waiter does with its flight's outcome.
enum Next<V, E> {
    Return(Result<V, E>),
    /// Make its own attempt, now.
    Attempt,
    /// The leader gave up: start over.
    Retry,
}

/// A waiter's `outcome`, once it has let go of its `flight`. The last to let go drops the
/// flight's copy of the value: if that `Drop` panics, the waiter's copy is dropped on its own
/// before the panic goes on, as a second panic while one unwinds would abort the process.
fn let_go<V>(flight: Arc<Flight<V>>, outcome: Outcome<V>) -> Outcome<V> {
    let panicked = drop_guarded(flight);
    match outcome {
        Outcome::Value(value) => Outcome::Value(unless_panicked(value, panicked)),
        outcome => {
            resume(panicked);
            outcome
        }
    }
}

fn after_wait<V, E, F: ErrorForm<E>>(outcome: Outcome<V>) -> Next<V, F::Err> {
    match outcome {
        Outcome::Value(value) => Next::Return(Ok(value)),
        Outcome::Error(error) => match F::share(&error) {
            Some(error) => Next::Return(Err(error)),
            None => Next::Attempt,
        },
        Outcome::Failed | Outcome::Panicked => Next::Attempt,
        Outcome::Abandoned => Next::Retry,
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
    V: Clone,
{
    /// A memoizing call's lookup and, if it must build the value, its place in the key's
    /// flight, decided under one read lock: nothing lands between the two, so a miss never
    /// looks twice (and reads no clock). `count`: whether the lookup counts as a hit or a miss
    /// (not when a caller looks again because its leader gave up).
    #[inline]
    fn find_or_join<Q, X>(
        &self,
        hash: u64,
        key: &Q,
        is_async: bool,
        count: bool,
        found: &mut X,
    ) -> Role<V, X::Out>
    where
        Q: ?Sized + Lookup<K>,
        X: Hit<V>,
    {
        let shard = self.shard(hash).lock.read();
        // A miss is counted once its flight is registered or joined, so that whoever sees the
        // miss counted can join that flight; counted too if a key's `Eq` (in the lookup or
        // the flights' table) or `Clone` panics.
        let miss = match count {
            true => Some(Miss(&self.counters)),
            false => None,
        };
        let Some((value, now)) = shard.table.get(hash, key, &self.clock) else {
            return self.join_or_lead(&shard, hash, key, is_async);
        };
        std::mem::forget(miss);
        if count {
            self.counters.lookup(true);
        }
        if self.refresh_after.is_some()
            && shard.table.refresh_due(hash, now)
            && let Some(id) = self.refresh(&shard, hash, key, now, is_async)
        {
            return Role::Refresh(id);
        }
        Role::Hit(found.hit(value))
    }

    /// Under the shard's read lock, after a miss: the flight to wait for, or the duty to lead
    /// one.
    #[inline(never)]
    fn join_or_lead<Q, H>(
        &self,
        shard: &Locked<K, V>,
        hash: u64,
        key: &Q,
        is_async: bool,
    ) -> Role<V, H>
    where
        Q: ?Sized + Lookup<K>,
    {
        let caller = Caller::this_thread(is_async);
        let mut flights = shard.flights.lock();
        if !caller.can_lead() {
            return Role::Attempt(flights.epoch);
        }
        let Flights {
            pending, next_id, ..
        } = &mut *flights;
        // One probe finds the flight to join or the slot of the one to lead.
        let slot = match joinable(pending, hash, key) {
            hash_table::Entry::Occupied(mut found) => {
                let p = found.get_mut();
                if p.sync_leader.is_some() && p.sync_leader == caller.thread {
                    return Role::Reentry;
                }
                let flight = match &p.flight {
                    Some(flight) => Arc::clone(flight),
                    None => {
                        let id = (self.flights_id(hash), p.id);
                        let flight = Arc::new(Flight::new(id, p.sync_leader, p.async_leader));
                        p.flight = Some(Arc::clone(&flight));
                        flight
                    }
                };
                return Role::Wait(flight);
            }
            hash_table::Entry::Vacant(slot) => slot,
        };
        let id = *next_id;
        *next_id += 1;
        slot.insert(Pending::new(hash, key.to_key(), id, caller, None));
        Role::Lead(id)
    }

    /// Under the shard's read lock, after finding `key`'s value due for a refresh: the duty to
    /// rebuild it, unless a flight of it is already under way (then the value found is the
    /// answer). A refresh registered here cannot overwrite a newer value: nothing can be
    /// stored until the lock is let go, and a later store invalidates the flight.
    #[cold]
    #[inline(never)]
    fn refresh<Q>(
        &self,
        shard: &Locked<K, V>,
        hash: u64,
        key: &Q,
        now: u64,
        is_async: bool,
    ) -> Option<u64>
    where
        Q: ?Sized + Lookup<K>,
    {
        let caller = Caller::this_thread(is_async);
        caller.thread?;
        // Asked before a flight is registered, as it runs keys' `Eq` and `Hash`: a key that
        // shares its hash with another shares its refresh time, which must not be put off
        // for the other's sake (its calls then take the flights' lock, as all did before).
        let alone = !shard.table.shares_hash(hash, key, |k| self.hash(k));
        let mut flights = shard.flights.lock();
        let Flights {
            pending, next_id, ..
        } = &mut *flights;
        let hash_table::Entry::Vacant(slot) = joinable(pending, hash, key) else {
            return None;
        };
        let id = *next_id;
        *next_id += 1;
        // The key's `Clone` may panic: before the value is marked, so that nothing is left
        // marked with no rebuild registered.
        let key = key.to_key();
        let until = now.saturating_add(self.refresh_after.unwrap_or(0));
        let mark = if alone {
            Some(shard.table.extras.refreshing(hash, until))
        } else {
            None
        };
        slot.insert(Pending::new(hash, key, id, caller, mark));
        Some(id)
    }

    /// The shard's invalidation count, taken before an own attempt.
    fn epoch(&self, hash: u64) -> u64 {
        let shard = self.shard(hash).lock.read();
        shard.flights.lock().epoch
    }

    /// Stores an own attempt's value, unless the shard's keys were invalidated since `epoch`
    /// or the key has a live value by now. A flight of the key that started meanwhile is no
    /// reason to drop it: that flight may fail, and if it succeeds its value replaces this one.
    fn store_attempt<Q>(&self, hash: u64, key: &Q, value: &V, epoch: u64)
    where
        Q: ?Sized + Lookup<K>,
    {
        // Copied before the lock is taken, which a `Clone` that panics then never holds, and
        // dropped after it if it is not stored (see `Incoming`).
        let value = Kept::new(value.clone());
        let mut pending = Incoming(Some((key.to_key(), value.into_inner())));
        let own_life = match &pending.0 {
            Some((key, value)) => self.own_life(key, value),
            None => None,
        };
        let after = {
            let mut shard = self.shard(hash).lock.write();
            let Locked { table, flights } = &mut *shard;
            if flights.get_mut().epoch != epoch || table.contains(hash, key, self.now()) {
                return;
            }
            self.store(table, hash, &mut pending.0, own_life)
        };
        self.after_store(after);
    }

    /// Ends a caller's own attempt, not made as a flight (after its flight failed, or while this
    /// thread's thread-locals are being destroyed, when a flight could not tell re-entry from
    /// waiting): stores its value unless the shard's keys were invalidated since `epoch`.
    #[inline(never)]
    pub(crate) fn attempted<Q, E, F>(
        &self,
        hash: u64,
        key: &Q,
        epoch: u64,
        result: Result<V, E>,
    ) -> Result<V, F::Err>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
    {
        let value = match result {
            Ok(value) => value,
            Err(error) => return self.stale_or(hash, key, F::fail(error).0),
        };
        // The copy stored may be dropped here (see `landed`).
        let value = Kept::new(value);
        self.store_attempt(hash, key, value.get(), epoch);
        Ok(value.into_inner())
    }

    /// A memoizing call, sync. `F` says what happens to errors.
    ///
    /// Recursive memoized functions recurse through here, so this is inlined into its caller
    /// and keeps only a ticket on the stack while the constructor runs: the lookup before it
    /// and the landing after it run out of line, in frames that are gone by then. (The
    /// shared engine's typed face, `erased.rs`, is the same call over its own steps.)
    #[inline(always)]
    fn memoize<Q, E, F>(&self, key: &Q, init: impl FnOnce() -> Result<V, E>) -> Result<V, F::Err>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
    {
        let hash = self.hash(key);
        match self.look_up::<Q, E, F, Cloned>(hash, key, &mut Cloned) {
            Step::Done(result) => result,
            Step::Lead(id) => {
                // A panic in `init` lands the flight as panicked from the ticket's `Drop`.
                let ticket = Ticket::new(self, hash, id);
                ticket.land_with::<Q, E, F>(key, init(), false)
            }
            Step::Refresh(id) => self.rebuild::<Q, E, F>(hash, key, id, init),
            Step::Attempt(epoch) => self.attempted::<Q, E, F>(hash, key, epoch, init()),
        }
    }

    /// Runs `init` to rebuild `key`'s value as the leader of flight `id`: out of line, so that
    /// the caller's frame, which recursive memoized functions stack, holds one ticket only.
    #[inline(never)]
    fn rebuild<Q, E, F>(
        &self,
        hash: u64,
        key: &Q,
        id: u64,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, F::Err>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
    {
        let ticket = Ticket::new(self, hash, id);
        ticket.land_with::<Q, E, F>(key, init(), true)
    }

    /// A sync memoizing call up to its constructor: the value, or what to do to make it. A
    /// flight to wait for is waited for here.
    #[inline(never)]
    pub(crate) fn look_up<Q, E, F, X>(
        &self,
        hash: u64,
        key: &Q,
        found: &mut X,
    ) -> Step<Result<X::Out, F::Err>>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
        X: Hit<V>,
    {
        let mut role = self.find_or_join(hash, key, false, true, found);
        let mut waited = false;
        loop {
            let flight = match role {
                Role::Hit(value) => return Step::Done(Ok(value)),
                Role::Lead(id) => return Step::Lead(id),
                Role::Refresh(id) => return Step::Refresh(id),
                Role::Attempt(epoch) => return Step::Attempt(epoch),
                Role::Reentry => flight::reentry(),
                Role::Wait(flight) => flight,
            };
            // Counted in `coalesced` once per call, as its wait begins: not if the flight turns
            // out to be one it cannot wait for (its own, re-entered), which panics instead.
            let first = !std::mem::replace(&mut waited, true);
            // Held so that, if this waiter's `Clone` of the value panics, the flight's own
            // copy, which it may be the last to hold, is dropped on its own.
            let flight = Kept::new(flight);
            let outcome = flight.get().wait(first.then_some(&self.counters));
            match after_wait::<V, E, F>(let_go(flight.into_inner(), outcome)) {
                Next::Return(Ok(value)) => return Step::Done(Ok(X::own(value))),
                Next::Return(Err(error)) => {
                    return Step::Done(self.stale_or(hash, key, error).map(X::own));
                }
                Next::Attempt => return Step::Attempt(self.epoch(hash)),
                Next::Retry => role = self.find_or_join(hash, key, false, false, found),
            }
        }
    }

    /// A memoizing call, async: as [`memoize`](Self::memoize), awaiting instead of blocking.
    ///
    /// `F::Err` is named `R` so that no type in the future is a projection on `F`: proving
    /// such a future `Send` would mean selecting `F`'s impl for every lifetime, and `Shared`'s
    /// asks `E: 'static`, which fails for an error type holding a `dyn Trait`
    /// (rust-lang/rust#130113).
    async fn memoize_async<Q, E, R, F>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, R>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E, Err = R>,
    {
        let hash = self.hash(key);
        let mut init = pin!(init);
        let mut role = self.find_or_join(hash, key, true, true, &mut Cloned);
        let mut waited = false;
        loop {
            let flight = match role {
                Role::Hit(value) => return Ok(value),
                Role::Lead(id) => {
                    let (ticket, result) = self.lead_async(hash, id, init.as_mut()).await;
                    return ticket.land_with::<Q, E, F>(key, result, false);
                }
                Role::Refresh(id) => {
                    let (ticket, result) = self.lead_async(hash, id, init.as_mut()).await;
                    return ticket.land_with::<Q, E, F>(key, result, true);
                }
                Role::Attempt(epoch) => {
                    return self.attempted::<Q, E, F>(hash, key, epoch, init.await);
                }
                Role::Reentry => flight::reentry(),
                Role::Wait(flight) => flight,
            };
            // As in `look_up`.
            let first = !std::mem::replace(&mut waited, true);
            let flight = Kept::new(flight);
            let outcome = flight
                .get()
                .wait_async(first.then_some(&self.counters))
                .await;
            match after_wait::<V, E, F>(let_go(flight.into_inner(), outcome)) {
                Next::Return(Ok(value)) => return Ok(value),
                Next::Return(Err(error)) => return self.stale_or(hash, key, error),
                Next::Attempt => {
                    let epoch = self.epoch(hash);
                    return self.attempted::<Q, E, F>(hash, key, epoch, init.await);
                }
                Next::Retry => role = self.find_or_join(hash, key, true, false, &mut Cloned),
            }
        }
    }

    /// Runs an async constructor as the leader of flight `id`; its result, and the ticket
    /// that is to land the flight with it (which lands it abandoned if this future is dropped).
    async fn lead_async<E>(
        &self,
        hash: u64,
        id: u64,
        mut init: Pin<&mut impl Future<Output = Result<V, E>>>,
    ) -> (AsyncTicket<'_, K, V, S>, Result<V, E>) {
        let ticket = AsyncTicket {
            ticket: Some(Ticket::new(self, hash, id)),
            panicked: AtomicBool::new(false),
        };
        let polling = AtomicUsize::new(thread_token().unwrap_or(0));
        let poll = |cx: &mut Context<'_>| {
            let leader = ticket.ticket.as_ref().expect("not landed yet");
            leader.polled_on(&polling, thread_token());
            let flight = leader.flight_id();
            let _leading = flight::mark(flight, &ticket.panicked, cx.waker());
            init.as_mut().poll(cx)
        };
        let result = poll_fn(poll).await;
        (ticket, result)
    }
}

impl<K, V> Flights<K, V> {
    /// Takes flight `id` of a key whose hash is `hash` out of the pending table.
    #[inline]
    fn unregister(&mut self, hash: u64, id: u64) -> Option<Pending<K, V>> {
        let found = self.pending.find_entry(hash, |p| p.id == id);
        Some(found.ok()?.remove().0)
    }

    /// At the end of a sweep of the shard: gives back the room a burst of flights took, once
    /// none is in progress, as the sweep does for the entries (`Table::shrink`). Not while
    /// some are: their table would have to be rehashed, which would compile hashbrown's
    /// resizing again for every key and value type; and not as the last flight lands, which
    /// would cost every miss.
    pub(crate) fn give_back(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > 8 * SMALL_PENDING {
            self.pending = HashTable::new();
        }
    }
}

impl<K, V, S> Inner<K, V, S> {
    /// Lands flight `id`, whose constructor did not finish: it panicked, or its future was
    /// dropped.
    #[cold]
    #[inline(never)]
    fn land_unfinished(&self, hash: u64, id: u64) {
        let outcome = match std::thread::panicking() {
            true => Outcome::Panicked,
            false => Outcome::Abandoned,
        };
        self.land(hash, id, outcome);
    }

    /// Unregisters flight `id` and lands it with `outcome`, if anyone waits for it.
    fn land(&self, hash: u64, id: u64, outcome: Outcome<V>) {
        let pending = {
            let shard = self.shard(hash).lock.read();
            let pending = shard.flights.lock().unregister(hash, id);
            if let Some(Pending {
                refresh_mark: Some(mark),
                ..
            }) = pending
            {
                shard.table.extras.refresh_over(hash, mark);
            }
            pending
        };
        let Some(Pending {
            key,
            flight,
            started,
            ..
        }) = pending
        else {
            return;
        };
        let how = match outcome {
            Outcome::Panicked => "panic",
            Outcome::Abandoned => "abandoned",
            Outcome::Value(_) | Outcome::Error(_) | Outcome::Failed => "error",
        };
        if let Some(flight) = flight {
            flight.land(outcome);
        }
        trace::failed(self.name, started, how);
        // This runs as a constructor's panic unwinds, from its ticket.
        drop_unwinding(key);
    }
}

impl<'a, K, V, S> Ticket<'a, K, V, S> {
    pub(crate) fn new(inner: &'a Inner<K, V, S>, hash: u64, id: u64) -> Self {
        Ticket { inner, hash, id }
    }

    /// The hash of the flight's key.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// The flight's name while its constructor runs (see `flight::mark`).
    fn flight_id(&self) -> FlightId {
        (self.inner.flights_id(self.hash), self.id)
    }

    /// Hands the duty to land the flight to the caller: the ticket's `Drop` will not run.
    fn take(self) -> (&'a Inner<K, V, S>, u64, u64) {
        let ticket = ManuallyDrop::new(self);
        (ticket.inner, ticket.hash, ticket.id)
    }

    /// Notes the thread that polls an async constructor now, if another than before (in
    /// `polling`): a sync caller on the thread that polls it must not wait for it (see
    /// `Flight::wait`).
    fn polled_on(&self, polling: &AtomicUsize, thread: Option<usize>) {
        let thread = thread.unwrap_or(0);
        if polling.swap(thread, Relaxed) == thread {
            return;
        }
        let shard = self.inner.shard(self.hash).lock.read();
        let mut flights = shard.flights.lock();
        let pending = (flights.pending).find_mut(self.hash, |p| p.id == self.id);
        if let Some(p) = pending {
            p.async_leader = Some(thread).filter(|&t| t != 0);
            if let Some(flight) = &p.flight {
                flight.polled_on(p.async_leader);
            }
        }
    }
}

impl<K, V, S> Ticket<'_, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
    V: Clone,
{
    /// Lands the flight with its constructor's result, returned to the leader's caller (see
    /// [`Inner::landed`]; `refresh`: it rebuilds a value found due for a refresh).
    #[inline(always)]
    pub(crate) fn land_with<Q, E, F>(
        self,
        key: &Q,
        result: Result<V, E>,
        refresh: bool,
    ) -> Result<V, F::Err>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
    {
        let (inner, hash, id) = self.take();
        inner.landed::<Q, E, F>(hash, id, refresh, key, result)
    }
}

impl<K, V, S> AsyncTicket<'_, K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
    V: Clone,
{
    /// As [`Ticket::land_with`].
    fn land_with<Q, E, F>(
        mut self,
        key: &Q,
        result: Result<V, E>,
        refresh: bool,
    ) -> Result<V, F::Err>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
    {
        let ticket = self.ticket.take().expect("landed once");
        ticket.land_with::<Q, E, F>(key, result, refresh)
    }
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
    V: Clone,
{
    /// Lands flight `id` with its constructor's result, returned to the leader's caller. A
    /// failure returns instead, if there is one: for a `refresh`, the value it was to replace
    /// (counted either way); else a stale value of `key` that `stale_if_error` allows. No
    /// user code runs before the flight is unregistered: its ticket is given up already.
    #[inline(never)]
    fn landed<Q, E, F>(
        &self,
        hash: u64,
        id: u64,
        refresh: bool,
        key: &Q,
        result: Result<V, E>,
    ) -> Result<V, F::Err>
    where
        Q: ?Sized + Lookup<K>,
        F: ErrorForm<E>,
    {
        match result {
            Ok(value) => {
                // The map's and the flight's copies of the value may be dropped while it lands,
                // and a `Drop` may panic: the caller's copy is then dropped on its own.
                let value = Kept::new(value);
                self.complete(hash, id, key, value.get());
                // Counted once it is stored: a store that panics (in `expire_after` or a key's
                // `Hash`) keeps the old value and panics here, as a panicking refresh does.
                if refresh {
                    self.counters.refreshed(true);
                }
                Ok(value.into_inner())
            }
            Err(error) => {
                if refresh {
                    self.counters.refreshed(false);
                }
                let (error, shared) = F::fail(error);
                self.land(hash, id, shared.map_or(Outcome::Failed, Outcome::Error));
                let kept = match refresh {
                    true => self.get(hash, key, Count::Nothing),
                    false => None,
                };
                match kept {
                    Some(kept) => Ok(kept),
                    None => self.stale_or(hash, key, error),
                }
            }
        }
    }

    /// Lands flight `id` of `key` with the value: stored unless invalidated, handed to every
    /// waiter. Only callers that found the flight registered can join it, so once it is
    /// unregistered its waiters are all known.
    fn complete<Q>(&self, hash: u64, id: u64, key: &Q, value: &V)
    where
        Q: ?Sized + Lookup<K>,
    {
        // The map's copy is made before the lock is taken, as a value's `Clone` may use the
        // map; if it panics, a ticket lands the flight as panicked (its `Drop` judges by
        // `thread::panicking`). The entry waits in `pending`, declared before the lock guard:
        // if it is not stored (the flight was invalidated, or the store's user code panicked),
        // it is dropped after the lock, as a `Drop` may use the map; and if the store panicked,
        // the flight, taken out of the pending table, still lands with the value (its guard).
        let ticket = Ticket::new(self, hash, id);
        let copy = value.clone();
        let _ = ticket.take();
        // The value's own life is asked before the lock too, as `expire_after` may use the
        // map. If it panics, the value is not stored, but the flight lands with it all the
        // same, and the panic goes on after that.
        let mut own_life = None;
        let mut life_panicked = None;
        if self.declares_lives() {
            life_panicked = catch(&mut || own_life = self.own_life(&key.to_key(), &copy));
        }
        let mut landing = Landing {
            flight: None,
            value,
        };
        let mut started = None;
        let mut pending = Incoming(None);
        let after = {
            let mut shard = self.shard(hash).lock.write();
            let Locked { table, flights } = &mut *shard;
            match flights.get_mut().unregister(hash, id) {
                Some(p) => {
                    landing.flight = p.flight;
                    started = Some(p.started);
                    pending.0 = Some((p.key, copy));
                    if let Some(mark) = p.refresh_mark {
                        // Due again, unless the store below records the new value's time:
                        // it may be invalidated, or panic.
                        table.extras.refresh_over(hash, mark);
                    }
                    if p.invalidated || life_panicked.is_some() {
                        None
                    } else {
                        Some(self.store(table, hash, &mut pending.0, own_life))
                    }
                }
                None => None,
            }
        };
        drop(pending);
        // From here, a panic in user code (the waiters' `Clone`, the flight's `Drop`) keeps
        // nothing from being done: the entries the store removed are still heard and
        // dropped, and the first panic goes on after that.
        let landed = landing.land();
        let panicked = life_panicked.or(landed);
        if let Some(started) = started {
            trace::constructed(self.name, started);
        }
        if let Some(after) = after {
            self.after_store(after);
        }
        resume(panicked);
    }
}

/// The flight of `key` that a caller may join, or the slot for a new one. Leading and
/// refreshing share it, so that each key type compiles the pending table's probe once.
fn joinable<'a, K, V, Q>(
    pending: &'a mut HashTable<Pending<K, V>>,
    hash: u64,
    key: &Q,
) -> hash_table::Entry<'a, Pending<K, V>>
where
    Q: ?Sized + Lookup<K>,
{
    pending.entry(
        hash,
        |p| !p.invalidated && key.equivalent(&p.key),
        |p| p.hash,
    )
}

/// A flight taken out of the pending table, and the value it lands with. Dropped before it
/// lands (user code panicked while the value was stored), it still lands, so that its
/// waiters get the value.
struct Landing<'a, V: Clone> {
    flight: Option<Arc<Flight<V>>>,
    value: &'a V,
}

impl<V: Clone> Landing<'_, V> {
    /// Hands each waiter a clone of the value (or `Panicked`, if `Clone` panics: that panic
    /// is returned to resume). Most flights have no waiter: that costs one test.
    #[inline]
    fn land(&mut self) -> Option<Panic> {
        let flight = self.flight.take()?;
        self.land_waiters(flight)
    }

    #[cold]
    #[inline(never)]
    fn land_waiters(&self, flight: Arc<Flight<V>>) -> Option<Panic> {
        let mut outcome = Outcome::Panicked;
        let panicked = catch(&mut || outcome = Outcome::Value(self.value.clone()));
        flight.land(outcome);
        // The last to let go of the flight drops its copy of the value.
        panicked.or(drop_guarded(flight))
    }
}

impl<V: Clone> Drop for Landing<'_, V> {
    fn drop(&mut self) {
        let _ = self.land();
    }
}

impl<K, V, S> Drop for Ticket<'_, K, V, S> {
    /// Inlined, so that a ticket's fields can stay in registers while its constructor runs.
    #[inline]
    fn drop(&mut self) {
        self.inner.land_unfinished(self.hash, self.id);
    }
}

impl<K, V, S> Drop for AsyncTicket<'_, K, V, S> {
    /// Judged by `panicked` alone: a future dropped while its thread unwinds from a panic
    /// elsewhere did not panic itself, and its waiters start over with one leading.
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let outcome = match self.panicked.load(Relaxed) {
                true => Outcome::Panicked,
                false => Outcome::Abandoned,
            };
            let (inner, hash, id) = ticket.take();
            inner.land(hash, id, outcome);
        }
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
    /// instead of running their own, and get it from the flight even if the entry is evicted
    /// or expires before they wake. No lock is held while it runs, so constructors of
    /// different keys run in parallel and `init` may use this map for other keys. If `init`
    /// panics, each waiter runs its own constructor at once. If `key` is inserted, removed,
    /// cleared or dropped by `retain` while `init` runs, its value is returned but not stored.
    ///
    /// # Panics
    ///
    /// If `init` asks this map for `key` itself, which could only wait forever; if this call
    /// would wait for a sync constructor on another thread that waits, directly or through
    /// other keys or maps, for a key a constructor on this thread is building (a cycle, which
    /// could only wait forever too); and if this call would wait for an async constructor of
    /// `key` that this same thread polls. If `init` panics, the panic goes on in this call
    /// (nothing is stored, and its waiters make their own attempts).
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
        let init = || Ok::<_, Infallible>(init());
        match self.inner.memoize::<Q, Infallible, Own>(key, init) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for a constructor that can fail:
    /// an error is returned to this caller and not stored. The callers that were waiting for
    /// it each make their own attempt at once (no caller waits for more than two constructor
    /// runs). To hand them the leader's error instead, use
    /// [`try_get_or_insert_with_shared`](Self::try_get_or_insert_with_shared).
    ///
    /// # Errors
    ///
    /// The error of `init`, when this call ran it: as the leader of the flight, or in its own
    /// attempt after the constructor it waited for failed. Nothing is stored, and the next
    /// call runs its constructor again.
    /// When the map has a last value to stand in (a failed [`refresh_after`] rebuild keeps the
    /// current value, [`stale_if_error`] serves one that expired within its window), that value
    /// is returned instead of the error.
    ///
    /// [`refresh_after`]: crate::Builder::refresh_after
    /// [`stale_if_error`]: crate::Builder::stale_if_error
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with) does.
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
        self.inner.memoize::<Q, E, Own>(key, init)
    }

    /// Like [`try_get_or_insert_with`](Self::try_get_or_insert_with), but a failed
    /// constructor's error goes to every caller that waited for it, as an `Arc` (moka's
    /// `try_get_with`): when a backend is down, N callers of one key wait for one timeout,
    /// not N.
    ///
    /// # Errors
    ///
    /// The error of the constructor of the flight this call led or waited for, shared as an
    /// `Arc` with every caller of that flight. Nothing is stored.
    /// When the map has a last value to stand in (a failed [`refresh_after`] rebuild keeps the
    /// current value, [`stale_if_error`] serves one that expired within its window), that value
    /// is returned instead of the error.
    ///
    /// [`refresh_after`]: crate::Builder::refresh_after
    /// [`stale_if_error`]: crate::Builder::stale_if_error
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with) does.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u32> = TtlMap::new(Duration::from_secs(60));
    /// let failed: Result<u32, Arc<std::num::ParseIntError>> =
    ///     map.try_get_or_insert_with_shared("k", || "nope".parse::<u32>());
    /// assert!(failed.is_err());
    /// assert_eq!(map.try_get_or_insert_with_shared("k", || "7".parse::<u32>()), Ok(7));
    /// ```
    pub fn try_get_or_insert_with_shared<Q, E>(
        &self,
        key: &Q,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, Arc<E>>
    where
        Q: ?Sized + Lookup<K>,
        E: Send + Sync + 'static,
    {
        self.inner.memoize::<Q, E, Shared>(key, init)
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) for a constructor that may find
    /// nothing: a `None` is returned, not stored, and the callers that waited for it get `None`
    /// too, from the one run.
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with) does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u16> = TtlMap::new(Duration::from_secs(60));
    /// assert_eq!(map.optionally_get_or_insert_with("http", || "http".parse().ok()), None);
    /// assert_eq!(map.optionally_get_or_insert_with("8080", || "8080".parse().ok()), Some(8080));
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn optionally_get_or_insert_with<Q>(
        &self,
        key: &Q,
        init: impl FnOnce() -> Option<V>,
    ) -> Option<V>
    where
        Q: ?Sized + Lookup<K>,
    {
        let init = || init().ok_or(Declined);
        self.inner.memoize::<Q, Declined, Shared>(key, init).ok()
    }

    /// The async form of [`optionally_get_or_insert_with`](Self::optionally_get_or_insert_with).
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
    ///
    /// ```
    /// # block_on(async {
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u16> = TtlMap::new(Duration::from_secs(60));
    /// let port = map.optionally_get_or_insert_with_async("k", async { "x".parse().ok() }).await;
    /// assert_eq!(port, None);
    /// # });
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// ```
    pub async fn optionally_get_or_insert_with_async<Q>(
        &self,
        key: &Q,
        init: impl Future<Output = Option<V>>,
    ) -> Option<V>
    where
        Q: ?Sized + Lookup<K> + Sync,
    {
        let init = async { init.await.ok_or(Declined) };
        let found = self
            .inner
            .memoize_async::<Q, Declined, Arc<Declined>, Shared>(key, init)
            .await;
        found.ok()
    }

    /// The async form of [`get_or_insert_with`](Self::get_or_insert_with): `init` is awaited
    /// only if this caller leads; waiters await without blocking their executor thread. The
    /// future is `Send` when `init` is.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
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
        match self
            .inner
            .memoize_async::<Q, Infallible, Infallible, Own>(key, init)
            .await
        {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The async form of [`try_get_or_insert_with`](Self::try_get_or_insert_with).
    ///
    /// # Errors
    ///
    /// The error of `init`, when this call awaited it (see
    /// [`try_get_or_insert_with`](Self::try_get_or_insert_with)); nothing is stored.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
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
        self.inner.memoize_async::<Q, E, E, Own>(key, init).await
    }

    /// The async form of [`try_get_or_insert_with_shared`](Self::try_get_or_insert_with_shared).
    ///
    /// # Errors
    ///
    /// The error of the constructor of the flight this call led or waited for, as an `Arc`
    /// shared with every caller of that flight; nothing is stored.
    ///
    /// # Panics
    ///
    /// If `init` awaits this map's `key` itself from its own task, which could only wait
    /// forever; a panic of `init` goes on in this call.
    ///
    /// ```
    /// # block_on(async {
    /// use std::time::Duration;
    /// use cache_core::TtlMap;
    ///
    /// let map: TtlMap<String, u16> = TtlMap::new(Duration::from_secs(60));
    /// let port = map.try_get_or_insert_with_shared_async("k", async { "8080".parse::<u16>() }).await;
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
    pub async fn try_get_or_insert_with_shared_async<Q, E>(
        &self,
        key: &Q,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, Arc<E>>
    where
        Q: ?Sized + Lookup<K> + Sync,
        E: Send + Sync + 'static,
    {
        self.inner
            .memoize_async::<Q, E, Arc<E>, Shared>(key, init)
            .await
    }
}
