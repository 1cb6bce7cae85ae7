//! One shard's entries: single-threaded logic that knows nothing of locks.
//!
//! Only the keys and values are here, in slots at the positions `raw.rs` gives out: the rest
//! of a table (its index, deadlines, sweeping and eviction) is not generic, and this file is
//! the thin part that each key and value type compiles anew. See `raw.rs` for how deadlines
//! and expiry work.

#![allow(
    clippy::question_mark,
    clippy::manual_map,
    reason = "`?` and `Option::map` are a function each per key and value type in debug builds"
)]

use crate::Reason;
use crate::key::Equivalent;
use crate::raw::{Deadlines, Lifespan, Policy, Pos, Raw};

/// An entry taken out of a table, handed to listeners once the lock is released.
pub(crate) type Removal<K, V> = (K, V, Reason);

/// What a store took out: the entry it replaced (and whether that had expired), and the
/// entry it evicted for the capacity.
pub(crate) struct Stored<K, V> {
    pub(crate) replaced: Option<(K, V, bool)>,
    pub(crate) evicted: Option<Removal<K, V>>,
}

pub(crate) struct Table<K, V> {
    raw: Raw,
    /// The key and value of the entry at each position `raw` gave out; `None` at the free
    /// positions.
    slots: Vec<Option<(K, V)>>,
}

// The generic code here is written with `match` and `let .. else` rather than `Option`'s
// combinators and `?`: in a debug build each combinator is a function of its own, compiled
// again for every key and value type (so is `flights.rs`).

impl<K, V> Table<K, V> {
    pub(crate) fn new(policy: Policy) -> Self {
        Self {
            raw: Raw::new(policy),
            slots: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// The position of `key`: runs its `Eq`.
    #[inline]
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<Pos>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let slots = &self.slots;
        self.raw.find(hash, &mut |pos| match slots.get(pos) {
            Some(Some((k, _))) => key.equivalent(k),
            _ => false,
        })
    }

    /// The value at `pos`, which `raw` says is held.
    #[inline]
    fn value(&self, pos: Pos) -> Option<&V> {
        match self.slots.get(pos) {
            Some(Some((_, v))) => Some(v),
            _ => None,
        }
    }

    /// Empties position `pos`, which `raw` gave back.
    fn take(&mut self, pos: Pos) -> Option<(K, V)> {
        match self.slots.get_mut(pos) {
            Some(slot) => slot.take(),
            None => None,
        }
    }

    /// The live value for `key`, sliding its deadline forward if due (see `Raw::hit`).
    #[inline]
    pub(crate) fn get<Q>(
        &self,
        hash: u64,
        key: &Q,
        now: u64,
        recheck: &dyn Fn() -> u64,
    ) -> Option<&V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let Some(pos) = self.find(hash, key) else {
            return None;
        };
        if !self.raw.hit(pos, hash, now, recheck) {
            return None;
        }
        self.value(pos)
    }

    /// Whether a memoizing call that finds the live entry of `hash` at `now` should rebuild it.
    pub(crate) fn refresh_due(&self, hash: u64, now: u64) -> bool {
        self.raw.refresh_due(hash, now)
    }

