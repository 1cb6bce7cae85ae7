//! A shard's table without its keys and values: where each entry sits, its deadline, and
//! every rule about deadlines, sweeping and eviction. Not generic, so that it is compiled once
//! rather than once per key and value type (each `#[ttl_cached]` function is a new pair);
//! `shard.rs` keeps the keys and values beside it, at the positions given out here, and
//! answers the few questions only they can (is this the key, what is its hash).
//!
//! Times are nanoseconds on the map's clock. An entry is live while `now < deadline`.
//!
//! A deadline is stored in one `u64` with small fields in its low bits: bit 0 says the entry
//! was hit since its deadline was last set (sliding expiry's reference bit, written only when
//! unset so that hits stay free of shared writes), bits 1..9 count entries stored in the same
//! deadline slot of 2,048 ns, so that entries stored within one clock tick still evict oldest
//! first (exactly with a capacity up to `EXACT_ORDER`, however many stores a tick sees and
//! whatever other slots they interleave with), and bit 10 says a reader found it expired (see
//! `Raw::bury`). Deadlines are thus kept to 2.048 µs, always rounding earlier.
//!
//! With `stale_if_error`, an expired entry stays until its deadline plus that window: `get`
//! never returns it, but a memoizing call whose constructor failed may (`Table::get_stale`).
//! Sweeping judges by the end of the window rather than by the deadline.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hashbrown::HashTable;

use crate::Reason;
use crate::forecast::Forecast;

/// Bit 0: hit since the deadline was last set.
const USED: u64 = 1;
/// Bits 1..9: order of storage within one deadline slot.
const ORDER: u64 = 0x3fe;
/// Bit 10: found expired by a reader; no hit may slide the deadline any more.
const DEAD: u64 = 0x400;
/// The low bits that are not time.
const FIELDS: u64 = USED | ORDER | DEAD;

/// Buckets a sweep visits per step, so that readers wait at most that long behind it.
const SWEEP_BATCH: usize = 64;

/// Buckets looked at to pick a victim for the capacity: exact least-recently-used while a
/// shard holds at most this many entries, sampled beyond.
const EVICTION_SAMPLE: usize = 64;

/// Capacities up to this keep entries stored in one deadline slot in their exact order of
/// storage, whatever the order of stores into other slots, and however many stores one clock
/// tick sees (`Ledger::new_deadline`). Beyond, the victim is a sample's anyway.
const EXACT_ORDER: usize = EVICTION_SAMPLE;

/// Positions are `u32`: a shard holds at most this many entries, and a store beyond evicts
/// as the capacity would.
const MAX_ENTRIES: usize = u32::MAX as usize;

/// The expiry rule, shared by every shard of a map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) ttl: u64,
    /// Sliding only: a hit moves the deadline when it would advance by at least this much, so
    /// that hits on a hot entry do not all write to it.
    pub(crate) step: u64,
    pub(crate) sliding: bool,
    /// How long an expired entry is kept for `stale_if_error` (0: not at all).
    pub(crate) stale: u64,
}

impl Policy {
    fn slot(&self, now: u64) -> u64 {
        now.saturating_add(self.ttl) & !FIELDS
    }

    /// The deadline an entry with `limit` gets at `now`: rounded earlier, like every deadline.
    fn slot_within(&self, now: u64, limit: u64) -> u64 {
        self.slot(now).min(limit & !FIELDS)
    }
}

/// Whether a deadline word says expired by `now`.
fn expired(stored: u64, now: u64) -> bool {
    now >= stored & !FIELDS || stored & DEAD != 0
}

/// When an entry is stored, the latest time it may live to whatever its hits, and when a
/// memoizing call should rebuild it.
#[derive(Clone, Copy)]
pub(crate) struct Lifespan {
    pub(crate) now: u64,
    /// `max_lifetime` and `expire_after`'s limit, or `u64::MAX`.
    pub(crate) limit: u64,
    /// `refresh_after` from the value's birth (its arrival, unless the fleet tier gives its
    /// age), or `u64::MAX`.
    pub(crate) refresh_at: u64,
}

/// Where the typed side keeps an entry's key and value: an index into its slots.
pub(crate) type Pos = usize;

/// Whether the key at a position is the one looked for.
pub(crate) type IsKey<'a> = &'a mut dyn FnMut(Pos) -> bool;

