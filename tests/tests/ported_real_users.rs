//! Memoized functions as real users write them with `cached` (`#[cached]`, `#[once]`,
//! `#[io_cached]`) and `memoize` (`#[memoize]`), ported to `#[ttl_cached]`. The peers' own
//! test suites are in `ported_peers_macro.rs`; this file takes code from public repositories
//! instead, one shape per module, each citing where it comes from. HTTP, databases and
//! processes are std-only stand-ins that count their calls; time is a `ManualClock`.
//!
//! Where a source is cited as "(index id N)", the code search found the function but did not
//! name its repository; the quoted attribute and signature are the user's.
//!
//! The port follows `ported_peers_macro.rs`'s table: `time = n` is `ttl = "ns"` with
//! `expiry = "fixed"` (cached's and memoize's lives count from the store; ours slide by
//! default, see `cached_time_is_fixed_expiry_and_a_plain_ttl_port_never_refreshes`),
//! `size`/`Capacity` is `capacity`, `convert` is `key: Type = expr`, `Ignore: x` is a key
//! without `x`, `#[once]` is `key: () = ()`, and `result`/`option`/`sync_writes` need no
//! option.

// The users' signatures as written: clippy judges an annotated function as the user's code.
#![allow(clippy::needless_lifetimes)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn clock() -> ManualClock {
    ManualClock::new()
}

// ---------------------------------------------------------------------------------------
// Async functions returning `Result` (anyhow, thiserror, reqwest-like and alias errors)
// ---------------------------------------------------------------------------------------

/// Tricked-dev/ascella, `ascella/src/database/queries/get_user.rs`:
/// `#[cached(size = 100, time = 120, result = true)] pub async fn exec(id: i32) -> Result<Users>`
/// where `Result` is the crate prelude's one-parameter alias.
mod ascella {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("no row for {0}")]
    pub struct RowNotFound(pub i32);
    pub type Result<T> = std::result::Result<T, RowNotFound>;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Users {
        pub id: i32,
        pub query: usize,
    }

    pub static QUERIES: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    pub mod get_user {
        use super::*;

        #[ttl_cached(ttl = "120s", expiry = "fixed", capacity = 100, clock = CLOCK.clone())]
        pub async fn exec(id: i32) -> Result<Users> {
            let query = QUERIES.fetch_add(1, SeqCst);
            if id <= 0 {
                return Err(RowNotFound(id));
            }
            Ok(Users { id, query })
        }
    }
}

#[tokio::test]
async fn ascella_get_user_caches_rows_for_120s_and_never_a_missing_row() {
    use ascella::{get_user::exec, *};
    let first = exec(7).await.unwrap();
    assert_eq!(exec(7).await.unwrap(), first);
    assert_eq!(QUERIES.load(SeqCst), 1);
    assert_eq!(exec(0).await.unwrap_err().to_string(), "no row for 0");
    assert!(exec(0).await.is_err());
    assert_eq!(QUERIES.load(SeqCst), 3, "an Err is not cached");
    CLOCK.advance(secs(119));
    assert_eq!(exec(7).await.unwrap(), first);
    CLOCK.advance(secs(1));
    assert_eq!(exec(7).await.unwrap().query, 3, "120 s after the store");
}

/// (index id 33030732691) an actix handler's helper:
/// `#[cached(time = 86400, result = true)] pub async fn get_symbols(url: String) ->
/// Result<String, reqwest::Error> { Ok(reqwest::get(url).await?.text().await?) }`.
mod binance_symbols {
    use super::*;

    /// reqwest::Error's shape: not `Clone`, converted by `?`.
    #[derive(Debug)]
    pub struct HttpError(pub String);
    impl From<std::num::ParseIntError> for HttpError {
        fn from(e: std::num::ParseIntError) -> Self {
            HttpError(e.to_string())
        }
    }

    pub static GETS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    fn get(url: &str) -> std::result::Result<String, HttpError> {
        GETS.fetch_add(1, SeqCst);
        let port: u16 = url.rsplit(':').next().unwrap_or_default().parse()?;
        Ok(format!("{{\"symbols\":[\"BTCUSDT\"],\"port\":{port}}}"))
    }

    #[ttl_cached(ttl = "86400s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn get_symbols(url: String) -> Result<String, HttpError> {
        let text = get(&url)?;
        Ok(text)
    }
}

#[tokio::test]
async fn binance_get_symbols_keeps_a_body_for_a_day_and_retries_a_failed_get() {
    use binance_symbols::*;
    let body = get_symbols("https://api:443".into()).await.unwrap();
    assert!(body.contains("443"));
    assert_eq!(get_symbols("https://api:443".into()).await.unwrap(), body);
    let error = get_symbols("https://api:x".into()).await.unwrap_err();
    assert_eq!(error.0, "invalid digit found in string");
    assert!(get_symbols("https://api:x".into()).await.is_err());
    assert_eq!(GETS.load(SeqCst), 3);
    CLOCK.advance(secs(86_400));
    get_symbols("https://api:443".into()).await.unwrap();
    assert_eq!(GETS.load(SeqCst), 4);
}

/// (index id 4594656915) a NEAR RPC client:
/// `#[cached(time = 30, result = true, size = 1000)] pub async fn
/// view_account_cached_30s(account_id: String) -> Result<AccountInfo, anyhow::Error>`, and
/// `_internal_view_cached_30s(contract_id: String, method_name: String, args: String)` called
/// from a generic `view_cached_30s(contract_id: impl AsRef<str>, ..)` wrapper.
mod near_rpc {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct AccountInfo {
        pub amount: u128,
        pub block_height: u64,
    }

    pub static RPCS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    async fn rpc(method: &str, params: &[&str]) -> anyhow::Result<String> {
        let n = RPCS.fetch_add(1, SeqCst);
        anyhow::ensure!(
            !params.iter().any(|p| p.is_empty()),
            "empty param to {method}"
        );
        Ok(format!("{method}({}) #{n}", params.join(",")))
    }

    #[ttl_cached(ttl = "30s", expiry = "fixed", capacity = 1000, clock = CLOCK.clone())]
    pub async fn view_account_cached_30s(account_id: String) -> Result<AccountInfo, anyhow::Error> {
        let reply = rpc("view_account", &[&account_id]).await?;
        Ok(AccountInfo {
            amount: reply.len() as u128,
            block_height: RPCS.load(SeqCst) as u64,
        })
    }

    #[ttl_cached(ttl = "30s", expiry = "fixed", capacity = 1000, clock = CLOCK.clone())]
    async fn _internal_view_cached_30s(
        contract_id: String,
        method_name: String,
        args: String,
    ) -> Result<String, anyhow::Error> {
        rpc("call_function", &[&contract_id, &method_name, &args]).await
    }

    pub async fn view_cached_30s(
        contract_id: impl AsRef<str>,
        method_name: impl AsRef<str>,
        args: u32,
    ) -> Result<String, anyhow::Error> {
        let contract_id = contract_id.as_ref().to_string();
        let method_name = method_name.as_ref().to_string();
        _internal_view_cached_30s(contract_id, method_name, args.to_string()).await
    }
}

#[tokio::test]
async fn near_rpc_views_are_keyed_by_all_three_strings_and_errors_carry_context() {
    use near_rpc::*;
    let a = view_cached_30s("token.near", "ft_balance_of", 1)
        .await
        .unwrap();
    assert_eq!(
        view_cached_30s(String::from("token.near"), "ft_balance_of", 1)
            .await
            .unwrap(),
        a
    );
    assert_ne!(
        view_cached_30s("token.near", "ft_balance_of", 2)
            .await
            .unwrap(),
        a
    );
    assert_ne!(
        view_cached_30s("token.near", "ft_metadata", 1)
            .await
            .unwrap(),
        a
    );
    assert_eq!(RPCS.load(SeqCst), 3);
    let error = view_cached_30s("", "ft_metadata", 1).await.unwrap_err();
    assert_eq!(error.to_string(), "empty param to call_function");
    let account = view_account_cached_30s("alice.near".into()).await.unwrap();
    assert_eq!(
        view_account_cached_30s("alice.near".into()).await.unwrap(),
        account
    );
    assert_eq!(RPCS.load(SeqCst), 5);
    CLOCK.advance(secs(30));
    assert_ne!(
        view_account_cached_30s("alice.near".into()).await.unwrap(),
        account
    );
}

/// (index id 70513831486) a Solana gateway:
/// `#[cached(time = 600)] async fn get_user_cached(address: Pubkey) -> GatewayResult<User>`
/// (no `result = true`: cached keeps the `Err` for ten minutes) and
/// `#[cached(time = 60, result = true)] async fn get_reset_events_cached(page: u64) ->
/// GatewayResult<Vec<(Signature, ResetEvent)>>`.
mod ore_gateway {
    use super::*;

    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
    pub struct Pubkey(pub [u8; 32]);
    #[derive(Clone, Debug, PartialEq)]
    pub struct Signature(pub String);
    #[derive(Clone, Debug, PartialEq)]
    pub struct ResetEvent {
        pub round: u64,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct User {
        pub address: Pubkey,
        pub fetch: usize,
    }
    #[derive(Debug, PartialEq)]
    pub enum GatewayError {
        RequestFailed,
    }
    pub type GatewayResult<T> = Result<T, GatewayError>;

    pub static FETCHES: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "600s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn get_user_cached(address: Pubkey) -> GatewayResult<User> {
        let fetch = FETCHES.fetch_add(1, SeqCst);
        if address.0[0] == 0 {
            Err(GatewayError::RequestFailed)
        } else {
            Ok(User { address, fetch })
        }
    }

    #[ttl_cached(ttl = "60s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn get_reset_events_cached(page: u64) -> GatewayResult<Vec<(Signature, ResetEvent)>> {
        FETCHES.fetch_add(1, SeqCst);
        Ok((0..page)
            .map(|round| (Signature(format!("sig{round}")), ResetEvent { round }))
            .collect())
    }
}

#[tokio::test]
async fn ore_gateway_user_errors_are_retried_where_cached_kept_them_ten_minutes() {
    use ore_gateway::*;
    let alice = Pubkey([1; 32]);
    let user = get_user_cached(alice).await.unwrap();
    assert_eq!(get_user_cached(alice).await.unwrap(), user);
    assert_eq!(FETCHES.load(SeqCst), 1);
    let down = Pubkey([0; 32]);
    assert_eq!(
        get_user_cached(down).await,
        Err(GatewayError::RequestFailed)
    );
    assert_eq!(
        get_user_cached(down).await,
        Err(GatewayError::RequestFailed)
    );
    assert_eq!(FETCHES.load(SeqCst), 3, "each failed request is made again");
    let events = get_reset_events_cached(3).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2],
        (Signature("sig2".into()), ResetEvent { round: 2 })
    );
    assert_eq!(get_reset_events_cached(3).await.unwrap(), events);
    assert_eq!(FETCHES.load(SeqCst), 4);
    CLOCK.advance(secs(60));
    get_reset_events_cached(3).await.unwrap();
    assert_eq!(
        get_user_cached(alice).await.unwrap(),
        user,
        "600 s for users"
    );
    assert_eq!(FETCHES.load(SeqCst), 5);
}

