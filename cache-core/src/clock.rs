//! Where a map's time comes from.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
use std::time::Instant;

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

/// A shared clock: `.clock(Arc::clone(&clock))` hands the map the same one.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cache_core::{ManualClock, TtlMap};
///
/// let clock = Arc::new(ManualClock::new());
/// let map = TtlMap::builder().ttl(Duration::from_secs(1)).clock(Arc::clone(&clock)).build();
/// map.insert("k", 1);
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(map.get("k"), None);
/// ```
impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

/// A boxed clock, such as one chosen at run time (`Box<dyn Clock>`).
impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Clock, ManualClock};
    ///
    /// assert_eq!(ManualClock::new().now(), Duration::ZERO);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`, saturating instead of overflowing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let shared = clock.clone();
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(shared.now(), Duration::from_secs(5));
    /// clock.advance(Duration::MAX); // saturates
    /// assert_eq!(shared.now(), Duration::from_nanos(u64::MAX));
    /// ```
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
    /// Nanoseconds of [`monotonic_nanos`] at the map's creation.
    System(u64),
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    pub(crate) fn system() -> Self {
        ClockSource::System(monotonic_nanos())
    }

    /// Nanoseconds since the clock's origin.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            ClockSource::System(origin) => monotonic_nanos().saturating_sub(*origin),
            ClockSource::Custom(clock) => saturating_nanos(clock.now()),
        }
    }
}

/// The coarse monotonic clock, in nanoseconds: it reads the time the kernel last stored at a
/// scheduler tick (a few milliseconds of precision) instead of the hardware counter, which
/// saves about 30 ns of each hit on the benchmark machine (`cargo bench --bench hit`). A TTL
/// is seconds to hours; a few milliseconds of slack do not matter to it.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn monotonic_nanos() -> u64 {
    use rustix::time::{ClockId, clock_gettime};
    let t = clock_gettime(ClockId::MonotonicCoarse);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Elsewhere, the standard monotonic clock.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline]
fn monotonic_nanos() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    saturating_nanos(ORIGIN.get_or_init(Instant::now).elapsed())
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
