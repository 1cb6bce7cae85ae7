//! The fleet tier, end to end: several processes share one memoized async function through
//! Redis, so that the whole fleet asks the upstream API once per key.
//!
//! The parent starts a `redis-server` (or uses `--redis-url`), a mock of OpenAI's embeddings
//! API that counts its calls per input, and `--workers` copies of itself (`--worker INDEX`,
//! see [`worker`]'s protocol). Each worker asks for the embeddings of the same `--keys` API
//! keys from `--tasks` concurrent tasks, through [`embedding`]. The parent checks every value
//! against the mock's deterministic embedding, counts the upstream calls, looks at what Redis
//! holds, and has one worker invalidate a key that every worker's L1 must then drop.
//!
//! With `--chaos` it kills its Redis (SIGKILL) once a worker holds a quarter of its values and
//! starts it again, empty, on the same port: every call still succeeds (the tier degrades to
//! each process's own cache and recovers by itself), at the cost of some keys built more than
//! once.

mod redis_process;
pub mod worker;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use cache_core::redis::RedisTier;

pub use self::redis_process::{INSTALL_HINT, RedisProcess};
use crate::CannotRun;
use crate::mock_embeddings::{MockEmbeddings, embedding_of, fnv1a};

/// The example's flags.
#[derive(clap::Parser)]
#[command(
    name = "fleet",
    about = "Worker processes share one memoized async fn (an OpenAI embedding per API key) \
             through Redis: one upstream call per key for the whole fleet, fleet-wide \
             invalidation, and calls that keep working when Redis dies (--chaos). Starts its \
             own redis-server and a mock OpenAI server: no network, no real key."
)]
pub struct Args {
    /// Worker processes to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub workers: u16,
    /// API keys (`sk-...`, made up) whose embeddings every worker asks for.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub keys: u16,
    /// Concurrent tasks in each worker.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub tasks: u16,
    /// A Redis to use instead of starting a redis-server: the run's keys are under a namespace
    /// of their own and deleted at the end.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Kill the example's Redis (SIGKILL) in the middle of the run and restart it, empty.
    #[arg(long)]
    pub chaos: bool,
    /// Run as worker INDEX of a fleet (started by the example itself).
    #[arg(long, hide = true, value_name = "INDEX")]
    pub worker: Option<u16>,
    /// The mock OpenAI server's base URL (for a worker).
    #[arg(long, hide = true, value_name = "URL")]
    pub mock_url: Option<String>,
    /// The namespace of the run's Redis keys (for a worker).
    #[arg(long, hide = true)]
    pub namespace: Option<String>,
}

/// The example's `main`: the parent, or a worker when started with `--worker`.
pub fn main() -> std::process::ExitCode {
    let args = <Args as clap::Parser>::parse();
    match args.worker {
        Some(index) => worker::main(&args, index),
        None => crate::exit_code("fleet", run(&args, &mut std::io::stdout())),
    }
}

// ---------------------------------------------------------------------------------------------
// The memoized function: what a service of the fleet would write.

static TIER: OnceLock<RedisTier> = OnceLock::new();
static MOCK_API_BASE: OnceLock<String> = OnceLock::new();
/// Constructor runs in this process: the upstream calls it made.
static BUILT: AtomicUsize = AtomicUsize::new(0);

/// The Redis tier the fleet shares its embeddings through. A worker sets it from its flags
/// before its first call.
///
/// # Panics
///
/// If called before that (in the parent, say).
pub fn tier() -> RedisTier {
    TIER.get()
        .cloned()
        .expect("a worker sets its tier before its first call")
}

