//! Real `redis-server` processes for tests: started on free loopback ports in fresh temporary
//! directories, without persistence, and always killed (and their directories removed) on drop,
//! including when the test panics.
//!
//! A missing binary fails the test rather than skipping it: a skipped test would pass CI
//! without testing anything.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it is spawned.
const STARTUP: Duration = Duration::from_secs(10);
/// How long a restart keeps trying the same port: the killed process's sockets may linger.
const RESTART: Duration = Duration::from_secs(5);
/// How many fresh ports `start` tries: another process may take a port between our probe
/// and redis binding it.
const START_ATTEMPTS: usize = 5;
/// How long a new cluster may take to report `cluster_state:ok` on every node.
const CLUSTER_OK: Duration = Duration::from_secs(15);
/// The read and write timeout of [`RedisServer::command`]: far above any reply's latency, so
/// it only ends a test that would otherwise hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// The poll period while waiting for a process.
const POLL: Duration = Duration::from_millis(20);

const INSTALL_HINT: &str = "run `apt-get install -y redis-server` (the Redis tests need a real \
     server and fail rather than skip without one)";

/// One `redis-server` process on `127.0.0.1`, owned by the test: dropping it kills the process
/// and removes its directory.
pub struct RedisServer {
    /// `None` once killed.
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Arguments beyond the common ones (cluster mode), kept so a restart is the same server.
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a standalone server on a free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Vec::new)
    }

    /// Starts a server with the arguments `extra()` returns (called again for each attempt, so
    /// they may name fresh ports of their own).
    fn start_with(extra: impl Fn() -> Vec<String>) -> RedisServer {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: fresh_dir(),
                extra: extra(),
            };
            server.spawn();
            if server.wait_for_ping(STARTUP) {
                return server;
            }
            // It exited: most likely a port was taken meanwhile, so try new ones in a clean
            // directory (a cluster node may already have written its nodes.conf).
            last_log = server.log_tail();
        }
        panic!("redis-server did not start in {START_ATTEMPTS} attempts; its log:\n{last_log}");
    }

    /// The URL a client connects to: `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port the server listens on; the same after [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL, so nothing is flushed and clients see a crash) and reaps it.
    /// Does nothing if it is already dead.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL also ends a stopped (paused) process; errors mean it is already gone.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, then starts it again on the same port and in the same
    /// directory (a cluster node keeps its identity; data is gone since nothing persists), and
    /// waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + RESTART;
        loop {
            self.spawn();
            if self.wait_for_ping(STARTUP) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {} within {RESTART:?}; its log:\n{}",
                self.port,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100)); // sleep-ok: the old socket lingers in the kernel
        }
    }

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel, but nothing
    /// answers until [`resume`](Self::resume), as with a hung or partitioned node.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Unfreezes a server frozen by [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Runs one command and returns its reply as text, panicking if the server does not answer
    /// within seconds. See [`try_command`](Self::try_command) for the reply's form.
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args, COMMAND_TIMEOUT)
            .unwrap_or_else(|e| panic!("redis {args:?} on port {}: {e}", self.port))
    }

    /// Runs one command over a new connection, with `timeout` for each read and write, and
    /// returns its reply as text: a simple string, bulk string or integer as itself, an error as
    /// `(error) MESSAGE`, a nil as `(nil)`, an array's elements one per line (nested arrays
    /// flattened). A paused server gives an `Err` of kind `WouldBlock` or `TimedOut`.
    pub fn try_command(&self, args: &[&str], timeout: Duration) -> io::Result<String> {
        request(self.port, args, timeout)
    }

    fn spawn(&mut self) {
        let log_path = self.dir.join("redis.log");
        // stdout and stderr go to the log too: redis reports bad arguments there, before it
        // opens its log file.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("the redis log file");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log_path)
            .args(&self.extra)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the redis log file"))
            .stderr(log)
            .spawn();
        match child {
            Ok(child) => self.child = Some(child),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                panic!("redis-server is not installed: {INSTALL_HINT}")
            }
            Err(e) => panic!("cannot run redis-server: {e}"),
        }
    }

    /// Waits until the server answers PING: `false` if it exits first, a panic if it neither
    /// exits nor answers within `patience`.
    fn wait_for_ping(&mut self, patience: Duration) -> bool {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().expect("a spawned server");
            if child.try_wait().expect("the redis-server status").is_some() {
                self.child = None;
                return false;
            }
            let pong = request(self.port, &["PING"], Duration::from_millis(500));
            if pong.is_ok_and(|reply| reply == "PONG") {
                return true;
            }
            if start.elapsed() > patience {
                self.kill();
                panic!(
                    "redis-server on port {} did not answer PING within {patience:?}; its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL); // sleep-ok: the process is still starting up
        }
    }

    fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let status = Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .expect("the `kill` command");
        assert!(status.success(), "kill -{name} {} failed", child.id());
    }

    /// The last lines of the server's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of masters without replicas, each a [`RedisServer`] in cluster mode. Dropping
