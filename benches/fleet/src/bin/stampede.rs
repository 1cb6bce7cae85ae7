//! The stampede: several OS processes × many tasks asking for the same cold keys at once, with
//! a slow constructor. Counts the constructions fleet-wide and the wall time.
//!
//! ```text
//! stampede --impl ours|cached|ttl_map [--rotation spread|step] [--procs 3] [--tasks 32]
//!          [--keys 100] [--delay-ms 20] [--out FILE]
//! ```
//!
//! The driver (this, as called) starts `--procs` worker processes (itself with `worker`
//! first), which wait for a common start time, then run `--tasks` tasks each; every task asks
//! for all `--keys` keys, starting at its own offset and wrapping around: `spread` starts task
//! `t` at `t * keys / tasks` (tasks walk disjoint stretches, then reach keys others built),
//! `step` at `t` (each task one key behind the next: they overlap all along). Every process
//! uses the same offsets, so the processes ask for the same keys at the same moments.
//!
//! - `ours`: a `cache_core` `Shared` map per process on one Redis (the fleet's single flight).
//! - `cached`: `#[cached::proc_macro::io_cached(redis = true, ...)]` on an async fn.
//! - `ttl_map`: a plain `TtlMap` per process (this process's single flight only), for context.
//!
//! Each worker prints `constructions=N wall_ms=W wrong=X late=L`; the driver sums them and
//! prints (and appends to `--out`) one JSON line. Needs `FLEET_REDIS_URL` for `ours` and
//! `cached`. Each run uses fresh Redis keys (a run id in the namespace or prefix).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_core::TtlMap;
use cache_core::redis::RedisTier;
use fleet_bench::{URL_VAR, redis_url, value_of};

const TTL: Duration = Duration::from_secs(3600);
/// How long after the driver starts the workers they begin: time to start and connect.
const START_DELAY: Duration = Duration::from_millis(2_000);

/// Constructions of benchmark keys in this process (warm-up keys are not counted).
static BUILT: AtomicU64 = AtomicU64::new(0);

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let worker = args.first().is_some_and(|a| a == "worker");
    if worker {
        args.remove(0);
    }
    let opts = Opts::parse(&args);
    if worker {
        run_worker(&opts);
    } else {
        run_driver(&opts, &args);
    }
}

#[derive(Debug)]
struct Opts {
    imp: String,
    rotation: String,
    procs: usize,
    tasks: usize,
    keys: usize,
    delay: Duration,
    out: Option<String>,
    start_at_ms: u128,
    run: String,
}

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .unwrap_or_else(|| panic!("unexpected argument {flag:?}"));
            let value = it
                .next()
                .unwrap_or_else(|| panic!("--{name} needs a value"));
            map.insert(name.to_owned(), value.clone());
        }
        let get = |name: &str, default: &str| {
            map.get(name).cloned().unwrap_or_else(|| default.to_owned())
        };
        let num = |name: &str, default: &str| -> u128 {
            get(name, default)
                .parse()
                .unwrap_or_else(|_| panic!("--{name} takes a number"))
        };
        let opts = Opts {
            imp: get("impl", "ours"),
            rotation: get("rotation", "spread"),
            procs: num("procs", "3") as usize,
            tasks: num("tasks", "32") as usize,
            keys: num("keys", "100") as usize,
            delay: Duration::from_millis(num("delay-ms", "20") as u64),
            out: map.get("out").cloned(),
            start_at_ms: num("start-at", "0"),
            run: get("run", ""),
        };
        assert!(
            ["ours", "cached", "ttl_map"].contains(&opts.imp.as_str()),
            "--impl is ours, cached or ttl_map"
        );
        assert!(
            ["spread", "step"].contains(&opts.rotation.as_str()),
            "--rotation is spread or step"
        );
        opts
    }

    /// The key index task `task` asks for at its `j`-th step.
    fn key_at(&self, task: usize, j: usize) -> usize {
        let start = match self.rotation.as_str() {
            "spread" => task * self.keys / self.tasks,
            _ => task,
        };
        (start + j) % self.keys
    }
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
}

// ---------------------------------------------------------------------------------------------
// The driver

fn run_driver(opts: &Opts, args: &[String]) {
    let run = format!("{:x}-{}", unix_ms(), std::process::id());
    let start_at = unix_ms() + START_DELAY.as_millis();
    let exe = std::env::current_exe().expect("this program's path");
    let children: Vec<_> = (0..opts.procs)
        .map(|_| {
            Command::new(&exe)
                .arg("worker")
                .args(args.iter().filter(|a| !a.is_empty()))
                .args(["--start-at", &start_at.to_string(), "--run", &run])
                .stdout(Stdio::piped())
                .spawn()
                .expect("a worker process")
        })
        .collect();
    let mut constructions = 0u64;
    let mut wall_ms = 0f64;
    let mut wrong = 0u64;
    let mut late = 0u64;
    let mut per_process = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("a worker's output");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "a worker failed: {text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("constructions="))
            .unwrap_or_else(|| panic!("no result from a worker: {text}"));
        let fields: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .collect();
        let n: u64 = fields["constructions"].parse().expect("a count");
        constructions += n;
        per_process.push(n);
        wall_ms = wall_ms.max(fields["wall_ms"].parse().expect("ms"));
        wrong += fields["wrong"].parse::<u64>().expect("a count");
        late += fields["late"].parse::<u64>().expect("a count");
    }
    let result = serde_json::json!({
        "impl": opts.imp,
        "rotation": opts.rotation,
        "procs": opts.procs,
        "tasks": opts.tasks,
        "keys": opts.keys,
        "delay_ms": opts.delay.as_millis() as u64,
        "constructions": constructions,
        "per_process": per_process,
        "wall_ms": wall_ms,
        "wrong_values": wrong,
        "late_workers": late,
    });
    println!("{result}");
    if let Some(path) = &opts.out {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the --out file");
        writeln!(file, "{result}").expect("write --out");
    }
    assert_eq!(wrong, 0, "every call returned its key's value");
}