/// The embedding of `api_key`'s text from the (mock) OpenAI embeddings API, asked with that
/// key. Built once per key in the whole fleet and kept 10 minutes: in this process, in Redis,
/// and so in every other process. An `Err` is neither cached nor shared. `cache = embeddings`
/// also generates `embeddings()`, the handle on its cache (stats, `remove_async`).
#[cache_core::ttl_cached(ttl = "10m", shared = tier(), cache = embeddings)]
pub async fn embedding(api_key: &str) -> Result<Vec<f32>, String> {
    BUILT.fetch_add(1, SeqCst);
    let client = Client::build(http_client(), openai_config(api_key));
    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(api_key)
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .embeddings()
        .create(request)
        .await
        .map_err(|e| format!("the embeddings API failed: {e}"))?;
    let first = response.data.into_iter().next();
    first
        .map(|data| data.embedding)
        .ok_or_else(|| "the embeddings API returned no embedding".to_owned())
}

/// One HTTP client (one connection pool, one TLS setup) under every key's OpenAI client.
fn http_client() -> reqwest::Client {
    static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    });
    HTTP.clone()
}

fn openai_config(api_key: &str) -> OpenAIConfig {
    // Everything is set explicitly: `OpenAIConfig::new()` would read OPENAI_* variables.
    OpenAIConfig::new()
        .with_api_key(api_key)
        .with_api_base(
            MOCK_API_BASE
                .get()
                .map_or("http://127.0.0.1:9/v1", String::as_str),
        )
        .with_org_id("")
        .with_project_id("")
}

// ---------------------------------------------------------------------------------------------
// Keys and values.

/// An API key: a secret. `Debug` and `Display` show it masked (`sk-…` and its last 4
/// characters); only [`expose`](Self::expose) gives the key itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key itself, to call the API with. Never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = self.0.len().saturating_sub(4);
        write!(f, "sk-…{}", self.0.get(tail..).unwrap_or_default())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({self})")
    }
}

/// The run's API keys: `count` made-up secrets shaped like OpenAI project keys, the same in
/// every process.
pub fn api_keys(count: usize) -> Vec<ApiKey> {
    (0..count)
        .map(|i| {
            let hex: String = (0..3)
                .map(|part| format!("{:016x}", fnv1a(format!("fleet key {i}.{part}").as_bytes())))
                .collect();
            ApiKey(format!("sk-proj-{hex}"))
        })
        .collect()
}

/// A value's fingerprint, the same in every process: the parent checks workers' values by it.
pub fn value_digest(value: &[f32]) -> u64 {
    let bytes: Vec<u8> = value
        .iter()
        .flat_map(|x| x.to_bits().to_le_bytes())
        .collect();
    fnv1a(&bytes)
}

/// The fingerprint of a whole list of value digests.
pub fn checksum(digests: &[u64]) -> u64 {
    let bytes: Vec<u8> = digests.iter().flat_map(|d| d.to_le_bytes()).collect();
    fnv1a(&bytes)
}

// ---------------------------------------------------------------------------------------------
// The parent.

/// How long each upstream call takes: long enough for calls to overlap.
const UPSTREAM_DELAY: Duration = Duration::from_millis(50);
/// How long `--chaos` keeps Redis dead before starting it again.
const OUTAGE: Duration = Duration::from_millis(200);
/// How long a worker may take to start.
const READY: Duration = Duration::from_secs(30);
/// How long the fetch phase may take.
const FETCH: Duration = Duration::from_secs(60);
/// How long any other step may take.
const STEP: Duration = Duration::from_secs(20);
/// How long the parent waits for every worker's backplane to be subscribed.
const SUBSCRIBED: Duration = Duration::from_secs(10);

/// What a run found, for tests. It holds no key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Worker processes.
    pub workers: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Calls the mock upstream API answered, over all keys and workers.
    pub upstream_calls: usize,
    /// Workers whose L1 dropped the invalidated key.
    pub invalidation_seen: usize,
    /// Values of the run that Redis held after the fetch.
    pub redis_values: usize,
    /// With `--chaos`, the line that explains the extra upstream calls.
    pub chaos: Option<String>,
}

/// One worker's `done` answer.
struct Fetched {
    values: usize,
    ms: u64,
    slowest: u64,
    built: u64,
    fleet: u64,
    hits: u64,
    mismatched: usize,
    checksum: u64,
    digests: Vec<u64>,
}

