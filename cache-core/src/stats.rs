//! Counters for `TtlMap::stats`, striped so that a hit writes only its own thread's line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

use crate::{Reason, thread_slot};

/// A snapshot of a map's counters since it was built.
///
/// Every call of `get` and of the memoizing methods counts exactly once as a hit or a miss,
/// at its first lookup: `hits + misses` is the number of such calls. Counters are read one by
/// one while other threads go on, so a snapshot taken during writes may be a moment apart
/// between fields.
///
/// ```
/// use std::time::Duration;
/// use cache_core::TtlMap;
///
/// let map = TtlMap::new(Duration::from_secs(60));
/// map.insert("k", 1);
/// map.get("k");
/// map.get("other");
/// let stats = map.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
/// ```
///
/// A snapshot is a plain value: `Copy`, comparable and hashable, e.g. to keep the distinct
/// snapshots a test saw.
///
/// ```
/// use std::collections::HashSet;
/// use cache_core::Stats;
///
/// let seen: HashSet<Stats> = [Stats::default(), Stats::default()].into_iter().collect();
/// assert_eq!(seen.len(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Calls of `get` or a memoizing method whose first lookup found a live entry.
    pub hits: u64,
    /// Calls of `get` or a memoizing method whose first lookup found nothing live. (A
    /// memoizing call that misses and then finds the value landed an instant later is still a
    /// miss, not also a hit.)
    pub misses: u64,
    /// Entries stored: by `insert`, and by a constructor whose value was stored (not one whose
    /// key was invalidated meanwhile, nor one a capacity of 0 refuses).
    pub inserts: u64,
    /// Entries removed because they had expired, by whatever removed them: a sweep, a write
    /// storing over them or evicting them, `remove`, `retain`. (`clear` drops every entry as
    /// removed, expired or not, and counts none here.)
    pub expirations: u64,
    /// Live entries removed to stay within the capacity, and values a capacity of 0 refused.
    pub evictions: u64,
    /// Calls that waited for another caller's constructor, counted once per call when it starts
    /// to wait (also if it then makes its own attempt because that constructor failed). A call
    /// that panics instead of waiting (a constructor asking for its own key) is not counted.
    pub coalesced: u64,
    /// Values rebuilt by a memoizing call that found them older than `refresh_after`.
    pub refreshes: u64,
    /// Refreshes whose constructor failed: the old value was kept (and returned, unless it
    /// was removed meanwhile). A constructor that panics is not counted: its caller panics.
    pub refresh_failures: u64,
    /// Memoizing calls whose constructor failed and that returned an expired value instead
    /// (`stale_if_error`).
    pub stale_served: u64,
}

/// Field by field, saturating: the counters of several maps together.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Stats, TtlMap};
///
/// let a: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// let b: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60));
/// a.insert(1, 1);
/// b.get(&1);
/// let total: Stats = [a.stats(), b.stats()].into_iter().sum();
/// assert_eq!((total.inserts, total.misses), (1, 1));
/// assert_eq!(total, a.stats() + b.stats());
/// // Or every named map's: `cache_core::caches().iter().map(|c| c.stats()).sum()`.
/// ```
impl std::ops::Add for Stats {
    type Output = Stats;

    fn add(self, other: Stats) -> Stats {
        Stats {
            hits: self.hits.saturating_add(other.hits),
            misses: self.misses.saturating_add(other.misses),
            inserts: self.inserts.saturating_add(other.inserts),
            expirations: self.expirations.saturating_add(other.expirations),
            evictions: self.evictions.saturating_add(other.evictions),
            coalesced: self.coalesced.saturating_add(other.coalesced),
            refreshes: self.refreshes.saturating_add(other.refreshes),
            refresh_failures: self.refresh_failures.saturating_add(other.refresh_failures),
            stale_served: self.stale_served.saturating_add(other.stale_served),
        }
    }
}

/// See [`Add`](#impl-Add-for-Stats).
impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        *self = *self + other;
    }
}

/// See [`Add`](#impl-Add-for-Stats).
impl std::iter::Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), std::ops::Add::add)
    }
}

