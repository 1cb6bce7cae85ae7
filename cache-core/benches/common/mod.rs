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

/// A fixed pseudo-random mix of `seed` and `i` (splitmix64), so every run uses the same data.
#[allow(dead_code)] // not every bench uses it
pub fn mix(seed: u64, i: usize) -> u64 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 51-byte keys shaped like OpenAI project keys, all distinct.
#[allow(dead_code)] // not every bench uses it
pub fn keys(n: usize, seed: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "sk-proj-{:043x}",
                u128::from(mix(seed, i)) << 40 | i as u128
            )
        })
        .collect()
}
