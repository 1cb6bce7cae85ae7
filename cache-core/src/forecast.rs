//! When a shard must next be swept: the bound on expired entries, kept in O(1) per insert.
//!
//! A shard may hold fewer than `allowance` expired entries at any moment between writes, where
//! `allowance = 16 + len / 34` for `len` entries held (so `len <= live + live/33 + 16`: the
//! README's bound of the live entries plus 1/32 of them plus 16 per shard). To know when that many may have
//! expired without scanning, the shard keeps the `allowance` soonest deadlines it has given out
//! since its last sweep, sorted. Deadlines only ever move later (a hit extends, nothing
//! shortens), so a recorded deadline is a lower bound of the entry's real one; entries not
//! recorded have deadlines no sooner than the last recorded one. Hence: while the list is not
//! full or its last deadline is still ahead, fewer than `allowance` entries can have expired.
//! Once it has passed, the next insert sweeps the shard, which records the survivors' soonest
//! deadlines afresh.
//!
//! Entries removed in other ways leave their deadlines here; that only makes a sweep come
//! sooner. A sweep costs one pass over the shard and is due only after `allowance` deadlines
//! passed, so a stream of inserts pays O(34) bucket visits each for it, and a map whose
//! entries do not expire never sweeps at all.

/// Expired entries a shard may hold besides 1/34 of its live ones.
const MIN_ALLOWANCE: usize = 16;

pub(crate) struct Forecast {
    /// The soonest recorded deadlines, ascending, at most `allowance` of them.
    soonest: Vec<u64>,
    allowance: usize,
}

impl Forecast {
    pub(crate) fn new() -> Self {
        Forecast {
            soonest: Vec::new(),
            allowance: MIN_ALLOWANCE,
        }
    }

    /// The allowance for a shard holding `live` entries.
    pub(crate) fn allowance(live: usize) -> usize {
        MIN_ALLOWANCE + live / 34
    }

    /// Records a deadline just given to an entry.
    #[inline]
    pub(crate) fn record(&mut self, deadline: u64) {
        record_into(&mut self.soonest, self.allowance, deadline);
    }

    /// When enough recorded deadlines will have passed that the shard, holding `len` entries
    /// now, may hold more expired ones than it is allowed: from then on it must be swept
    /// before more are stored. Removals lower the allowance, so they can bring it closer.
    #[inline]
    pub(crate) fn due_at(&self, len: usize) -> u64 {
        let allowance = Self::allowance(len).min(self.allowance);
        self.soonest.get(allowance - 1).copied().unwrap_or(u64::MAX)
    }

    /// Whether any recorded deadline has passed: a sweep may find something.
    pub(crate) fn any_due(&self, now: u64) -> bool {
        self.soonest.first().is_some_and(|&d| d <= now)
    }

    /// Starts over after a sweep: `soonest` holds the soonest deadlines of the shard's
    /// entries (any order), at least `allowance` of them if there are that many.
    pub(crate) fn reset(&mut self, mut soonest: Vec<u64>, allowance: usize) {
        self.allowance = allowance.max(1);
        soonest.sort_unstable();
        soonest.truncate(self.allowance);
        self.soonest = soonest;
    }
}

/// Adds `deadline` to the ascending list `soonest`, keeping at most `limit` of the soonest.
#[inline]
pub(crate) fn record_into(soonest: &mut Vec<u64>, limit: usize, deadline: u64) {
    if soonest.len() == limit {
        // Deadlines mostly arrive in increasing order: the common case returns here.
        if soonest.last().is_none_or(|&last| deadline >= last) {
            return;
        }
        soonest.pop();
    }
    let at = soonest.partition_point(|&d| d <= deadline);
    soonest.insert(at, deadline);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_soonest_deadlines_in_order() {
        let mut soonest = Vec::new();
        for d in [50, 10, 40, 30, 20, 60] {
            record_into(&mut soonest, 3, d);
        }
        assert_eq!(soonest, [10, 20, 30]);
    }

    #[test]
    fn due_only_when_allowance_many_have_passed() {
        let mut forecast = Forecast::new();
        forecast.reset(Vec::new(), Forecast::allowance(0));
        for d in 0..16 {
            assert_eq!(forecast.due_at(100), u64::MAX, "fewer than 16 recorded");
            forecast.record(100 + d);
        }
        assert_eq!(forecast.due_at(100), 115, "the 16th deadline");
        assert!(forecast.any_due(100));
    }
}