/// An entry's place in the index: its position, and its key's hash folded to 32 bits, from
/// which the index rehashes itself when it grows. So nothing here runs user code (a `Hash`
/// that panics cannot lose entries, nor a rehash cost a call per entry), for 4 more bytes per
/// bucket.
#[derive(Clone, Copy)]
struct Indexed {
    pos: u32,
    hash: u32,
}

impl Indexed {
    /// The hash the index files an entry of key hash `hash` under: its halves folded into
    /// 32 bits (hashers that fill only one half, such as an identity hash of small numbers,
    /// keep all they give), spread by a multiplication so that both ends of the word, which
    /// the index reads, depend on them.
    fn of(hash: u64) -> (u32, u64) {
        let short = (hash ^ (hash >> 32)) as u32;
        (short, Self::spread(short))
    }

    fn spread(short: u32) -> u64 {
        u64::from(short).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn rehash(&self) -> u64 {
        Self::spread(self.hash)
    }

    fn pos(&self) -> Pos {
        self.pos as Pos
    }
}

/// Everything about a shard's entries but their keys and values.
pub(crate) struct Raw {
    /// The positions of the entries, by the hashes of their keys.
    index: HashTable<Indexed>,
    /// The deadline word of the entry at each position (see the module's doc); a free
    /// position's word is left as it was.
    words: Vec<AtomicU64>,
    /// Positions given back, reused before new ones: the typed side's slots never hold more
    /// than the most entries held at once.
    free: Vec<u32>,
    /// For each entry with a sliding limit (`max_lifetime`, `expire_after`: a hit may slide its
    /// deadline only up to it) or a refresh time (`refresh_after`), those, by the hash of its
    /// key. Kept beside the entries rather than in each, so that maps that use neither pay
    /// nothing. A fixed deadline never moves, so its limit is in the deadline already.
    extras: Extras,
    policy: Policy,
    ledger: Ledger,
}

impl Raw {
    pub(crate) fn new(policy: Policy) -> Self {
        Raw {
            index: HashTable::new(),
            words: Vec::new(),
            free: Vec::new(),
            extras: Extras::default(),
            policy,
            ledger: Ledger::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether a new entry must first make room, for `capacity` or for the positions.
    pub(crate) fn is_full(&self, capacity: usize) -> bool {
        self.index.len() >= capacity.min(MAX_ENTRIES)
    }

    /// The position of the entry whose key hashes to `hash` and `is_key` accepts.
    #[inline]
    pub(crate) fn find(&self, hash: u64, is_key: IsKey<'_>) -> Option<Pos> {
        let (short, hash) = Indexed::of(hash);
        let found = self
            .index
            .find(hash, |e| e.hash == short && is_key(e.pos()));
        found.map(Indexed::pos)
    }

    /// Whether the entry at `pos` (of a key hashing to `hash`) is live at `now`, sliding its
    /// deadline forward if due. This is the hit path: it writes only to the entry it finds,
    /// and only once per `step` of time.
    ///
    /// `recheck` reads the clock again before a deadline is moved, so that a reader delayed
    /// since its clock read cannot revive an entry that has expired meanwhile.
    #[inline]
    pub(crate) fn hit(&self, pos: Pos, hash: u64, now: u64, recheck: &dyn Fn() -> u64) -> bool {
        let word = &self.words[pos];
        let stored = word.load(Relaxed);
        let deadline = stored & !FIELDS;
        if expired(stored, now) {
            bury(word);
            return false;
        }
        if self.policy.sliding {
            let step = self.policy.step;
            let due = now.saturating_add(self.policy.ttl).saturating_sub(deadline) >= step;
            // Only a slide due by the ttl asks for the limit, and only a map with limits has one.
            if due && self.limit_of(hash).saturating_sub(deadline) >= step {
                self.slide(word, hash, stored, recheck());
            } else if stored & USED == 0 {
                word.fetch_or(USED, Relaxed);
            }
        }
        true
    }

    /// Moves a sliding deadline to `now` + ttl, if the entry is still live by `now` and nobody
    /// changed its deadline since it read `stored`: in particular, not once a reader found it
    /// expired and buried it, however long this reader was delayed. The new slot clears
    /// `USED`; a lost race leaves the move to a later hit.
    #[cold]
    fn slide(&self, word: &AtomicU64, hash: u64, stored: u64, now: u64) {
        if !expired(word.load(Relaxed), now) {
            let limit = self.limit_of(hash);
            let slot = self.policy.slot_within(now, limit).max(stored & !FIELDS);
            // Last in its new slot's order of storage: it was just used.
            let fresh = slot | ORDER;
            let _ = word.compare_exchange(stored, fresh, Relaxed, Relaxed);
        }
    }

    /// Whether the entry at `pos` is live at `now`, without counting as a hit.
    pub(crate) fn is_live(&self, pos: Pos, now: u64) -> bool {
        let word = &self.words[pos];
        if expired(word.load(Relaxed), now) {
            bury(word);
            return false;
        }
        true
    }

    /// Whether the entry at `pos` may still serve as a stale value at `now` (live, or expired
    /// less than the stale window ago), and if so whether it has expired.
    pub(crate) fn stale(&self, pos: Pos, now: u64) -> Option<bool> {
        let stored = self.words[pos].load(Relaxed);
        let within = now < (stored & !FIELDS).saturating_add(self.policy.stale);
        within.then(|| expired(stored, now))
    }

    fn limit_of(&self, hash: u64) -> u64 {
        self.extras.get(hash).map_or(u64::MAX, |e| e.limit)
    }

    /// Whether a memoizing call that finds the live entry of `hash` at `now` should rebuild it.
    pub(crate) fn refresh_due(&self, hash: u64, now: u64) -> bool {
        self.extras.get(hash).is_some_and(|e| now >= e.refresh_at)
    }

    /// Gives a key of `hash` stored for `life` its deadline word, recording its extras first;
    /// `held` is its position if it is held already.
    pub(crate) fn stamp(
        &mut self,
        hash: u64,
        life: Lifespan,
        capacity: usize,
        held: Option<Pos>,
    ) -> u64 {
        let extra = Extra {
            hash,
            limit: if self.policy.sliding {
                life.limit
            } else {
                u64::MAX
            },
            refresh_at: life.refresh_at,
        };
        if !extra.is_none() || !self.extras.0.is_empty() {
            // Judged by the folded hashes: two keys that share those but not their hashes (a
            // chance in 2^32 per pair) share their times as if they shared their hashes.
            let (short, spread) = Indexed::of(hash);
            let mut others = self.index.iter_hash(spread);
            let shared = others.any(|e| e.hash == short && Some(e.pos()) != held);
            self.extras.record(extra, shared);
            if self.extras.0.len() > 2 * self.index.len() + 16 {
                // Forget what entries gone since kept, once they outnumber the entries (the
                // key stored now is not in the index yet).
                let index = &self.index;
                self.extras
                    .0
                    .retain(|e| e.hash == hash || indexes(index, e.hash));
            }
        }
        self.new_deadline(life.now, life.limit, capacity)
    }

    /// The word stored for a new entry's deadline at `now`, within `limit`: its slot and its
    /// order in it, exact for a `capacity` up to `EXACT_ORDER`.
    #[inline]
    fn new_deadline(&mut self, now: u64, limit: u64, capacity: usize) -> u64 {
        let slot = self.policy.slot_within(now, limit);
        let (index, words) = (&self.index, &self.words);
        let mut held = |visit: &mut dyn FnMut(&AtomicU64)| {
            for e in index.iter() {
                visit(&words[e.pos()]);
            }
        };
        let held = (capacity <= EXACT_ORDER).then_some(&mut held as Held<'_>);
        self.ledger.new_deadline(slot, held)
    }

    /// Gives the entry at `pos` a new deadline `word`; returns whether the one it replaces had
    /// expired by `now`.
    pub(crate) fn restamp(&mut self, pos: Pos, word: u64, now: u64) -> bool {
        let old = std::mem::replace(self.words[pos].get_mut(), word);
        expired(old, now)
    }

    /// Adds an entry of `hash` with deadline `word`, at the position returned. The table must
    /// not be full (`is_full`).
    pub(crate) fn insert(&mut self, hash: u64, word: u64) -> Pos {
        self.index.reserve(1, Indexed::rehash);
        let pos = match self.free.pop() {
            Some(pos) => {
                *self.words[pos as Pos].get_mut() = word;
                pos
            }
            None => {
                self.words.push(AtomicU64::new(word));
                (self.words.len() - 1) as u32
            }
        };
        let (short, spread) = Indexed::of(hash);
        let indexed = Indexed { pos, hash: short };
        self.index.insert_unique(spread, indexed, Indexed::rehash);
        pos as Pos
    }

    /// Removes the entry of the key `is_key` accepts; returns its position, to be emptied by
    /// the caller, and whether it had expired by `now`.
    pub(crate) fn remove(&mut self, hash: u64, is_key: IsKey<'_>, now: u64) -> Option<(Pos, bool)> {
        let (short, hash) = Indexed::of(hash);
        let found = (self.index).find_entry(hash, |e| e.hash == short && is_key(e.pos()));
        let (removed, _) = found.ok()?.remove();
        self.free.push(removed.pos);
        let pos = removed.pos();
        Some((pos, self.is_expired(pos, now)))
    }

    /// Removes the entry in bucket `i` of the index, returning its position.
    fn remove_bucket(&mut self, i: usize) -> Option<Pos> {
        let (removed, _) = self.index.get_bucket_entry(i).ok()?.remove();
        self.free.push(removed.pos);
        Some(removed.pos())
    }

    /// The positions of the entries held, each with whether it expired by `now`.
    pub(crate) fn held(&self, now: u64) -> impl Iterator<Item = (Pos, bool)> + '_ {
        (self.index.iter()).map(move |e| (e.pos(), self.is_expired(e.pos(), now)))
    }

    fn is_expired(&self, pos: Pos, now: u64) -> bool {
        expired(self.words[pos].load(Relaxed), now)
    }

    /// Removes the entries `judge` takes, given each one's position and whether it expired
    /// by `now`. `judge` may panic; what was removed before stays removed.
    pub(crate) fn retain(&mut self, now: u64, judge: &mut dyn FnMut(Pos, bool) -> bool) {
        for i in 0..self.index.num_buckets() {
            let Some(pos) = self.index.get_bucket(i).map(Indexed::pos) else {
                continue;
            };
            if judge(pos, self.is_expired(pos, now)) {
                self.remove_bucket(i);
            }
        }
    }

    /// Forgets every entry, with the positions of all (the typed side empties its slots).
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.words.clear();
        self.free.clear();
    }

    /// From when the write path must sweep this shard before storing more (`forecast.rs`);
    /// at once while a sweep is in progress, so that writers help finish it.
    #[inline]
    pub(crate) fn due_at(&self) -> u64 {
        match self.ledger.due_at(self.index.len()) {
            0 => 0,
            due => due.saturating_add(self.policy.stale),
        }
    }

    /// Whether a sweep could find anything: for the background sweeper, which looks first.
    pub(crate) fn may_hold_expired(&self, now: u64) -> bool {
        let judged = now.saturating_sub(self.policy.stale);
        self.ledger.sweep.is_some() || self.ledger.forecast.any_due(judged)
    }

    /// The number of sweeps finished; a sweep in progress ends when it goes up.
    pub(crate) fn sweeps_done(&self) -> u64 {
        self.ledger.sweeps_done
    }

    /// Takes the next step of the shard's sweep, starting one at `now` if none is running:
    /// removes the expired entries among `SWEEP_BATCH` buckets, calling `take` with the
    /// position of each. Returns `true` once every bucket was visited: the sweep then ends
    /// with [`soonest`](Self::soonest), under a read lock, and
    /// [`finish_sweep`](Self::finish_sweep).
    ///
    /// The forecast is not rebuilt from what the batches saw: between two batches a store may
    /// rehash the index (also in place, keeping its bucket count) and move entries past the
    /// scan. An expired entry missed that way is left for the next sweep.
    pub(crate) fn sweep_step(&mut self, now: u64, take: &mut dyn FnMut(Pos)) -> bool {
        let buckets = self.index.num_buckets();
        let (batch, now) = self.ledger.next_batch(now, buckets);
        let done = batch.end >= buckets;
        for i in batch {
            let removable = self.index.get_bucket(i).is_some_and(|e| {
                let deadline = self.words[e.pos()].load(Relaxed);
                match self.policy.stale {
                    0 => expired(deadline, now),
                    stale => now >= (deadline & !FIELDS).saturating_add(stale),
                }
            });
            if removable && let Some(pos) = self.remove_bucket(i) {
                take(pos);
            }
        }
        done
    }

    /// The soonest deadlines of all entries, as many as the shard's allowance: read under a
    /// read lock at the end of a sweep, so that readers are not blocked while it is taken.
    pub(crate) fn soonest(&self) -> Deadlines {
        let mut soonest = Soonest::new(self.index.len());
        for e in self.index.iter() {
            soonest.offer(self.words[e.pos()].load(Relaxed) & !FIELDS);
        }
        soonest.finish(self.index.len(), self.ledger.stores)
    }

    /// Ends the sweep that `read` was taken for (unless another thread ended it meanwhile:
    /// `sweeps_done` is no longer `done`). The forecast starts over from those deadlines and
    /// the ones given out since `read` was taken, which are no sooner than any it saw: so it
    /// keeps the soonest of all, as many as `read` could vouch for.
    pub(crate) fn finish_sweep(&mut self, read: Deadlines, done: u64) {
        self.ledger.finish_sweep(read, done, self.index.len());
    }

    /// Makes room for one entry, for the capacity: an expired entry if the sample holds one,
    /// else the least recently used (sliding) or oldest (fixed) among the sample. Returns its
    /// position, to be emptied by the caller, and why.
    pub(crate) fn evict_one(&mut self, start: u64, now: u64) -> Option<(Pos, Reason)> {
        let buckets = self.index.num_buckets();
        let mut scan = Eviction::new(start, buckets, now, self.policy.step);
        while let Some(i) = scan.next_bucket() {
            if let Some(e) = self.index.get_bucket(i) {
                scan.offer(i, self.words[e.pos()].load(Relaxed));
            }
        }
        let (bucket, reason) = scan.victim()?;
        Some((self.remove_bucket(bucket)?, reason))
    }
}

/// Whether `index` holds an entry whose key's hash may be `hash` (its folded hash is).
fn indexes(index: &HashTable<Indexed>, hash: u64) -> bool {
    let (short, spread) = Indexed::of(hash);
    index.find(spread, |e| e.hash == short).is_some()
}

/// Found expired by a reader at some `now`: marks it so, so that no reader judging by an
/// earlier time can extend it any more (the mark changes the word it would swap).
#[cold]
fn bury(word: &AtomicU64) {
    word.fetch_or(DEAD, Relaxed);
}

/// What an entry keeps beside the table (see `Raw::extras`), by the hash of its key.
#[derive(Clone, Copy)]
struct Extra {
    hash: u64,
    /// Sliding expiry's limit (a fixed deadline has it already), or `u64::MAX`.
    limit: u64,
    /// When a memoizing call should rebuild it, or `u64::MAX`.
    refresh_at: u64,
}

impl Extra {
    fn is_none(&self) -> bool {
        self.limit == u64::MAX && self.refresh_at == u64::MAX
    }
}

/// What entries keep beside a table, by the hashes of their keys.
#[derive(Default)]
struct Extras(HashTable<Extra>);

impl Extras {
    /// What the entry whose key hashes to `hash` keeps. Should two live keys share a hash (a
    /// chance in 2^64 per pair), they share the earlier of each time: either may then expire
    /// or be refreshed before its own time, never after it.
    fn get(&self, hash: u64) -> Option<&Extra> {
        if self.0.is_empty() {
            return None;
        }
        self.0.find(hash, |e| e.hash == hash)
    }

