//! Soak run of `TtlMap`: 8 worker threads mix every operation over shared maps whose TTL is a
//! few milliseconds of real time, while 4 more threads check single flight round by round.
//! It exits non-zero with a message if memory is unbounded, a flight constructs twice or a
//! thread hangs; else it prints a summary.
//!
//! `cargo run --release -p tests --bin soak -- --secs 60`; `--short` means `--secs 3` (CI).
//!
//! Four configurations run in turn, each for a quarter of the time: sliding and fixed expiry,
//! without and with a capacity (the last also with the background sweeper). Each has two maps:
//! - the mix map: get, insert, remove, contains_key, len, sweep, clear (rarely), and the
//!   memoizing calls, sync and async (on a current-thread Tokio runtime per worker), whose
//!   constructors succeed, fail or panic (each call is wrapped in `catch_unwind`);
//! - the flight map: per round, 4 threads call `try_get_or_insert_with` on a fresh key behind
//!   a barrier while the workers churn plain inserts (and a rare `clear`) into it.
//!
//! Checks:
//! - Bounded memory. Every 1 ms each map's `len()` is checked against
//!   `touched * 33/32 + 16 * 16 + HOT + 2 * threads`, where `touched` counts the non-hot keys
//!   the workload stored or looked up (counted before each call; a lookup counts because
//!   sliding expiry extends a hit) within the last `TTL + SLACK`. The allowance, since the TTL
//!   is real time on a shared 2-core machine: `HOT` for the hot keys, which are not counted and
//!   may be kept alive by hits; `SLACK` (20 ms) because the map judges expiry by the coarse
//!   monotonic clock (4 ms ticks here) and a thread descheduled between its count and its
//!   store stores later than it counted, plus one entry per thread for such a store. Only
//!   stores grow `len`, so while the count stands still (all threads descheduled) the window
//!   ends at its last change; and as a map that sweeps a little per write needs some writes to
//!   shed a burst once the workload slows down, `len` is held to the largest bound of the last
//!   second (`HORIZON`): a leak still fails within about a second. Capacity maps must also keep
//!   `len <= capacity + threads`. Process RSS (`/proc/self/statm`, 4 KiB pages) may grow after
//!   the warm-up by at most the warm-up RSS or 64 MiB, whichever is more.
//! - Exact single flight. The constructor holds its flight until `stats().coalesced` (only
//!   flight callers can wait on that map) shows that the other 3 callers wait on it, so every
//!   caller joined the flight. A successful round must then run exactly once, whatever expiry or
//!   eviction do meanwhile; a failing or panicking round at most once per caller. Rounds that
//!   overlap a `clear` (an invalidation) are not judged.
//! - No hang: a watchdog exits if any thread makes no progress for 10 s.

use std::collections::VecDeque;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cache_core::{Expiry, TtlMap};

const WORKERS: usize = 8;
const FLIGHTERS: usize = 4;
const THREADS: usize = WORKERS + FLIGHTERS;
const TTL: Duration = Duration::from_millis(5);
const SLACK: Duration = Duration::from_millis(20);
const HORIZON: Duration = Duration::from_secs(1);
/// Hot keys are `0..HOT`; fresh keys count up from `HOT`; flight keys have the top bit set.
const HOT: u64 = 512;
const FLIGHT_KEY: u64 = 1 << 63;
const CAPACITY: usize = 2048;
const STALL: Duration = Duration::from_secs(10);
const PLANNED: &str = "soak: planned panic";

type Value = Arc<[u8]>;
type Map = TtlMap<u64, Value>;
/// When the warm-up ends, and the RSS then.
type Warm = (Instant, u64);

/// A constructor's planned failure.
#[derive(Debug)]
struct Failed;

/// A map and how many non-hot keys the workload stored or looked up in it so far.
struct Tracked {
    map: Map,
    touched: AtomicU64,
}

