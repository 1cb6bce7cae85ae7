//! Where a map's time comes from.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic source of time for a [`TtlMap`](crate::TtlMap).
///
/// Implement it to drive expiry from your own time source; the map only ever asks for the time
/// elapsed since a fixed origin of the clock's choosing, and expects it never to go backwards.
///
/// ```
/// use std::time::Duration;
/// use cache_core::Clock;
///
/// struct Frozen;
/// impl Clock for Frozen {
///     fn now(&self) -> Duration {
///         Duration::from_secs(42)
///     }
/// }
/// assert_eq!(Frozen.now(), Duration::from_secs(42));
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since this clock's origin.
    fn now(&self) -> Duration;
}

/// A clock that moves only when told to, for deterministic tests of expiry.
///
/// Clones share the same time, so a test keeps one clone and hands another to the map.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
///
/// let clock = ManualClock::new();
/// let map = TtlMap::builder().ttl(Duration::from_secs(60)).clock(clock.clone()).build();
/// map.insert("tenant", 1);
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(map.get("tenant"), None);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at its origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`, saturating instead of overflowing.
    pub fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// The clock a map reads on every lookup: the system's monotonic clock without dynamic
/// dispatch, or a user's clock behind one.
#[derive(Clone)]
pub(crate) enum ClockSource {
    System(Instant),
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    pub(crate) fn system() -> Self {
        ClockSource::System(Instant::now())
    }

    /// Nanoseconds since the clock's origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            ClockSource::System(origin) => saturating_nanos(origin.elapsed()),
            ClockSource::Custom(clock) => saturating_nanos(clock.now()),
        }
    }
}

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockSource::System(_) => "System",
            ClockSource::Custom(_) => "Custom",
        })
    }
}

/// `d` in nanoseconds, `u64::MAX` (about 584 years) for anything longer.
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