/// (index id 3088032717) gatelogue:
/// `#[cached(result = true, time = 1800, sync_writes = true)] pub async fn get_graph() ->
/// Result<Graph>` (color_eyre's alias), fetched once by many concurrent request handlers.
mod gatelogue {
    use super::*;

    #[derive(Clone, Debug)]
    pub struct Graph {
        pub nodes: Arc<Vec<u32>>,
    }
    pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

    pub static DOWNLOADS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "1800s", expiry = "fixed", clock = CLOCK.clone(), cache = graph_cache)]
    pub async fn get_graph() -> Result<Graph> {
        DOWNLOADS.fetch_add(1, SeqCst);
        // The download lasts until every other handler waits for it.
        tests::wait_until_async("15 handlers wait", || graph_cache().stats().coalesced == 15).await;
        let bytes = [1u8, 2, 3];
        let nodes = bytes.iter().map(|b| u32::from(*b) * 10).collect();
        Ok(Graph {
            nodes: Arc::new(nodes),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatelogue_graph_downloads_once_for_many_concurrent_handlers() {
    use gatelogue::*;
    let handlers: Vec<_> = (0..16).map(|_| tokio::spawn(get_graph())).collect();
    let mut graphs = Vec::new();
    for handler in handlers {
        graphs.push(handler.await.unwrap().unwrap());
    }
    assert_eq!(
        DOWNLOADS.load(SeqCst),
        1,
        "sync_writes = true is our single flight"
    );
    assert!(
        graphs
            .iter()
            .all(|g| Arc::ptr_eq(&g.nodes, &graphs[0].nodes))
    );
    assert_eq!(*graphs[0].nodes, vec![10, 20, 30]);
    assert_eq!(graph_cache().stats().coalesced, 15);
    CLOCK.advance(secs(1800));
    get_graph().await.unwrap();
    assert_eq!(DOWNLOADS.load(SeqCst), 2);
}

/// (index id 38812437012) mintter's wasm extension host:
/// `#[instrument(level = "trace")] #[cached(result = true)] async fn call_hook(ext: Extension,
/// hook: Hook, payload: Vec<u8>) -> Result<Vec<u8>, Error>`, where `Extension` implements
/// `Hash` over its id only and `PartialEq` over its exports and id.
mod mintter_hooks {
    use super::*;
    use tracing::instrument;

    #[derive(Clone, Debug)]
    pub struct Extension {
        pub id: u32,
        pub exports: Vec<String>,
        /// Not part of its identity.
        pub loaded_at: u64,
    }
    impl Hash for Extension {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.id.hash(state);
        }
    }
    impl PartialEq for Extension {
        fn eq(&self, other: &Self) -> bool {
            self.exports == other.exports && self.id == other.id
        }
    }
    impl Eq for Extension {}

    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
    pub enum Hook {
        Render,
        Publish,
    }

    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        #[error("hook {0:?} is not exported")]
        NotExported(Hook),
    }

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[instrument(level = "trace")]
    #[ttl_cached(ttl = "1h")]
    pub async fn call_hook(ext: Extension, hook: Hook, payload: Vec<u8>) -> Result<Vec<u8>, Error> {
        RUNS.fetch_add(1, SeqCst);
        let name = format!("{hook:?}").to_lowercase();
        if !ext.exports.contains(&name) {
            return Err(Error::NotExported(hook));
        }
        Ok(payload.iter().rev().copied().collect())
    }
}

#[tokio::test]
async fn mintter_hook_results_are_keyed_by_the_extensions_own_identity() {
    use mintter_hooks::*;
    let ext = |loaded_at| Extension {
        id: 1,
        exports: vec!["render".into()],
        loaded_at,
    };
    assert_eq!(
        call_hook(ext(0), Hook::Render, vec![1, 2]).await.unwrap(),
        vec![2, 1]
    );
    assert_eq!(
        call_hook(ext(99), Hook::Render, vec![1, 2]).await.unwrap(),
        vec![2, 1]
    );
    assert_eq!(
        RUNS.load(SeqCst),
        1,
        "equal by its own Eq, whatever loaded_at says"
    );
    assert_eq!(ext(0).loaded_at + ext(99).loaded_at, 99);
    let error = call_hook(ext(0), Hook::Publish, vec![1]).await.unwrap_err();
    assert_eq!(error.to_string(), "hook Publish is not exported");
    call_hook(ext(0), Hook::Publish, vec![1]).await.unwrap_err();
    assert_eq!(RUNS.load(SeqCst), 3);
}

/// (index id 46184909819) an AWS auditing tool:
/// `#[cached(result = true, key = "String", convert = r#"{String::from("s3_buckets")}"#)]
/// pub async fn list_buckets(client: &Client) -> Result<ListBucketsOutput, AWSError>` and
/// `#[cached(result = true, key = "String", convert =
/// r#"{format!("s3_bucket_versioning_for_{}", bucket_name)}"#)] async fn
/// get_bucket_versioning(client: &Client, bucket_name: &String) -> Result<..>`.
mod aws_s3 {
    use super::*;

    pub struct Client {
        pub calls: AtomicUsize,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct ListBucketsOutput {
        pub buckets: Vec<String>,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct GetBucketVersioningOutput {
        pub status: Option<String>,
    }
    #[derive(Debug)]
    pub struct AWSError(pub String);

    #[ttl_cached(ttl = "1h", key: String = String::from("s3_buckets"))]
    pub async fn list_buckets(client: &Client) -> Result<ListBucketsOutput, AWSError> {
        client.calls.fetch_add(1, SeqCst);
        Ok(ListBucketsOutput {
            buckets: vec!["logs".into(), "site".into()],
        })
    }

    #[ttl_cached(ttl = "1h", key: String = format!("s3_bucket_versioning_for_{}", bucket_name))]
    pub async fn get_bucket_versioning(
        client: &Client,
        bucket_name: &String,
    ) -> Result<GetBucketVersioningOutput, AWSError> {
        client.calls.fetch_add(1, SeqCst);
        if bucket_name.is_empty() {
            return Err(AWSError("NoSuchBucket".into()));
        }
        Ok(GetBucketVersioningOutput {
            status: (bucket_name == "logs").then(|| "Enabled".into()),
        })
    }
}

#[tokio::test]
async fn aws_s3_listing_is_one_entry_whichever_client_asks() {
    use aws_s3::*;
    let (one, two) = (
        Client {
            calls: AtomicUsize::new(0),
        },
        Client {
            calls: AtomicUsize::new(0),
        },
    );
    let listed = list_buckets(&one).await.unwrap();
    assert_eq!(list_buckets(&two).await.unwrap(), listed);
    assert_eq!((one.calls.load(SeqCst), two.calls.load(SeqCst)), (1, 0));
    for bucket in &listed.buckets {
        get_bucket_versioning(&two, bucket).await.unwrap();
        get_bucket_versioning(&one, bucket).await.unwrap();
    }
    let logs = String::from("logs");
    let status = get_bucket_versioning(&one, &logs).await.unwrap().status;
    assert_eq!(status.as_deref(), Some("Enabled"));
    assert_eq!(two.calls.load(SeqCst), 2);
    assert_eq!(one.calls.load(SeqCst), 1);
    let missing = String::new();
    assert_eq!(
        get_bucket_versioning(&one, &missing).await.unwrap_err().0,
        "NoSuchBucket"
    );
}

/// (index id 40094021171) a plant-design database layer:
/// `#[inline] #[cached(result = true)] pub async fn query_filter_all_bran_hangs(refno: RefU64)
/// -> anyhow::Result<Vec<RefU64>> { query_filter_deep_children(refno, vec!["BRAN".into(),
/// "HANG".into()]).await }` over `#[cached(result = true)] pub async fn
/// query_filter_deep_children(refno: RefU64, nouns: Vec<String>) -> anyhow::Result<Vec<RefU64>>`.
mod plant_db {
    use super::*;

    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
    pub struct RefU64(pub u64);

    pub static QUERIES: AtomicUsize = AtomicUsize::new(0);

    #[inline]
    #[ttl_cached(ttl = "10m")]
    pub async fn query_filter_all_bran_hangs(refno: RefU64) -> anyhow::Result<Vec<RefU64>> {
        query_filter_deep_children(refno, vec!["BRAN".into(), "HANG".into()]).await
    }

    /// Represents the SQL query used to retrieve values from a database.
    #[ttl_cached(ttl = "10m")]
    pub async fn query_filter_deep_children(
        refno: RefU64,
        nouns: Vec<String>,
    ) -> anyhow::Result<Vec<RefU64>> {
        QUERIES.fetch_add(1, SeqCst);
        anyhow::ensure!(refno.0 != 0, "refno 0 is the world root");
        Ok((1..=nouns.len() as u64)
            .map(|i| RefU64(refno.0 * 100 + i))
            .collect())
    }
}

#[tokio::test]
async fn plant_db_a_cached_fn_awaiting_another_fills_both_caches() {
    use plant_db::*;
    let hangs = query_filter_all_bran_hangs(RefU64(7)).await.unwrap();
    assert_eq!(hangs, vec![RefU64(701), RefU64(702)]);
    let nouns = vec!["BRAN".to_string(), "HANG".to_string()];
    assert_eq!(
        query_filter_deep_children(RefU64(7), nouns).await.unwrap(),
        hangs
    );
    query_filter_all_bran_hangs(RefU64(7)).await.unwrap();
    assert_eq!(QUERIES.load(SeqCst), 1);
    let other_nouns = vec!["BRAN".to_string()];
    assert_eq!(
        query_filter_deep_children(RefU64(7), other_nouns)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        QUERIES.load(SeqCst),
        2,
        "the Vec<String> argument is part of the key"
    );
    let root = query_filter_all_bran_hangs(RefU64(0)).await.unwrap_err();
    assert_eq!(root.to_string(), "refno 0 is the world root");
}

/// (index id 34070432954) a markdown server:
/// `#[cached(result = true, size = 8192, key = "u64", convert = "{hash}")] async fn
/// mdblock2htmlblock(md_block: &str, hash: u64, cwd: &Path) -> Result<Htmlblock>` (pandoc run
/// as a child process; anyhow's `Result`).
mod md_blocks {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Htmlblock {
        pub hash: u64,
        pub html: String,
        pub citeblocks: String,
    }

    pub static PANDOC_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", capacity = 8192, key: u64 = hash, cache = blocks)]
    pub async fn mdblock2htmlblock(
        md_block: &str,
        hash: u64,
        cwd: &Path,
    ) -> anyhow::Result<Htmlblock> {
        PANDOC_RUNS.fetch_add(1, SeqCst);
        anyhow::ensure!(
            cwd.is_absolute(),
            "pandoc needs an absolute cwd, got {}",
            cwd.display()
        );
        Ok(Htmlblock {
            hash,
            html: format!("<p>{}</p>", md_block.trim()),
            citeblocks: String::new(),
        })
    }
}

#[tokio::test]
async fn md_blocks_are_keyed_by_the_callers_hash_alone() {
    use md_blocks::*;
    let cwd = Path::new("/srv/docs");
    let block = mdblock2htmlblock("hello ", 11, cwd).await.unwrap();
    assert_eq!(block.html, "<p>hello</p>");
    assert_eq!(block.citeblocks, "");
    let same_hash = mdblock2htmlblock("other text", 11, Path::new("/elsewhere")).await;
    assert_eq!(
        same_hash.unwrap(),
        block,
        "the hash is the whole key, as with convert"
    );
    assert_eq!(PANDOC_RUNS.load(SeqCst), 1);
    let error = mdblock2htmlblock("x", 12, Path::new("rel"))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "pandoc needs an absolute cwd, got rel");
    assert_eq!(blocks().len(), 1);
}

/// (index id 1219983629) influxdb_iox's connection manager:
/// `// cannot be an associated function` `// argument need to have static lifetime because
/// they become caching keys` `#[cached(result = true, with_cached_flag = true)] async fn
/// cached_remote_server(connect: String) -> Result<Return<Arc<RemoteServerImpl>>,
/// ConnectionManagerError>`, called from `async fn remote_server(&self, connect: &str)` in an
/// `#[async_trait]` impl. Ours can be the associated function and take `&str`; `was_cached`
/// has no equivalent.
mod iox_connections {
    use super::*;

    #[derive(Debug)]
    pub struct RemoteServerImpl {
        pub connect: String,
    }
    #[derive(Debug)]
    pub enum ConnectionManagerError {
        RemoteServerConnectError {
            source: Box<dyn std::error::Error + Send + Sync>,
        },
    }

    pub static CONNECTS: AtomicUsize = AtomicUsize::new(0);

    pub struct ConnectionManagerImpl;

    impl ConnectionManagerImpl {
        #[ttl_cached(ttl = "1h")]
        async fn cached_remote_server(
            connect: &str,
        ) -> Result<Arc<RemoteServerImpl>, ConnectionManagerError> {
            CONNECTS.fetch_add(1, SeqCst);
            let _: std::net::SocketAddr =
                connect
                    .parse()
                    .map_err(|e| ConnectionManagerError::RemoteServerConnectError {
                        source: Box::new(e) as _,
                    })?;
            Ok(Arc::new(RemoteServerImpl {
                connect: connect.to_string(),
            }))
        }

        pub async fn remote_server(
            &self,
            connect: &str,
        ) -> Result<Arc<RemoteServerImpl>, ConnectionManagerError> {
            Self::cached_remote_server(connect).await
        }
    }
}

#[tokio::test]
async fn iox_remote_servers_are_shared_arcs_per_address() {
    use iox_connections::*;
    let manager = ConnectionManagerImpl;
    let a = manager.remote_server("127.0.0.1:8082").await.unwrap();
    let b = manager.remote_server("127.0.0.1:8082").await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.connect, "127.0.0.1:8082");
    let ConnectionManagerError::RemoteServerConnectError { source } =
        manager.remote_server("not an address").await.unwrap_err();
    assert_eq!(source.to_string(), "invalid socket address syntax");
    assert_eq!(CONNECTS.load(SeqCst), 2);
}

/// (index id 15912537178) a Discord bot: `#[cached(result = true)] async fn
/// get_discord_webhook_url() -> Result<String>` (anyhow), reading a secret once; and (index
/// id 7766710435) `#[cached(option = true)] async fn get_role_id(guild_id: GuildId) ->
/// Option<RoleId>`, whose body returns `None` early on any failure.
mod discord_bots {
    use super::*;

    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
    pub struct GuildId(pub u64);
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct RoleId(pub u64);

    pub static SECRET_READS: AtomicUsize = AtomicUsize::new(0);
    pub static ROLE_LOOKUPS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "1h", clock = CLOCK.clone())]
    pub async fn get_discord_webhook_url() -> anyhow::Result<String> {
        SECRET_READS.fetch_add(1, SeqCst);
        Ok(format!("https://discord.test/api/webhooks/{}", 42))
    }

    #[ttl_cached(ttl = "1h", clock = CLOCK.clone())]
    pub async fn get_role_id(guild_id: GuildId) -> Option<RoleId> {
        ROLE_LOOKUPS.fetch_add(1, SeqCst);
        let status_ok = guild_id.0.is_multiple_of(2);
        if status_ok {
            return Some(RoleId(guild_id.0 * 10));
        }
        None
    }
}

