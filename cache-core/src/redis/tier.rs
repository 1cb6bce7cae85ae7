//! `RedisTier`: where the fleet's values live, and the small runtime that talks to it.
//!
//! The connections live on the tier's own one-thread Tokio runtime, started at the first call
//! that needs Redis: they outlive the runtimes of the callers (each `#[tokio::test]` has its
//! own), and a memoized function can be awaited from any executor. A read the caller awaits
//! (and may drop) is polled in the caller's own task, inside that runtime's context, so that
//! the connection's timers and reconnections land there: no task per read. Writes that must
//! finish whatever the caller does run as tasks on the runtime. Every operation is bounded by
//! the tier's timeout; a failure opens the circuit breaker and the call goes on without Redis.
//! An operation that times out also gives its connection up (see [`Link`]): the next one, the
//! breaker's probe, goes on a new connection, since one that went silent without closing is
//! never reconnected by redis-rs.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, RedisError, RedisFuture, RedisResult, Value};

use super::backplane::Backplane;
use super::breaker::Breaker;
use super::naming::Naming;

/// A Redis server or cluster that memoized functions share across processes (see the
/// [module docs](crate::redis)).
///
/// Cheap to clone: clones share connections, the circuit breaker and the backplane. Settings
/// (`namespace`, `version`, `secret`, `timeout`, `lease`) make a new tier, so set them before
/// the first use.
///
/// ```
/// use cache_core::redis::RedisTier;
///
/// // No I/O here: the tier connects at its first use and reconnects by itself.
/// let tier = RedisTier::new("redis://127.0.0.1:6379/")?.namespace("billing").version(2);
/// # Ok::<(), cache_core::redis::TierError>(())
/// ```
#[derive(Clone)]
pub struct RedisTier {
    pub(crate) inner: Arc<Tier>,
}

/// Why a tier could not be made or could not do what was asked. Never quotes a key, a value
/// or the URL (which can hold a password).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TierError {
    /// The URL is not a Redis URL; the reason names what is wrong with it.
    InvalidUrl(String),
    /// Redis did not answer in time or failed; the call's local part was done.
    Unavailable,
}

impl fmt::Display for TierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TierError::InvalidUrl(reason) => write!(f, "invalid Redis URL: {reason}"),
            TierError::Unavailable => {
                f.write_str("Redis is unavailable; only this process was updated")
            }
        }
    }
}

impl std::error::Error for TierError {}

#[derive(Clone)]
struct Config {
    target: Target,
    namespace: String,
    version: u32,
    secret: Option<[u8; 32]>,
    timeout: Duration,
    lease: Duration,
}

#[derive(Clone)]
enum Target {
    Single(redis::Client),
    /// The cluster, and a client per seed node for the backplane's subscription (classic
    /// pub/sub reaches every node of a cluster).
    Cluster(Box<redis::cluster::ClusterClient>, Vec<redis::Client>),
}

pub(crate) struct Tier {
    config: Config,
    pub(crate) naming: Naming,
    pub(crate) breaker: Breaker,
    pub(crate) backplane: Arc<Backplane>,
    /// Whether a call has waited for the backplane's first subscription already.
    first_wait_over: AtomicBool,
    io: OnceLock<Option<Io>>,
}

/// The runtime and the connection, made at the first use.
struct Io {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    link: Arc<Link>,
}