    /// Whether `key` is live, without counting as a hit.
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q, now: u64) -> bool
    where
        Q: ?Sized + Equivalent<K>,
    {
        match self.find(hash, key) {
            Some(pos) => self.raw.is_live(pos, now),
            None => false,
        }
    }

    /// The position of `key`, to store it (see [`store`](Self::store)): runs its `Eq`.
    pub(crate) fn position(&self, hash: u64, key: &K) -> Option<Pos>
    where
        K: Eq,
    {
        self.find(hash, key)
    }

    /// Stores `key -> value` for `life`, at `held` if the key is held already (its
    /// [`position`](Self::position), found under the same lock), returning the entry it
    /// replaced and whether that had expired, and the entry evicted to stay within `capacity`
    /// (at least 1), if any. Runs no user code.
    pub(crate) fn store(
        &mut self,
        hash: u64,
        held: Option<Pos>,
        key: K,
        value: V,
        life: Lifespan,
        capacity: usize,
    ) -> Stored<K, V> {
        let word = self.raw.stamp(hash, life, capacity, held);
        let mut stored = Stored {
            replaced: None,
            evicted: None,
        };
        if let Some(pos) = held {
            let expired = self.raw.restamp(pos, word, life.now);
            if let Some(slot) = self.slots.get_mut(pos)
                && let Some((k, v)) = slot.replace((key, value))
            {
                stored.replaced = Some((k, v, expired));
            }
            return stored;
        }
        if self.raw.is_full(capacity) {
            stored.evicted = self.evict_one(hash, life.now);
        }
        let pos = self.raw.insert(hash, word);
        match self.slots.get_mut(pos) {
            Some(slot) => *slot = Some((key, value)),
            None => self.slots.push(Some((key, value))),
        }
        stored
    }

    /// Removes `key`, returning its value and whether it had expired.
    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q, now: u64) -> Option<(K, V, bool)>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let slots = &self.slots;
        let is_key = &mut |pos| match slots.get(pos) {
            Some(Some((k, _))) => key.equivalent(k),
            _ => false,
        };
        let Some((pos, expired)) = self.raw.remove(hash, is_key, now) else {
            return None;
        };
        match self.take(pos) {
            Some((k, v)) => Some((k, v, expired)),
            None => None,
        }
    }

    /// Clones of the live entries.
    pub(crate) fn live(&self, now: u64) -> Vec<(K, V)>
    where
        K: Clone,
        V: Clone,
    {
        let mut live = Vec::new();
        for (pos, expired) in self.raw.held(now) {
            if !expired && let Some(Some((k, v))) = self.slots.get(pos) {
                live.push((k.clone(), v.clone()));
            }
        }
        live
    }

    /// Removes the expired entries and the live ones `keep` refuses.
    pub(crate) fn retain(
        &mut self,
        now: u64,
        keep: &mut impl FnMut(&K, &V) -> bool,
        removed: &mut Vec<Removal<K, V>>,
    ) {
        let Table { raw, slots } = self;
        raw.retain(now, &mut |pos, expired| {
            let Some(slot) = slots.get_mut(pos) else {
                return true;
            };
            let reason = match slot {
                Some((k, v)) if !expired && keep(k, v) => return false,
                Some(_) if expired => Reason::Expired,
                _ => Reason::Removed,
            };
            if let Some((k, v)) = slot.take() {
                removed.push((k, v, reason));
            }
            true
        });
    }

    pub(crate) fn drain_into(&mut self, removed: &mut Vec<Removal<K, V>>) {
        self.raw.clear();
        // Not `drain`, whose iterator and guard are much more code for each key and value type.
        for slot in &mut self.slots {
            if let Some((k, v)) = slot.take() {
                removed.push((k, v, Reason::Removed));
            }
        }
        self.slots.clear();
    }

    /// From when the write path must sweep this shard before storing more (`forecast.rs`).
    #[inline]
    pub(crate) fn due_at(&self) -> u64 {
        self.raw.due_at()
    }

    /// Whether a sweep could find anything: for the background sweeper, which looks first.
    pub(crate) fn may_hold_expired(&self, now: u64) -> bool {
        self.raw.may_hold_expired(now)
    }

    /// The value of `key` if it is live, or expired less than the stale window ago; and
    /// whether it has expired.
    pub(crate) fn get_stale<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<(&V, bool)>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let Some(pos) = self.find(hash, key) else {
            return None;
        };
        match (self.raw.stale(pos, now), self.value(pos)) {
            (Some(expired), Some(value)) => Some((value, expired)),
            _ => None,
        }
    }

    /// The number of sweeps finished; a sweep in progress ends when it goes up.
    pub(crate) fn sweeps_done(&self) -> u64 {
        self.raw.sweeps_done()
    }

    /// Takes the next step of the shard's sweep (see `Raw::sweep_step`), moving the expired
    /// entries it removes into `removed`.
    pub(crate) fn sweep_step(&mut self, now: u64, removed: &mut Vec<Removal<K, V>>) -> bool {
        let Table { raw, slots } = self;
        raw.sweep_step(now, &mut |pos| {
            if let Some(slot) = slots.get_mut(pos)
                && let Some((k, v)) = slot.take()
            {
                removed.push((k, v, Reason::Expired));
            }
        })
    }

    /// See `Raw::soonest`.
    pub(crate) fn soonest(&self) -> Deadlines {
        self.raw.soonest()
    }

    /// See `Raw::finish_sweep`.
    pub(crate) fn finish_sweep(&mut self, read: Deadlines, done: u64) {
        self.raw.finish_sweep(read, done);
    }

    /// Makes room for one entry, for the capacity (see `Raw::evict_one`).
    pub(crate) fn evict_one(&mut self, start: u64, now: u64) -> Option<Removal<K, V>> {
        let Some((pos, reason)) = self.raw.evict_one(start, now) else {
            return None;
        };
        match self.take(pos) {
            Some((k, v)) => Some((k, v, reason)),
            None => None,
        }
    }
}