#[tokio::test]
async fn discord_bot_secret_read_once_and_unknown_guilds_asked_again() {
    use discord_bots::*;
    let url = get_discord_webhook_url().await.unwrap();
    assert_eq!(get_discord_webhook_url().await.unwrap(), url);
    assert_eq!(SECRET_READS.load(SeqCst), 1);
    assert_eq!(get_role_id(GuildId(2)).await, Some(RoleId(20)));
    assert_eq!(get_role_id(GuildId(2)).await, Some(RoleId(20)));
    assert_eq!(get_role_id(GuildId(3)).await, None);
    assert_eq!(get_role_id(GuildId(3)).await, None);
    assert_eq!(
        ROLE_LOOKUPS.load(SeqCst),
        3,
        "option = true: None is asked again"
    );
    CLOCK.advance(secs(3600));
    get_discord_webhook_url().await.unwrap();
    assert_eq!(SECRET_READS.load(SeqCst), 2);
}

/// (index id 10627493457) an audio tool:
/// `#[instrument] #[cached(option = true, size = 1000, time = 86400)] pub async fn
/// detect_volume(path: PathBuf) -> Option<VolumeInformation>` (runs ffmpeg). Ported with
/// `#[instrument]` both above and below ours.
mod ffmpeg_volume {
    use super::*;
    use tracing::instrument;

    #[derive(Clone, Debug, PartialEq)]
    pub struct VolumeInformation {
        pub max_volume: f32,
        pub mean_volume: f32,
    }

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    fn ffmpeg(path: &Path) -> Option<VolumeInformation> {
        RUNS.fetch_add(1, SeqCst);
        let stem = path.file_stem()?.to_str()?;
        let db: f32 = stem.strip_prefix("db")?.parse().ok()?;
        Some(VolumeInformation {
            max_volume: -db,
            mean_volume: -db - 10.0,
        })
    }

    #[instrument]
    #[ttl_cached(ttl = "86400s", expiry = "fixed", capacity = 1000, clock = CLOCK.clone())]
    pub async fn detect_volume(path: PathBuf) -> Option<VolumeInformation> {
        ffmpeg(&path)
    }

    #[ttl_cached(ttl = "86400s", expiry = "fixed", capacity = 1000, clock = CLOCK.clone())]
    #[instrument(skip(path), fields(file = %path.display()))]
    pub async fn detect_volume_below(path: PathBuf) -> Option<VolumeInformation> {
        ffmpeg(&path)
    }
}

#[tokio::test]
async fn ffmpeg_volume_with_instrument_above_or_below_the_attribute() {
    use ffmpeg_volume::*;
    let path = PathBuf::from("/music/db3.flac");
    let volume = detect_volume(path.clone()).await.unwrap();
    assert_eq!(volume.max_volume, -3.0);
    assert_eq!(volume.mean_volume, -13.0);
    assert_eq!(detect_volume(path.clone()).await, Some(volume.clone()));
    assert_eq!(
        detect_volume_below(path.clone()).await,
        Some(volume.clone())
    );
    assert_eq!(detect_volume_below(path.clone()).await, Some(volume));
    assert_eq!(RUNS.load(SeqCst), 2, "one run per function");
    assert_eq!(detect_volume("/music/intro.flac".into()).await, None);
    assert_eq!(detect_volume("/music/intro.flac".into()).await, None);
    assert_eq!(RUNS.load(SeqCst), 4);
    CLOCK.advance(secs(86_400));
    detect_volume(path).await.unwrap();
    assert_eq!(RUNS.load(SeqCst), 5);
}

/// (index id 688084348) a Sui DeFi bot:
/// `#[cached(key = "String", convert = r##"{ obj_id.to_string() }"##, result = true)] pub async
/// fn get_object_cache(sui: &SuiClient, obj_id: &str) -> Result<SuiObjectData>` (eyre).
mod sui_objects {
    use super::*;

    pub struct SuiClient {
        pub rpcs: AtomicUsize,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct SuiObjectData {
        pub object_id: String,
        pub version: u64,
    }

    #[ttl_cached(ttl = "1h", key: String = obj_id.to_string())]
    pub async fn get_object_cache(sui: &SuiClient, obj_id: &str) -> anyhow::Result<SuiObjectData> {
        get_object(sui, obj_id).await
    }

    pub async fn get_object(sui: &SuiClient, obj_id: &str) -> anyhow::Result<SuiObjectData> {
        let version = sui.rpcs.fetch_add(1, SeqCst) as u64;
        let hex = obj_id
            .strip_prefix("0x")
            .ok_or_else(|| anyhow::anyhow!("not hex: {obj_id}"))?;
        Ok(SuiObjectData {
            object_id: hex.to_string(),
            version,
        })
    }
}

#[tokio::test]
async fn sui_objects_borrowed_client_left_out_of_a_string_key() {
    use sui_objects::*;
    let sui = SuiClient {
        rpcs: AtomicUsize::new(0),
    };
    let pool = get_object_cache(&sui, "0xabc").await.unwrap();
    assert_eq!(get_object_cache(&sui, "0xabc").await.unwrap(), pool);
    assert_eq!(pool.object_id, "abc");
    assert!(get_object_cache(&sui, "abc").await.is_err());
    assert!(get_object_cache(&sui, "abc").await.is_err());
    assert_eq!(sui.rpcs.load(SeqCst), 3);
}

/// (index id 14194599043) a Zitadel OIDC client:
/// `#[once(time = 1800)] pub async fn obtain_access_token(service_account: &ServiceAccount,
/// issuer: &str, authentication_options: &AuthenticationOptions) -> String` (one token,
/// whatever the arguments, for half an hour).
mod zitadel_token {
    use super::*;

    #[derive(Debug)]
    pub struct ServiceAccount {
        pub key_id: String,
    }
    #[derive(Debug, Default)]
    pub struct AuthenticationOptions {
        pub scopes: Vec<String>,
    }