impl Drop for Io {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A multiplexed connection that reconnects by itself: to one server or to a cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The tier's connection, given up for a new one when an operation on it times out.
///
/// redis-rs reconnects a connection that drops (a reset, a close), not one that stops
/// answering without closing: a NAT or a load balancer that forgot the flow, a Redis host cut
/// off or powered off, a proxy that acknowledges the bytes and sends nothing back. Every
/// command would go to it and time out, the breaker's probes too, until the kernel gave it up
/// (some 15 minutes of retransmissions) or forever, while every call went on without Redis.
/// A timeout cannot tell that from a Redis that is only slow, so any timeout gives the
/// connection up: the next operation (the breaker's probe, as the timeout opened the breaker)
/// goes on a new one. Operations already on the old one end there, each within its bound; a
/// slow Redis costs a connection per timeout of the current one, so about one per cool-down.
pub(crate) struct Link {
    target: Target,
    timeout: Duration,
    /// The connection, and how many were given up before it: an operation gives up only the
    /// connection it timed out on, so that the many that time out together (a call each when
    /// the connection went silent) make one new connection, not one each.
    current: Mutex<(Conn, u64)>,
}

impl Link {
    /// Makes the first connection (lazily connected). In the tier's runtime.
    fn new(target: &Target, timeout: Duration) -> RedisResult<Link> {
        Ok(Link {
            current: Mutex::new((connect(target, timeout)?, 0)),
            target: target.clone(),
            timeout,
        })
    }

    /// Runs `op` with the connection, bounded by `timeout`; a timeout gives the connection up.
    /// In the tier's runtime.
    pub(crate) async fn run<T, F, Fut>(&self, timeout: Duration, op: F) -> RedisResult<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let (conn, generation) = self.current.lock().clone();
        let outcome = tokio::time::timeout(timeout, op(conn)).await;
        // Ours, or redis-rs's own (a cluster's response timeout).
        let timed_out_here = match &outcome {
            Err(_) => true,
            Ok(result) => result.as_ref().is_err_and(RedisError::is_timeout),
        };
        if timed_out_here {
            self.give_up(generation);
        }
        outcome.unwrap_or_else(|_| Err(timed_out()))
    }

    /// Replaces the connection of `generation` with a new one, unless that was done already.
    fn give_up(&self, generation: u64) {
        let mut current = self.current.lock();
        if current.1 != generation {
            return;
        }
        match connect(&self.target, self.timeout) {
            Ok(conn) => *current = (conn, generation + 1),
            // Made lazily, a connection fails here only if its settings are wrong, which the
            // first one's were not: keep the old one.
            Err(error) => {
                tracing::error!(target: "cache_core::redis", kind = ?error.kind(), "redis tier: no new connection");
            }
        }
    }
}

/// A connection to `target`, made lazily (at its first command) and reconnecting by itself
/// when it drops. In the tier's runtime.
fn connect(target: &Target, timeout: Duration) -> RedisResult<Conn> {
    match target {
        Target::Single(client) => {
            // No response timeout of redis-rs's own: every operation already has the tier's
            // (`Link::run`), and a second one is a second timer to register and cancel per
            // read. redis-rs does not reconnect after a response timeout either (it is not a
            // dropped connection): `Link` does.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(None)
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
            Ok(Conn::Single(manager))
        }
        Target::Cluster(cluster, _) => {
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(timeout)
                .set_response_timeout(timeout);
            Ok(Conn::Cluster(
                cluster.get_pending_async_connection_with_config(config),
            ))
        }
    }
}

