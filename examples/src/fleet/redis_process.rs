//! The example's own `redis-server`: on a free loopback port, in a fresh temporary directory,
//! without persistence; killed (and its directory removed) when dropped, and by a signal
//! handler through [`RedisProcess::reaper`] if the example is interrupted.

use std::fs::{self, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::CannotRun;

/// What the example says when `redis-server` is not on the `PATH`.
pub const INSTALL_HINT: &str = "redis-server is not installed (not found on PATH): install it \
     with `apt-get install -y redis-server`, or pass --redis-url URL";

/// How long a new server may take to answer PING.
const STARTUP: Duration = Duration::from_secs(10);
/// How many fresh ports `start` tries: another process may take a port between our probe and
/// redis binding it.
const START_ATTEMPTS: usize = 5;

/// A `redis-server` this process started; dropping it kills the server.
pub struct RedisProcess {
    child: Arc<Mutex<Option<Child>>>,
    port: u16,
    dir: PathBuf,
}

impl RedisProcess {
    /// Starts `redis-server` from the `PATH` on a free port of 127.0.0.1 and waits until it
    /// answers PING.
    ///
    /// # Errors
    ///
    /// [`CannotRun`] with the install command if there is no `redis-server`; an I/O error if
    /// it does not start.
    pub fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = RedisProcess {
                child: Arc::default(),
                port: free_port()?,
                dir: fresh_dir()?,
            };
            server.spawn()?;
            match server.wait_for_ping(STARTUP) {
                Ok(()) => return Ok(server),
                // Most likely the port was taken meanwhile: try another.
                Err(error) => last_error = error,
            }
        }
        Err(format!("redis-server did not start in {START_ATTEMPTS} attempts: {last_error}").into())
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on, the same after a [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL (nothing is flushed: clients see a crash) and reaps it.
    pub fn kill(&self) {
        kill(&self.child);
    }

    /// Starts the server again on the same port (empty: nothing persisted), trying for a few
    /// seconds while the old socket lingers.
    ///
    /// # Errors
    ///
    /// If it does not answer PING within seconds.
    pub fn restart(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.spawn()?;
            match self.wait_for_ping(STARTUP) {
                Ok(()) => return Ok(()),
                Err(error) if Instant::now() > deadline => {
                    return Err(format!("redis-server did not restart: {error}").into());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A function that kills the server and removes its directory, for a signal handler: the
    /// process is about to exit, and `Drop` will not run.
    pub fn reaper(&self) -> impl Fn() + Send + Sync + 'static {
        let (child, dir) = (Arc::clone(&self.child), self.dir.clone());
        move || {
            kill(&child);
            let _ = fs::remove_dir_all(&dir);
        }
    }

    fn spawn(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let log_path = self.dir.join("redis.log");
        // Bad arguments are reported on stdout, before the log file opens: both go there.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log_path)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn();
        match spawned {
            Ok(child) => {
                *lock(&self.child) = Some(child);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let _ = fs::remove_dir_all(&self.dir);
                Err(CannotRun(INSTALL_HINT.to_owned()).into())
            }
            Err(e) => Err(format!("cannot run redis-server: {e}").into()),
        }
    }

    /// Waits until the server answers PING; `Err` (with its log's last lines) if it exits or
    /// stays silent for `patience`.
    fn wait_for_ping(&self, patience: Duration) -> Result<(), String> {
        let start = Instant::now();
        let client = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        loop {
            let exited = lock(&self.child)
                .as_mut()
                .is_none_or(|child| child.try_wait().ok().flatten().is_some());
            if exited {
                *lock(&self.child) = None;
                return Err(format!("it exited; its log:\n{}", self.log_tail()));
            }
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn));
            if pong.is_ok_and(|reply| reply == "PONG") {
                return Ok(());
            }
            if start.elapsed() > patience {
                self.kill();
                return Err(format!(
                    "no answer to PING within {patience:?}; its log:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kill(child: &Mutex<Option<Child>>) {
    if let Some(mut child) = lock(child).take() {
        // Errors mean it is already gone.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A port nothing listens on now (the kernel's pick for port 0).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A new, empty directory under the system's temporary directory.
fn fresh_dir() -> io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!("cache-core-fleet-{}-{nanos}", std::process::id()));
    fs::create_dir(&dir)?;
    Ok(dir)
}
