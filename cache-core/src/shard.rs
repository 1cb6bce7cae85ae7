//! One shard's entries: single-threaded logic that knows nothing of locks.
//!
//! Times are nanoseconds on the map's clock. An entry is live while `now < deadline`.
//!
//! A deadline is stored in one `u64` with small fields in its low bits: bit 0 says the entry
//! was hit since its deadline was last set (sliding expiry's reference bit, written only when
//! unset so that hits stay free of shared writes), bits 1..9 count entries stored or slid into
//! the same deadline slot of 2,048 ns, so that entries stored within one clock tick still evict
//! oldest first (exactly with a capacity up to `EXACT_ORDER`, however many stores a tick sees and
//! whatever other slots they interleave with), and bit 10 says a reader found it expired (see
//! `Entry::bury`). Deadlines are thus kept to 2.048 µs, always rounding earlier.
//!
//! With `stale_if_error`, an expired entry stays until its deadline plus that window: `get`
//! never returns it, but a memoizing call whose constructor failed may (`Table::get_stale`).
//! Sweeping judges by the end of the window rather than by the deadline.

use std::cell::Cell;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hashbrown::{HashTable, hash_table};

use crate::Reason;
use crate::clock::ClockSource;
use crate::forecast::Forecast;
use crate::key::Equivalent;
use crate::payload::{Panic, catch};

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

/// Entries a table may have room for however few it holds (times 8): smaller tables never
/// shrink.
const SMALL_TABLE: usize = 32;

/// Buckets looked at to pick a victim for the capacity: exact least-recently-used while a
/// shard holds at most this many entries, sampled beyond.
const EVICTION_SAMPLE: usize = 64;

/// Capacities up to this keep entries stored in one deadline slot in their exact order of
/// storage, whatever the order of stores into other slots, and however many stores one clock
/// tick sees (`Ledger::new_deadline`). Beyond, the victim is a sample's anyway.
const EXACT_ORDER: usize = EVICTION_SAMPLE;

/// Orders kept free in a slot after a store, when the order is exact: hits slide entries
/// under a read lock, where a slot whose orders ran out cannot be renumbered, so a store
/// renumbers it (`next_order`) once fewer than this are left.
const ORDER_ROOM: u64 = 2 * EXACT_ORDER as u64 + 2;

/// `Ledger::max_slot` before any slot was given out (no slot has its low bits set).
const NO_SLOT: u64 = u64::MAX;

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

struct Entry<K, V> {
    key: K,
    value: V,
    deadline: AtomicU64,
}

impl<K, V> Entry<K, V> {
    fn deadline(&self) -> u64 {
        self.deadline.load(Relaxed) & !FIELDS
    }

    fn is_expired(&self, now: u64) -> bool {
        expired(self.deadline.load(Relaxed), now)
    }

    /// Whether a sweep at `now` removes it: once expired, or with a stale window once that is
    /// over too.
    fn removable(&self, now: u64, stale: u64) -> bool {
        match stale {
            0 => self.is_expired(now),
            _ => now >= self.deadline().saturating_add(stale),
        }
    }

    /// Found expired by a reader at some `now`: marks it so, so that no reader judging by an
    /// earlier time can extend it any more (the mark changes the word it would swap).
    #[cold]
    fn bury(&self) {
        if self.deadline.load(Relaxed) & DEAD == 0 {
            self.deadline.fetch_or(DEAD, Relaxed);
        }
    }
}

/// Whether a deadline word says expired by `now`.
fn expired(stored: u64, now: u64) -> bool {
    now >= stored & !FIELDS || stored & DEAD != 0
}