/// When `--chaos` struck.
struct Outage {
    worker: usize,
    values: usize,
    at: Duration,
    down: Duration,
}

/// Runs the example, writing its report to `out`.
///
/// # Errors
///
/// [`CannotRun`] (exit code 2) without `redis-server`, with `--chaos` and `--redis-url`, or
/// when the given Redis does not answer; any other error (exit code 1) when a step fails or an
/// invariant does not hold, after the report.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Report, Box<dyn Error>> {
    if args.chaos && args.redis_url.is_some() {
        return Err(CannotRun(
            "--chaos kills and restarts a Redis the example started itself: it cannot be used \
             with --redis-url"
                .into(),
        )
        .into());
    }
    let (workers, n) = (usize::from(args.workers), usize::from(args.keys));
    let keys = api_keys(n);
    let namespace = format!("fleet-{}", std::process::id());

    let mut server = match &args.redis_url {
        Some(_) => None,
        None => Some(RedisProcess::start()?),
    };
    let redis_url = match (&server, &args.redis_url) {
        (Some(server), _) => server.url(),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("a server was started"),
    };
    let redis = redis::Client::open(redis_url.as_str())
        // The kind only: the error can quote the URL, which can hold a password.
        .map_err(|e| CannotRun(format!("--redis-url is not a Redis URL ({:?})", e.kind())))?;
    connect(&redis).map_err(|e| {
        CannotRun(format!(
            "cannot reach Redis at --redis-url ({:?})",
            e.kind()
        ))
    })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mock = runtime.block_on(MockEmbeddings::start(UPSTREAM_DELAY))?;
    if let Some(server) = &server {
        // Interrupted: no `Drop` runs, so the server is killed here. Workers exit when their
        // stdin closes with this process.
        let reap = server.reaper();
        runtime.spawn(async move {
            interrupted().await;
            reap();
            std::process::exit(130);
        });
    }

    writeln!(
        out,
        "fleet: {workers} worker processes, {n} API keys, {} tasks per worker, one memoized fn: \
         embedding(api_key)",
        args.tasks
    )?;
    match &server {
        Some(server) => writeln!(
            out,
            "   Redis: redis-server on 127.0.0.1:{} (a temporary directory, no persistence)",
            server.port()
        )?,
        None => writeln!(out, "   Redis: --redis-url, namespace {namespace}")?,
    }
    writeln!(
        out,
        "   upstream: mock OpenAI embeddings API at {}, {} ms per call",
        mock.api_base(),
        UPSTREAM_DELAY.as_millis()
    )?;

    let exe = std::env::current_exe()?;
    let mut fleet = Fleet::spawn(&exe, args, &redis_url, mock.api_base(), &namespace)?;
    for i in 0..workers {
        fleet.answer(i, "ready", READY)?;
    }

    // 1. Every worker asks for every key at once.
    writeln!(
        out,
        "\n1. every worker asks for all {n} embeddings at once, from {} tasks",
        args.tasks
    )?;
    fleet.send_all("fetch")?;
    let fetch_start = Instant::now();
    let deadline = fetch_start + FETCH;
    let mut fetched: Vec<Option<Fetched>> = (0..workers).map(|_| None).collect();
    let mut outage = None;
    while fetched.iter().any(Option::is_none) {
        let (i, line) = fleet.next_any(deadline)?;
        let (word, fields) = parse(&line);
        match word {
            "progress" if args.chaos && outage.is_none() => {
                let server = server.as_mut().expect("--chaos runs its own Redis");
                let at = fetch_start.elapsed();
                server.kill();
                let killed = Instant::now();
                std::thread::sleep(OUTAGE);
                server.restart()?;
                outage = Some(Outage {
                    worker: i,
                    values: number(&fields, "values")?,
                    at,
                    down: killed.elapsed(),
                });
            }
            "progress" => {}
            "done" => fetched[i] = Some(Fetched::parse(&fields)?),
            _ => return Err(fleet.unexpected(i, &line)),
        }
    }
    let fetched: Vec<Fetched> = fetched.into_iter().flatten().collect();

    let mut failures = Vec::new();
    let expected: Vec<u64> = keys
        .iter()
        .map(|key| value_digest(&embedding_of(key.expose())))
        .collect();
    writeln!(
        out,
        "   {:<8} {:>7} {:>9} {:>13} {:>11} {:>11} {:>9}",
        "worker", "values", "time", "slowest call", "built here", "from fleet", "L1 hits"
    )?;
    for (i, done) in fetched.iter().enumerate() {
        writeln!(
            out,
            "   {:<8} {:>7} {:>6} ms {:>10} ms {:>11} {:>11} {:>9}",
            i, done.values, done.ms, done.slowest, done.built, done.fleet, done.hits
        )?;
        if done.values != n || done.digests.len() != n {
            failures.push(format!("worker {i} holds {} of {n} values", done.values));
        }
        if done.mismatched > 0 {
            failures.push(format!(
                "worker {i}'s tasks got different values for {} keys",
                done.mismatched
            ));
        }
        let wrong: Vec<usize> = (0..n)
            .filter(|&k| done.digests.get(k) != Some(&expected[k]))
            .collect();
        if let Some(&first) = wrong.first() {
            failures.push(format!(
                "worker {i}: {} values differ from the mock's embedding of their input (the \
                 first: key #{first}, {})",
                wrong.len(),
                keys[first]
            ));
        } else if done.checksum != checksum(&expected) {
            failures.push(format!("worker {i}: its checksum is not the mock's"));
        }
    }
    writeln!(
        out,
        "   built here: upstream calls this worker made; from fleet: values another worker \
         built, read from Redis"
    )?;
    let values_ok = failures.is_empty();
    writeln!(
        out,
        "   every value equals the mock's embedding for its input: {}",
        yes(values_ok)
    )?;
    if let Some(outage) = &outage {
        writeln!(
            out,
            "   chaos: Redis killed (SIGKILL) {} ms into the fetch, when worker {} had {} of {n} \
             values; restarted, empty, {} ms later",
            outage.at.as_millis(),
            outage.worker,
            outage.values,
            outage.down.as_millis()
        )?;
    }

    // 2. What Redis holds.
    let pattern = format!("{namespace}:*");
    let redis_keys = scan(&redis, &pattern)?;
    let values: Vec<&String> = redis_keys
        .iter()
        .filter(|key| !key.ends_with(":lease"))
        .collect();
    let leaking: Vec<&String> = redis_keys
        .iter()
        .filter(|key| key.contains("sk-"))
        .collect();
    if !leaking.is_empty() {
        failures.push(format!(
            "{} Redis keys contain `sk-`: raw keys reached Redis",
            leaking.len()
        ));
    }
    writeln!(
        out,
        "\n2. Redis holds {} values of this run (namespace {namespace}); no Redis key contains \
         `sk-`: {}",
        values.len(),
        yes(leaking.is_empty())
    )?;
    if let Some(sample) = values.iter().min() {
        writeln!(
            out,
            "   e.g. {sample}: a keyed hash of the API key, not the key"
        )?;
    }

    // 3. Invalidation. First every backplane must be listening (after --chaos, each one
    // reconnects, and clears its L1 when it does), and every worker must hold the key.
    let waited = Instant::now();
    let listening = wait_for_subscribers(&redis, &namespace, workers)?;
    let target = n / 2;
    let key = &keys[target];
    fleet.send_all(&format!("warm {target}"))?;
    let mut held = 0;
    for i in 0..workers {
        let line = fleet.answer(i, "warm", STEP)?;
        let (_, fields) = parse(&line);
        let digest = u64::from_str_radix(field(&fields, "digest")?, 16)?;
        if digest != expected[target] {
            failures.push(format!(
                "worker {i}: {key}'s value differs from the mock's embedding"
            ));
        }
        held += usize::from(field(&fields, "held")? == "true");
    }
    fleet.send(0, &format!("invalidate {target}"))?;
    let removed = fleet.answer(0, "invalidated", STEP)?;
    let (_, removed) = parse(&removed);
    writeln!(
        out,
        "\n3. worker 0 invalidates {key}: remove_async took {} attempt(s), {} ms; before it, \
         {held} of {workers} workers held the key",
        field(&removed, "attempts")?,
        field(&removed, "ms")?,
    )?;
    if listening < workers {
        writeln!(
            out,
            "   (only {listening} of {workers} backplane subscriptions were seen in Redis after \
             {} ms)",
            waited.elapsed().as_millis()
        )?;
    }
    if held < workers {
        failures.push(format!(
            "only {held} of {workers} workers held the key before the invalidation"
        ));
    }
    fleet.send_all(&format!("check {target}"))?;
    let mut seen = 0;
    for i in 0..workers {
        let line = fleet.next_from(i, Instant::now() + STEP)?;
        let (word, fields) = parse(&line);
        match word {
            "dropped" => {
                seen += 1;
                writeln!(
                    out,
                    "   worker {i}: dropped from its L1 after {} ms",
                    field(&fields, "ms")?
                )?;
            }
            "kept" => writeln!(out, "   worker {i}: still holds it after 2 s")?,
            _ => return Err(fleet.unexpected(i, &line)),
        }
    }
    if seen < workers {
        failures.push(format!("invalidation seen by {seen} of {workers} workers"));
    }
    fleet.quit();

    // 4. The upstream's bill.
    let upstream = mock.total_calls();
    let mut spread: BTreeMap<usize, usize> = BTreeMap::new();
    for key in &keys {
        *spread.entry(mock.calls_for(key.expose())).or_default() += 1;
    }
    let spread: Vec<String> = spread
        .iter()
        .map(|(calls, count)| {
            format!(
                "{count} key{} × {calls} call{}",
                if *count == 1 { "" } else { "s" },
                if *calls == 1 { "" } else { "s" }
            )
        })
        .collect();
    writeln!(out, "\n4. upstream calls per key: {}", spread.join(", "))?;

    let chaos = match &outage {
        Some(outage) => {
            let extra = upstream.saturating_sub(n);
            let line = format!(
                "chaos: Redis was killed {} ms into the fetch and came back, empty, {} ms later; \
                 {extra} extra upstream call{}: workers that could not reach it built keys \
                 themselves, then each emptied its L1 when its backplane reconnected (it may \
                 have missed invalidations), and keys lost with Redis were built once more",
                outage.at.as_millis(),
                outage.down.as_millis(),
                if extra == 1 { "" } else { "s" }
            );
            writeln!(out, "{line}")?;
            Some(line)
        }
        None if args.chaos => {
            failures.push("--chaos: no worker reported progress, Redis was not killed".into());
            None
        }
        None => {
            if upstream != n {
                failures.push(format!(
                    "{upstream} upstream calls for {n} keys: the fleet built some keys more \
                     than once (Redis was unavailable or slower than the tier's timeout)"
                ));
            }
            None
        }
    };
    if args.redis_url.is_some() {
        // Not our Redis: leave nothing behind.
        unlink(&redis, &pattern)?;
    }
    writeln!(
        out,
        "upstream calls: {upstream} for {n} keys across {workers} workers"
    )?;
    writeln!(out, "invalidation seen by {seen} of {workers} workers")?;
    out.flush()?;

    if !failures.is_empty() {
        return Err(format!("invariant failed: {}", failures.join("; ")).into());
    }
    Ok(Report {
        workers,
        keys: n,
        upstream_calls: upstream,
        invalidation_seen: seen,
        redis_values: values.len(),
        chaos,
    })
}

