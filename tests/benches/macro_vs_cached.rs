//! `#[ttl_cached]` beside `cached` 0.56's `#[cached]`, in one run (issue 8, points 3 and 4).
//!
//! - misses: 200,000 distinct `u64` keys through `fn sq(n: u64) -> u64`, a fresh cache each
//!   round (`#[ttl_cached(ttl = "1h")]` against `#[cached(time = 3600)]`), and the same misses
//!   through `TtlMap::get_or_insert_with` by hand, to show what the macro adds to the map;
//! - recursion: `count(n) = count(n - 1) + 1` from depth 5,000 into a fresh cache, 10 times,
//!   and `fib(90)`'s first call;
//! - the deepest `count(n)` each survives on a thread with an 8 MiB stack, found by binary
//!   search in child processes (a stack overflow aborts the whole process).
//!
//! Run with `cargo bench -p tests --bench macro_vs_cached`; each time is the best of several
//! rounds.

#![allow(missing_docs)]

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use cache_core::{TtlMap, ttl_cached};
use cached::Cached;
use cached::proc_macro::cached;

const MISSES: u64 = 200_000;
const DEPTH: u64 = 5_000;
const STACK: usize = 8 << 20;

mod ours {
    use super::*;

    #[ttl_cached(ttl = "1h", cache = sq_cache)]
    pub fn sq(n: u64) -> u64 {
        n * n
    }

    #[ttl_cached(ttl = "1h", cache = count_cache)]
    pub fn count(n: u64) -> u64 {
        if n == 0 { 0 } else { count(n - 1) + 1 }
    }

    #[ttl_cached(ttl = "1h", cache = fib_cache)]
    pub fn fib(n: u64) -> u64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }
}

mod theirs {
    use super::*;

    #[cached(time = 3600)]
    pub fn sq(n: u64) -> u64 {
        n * n
    }

    #[cached(time = 3600)]
    pub fn count(n: u64) -> u64 {
        if n == 0 { 0 } else { count(n - 1) + 1 }
    }

    #[cached(time = 3600)]
    pub fn fib(n: u64) -> u64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }
}

/// `sq` memoized through the map by hand: what the macro's misses cost at best.
fn by_hand(map: &TtlMap<u64, u64>, n: u64) -> u64 {
    map.get_or_insert_with(&n, || n * n)
}

/// `count` memoized through the map by hand.
fn count_by_hand(n: u64) -> u64 {
    COUNT_MAP.get_or_insert_with(&n, || if n == 0 { 0 } else { count_by_hand(n - 1) + 1 })
}

static COUNT_MAP: LazyLock<TtlMap<u64, u64>> =
    LazyLock::new(|| TtlMap::new(Duration::from_secs(3600)));

/// The best of `rounds` timings of `run`, each after `reset`.
fn best(rounds: usize, mut reset: impl FnMut(), mut run: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            reset();
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .expect("at least one round")
}