/// A store into a full table of an entry already expired: the entry is what it removes.
#[cold]
#[inline(never)]
fn born_expired<K, V>(key: K, value: V, panicked: Option<Panic>) -> Stored<K, V> {
    Stored {
        replaced: None,
        evicted: Some((key, value, Reason::Expired)),
        panicked,
    }
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

/// What an entry keeps beside the table (see `Table::extras`), by the hash of its key.
struct Extra {
    hash: u64,
    /// Sliding expiry's limit (a fixed deadline has it already), or `u64::MAX`.
    limit: u64,
    /// When a memoizing call should rebuild it, or `u64::MAX`; moved later while a rebuild
    /// runs (see `Extras::refreshing`). Atomic, as the call that starts one holds only the read
    /// lock.
    refresh_at: AtomicU64,
}

impl Extra {
    #[inline]
    fn is_none(&self) -> bool {
        self.limit == u64::MAX && self.refresh_at.load(Relaxed) == u64::MAX
    }
}

/// A refresh time as a store records it: even (a nanosecond earlier at most), so that it never
/// equals a mark of `Extras::refreshing`, which is odd; `u64::MAX` (never) stays.
fn even(refresh_at: u64) -> u64 {
    match refresh_at {
        u64::MAX => u64::MAX,
        at => at & !1,
    }
}

/// What entries keep beside a table, by the hashes of their keys. Not generic, so that its
/// code is compiled once rather than once per key and value type.
#[derive(Default)]
pub(crate) struct Extras(HashTable<Extra>);

impl Extras {
    /// What the entry whose key hashes to `hash` keeps. Should two live keys share a hash (a
    /// chance in 2^64 per pair, unless their `Hash` leaves out fields that `Eq` compares),
    /// they share the earlier of each time: either may then expire or be refreshed before its
    /// own time, never after it.
    fn get(&self, hash: u64) -> Option<&Extra> {
        if self.0.is_empty() {
            return None;
        }
        self.0.find(hash, |e| e.hash == hash)
    }

    /// At the end of a sweep: forgets what the entries gone keep, once they outnumber those
    /// held (as a store does, see `Table::store`), and gives back the room they took, as the
    /// table of entries does (`Table::shrink`), so that the heap follows the entries after a
    /// burst here too. `held` entries are in the table, and `is_held` tells whether one is
    /// filed under a hash: no user code runs (an entry filed there under another hash keeps
    /// what the hash's key kept, which costs memory only while that entry is held).
    fn collect(&mut self, held: usize, is_held: &dyn Fn(u64) -> bool) {
        if self.0.len() > 2 * held + 16 {
            self.0.retain(|e| is_held(e.hash));
        }
        let kept = self.0.len();
        if self.0.capacity() > 8 * kept.max(SMALL_TABLE) {
            self.0.shrink_to(2 * kept, |e| e.hash);
        }
    }

    /// A rebuild of the entry of `hash` has begun: until about `until`, the calls that find it
    /// no longer take the flights' lock to learn that one is under way (a hit takes no lock
    /// but its shard's read lock). Every end of the rebuild sets the time anew (`refresh_over`,
    /// then the new value's own if it is stored); `until` is a bound all the same. Returns the
    /// mark written, for `refresh_over`: odd, as no time a store records is (see `even`), so
    /// that a store meanwhile (an `insert`) is never taken for the mark.
    pub(crate) fn refreshing(&self, hash: u64, until: u64) -> u64 {
        let mark = (until | 1).min(u64::MAX - 2);
        if let Some(extra) = self.get(hash) {
            extra.refresh_at.store(mark, Relaxed);
        }
        mark
    }

    /// The rebuild `refreshing` marked with `mark` is over: the value it was to replace, if
    /// still there, is due again, unless a store recorded another time since.
    pub(crate) fn refresh_over(&self, hash: u64, mark: u64) {
        if let Some(extra) = self.get(hash) {
            let _ = (extra.refresh_at).compare_exchange(mark, 0, Relaxed, Relaxed);
        }
    }

    /// Records what a key just stored keeps (`shared`: another live key has its hash).
    fn record(&mut self, new: Extra, shared: bool) {
        match self.0.find_entry(new.hash, |e| e.hash == new.hash) {
            Ok(mut found) => {
                let recorded = found.get_mut();
                if shared {
                    recorded.limit = recorded.limit.min(new.limit);
                    let refresh_at = recorded.refresh_at.get_mut();
                    *refresh_at = (*refresh_at).min(new.refresh_at.into_inner());
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

/// An entry taken out of a table, handed to listeners once the lock is released.
pub(crate) type Removal<K, V> = (K, V, Reason);

/// What a store took out: the entry it replaced (and whether that had expired), and the
/// entry it evicted for the capacity.
pub(crate) struct Stored<K, V> {
    pub(crate) replaced: Option<(K, V, bool)>,
    pub(crate) evicted: Option<Removal<K, V>>,
    /// A key's `Hash` that panicked while the table grew, for the caller to resume once its
    /// locks are released.
    pub(crate) panicked: Option<Panic>,
}

/// Rehashes an entry's key as the table grows or shrinks. A `Hash` that panicked there would
/// have hashbrown drop the entries it was moving, under the lock: caught instead (the first
/// panic kept in `panicked`), and the key filed under 0: no lookup of it gets that far, its own
/// `Hash` panics first.
fn catching<'a, K, V>(
    hasher: &'a impl Fn(&K) -> u64,
    panicked: &'a Cell<Option<Panic>>,
) -> impl Fn(&Entry<K, V>) -> u64 + Copy + 'a {
    move |e| {
        let mut rehashed = 0;
        if let Some(panic) = catch(&mut || rehashed = hasher(&e.key)) {
            let first = panicked.take();
            panicked.set(first.or(Some(panic)));
        }
        rehashed
    }
}

/// The lookups' test for `key`. Every lookup of a table passes this one closure type, so
/// each key type compiles hashbrown's probe once (each closure type is a copy of it).
fn holds<K, V, Q>(key: &Q) -> impl Fn(&Entry<K, V>) -> bool + '_
where
    Q: ?Sized + Equivalent<K>,
{
    move |e| key.equivalent(&e.key)
}

/// Whether a key in `entries` other than `except` hashes to `hash`: runs keys' `Eq` and
/// `Hash`.
fn hashes_to<K: Eq, V>(
    entries: &HashTable<Entry<K, V>>,
    hash: u64,
    except: Option<&K>,
    hasher: &dyn Fn(&K) -> u64,
) -> bool {
    for e in entries.iter_hash(hash) {
        if except != Some(&e.key) && hasher(&e.key) == hash {
            return true;
        }
    }
    false
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

/// What the end of a sweep reads under a read lock (see [`Table::soonest`]).
pub(crate) struct Deadlines {
    soonest: Vec<u64>,
    /// Whether there were more entries than `soonest` holds.
    capped: bool,
    /// The number of stores made when it was read.
    stores: u64,
}

pub(crate) struct Table<K, V> {
    entries: HashTable<Entry<K, V>>,
    /// For each entry with a sliding limit (`max_lifetime`, `expire_after`: a hit may slide its
    /// deadline only up to it) or a refresh time (`refresh_after`), those, by the hash of its
    /// key. Kept beside the entries rather than in each, so that maps that use neither pay
    /// nothing (a word per entry is about 17 bytes with the table's spare buckets). A fixed
    /// deadline never moves, so its limit is in the deadline already.
    pub(crate) extras: Extras,
    policy: Policy,
    ledger: Ledger,
}

/// A table's account of the deadlines it gave out and of its sweeps: everything but the
/// entries themselves. Not generic, so that it is compiled once, not once per key and value
/// type.
struct Ledger {
    /// The last deadline slot given out, with its order field (`ORDER`). Atomic because a hit
    /// that slides an entry, under a read lock, takes the next order too: a hit is a use, as
    /// a store is.
    last: AtomicU64,
    /// The latest deadline slot given out by a store or a slide (`NO_SLOT`: none yet): none
    /// later holds an entry yet.
    max_slot: AtomicU64,
    /// Whether the last store asked for the exact order (`held`): then a slide that cannot
    /// take the next order from `last` looks at what its slot holds.
    exact: bool,
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
            last: AtomicU64::new(0),
            max_slot: AtomicU64::new(NO_SLOT),
            exact: false,
            forecast: Forecast::new(),
            sweep: None,
            sweeps_done: 0,
            stores: 0,
        }
    }

    /// See [`Table::new_deadline`]; `slot` is the new entry's deadline slot. `held` visits the
    /// deadline words of the entries held, when the order of storage must be exact.
    #[inline]
    fn new_deadline(&mut self, slot: u64, held: Option<Held<'_>>) -> u64 {
        let last = *self.last.get_mut();
        let max = *self.max_slot.get_mut();
        let (last_slot, last_order) = (last & !FIELDS, last & ORDER);
        // Exact: keep room in the slot for the slides that may follow before the next store.
        let room = if held.is_some() {
            ORDER - ORDER_ROOM
        } else {
            ORDER
        };
        self.exact = held.is_some();
        let order = if max == NO_SLOT || slot > max {
            0
        } else if slot == last_slot && last_order < room {
            last_order + 2
        } else if let Some(held) = held {
            // A slot stored or slid into before, then another (`expire_after`), or one whose
            // orders are running out: look at what it holds.
            next_order(slot, held)
        } else if slot == last_slot {
            ORDER
        } else {
            0
        };
        *self.last.get_mut() = slot | order;
        if max == NO_SLOT || slot > max {
            *self.max_slot.get_mut() = slot;
        }
        self.forecast.record(slot);
        self.stores += 1;
        if let Some(sweep) = &mut self.sweep {
            sweep.given.push((self.stores, slot));
        }
        slot | order
    }

    /// The order field for an entry a hit slides into `slot`: after every entry stored or
    /// slid into it before. Beyond a capacity of `EXACT_ORDER`, a slide into a slot given
    /// out before the last one (only shorter lives, from `expire_after` or a limit, do that)
    /// takes the slot's last order instead of looking at what it holds.
    #[cold]
    fn slide_order(&self, slot: u64, held: Held<'_>) -> u64 {
        let mut last = self.last.load(Relaxed);
        loop {
            let (last_slot, last_order) = (last & !FIELDS, last & ORDER);
            let max = self.max_slot.load(Relaxed);
            let order = if slot == last_slot && last_order < ORDER {
                last_order + 2
            } else if max == NO_SLOT || slot > max {
                // Raised before `last` is taken, so that a slide into this slot that finds
                // `last` moved on by then knows the slot holds an entry.
                let _ = (self.max_slot).fetch_update(Relaxed, Relaxed, |m| {
                    (m == NO_SLOT || slot > m).then_some(slot)
                });
                0
            } else if self.exact {
                // A slot given out before `last`'s: after the entries it holds (read-only;
                // orders that ran out are renumbered by the next store).
                held_after(slot, held)
            } else {
                return ORDER;
            };
            match (self.last).compare_exchange_weak(last, slot | order, Relaxed, Relaxed) {
                Ok(_) => return order,
                Err(changed) => last = changed,
            }
        }
    }

    /// See [`Table::due_at`], for a table holding `len` entries.
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

    /// See [`Table::finish_sweep`], for a table holding `len` entries.
    fn finish_sweep(&mut self, read: Deadlines, done: u64, len: usize) -> bool {
        if self.sweeps_done != done {
            return false;
        }
        let Some(sweep) = self.sweep.take() else {
            return false;
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
        true
    }
}

impl<K, V> Table<K, V> {
    pub(crate) fn new(policy: Policy) -> Self {
        Self {
            entries: HashTable::new(),
            extras: Extras::default(),
            policy,
            ledger: Ledger::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value stored for a new entry's deadline at `now`, within `limit`: its slot and its
    /// order in it, exact for a `capacity` up to `EXACT_ORDER`.
    #[inline]
    fn new_deadline(&mut self, now: u64, limit: u64, capacity: usize) -> u64 {
        let slot = self.policy.slot_within(now, limit);
        let mut held = deadlines(&self.entries);
        let held = (capacity <= EXACT_ORDER).then_some(&mut held as Held<'_>);
        self.ledger.new_deadline(slot, held)
    }

    /// The live value for `key` and the time it was judged live at, sliding its deadline
    /// forward if due. This is the hit path: it writes only to the entry it finds, and only
    /// once per `step` of time.
    ///
    /// `clock` is read once an entry is found, so that a miss reads no clock at all; and read
    /// again before a deadline is moved, so that a reader delayed since its clock read cannot
    /// revive an entry that has expired meanwhile.
    #[inline]
    pub(crate) fn get<Q>(&self, hash: u64, key: &Q, clock: &ClockSource) -> Option<(&V, u64)>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let entry = self.entries.find(hash, holds(key))?;
        let now = clock.now();
        let stored = entry.deadline.load(Relaxed);
        let deadline = stored & !FIELDS;
        if expired(stored, now) {
            entry.bury();
            return None;
        }
        if self.policy.sliding {
            let step = self.policy.step;
            let due = now.saturating_add(self.policy.ttl).saturating_sub(deadline) >= step;
            // Only a slide due by the ttl asks for the limit, and only a map with limits has one.
            if due && self.limit_of(hash).saturating_sub(deadline) >= step {
                self.slide(entry, hash, stored, clock.now());
            } else if stored & USED == 0 {
                entry.deadline.fetch_or(USED, Relaxed);
            }
        }
        Some((&entry.value, now))
    }

    fn limit_of(&self, hash: u64) -> u64 {
        self.extras.get(hash).map_or(u64::MAX, |e| e.limit)
    }

    /// Whether a memoizing call that finds the live entry of `hash` at `now` should rebuild it.
    pub(crate) fn refresh_due(&self, hash: u64, now: u64) -> bool {
        self.extras
            .get(hash)
            .is_some_and(|e| now >= e.refresh_at.load(Relaxed))
    }

    /// Whether a key held other than `key` hashes to `hash` (then the two share their
    /// extras, see `Extras::get`): runs keys' `Eq` and `Hash`.
    pub(crate) fn shares_hash<Q>(&self, hash: u64, key: &Q, hasher: impl Fn(&K) -> u64) -> bool
    where
        Q: ?Sized + Equivalent<K>,
    {
        // A loop, not `any`: an iterator adaptor's code would be compiled per key type too.
        for e in self.entries.iter_hash(hash) {
            if !key.equivalent(&e.key) && hasher(&e.key) == hash {
                return true;
            }
        }
        false
    }

    /// Moves a sliding deadline to `now` + ttl, if the entry is still live by `now` and nobody
    /// changed its deadline since it read `stored`: in particular, not once a reader found it
    /// expired and buried it, however long this reader was delayed. The new slot clears
    /// `USED`. A reader that only marked the entry used meanwhile (one delayed since an
    /// earlier clock read, by which no move was due) does not undo this move; any other
    /// change wins, and leaves the move to a later hit.
    #[cold]
    fn slide(&self, entry: &Entry<K, V>, hash: u64, stored: u64, now: u64) {
        if !entry.is_expired(now) {
            let limit = self.limit_of(hash);
            let slot = self.policy.slot_within(now, limit).max(stored & !FIELDS);
            // After the entries stored or slid into its new slot so far: it was just used.
            let fresh = slot | self.ledger.slide_order(slot, &mut deadlines(&self.entries));
            let word = &entry.deadline;
            if let Err(marked) = word.compare_exchange(stored, fresh, Relaxed, Relaxed)
                && marked == stored | USED
            {
                let _ = word.compare_exchange(marked, fresh, Relaxed, Relaxed);
            }
        }
    }

    /// Whether `key` is live, without counting as a hit.
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q, now: u64) -> bool
    where
        Q: ?Sized + Equivalent<K>,
    {
        self.peek(hash, key, now).is_some()
    }

    /// `key`'s live value, as of `now`, neither used nor slid (as `contains` looks).
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<&V>
    where
        Q: ?Sized + Equivalent<K>,
    {
        match self.entries.find(hash, holds(key)) {
            Some(entry) if !entry.is_expired(now) => Some(&entry.value),
            Some(entry) => {
                entry.bury();
                None
            }
            None => None,
        }
    }

    /// Stores the entry in `pending` for `life`, returning the entry it replaced and whether
    /// that had expired, and the entry evicted to stay within `capacity` (at least 1), if
    /// any. User code (keys' `Eq` and `Hash`) runs before the entry is taken out of `pending`
    /// and before the extras are recorded: if it panics, the entries are as they were and the
    /// entry is still the caller's, to drop once its locks are released (a key's `Drop` may
    /// use the map). Only the ledger may then count a deadline that was never stored, which
    /// at worst makes a sweep come early.
    pub(crate) fn store(
        &mut self,
        hash: u64,
        pending: &mut Option<(K, V)>,
        life: Lifespan,
        capacity: usize,
        hasher: impl Fn(&K) -> u64,
    ) -> Option<Stored<K, V>>
    where
        K: Eq,
    {
        let Lifespan {
            now,
            limit,
            refresh_at,
        } = life;
        let (key, _) = pending.as_ref()?;
        let full = self.entries.len() >= capacity;
        let extra = Extra {
            hash,
            limit: if self.policy.sliding { limit } else { u64::MAX },
            refresh_at: AtomicU64::new(even(refresh_at)),
        };
        let keeps_extras = !extra.is_none() || !self.extras.0.is_empty();
        let mut shared = false;
        if keeps_extras {
            shared = hashes_to(&self.entries, hash, Some(key), &hasher);
            if self.extras.0.len() > 2 * self.entries.len() + 16 {
                // Forget what entries gone since kept, once they outnumber the entries; the
                // key stored now keeps its own (it may not be held yet).
                let entries = &self.entries;
                let gone = |h| h != hash && !hashes_to(entries, h, None, &hasher);
                self.extras.0.retain(|e| !gone(e.hash));
            }
        }
        let deadline = self.new_deadline(now, limit, capacity);
        if self.entries.len() == self.entries.capacity() {
            // `entry` is about to grow the table, rehashing every key: a `Hash` that panicked
            // for one of them would file it where no lookup finds it, and, once that `Hash`
            // works again, the key would be stored twice. So each is hashed first, as
            // `shrink` does: a panic goes on from here, with nothing moved or stored.
            for e in self.entries.iter() {
                hasher(&e.key);
            }
        }
        let panicked = Cell::new(None);
        let rehash = catching(&hasher, &panicked);
        let found = (self.entries).entry(hash, |e| e.key == *key, rehash);
        // No user code from here on.
        if keeps_extras {
            self.extras.record(extra, shared);
        }
        let (key, value) = pending.take()?;
        if full && matches!(found, hash_table::Entry::Vacant(_)) && expired(deadline, now) {
            // Born expired (`expire_after` declared its life over): it is the entry that would
            // expire soonest, so it is the one that goes, not a live entry.
            return Some(born_expired(key, value, panicked.take()));
        }
        let entry = Entry {
            key,
            value,
            deadline: AtomicU64::new(deadline),
        };
        let mut stored = Stored {
            replaced: None,
            evicted: None,
            panicked: None,
        };
        match found {
            hash_table::Entry::Occupied(mut slot) => {
                let old = std::mem::replace(slot.get_mut(), entry);
                let expired = old.is_expired(now);
                stored.replaced = Some((old.key, old.value, expired));
            }
            hash_table::Entry::Vacant(slot) if !full => {
                slot.insert(entry);
            }
            hash_table::Entry::Vacant(_) => {
                stored.evicted = self.evict_one(hash, now);
                // `entry` made room for one more, and one went: no rehash here.
                self.entries.insert_unique(hash, entry, rehash);
            }
        }
        stored.panicked = panicked.take();
        Some(stored)
    }

    /// Removes `key`, returning its value and whether it had expired.
    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q, now: u64) -> Option<(K, V, bool)>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let Ok(found) = self.entries.find_entry(hash, holds(key)) else {
            return None;
        };
        let (entry, _) = found.remove();
        let expired = entry.is_expired(now);
        Some((entry.key, entry.value, expired))
    }

    /// Clones of the live entries, into `live`. The expired ones it meets are buried (see
    /// `Entry::bury`). If a `Clone` panics, the panic is returned, and the clones made so far
    /// are left in `live` and `key` (an entry's key cloned before its value), to be dropped
    /// once the shard's lock is let go: a `Drop` may use the map.
    pub(crate) fn live(
        &self,
        now: u64,
        live: &mut Vec<(K, V)>,
        key: &mut Option<K>,
    ) -> Option<Panic>
    where
        K: Clone,
        V: Clone,
    {
        catch(&mut || {
            for e in self.entries.iter() {
                if e.is_expired(now) {
                    e.bury();
                } else {
                    *key = Some(e.key.clone());
                    let value = e.value.clone();
                    if let Some(key) = key.take() {
                        live.push((key, value));
                    }
                }
            }
        })
    }

    /// Removes the expired entries and the live ones `keep` refuses.
    pub(crate) fn retain(
        &mut self,
        now: u64,
        keep: &mut impl FnMut(&K, &V) -> bool,
        removed: &mut Vec<Removal<K, V>>,
    ) {
        for i in 0..self.entries.num_buckets() {
            let Ok(slot) = self.entries.get_bucket_entry(i) else {
                continue;
            };
            let entry = slot.get();
            let reason = if entry.is_expired(now) {
                Reason::Expired
            } else if !keep(&entry.key, &entry.value) {
                Reason::Removed
            } else {
                continue;
            };
            let (entry, _) = slot.remove();
            removed.push((entry.key, entry.value, reason));
        }
    }

    /// Empties the table into `removed`, to be heard (if `heard`) and dropped outside the
    /// lock. Entries with nothing to hear and nothing to drop run no user code: they are
    /// cleared in place, in the time it takes to reset the table's control bytes.
    pub(crate) fn drain_into(&mut self, removed: &mut Vec<Removal<K, V>>, heard: bool) {
        if !heard && !std::mem::needs_drop::<(K, V)>() {
            self.entries.clear();
            return;
        }
        for e in self.entries.drain() {
            removed.push((e.key, e.value, Reason::Removed));
        }
    }

    /// From when the write path must sweep this shard before storing more (`forecast.rs`);
    /// at once while a sweep is in progress, so that writers help finish it.
    #[inline]
    pub(crate) fn due_at(&self) -> u64 {
        match self.ledger.due_at(self.entries.len()) {
            0 => 0,
            due => due.saturating_add(self.policy.stale),
        }
    }

    /// Whether a sweep could find anything: for the background sweeper, which looks first.
    pub(crate) fn may_hold_expired(&self, now: u64) -> bool {
        let judged = now.saturating_sub(self.policy.stale);
        self.ledger.sweep.is_some() || self.ledger.forecast.any_due(judged)
    }

    /// The value of `key` if it is live, or expired less than the stale window ago; and
    /// whether it has expired (then it is buried, see `Entry::bury`).
    pub(crate) fn get_stale<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<(&V, bool)>
    where
        Q: ?Sized + Equivalent<K>,
    {
        let entry = self.entries.find(hash, holds(key))?;
        let within = now < entry.deadline().saturating_add(self.policy.stale);
        let expired = entry.is_expired(now);
        if expired {
            entry.bury();
        }
        if within {
            Some((&entry.value, expired))
        } else {
            None
        }
    }

    /// The number of sweeps finished; a sweep in progress ends when it goes up.
    pub(crate) fn sweeps_done(&self) -> u64 {
        self.ledger.sweeps_done
    }

    /// Takes the next step of the shard's sweep, starting one at `now` if none is running:
    /// removes the expired entries among `SWEEP_BATCH` buckets into `removed`. Returns `true`
    /// once every bucket was visited: the sweep then ends with [`soonest`](Self::soonest),
    /// under a read lock, and [`finish_sweep`](Self::finish_sweep).
    ///
    /// The forecast is not rebuilt from what the batches saw: between two batches a store may
    /// rehash the table (also in place, keeping its bucket count) and move entries past the
    /// scan. An expired entry missed that way is left for the next sweep.
    pub(crate) fn sweep_step(&mut self, now: u64, removed: &mut Vec<Removal<K, V>>) -> bool {
        let buckets = self.entries.num_buckets();
        let (batch, now) = self.ledger.next_batch(now, buckets);
        let done = batch.end >= buckets;
        for i in batch {
            if let Ok(slot) = self.entries.get_bucket_entry(i)
                && slot.get().removable(now, self.policy.stale)
            {
                let (entry, _) = slot.remove();
                removed.push((entry.key, entry.value, Reason::Expired));
            }
        }
        done
    }

    /// The soonest deadlines of all entries, as many as the shard's allowance: read under a
    /// read lock at the end of a sweep, so that readers are not blocked while it is taken.
    pub(crate) fn soonest(&self) -> Deadlines {
        let mut soonest = Soonest::new(self.entries.len());
        for e in self.entries.iter() {
            soonest.offer(e.deadline());
        }
        soonest.finish(self.entries.len(), self.ledger.stores)
    }

    /// Ends the sweep that `read` was taken for (unless another thread ended it meanwhile:
    /// `sweeps_done` is no longer `done`). The forecast starts over from those deadlines and
    /// the ones given out since `read` was taken, which are no sooner than any it saw: so it
    /// keeps the soonest of all, as many as `read` could vouch for. Then gives back the room
    /// that the entries gone since a burst left (see [`Table::shrink`]); `hasher` rehashes
    /// the keys that stay.
    pub(crate) fn finish_sweep(
        &mut self,
        read: Deadlines,
        done: u64,
        hasher: impl Fn(&K) -> u64,
    ) -> Option<Panic> {
        if !self.ledger.finish_sweep(read, done, self.entries.len()) {
            return None;
        }
        // Not generic, but for this closure: compiled once, not per key and value type.
        let entries = &self.entries;
        (self.extras).collect(entries.len(), &|hash| {
            entries.iter_hash(hash).next().is_some()
        });
        self.shrink(hasher)
    }

    /// Once the table has room for eight times its entries, and more than a small table's,
    /// it shrinks to twice them: memory follows the entries kept, not the most ever held.
    /// Growing back takes as many stores again, so a table does not swing between sizes. It
    /// runs between sweeps, when no sweep's position among the buckets is to keep.
    ///
    /// A key whose `Hash` panics keeps the table as it is (the panic is returned): a rehash
    /// would file that key under another hash, where lookups miss it once its `Hash` works
    /// again. A store that must grow the table has no such choice; a shrink can wait.
    fn shrink(&mut self, hasher: impl Fn(&K) -> u64) -> Option<Panic> {
        let len = self.entries.len();
        if self.entries.capacity() <= 8 * len.max(SMALL_TABLE) {
            return None;
        }
        for e in self.entries.iter() {
            if let Some(panic) = catch(&mut || {
                hasher(&e.key);
            }) {
                return Some(panic);
            }
        }
        let panicked = Cell::new(None);
        (self.entries).shrink_to(2 * len, catching(&hasher, &panicked));
        panicked.take()
    }

    /// Makes room for one entry, for the capacity: an expired entry if the sample holds one,
    /// else the least recently used (sliding) or oldest (fixed) among the sample.
    pub(crate) fn evict_one(&mut self, start: u64, now: u64) -> Option<Removal<K, V>> {
        let buckets = self.entries.num_buckets();
        let mut scan = Eviction::new(start, buckets, now, self.policy.step);
        while let Some(i) = scan.next_bucket() {
            if let Some(entry) = self.entries.get_bucket(i) {
                scan.offer(i, entry.deadline.load(Relaxed));
            }
        }
        let (index, reason) = scan.victim()?;
        let Ok(slot) = self.entries.get_bucket_entry(index) else {
            return None;
        };
        let (entry, _) = slot.remove();
        Some((entry.key, entry.value, reason))
    }
}

/// Visits the deadline word of every entry a table holds.
type Held<'a> = &'a mut dyn FnMut(&mut dyn FnMut(&AtomicU64));

/// The visitor behind [`Held`] for `entries`.
fn deadlines<K, V>(
    entries: &HashTable<Entry<K, V>>,
) -> impl FnMut(&mut dyn FnMut(&AtomicU64)) + '_ {
    move |visit| {
        for entry in entries.iter() {
            visit(&entry.deadline);
        }
    }
}

/// The order after those of the entries `held` in `slot` (`ORDER` once they ran out).
#[cold]
fn held_after(slot: u64, held: Held<'_>) -> u64 {
    let mut after = 0;
    held(&mut |word| {
        let stored = word.load(Relaxed);
        if stored & !FIELDS == slot {
            after = after.max((stored & ORDER) + 2);
        }
    });
    after.min(ORDER)
}

/// The order field for a new entry in `slot`: after those of the entries `held` there. When
/// fewer than `ORDER_ROOM` are left (many stores or slides in one slot), they are first
/// renumbered 0, 2, 4, ... keeping their order, which leaves that room for a table of
/// `EXACT_ORDER` entries.
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
    if last < ORDER - ORDER_ROOM {
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

/// The choice of a victim for the capacity, over the buckets from a starting point: all that
/// does not need the entries' types, so that it is compiled once.
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
impl<K, V> Table<K, V> {
    /// Entries held, and how many of them expired by `now`.
    pub(crate) fn counts(&self, now: u64) -> (usize, usize) {
        let expired = self.entries.iter().filter(|e| e.is_expired(now)).count();
        (self.entries.len(), expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A clock standing at `nanos`.
    fn at(nanos: u64) -> ClockSource {
        let clock = ManualClock::new();
        clock.advance(Duration::from_nanos(nanos));
        ClockSource::Custom(Arc::new(clock))
    }

    /// A clock that reads the times it holds, last first.
    struct Readings(Mutex<Vec<u64>>);

    impl crate::Clock for Readings {
        fn now(&self) -> Duration {
            Duration::from_nanos(self.0.lock().unwrap().pop().unwrap_or(u64::MAX))
        }
    }

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
        t.store(
            u64::from(k),
            &mut Some((k, k)),
            life,
            usize::MAX,
            |k: &u32| u64::from(*k),
        );
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
        assert_eq!(t.get(1, &1, &at(5)).map(|(v, _)| v), Some(&1));
        assert_eq!(t.evict_one(0, 5).map(|r| r.0), Some(2));
    }

    #[test]
    fn a_delayed_reader_does_not_revive_an_expired_entry() {
        let t = {
            let mut t = table(true);
            put(&mut t, 1, 0);
            t
        };
        // Judged live at t = 10,000 (a reader delayed after that reading), rechecked at 70,000
        // before the deadline would move: past the deadline.
        let readings = ClockSource::Custom(Arc::new(Readings(Mutex::new(vec![70_000, 10_000]))));
        assert_eq!(t.get(1, &1, &readings).map(|(v, _)| v), Some(&1));
        assert!(!t.contains(1, &1, 70_000));
    }

    /// Stores `k` under `hash` (forced, to make keys collide), to live until `limit`.
    fn put_limited(t: &mut Table<u32, u32>, k: u32, hash: u64, limit: u64) {
        let life = Lifespan {
            now: 0,
            limit,
            refresh_at: u64::MAX,
        };
        t.store(hash, &mut Some((k, k)), life, usize::MAX, |k: &u32| {
            u64::from(*k % 100)
        });
    }

    /// Hits every 1,000 ns until `until`; the last time `k` was still live.
    fn last_live(t: &Table<u32, u32>, k: u32, hash: u64, until: u64) -> u64 {
        let mut last = 0;
        for now in (0..until).step_by(1_000) {
            if t.get(hash, &k, &at(now)).is_some() {
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
        assert!(
            t.extras.0.len() <= 2 * t.entries.len() + 16,
            "{}",
            t.extras.0.len()
        );
        // A key stored again without a limit is not capped by its old one.
        put_limited(&mut t, 5, 5, 10_000);
        put(&mut t, 5, 0);
        assert!(last_live(&t, 5, 5, 200_000) >= 199_000);
    }
}