impl Fetched {
    fn parse(fields: &HashMap<&str, &str>) -> Result<Self, Box<dyn Error>> {
        let digests = field(fields, "digests")?
            .split(',')
            .filter(|d| !d.is_empty())
            .map(|d| u64::from_str_radix(d, 16))
            .collect::<Result<_, _>>()?;
        Ok(Fetched {
            values: number(fields, "values")?,
            ms: number(fields, "ms")?,
            slowest: number(fields, "slowest")?,
            built: number(fields, "built")?,
            fleet: number(fields, "fleet")?,
            hits: number(fields, "hits")?,
            mismatched: number(fields, "mismatched")?,
            checksum: u64::from_str_radix(field(fields, "checksum")?, 16)?,
            digests,
        })
    }
}

/// A protocol line's first word and its `name=value` fields.
fn parse(line: &str) -> (&str, HashMap<&str, &str>) {
    let mut words = line.split_whitespace();
    let word = words.next().unwrap_or_default();
    (word, words.filter_map(|w| w.split_once('=')).collect())
}

fn field<'a>(fields: &HashMap<&str, &'a str>, name: &str) -> Result<&'a str, Box<dyn Error>> {
    fields
        .get(name)
        .copied()
        .ok_or_else(|| format!("a worker's answer lacks {name}=").into())
}

