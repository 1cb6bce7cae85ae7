//! A worker process: one process of the fleet. The parent starts it with `--worker INDEX` and
//! drives it over stdin and stdout, one line each way per step:
//!
//! | parent sends   | the worker                                             | and answers |
//! | -------------- | ------------------------------------------------------ | ----------- |
//! | (start)        | builds its tier and map                                | `ready` |
//! | `fetch`        | asks for every key's embedding from `--tasks` tasks    | `progress values=N` once, when it holds a quarter of them; then `done values=N ms=T slowest=T built=B fleet=F hits=H mismatched=M checksum=C digests=D,...` |
//! | `warm I`       | asks for key I's embedding once more                   | `warm held=BOOL digest=D` |
//! | `invalidate I` | removes key I fleet-wide (`remove_async`, retried while Redis is unavailable) | `invalidated attempts=N ms=T` |
//! | `check I`      | watches its L1 for up to 2 s until key I is gone        | `dropped ms=T` or `kept` |
//! | `quit`, or EOF | exits                                                  | |
//!
//! Anything that goes wrong is answered `error MESSAGE` (never with a key in it). Digests are
//! [`value_digest`](super::value_digest)s, so the parent checks values without seeing them.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_core::redis::RedisTier;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{ApiKey, Args, BUILT, MOCK_API_BASE, TIER, api_keys, embedding, embeddings};

/// How long `check` watches for the backplane's invalidation.
const CHECK_PATIENCE: Duration = Duration::from_secs(2);
/// How long `invalidate` retries while Redis is unavailable (after a chaos restart, say).
const INVALIDATE_PATIENCE: Duration = Duration::from_secs(10);

/// Runs a worker until its stdin closes; its exit code.
pub fn main(args: &Args, index: u16) -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(serve(args, index)),
        Err(error) => Err(error.to_string()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fleet worker {index}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args, index: u16) -> Result<(), String> {
    let (Some(redis_url), Some(mock_url), Some(namespace)) =
        (&args.redis_url, &args.mock_url, &args.namespace)
    else {
        return Err("a worker needs --redis-url, --mock-url and --namespace".into());
    };
    let tier = RedisTier::new(redis_url)
        .map_err(|e| e.to_string())?
        .namespace(namespace.as_str())
        // Generous: the demo may share its machine with builds. A real fleet keeps the 250 ms
        // default, so that a slow Redis costs little.
        .timeout(Duration::from_secs(2));
    let _ = TIER.set(tier);
    let _ = MOCK_API_BASE.set(mock_url.clone());
    let keys: Arc<Vec<ApiKey>> = Arc::new(api_keys(usize::from(args.keys)));
    say("ready");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let key = words
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| keys.get(i));
        let answer = match (command, key) {
            ("fetch", _) => fetch(&keys, usize::from(args.tasks)).await,
            ("warm", Some(key)) => warm(key).await,
            ("invalidate", Some(key)) => invalidate(key).await,
            ("check", Some(key)) => Ok(check(key).await),
            ("quit", _) => return Ok(()),
            _ => Err(format!("worker {index}: unknown command {command:?}")),
        };
        match answer {
            Ok(answer) => say(&answer),
            Err(error) => say(&format!("error {error}")),
        }
    }
    Ok(())
}

/// Writes one protocol line to stdout, at once.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Every key's embedding, asked for by `tasks` tasks at once, each going through all keys from
/// its own starting point (the same points in every worker, so the fleet contends for keys).
async fn fetch(keys: &Arc<Vec<ApiKey>>, tasks: usize) -> Result<String, String> {
    let n = keys.len();
    let seen: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let distinct = Arc::new(AtomicUsize::new(0));
    let quarter = (n / 4).max(1);
    let built = BUILT.load(SeqCst);
    let before = embeddings().stats();
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let (keys, seen, distinct) = (Arc::clone(keys), Arc::clone(&seen), Arc::clone(&distinct));
        set.spawn(async move {
            let mut values = vec![Vec::new(); n];
            let mut slowest = Duration::ZERO;
            for step in 0..n {
                let i = (step + task * n / tasks) % n;
                let asked = Instant::now();
                values[i] = embedding(keys[i].expose()).await?;
                slowest = slowest.max(asked.elapsed());
                if !seen[i].swap(true, SeqCst) && distinct.fetch_add(1, SeqCst) + 1 == quarter {
                    say(&format!("progress values={quarter}"));
                }
            }
            Ok::<_, String>((values, slowest))
        });
    }
    let mut answers = Vec::with_capacity(tasks);
    let mut slowest = Duration::ZERO;
    while let Some(joined) = set.join_next().await {
        let (values, slow) = joined.map_err(|e| format!("a task failed: {e}"))??;
        answers.push(values);
        slowest = slowest.max(slow);
    }
    let ms = start.elapsed().as_millis();
    let first = &answers[0];
    // Every task of this worker must have got the same value for a key.
    let mismatched = (0..n)
        .filter(|&i| answers.iter().any(|values| values[i] != first[i]))
        .count();
    let digests: Vec<u64> = first
        .iter()
        .map(|value| super::value_digest(value))
        .collect();
    let stats = embeddings().stats();
    let built = BUILT.load(SeqCst) - built;
    // A miss that did not wait on another task here ran the fetch: built here, or taken from
    // the fleet (Redis, or the value another process built meanwhile).
    let runs = (stats.misses - before.misses).saturating_sub(stats.coalesced - before.coalesced);
    let fleet = runs.saturating_sub(built as u64);
    Ok(format!(
        "done values={} ms={ms} slowest={} built={built} fleet={fleet} hits={} \
         mismatched={mismatched} checksum={:016x} digests={}",
        first.iter().filter(|value| !value.is_empty()).count(),
        slowest.as_millis(),
        stats.hits - before.hits,
        super::checksum(&digests),
        digests
            .iter()
            .map(|d| format!("{d:016x}"))
            .collect::<Vec<_>>()
            .join(",")
    ))
}

async fn warm(key: &ApiKey) -> Result<String, String> {
    let value = embedding(key.expose()).await?;
    Ok(format!(
        "warm held={} digest={:016x}",
        embeddings().contains_key(key.expose()),
        super::value_digest(&value)
    ))
}

/// Removes the key fleet-wide: from this L1, from Redis, and from every other L1 through the
/// backplane. Retried while Redis is unavailable, for a bounded time.
async fn invalidate(key: &ApiKey) -> Result<String, String> {
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match embeddings().remove_async(key.expose()).await {
            Ok(()) => {
                return Ok(format!(
                    "invalidated attempts={attempts} ms={}",
                    start.elapsed().as_millis()
                ));
            }
            Err(error) if start.elapsed() > INVALIDATE_PATIENCE => {
                return Err(format!("remove_async failed {attempts} times: {error}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Whether this process's L1 let go of the key within [`CHECK_PATIENCE`].
async fn check(key: &ApiKey) -> String {
    let start = Instant::now();
    while start.elapsed() < CHECK_PATIENCE {
        if !embeddings().contains_key(key.expose()) {
            return format!("dropped ms={}", start.elapsed().as_millis());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    "kept".to_owned()
}