/// it stops every node.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, Redis's minimum), joins them with
    /// `redis-cli --cluster create`, and waits until every node reports `cluster_state:ok`.
    pub fn start(masters: usize) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                RedisServer::start_with(|| {
                    // The bus port is chosen too: the default, port + 10000, may be taken or
                    // beyond 65535.
                    let args = format!(
                        "--cluster-enabled yes --cluster-config-file nodes.conf \
                         --cluster-node-timeout 2000 --cluster-port {}",
                        free_port()
                    );
                    args.split_whitespace().map(String::from).collect()
                })
            })
            .collect();
        let addresses = nodes.iter().map(|node| format!("127.0.0.1:{}", node.port));
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Ok(output) => output,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                panic!("redis-cli is not installed: {INSTALL_HINT}")
            }
            Err(e) => panic!("cannot run redis-cli: {e}"),
        };
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok(CLUSTER_OK);
        cluster
    }

    /// The nodes' URLs, `redis://127.0.0.1:PORT/` each.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes, to inspect one.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, to kill, restart or pause one.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// Waits until every running node reports `cluster_state:ok` (after a node's restart, say);
    /// panics with each node's `CLUSTER INFO` if that takes longer than `patience`.
    pub fn wait_until_ok(&self, patience: Duration) {
        let start = Instant::now();
        let running = || self.nodes.iter().filter(|node| node.child.is_some());
        let info = |node: &RedisServer| {
            request(node.port, &["CLUSTER", "INFO"], COMMAND_TIMEOUT)
                .unwrap_or_else(|e| e.to_string())
        };
        while !running().all(|node| info(node).contains("cluster_state:ok")) {
            if start.elapsed() > patience {
                let states: Vec<String> = running()
                    .map(|node| format!("port {}:\n{}", node.port, info(node)))
                    .collect();
                panic!(
                    "the cluster was not ok within {patience:?}:\n{}",
                    states.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50)); // sleep-ok: the nodes gossip in real time
        }
    }
}

/// A port nothing listens on now: the kernel's pick for port 0. It may be taken again before
/// redis binds it, which is why starting retries.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    listener.local_addr().expect("the bound address").port()
}

/// A new, empty directory under the system's temporary directory.
fn fresh_dir() -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let name = format!(
        "cache-core-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(name);
    fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Sends one command as a RESP array of bulk strings and reads its reply as text.
fn request(port: u16, args: &[&str], timeout: Duration) -> io::Result<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut message = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        message.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    stream.write_all(&message)?;
    let mut values = Vec::new();
    read_reply(&mut BufReader::new(stream), &mut values)?;
    Ok(values.join("\n"))
}

/// Reads one RESP2 reply, appending its values (an array's elements in order) to `values`.
fn read_reply(reader: &mut impl BufRead, values: &mut Vec<String>) -> io::Result<()> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let line = String::from_utf8_lossy(&line);
    let Some(line) = line.strip_suffix("\r\n") else {
        return Err(invalid(format!("a truncated reply line: {line:?}")));
    };
    let Some((kind, rest)) = line.get(..1).zip(line.get(1..)) else {
        return Err(invalid("an empty reply line".to_owned()));
    };
    let length = || -> io::Result<i64> {
        rest.parse()
            .map_err(|_| invalid(format!("a bad length: {line:?}")))
    };
    match kind {
        "+" | ":" => values.push(rest.to_owned()),
        "-" => values.push(format!("(error) {rest}")),
        "$" | "*" if length()? < 0 => values.push("(nil)".to_owned()),
        "$" => {
            let mut bulk = vec![0; length()? as usize + 2]; // with its trailing \r\n
            reader.read_exact(&mut bulk)?;
            bulk.truncate(bulk.len() - 2);
            values.push(String::from_utf8_lossy(&bulk).into_owned());
        }
        "*" => {
            for _ in 0..length()? {
                read_reply(reader, values)?;
            }
        }
        _ => return Err(invalid(format!("an unknown reply: {line:?}"))),
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
