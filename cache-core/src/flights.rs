//! A shard's flights in progress: the keys whose constructors are running (`memo.rs` says
//! who leads, joins and lands them).
//!
//! Like a table (`raw.rs`), the registry is not generic: what it knows of a flight is its
//! key's hash, its number and its leaders, and it keeps the key and the rendezvous (the only
//! typed parts) in slots beside it, at positions it gives out. So its code is compiled once,
//! not once per key and value type.

#![allow(
    clippy::question_mark,
    clippy::manual_map,
    reason = "`?` and `Option::map` are a function each per key and value type in debug builds"
)]

use std::sync::Arc;

use hashbrown::HashTable;

use crate::flight::{Flight, FlightId};
use crate::key::Equivalent;
use crate::trace;

/// A flight as the registry knows it.
struct Registered {
    hash: u64,
    /// This flight's number in its shard.
    id: u64,
    /// Where its key and rendezvous are kept.
    pos: usize,
    /// A later `insert`, `remove`, `clear` or `retain` of the key: the flight must not store its
    /// value, and callers that miss from now on start a new flight instead of joining it.
    invalidated: bool,
    /// The thread that leads it (`thread_token`), if its constructor is sync: while the flight
    /// is registered the constructor is on that thread's stack, so a caller from that thread
    /// is the constructor asking for its own key.
    sync_leader: Option<usize>,
    /// The thread that leads it, if its constructor is async.
    async_leader: Option<usize>,
    /// For the construction's duration in its event (nothing without the feature `tracing`).
    started: trace::Started,
}

/// The typed part of a flight.
struct Slot<K, V> {
    key: K,
    /// The rendezvous, made when the first waiter joins: a flight nobody waits for costs no
    /// allocation.
    flight: Option<Arc<Flight<V>>>,
}

/// A flight taken out of the registry.
pub(crate) struct Pending<K, V> {
    pub(crate) key: K,
    pub(crate) flight: Option<Arc<Flight<V>>>,
    pub(crate) invalidated: bool,
    pub(crate) started: trace::Started,
}

/// A shard's flights in progress, and a count of the invalidations of its keys.
pub(crate) struct Flights<K, V> {
    registry: Registry,
    slots: Vec<Option<Slot<K, V>>>,
}

/// Where a joinable flight is (see [`Flights::joinable`]).
#[derive(Clone, Copy)]
pub(crate) struct Joinable(usize);

/// Everything about a shard's flights but their keys and rendezvous.
struct Registry {
    pending: HashTable<Registered>,
    /// Positions given back, reused before new ones.
    free: Vec<usize>,
    /// Invalidations of the shard's keys so far.
    epoch: u64,
    next_id: u64,
}

impl Registry {
    /// The position of the flight that a caller who misses the key `is_key` accepts may join.
    fn joinable(&self, hash: u64, is_key: &mut dyn FnMut(usize) -> bool) -> Option<usize> {
        let found = self
            .pending
            .find(hash, |r| r.hash == hash && !r.invalidated && is_key(r.pos));
        found.map(|r| r.pos)
    }

    fn at(&self, hash: u64, pos: usize) -> Option<&Registered> {
        self.pending.find(hash, |r| r.pos == pos)
    }

    /// The thread leading the sync constructor of the flight at `pos`, if any.
    fn sync_leader(&self, hash: u64, pos: usize) -> Option<usize> {
        self.at(hash, pos).and_then(|r| r.sync_leader)
    }

    /// The name and the async leader of the flight at `pos`, to make its rendezvous.
    fn rendezvous(&self, hash: u64, pos: usize, shard: usize) -> Option<(FlightId, Option<usize>)> {
        self.at(hash, pos).map(|r| ((shard, r.id), r.async_leader))
    }

    /// Notes that flight `id`'s async constructor is polled on `thread` now (0: unknown);
    /// returns its position and that leader.
    fn polled_on(&mut self, hash: u64, id: u64, thread: usize) -> Option<(usize, Option<usize>)> {
        let r = self.pending.find_mut(hash, |r| r.id == id)?;
        r.async_leader = Some(thread).filter(|&t| t != 0);
        Some((r.pos, r.async_leader))
    }

    /// Registers a flight of `hash` led as `leaders` say (sync, async), at the position
    /// returned, with its number.
    fn register(
        &mut self,
        hash: u64,
        leaders: (Option<usize>, Option<usize>),
        len: usize,
    ) -> (usize, u64) {
        let id = self.next_id;
        self.next_id += 1;
        let pos = self.free.pop().unwrap_or(len);
        let (sync_leader, async_leader) = leaders;
        let registered = Registered {
            hash,
            id,
            pos,
            invalidated: false,
            sync_leader,
            async_leader,
            started: trace::started(),
        };
        self.pending.insert_unique(hash, registered, |r| r.hash);
        (pos, id)
    }