/// Whether a command failed because its connection had dropped (not because Redis refused a
/// new one): the manager is reconnecting, and the command is sent again once, on the new
/// connection.
///
/// Redis (an idle `timeout`), a proxy or a load balancer closes a connection that has been
/// quiet; on RESP2, redis-rs's manager learns it only when the next command fails. Without
/// the second try, that command's operation failed and opened the breaker while Redis was
/// up. Sending a command twice is safe for every command of the tier: reads and `PUBLISH`
/// are, `STORE` and `RENEW` check their token, and `FETCH` takes a lease that is already its
/// token's as its own.
fn dropped(error: &RedisError) -> bool {
    error.is_connection_dropped() && !error.is_connection_refusal()
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => Box::pin(async move {
                match conn.req_packed_command(cmd).await {
                    Err(error) if dropped(&error) => conn.req_packed_command(cmd).await,
                    result => result,
                }
            }),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => Box::pin(async move {
                match conn.req_packed_commands(pipeline, offset, count).await {
                    Err(error) if dropped(&error) => {
                        conn.req_packed_commands(pipeline, offset, count).await
                    }
                    result => result,
                }
            }),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The default bound on one Redis operation.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The default lease of a fleet-wide flight's leader, renewed every third of it.
const DEFAULT_LEASE: Duration = Duration::from_secs(3);
/// Bounds on the settings, so that no sum or multiple of them overflows.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_LEASE: Duration = Duration::from_secs(3600);

impl RedisTier {
    /// A tier on the Redis server at `url` (`redis://[:password@]host:port[/db]`,
    /// `rediss://` for TLS is not built in). Does no I/O.
    ///
    /// # Errors
    ///
    /// [`TierError::InvalidUrl`] if `url` is not a Redis URL.
    pub fn new(url: impl AsRef<str>) -> Result<Self, TierError> {
        let client = redis::Client::open(url.as_ref()).map_err(invalid_url)?;
        Ok(Self::from_config(Config::new(Target::Single(client))))
    }

    /// A tier on the Redis Cluster reached through any of `urls` (its seed nodes). Does no
    /// I/O.
    ///
    /// ```
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::cluster(["redis://10.0.0.1:7000/", "redis://10.0.0.2:7000/"])?;
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TierError::InvalidUrl`] if a URL is not a Redis URL, or there is none.
    pub fn cluster<I>(urls: I) -> Result<Self, TierError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        if urls.is_empty() {
            return Err(TierError::InvalidUrl(
                "a cluster needs at least one node".into(),
            ));
        }
        let seeds = urls
            .iter()
            .map(|url| redis::Client::open(url.as_str()))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(invalid_url)?;
        let cluster = redis::cluster::ClusterClient::builder(urls)
            .connection_timeout(DEFAULT_TIMEOUT)
            .response_timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(invalid_url)?;
        Ok(Self::from_config(Config::new(Target::Cluster(
            Box::new(cluster),
            seeds,
        ))))
    }

    /// The first part of every Redis key and channel of this tier (default `"cache"`): one per
    /// service sharing a Redis. Any string will do: its `{`, `}` and `%` are percent-encoded
    /// in keys, so that it never makes a Redis Cluster hash tag.
    ///
    /// Each setting returns a new tier and leaves `self` as it was, so its result must be
    /// used:
    ///
    /// ```
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?.namespace("billing");
    /// assert!(format!("{tier:?}").contains("billing"));
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    #[must_use = "a setting makes a new tier: use the tier it returns"]
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        self.with(|config| config.namespace = namespace.into())
    }

    /// The second part of every key (default 1): bump it when a value type's serialized form
    /// changes, so no process reads the old form.
    ///
    /// ```
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?.version(2);
    /// assert!(format!("{tier:?}").contains("version: 2"));
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    #[must_use = "a setting makes a new tier: use the tier it returns"]
    pub fn version(self, version: u32) -> Self {
        self.with(|config| config.version = version)
    }

    /// The key of the keyed hash that names Redis keys: give every process of the fleet the
    /// same secret (from your secret store), so that someone who can read Redis cannot even
    /// confirm a guessed key. Without it, one derived from the namespace is used.
    ///
    /// ```
    /// use cache_core::redis::RedisTier;
    ///
    /// # let secret_from_your_store = || [7u8; 32];
    /// let secret: [u8; 32] = secret_from_your_store();
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?.secret(secret);
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    #[must_use = "a setting makes a new tier: use the tier it returns"]
    pub fn secret(self, secret: [u8; 32]) -> Self {
        self.with(|config| config.secret = Some(secret))
    }

    /// The most one Redis operation may take before the call goes on without Redis (default
    /// 250 ms; kept between 1 ms and 1 minute).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?.timeout(Duration::from_millis(100));
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    #[must_use = "a setting makes a new tier: use the tier it returns"]
    pub fn timeout(self, timeout: Duration) -> Self {
        let timeout = timeout.clamp(Duration::from_millis(1), MAX_TIMEOUT);
        self.with(|config| config.timeout = timeout)
    }

    /// How long a flight's leader holds its lease unless it renews it (default 3 s, renewed
    /// every third of it while the constructor runs; kept between 30 ms and 1 hour). When a
    /// leader dies, a waiter takes over within about this long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?.lease(Duration::from_secs(10));
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    #[must_use = "a setting makes a new tier: use the tier it returns"]
    pub fn lease(self, lease: Duration) -> Self {
        let lease = lease.clamp(Duration::from_millis(30), MAX_LEASE);
        self.with(|config| config.lease = lease)
    }

    /// Whether calls skip Redis now (its circuit breaker is open after a failure).
    ///
    /// ```
    /// use cache_core::redis::RedisTier;
    ///
    /// let tier = RedisTier::new("redis://127.0.0.1:6379/")?;
    /// assert!(!tier.is_degraded()); // nothing has failed yet: it has not even connected
    /// # Ok::<(), cache_core::redis::TierError>(())
    /// ```
    #[must_use]
    pub fn is_degraded(&self) -> bool {
        self.inner.breaker.is_open()
    }

    fn with(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.inner.config.clone();
        change(&mut config);
        Self::from_config(config)
    }

    fn from_config(config: Config) -> Self {
        RedisTier {
            inner: Arc::new(Tier {
                naming: Naming::new(&config.namespace, config.version, config.secret),
                breaker: Breaker::new(&config.namespace),
                backplane: Arc::new(Backplane::default()),
                first_wait_over: AtomicBool::new(false),
                io: OnceLock::new(),
                config,
            }),
        }
    }
}

