//! Runs N operations of one kind on a fresh `TtlMap<u64, u64>` (ttl 1 h), for counting their
//! instructions with callgrind, which, unlike timings, repeats exactly on a busy machine:
//!
//! ```sh
//! RUSTFLAGS="--cfg rustix_use_libc" cargo build --release -p cache-core --example ops
//! valgrind --tool=callgrind --callgrind-out-file=ops.out target/release/examples/ops miss 100000
//! callgrind_annotate --inclusive=yes ops.out | grep 'ops::run'
//! ```
//!
//! The count of `ops::run` divided by N is the instructions per operation. Kinds: `miss`
//! (`get_or_insert_with` of a new key), `hit` (the same on keys stored first, outside
//! `run`), `insert`, and `nested` (memoized recursions 1,000 deep, each into a cleared map: a
//! miss whose constructor misses, as `#[ttl_cached]`'s `count(n) = count(n - 1) + 1` does).
//! (`rustix_use_libc`: valgrind cannot follow rustix's own vDSO lookup for the clock.)

use std::hint::black_box;
use std::time::Duration;

use cache_core::TtlMap;

#[inline(never)]
fn run(map: &TtlMap<u64, u64>, kind: &str, n: u64) {
    // One loop per kind, so that no kind's count depends on how the compiler treats a match
    // inside the loop.
    match kind {
        "insert" => (0..n).for_each(|i| {
            black_box(map.insert(i, i));
        }),
        // Recursions 1,000 deep into a cleared map, as `count(n) = count(n - 1) + 1`.
        "nested" => (0..n).step_by(1_000).for_each(|i| {
            map.clear();
            black_box(count(map, i + 999));
        }),
        _ => (0..n).for_each(|i| {
            black_box(map.get_or_insert_with(&i, || i));
        }),
    }
}

/// `count(n) = count(n - 1) + 1`, memoized: every level a miss whose constructor misses.
fn count(map: &TtlMap<u64, u64>, n: u64) -> u64 {
    map.get_or_insert_with(&n, || {
        if n.is_multiple_of(1_000) {
            0
        } else {
            count(map, n - 1) + 1
        }
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "miss".into());
    let n = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let map = TtlMap::new(Duration::from_secs(3600));
    if kind == "hit" {
        for i in 0..n {
            map.insert(i, i);
        }
    }
    run(&map, &kind, n);
    black_box(&map);
}
