//! Realistic options whose names shadow parameters in their own scopes only: labeled blocks,
//! let-else, while-let, closures with patterns, nested blocks, `write!` into a String with a
//! named argument, anyhow's `anyhow!` with an inline capture of a closure parameter. Valid.
use std::fmt::Write as _;
use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(
    ttl = 'found: {
        for id in [1u64, 2] {
            if id > 1 {
                break 'found Duration::from_secs(id);
            }
        }
        Duration::from_secs(60)
    },
    expire_after = |key: &u64, v: &Vec<u64>| {
        let Some(&id) = v.first() else { return None };
        let mut it = v.iter();
        let mut total = 0;
        while let Some(id) = it.next() {
            total += id;
        }
        let pairs: Vec<(u64, u64)> = v.iter().map(|&id| (id, *key)).collect();
        let sum: u64 = pairs.iter().map(|&(id, _)| id).sum();
        let mut s = String::new();
        let _ = write!(s, "{id}:{total}:{n}", n = sum);
        let _ = anyhow::anyhow!("{id}");
        { let id = 3; let _ = id; }
        Some(Duration::from_secs(id + total + sum))
    },
)]
fn ids(id: u64) -> Vec<u64> {
    vec![id]
}

fn main() {
    assert_eq!(ids(4), vec![4]);
}