    /// Records what a key just stored keeps (`shared`: another live key has its hash).
    fn record(&mut self, new: Extra, shared: bool) {
        match self.0.find_entry(new.hash, |e| e.hash == new.hash) {
            Ok(mut found) => {
                let recorded = found.get_mut();
                if shared {
                    recorded.limit = recorded.limit.min(new.limit);
                    recorded.refresh_at = recorded.refresh_at.min(new.refresh_at);
                } else {
                    *recorded = new;
                }
                if recorded.is_none() {
                    found.remove();
                }
            }
            Err(_) if !new.is_none() => {
                self.0.insert_unique(new.hash, new, |e| e.hash);
            }
            Err(_) => {}
        }
    }
}

/// A sweep in progress: any writer of the shard may take its next step.
struct Sweep {
    /// The next bucket to visit.
    next: usize,
    now: u64,
    /// The deadlines given out since the sweep began, each with its store's number.
    given: Vec<(u64, u64)>,
}

/// The soonest `limit` of some deadlines (a max-heap while it is built).
struct Soonest {
    heap: BinaryHeap<u64>,
    limit: usize,
}

impl Soonest {
    /// Room for the allowance of a shard holding `len` entries.
    fn new(len: usize) -> Self {
        Soonest {
            heap: BinaryHeap::new(),
            limit: Forecast::allowance(len),
        }
    }

