//! One shard's entries: single-threaded logic that knows nothing of locks.
//!
//! Times are nanoseconds on the map's clock. An entry is live while `now < deadline`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hashbrown::HashTable;

use crate::Reason;
use crate::key::Equivalent;

/// The expiry rule, shared by every shard of a map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) ttl: u64,
    /// Sliding only: a hit moves the deadline when it would advance by at least this much, so
    /// that hits on a hot entry do not all write to it.
    pub(crate) step: u64,
    pub(crate) sliding: bool,
}

impl Policy {
    fn deadline(&self, now: u64) -> u64 {
        now.saturating_add(self.ttl)
    }
}

struct Entry<K, V> {
    key: K,
    value: V,
    deadline: AtomicU64,
}

impl<K, V> Entry<K, V> {
    fn deadline(&self) -> u64 {
        self.deadline.load(Relaxed)
    }

    fn is_expired(&self, now: u64) -> bool {
        now >= self.deadline()
    }
}

/// An entry taken out of a table, handed to listeners once the lock is released.
pub(crate) type Removal<K, V> = (K, V, Reason);

/// Buckets looked at to pick a victim for the capacity: exact least-recently-used while a
/// shard holds at most this many entries, sampled beyond.
const EVICTION_SAMPLE: usize = 64;

pub(crate) struct Table<K, V> {
    entries: HashTable<Entry<K, V>>,
    policy: Policy,
    capacity: usize,
    /// The length at which the write path next removes expired entries (see `sweep_done`).
    sweep_at: usize,
}

/// A shard never lets more than this many expired entries pile up before the write path
/// removes them, plus 1/32 of its live entries.
const MIN_SWEEP_SLACK: usize = 16;

impl<K, V> Table<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn num_buckets(&self) -> usize {
        self.entries.num_buckets()
    }
}

impl<K: Eq, V> Table<K, V> {
    pub(crate) fn new(policy: Policy, capacity: usize) -> Self {
        Self {
            entries: HashTable::new(),
            policy,
            capacity,
            sweep_at: MIN_SWEEP_SLACK,
        }
    }

    /// The live value for `key`, sliding its deadline forward if due. This is the hit path: it
    /// writes only to the entry it finds, and only once per `step` of time.
    #[inline]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<&V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let entry = self.entries.find(hash, |e| key.equivalent(&e.key))?;
        let deadline = entry.deadline();
        if now >= deadline {
            return None;
        }
        if self.policy.sliding {
            let fresh = self.policy.deadline(now);
            if fresh.saturating_sub(deadline) >= self.policy.step {
                entry.deadline.store(fresh, Relaxed);
            }
        }
        Some(&entry.value)
    }

    /// Whether `key` is live, without counting as a hit.
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q, now: u64) -> bool
    where
        Q: ?Sized + Equivalent<K>,
    {
        let entry = self.entries.find(hash, |e| key.equivalent(&e.key));
        entry.is_some_and(|e| !e.is_expired(now))
    }

    /// Stores `key -> value`, returning the entry it replaced and whether that had expired.
    /// An entry pushed out for the capacity goes to `removed`.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        now: u64,
        hasher: impl Fn(&K) -> u64,
        removed: &mut Vec<Removal<K, V>>,
    ) -> Option<(K, V, bool)> {
        let entry = Entry {
            key,
            value,
            deadline: AtomicU64::new(self.policy.deadline(now)),
        };
        if let Some(slot) = self.entries.find_mut(hash, |e| e.key == entry.key) {
            let old = std::mem::replace(slot, entry);
            let expired = old.is_expired(now);
            return Some((old.key, old.value, expired));
        }
        if self.capacity == 0 {
            removed.push((entry.key, entry.value, Reason::Capacity));
            return None;
        }
        if self.entries.len() >= self.capacity {
            removed.extend(self.evict_one(hash, now));
        }
        self.entries.insert_unique(hash, entry, |e| hasher(&e.key));
        None
    }

    /// Removes `key`, returning its value and whether it had expired.
    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q, now: u64) -> Option<(K, V, bool)>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let found = self
            .entries
            .find_entry(hash, |e| key.equivalent(&e.key))
            .ok()?;
        let (entry, _) = found.remove();
        let expired = entry.is_expired(now);
        Some((entry.key, entry.value, expired))
    }

    pub(crate) fn drain_into(&mut self, removed: &mut Vec<Removal<K, V>>) {
        removed.extend(
            self.entries
                .drain()
                .map(|e| (e.key, e.value, Reason::Removed)),
        );
    }

    /// Whether any bucket in `range` holds an expired entry; read-only, so a sweep can look
    /// under a read lock and take the write lock only where there is work.
    pub(crate) fn any_expired(&self, range: std::ops::Range<usize>, now: u64) -> bool {
        range
            .filter_map(|i| self.entries.get_bucket(i))
            .any(|e| e.is_expired(now))
    }

    /// Removes the expired entries among the buckets in `range`.
    pub(crate) fn remove_expired(
        &mut self,
        range: std::ops::Range<usize>,
        now: u64,
        removed: &mut Vec<Removal<K, V>>,
    ) {
        for i in range {
            if let Ok(slot) = self.entries.get_bucket_entry(i)
                && slot.get().is_expired(now)
            {
                let (entry, _) = slot.remove();
                removed.push((entry.key, entry.value, Reason::Expired));
            }
        }
    }

    /// Whether the write path should sweep this shard now.
    pub(crate) fn wants_sweep(&self) -> bool {
        self.entries.len() >= self.sweep_at
    }

    /// Called after a full sweep of the shard: the next one is due once 1/32 more entries (and
    /// at least `MIN_SWEEP_SLACK`) have arrived, which keeps the work amortized O(1) per insert
    /// and the expired entries held to a small fraction.
    pub(crate) fn sweep_done(&mut self) {
        let len = self.entries.len();
        self.sweep_at = len + (len / 32).max(MIN_SWEEP_SLACK);
    }

    /// Makes room for one entry: an expired entry if the sample holds one, else the one whose
    /// deadline is nearest (with sliding expiry, the least recently used).
    fn evict_one(&mut self, hash: u64, now: u64) -> Option<Removal<K, V>> {
        let buckets = self.entries.num_buckets();
        let start = (hash as usize) % buckets;
        let mut victim: Option<(usize, u64)> = None;
        let mut seen = 0;
        for i in (start..buckets).chain(0..start) {
            let Some(entry) = self.entries.get_bucket(i) else {
                continue;
            };
            let deadline = entry.deadline();
            if victim.is_none_or(|(_, best)| deadline < best) {
                victim = Some((i, deadline));
            }
            seen += 1;
            if deadline <= now || seen == EVICTION_SAMPLE {
                break;
            }
        }
        let (index, deadline) = victim?;
        let (entry, _) = self.entries.get_bucket_entry(index).ok()?.remove();
        let reason = if deadline <= now {
            Reason::Expired
        } else {
            Reason::Capacity
        };
        Some((entry.key, entry.value, reason))
    }
}