    pub static LOGINS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "1800s", expiry = "fixed", key: () = (), clock = CLOCK.clone())]
    pub async fn obtain_access_token(
        service_account: &ServiceAccount,
        issuer: &str,
        authentication_options: &AuthenticationOptions,
    ) -> String {
        let n = LOGINS.fetch_add(1, SeqCst);
        let scopes = authentication_options.scopes.join(" ");
        format!("{issuer}|{}|{scopes}|{n}", service_account.key_id)
    }
}

#[tokio::test]
async fn zitadel_token_is_one_value_whatever_the_arguments_for_half_an_hour() {
    use zitadel_token::*;
    let account = ServiceAccount {
        key_id: "k1".into(),
    };
    let options = AuthenticationOptions {
        scopes: vec!["openid".into()],
    };
    let token = obtain_access_token(&account, "https://id.test", &options).await;
    assert_eq!(token, "https://id.test|k1|openid|0");
    let other = ServiceAccount {
        key_id: "k2".into(),
    };
    let default = AuthenticationOptions::default();
    assert_eq!(
        obtain_access_token(&other, "x", &default).await,
        token,
        "#[once]"
    );
    CLOCK.advance(secs(1799));
    assert_eq!(obtain_access_token(&other, "x", &default).await, token);
    CLOCK.advance(secs(1));
    assert_eq!(obtain_access_token(&other, "x", &default).await, "x|k2||1");
}

/// (index id 31219304505) a shop backend:
/// `/// Gets all the items from the DB.` `/// It will cache the result.`
/// `#[once(sync_writes = true, result = true)] async fn get_all_items_from_db(app_state:
/// &AppState) -> Result<Vec<Item>>`, read through an infallible `get_list` that turns an error
/// into an empty list; and (index id 30283619683) a Tauri app: `#[tauri::command]
/// #[once(time = 900)] pub async fn get_cached_images() -> Vec<ImgBucket> { return
/// get_all_images().await.unwrap(); }`, another attribute before the cache's.
mod shop_items {
    use super::*;

    pub struct AppState {
        pub db_up: std::sync::atomic::AtomicBool,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct Item {
        pub id: u32,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct ImgBucket {
        pub name: String,
        pub total_files: usize,
    }

    pub static FETCHES: AtomicUsize = AtomicUsize::new(0);
    pub static LISTINGS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    /// Gets all the items from the DB.
    /// It will cache the result.
    #[ttl_cached(ttl = "1h", key: () = (), clock = CLOCK.clone())]
    async fn get_all_items_from_db(app_state: &AppState) -> anyhow::Result<Vec<Item>> {
        FETCHES.fetch_add(1, SeqCst);
        anyhow::ensure!(app_state.db_up.load(SeqCst), "connection refused");
        Ok((1..=3).map(|id| Item { id }).collect())
    }

    /// Infallible method: the values fetched from the DB, or an empty list.
    pub async fn get_list(app_state: &AppState) -> Vec<Item> {
        get_all_items_from_db(app_state).await.unwrap_or(vec![])
    }

    #[must_use]
    #[ttl_cached(ttl = "900s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn get_cached_images() -> Vec<ImgBucket> {
        LISTINGS.fetch_add(1, SeqCst);
        return vec![ImgBucket {
            name: "gallery".into(),
            total_files: 12,
        }];
    }
}

#[tokio::test]
async fn shop_items_an_outage_is_not_cached_as_an_empty_shop() {
    use shop_items::*;
    let state = AppState {
        db_up: false.into(),
    };
    assert!(get_list(&state).await.is_empty());
    state.db_up.store(true, SeqCst);
    assert_eq!(get_list(&state).await.len(), 3, "the Err was not kept");
    assert_eq!(get_list(&state).await.len(), 3);
    assert_eq!(FETCHES.load(SeqCst), 2);
    let images = get_cached_images().await;
    assert_eq!(images[0].total_files, 12);
    assert_eq!(images[0].name, "gallery");
    let _ = get_cached_images().await;
    CLOCK.advance(secs(900));
    let _ = get_cached_images().await;
    assert_eq!(LISTINGS.load(SeqCst), 2);
}

/// (index id 21788339598) `#[io_cached(map_error = .., ty = "AsyncRedisCache<String,
/// Vec<BusStop>>", convert = r#"{ format!("{}{}{:?}", line_code, direction, city) }"#,
/// create = .. AsyncRedisCache::new("route-stops", 600) ..)] pub async fn
/// route_stops_cached(line_code: String, direction: Direction, city: City, state:
/// Arc<AppState>) -> Result<Vec<BusStop>, AppError>`: an axum bus API
/// whose Redis tier becomes this process's cache, keyed without the shared state.
mod bus_routes {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Direction {
        Outbound,
        Inbound,
    }
    impl std::fmt::Display for Direction {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Direction::Outbound => "0",
                Direction::Inbound => "1",
            })
        }
    }
    #[derive(Clone, Copy, Debug)]
    pub enum City {
        Cagliari,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct BusStop {
        pub id: u32,
    }
    pub struct AppState {
        pub queries: AtomicUsize,
    }
    #[derive(Debug)]
    pub struct AppError(pub anyhow::Error);

    #[ttl_cached(ttl = "600s", expiry = "fixed",
        key: String = format!("{}{}{:?}", line_code, direction, city))]
    pub async fn route_stops_cached(
        line_code: String,
        direction: Direction,
        city: City,
        state: Arc<AppState>,
    ) -> Result<Vec<BusStop>, AppError> {
        state.queries.fetch_add(1, SeqCst);
        let base: u32 = line_code
            .parse()
            .map_err(|e| AppError(anyhow::anyhow!("bad line {line_code}: {e}")))?;
        let stops = (0..3).map(|i| BusStop { id: base * 10 + i });
        Ok(match direction {
            Direction::Outbound => stops.collect(),
            Direction::Inbound => stops.rev().collect(),
        })
    }
}

#[tokio::test]
async fn bus_routes_are_keyed_by_the_formatted_line_direction_and_city() {
    use bus_routes::*;
    let state = Arc::new(AppState {
        queries: AtomicUsize::new(0),
    });
    let out = route_stops_cached(
        "5".into(),
        Direction::Outbound,
        City::Cagliari,
        state.clone(),
    );
    let out = out.await.unwrap();
    assert_eq!(out.first(), Some(&BusStop { id: 50 }));
    let back = route_stops_cached(
        "5".into(),
        Direction::Inbound,
        City::Cagliari,
        state.clone(),
    );
    assert_eq!(back.await.unwrap().first(), Some(&BusStop { id: 52 }));
    let again = route_stops_cached(
        "5".into(),
        Direction::Outbound,
        City::Cagliari,
        state.clone(),
    );
    assert_eq!(again.await.unwrap(), out);
    assert_eq!(state.queries.load(SeqCst), 2);
    let bad = route_stops_cached(
        "5a".into(),
        Direction::Inbound,
        City::Cagliari,
        state.clone(),
    );
    assert_eq!(
        bad.await.unwrap_err().0.to_string(),
        "bad line 5a: invalid digit found in string"
    );
}

/// (index id 37009509274) a CMS backend: `#[io_cached(map_error = .., convert = r#"{ id }"#,
/// ty = "AsyncRedisCache<Uuid, Blob>", ..)] async fn get_cached_blob_by_id(id: Uuid) ->
/// sqlx::Result<Blob<'static>>`, read by `pub async fn get_blob_by_id<'a>(id: Uuid, website:
/// Option<&Website>, user: Option<&User>)`. Ours caches the `'static` value directly, and the
/// borrowed options can be part of a key too.
mod cms_blobs {
    use super::*;
    use std::borrow::Cow;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Blob<'a> {
        pub id: u128,
        pub mime: Cow<'a, str>,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub struct Website {
        pub domain: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub struct User {
        pub name: String,
    }
    #[derive(Debug)]
    pub enum SqlxError {
        RowNotFound,
    }

    pub static SELECTS: AtomicUsize = AtomicUsize::new(0);
    pub static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub async fn get_cached_blob_by_id(id: u128) -> Result<Blob<'static>, SqlxError> {
        SELECTS.fetch_add(1, SeqCst);
        match id {
            0 => Err(SqlxError::RowNotFound),
            _ => Ok(Blob {
                id,
                mime: Cow::Borrowed("image/png"),
            }),
        }
    }

    #[ttl_cached(ttl = "1h")]
    pub async fn get_blob_by_id<'a>(
        id: u128,
        website: Option<&'a Website>,
        user: Option<&User>,
    ) -> Option<Blob<'static>> {
        LOOKUPS.fetch_add(1, SeqCst);
        let blob = get_cached_blob_by_id(id).await.ok()?;
        let visible = website.is_some_and(|w| w.domain.ends_with(".test")) || user.is_some();
        visible.then_some(blob)
    }
}

#[tokio::test]
async fn cms_blobs_static_lifetime_values_and_optional_borrowed_keys() {
    use cms_blobs::*;
    let blob = get_cached_blob_by_id(9).await.unwrap();
    assert_eq!(blob.mime, "image/png");
    assert!(matches!(
        get_cached_blob_by_id(0).await,
        Err(SqlxError::RowNotFound)
    ));
    let site = Website {
        domain: "a.test".into(),
    };
    let admin = User {
        name: "root".into(),
    };
    assert_eq!(
        get_blob_by_id(9, Some(&site), None).await,
        Some(blob.clone())
    );
    assert_eq!(
        get_blob_by_id(9, None, Some(&admin)).await,
        Some(blob.clone())
    );
    assert_eq!(get_blob_by_id(9, None, None).await, None);
    assert_eq!(
        get_blob_by_id(9, Some(&site.clone()), None).await,
        Some(blob)
    );
    assert_eq!(SELECTS.load(SeqCst), 2, "9 and 0, each once");
    assert_eq!(LOOKUPS.load(SeqCst), 3, "an equal website is the same key");
}

/// (index id 9033151114) a search agent: `#[io_cached(map_error = .., disk = true, convert =
/// r#"{ format!("{}{}", query, max_results) }"#, ty = "DiskCache<String, Vec<(String,
/// String, String)>>")] pub async fn query_ddg(query: &str, max_results: usize) ->
/// Result<Vec<(String, String, String)>, String>`; and (index id 14103848180) a token indexer:
/// `#[io_cached(time = 100000000000000000, disk = true, map_error = ..)] pub async fn
/// is_spam(s: &str) -> Result<bool, anyhow::Error>` ("forever").
mod search_agent {
    use super::*;