    fn offer(&mut self, deadline: u64) {
        if self.heap.len() < self.limit {
            self.heap.push(deadline);
        } else if self.heap.peek().is_some_and(|&max| deadline < max) {
            self.heap.pop();
            self.heap.push(deadline);
        }
    }

    /// The deadlines of a shard holding `len` entries, once all were offered.
    fn finish(self, len: usize, stores: u64) -> Deadlines {
        Deadlines {
            capped: len > self.limit,
            soonest: self.heap.into_vec(),
            stores,
        }
    }
}

/// What the end of a sweep reads under a read lock (see [`Raw::soonest`]).
pub(crate) struct Deadlines {
    soonest: Vec<u64>,
    /// Whether there were more entries than `soonest` holds.
    capped: bool,
    /// The number of stores made when it was read.
    stores: u64,
}

/// A table's account of the deadlines it gave out and of its sweeps.
struct Ledger {
    /// The last deadline slot given out and its order field, for `ORDER`.
    last_slot: u64,
    last_order: u64,
    /// The latest deadline slot given out: none later holds an entry yet.
    max_slot: Option<u64>,
    forecast: Forecast,
    sweep: Option<Sweep>,
    /// Sweeps finished, so that a writer helping one knows when it is over.
    sweeps_done: u64,
    /// Stores made, to tell which deadlines a sweep's read pass saw.
    stores: u64,
}

impl Ledger {
    fn new() -> Self {
        Ledger {
            last_slot: 0,
            last_order: 0,
            max_slot: None,
            forecast: Forecast::new(),
            sweep: None,
            sweeps_done: 0,
            stores: 0,
        }
    }