// ---------------------------------------------------------------------------------------------
// A worker

/// The constructor: slow, counted, and its value says which key it is for.
async fn build(key: &str, delay: Duration) -> String {
    tokio::time::sleep(delay).await;
    if !key.starts_with("warm-") {
        BUILT.fetch_add(1, Relaxed);
    }
    value_of(key)
}

/// This worker's run id (fresh Redis keys each run) and constructor delay, for `cached_value`.
static RUN: OnceLock<String> = OnceLock::new();
static DELAY: OnceLock<Duration> = OnceLock::new();

/// cached 0.56's Redis memoization, as its docs show it (an async fn returning `Result`).
/// The prefix holds the run id so every run starts cold.
#[cached::proc_macro::io_cached(
    redis = true,
    map_error = r##"|e| format!("{e:?}")"##,
    ty = "cached::AsyncRedisCache<String, String>",
    create = r##"{
        cached::AsyncRedisCache::new(
            format!("stampede-{}:", RUN.get().expect("a run id")),
            std::time::Duration::from_secs(3600),
        )
        .set_connection_string(&fleet_bench::redis_url())
        .build()
        .await
        .expect("cached's AsyncRedisCache")
    }"##
)]
async fn cached_value(name: String) -> Result<String, String> {
    // (Not `key`: the expansion has a local of that name.)
    Ok(build(&name, *DELAY.get().expect("a delay")).await)
}

/// What one worker process asks for: `call(key)` for every task and step.
type Call =
    Arc<dyn Fn(String) -> std::pin::Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

fn run_worker(opts: &Opts) {
    RUN.set(opts.run.clone()).expect("set once");
    DELAY.set(opts.delay).expect("set once");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let delay = opts.delay;
    let pid = std::process::id();
    let call: Call = match opts.imp.as_str() {
        "ours" => {
            let tier = RedisTier::new(redis_url())
                .expect("a Redis URL")
                .namespace(format!("stampede-{}", opts.run));
            let map = Arc::new(
                TtlMap::<String, String>::builder()
                    .ttl(TTL)
                    .name("stampede")
                    .shared(tier)
                    .build(),
            );
            Arc::new(move |key: String| {
                let map = Arc::clone(&map);
                Box::pin(async move {
                    map.get_or_insert_with_async(key.as_str(), build(&key, delay))
                        .await
                })
            })
        }
        "cached" => {
            assert!(
                std::env::var(URL_VAR).is_ok(),
                "{URL_VAR} names the Redis server"
            );
            Arc::new(|key: String| {
                Box::pin(async move { cached_value(key).await.expect("cached's redis call") })
            })
        }
        _ => {
            let map = Arc::new(TtlMap::<String, String>::new(TTL));
            Arc::new(move |key: String| {
                let map = Arc::clone(&map);
                Box::pin(async move {
                    map.get_or_insert_with_async(key.as_str(), build(&key, delay))
                        .await
                })
            })
        }
    };
    let keys: Vec<String> = (0..opts.keys)
        .map(|k| format!("stampede-key-{k:04}"))
        .collect();
    let (wall, wrong, late) = rt.block_on(async {
        // Connect before the start (and build the cache statics): a key of this process only.
        let warm = format!("warm-{pid}");
        assert_eq!(call(warm.clone()).await, value_of(&warm));
        let now = unix_ms();
        let late = u64::from(now > opts.start_at_ms);
        tokio::time::sleep(Duration::from_millis(
            opts.start_at_ms.saturating_sub(now) as u64
        ))
        .await;
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..opts.tasks {
            let call = Arc::clone(&call);
            let order: Vec<String> = (0..opts.keys)
                .map(|j| keys[opts.key_at(task, j)].clone())
                .collect();
            tasks.spawn(async move {
                let mut wrong = 0u64;
                for key in order {
                    let expected = value_of(&key);
                    if call(key).await != expected {
                        wrong += 1;
                    }
                }
                wrong
            });
        }
        let mut wrong = 0;
        while let Some(result) = tasks.join_next().await {
            wrong += result.expect("a task");
        }
        (start.elapsed(), wrong, late)
    });
    println!(
        "constructions={} wall_ms={:.1} wrong={wrong} late={late}",
        BUILT.load(Relaxed),
        wall.as_secs_f64() * 1e3
    );
}
