//! The main example: the seed's `get_or_create_openai_client`, memoized with `#[ttl_cached]`,
//! serving several tenants against a local mock of the OpenAI API.
//!
//! Time is a `ManualClock` handed to the cache through the `clock` option, so the report can
//! show an hour passing: an idle tenant's client expires and is swept, while a busy tenant's
//! is kept alive by sliding expiry.

use std::io::Write;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use cache_core::{ManualClock, ttl_cached};

use crate::mock_openai::{MockOpenAi, Traffic};

/// The example's flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "openai_clients",
    about = "One async-openai Client per tenant API key, memoized with #[ttl_cached] \
             (ttl 1h, sliding), against a local mock OpenAI server. No network, no real key."
)]
pub struct Args {
    /// Number of tenants, each with its own API key.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=50))]
    pub tenants: u16,
    /// Chat requests each tenant sends in the first phase.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub requests: u16,
}

/// The cache's time: advanced by the example, read by the cache.
pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

static API_BASE: OnceLock<String> = OnceLock::new();

fn config(api_key: &str) -> OpenAIConfig {
    // Everything is set explicitly: `OpenAIConfig::new()` would read OPENAI_* variables.
    OpenAIConfig::new()
        .with_api_key(api_key)
        .with_api_base(
            API_BASE
                .get()
                .map_or("http://127.0.0.1:9/v1", String::as_str),
        )
        .with_org_id("")
        .with_project_id("")
}

/// The seed's function, verbatim in spirit: one client per API key, built on first use,
/// dropped an hour after its last use.
#[ttl_cached(ttl = "1h", sweep = "5m", cache = openai_clients, clock = CLOCK.clone())]
pub fn get_or_create_openai_client(api_key: &str) -> Client<OpenAIConfig> {
    Client::with_config(config(api_key))
}

/// A client is only cached once its key is known to work: a rejected key (401) is an `Err`,
/// which is returned and not cached, so the next call tries again.
#[ttl_cached(ttl = "1h", cache = verified_clients, clock = CLOCK.clone())]
pub async fn verified_client(api_key: &str) -> Result<Client<OpenAIConfig>, OpenAIError> {
    let client = Client::with_config(config(api_key));
    client.models().list().await?;
    Ok(client)
}

/// What one tenant saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantReport {
    /// The tenant's display name (its key is never printed).
    pub name: String,
    /// Calls that built a client (cache misses).
    pub built: u64,
    /// Calls that got the cached client back (cache hits).
    pub reused: u64,
    /// What the mock server saw: requests answered, connections used.
    pub traffic: Traffic,
}

/// The run's findings, for tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per tenant, after the first phase.
    pub tenants: Vec<TenantReport>,
    /// Entries the sweep removed after the idle hour.
    pub swept: usize,
    /// Whether every busy tenant's client survived the idle hour.
    pub busy_kept: bool,
    /// Whether the idle tenant's client was gone and rebuilt on its return.
    pub idle_rebuilt: bool,
    /// Attempts with a revoked key: each ran the constructor, none was cached.
    pub rejected_attempts: u64,
    /// Whether a verified client was cached (the second call was a hit).
    pub verified_cached: bool,
}

struct Tenant {
    name: String,
    key: String,
}