    /// See [`Raw::new_deadline`]; `slot` is the new entry's deadline slot. `held` visits the
    /// deadline words of the entries held, when the order of storage must be exact.
    #[inline]
    fn new_deadline(&mut self, slot: u64, held: Option<Held<'_>>) -> u64 {
        self.last_order = if slot == self.last_slot && self.last_order < ORDER {
            self.last_order + 2
        } else if self.max_slot.is_none_or(|max| slot > max) {
            0
        } else if let Some(held) = held {
            // A slot stored into before, then another (`expire_after`), or one whose orders
            // ran out: look at what it holds.
            next_order(slot, held)
        } else if slot == self.last_slot {
            ORDER
        } else {
            0
        };
        self.last_slot = slot;
        self.max_slot = Some(self.max_slot.map_or(slot, |max| max.max(slot)));
        self.forecast.record(slot);
        self.stores += 1;
        if let Some(sweep) = &mut self.sweep {
            sweep.given.push((self.stores, slot));
        }
        slot | self.last_order
    }

    /// See [`Raw::due_at`], for a table holding `len` entries.
    #[inline]
    fn due_at(&self, len: usize) -> u64 {
        if self.sweep.is_some() {
            0
        } else {
            self.forecast.due_at(len)
        }
    }

    /// The buckets of `buckets` that the sweep's next step visits, and the time it judges
    /// by, starting a sweep at `now` if none is running.
    fn next_batch(&mut self, now: u64, buckets: usize) -> (std::ops::Range<usize>, u64) {
        let sweep = match &mut self.sweep {
            Some(sweep) => sweep,
            None => self.sweep.insert(Sweep {
                next: 0,
                now,
                given: Vec::new(),
            }),
        };
        let batch = sweep.next.min(buckets)..(sweep.next + SWEEP_BATCH).min(buckets);
        sweep.next = batch.end;
        (batch, sweep.now)
    }