impl Tracked {
    fn touch(&self, key: u64) {
        if key >= HOT {
            self.touched.fetch_add(1, SeqCst);
        }
    }
}

/// A configuration: its name, expiry, capacity and whether the background sweeper runs.
type Config = (&'static str, Expiry, Option<usize>, bool);

const CONFIGS: [Config; 4] = [
    ("sliding", Expiry::Sliding, None, false),
    ("fixed", Expiry::Fixed, None, false),
    ("sliding+cap", Expiry::Sliding, Some(CAPACITY), false),
    ("fixed+cap+sweeper", Expiry::Fixed, Some(CAPACITY), true),
];

/// One configuration's shared state.
struct Phase {
    capacity: Option<usize>,
    mix: Tracked,
    flight: Tracked,
    fresh: AtomicU64,
    stop: AtomicBool,
    /// Per thread (workers, flighters, sampler): operations done, `u64::MAX` once finished.
    progress: [AtomicU64; THREADS + 1],
    /// Bumped before and after each `clear` of the flight map: odd while one runs.
    clears: AtomicU64,
    barrier: Barrier,
    go: AtomicBool,
    coalesced_base: AtomicU64,
    /// `clears` when the round began: a clear invalidates the round's flight, and callers
    /// arriving after it lead a new one instead of joining.
    round_clears: AtomicU64,
    runs: AtomicU64,
    outcomes: [AtomicU64; FLIGHTERS],
}

#[derive(Default)]
struct Report {
    ops: u64,
    max_len: usize,
    bound: usize,
    peak_rss: u64,
    ok_flights: u64,
    skipped: u64,
    failed_rounds: u64,
    failed_runs: u64,
}

/// The configuration running now, an index into `CONFIGS`, for messages.
static PHASE: AtomicUsize = AtomicUsize::new(0);

/// Prints `soak FAILED [configuration]: <message>` and exits with status 1.
macro_rules! fail {
    ($($arg:tt)*) => {{
        let phase = CONFIGS[PHASE.load(Relaxed)].0;
        eprintln!("soak FAILED [{phase}]: {}", format_args!($($arg)*));
        exit(1)
    }};
}

fn value(key: u64) -> Value {
    let mut bytes = [0u8; 64];
    bytes[..8].copy_from_slice(&key.to_le_bytes());
    Arc::from(&bytes[..])
}

/// The constructor of the mix map: `outcome` 0 panics, 1..=3 fail, others succeed.
fn build(key: u64, outcome: u64) -> Result<Value, Failed> {
    match outcome {
        0 => panic::panic_any(PLANNED),
        1..=3 => Err(Failed),
        _ => Ok(value(key)),
    }
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn worker(id: usize, s: &Phase) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a Tokio runtime");
    let mut rng = 0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) << 32);
    let (mix, flight) = (&s.mix, &s.flight);
    let mut ops = 0;
    while !s.stop.load(Relaxed) {
        let x = xorshift(&mut rng);
        let key = if x & 1 == 0 {
            (x >> 1) % HOT
        } else {
            s.fresh.load(Relaxed).saturating_sub((x >> 1) % 64).max(HOT)
        };
        let outcome = (x >> 20) % 20;
        match (x >> 8) % 100 {
            _ if x % 200_000 == 7 => mix.map.clear(),
            _ if x % 50_000 == 11 => {
                s.clears.fetch_add(1, SeqCst);
                flight.map.clear();
                s.clears.fetch_add(1, SeqCst);
            }
            _ if x % 10_000 == 13 => drop(black_box(mix.map.sweep())),
            0..25 => {
                mix.touch(key);
                drop(mix.map.get(&key));
            }
            25..40 => {
                let key = s.fresh.fetch_add(1, Relaxed);
                mix.touch(key);
                drop(mix.map.insert(key, value(key)));
            }
            40..45 => {
                mix.touch(key);
                drop(mix.map.insert(key, value(key)));
            }
            45..50 => drop(mix.map.remove(&key)),
            50..54 => {
                let key = s.fresh.fetch_add(1, Relaxed);
                flight.touch(key);
                drop(flight.map.insert(key, value(key)));
            }
            54..56 => drop(black_box(mix.map.contains_key(&key) || mix.map.is_empty())),
            56..75 => {
                mix.touch(key);
                let call = || mix.map.get_or_insert_with(&key, || value(key));
                let call_try = || mix.map.try_get_or_insert_with(&key, || build(key, outcome));
                drop(panic::catch_unwind(AssertUnwindSafe(|| match outcome {
                    0..8 => drop(call_try()),
                    _ => drop(call()),
                })));
            }
            _ => {
                mix.touch(key);
                let init = async move {
                    tokio::task::yield_now().await;
                    build(key, outcome)
                };
                let call = mix.map.try_get_or_insert_with_async(&key, init);
                drop(panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(call))));
            }
        }
        ops += 1;
        s.progress[id].store(ops, Relaxed);
    }
    ops
}