    pub static SEARCHES: AtomicUsize = AtomicUsize::new(0);
    pub static CLASSIFICATIONS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "1d")]
    pub async fn query_ddg(
        query: &str,
        max_results: usize,
    ) -> Result<Vec<(String, String, String)>, String> {
        SEARCHES.fetch_add(1, SeqCst);
        if query.is_empty() {
            return Err("Failed to search: empty query".into());
        }
        Ok((0..max_results)
            .map(|i| {
                (
                    format!("{query} {i}"),
                    format!("https://r/{i}"),
                    String::new(),
                )
            })
            .collect())
    }

    #[ttl_cached(ttl = "100000000000000000s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn is_spam(s: &str) -> Result<bool, anyhow::Error> {
        CLASSIFICATIONS.fetch_add(1, SeqCst);
        Ok(s.contains("http"))
    }
}

#[tokio::test]
async fn search_agent_results_by_query_and_count_and_a_forever_ttl() {
    use search_agent::*;
    let three = query_ddg("rust", 3).await.unwrap();
    assert_eq!(three.len(), 3);
    assert_eq!(three[2].0, "rust 2");
    assert_eq!(query_ddg("rust", 3).await.unwrap(), three);
    assert_eq!(query_ddg("rust", 1).await.unwrap().len(), 1);
    assert_eq!(
        query_ddg("", 1).await.unwrap_err(),
        "Failed to search: empty query"
    );
    assert_eq!(SEARCHES.load(SeqCst), 3);
    assert!(is_spam("visit http://x").await.unwrap());
    CLOCK.advance(secs(100 * 365 * 86_400));
    assert!(is_spam("visit http://x").await.unwrap());
    assert!(!is_spam("a token").await.unwrap());
    assert_eq!(
        CLASSIFICATIONS.load(SeqCst),
        2,
        "a century later, still cached"
    );
}

// ---------------------------------------------------------------------------------------
// Sync functions: blocking I/O, files, processes, globals
// ---------------------------------------------------------------------------------------

/// (index id 47279823795) a system-monitor API: `#[cached(time = 5)] pub fn cpu() -> Vec<Cpu>
/// { let mut system = SYSTEM.lock().unwrap(); system.refresh_cpu(); .. }`, polled by a
/// dashboard every second. cached's `time` counts from the store: the dashboard sees fresh
/// numbers every 5 s. Ported as `ttl = "5s"` alone (what `did you mean ttl` suggests), ours
/// slides: a value read every second never expires, and the dashboard shows the first
/// reading for good. `expiry = "fixed"` is the faithful port.
mod system_monitor {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Cpu {
        pub name: String,
        pub usage: f32,
    }

    pub struct System {
        pub refreshes: u32,
    }
    pub static SYSTEM: Mutex<System> = Mutex::new(System { refreshes: 0 });
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    fn read() -> Vec<Cpu> {
        let mut system = SYSTEM.lock().unwrap();
        system.refreshes += 1;
        vec![Cpu {
            name: "cpu0".into(),
            usage: system.refreshes as f32,
        }]
    }

    #[ttl_cached(ttl = "5s", expiry = "fixed", clock = CLOCK.clone())]
    pub fn cpu() -> Vec<Cpu> {
        read()
    }

    #[ttl_cached(ttl = "5s", clock = CLOCK.clone())]
    pub fn cpu_sliding() -> Vec<Cpu> {
        read()
    }
}

#[test]
fn cached_time_is_fixed_expiry_and_a_plain_ttl_port_never_refreshes() {
    use system_monitor::*;
    let (mut fixed, mut sliding) = (Vec::new(), Vec::new());
    for _ in 0..=10 {
        fixed.push(cpu()[0].usage);
        sliding.push(cpu_sliding()[0].usage);
        CLOCK.advance(secs(1));
    }
    fixed.dedup();
    sliding.dedup();
    assert_eq!(fixed.len(), 3, "refreshed at 0 s, 5 s and 10 s: {fixed:?}");
    assert_eq!(
        sliding.len(),
        1,
        "read every second, a sliding entry never expires"
    );
    assert_eq!(SYSTEM.lock().unwrap().refreshes, 4);
}

/// (index id 14041371016) a business-day calculator: `#[cached(time = 60, size = 5)] fn
/// count_business_days(mut start: Date<Utc>, end: Date<Utc>) -> i64 { while start < end {
/// .. start = start.succ(); } count }`: a `mut` argument the body advances.
mod business_days {
    use super::*;

    /// Days since an epoch that fell on a Monday.
    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
    pub struct Date(pub i64);
    impl Date {
        fn succ(self) -> Date {
            Date(self.0 + 1)
        }
        fn is_bday(self) -> bool {
            self.0.rem_euclid(7) < 5
        }
    }

    pub static COUNTS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "60s", expiry = "fixed", capacity = 5, clock = CLOCK.clone(), cache = days)]
    pub fn count_business_days(mut start: Date, end: Date) -> i64 {
        COUNTS.fetch_add(1, SeqCst);
        let mut count = 0;
        while start < end {
            if start.is_bday() {
                count += 1;
            }
            start = start.succ();
        }
        count
    }
}

#[test]
fn business_days_keyed_by_the_arguments_as_passed_not_as_the_body_left_them() {
    use business_days::*;
    assert_eq!(count_business_days(Date(0), Date(14)), 10);
    assert_eq!(count_business_days(Date(0), Date(14)), 10);
    assert_eq!(COUNTS.load(SeqCst), 1);
    assert!(days().contains_key(&(Date(0), Date(14))));
    assert!(
        !days().contains_key(&(Date(14), Date(14))),
        "not the advanced `start`"
    );
    for end in 1..=6 {
        count_business_days(Date(0), Date(end));
    }
    assert_eq!(days().len(), 5, "size = 5");
    CLOCK.advance(secs(60));
    count_business_days(Date(0), Date(6));
    assert_eq!(COUNTS.load(SeqCst), 8);
}

/// (index id 1890758746) a chain-state dashboard with ureq: `#[cached(time = 120)] pub fn
/// get(url: String, auth_header: String) -> BTreeMap<String, NetworkInfo> { let nothing =
/// BTreeMap::new(); .. let response = match req.call() { Ok(x) => .., Err(_) => return nothing
/// }; .. }`: a failed request returns an empty map, which (a plain value) is cached for 120 s,
/// as it was with cached.
mod chain_state {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct NetworkInfo {
        pub height: u64,
    }

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    fn call(url: &str, auth_header: &str) -> Result<String, String> {
        CALLS.fetch_add(1, SeqCst);
        if url.starts_with("http://down") {
            return Err("connection refused".into());
        }
        Ok(format!("mainnet={}", auth_header.len()))
    }

    #[ttl_cached(ttl = "120s", expiry = "fixed", clock = CLOCK.clone())]
    pub fn get(url: String, auth_header: String) -> BTreeMap<String, NetworkInfo> {
        let nothing: BTreeMap<String, NetworkInfo> = BTreeMap::new();
        let response: String = match call(url.as_str(), auth_header.as_str()) {
            Ok(x) => x,
            Err(_) => return nothing,
        };
        let (name, height) = response.split_once('=').unwrap();
        BTreeMap::from([(
            name.to_string(),
            NetworkInfo {
                height: height.parse().unwrap(),
            },
        )])
    }
}

#[test]
fn chain_state_an_early_returned_empty_map_is_a_value_and_is_cached() {
    use chain_state::*;
    let state = get("http://rpc".into(), "Bearer x".into());
    assert_eq!(state["mainnet"].height, 8);
    assert_eq!(get("http://rpc".into(), "Bearer x".into()), state);
    assert_eq!(get("http://rpc".into(), String::new())["mainnet"].height, 0);
    assert!(get("http://down".into(), String::new()).is_empty());
    assert!(get("http://down".into(), String::new()).is_empty());
    assert_eq!(
        CALLS.load(SeqCst),
        3,
        "the empty map is kept like any value"
    );
    CLOCK.advance(secs(120));
    get("http://down".into(), String::new());
    assert_eq!(CALLS.load(SeqCst), 4);
}

/// (index id 6820336261) a memory editor (egui): `#[cached(time = 1, key = "(usize, usize)",
/// convert = r#"{ (address, size) }"#)] fn get_mem_cached(process: &Process, address: usize,
/// size: usize) -> Result<Vec<u8>, String> { process.get_mem_at(address, size) }`.
mod memory_editor {
    use super::*;

    pub struct Process {
        pub memory: Vec<u8>,
        pub reads: AtomicUsize,
    }
    impl Process {
        fn get_mem_at(&self, address: usize, size: usize) -> Result<Vec<u8>, String> {
            self.reads.fetch_add(1, SeqCst);
            (self.memory.get(address..address + size))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("{address:#x} is not mapped"))
        }
    }

    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    #[ttl_cached(ttl = "1s", expiry = "fixed", clock = CLOCK.clone(),
        key: (usize, usize) = (address, size))]
    pub fn get_mem_cached(
        process: &Process,
        address: usize,
        size: usize,
    ) -> Result<Vec<u8>, String> {
        process.get_mem_at(address, size)
    }
}

#[test]
fn memory_editor_reads_are_refreshed_every_second() {
    use memory_editor::*;
    let process = Process {
        memory: (0..=255).collect(),
        reads: AtomicUsize::new(0),
    };
    assert_eq!(get_mem_cached(&process, 4, 2), Ok(vec![4, 5]));
    assert_eq!(get_mem_cached(&process, 4, 2), Ok(vec![4, 5]));
    assert_eq!(get_mem_cached(&process, 4, 4), Ok(vec![4, 5, 6, 7]));
    assert_eq!(
        get_mem_cached(&process, 0x1000, 1),
        Err("0x1000 is not mapped".into())
    );
    assert_eq!(process.reads.load(SeqCst), 3);
    CLOCK.advance(Duration::from_millis(999));
    get_mem_cached(&process, 4, 2).unwrap();
    assert_eq!(process.reads.load(SeqCst), 3);
    CLOCK.advance(Duration::from_millis(1));
    get_mem_cached(&process, 4, 2).unwrap();
    assert_eq!(process.reads.load(SeqCst), 4);
}

/// (index id 23707909050) an integration-test runner: `#[cached(result = true)] fn
/// parse_integration_test_config_file(config_file: PathBuf) -> Result<IntegrationTestConfig>`
/// (anyhow's `Result`, `?` and `bail!` inside).
mod test_runner_config {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct IntegrationTestConfig {
        pub env: BTreeMap<String, String>,
    }

    pub static PARSES: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    pub fn parse_integration_test_config_file(
        config_file: PathBuf,
    ) -> anyhow::Result<IntegrationTestConfig> {
        PARSES.fetch_add(1, SeqCst);
        let name = config_file.file_name().and_then(|n| n.to_str());
        let Some(name) = name else {
            anyhow::bail!("no file name in {}", config_file.display());
        };
        let level: u8 = name.trim_end_matches(".yaml").parse()?;
        Ok(IntegrationTestConfig {
            env: BTreeMap::from([("LEVEL".into(), level.to_string())]),
        })
    }
}