    /// See [`Raw::finish_sweep`], for a table holding `len` entries.
    fn finish_sweep(&mut self, read: Deadlines, done: u64, len: usize) {
        if self.sweeps_done != done {
            return;
        }
        let Some(sweep) = self.sweep.take() else {
            return;
        };
        let mut allowance = Forecast::allowance(len);
        if read.capped {
            allowance = allowance.min(read.soonest.len());
        }
        let mut soonest = read.soonest;
        for (n, deadline) in sweep.given {
            if n > read.stores {
                soonest.push(deadline);
            }
        }
        self.forecast.reset(soonest, allowance);
        self.sweeps_done += 1;
    }
}

/// Visits the deadline word of every entry a table holds.
type Held<'a> = &'a mut dyn FnMut(&mut dyn FnMut(&AtomicU64));

/// The order field for a new entry in `slot`: after those of the entries `held` there. When
/// they ran out (more stores in one slot than `ORDER` counts), they are first renumbered
/// 0, 2, 4, ... keeping their order, which frees room for a table of `EXACT_ORDER` entries.
#[cold]
fn next_order(slot: u64, held: Held<'_>) -> u64 {
    let mut orders = Vec::new();
    held(&mut |word| {
        let stored = word.load(Relaxed);
        if stored & !FIELDS == slot {
            orders.push(stored & ORDER);
        }
    });
    let Some(&last) = orders.iter().max() else {
        return 0;
    };
    if last < ORDER {
        return last + 2;
    }
    orders.sort_unstable();
    orders.dedup();
    held(&mut |word| {
        let stored = word.load(Relaxed);
        if stored & !FIELDS == slot {
            let rank = orders.binary_search(&(stored & ORDER)).expect("seen above");
            let order = (rank as u64 * 2).min(ORDER);
            word.store(stored & !ORDER | order, Relaxed);
        }
    });
    (orders.len() as u64 * 2).min(ORDER)
}

/// The choice of a victim for the capacity, over the buckets from a starting point.
struct Eviction {
    /// The buckets to visit, in order: from `start` to the end, then from 0.
    order: std::iter::Chain<std::ops::Range<usize>, std::ops::Range<usize>>,
    now: u64,
    step: u64,
    victim: Option<(usize, (bool, u64, u64))>,
    seen: usize,
    /// Set once an expired entry or a full sample was seen.
    done: bool,
}

impl Eviction {
    fn new(start: u64, buckets: usize, now: u64, step: u64) -> Self {
        let start = (start as usize) % buckets.max(1);
        Eviction {
            order: (start..buckets).chain(0..start),
            now,
            step,
            victim: None,
            seen: 0,
            done: false,
        }
    }