fn number<T: std::str::FromStr>(
    fields: &HashMap<&str, &str>,
    name: &str,
) -> Result<T, Box<dyn Error>>
where
    T::Err: Error + 'static,
{
    Ok(field(fields, name)?.parse()?)
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Resolves on Ctrl-C, or on SIGTERM where there are signals.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

// ---------------------------------------------------------------------------------------------
// Looking at Redis from the parent.

fn connect(redis: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let conn = redis.get_connection_with_timeout(Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(conn)
}

/// Every key matching `pattern`.
fn scan(redis: &redis::Client, pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut conn = connect(redis)?;
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Deletes every key matching `pattern`.
fn unlink(redis: &redis::Client, pattern: &str) -> redis::RedisResult<()> {
    let keys = scan(redis, pattern)?;
    let mut conn = connect(redis)?;
    for batch in keys.chunks(500) {
        redis::cmd("UNLINK").arg(batch).query::<()>(&mut conn)?;
    }
    Ok(())
}

/// Waits (a bounded time) until Redis counts `workers` subscriptions to the channels of
/// `namespace`: every worker's backplane listens. Returns how many it saw.
fn wait_for_subscribers(
    redis: &redis::Client,
    namespace: &str,
    workers: usize,
) -> Result<usize, Box<dyn Error>> {
    let deadline = Instant::now() + SUBSCRIBED;
    loop {
        let seen = subscribers(redis, namespace).unwrap_or(0);
        if seen >= workers || Instant::now() > deadline {
            return Ok(seen);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn subscribers(redis: &redis::Client, namespace: &str) -> redis::RedisResult<usize> {
    let mut conn = connect(redis)?;
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg(format!("{namespace}:*"))
        .query(&mut conn)?;
    if channels.is_empty() {
        return Ok(0);
    }
    // Channel, count, channel, count, ...
    let counts: Vec<String> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channels)
        .query(&mut conn)?;
    Ok(counts
        .iter()
        .skip(1)
        .step_by(2)
        .filter_map(|count| count.parse::<usize>().ok())
        .sum())
}

// ---------------------------------------------------------------------------------------------
// The workers, from the parent's side.

/// The worker processes and their answers. Dropping it closes their stdin (they exit) and
/// kills any that has not exited within seconds.
struct Fleet {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    /// Every worker's lines, in arrival order; `None` when its stdout closed.
    inbox: Receiver<(usize, Option<String>)>,
    /// Lines read while waiting for another worker's.
    pending: Vec<VecDeque<Option<String>>>,
}

impl Fleet {
    fn spawn(
        exe: &std::path::Path,
        args: &Args,
        redis_url: &str,
        mock_url: &str,
        namespace: &str,
    ) -> Result<Self, Box<dyn Error>> {
        let (tx, inbox) = mpsc::channel();
        let mut fleet = Fleet {
            children: Vec::new(),
            stdins: Vec::new(),
            inbox,
            pending: Vec::new(),
        };
        for index in 0..args.workers {
            let mut child = Command::new(exe)
                .arg("--worker")
                .arg(index.to_string())
                .args(["--keys", &args.keys.to_string()])
                .args(["--tasks", &args.tasks.to_string()])
                .args(["--redis-url", redis_url, "--mock-url", mock_url])
                .args(["--namespace", namespace])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start worker {index}: {e}"))?;
            let stdout = child.stdout.take().expect("piped");
            fleet.stdins.push(child.stdin.take());
            fleet.children.push(child);
            fleet.pending.push(VecDeque::new());
            let tx = tx.clone();
            let i = usize::from(index);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    match line {
                        Ok(line) => {
                            if tx.send((i, Some(line))).is_err() {
                                return;
                            }
                        }
                        Err(_) => break,
                    }
                }
                let _ = tx.send((i, None));
            });
        }
        Ok(fleet)
    }

    fn send(&mut self, i: usize, line: &str) -> Result<(), Box<dyn Error>> {
        let stdin = self.stdins[i]
            .as_mut()
            .ok_or("the worker's stdin is closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    fn send_all(&mut self, line: &str) -> Result<(), Box<dyn Error>> {
        (0..self.children.len()).try_for_each(|i| self.send(i, line))
    }

    /// The next line of any worker.
    fn next_any(&mut self, deadline: Instant) -> Result<(usize, String), Box<dyn Error>> {
        if let Some(i) = self.pending.iter().position(|q| !q.is_empty()) {
            let line = self.pending[i].pop_front().expect("not empty");
            return Ok((i, self.line_or_exit(i, line)?));
        }
        let (i, line) = self.receive(deadline)?;
        Ok((i, self.line_or_exit(i, line)?))
    }

    /// The next line of worker `i`.
    fn next_from(&mut self, i: usize, deadline: Instant) -> Result<String, Box<dyn Error>> {
        loop {
            if let Some(line) = self.pending[i].pop_front() {
                return self.line_or_exit(i, line);
            }
            let (from, line) = self.receive(deadline)?;
            if from == i {
                return self.line_or_exit(i, line);
            }
            self.pending[from].push_back(line);
        }
    }

    /// Worker `i`'s next answer, which must start with `word` (parse its fields with
    /// [`parse`]).
    fn answer(
        &mut self,
        i: usize,
        word: &str,
        patience: Duration,
    ) -> Result<String, Box<dyn Error>> {
        let line = self.next_from(i, Instant::now() + patience)?;
        if parse(&line).0 != word {
            return Err(self.unexpected(i, &line));
        }
        Ok(line)
    }

    fn receive(&self, deadline: Instant) -> Result<(usize, Option<String>), Box<dyn Error>> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.inbox.recv_timeout(left).map_err(|e| match e {
            RecvTimeoutError::Timeout => "a worker did not answer in time".into(),
            RecvTimeoutError::Disconnected => "every worker's output closed".into(),
        })
    }

    fn line_or_exit(&mut self, i: usize, line: Option<String>) -> Result<String, Box<dyn Error>> {
        line.ok_or_else(|| {
            let status = self.children[i].wait().map(|s| s.to_string());
            format!(
                "worker {i} exited unexpectedly ({})",
                status.unwrap_or_else(|e| e.to_string())
            )
            .into()
        })
    }

    fn unexpected(&self, i: usize, line: &str) -> Box<dyn Error> {
        match line.strip_prefix("error ") {
            Some(error) => format!("worker {i}: {error}").into(),
            None => format!("worker {i} answered {line:?}, unexpected here").into(),
        }
    }

    /// Asks every worker to exit, and waits a little for them.
    fn quit(&mut self) {
        for i in 0..self.children.len() {
            let _ = self.send(i, "quit");
        }
        self.stop();
    }

    fn stop(&mut self) {
        self.stdins.iter_mut().for_each(|stdin| drop(stdin.take()));
        let deadline = Instant::now() + Duration::from_secs(3);
        for child in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}