#[test]
fn test_runner_config_parsed_once_per_path_and_errors_convert_through_question_mark() {
    use test_runner_config::*;
    let path: PathBuf = ["scripts", "integration", "3.yaml"].iter().collect();
    let config = parse_integration_test_config_file(path.clone()).unwrap();
    assert_eq!(config.env["LEVEL"], "3");
    assert_eq!(parse_integration_test_config_file(path).unwrap(), config);
    let bad = parse_integration_test_config_file("x.yaml".into()).unwrap_err();
    assert_eq!(bad.to_string(), "invalid digit found in string");
    let root = parse_integration_test_config_file("/".into()).unwrap_err();
    assert_eq!(root.to_string(), "no file name in /");
    assert_eq!(PARSES.load(SeqCst), 3);
}

/// (index id 49032047579) an iOS tweak loader: `#[cached(result = true)] fn get_raw_hook_fn()
/// -> Result<usize, dlopen::Error>` and `#[cached(result = true)] fn get_aslr_offset_fn() ->
/// Result<fn(u32) -> usize, dlopen::Error>`: zero-argument lookups of symbols, one a function
/// pointer.
mod dylib_symbols {
    use super::*;

    #[derive(Debug)]
    pub enum DlopenError {
        OpeningLibraryError(std::io::Error),
    }

    pub static OPENS: AtomicUsize = AtomicUsize::new(0);

    fn get_single_symbol(path: &str) -> Result<usize, DlopenError> {
        OPENS.fetch_add(1, SeqCst);
        if path.ends_with(".dylib") {
            Ok(0x1000 + path.len())
        } else {
            let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
            Err(DlopenError::OpeningLibraryError(missing))
        }
    }

    fn slide(image: u32) -> usize {
        image as usize * 0x4000
    }

    #[ttl_cached(ttl = "1h")]
    pub fn get_raw_hook_fn() -> Result<usize, DlopenError> {
        const HOOK_LIB_NAME: &str = "libsubstrate.dylib";
        get_single_symbol(HOOK_LIB_NAME)
    }

    #[ttl_cached(ttl = "1h")]
    pub fn get_aslr_offset_fn() -> Result<fn(u32) -> usize, DlopenError> {
        get_single_symbol("libdyld.dylib")?;
        Ok(slide)
    }

    #[ttl_cached(ttl = "1h")]
    pub fn get_missing_fn() -> Result<usize, DlopenError> {
        get_single_symbol("libhooker")
    }
}

#[test]
fn dylib_symbols_and_function_pointers_are_looked_up_once() {
    use dylib_symbols::*;
    assert_eq!(get_raw_hook_fn().unwrap(), 0x1000 + 18);
    get_raw_hook_fn().unwrap();
    let offset = get_aslr_offset_fn().unwrap();
    assert_eq!(offset(2), 0x8000);
    assert_eq!(get_aslr_offset_fn().unwrap()(1), 0x4000);
    assert_eq!(OPENS.load(SeqCst), 2);
    let DlopenError::OpeningLibraryError(e) = get_missing_fn().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    get_missing_fn().unwrap_err();
    assert_eq!(OPENS.load(SeqCst), 4);
}

// ---------------------------------------------------------------------------------------
// Parsers and puzzle solvers: recursion, custom keys over some arguments, lifetimes
// ---------------------------------------------------------------------------------------

/// (index id 33827606016) an Advent of Code 2024 day 19 solution: `#[cached(key = "String",
/// convert = r#"{ String::from(design) }"#)] fn num_factorisations<'a>(design: &str, towels:
/// &Vec<&'a str>) -> u64`, recursive on suffixes of `design`: a function with a lifetime
/// parameter and an argument borrowing it, left out of the key.
mod aoc_towels {
    use super::*;

    pub static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", key: String = String::from(design))]
    #[allow(clippy::ptr_arg)]
    pub fn num_factorisations<'a>(design: &str, towels: &Vec<&'a str>) -> u64 {
        CALLS.fetch_add(1, SeqCst);
        if design.is_empty() {
            return 1;
        }
        let mut total = 0;
        for towel in towels {
            if design.starts_with(towel) {
                total += num_factorisations(&design[towel.chars().count()..], towels);
            }
        }
        total
    }

    /// (index id 17278419476) the same puzzle: `#[cached(key = "String", convert = r#"{
    /// design.clone() }"#)] fn count_number_of_possibilities(design: String, patterns:
    /// &[String]) -> usize`, the key cloned from an owned argument the body then slices.
    #[ttl_cached(ttl = "1h", key: String = design.clone())]
    pub(crate) fn count_number_of_possibilities(design: String, patterns: &[String]) -> usize {
        if design.is_empty() {
            return 1;
        }
        let mut count = 0;
        for pattern in patterns {
            if design.starts_with(pattern) {
                count +=
                    count_number_of_possibilities(design[pattern.len()..].to_string(), patterns);
            }
        }
        count
    }

    /// (index id 12043312300) and again: `type Pattern = String;` `#[cached(key = "String",
    /// convert = r#"{ pattern.to_owned() }"#)] fn num_combinations(pattern: Pattern,
    /// from_prefixes: &Vec<Pattern>) -> usize`.
    pub type Pattern = String;

    #[ttl_cached(ttl = "1h", key: String = pattern.to_owned())]
    #[allow(clippy::ptr_arg)]
    pub fn num_combinations(pattern: Pattern, from_prefixes: &Vec<Pattern>) -> usize {
        if pattern.is_empty() {
            return 1;
        }
        from_prefixes
            .iter()
            .map(|prefix| {
                if pattern.starts_with(prefix) {
                    num_combinations(pattern[prefix.len()..].to_owned(), from_prefixes)
                } else {
                    0
                }
            })
            .sum()
    }
}

#[test]
fn aoc_towels_three_ports_of_one_recursive_solver_agree() {
    use aoc_towels::*;
    let towels = vec!["r", "wr", "b", "g", "bwu", "rb", "gb", "br"];
    let owned: Vec<String> = towels.iter().map(|t| t.to_string()).collect();
    let designs = [
        "brwrr", "bggr", "gbbr", "rrbgbr", "ubwu", "bwurrg", "brgr", "bbrgwb",
    ];
    let expected = [2, 1, 4, 6, 0, 1, 2, 0];
    for (design, expected) in designs.iter().zip(expected) {
        assert_eq!(num_factorisations(design, &towels), expected, "{design}");
        assert_eq!(
            count_number_of_possibilities(design.to_string(), &owned),
            expected as usize
        );
        assert_eq!(
            num_combinations(design.to_string(), &owned),
            expected as usize
        );
    }
    let calls = CALLS.load(SeqCst);
    assert_eq!(num_factorisations("rrbgbr", &towels), 6);
    assert_eq!(CALLS.load(SeqCst), calls, "every suffix was memoized");
}

/// (index id 32173916181) an SWC px-to-rem plugin: `#[cached(key = "String", convert =
/// r#"{ patterns.join(",") }"#)] fn parse_patterns(patterns: &[String]) -> Vec<Regex>`; and
/// (index id 2851093180) yolk's Lua helpers: `#[cached(key = "String", convert =
/// r#"{s.to_string()}"#, result)] fn create_regex(s: &str) -> Result<Regex, LuaError>`.
mod regex_caches {
    use super::*;

    /// A stand-in for `regex::Regex`: `Clone + Send + Sync`, costly to build.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Regex(String);
    impl Regex {
        pub fn new(pattern: &str) -> Result<Regex, String> {
            COMPILED.fetch_add(1, SeqCst);
            if pattern.matches('(').count() != pattern.matches(')').count() {
                return Err(format!("regex parse error: unbalanced parens in {pattern}"));
            }
            Ok(Regex(pattern.to_string()))
        }
        pub fn is_match(&self, text: &str) -> bool {
            let body = self.0.trim_start_matches('^').trim_end_matches('$');
            match body.split_once('*') {
                Some((head, tail)) => text.starts_with(head) && text.ends_with(tail),
                None => text == body,
            }
        }
    }
    #[derive(Debug)]
    pub enum LuaError {
        Other(String),
    }

    pub static COMPILED: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", key: String = patterns.join(","))]
    pub fn parse_patterns(patterns: &[String]) -> Vec<Regex> {
        patterns
            .iter()
            .map(|pattern| Regex::new(&format!("^{}$", pattern)).unwrap())
            .collect()
    }

    #[ttl_cached(ttl = "1h", key: String = s.to_string())]
    pub fn create_regex(s: &str) -> Result<Regex, LuaError> {
        Regex::new(s).map_err(LuaError::Other)
    }
}

#[test]
fn regex_caches_compile_each_pattern_list_once() {
    use regex_caches::*;
    let patterns = vec!["*.css".to_string(), "theme*".to_string()];
    let compiled = parse_patterns(&patterns);
    assert!(compiled[0].is_match("main.css"));
    assert!(compiled[1].is_match("theme-dark"));
    assert_eq!(parse_patterns(&patterns), compiled);
    assert_eq!(COMPILED.load(SeqCst), 2);
    assert!(create_regex("a(b)").unwrap().is_match("a(b)"));
    create_regex("a(b)").unwrap();
    let LuaError::Other(message) = create_regex("a(b").unwrap_err();
    assert_eq!(message, "regex parse error: unbalanced parens in a(b");
    create_regex("a(b").unwrap_err();
    assert_eq!(COMPILED.load(SeqCst), 5);
}

/// (index id 9921878558) a genome graph tool: `#[cached(key = "String", convert = r#"{
/// format!("{}", path) }"#)] fn fasta_index(path: &str) -> Option<fai::Index> { if
/// fs::metadata(&index_path).is_ok() { return Some(..) } None }`. With `key`/`convert` and no
/// `option = true`, cached keeps the `None` (no index file yet) and never looks again; ours
/// never keeps `None`, so an index built later is found.
mod fasta {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Index {
        pub records: usize,
    }

    pub static FILES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    pub static STATS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h", key: String = format!("{}", path))]
    pub fn fasta_index(path: &str) -> Option<Index> {
        STATS.fetch_add(1, SeqCst);
        let index_path = format!("{path}.fai");
        if FILES.lock().unwrap().contains(&index_path) {
            return Some(Index {
                records: index_path.len(),
            });
        }
        None
    }
}

#[test]
fn fasta_index_a_missing_index_is_looked_for_again() {
    use fasta::*;
    assert_eq!(fasta_index("ref.fa"), None);
    assert_eq!(fasta_index("ref.fa"), None);
    FILES.lock().unwrap().push("ref.fa.fai".into());
    assert_eq!(fasta_index("ref.fa"), Some(Index { records: 10 }));
    assert_eq!(fasta_index("ref.fa"), Some(Index { records: 10 }));
    assert_eq!(STATS.load(SeqCst), 3);
}