impl fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL: it can hold a password.
        let config = &self.inner.config;
        f.debug_struct("RedisTier")
            .field("namespace", &config.namespace)
            .field("version", &config.version)
            .field("cluster", &matches!(config.target, Target::Cluster(..)))
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

fn timed_out() -> RedisError {
    RedisError::from((redis::ErrorKind::Io, "timed out"))
}

fn invalid_url(error: RedisError) -> TierError {
    // The kind only: the detail can quote the URL.
    TierError::InvalidUrl(format!("{:?}", error.kind()))
}

impl Config {
    fn new(target: Target) -> Self {
        Config {
            target,
            namespace: "cache".into(),
            version: 1,
            secret: None,
            timeout: DEFAULT_TIMEOUT,
            lease: DEFAULT_LEASE,
        }
    }
}

impl Tier {
    pub(crate) fn lease(&self) -> Duration {
        self.config.lease
    }

    /// Runs `op` with a connection in the caller's task, bounded by the timeout, and tells the
    /// breaker how it went. `Err` means the call should go on without Redis.
    ///
    /// For operations that may stop wherever the caller drops them: a read, or a script whose
    /// effects are undone by what it owns when dropped (a lease's claim). Polling it here
    /// spares a task, and its two wake-ups, per operation; each poll enters the tier's
    /// runtime, so that the timeout and redis-rs's own timers and reconnections (which need a
    /// Tokio context, and must outlive the caller's runtime) are the tier's.
    pub(crate) async fn run_here<T, F, Fut>(&self, op: F) -> Result<T, TierError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let io = self.io().ok_or(TierError::Unavailable)?;
        let handle = &io.handle;
        let mut bounded = pin!(io.link.run(self.config.timeout, op));
        let result = poll_fn(|cx| {
            let _entered = handle.enter();
            bounded.as_mut().poll(cx)
        })
        .await;
        self.account(result)
    }

    /// Runs `op` on the tier's runtime with a connection, bounded by the timeout, and tells the
    /// breaker how it went: for a write that must finish even if the caller is dropped. `Err`
    /// means the call should go on without Redis.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, TierError>
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.run_within(self.config.timeout, op).await
    }

    /// [`run`](Self::run) with another bound, for operations made of many commands.
    pub(crate) async fn run_within<T, F, Fut>(
        &self,
        timeout: Duration,
        op: F,
    ) -> Result<T, TierError>
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let io = self.io().ok_or(TierError::Unavailable)?;
        let link = Arc::clone(&io.link);
        let task = io.handle.spawn(async move { link.run(timeout, op).await });
        match task.await {
            Ok(result) => self.account(result),
            // The runtime is shutting down: the tier is being dropped.
            Err(_) => Err(TierError::Unavailable),
        }
    }

    /// Tells the breaker how an operation went.
    fn account<T>(&self, result: RedisResult<T>) -> Result<T, TierError> {
        match result {
            Ok(value) => {
                self.breaker.success();
                Ok(value)
            }
            Err(error) => {
                self.breaker.failure(&error);
                Err(TierError::Unavailable)
            }
        }
    }

    /// Spawns `op` on the tier's runtime, bounded by the timeout, for a caller that does not
    /// wait for it (releases, background invalidations).
    pub(crate) fn detach<F, Fut>(&self, op: F)
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<()>> + Send + 'static,
    {
        let timeout = self.config.timeout;
        self.spawn(move |link| async move {
            let _ = link.run(timeout, op).await;
        });
    }

    /// Spawns `task` on the tier's runtime, unbounded (lease renewals, waiting for a leader,
    /// clearing a map). A task that uses Redis goes through the [`Link`] each time, so that a
    /// connection given up meanwhile is not used again.
    pub(crate) fn spawn<F, T>(
        &self,
        task: impl FnOnce(Arc<Link>) -> F,
    ) -> Option<tokio::task::JoinHandle<T>>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let io = self.io()?;
        Some(io.handle.spawn(task(Arc::clone(&io.link))))
    }

    /// Waits, at most the timeout and once, for the backplane's first subscription: what a
    /// call reads before it lands would be dropped when it does (see backplane.rs). A
    /// subscription slower than that is no failure of Redis (the listener gives it four
    /// timeouts): calls go on to Redis without waiting again, and what they read before it
    /// is fetched again after it.
    pub(crate) async fn await_first_subscription(&self) {
        if self.backplane.epoch() > 0 || self.first_wait_over.load(Ordering::Relaxed) {
            return;
        }
        let (backplane, bound) = (Arc::clone(&self.backplane), self.config.timeout);
        let wait = self.spawn(move |_| async move {
            let _ = tokio::time::timeout(bound, backplane.subscribed()).await;
        });
        if let Some(wait) = wait {
            let _ = wait.await;
        }
        self.first_wait_over.store(true, Ordering::Relaxed);
    }

    /// The bound on one operation.
    pub(crate) fn timeout(&self) -> Duration {
        self.config.timeout
    }

    fn io(&self) -> Option<&Io> {
        self.io.get_or_init(|| self.start()).as_ref()
    }

    /// Starts the runtime, the connection (lazily connected) and the backplane's listener.
    fn start(&self) -> Option<Io> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cache-core-redis")
            .enable_all()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(target: "cache_core::redis", %error, "redis tier: no runtime; it stays off");
                return None;
            }
        };
        let handle = runtime.handle().clone();
        let _entered = handle.enter();
        let timeout = self.config.timeout;
        let link = match Link::new(&self.config.target, timeout) {
            Ok(link) => Arc::new(link),
            Err(error) => {
                tracing::error!(target: "cache_core::redis", kind = ?error.kind(), "redis tier: no connection; it stays off");
                return None;
            }
        };
        let subscribers = match &self.config.target {
            Target::Single(client) => vec![client.clone()],
            Target::Cluster(_, seeds) => seeds.clone(),
        };
        handle.spawn(super::backplane::listen(
            Arc::clone(&self.backplane),
            subscribers,
            self.naming.channel(),
            timeout,
            self.config.namespace.clone(),
        ));
        Some(Io {
            runtime: Some(runtime),
            handle: handle.clone(),
            link,
        })
    }
}
