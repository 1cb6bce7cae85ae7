//! What the benchmarks share.

use std::time::Duration;

use criterion::Criterion;

/// Short runs with few samples: the suite compares caches in one run on a 2-core machine, so
/// ratios matter, not the last digit.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}