    fn unregister(&mut self, hash: u64, id: u64) -> Option<Registered> {
        let found = self.pending.find_entry(hash, |r| r.id == id).ok()?;
        let (registered, _) = found.remove();
        self.free.push(registered.pos);
        Some(registered)
    }

    fn invalidate(&mut self, hash: u64, is_key: &mut dyn FnMut(usize) -> bool) {
        self.epoch += 1;
        for r in self.pending.iter_hash_mut(hash) {
            if r.hash == hash && is_key(r.pos) {
                r.invalidated = true;
            }
        }
    }

    fn invalidate_all(&mut self) {
        self.epoch += 1;
        self.pending.iter_mut().for_each(|r| r.invalidated = true);
    }
}

impl<K, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Flights {
            registry: Registry {
                pending: HashTable::new(),
                free: Vec::new(),
                epoch: 0,
                next_id: 0,
            },
            slots: Vec::new(),
        }
    }

    /// The count of invalidations of the shard's keys.
    pub(crate) fn epoch(&self) -> u64 {
        self.registry.epoch
    }

    /// The flight of `key` that a caller who misses may join: not one invalidated since it
    /// began.
    pub(crate) fn joinable<Q>(&self, hash: u64, key: &Q) -> Option<Joinable>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let slots = &self.slots;
        match self
            .registry
            .joinable(hash, &mut |pos| holds(slots, pos, key))
        {
            Some(pos) => Some(Joinable(pos)),
            None => None,
        }
    }

    /// The thread leading a joinable flight's sync constructor, if any.
    pub(crate) fn sync_leader(&self, hash: u64, Joinable(pos): Joinable) -> Option<usize> {
        self.registry.sync_leader(hash, pos)
    }

    /// The rendezvous of a joinable flight, made now if nobody waited for it yet; `shard`
    /// names the shard's flights (see `FlightId`).
    pub(crate) fn rendezvous(
        &mut self,
        hash: u64,
        Joinable(pos): Joinable,
        shard: usize,
    ) -> Option<Arc<Flight<V>>> {
        let (Some((id, async_leader)), Some(Some(slot))) = (
            self.registry.rendezvous(hash, pos, shard),
            self.slots.get_mut(pos),
        ) else {
            return None;
        };
        if slot.flight.is_none() {
            slot.flight = Some(Arc::new(Flight::new(id, async_leader)));
        }
        match &slot.flight {
            Some(flight) => Some(Arc::clone(flight)),
            None => None,
        }
    }

    /// Registers a flight of `key` led as `leaders` say (sync, async); returns its number.
    pub(crate) fn register(
        &mut self,
        hash: u64,
        key: K,
        leaders: (Option<usize>, Option<usize>),
    ) -> u64 {
        let (pos, id) = self.registry.register(hash, leaders, self.slots.len());
        let slot = Some(Slot { key, flight: None });
        match self.slots.get_mut(pos) {
            Some(free) => *free = slot,
            None => self.slots.push(slot),
        }
        id
    }

    /// Takes flight `id` of a key whose hash is `hash` out of the registry.
    pub(crate) fn unregister(&mut self, hash: u64, id: u64) -> Option<Pending<K, V>> {
        let Some(registered) = self.registry.unregister(hash, id) else {
            return None;
        };
        let Some(slot) = self.slots.get_mut(registered.pos) else {
            return None;
        };
        let Some(Slot { key, flight }) = slot.take() else {
            return None;
        };
        Some(Pending {
            key,
            flight,
            invalidated: registered.invalidated,
            started: registered.started,
        })
    }

    /// Notes that flight `id`'s async constructor is polled on `thread` now (0: unknown).
    pub(crate) fn polled_on(&mut self, hash: u64, id: u64, thread: usize) {
        if let Some((pos, leader)) = self.registry.polled_on(hash, id, thread)
            && let Some(Some(Slot {
                flight: Some(flight),
                ..
            })) = self.slots.get(pos)
        {
            flight.polled_on(leader);
        }
    }

    /// `key` was stored or removed: its flight, if any, must not store its value.
    pub(crate) fn invalidate<Q>(&mut self, hash: u64, key: &Q)
    where
        Q: ?Sized + Equivalent<K>,
    {
        let slots = &self.slots;
        self.registry
            .invalidate(hash, &mut |pos| holds(slots, pos, key));
    }

    /// Every key was removed.
    pub(crate) fn invalidate_all(&mut self) {
        self.registry.invalidate_all();
    }
}

/// Whether the slot at `pos` holds `key`.
fn holds<K, V, Q>(slots: &[Option<Slot<K, V>>], pos: usize, key: &Q) -> bool
where
    Q: ?Sized + Equivalent<K>,
{
    match slots.get(pos) {
        Some(Some(slot)) => key.equivalent(&slot.key),
        _ => false,
    }
}