/// (index id 12039112635) ReaLearn's Stream Deck support: inside `pub fn
/// send_stream_deck_feedback(&self, ..) -> anyhow::Result<()>`, a nested `#[cached(option =
/// true)] fn load_image_for_stream_deck(path: String, width: u32, height: u32) ->
/// Option<RgbaImage>` declared in the method's body.
mod stream_deck {
    use super::*;

    pub static DECODES: AtomicUsize = AtomicUsize::new(0);

    #[derive(Clone, Debug, PartialEq)]
    pub struct RgbaImage {
        pub width: u32,
        pub height: u32,
        pub pixels: Arc<[u8]>,
    }

    pub struct Backend {
        pub resource_path: PathBuf,
    }

    impl Backend {
        pub fn send_stream_deck_feedback(&self, path: &str, size: u32) -> anyhow::Result<usize> {
            #[ttl_cached(ttl = "1h")]
            fn load_image_for_stream_deck(
                path: String,
                width: u32,
                height: u32,
            ) -> Option<RgbaImage> {
                DECODES.fetch_add(1, SeqCst);
                let path = PathBuf::from(path);
                path.extension()?.to_str()?.eq("png").then(|| RgbaImage {
                    width,
                    height,
                    pixels: vec![0; (width * height * 4) as usize].into(),
                })
            }
            let full = self.resource_path.join(path);
            let image = load_image_for_stream_deck(full.display().to_string(), size, size)
                .ok_or_else(|| anyhow::anyhow!("cannot load {path}"))?;
            Ok(image.pixels.len())
        }
    }
}

#[test]
fn stream_deck_images_decoded_once_per_path_and_size_in_a_nested_fn() {
    use stream_deck::*;
    let backend = Backend {
        resource_path: "/reaper".into(),
    };
    assert_eq!(
        backend.send_stream_deck_feedback("play.png", 72).unwrap(),
        72 * 72 * 4
    );
    assert_eq!(
        backend.send_stream_deck_feedback("play.png", 72).unwrap(),
        72 * 72 * 4
    );
    assert_eq!(
        backend.send_stream_deck_feedback("play.png", 96).unwrap(),
        96 * 96 * 4
    );
    let error = backend
        .send_stream_deck_feedback("notes.txt", 72)
        .unwrap_err();
    assert_eq!(error.to_string(), "cannot load notes.txt");
    backend
        .send_stream_deck_feedback("notes.txt", 72)
        .unwrap_err();
    assert_eq!(DECODES.load(SeqCst), 4);
}

/// (index id 48990781800) a git GUI's backend: `#[cached(option = true, time = 1000)] fn
/// commit_ids_between_commits_inner(repo_path: String, commit_id1: String, commit_id2:
/// String) -> Option<Vec<String>>` (runs `git rev-list`, `?` on its output).
mod git_gui {
    use super::*;

    pub static GIT_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    fn run_git(args: &[&str], repo_path: &str) -> Option<String> {
        GIT_RUNS.fetch_add(1, SeqCst);
        (!repo_path.is_empty()).then(|| args.join(" "))
    }

    #[ttl_cached(ttl = "1000s", expiry = "fixed", clock = CLOCK.clone())]
    pub fn commit_ids_between_commits_inner(
        repo_path: String,
        commit_id1: String,
        commit_id2: String,
    ) -> Option<Vec<String>> {
        let out = run_git(
            &["rev-list", &format!("{}..{}", commit_id1, commit_id2)],
            &repo_path,
        )?;
        Some(out.split(' ').map(str::to_string).collect())
    }
}

#[test]
fn git_gui_three_string_key_and_none_retried() {
    use git_gui::*;
    let ids = |repo: &str, a: &str, b: &str| {
        commit_ids_between_commits_inner(repo.into(), a.into(), b.into())
    };
    assert_eq!(
        ids("/r", "a1", "b2"),
        Some(vec!["rev-list".into(), "a1..b2".into()])
    );
    ids("/r", "a1", "b2");
    ids("/r", "b2", "a1");
    assert_eq!(ids("", "a1", "b2"), None);
    assert_eq!(ids("", "a1", "b2"), None);
    assert_eq!(GIT_RUNS.load(SeqCst), 4);
    CLOCK.advance(secs(1000));
    ids("/r", "a1", "b2");
    assert_eq!(GIT_RUNS.load(SeqCst), 5);
}

/// (index id 21225643111) a Chinese stock-data crate: `// 60 * 60 * 24` `#[cached(time =
/// 86400)] async fn code_id_map_em() -> AHashMap<String, char>` filling the map from several
/// awaited requests; and (index id 10774917945) an axum Steam search: `// Cached every hour`
/// `#[cached(time = 3600)] async fn get_steam_apps() -> StatusResponse`, used by a handler
/// that destructures it.
mod market_maps {
    use super::*;

    /// `ahash::AHashMap`'s shape: a `HashMap` with a hasher type of its own.
    pub type AHashMap<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

    pub static PAGES: AtomicUsize = AtomicUsize::new(0);
    pub static CLOCK: LazyLock<ManualClock> = LazyLock::new(clock);

    async fn code_in_map(fs: &str, id: char) -> Vec<(String, char)> {
        PAGES.fetch_add(1, SeqCst);
        fs.split(',')
            .map(|code| (code.trim().to_string(), id))
            .collect()
    }

    // 60 * 60 * 24
    #[ttl_cached(ttl = "86400s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn code_id_map_em() -> AHashMap<String, char> {
        let mut result = AHashMap::with_capacity_and_hasher(6000, Default::default());
        for (fs, id) in [("m:1 t:2,m:1 t:23", '1'), ("m:0 t:6,m:0 t:80", '0')] {
            result.extend(code_in_map(fs, id).await)
        }
        result
    }

    #[derive(Clone, Debug)]
    pub struct StatusResponse {
        pub status: u16,
        pub body: Vec<String>,
    }

    // Cached every hour
    #[ttl_cached(ttl = "3600s", expiry = "fixed", clock = CLOCK.clone())]
    pub async fn get_steam_apps() -> StatusResponse {
        PAGES.fetch_add(1, SeqCst);
        StatusResponse {
            status: 200,
            body: vec!["Portal".into(), "Portal 2".into(), "Half-Life".into()],
        }
    }

    pub async fn search_steam_apps(url: String) -> (u16, Vec<String>) {
        let StatusResponse { status, body } = get_steam_apps().await;
        (
            status,
            body.into_iter().filter(|app| app.contains(&url)).collect(),
        )
    }
}

#[tokio::test]
async fn market_maps_a_map_with_its_own_hasher_and_a_shared_listing() {
    use market_maps::*;
    let map = code_id_map_em().await;
    assert_eq!(map.len(), 4);
    assert_eq!(map["m:0 t:80"], '0');
    assert_eq!(code_id_map_em().await, map);
    assert_eq!(PAGES.load(SeqCst), 2);
    assert_eq!(
        search_steam_apps("Portal".into()).await,
        (200, vec!["Portal".into(), "Portal 2".into()])
    );
    assert_eq!(search_steam_apps("Half".into()).await.1.len(), 1);
    assert_eq!(PAGES.load(SeqCst), 3);
    CLOCK.advance(secs(3600));
    search_steam_apps("Half".into()).await;
    code_id_map_em().await;
    assert_eq!(
        PAGES.load(SeqCst),
        4,
        "the listing expired, the map lives a day"
    );
}

// ---------------------------------------------------------------------------------------
// memoize users
// ---------------------------------------------------------------------------------------

/// (index id 26111875369) a respo (virtual DOM) todo app: `#[memoize(Capacity: 40)] pub fn
/// comp_task(states: StatesTree, task: Task) -> Result<RespoNode<ActionOp>, String>`: a
/// component memoized on its whole state and props. memoize keeps an `Err` too; ours does not.
mod respo_task {
    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub struct StatesTree {
        pub path: Vec<String>,
        pub draft: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub struct Task {
        pub id: String,
        pub done: bool,
        pub content: String,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub enum ActionOp {
        ToggleTask(String),
    }
    #[derive(Clone, Debug, PartialEq)]
    pub enum RespoNode<T> {
        Element {
            name: String,
            children: Vec<RespoNode<T>>,
            on_click: Option<T>,
        },
        Text(String),
    }

    pub static RENDERS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "10m", capacity = 40)]
    pub fn comp_task(states: StatesTree, task: Task) -> Result<RespoNode<ActionOp>, String> {
        RENDERS.fetch_add(1, SeqCst);
        if task.id.is_empty() {
            return Err(format!("task without id at {}", states.path.join("/")));
        }
        Ok(RespoNode::Element {
            name: "div".into(),
            children: vec![
                RespoNode::Text(task.content.clone()),
                RespoNode::Text(states.draft),
            ],
            on_click: (!task.done).then(|| ActionOp::ToggleTask(task.id.to_owned())),
        })
    }
}

#[test]
fn respo_component_rendered_once_per_state_and_props() {
    use respo_task::*;
    let states = StatesTree {
        path: vec!["tasks".into(), "t1".into()],
        draft: String::new(),
    };
    let task = Task {
        id: "t1".into(),
        done: false,
        content: "write tests".into(),
    };
    let node = comp_task(states.clone(), task.clone()).unwrap();
    assert_eq!(comp_task(states.clone(), task.clone()).unwrap(), node);
    let done = Task {
        done: true,
        ..task.clone()
    };
    let RespoNode::Element { on_click, .. } = comp_task(states.clone(), done).unwrap() else {
        panic!("an element");
    };
    assert_eq!(on_click, None);
    let orphan = Task {
        id: String::new(),
        ..task
    };
    assert_eq!(
        comp_task(states.clone(), orphan.clone()).unwrap_err(),
        "task without id at tasks/t1"
    );
    comp_task(states, orphan).unwrap_err();
    assert_eq!(RENDERS.load(SeqCst), 4, "memoize would keep the Err: 3");
}

/// (index id 32631788074) Everybody Codes quest solutions: `#[memoize(Ignore: hideouts,
/// Ignore: size)] fn dfs(sheep_pos: BTreeSet<(i64, i64)>, dragon_pos: (i64, i64), hideouts:
/// &HashSet<(i64, i64)>, size: (i64, i64), sheep_turn: bool) -> usize`, recursive; and (index
/// id 23143841465) `#[memoize(Ignore: parts)] #[allow(clippy::needless_pass_by_value)] fn
/// is_pattern_possible(pattern: String, parts: &[String]) -> bool`.
mod quest_dfs {
    use super::*;