    fn next_bucket(&mut self) -> Option<usize> {
        if self.done {
            return None;
        }
        self.order.next()
    }

    /// Bucket `i` holds an entry whose deadline field reads `stored`.
    fn offer(&mut self, i: usize, stored: u64) {
        let rank = self.rank(stored);
        if self.victim.is_none_or(|(_, best)| rank < best) {
            self.victim = Some((i, rank));
        }
        self.seen += 1;
        self.done = !rank.0 || self.seen == EVICTION_SAMPLE;
    }

    /// Eviction order, lowest first: expired entries, then by an estimate of the last use.
    /// An entry's deadline says when it was stored or last slid; one hit since then (`USED`,
    /// sliding only) happened within the next `step`, so it counts half a step later. Ties go
    /// by the order of storage.
    fn rank(&self, stored: u64) -> (bool, u64, u64) {
        let deadline = stored & !FIELDS;
        if expired(stored, self.now) {
            return (false, 0, 0);
        }
        let used = if stored & USED == 0 { 0 } else { self.step / 2 };
        (true, deadline.saturating_add(used), stored)
    }

    /// The bucket to empty, and why.
    fn victim(&self) -> Option<(usize, Reason)> {
        let (index, (live, ..)) = self.victim?;
        let reason = if live {
            Reason::Capacity
        } else {
            Reason::Expired
        };
        Some((index, reason))
    }
}

#[cfg(test)]
impl Raw {
    /// Entries held, and how many of them expired by `now`.
    pub(crate) fn counts(&self, now: u64) -> (usize, usize) {
        let expired = self.held(now).filter(|&(_, expired)| expired).count();
        (self.index.len(), expired)
    }

    /// Extras kept, and entries held.
    pub(crate) fn extras_kept(&self) -> (usize, usize) {
        (self.extras.0.len(), self.index.len())
    }
}
