//! What the fleet benchmarks share: where Redis is, the keys, the values, percentiles.
//!
//! The Redis server is the one `scripts/fleet-bench.sh` starts; its URL comes in
//! [`URL_VAR`]. Results that criterion does not keep (per-op latency percentiles, stampede
//! counts) are written as JSON under the directory in [`OUT_VAR`], where the `report` binary
//! reads them.

use std::path::PathBuf;

/// The environment variable holding the Redis URL (`redis://127.0.0.1:PORT/`).
pub const URL_VAR: &str = "FLEET_REDIS_URL";
/// The environment variable naming the directory for the JSON results.
pub const OUT_VAR: &str = "FLEET_BENCH_OUT";

/// The Redis URL from [`URL_VAR`].
///
/// # Panics
///
/// If it is not set: `scripts/fleet-bench.sh` sets it.
pub fn redis_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!(
            "set {URL_VAR} to a Redis URL (bash scripts/fleet-bench.sh starts a server and sets it)"
        )
    })
}

/// Where to write a result file named `name`, if [`OUT_VAR`] is set.
pub fn out_path(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(OUT_VAR)?;
    std::fs::create_dir_all(&dir).ok()?;
    Some(PathBuf::from(dir).join(name))
}

/// A fixed pseudo-random mix of `seed` and `i` (splitmix64), so every run uses the same data.
pub fn mix(seed: u64, i: usize) -> u64 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` distinct 51-byte keys shaped like OpenAI project keys (as in cache-core's benches).
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

/// A 64-byte value for key number `i`.
pub fn value(i: usize) -> String {
    let v = format!("value-{i:058}");
    debug_assert_eq!(v.len(), 64);
    v
}

/// A 1,536-float embedding (as OpenAI's `text-embedding-3-small` returns) for key number `i`.
pub fn embedding(i: usize) -> Vec<f32> {
    (0..1536)
        .map(|d| (mix(i as u64, d) >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect()
}

/// A 64-byte value derived from a key, so every reader can check what it got.
pub fn value_of(key: &str) -> String {
    let mut v = format!("v:{key}");
    v.truncate(64);
    while v.len() < 64 {
        v.push('.');
    }
    v
}

/// A lookup order that visits each of `n` indices once, scattered.
pub fn order(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| mix(seed, i));
    order
}

/// The `p`-th percentile (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
