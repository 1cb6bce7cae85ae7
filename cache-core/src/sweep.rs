//! Sweeping a map: the write path's duty once a shard is due (`forecast.rs`), `sweep()`, and
//! the background sweeper's calls.
//!
//! Only a few steps need the map's key and value types: a shard's due time and one batch of
//! its sweep. The map offers them through [`Shards`], and the loops and scheduling around them
//! are written once here, on `dyn Shards`, so that they are compiled once rather than once per
//! key and value type.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::clock::ClockSource;
use crate::payload::{Panic, resume};
use crate::sync::thread_local;

/// A map's shards, whatever its key and value types.
pub(crate) trait Shards {
    /// How many shards there are.
    fn count(&self) -> usize;

    /// From when `shard` must be swept (`Table::due_at`).
    fn due_at(&self, shard: usize) -> u64;

    /// Whether a sweep of `shard` could find anything by `now`.
    fn may_hold_expired(&self, shard: usize, now: u64) -> bool;

    /// Takes one step of a sweep of `shard` at `now`, or of the sweep in progress: removes
    /// its expired entries among a batch of buckets and hands them to the listener, outside
    /// the shard's lock. `None` once the sweep that was in progress at the first step
    /// (`until`, set then) is over; else how many entries it removed, and the first panic
    /// of user code.
    fn sweep_step(
        &self,
        shard: usize,
        now: u64,
        until: &mut Option<u64>,
    ) -> Option<(usize, Option<Panic>)>;
}

impl dyn Shards + '_ {
    /// Sweeps every shard that may hold expired entries by the time `clock` reads; returns
    /// how many were removed. From a listener of this map's sweep on this thread, does nothing
    /// (that sweep goes on after it).
    pub(crate) fn sweep_all(&self, clock: &ClockSource, next_due: &AtomicU64) -> usize {
        let Some(_sweeping) = Sweeping::enter(self) else {
            return 0;
        };
        let now = clock.now();
        let mut swept = 0;
        let mut panicked = None;
        for shard in 0..self.count() {
            // A sweep already under way judges by its own, earlier time: after helping it,
            // sweep again so that nothing expired by `now` is left (a few rounds at most,
            // in case other threads keep starting sweeps of their own).
            for _ in 0..3 {
                if !self.may_hold_expired(shard, now) {
                    break;
                }
                let (n, p) = self.sweep_shard(shard, now);
                swept += n;
                panicked = panicked.or(p);
            }
        }
        self.update_next_due(next_due);
        resume(panicked);
        swept
    }

    /// The write path's duty once `next_due` has passed: sweeps every shard that is due, so
    /// that a write to one shard keeps the whole map within its bound. A listener of this
    /// map's sweep that writes to it does not sweep it from inside: that would nest a sweep per
    /// batch on this thread's stack. Writes to another map do sweep that one (a map written
    /// only from another's listener is bounded too), and a chain of listeners nests at most
    /// one sweep per map.
    pub(crate) fn sweep_due(&self, now: u64, next_due: &AtomicU64) -> Option<Panic> {
        let _sweeping = Sweeping::enter(self)?;
        let mut panicked = None;
        for shard in 0..self.count() {
            if self.due_at(shard) <= now {
                panicked = panicked.or(self.sweep_shard(shard, now).1);
            }
        }
        self.update_next_due(next_due);
        panicked
    }

    /// Raises `next_due` to the shards' soonest, after sweeps moved theirs later. A shard
    /// lowering its own meanwhile is seen by the second pass (and the write that lowered it
    /// judged its own shard by itself, see `Inner::due`).
    fn update_next_due(&self, next_due: &AtomicU64) {
        let mut soonest = u64::MAX;
        for shard in 0..self.count() {
            soonest = soonest.min(self.due_at(shard));
        }
        next_due.store(soonest, Relaxed);
        for shard in 0..self.count() {
            next_due.fetch_min(self.due_at(shard), Relaxed);
        }
    }

    /// Sweeps a shard in steps of `SWEEP_BATCH` buckets, releasing the lock between steps so
    /// that readers never wait behind a whole scan. If another thread's sweep of this shard is
    /// in progress, this one helps it finish instead: a sweeping thread that is preempted
    /// cannot keep the shard from being swept.
    /// The caller holds this thread's `Sweeping`.
    fn sweep_shard(&self, shard: usize, now: u64) -> (usize, Option<Panic>) {
        let mut swept = 0;
        let mut panicked = None;
        let mut until = None;
        while let Some((n, p)) = self.sweep_step(shard, now, &mut until) {
            swept += n;
            panicked = panicked.or(p);
        }
        (swept, panicked)
    }
}

/// Sweeps of distinct maps one thread nests (a listener of one map's sweep writing to
/// another): deeper ones are left to those maps' next writes, `sweep()` calls or the sweeper,
/// so that a chain of listeners across many maps cannot exhaust the stack.
const NESTED_SWEEPS: usize = 8;

thread_local! {
    /// The maps this thread is sweeping, by address, innermost last, then zeros. `Copy`, so
    /// it has no destructor: it is still there for a sweep run from another thread-local's.
    static SWEEPING: Cell<[usize; NESTED_SWEEPS]> = const { Cell::new([0; NESTED_SWEEPS]) };
}

/// This thread's sweep of one map, for as long as it runs (listeners included): its place
/// in `SWEEPING`.
struct Sweeping(usize);

impl Sweeping {
    /// `None` if this thread is sweeping `map` already, or as many maps as it may nest.
    fn enter(map: &dyn Shards) -> Option<Self> {
        let map = std::ptr::from_ref(map).cast::<()>() as usize;
        let mut maps = SWEEPING.try_with(Cell::get).ok()?;
        if maps.contains(&map) {
            return None;
        }
        let free = maps.iter().position(|&m| m == 0)?;
        maps[free] = map;
        SWEEPING.with(|m| m.set(maps));
        Some(Sweeping(free))
    }
}

impl Drop for Sweeping {
    fn drop(&mut self) {
        let _ = SWEEPING.try_with(|maps| {
            let mut now = maps.get();
            now[self.0] = 0;
            maps.set(now);
        });
    }
}