/// The flight map's constructor: holds the flight until the other callers wait on it.
fn flight_build(s: &Phase, key: u64, outcome: u64) -> Result<Value, Failed> {
    s.runs.fetch_add(1, SeqCst);
    let wanted = s.coalesced_base.load(SeqCst) + FLIGHTERS as u64 - 1;
    let start = Instant::now();
    while s.flight.map.stats().coalesced < wanted {
        if s.clears.load(SeqCst) != s.round_clears.load(SeqCst) {
            break; // not judged: see `round_clears`
        }
        if start.elapsed() > STALL / 2 {
            fail!("flight {key:#x}: the other callers never joined");
        }
        std::thread::yield_now();
    }
    build(key, outcome)
}

fn flighter(id: usize, s: &Phase) -> Option<Report> {
    let mut report = Report::default();
    for round in 0.. {
        if id == 0 {
            s.go.store(!s.stop.load(Relaxed), SeqCst);
            s.runs.store(0, SeqCst);
            s.coalesced_base
                .store(s.flight.map.stats().coalesced, SeqCst);
            s.round_clears.store(s.clears.load(SeqCst), SeqCst);
        }
        let clears = s.clears.load(SeqCst);
        s.barrier.wait();
        if !s.go.load(SeqCst) {
            break;
        }
        let key = FLIGHT_KEY | round;
        let outcome = [4, 4, 4, 4, 4, 4, 4, 1, 1, 0][round as usize % 10];
        s.flight.touch(key);
        let call = || {
            s.flight
                .map
                .try_get_or_insert_with(&key, || flight_build(s, key, outcome))
        };
        let got = match panic::catch_unwind(AssertUnwindSafe(call)) {
            Ok(Ok(v)) if v[..] == value(key)[..] => 4,
            Ok(Ok(_)) => fail!("flight {key:#x}: a wrong value"),
            Ok(Err(Failed)) => 1,
            Err(_) => 0,
        };
        s.outcomes[id].store(got, SeqCst);
        s.barrier.wait();
        s.progress[WORKERS + id].fetch_add(1, Relaxed);
        if id != 0 {
            continue;
        }
        let runs = s.runs.load(SeqCst);
        let all_got = s.outcomes.iter().all(|o| o.load(SeqCst) == outcome);
        if !all_got {
            fail!("flight {key:#x}: a caller got another outcome than {outcome}");
        }
        if outcome != 4 {
            if !(1..=FLIGHTERS as u64).contains(&runs) {
                fail!("failing flight {key:#x}: {runs} runs for {FLIGHTERS} callers");
            }
            report.failed_rounds += 1;
            report.failed_runs += runs;
        } else if clears % 2 == 1 || s.clears.load(SeqCst) != clears {
            report.skipped += 1;
        } else if runs != 1 {
            fail!(
                "single flight broken: {FLIGHTERS} callers that all joined the flight for \
                 {key:#x} ran its constructor {runs} times"
            );
        } else {
            report.ok_flights += 1;
        }
    }
    s.progress[WORKERS + id].store(u64::MAX, Relaxed);
    (id == 0).then_some(report)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Checks `len()` of each map against its bound every millisecond; samples RSS every 10 ms.
fn sample(s: &Phase, until: Instant, warm: &mut Warm, report: &mut Report) {
    let window = TTL + SLACK;
    let mut history: [VecDeque<(Instant, u64)>; 2] = Default::default();
    let mut peaks: [VecDeque<(Instant, usize)>; 2] = Default::default();
    let mut tick = 0u64;
    while Instant::now() < until {
        let now = Instant::now();
        for (i, t) in [&s.mix, &s.flight].into_iter().enumerate() {
            let (hist, peaks) = (&mut history[i], &mut peaks[i]);
            let count = t.touched.load(SeqCst);
            hist.push_back((now, count));
            let len = t.map.len();
            let after = t.touched.load(SeqCst);
            // Only stores grow `len`, so the bound is the one at the last touch: at `now` if
            // the count moved, else before the first sample that shows the current count.
            let still = hist.iter().rev().take_while(|h| h.1 == count).count();
            let last = match hist.len() - still {
                _ if after != count => now,
                0 => hist[0].0,
                i => hist[i - 1].0,
            };
            while hist.len() > 1 && hist[1].0 + window <= last {
                hist.pop_front();
            }
            let base = if hist[0].0 + window <= last {
                hist[0].1
            } else {
                0
            };
            let touched = after - base;
            let bound = (touched * 33 / 32) as usize + 16 * 16 + HOT as usize + 2 * THREADS;
            // The bound allowed is the largest of the last `HORIZON`: see the module docs.
            while peaks.back().is_some_and(|p| p.1 <= bound) {
                peaks.pop_back();
            }
            peaks.push_back((now, bound));
            while peaks[0].0 + HORIZON < now {
                peaks.pop_front();
            }
            let bound = peaks[0].1;
            if len > bound {
                fail!("len {len} > bound {bound} (the largest within {HORIZON:?})");
            }
            if let Some(cap) = s.capacity.filter(|&cap| len > cap + THREADS) {
                fail!("len {len} > capacity {cap} + {THREADS} writers");
            }
            if len * report.bound.max(1) >= report.max_len * bound {
                (report.max_len, report.bound) = (len, bound);
            }
        }
        if tick.is_multiple_of(10) {
            let rss = rss_bytes();
            report.peak_rss = report.peak_rss.max(rss);
            let (warm_end, base) = *warm;
            if now < warm_end {
                warm.1 = rss;
            } else if rss > base + base.max(64 << 20) {
                fail!(
                    "RSS {} MiB > {} MiB after warm-up + max(that, 64 MiB)",
                    rss >> 20,
                    base >> 20
                );
            }
        }
        tick += 1;
        s.progress[THREADS].fetch_add(1, Relaxed);
        std::thread::sleep(Duration::from_millis(1)); // sleep-ok: the sampler's period
    }
    s.progress[THREADS].store(u64::MAX, Relaxed);
}

fn watchdog(s: &Phase) {
    let mut seen = [(0, Instant::now()); THREADS + 1];
    loop {
        std::thread::sleep(Duration::from_millis(100)); // sleep-ok: the watchdog's period
        let mut running = false;
        for (i, (last, at)) in seen.iter_mut().enumerate() {
            let now = s.progress[i].load(Relaxed);
            if now == u64::MAX {
                continue;
            }
            running = true;
            if now != *last {
                (*last, *at) = (now, Instant::now());
            } else if at.elapsed() > STALL {
                let who = ["worker", "flighter", "sampler"]
                    [(i >= WORKERS) as usize + (i >= THREADS) as usize];
                let phase = CONFIGS[PHASE.load(Relaxed)].0;
                eprintln!(
                    "soak FAILED [{phase}]: hang: {who} thread {i} made no progress for {STALL:?}"
                );
                exit(2);
            }
        }
        if !running {
            return;
        }
    }
}

fn run_phase(&(_, expiry, capacity, sweeper): &Config, secs: f64, warm: &mut Warm) -> Report {
    let tracked = || {
        let mut builder = TtlMap::builder().ttl(TTL).expiry(expiry);
        if let Some(capacity) = capacity {
            builder = builder.capacity(capacity);
        }
        if sweeper {
            builder = builder.sweep_every(TTL);
        }
        let touched = AtomicU64::new(0);
        Tracked {
            map: builder.build(),
            touched,
        }
    };
    let s = Phase {
        capacity,
        mix: tracked(),
        flight: tracked(),
        fresh: AtomicU64::new(HOT),
        stop: AtomicBool::new(false),
        progress: Default::default(),
        clears: AtomicU64::new(0),
        barrier: Barrier::new(FLIGHTERS),
        go: AtomicBool::new(false),
        coalesced_base: AtomicU64::new(0),
        round_clears: AtomicU64::new(0),
        runs: AtomicU64::new(0),
        outcomes: Default::default(),
    };
    let mut report = Report::default();
    let until = Instant::now() + Duration::from_secs_f64(secs);
    std::thread::scope(|scope| {
        let s = &s;
        let workers: Vec<_> = (0..WORKERS)
            .map(|id| scope.spawn(move || worker(id, s)))
            .collect();
        let flighter = |id| scope.spawn(move || flighter(id, s));
        let flighters: Vec<_> = (0..FLIGHTERS).map(flighter).collect();
        scope.spawn(|| watchdog(s));
        sample(s, until, warm, &mut report);
        s.stop.store(true, Relaxed);
        for (id, worker) in workers.into_iter().enumerate() {
            report.ops += worker.join().expect("a worker");
            s.progress[id].store(u64::MAX, Relaxed);
        }
        for flighter in flighters {
            if let Some(r) = flighter.join().expect("a flighter") {
                (report.ok_flights, report.skipped) = (r.ok_flights, r.skipped);
                (report.failed_rounds, report.failed_runs) = (r.failed_rounds, r.failed_runs);
            }
        }
    });
    report
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => 60.0,
        ["--short"] => 3.0,
        ["--secs", n] => n.parse().unwrap_or(0.0),
        _ => 0.0,
    };
    if secs.is_nan() || secs <= 0.0 {
        eprintln!("usage: soak [--secs N | --short]");
        exit(2);
    }
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&PLANNED) {
            default_hook(info);
            fail!("an unexpected panic (above)");
        }
    }));
    let per_phase = secs / CONFIGS.len() as f64;
    let warm_up = Duration::from_secs_f64(per_phase / 2.0).min(Duration::from_secs(5));
    let mut warm = (Instant::now() + warm_up, 0);
    println!(
        "soak: {WORKERS} workers + {FLIGHTERS} flight threads, ttl {TTL:?}, {per_phase:.1} s per configuration"
    );
    let mut peak_rss = 0;
    for (i, config) in CONFIGS.iter().enumerate() {
        PHASE.store(i, Relaxed);
        let r = run_phase(config, per_phase, &mut warm);
        peak_rss = peak_rss.max(r.peak_rss);
        println!(
            "{:<22} {:>8.0} ops/s | max len/bound {:>5}/{:<5} | flights: {} ok, 1 run each, {} \
             not judged (clear); {} failing, {:.2} runs each",
            config.0,
            r.ops as f64 / per_phase,
            r.max_len,
            r.bound,
            r.ok_flights,
            r.skipped,
            r.failed_rounds,
            r.failed_runs as f64 / r.failed_rounds.max(1) as f64,
        );
    }
    println!(
        "soak passed: peak RSS {} MiB, {} MiB after warm-up",
        peak_rss >> 20,
        warm.1 >> 20
    );
}