    pub static VISITS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(
        ttl = "1h",
        key: (BTreeSet<(i64, i64)>, (i64, i64), bool) = (sheep_pos.clone(), dragon_pos, sheep_turn),
    )]
    pub fn dfs(
        sheep_pos: BTreeSet<(i64, i64)>,
        dragon_pos: (i64, i64),
        hideouts: &HashSet<(i64, i64)>,
        size: (i64, i64),
        sheep_turn: bool,
    ) -> usize {
        VISITS.fetch_add(1, SeqCst);
        if sheep_pos.is_empty() {
            return 1;
        }
        if sheep_turn {
            let mut sum = 0;
            for s in &sheep_pos {
                let p_new = (s.0, s.1 + 1);
                if dragon_pos == p_new && !hideouts.contains(&p_new) {
                    continue;
                }
                let mut next = sheep_pos.clone();
                next.remove(s);
                if p_new.1 < size.1 {
                    next.insert(p_new);
                }
                sum += dfs(next, dragon_pos, hideouts, size, false);
            }
            sum
        } else {
            let (x, y) = dragon_pos;
            let moves = [(x + 1, y), (x - 1, y)];
            moves
                .into_iter()
                .filter(|&(mx, _)| (0..size.0).contains(&mx))
                .map(|m| {
                    let mut next = sheep_pos.clone();
                    if !hideouts.contains(&m) {
                        next.remove(&m);
                    }
                    if next.len() < sheep_pos.len() && next.is_empty() {
                        return 0;
                    }
                    dfs(next, m, hideouts, size, true)
                })
                .sum()
        }
    }

    #[ttl_cached(ttl = "1h", key: String = pattern.clone())]
    #[allow(clippy::needless_pass_by_value)]
    pub fn is_pattern_possible(pattern: String, parts: &[String]) -> bool {
        if pattern.is_empty() {
            return true;
        }
        parts.iter().any(|part| {
            pattern
                .strip_prefix(part.as_str())
                .is_some_and(|rest| is_pattern_possible(rest.to_string(), parts))
        })
    }
}

#[test]
fn quest_dfs_memoized_game_search_keyed_without_the_board() {
    use quest_dfs::*;
    let sheep = BTreeSet::from([(0, 0), (2, 0)]);
    let hideouts = HashSet::from([(2, 1)]);
    let first = dfs(sheep.clone(), (1, 0), &hideouts, (3, 3), true);
    let visits = VISITS.load(SeqCst);
    assert!(first > 0);
    assert_eq!(dfs(sheep, (1, 0), &hideouts, (3, 3), true), first);
    assert_eq!(VISITS.load(SeqCst), visits);
    let parts: Vec<String> = ["r", "wr", "b", "g", "bwu", "rb", "gb", "br"]
        .map(String::from)
        .into();
    assert!(is_pattern_possible("brwrr".into(), &parts));
    assert!(!is_pattern_possible("ubwu".into(), &parts));
}

/// (index id 70879223839) a cellular-automaton engine: `#[memoize(SharedCache)]` followed by
/// `/// Check if a given (dx, dy) offset is in the neighborhood for a given range.` and `pub
/// fn neighborhood_contains(dx: i32, dy: i32, range: i32, neighborhood: Neighborhood2D) ->
/// bool`, and `neighborhood_offsets(neighborhood, range) -> Vec<(i32, i32)>`: doc comments
/// after the attribute, an enum argument.
mod automaton {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Neighborhood2D {
        Moore,
        VonNeumann,
        Knight,
    }

    pub static OFFSET_BUILDS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "1h")]
    /// Check if a given (dx, dy) offset is in the neighborhood for a given range.
    /// This is purely used for tests, do NOT use in hotpath
    pub fn neighborhood_contains(
        dx: i32,
        dy: i32,
        range: i32,
        neighborhood: Neighborhood2D,
    ) -> bool {
        neighborhood_offsets(neighborhood, range).contains(&(dx, dy))
    }

    #[ttl_cached(ttl = "1h")]
    /// For Neighborhoods, we want to save the offsets so that we can
    /// loop over them during stepping. Returns a sorted Vec for deterministic
    /// iteration order.
    pub fn neighborhood_offsets(neighborhood: Neighborhood2D, range: i32) -> Vec<(i32, i32)> {
        OFFSET_BUILDS.fetch_add(1, SeqCst);
        let mut offsets = Vec::new();
        for dx in -range..=range {
            for dy in -range..=range {
                let inside = match neighborhood {
                    Neighborhood2D::Moore => (dx, dy) != (0, 0),
                    Neighborhood2D::VonNeumann => {
                        (dx, dy) != (0, 0) && dx.abs() + dy.abs() <= range
                    }
                    Neighborhood2D::Knight => dx.abs() * dy.abs() == 2,
                };
                if inside {
                    offsets.push((dx, dy));
                }
            }
        }
        offsets.sort();
        offsets
    }
}

#[test]
fn automaton_neighborhoods_built_once_per_kind_and_range() {
    use automaton::*;
    assert_eq!(neighborhood_offsets(Neighborhood2D::Moore, 1).len(), 8);
    assert_eq!(neighborhood_offsets(Neighborhood2D::VonNeumann, 1).len(), 4);
    assert_eq!(neighborhood_offsets(Neighborhood2D::Knight, 2).len(), 8);
    assert!(neighborhood_contains(1, 2, 2, Neighborhood2D::Knight));
    assert!(!neighborhood_contains(1, 1, 1, Neighborhood2D::VonNeumann));
    assert!(neighborhood_contains(1, 1, 1, Neighborhood2D::Moore));
    assert_eq!(OFFSET_BUILDS.load(SeqCst), 3);
}

/// Lives at the crate root: `crate::NumArrangements` below is written as the user wrote it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct NumArrangements(u8);

/// (index id 55076751140) a guitar-tab arranger: `#[memoize(Capacity: 10)] pub fn
/// create_arrangements(guitar: Guitar, input_lines: Vec<Line<BeatVec<Pitch>>>,
/// num_arrangements: crate::NumArrangements, max_fret_span_filter: Option<u8>) ->
/// Result<Vec<Arrangement>, TabError>`, after a long doc comment with `# Errors` and `# Panics`.
mod guitar_tabs {
    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub struct Guitar {
        pub tuning: Vec<u8>,
    }
    pub type BeatVec<T> = Vec<T>;
    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
    pub struct Pitch(pub u8);
    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub enum Line<T> {
        MeasureBreak,
        Playable(T),
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct Arrangement {
        pub frets: Vec<(usize, u8)>,
    }
    #[derive(Debug, PartialEq)]
    pub enum TabError {
        NoFingering(Pitch),
    }

    pub static ARRANGES: AtomicUsize = AtomicUsize::new(0);

    /// Arranges the lines for the guitar, up to `num_arrangements` of them, by difficulty.
    ///
    /// # Errors
    ///
    /// Returns an error if any input line cannot be fingered on the supplied `guitar`.
    ///
    /// # Panics
    ///
    /// Panics only if an internal invariant is violated.
    #[ttl_cached(ttl = "1h", capacity = 10)]
    pub fn create_arrangements(
        guitar: Guitar,
        input_lines: Vec<Line<BeatVec<Pitch>>>,
        num_arrangements: crate::NumArrangements,
        max_fret_span_filter: Option<u8>,
    ) -> Result<Vec<Arrangement>, TabError> {
        ARRANGES.fetch_add(1, SeqCst);
        let mut frets = Vec::new();
        for pitch in input_lines.iter().flat_map(|line| match line {
            Line::Playable(beat) => beat.clone(),
            Line::MeasureBreak => Vec::new(),
        }) {
            let string = (guitar.tuning.iter().enumerate())
                .filter(|(_, open)| **open <= pitch.0)
                .filter(|(_, open)| {
                    max_fret_span_filter.is_none_or(|span| pitch.0 - **open <= span)
                })
                .max_by_key(|(_, open)| **open)
                .ok_or(TabError::NoFingering(pitch))?;
            frets.push((string.0, pitch.0 - string.1));
        }
        Ok(vec![Arrangement { frets }; usize::from(num_arrangements.0)])
    }
}

#[test]
fn guitar_tabs_whole_song_arguments_with_an_optional_filter_form_the_key() {
    use guitar_tabs::*;
    let guitar = Guitar {
        tuning: vec![40, 45, 50, 55, 59, 64],
    };
    let song = vec![
        Line::Playable(vec![Pitch(40), Pitch(52)]),
        Line::MeasureBreak,
        Line::Playable(vec![Pitch(67)]),
    ];
    let two = create_arrangements(guitar.clone(), song.clone(), NumArrangements(2), None).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].frets, vec![(0, 0), (2, 2), (5, 3)]);
    create_arrangements(guitar.clone(), song.clone(), NumArrangements(2), None).unwrap();
    create_arrangements(guitar.clone(), song.clone(), NumArrangements(2), Some(5)).unwrap();
    let low = vec![Line::Playable(vec![Pitch(30)])];
    let error = create_arrangements(guitar, low, NumArrangements(1), None);
    assert_eq!(error, Err(TabError::NoFingering(Pitch(30))));
    assert_eq!(ARRANGES.load(SeqCst), 3);
}

/// (index id: the code search's `use memoize::memoize; #[derive(Eq, PartialEq, Hash, Clone)]
/// struct FibProblem` file) `#[memoize] fn fib(input: FibProblem) -> u128`, recursive over a
/// struct key, printed for `n in 0..100`; and the recursion depth such solvers reach.
mod fib_problem {
    use super::*;

    #[derive(Eq, PartialEq, Hash, Clone)]
    pub struct FibProblem {
        pub input: u32,
    }

    #[ttl_cached(ttl = "1h")]
    pub fn fib(input: FibProblem) -> u128 {
        match input {
            FibProblem { input: n } if n < 2 => u128::from(n),
            FibProblem { input: n } => {
                fib(FibProblem { input: n - 1 }) + fib(FibProblem { input: n - 2 })
            }
        }
    }

    /// A memoized walk as deep as its argument (a path-counting DP).
    #[ttl_cached(ttl = "1h")]
    pub fn depth(n: u32) -> u64 {
        if n == 0 { 0 } else { depth(n - 1) + 1 }
    }
}

#[test]
fn fib_problem_struct_keys_through_a_hundred_levels() {
    use fib_problem::*;
    let all: Vec<u128> = (0..100).map(|n| fib(FibProblem { input: n })).collect();
    assert_eq!(all[10], 55);
    assert_eq!(all[99], 218_922_995_834_555_169_026);
}

/// Memoized recursion as deep as puzzle solvers go, on a thread with the default 2 MiB stack.
/// Each level costs more stack than a `memoize`-style `Mutex<HashMap>` wrapper's: in a debug
/// build, measured with this function, ours overflowed between 2,000 and 3,000 levels where
/// that wrapper reached 6,000 (and plain recursion 20,000+); release builds reached 20,000
/// with both. 1,000 levels keep a wide margin.
#[test]
fn fib_problem_memoized_recursion_a_thousand_levels_deep_on_a_default_stack() {
    let deep = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| fib_problem::depth(1000))
        .unwrap();
    assert_eq!(deep.join().unwrap(), 1000);
}
