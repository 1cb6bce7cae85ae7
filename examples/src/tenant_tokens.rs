//! A per-tenant API client that holds an OAuth access token, memoized with `#[ttl_cached]`:
//! the client lives while its tenant is busy (sliding `ttl`), never longer than its token
//! (`expire_after` reads the token's `expires_in`), and never past `max_lifetime` however busy
//! the tenant is (credentials rotate).
//!
//! The token endpoint is a local mock that counts what it issues. Simulated time comes from a
//! `ManualClock`, so an hour of calls takes milliseconds.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use axum::routing::post;
use cache_core::{ManualClock, ttl_cached};

/// The example's flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "tenant_tokens",
    about = "A client per tenant holding an OAuth token that expires, memoized with \
             #[ttl_cached(expire_after = ...)], against a local token endpoint. No network."
)]
pub struct Args {
    /// Tenants calling once a simulated minute.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub tenants: u16,
    /// Simulated minutes of calls.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub minutes: u32,
    /// The `expires_in` of the tokens the endpoint issues, in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub expires_in: u64,
}

/// Simulated time for the cache (the mock endpoint needs none).
pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

/// A tenant's client: an HTTP client and the access token it sends.
#[derive(Clone, Debug)]
pub struct TenantClient {
    /// Shared connection pool and settings.
    pub http: reqwest::Client,
    /// The bearer token, as issued.
    pub access_token: String,
    /// How long the endpoint said the token is good for.
    pub expires_in: Duration,
}

/// Why a tenant's client could not be built (not cached: the next call tries again).
#[derive(Debug)]
pub struct TokenError(String);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token request failed: {}", self.0)
    }
}

impl std::error::Error for TokenError {}

/// One client per tenant (the endpoint is not part of the key), rebuilt with a fresh token
/// when its token expires.
#[ttl_cached(
    ttl = "1h",
    max_lifetime = "12h",
    key: String = tenant.to_owned(),
    expire_after = |_tenant: &String, client: &TenantClient| Some(client.expires_in),
    clock = CLOCK.clone(),
    cache = tenant_clients
)]
pub async fn tenant_client(token_url: &str, tenant: &str) -> Result<TenantClient, TokenError> {
    let http = reqwest::Client::new();
    let response = http
        .post(token_url)
        .body(tenant.to_owned())
        .send()
        .await
        .map_err(|e| TokenError(e.to_string()))?;
    let body = response
        .text()
        .await
        .map_err(|e| TokenError(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| TokenError(e.to_string()))?;
    let (Some(token), Some(expires_in)) =
        (json["access_token"].as_str(), json["expires_in"].as_u64())
    else {
        return Err(TokenError(format!("unexpected answer: {body}")));
    };
    Ok(TenantClient {
        http,
        access_token: token.to_owned(),
        expires_in: Duration::from_secs(expires_in),
    })
}

/// The run's findings, for tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Tokens the endpoint issued, per tenant.
    pub issued: BTreeMap<String, usize>,
    /// Calls made (one per tenant per minute).
    pub calls: usize,
    /// Calls answered from the cache.
    pub hits: u64,
}

/// Starts the token endpoint, then has every tenant ask for its client once a simulated
/// minute; prints what the endpoint issued.
pub async fn run(args: &Args, out: &mut impl Write) -> Result<Report, Box<dyn std::error::Error>> {
    let issued: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let expires_in = args.expires_in;
    let counter = Arc::clone(&issued);
    let app = axum::Router::new().route(
        "/oauth/token",
        post(move |tenant: String| async move {
            let mut issued = counter.lock().unwrap_or_else(PoisonError::into_inner);
            let n = issued.entry(tenant.clone()).or_default();
            *n += 1;
            serde_json::json!({ "access_token": format!("tok-{tenant}-{n}"), "expires_in": expires_in })
                .to_string()
        }),
    );
    let token_url = format!("http://{}/oauth/token", crate::serve_locally(app).await?);
    tenant_clients().clear();
    tenant_clients().reset_stats();

    let tenants: Vec<String> = (1..=args.tenants).map(|t| format!("tenant-{t}")).collect();
    let mut calls = 0;
    for minute in 0..args.minutes {
        for tenant in &tenants {
            let client = tenant_client(&token_url, tenant).await?;
            calls += 1;
            if minute == 0 {
                writeln!(out, "{tenant}: first token {}", client.access_token)?;
            }
        }
        CLOCK.advance(Duration::from_secs(60));
    }

    let issued = issued
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let stats = tenant_clients().stats();
    writeln!(
        out,
        "{calls} calls over {} simulated minutes, tokens good for {expires_in} s:",
        args.minutes
    )?;
    for (tenant, n) in &issued {
        writeln!(out, "  {tenant}: {n} tokens issued")?;
    }
    writeln!(out, "cache: {} hits, {} misses", stats.hits, stats.misses)?;
    Ok(Report {
        issued,
        calls,
        hits: stats.hits,
    })
}