#[cfg(test)]
impl<K, V> Table<K, V> {
    /// Entries held, and how many of them expired by `now`.
    pub(crate) fn counts(&self, now: u64) -> (usize, usize) {
        self.raw.counts(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(sliding: bool) -> Table<u32, u32> {
        Table::new(Policy {
            ttl: 64_000,
            step: 1_000,
            sliding,
            stale: 0,
        })
    }

    fn put(t: &mut Table<u32, u32>, k: u32, now: u64) {
        let life = Lifespan {
            now,
            limit: u64::MAX,
            refresh_at: u64::MAX,
        };
        let held = t.position(u64::from(k), &k);
        t.store(u64::from(k), held, k, k, life, usize::MAX);
    }

    #[test]
    fn entries_stored_in_one_tick_evict_oldest_first() {
        let mut t = table(false);
        for k in [7, 3, 9] {
            put(&mut t, k, 5);
        }
        assert_eq!(t.evict_one(0, 5).map(|r| r.0), Some(7));
        assert_eq!(t.evict_one(0, 5).map(|r| r.0), Some(3));
    }

    #[test]
    fn a_hit_within_the_tick_keeps_an_entry_from_eviction() {
        let mut t = table(true);
        put(&mut t, 1, 5);
        put(&mut t, 2, 5);
        assert_eq!(t.get(1, &1, 5, &|| 5), Some(&1));
        assert_eq!(t.evict_one(0, 5).map(|r| r.0), Some(2));
    }

    #[test]
    fn a_delayed_reader_does_not_revive_an_expired_entry() {
        let t = {
            let mut t = table(true);
            put(&mut t, 1, 0);
            t
        };
        // Judged live at t = 10,000 (a stale read), rechecked at 70,000: past the deadline.
        assert_eq!(t.get(1, &1, 10_000, &|| 70_000), Some(&1));
        assert!(!t.contains(1, &1, 70_000));
    }

    /// Stores `k` under `hash` (forced, to make keys collide), to live until `limit`.
    fn put_limited(t: &mut Table<u32, u32>, k: u32, hash: u64, limit: u64) {
        let life = Lifespan {
            now: 0,
            limit,
            refresh_at: u64::MAX,
        };
        let held = t.position(hash, &k);
        t.store(hash, held, k, k, life, usize::MAX);
    }

    /// Hits every 1,000 ns until `until`; the last time `k` was still live.
    fn last_live(t: &Table<u32, u32>, k: u32, hash: u64, until: u64) -> u64 {
        let mut last = 0;
        for now in (0..until).step_by(1_000) {
            if t.get(hash, &k, now, &|| now).is_some() {
                last = now;
            }
        }
        last
    }

    #[test]
    fn hits_slide_a_deadline_up_to_its_limit_only() {
        let mut t = table(true);
        put_limited(&mut t, 1, 1, 200_000);
        put(&mut t, 2, 0);
        assert!(last_live(&t, 1, 1, 400_000) < 200_000);
        assert!(
            last_live(&t, 2, 2, 400_000) >= 399_000,
            "no limit: hits keep it"
        );
    }

    #[test]
    fn keys_sharing_a_hash_share_the_earlier_limit() {
        let mut t = table(true);
        // 1 and 101 both hash to 1 here.
        put_limited(&mut t, 1, 1, 100_000);
        put_limited(&mut t, 101, 1, 300_000);
        put_limited(&mut t, 1, 1, 500_000); // restored while 101 is live: still the earlier
        assert!(last_live(&t, 101, 1, 600_000) < 100_000);
        assert!(last_live(&t, 1, 1, 600_000) < 100_000);
    }

    #[test]
    fn limits_of_entries_gone_are_forgotten() {
        let mut t = table(true);
        for k in 0..1_000 {
            put_limited(&mut t, k, u64::from(k), 1_000_000);
            let _ = t.remove(u64::from(k), &k, 0);
        }
        let (kept, held) = t.raw.extras_kept();
        assert!(kept <= 2 * held + 16, "{kept}");
        // A key stored again without a limit is not capped by its old one.
        put_limited(&mut t, 5, 5, 10_000);
        put(&mut t, 5, 0);
        assert!(last_live(&t, 5, 5, 200_000) >= 199_000);
    }
}
