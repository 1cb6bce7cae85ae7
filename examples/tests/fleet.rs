//! The fleet example end to end: real processes (the example, its workers, a `redis-server`),
//! judged by exit code and report, as a user running `cargo run --example fleet` would.
//!
//! The example runs its workers by starting its own executable again, so this test binary
//! plays the example: started with [`AS_EXAMPLE`] set, its `main` is the example's `main`
//! (which is all `examples/examples/fleet.rs` does). That needs a `main` of our own, so this
//! target has no libtest harness (`harness = false` in Cargo.toml): it runs its tests one at a
//! time (they start processes, and share two cores) and takes libtest's usual arguments: name
//! filters, `--exact`, `--skip NAME`, `--list`, `--ignored`; others are accepted and ignored.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Set in the environment of the processes that play the example (and so of its workers).
const AS_EXAMPLE: &str = "EXAMPLES_FLEET_TEST_AS_EXAMPLE";

/// How long one run of the example may take before it is stopped (SIGTERM, then SIGKILL).
const RUN_LIMIT: Duration = Duration::from_secs(90);

const TESTS: &[(&str, fn())] = &[
    (
        "a_fleet_asks_upstream_once_per_key_and_invalidates_everywhere",
        a_fleet_asks_upstream_once_per_key_and_invalidates_everywhere,
    ),
    (
        "killing_redis_mid_run_costs_calls_but_no_wrong_value",
        killing_redis_mid_run_costs_calls_but_no_wrong_value,
    ),
    (
        "chaos_with_someone_elses_redis_is_refused_with_exit_code_2",
        chaos_with_someone_elses_redis_is_refused_with_exit_code_2,
    ),
    (
        "without_redis_server_the_example_says_how_to_install_it",
        without_redis_server_the_example_says_how_to_install_it,
    ),
];

fn main() -> ExitCode {
    if std::env::var_os(AS_EXAMPLE).is_some() {
        return examples::fleet::main();
    }
    harness()
}

// ---------------------------------------------------------------------------------------------
// The tests.

fn a_fleet_asks_upstream_once_per_key_and_invalidates_everywhere() {
    let run = Run::example(&["--workers", "3", "--keys", "20"], &[]);
    run.assert_code(0);
    assert_eq!(
        run.last_lines::<2>(),
        [
            "upstream calls: 20 for 20 keys across 3 workers",
            "invalidation seen by 3 of 3 workers"
        ],
        "{run}"
    );
    assert!(
        run.stdout
            .contains("every value equals the mock's embedding for its input: yes"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("upstream calls per key: 20 keys × 1 call"),
        "{run}"
    );
    assert!(
        run.stdout.contains("no Redis key contains `sk-`: yes"),
        "{run}"
    );
    run.assert_no_key_shown(20);
    run.assert_redis_stopped();
}

fn killing_redis_mid_run_costs_calls_but_no_wrong_value() {
    let run = Run::example(&["--workers", "3", "--keys", "20", "--chaos"], &[]);
    run.assert_code(0);
    let [chaos, upstream, invalidation] = run.last_lines::<3>();
    assert_eq!(invalidation, "invalidation seen by 3 of 3 workers", "{run}");
    let calls: usize = upstream
        .strip_prefix("upstream calls: ")
        .and_then(|rest| rest.strip_suffix(" for 20 keys across 3 workers"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not the upstream line: {upstream:?}\n{run}"));
    assert!(calls >= 20, "{run}");
    assert!(
        chaos.starts_with("chaos: Redis was killed")
            && chaos.contains(&format!(" {} extra upstream call", calls - 20)),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("every value equals the mock's embedding for its input: yes"),
        "{run}"
    );
    run.assert_no_key_shown(20);
    run.assert_redis_stopped();
}

fn chaos_with_someone_elses_redis_is_refused_with_exit_code_2() {
    let run = Run::example(&["--chaos", "--redis-url", "redis://127.0.0.1:1/"], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("--redis-url"), "{run}");
}

fn without_redis_server_the_example_says_how_to_install_it() {
    let empty = std::env::temp_dir().join(format!("fleet-test-no-path-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let run = Run::example(&["--workers", "1", "--keys", "1"], &[("PATH", &empty)]);
    std::fs::remove_dir(&empty).unwrap();
    run.assert_code(2);
    assert!(
        run.stderr.contains("apt-get install -y redis-server"),
        "{run}"
    );
}

// ---------------------------------------------------------------------------------------------
// Running the example.

/// One finished run of the example.
struct Run {
    args: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    /// Runs the example (this binary, playing it) with `args` and extra environment.
    fn example(args: &[&str], env: &[(&str, &std::path::Path)]) -> Run {
        let start = Instant::now();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .env(AS_EXAMPLE, "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let read = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = read(Box::new(child.stdout.take().unwrap()));
        let stderr = read(Box::new(child.stderr.take().unwrap()));
        let mut stopped = false;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > RUN_LIMIT && !stopped {
                // SIGTERM first: the example then kills the redis-server it started.
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                stopped = true;
            } else if start.elapsed() > RUN_LIMIT + Duration::from_secs(5) {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let run = Run {
            args: args.join(" "),
            code: status.code(),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
            took: start.elapsed(),
        };
        assert!(!stopped, "the example ran over {RUN_LIMIT:?}:\n{run}");
        eprintln!("    (fleet {} took {:.1?})", run.args, run.took);
        run
    }

    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "the exit code:\n{self}");
    }

    /// The report's last `n` lines.
    fn last_lines<const N: usize>(&self) -> [&str; N] {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert!(lines.len() >= N, "{self}");
        lines[lines.len() - N..].try_into().unwrap()
    }

    /// No API key of the run appears in its output, and every `sk-` in it is a masked key.
    fn assert_no_key_shown(&self, keys: usize) {
        for key in examples::fleet::api_keys(keys) {
            let raw = key.expose();
            assert!(
                !self.stdout.contains(raw) && !self.stderr.contains(raw),
                "a raw key was printed:\n{self}"
            );
        }
        // Masked (`sk-…abcd`), or the prefix itself, quoted (`` `sk-` ``).
        for (i, _) in self.stdout.match_indices("sk-") {
            assert!(
                self.stdout[i + 3..].starts_with(['…', '`']),
                "an unmasked sk- in the report:\n{self}"
            );
        }
    }

    /// The redis-server the report names no longer listens.
    fn assert_redis_stopped(&self) {
        let port: u16 = self
            .stdout
            .split("redis-server on 127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the report names no redis-server port:\n{self}"));
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        assert!(
            TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
            "redis-server still listens on port {port} after the example exited"
        );
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- fleet {} (exit code {:?}, {:.1?})\n--- stdout:\n{}--- stderr:\n{}",
            self.args, self.code, self.took, self.stdout, self.stderr
        )
    }
}

// ---------------------------------------------------------------------------------------------
// A small stand-in for libtest's runner.

fn harness() -> ExitCode {
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let (mut exact, mut list, mut ignored) = (false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => ignored = true,
            "--skip" => skips.extend(args.next()),
            // Flags that take a value as the next argument.
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter.to_owned()),
        }
    }
    let matches = |name: &str, pattern: &str| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let selected: Vec<&(&str, fn())> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| matches(name, s)))
        .filter(|_| !ignored)
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = panic::catch_unwind(AssertUnwindSafe(test));
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; \
         finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        TESTS.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