/// Whether `count(depth)` returns on an 8 MiB thread, asked of a child process.
fn survives(which: &str, depth: u64) -> bool {
    let exe = std::env::current_exe().expect("the bench's own path");
    Command::new(exe)
        .args(["--depth-probe", which, &depth.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The deepest `count(n)` that returns on an 8 MiB thread, to within 1%.
fn max_depth(which: &str) -> u64 {
    let (mut lo, mut hi) = (1_000, 2_000);
    while survives(which, hi) {
        (lo, hi) = (hi, hi * 2);
    }
    while hi - lo > lo / 100 {
        let mid = lo + (hi - lo) / 2;
        if survives(which, mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

fn depth_probe(which: &str, depth: u64) {
    let which = which.to_owned();
    let result = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || match which.as_str() {
            "ttl_cached" => ours::count(depth),
            "cached" => theirs::count(depth),
            "by_hand" => count_by_hand(depth),
            _ => unreachable!("unknown probe"),
        })
        .expect("spawn")
        .join()
        .expect("no panic");
    assert_eq!(result, depth);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(what: &str, ours: Duration, theirs: Duration, target: f64) {
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!(
        "| {what} | {} | {} | {ratio:.2}x | {target:.1}x |",
        shown(ours),
        shown(theirs)
    );
}

/// A duration in ms, or µs below one ms.
fn shown(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", ms(d))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, which, depth] = args.as_slice()
        && flag == "--depth-probe"
    {
        return depth_probe(which, depth.parse().expect("a depth"));
    }
    if args.iter().any(|a| a == "--list") {
        return; // nothing for `cargo bench -- --list`
    }
    let rounds = 15;

    let clear_theirs_sq = || theirs::SQ.lock().unwrap().cache_clear();
    let miss_theirs = best(rounds, clear_theirs_sq, || {
        (0..MISSES).for_each(|n| {
            black_box(theirs::sq(black_box(n)));
        })
    });
    let miss_ours = best(
        rounds,
        || ours::sq_cache().clear(),
        || {
            (0..MISSES).for_each(|n| {
                black_box(ours::sq(black_box(n)));
            })
        },
    );
    let map = TtlMap::new(Duration::from_secs(3600));
    let miss_hand = best(
        rounds,
        || map.clear(),
        || {
            (0..MISSES).for_each(|n| {
                black_box(by_hand(&map, black_box(n)));
            })
        },
    );

    let count_theirs = best(
        rounds,
        || theirs::COUNT.lock().unwrap().cache_clear(),
        || {
            for _ in 0..10 {
                theirs::COUNT.lock().unwrap().cache_clear();
                black_box(theirs::count(black_box(DEPTH)));
            }
        },
    );
    let count_ours = best(
        rounds,
        || ours::count_cache().clear(),
        || {
            for _ in 0..10 {
                ours::count_cache().clear();
                black_box(ours::count(black_box(DEPTH)));
            }
        },
    );
    let count_hand = best(
        rounds,
        || COUNT_MAP.clear(),
        || {
            for _ in 0..10 {
                COUNT_MAP.clear();
                black_box(count_by_hand(black_box(DEPTH)));
            }
        },
    );
    let fib_theirs = best(
        rounds,
        || theirs::FIB.lock().unwrap().cache_clear(),
        || {
            black_box(theirs::fib(black_box(90)));
        },
    );
    let fib_ours = best(
        rounds,
        || ours::fib_cache().clear(),
        || {
            black_box(ours::fib(black_box(90)));
        },
    );

    println!("| measure | `#[ttl_cached]` | `#[cached]` | ratio | target |");
    println!("|---|---:|---:|---:|---:|");
    row("200,000 misses, `sq(n: u64)`", miss_ours, miss_theirs, 1.2);
    println!(
        "| (the same misses through `get_or_insert_with` by hand) | {:.2} ms | | {:.2}x | |",
        ms(miss_hand),
        miss_hand.as_secs_f64() / miss_theirs.as_secs_f64()
    );
    row(
        "`count(5000)` into a fresh cache, 10 times",
        count_ours,
        count_theirs,
        1.5,
    );
    println!(
        "| (the same through `get_or_insert_with` by hand) | {:.2} ms | | {:.2}x | |",
        ms(count_hand),
        count_hand.as_secs_f64() / count_theirs.as_secs_f64()
    );
    row("`fib(90)`, first call", fib_ours, fib_theirs, 1.5);

    if !args.iter().any(|a| a == "--no-depth") {
        let (ours, theirs) = (max_depth("ttl_cached"), max_depth("cached"));
        println!(
            "| deepest `count(n)` on an 8 MiB stack | {ours} | {theirs} | {:.2}x | >= 1.0x |",
            ours as f64 / theirs as f64
        );
        let hand = max_depth("by_hand");
        println!(
            "| (the same through `get_or_insert_with` by hand) | {hand} | | {:.2}x | |",
            hand as f64 / theirs as f64
        );
    }
}