/// Runs the example, writing its report to `out`.
pub async fn run(args: &Args, out: &mut dyn Write) -> Result<Report, Box<dyn std::error::Error>> {
    let tenants: Vec<Tenant> = (1..=args.tenants)
        .map(|i| Tenant {
            name: format!("tenant-{i}"),
            // Shaped like a real key; never printed.
            key: format!("sk-proj-{i:02}{}", "x".repeat(41)),
        })
        .collect();
    let mock = MockOpenAi::start(tenants.iter().map(|t| (t.key.clone(), t.name.clone()))).await?;
    let _ = API_BASE.set(mock.api_base().to_string());
    openai_clients().clear();
    let mut report = Report::default();

    writeln!(out, "mock OpenAI server at {}", mock.api_base())?;
    writeln!(
        out,
        "\n1. {} tenants send {} chat requests each, through get_or_create_openai_client(api_key)",
        tenants.len(),
        args.requests
    )?;
    for tenant in &tenants {
        report.tenants.push(TenantReport {
            name: tenant.name.clone(),
            ..TenantReport::default()
        });
    }
    for round in 0..args.requests {
        for (tenant, seen) in tenants.iter().zip(&mut report.tenants) {
            let built = chat(tenant, &format!("request {}", round + 1)).await?;
            *if built {
                &mut seen.built
            } else {
                &mut seen.reused
            } += 1;
        }
        CLOCK.advance(Duration::from_secs(60));
    }
    writeln!(
        out,
        "   {:<10} {:>14} {:>14} {:>18} {:>16}",
        "tenant", "clients built", "clients reused", "requests answered", "TCP connections"
    )?;
    for seen in &mut report.tenants {
        seen.traffic = mock.traffic(&seen.name);
        writeln!(
            out,
            "   {:<10} {:>14} {:>14} {:>18} {:>16}",
            seen.name, seen.built, seen.reused, seen.traffic.answered, seen.traffic.connections
        )?;
    }
    writeln!(
        out,
        "   One client per tenant, handed back on every hit: each tenant's requests share that\n   \
         client's single keep-alive connection, as the server saw."
    )?;

    let (busy, idle) = tenants.split_at(tenants.len() - 1);
    let idle = &idle[0];
    writeln!(
        out,
        "\n2. {} goes quiet; the others keep working (simulated time)",
        idle.name
    )?;
    CLOCK.advance(Duration::from_secs(40 * 60));
    for tenant in busy {
        chat(tenant, "still here").await?;
    }
    CLOCK.advance(Duration::from_secs(40 * 60));
    let held = openai_clients().len();
    report.swept = openai_clients().sweep();
    report.busy_kept = busy
        .iter()
        .all(|t| openai_clients().contains_key(t.key.as_str()));
    writeln!(
        out,
        "   +80 min: {} idle for 80 min, the others last used 40 min ago (ttl 1h, sliding)\n   \
         sweep: {} clients held, {} expired and removed, {} kept; busy tenants' clients kept: {}",
        idle.name,
        held,
        report.swept,
        openai_clients().len(),
        yes(report.busy_kept)
    )?;
    report.idle_rebuilt = chat(idle, "back again").await?;
    writeln!(
        out,
        "   {} returns: client rebuilt: {} (its requests now arrive on connection #{})",
        idle.name,
        yes(report.idle_rebuilt),
        mock.traffic(&idle.name).connections
    )?;

    writeln!(
        out,
        "\n3. verified_client(api_key) lists models before caching a client"
    )?;
    let revoked = format!("sk-proj-revoked{}", "x".repeat(36));
    let before = verified_clients().stats().misses;
    for attempt in 1..=2 {
        let outcome = match verified_client(&revoked).await {
            Err(OpenAIError::ApiError(e)) => format!("rejected with {}", e.status_code),
            Err(e) => format!("failed: {e}"),
            Ok(_) => "unexpectedly accepted".to_string(),
        };
        writeln!(
            out,
            "   revoked key, attempt {attempt}: {outcome}, not cached"
        )?;
    }
    report.rejected_attempts = verified_clients().stats().misses - before;
    verified_client(&busy[0].key).await?;
    let hits = verified_clients().stats().hits;
    verified_client(&busy[0].key).await?;
    report.verified_cached = verified_clients().stats().hits == hits + 1;
    writeln!(
        out,
        "   {}'s key: verified once, then served from the cache: {}",
        busy[0].name,
        yes(report.verified_cached)
    )?;

    let stats = openai_clients().stats();
    writeln!(
        out,
        "\ncache totals: {} hits, {} misses (clients built), {} expired, {} held now",
        stats.hits,
        stats.misses,
        stats.expirations,
        openai_clients().len()
    )?;
    Ok(report)
}

/// Sends one chat request as `tenant`; returns whether the call had to build a client.
async fn chat(tenant: &Tenant, text: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let misses = openai_clients().stats().misses;
    let client = get_or_create_openai_client(&tenant.key);
    let built = openai_clients().stats().misses > misses;
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(format!("{} here, {text}", tenant.name))
            .build()?
            .into()])
        .build()?;
    let response = client.chat().create(request).await?;
    let answer = response
        .choices
        .first()
        .and_then(|c| c.message.content.as_deref());
    if !answer.is_some_and(|a| a.contains(&tenant.name)) {
        return Err(format!("{}: unexpected answer {answer:?}", tenant.name).into());
    }
    Ok(built)
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
