//! Other per-key clients: a `reqwest::Client` per base URL, and an async constructor that can
//! fail, each against local services the example starts.

use std::io::Write;
use std::time::Duration;

use cache_core::ttl_cached;

use crate::local_server::LocalServer;

/// The example's flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "per_key_clients",
    about = "A reqwest::Client per base URL and a health-checked client per service, \
             memoized with #[ttl_cached], against local services. No network."
)]
pub struct Args {
    /// Number of local services (hosts).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub hosts: u16,
    /// Requests sent to each host.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub requests: u16,
}

/// One HTTP client per upstream: its connection pool and settings are reused by every call.
#[ttl_cached(ttl = "10m", sweep = "1m", cache = http_clients)]
pub fn http_client(base_url: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .user_agent(format!("per-key-clients ({base_url})"))
        .build()
        .unwrap_or_default()
}

/// Why a service's client was not handed out.
#[derive(Debug)]
pub enum Unhealthy {
    /// The health check could not be sent.
    Request(reqwest::Error),
    /// The service answered with this status.
    Status(reqwest::StatusCode),
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::Request(e) => write!(f, "health check failed: {e}"),
            Unhealthy::Status(s) => write!(f, "health check answered {s}"),
        }
    }
}

impl std::error::Error for Unhealthy {}

/// A client for a service that passed its health check; a failed check is returned, not
/// cached, so the next call checks again.
#[ttl_cached(ttl = "10m", cache = healthy_clients)]
pub async fn healthy_client(base_url: &str) -> Result<reqwest::Client, Unhealthy> {
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base_url}/health"))
        .send()
        .await
        .map_err(Unhealthy::Request)?;
    if !response.status().is_success() {
        return Err(Unhealthy::Status(response.status()));
    }
    Ok(client)
}

/// The run's findings, for tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per host: (requests answered, connections the server saw).
    pub hosts: Vec<(usize, usize)>,
    /// Clients built by `http_client` (one per host expected).
    pub http_clients_built: u64,
    /// Outcomes of successive `healthy_client` calls for a service failing its first check.
    pub health_outcomes: Vec<bool>,
    /// Health-checked clients built (constructor runs that succeeded or failed).
    pub health_checks_run: u64,
}

/// Runs the example, writing its report to `out`.
pub async fn run(args: &Args, out: &mut dyn Write) -> Result<Report, Box<dyn std::error::Error>> {
    let mut report = Report::default();
    let mut hosts = Vec::new();
    for i in 1..=args.hosts {
        hosts.push(LocalServer::start(&format!("service-{i}"), 0).await?);
    }
    http_clients().clear();
    writeln!(
        out,
        "1. http_client(base_url): one reqwest::Client per host"
    )?;
    let misses = http_clients().stats().misses;
    for _ in 0..args.requests {
        for host in &hosts {
            let url = format!("{}/hello", host.base_url());
            let text = http_client(host.base_url())
                .get(url)
                .send()
                .await?
                .text()
                .await?;
            if !text.starts_with("hello from service-") {
                return Err(format!("unexpected answer {text:?}").into());
            }
        }
    }
    report.http_clients_built = http_clients().stats().misses - misses;
    for (i, host) in hosts.iter().enumerate() {
        let connections = host.connections();
        report.hosts.push((usize::from(args.requests), connections));
        writeln!(
            out,
            "   service-{}: {} requests over {} connection(s)",
            i + 1,
            args.requests,
            connections
        )?;
    }
    let stats = http_clients().stats();
    writeln!(
        out,
        "   clients built: {}, reused: {} (one pool per host, kept 10 min after its last use)",
        report.http_clients_built, stats.hits
    )?;

    writeln!(
        out,
        "\n2. healthy_client(base_url): only a client that passed its health check is cached"
    )?;
    let flaky = LocalServer::start("flaky", 2).await?;
    healthy_clients().clear();
    let runs = healthy_clients().stats().misses;
    for call in 1..=4 {
        let outcome = healthy_client(flaky.base_url()).await;
        report.health_outcomes.push(outcome.is_ok());
        match outcome {
            Ok(_) => writeln!(out, "   call {call}: ok")?,
            Err(e) => writeln!(
                out,
                "   call {call}: {e} (not cached, the next call retries)"
            )?,
        }
    }
    report.health_checks_run = healthy_clients().stats().misses - runs;
    writeln!(
        out,
        "   health checks run: {} for 4 calls: two failures retried, then one success cached",
        report.health_checks_run
    )?;
    Ok(report)
}
