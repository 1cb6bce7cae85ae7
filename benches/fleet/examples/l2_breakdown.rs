//! Where an L2 hit's time goes: the fleet tier's path rebuilt step by step from a raw `GET`,
//! each step timed per op in interleaved rounds (p50, mean and p99 latency), with the CPU time
//! per op of this process (all its threads: the caller, the runtimes' workers) and of
//! redis-server (from `INFO cpu`). CPU time is the steadier measure on a busy or idle VM, where
//! a cross-thread wake-up costs whatever the scheduler makes it. Diagnostic, not a peer: the
//! script text copies cache-core's `FETCH` (src/redis/shared.rs) and may drift from it.
//!
//! `FLEET_REDIS_URL=redis://127.0.0.1:PORT/ cargo run --release --example l2_breakdown`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::redis::{RedisTier, Shared};
use cache_core::{Expiry, TtlMap};
use fleet_bench::{keys, order, percentile, redis_url, value};
use redis::aio::ConnectionManager;

const KEYS: usize = 10_000;
const TTL: Duration = Duration::from_secs(3600);

/// cache-core's FETCH script, as of this writing.
const FETCH: &str = r"
        local ok, v
        if ARGV[3] ~= '0' then
            ok, v = pcall(redis.call, 'GETEX', KEYS[1], 'PX', ARGV[3])
        else
            ok, v = pcall(redis.call, 'GET', KEYS[1])
        end
        if ok and v then return {1, v, redis.call('PTTL', KEYS[1])} end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
        return {3}
        ";

/// CPU time of this process, all threads.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// `INFO cpu`, over a fresh connection on a fresh current-thread runtime (outside the measured
/// runtimes, and outside the process CPU windows).
fn redis_info_cpu() -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    rt.block_on(async {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("INFO")
            .arg("cpu")
            .query_async(&mut c)
            .await
            .unwrap()
    })
}

fn main() {
    let url = redis_url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A second runtime like the tier's: one worker thread, its own connection.
    let side = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let keys = keys(KEYS, 3);
    let order = order(KEYS, 4);
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("raw:{k}")).collect();
    let client = redis::Client::open(url.as_str()).unwrap();
    let conn = rt.block_on(ConnectionManager::new(client.clone())).unwrap();
    let side_conn = side.block_on(ConnectionManager::new(client)).unwrap();
    let script = redis::Script::new(FETCH);
    let tier = || RedisTier::new(&url).unwrap().namespace("fleet-bench");
    let writer: Shared<String, String> =
        TtlMap::builder().ttl(TTL).name("l2").shared(tier()).build();
    rt.block_on(async {
        let mut c = conn.clone();
        for (i, k) in keys.iter().enumerate() {
            writer
                .get_or_insert_with_async(k.as_str(), async { value(i) })
                .await;
            redis::cmd("SET")
                .arg(&raw_keys[i])
                .arg(postcard::to_allocvec(&value(i)).unwrap())
                .exec_async(&mut c)
                .await
                .unwrap();
        }
    });
    let reader = |expiry| -> Shared<String, String> {
        TtlMap::builder()
            .ttl(TTL)
            .expiry(expiry)
            .capacity(16)
            .name("l2")
            .shared(tier())
            .build()
    };
    let (sliding, fixed) = (reader(Expiry::Sliding), reader(Expiry::Fixed));
    let side_handle = side.handle().clone();
    let raw_keys = Arc::new(raw_keys);

    let steps: &[&str] = &[
        "1 GET (caller's runtime)",
        "2 EVALSHA FETCH, GET branch (caller's runtime)",
        "3 EVALSHA FETCH, GETEX branch (caller's runtime)",
        "4 GET on a 1-thread side runtime (spawn + JoinHandle)",
        "5 GET on the side runtime with tokio::time::timeout",
        "6 EVALSHA FETCH GET on the side runtime with timeout",
        "7 ours: Shared, fixed expiry",
        "8 ours: Shared, sliding expiry (default)",
    ];
    let mut samples = vec![Vec::new(); steps.len()];
    let mut cpu = vec![(Duration::ZERO, 0f64); steps.len()];
    let redis_cpu = || -> f64 {
        let text = redis_info_cpu();
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("used_cpu_sys:")
                    .or(l.strip_prefix("used_cpu_user:"))
            })
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .sum()
    };
    const ROUNDS: usize = 20;
    const OPS: usize = 500;
    for round in 0..ROUNDS {
        for s in 0..steps.len() {
            let step = (round + s) % steps.len();
            let mut c = conn.clone();
            let into = &mut samples[step];
            let redis_start = redis_cpu();
            let cpu_start = process_cpu();
            rt.block_on(async {
                for n in 0..OPS {
                    let i = order[(round * OPS + n) % KEYS];
                    let start = Instant::now();
                    match step {
                        0 => {
                            let b: Vec<u8> = redis::cmd("GET")
                                .arg(&raw_keys[i])
                                .query_async(&mut c)
                                .await
                                .unwrap();
                            black_box(postcard::from_bytes::<String>(&b).unwrap());
                        }
                        1 | 2 => {
                            let v: redis::Value = script
                                .key(&raw_keys[i])
                                .key(format!("{}:lease", raw_keys[i]))
                                .arg("token")
                                .arg(3000)
                                .arg(if step == 1 { 0 } else { 3_600_000 })
                                .invoke_async(&mut c)
                                .await
                                .unwrap();
                            black_box(v);
                        }
                        3..=5 => {
                            let mut sc = side_conn.clone();
                            let keys = Arc::clone(&raw_keys);
                            let script = script.clone();
                            let task = side_handle.spawn(async move {
                                let op = async {
                                    if step == 5 {
                                        script
                                            .key(&keys[i])
                                            .key(format!("{}:lease", keys[i]))
                                            .arg("token")
                                            .arg(3000)
                                            .arg(0)
                                            .invoke_async::<redis::Value>(&mut sc)
                                            .await
                                            .map(|_| Vec::new())
                                    } else {
                                        redis::cmd("GET")
                                            .arg(&keys[i])
                                            .query_async::<Vec<u8>>(&mut sc)
                                            .await
                                    }
                                };
                                if step == 3 {
                                    op.await
                                } else {
                                    tokio::time::timeout(Duration::from_millis(250), op)
                                        .await
                                        .unwrap()
                                }
                            });
                            black_box(task.await.unwrap().unwrap());
                        }
                        6 | 7 => {
                            let map = if step == 6 { &fixed } else { &sliding };
                            black_box(
                                map.get_or_insert_with_async(keys[i].as_str(), async {
                                    panic!("built")
                                })
                                .await,
                            );
                        }
                        _ => unreachable!(),
                    }
                    into.push(start.elapsed().as_nanos() as u64);
                }
            });
            cpu[step].0 += process_cpu() - cpu_start;
            cpu[step].1 += redis_cpu() - redis_start;
            // (redis_cpu() runs after process_cpu(): its own work is outside the window.)
        }
    }
    println!(
        "| step | p50 µs | mean µs | p99 µs | CPU µs/op, this process | CPU µs/op, redis-server |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for ((name, mut ns), (client, server)) in steps.iter().zip(samples).zip(cpu) {
        ns.sort_unstable();
        let ops = ns.len() as f64;
        let mean = ns.iter().sum::<u64>() as f64 / ops;
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            percentile(&ns, 50.0) as f64 / 1e3,
            mean / 1e3,
            percentile(&ns, 99.0) as f64 / 1e3,
            client.as_secs_f64() * 1e6 / ops,
            server * 1e6 / ops
        );
    }
}