/// Hit, miss and insert counters: one stripe per thread, each on its own cache line. A thread leases
/// one of the first `OWNED` stripes for its lifetime and, as their only writer, counts with a
/// plain load and store; threads beyond them share the last stripe, counted atomically.
const STRIPES: usize = thread_slot::SLOTS + 1;
const OWNED: usize = thread_slot::SLOTS;

#[derive(Default)]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
}

/// Counts a memoizing call's miss when dropped, however its lookup ends.
pub(crate) struct Miss<'a>(pub(crate) &'a Counters);

impl Drop for Miss<'_> {
    fn drop(&mut self) {
        self.0.lookup(false);
    }
}

pub(crate) struct Counters {
    stripes: Box<[CachePadded<Stripe>]>,
    expirations: AtomicU64,
    evictions: AtomicU64,
    coalesced: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    stale_served: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| CachePadded::default()).collect(),
            expirations: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            refresh_failures: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn lookup(&self, hit: bool) {
        self.count(|stripe| if hit { &stripe.hits } else { &stripe.misses });
    }

    pub(crate) fn inserted(&self) {
        self.count(|stripe| &stripe.inserts);
    }

    /// Adds one to a counter of this thread's stripe.
    #[inline]
    fn count(&self, counter: impl FnOnce(&Stripe) -> &AtomicU64) {
        let owned = thread_slot::slot();
        let counter = counter(&self.stripes[owned.unwrap_or(OWNED)]);
        match owned {
            // This thread is the stripe's only writer: no read-modify-write needed.
            Some(_) => counter.store(counter.load(Relaxed) + 1, Relaxed),
            None => drop(counter.fetch_add(1, Relaxed)),
        }
    }

    pub(crate) fn expired(&self, n: usize) {
        if n > 0 {
            self.expirations.fetch_add(n as u64, Relaxed);
        }
    }

    pub(crate) fn evicted(&self, n: usize) {
        if n > 0 {
            self.evictions.fetch_add(n as u64, Relaxed);
        }
    }

    /// Counts the entries of a removal by their reasons (see [`Tally`]).
    pub(crate) fn removals(&self, tally: Tally) {
        self.expired(tally.expired);
        self.evicted(tally.evicted);
    }

    pub(crate) fn coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
    }

    pub(crate) fn served_stale(&self) {
        self.stale_served.fetch_add(1, Relaxed);
    }

    /// A refresh ended: `ok` if its value was made.
    pub(crate) fn refreshed(&self, ok: bool) {
        let counter = if ok {
            &self.refreshes
        } else {
            &self.refresh_failures
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Sets every counter to zero. Counts made by other threads meanwhile may survive it.
    pub(crate) fn reset(&self) {
        for stripe in self.stripes.iter() {
            stripe.hits.store(0, Relaxed);
            stripe.misses.store(0, Relaxed);
            stripe.inserts.store(0, Relaxed);
        }
        let counters = [
            &self.expirations,
            &self.evictions,
            &self.coalesced,
            &self.refreshes,
            &self.refresh_failures,
            &self.stale_served,
        ];
        for counter in counters {
            counter.store(0, Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let sum = |counter: fn(&Stripe) -> &AtomicU64| {
            let counts = self.stripes.iter().map(|s| counter(s).load(Relaxed));
            counts.sum()
        };
        Stats {
            hits: sum(|s| &s.hits),
            misses: sum(|s| &s.misses),
            inserts: sum(|s| &s.inserts),
            expirations: self.expirations.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            refreshes: self.refreshes.load(Relaxed),
            refresh_failures: self.refresh_failures.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
        }
    }
}

/// Removed entries counted by reason before they are handed on: a plain tally, so that the
/// generic code that removes entries needs no iterator adapters of its own (each would be
/// compiled again for every key and value type).
#[derive(Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) expired: usize,
    pub(crate) evicted: usize,
}

impl Tally {
    pub(crate) fn add(&mut self, reason: Reason) {
        match reason {
            Reason::Expired => self.expired += 1,
            Reason::Capacity => self.evicted += 1,
            Reason::Removed | Reason::Replaced => {}
        }
    }
}
