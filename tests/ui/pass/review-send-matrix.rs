//! Every return kind of an `async fn`, local and `shared = tier`, with borrowed keys (`&str`,
//! `&[u8]`, `Option<&str>`) and `dyn` values and errors: each future is `Send` (checked without
//! polling the shared ones: nothing connects), and a recursive memoized fn works and is `Send`.
use std::sync::{Arc, LazyLock};

use cache_core::redis::RedisTier;
use cache_core::ttl_cached;

static TIER: LazyLock<RedisTier> =
    LazyLock::new(|| RedisTier::new("redis://127.0.0.1:1/").expect("a Redis URL"));

type BoxErr = Box<dyn std::error::Error + Send + Sync>;
type ArcErr = Arc<dyn std::error::Error + Send + Sync>;

#[ttl_cached(ttl = "1m")]
async fn plain(a: &str, b: &[u8], c: Option<&str>) -> Arc<dyn Fn() -> usize + Send + Sync> {
    let n = a.len() + b.len() + c.map_or(0, str::len);
    Arc::new(move || n)
}
#[ttl_cached(ttl = "1m")]
async fn result_box(a: &str, b: &[u8]) -> Result<u64, BoxErr> {
    let _ = b;
    Ok(a.parse::<u64>()?)
}
#[ttl_cached(ttl = "1m")]
async fn result_arc(a: &str, c: Option<&str>) -> Result<u64, ArcErr> {
    let _ = c;
    a.parse::<u64>().map_err(|e| Arc::new(e) as ArcErr)
}
#[ttl_cached(ttl = "1m")]
async fn option(a: &str) -> Option<Arc<str>> {
    (!a.is_empty()).then(|| Arc::from(a))
}

#[ttl_cached(ttl = "1m", shared = TIER.clone())]
async fn s_plain(a: &str, b: &[u8], c: Option<&str>) -> u64 {
    (a.len() + b.len() + c.map_or(0, str::len)) as u64
}
#[ttl_cached(ttl = "1m", shared = TIER.clone())]
async fn s_result_box(a: &str, b: &[u8]) -> Result<u64, BoxErr> {
    let _ = b;
    Ok(a.parse::<u64>()?)
}
#[ttl_cached(ttl = "1m", shared = TIER.clone())]
async fn s_result_arc(a: &str, c: Option<&str>) -> Result<u64, ArcErr> {
    let _ = c;
    a.parse::<u64>().map_err(|e| Arc::new(e) as ArcErr)
}
#[ttl_cached(ttl = "1m", shared = TIER.clone())]
async fn s_option(a: &str) -> Option<String> {
    (!a.is_empty()).then(|| a.to_owned())
}

#[ttl_cached(ttl = "1m")]
async fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        Box::pin(fib(n - 1)).await + Box::pin(fib(n - 2)).await
    }
}

#[ttl_cached(ttl = "1m")]
async fn fib_result(n: u64) -> Result<u64, ArcErr> {
    if n < 2 {
        return Ok(n);
    }
    Ok(Box::pin(fib_result(n - 1)).await? + Box::pin(fib_result(n - 2)).await?)
}

fn send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let _ = send(plain("a", b"b", Some("c")));
    let _ = send(result_box("1", b"b"));
    let _ = send(result_arc("1", None));
    let _ = send(option("a"));
    let _ = send(s_plain("a", b"b", Some("c")));
    let _ = send(s_result_box("1", b"b"));
    let _ = send(s_result_arc("1", None));
    let _ = send(s_option("a"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let s = String::from("xy");
        assert_eq!(tokio::spawn(async move { (plain(&s, b"b", None).await)() }).await.unwrap(), 3);
        assert_eq!(tokio::spawn(result_box("7", b"")).await.unwrap().unwrap(), 7);
        assert!(tokio::spawn(result_arc("x", None)).await.unwrap().is_err());
        assert_eq!(tokio::spawn(fib(40)).await.unwrap(), 102_334_155);
        assert_eq!(tokio::spawn(fib_result(30)).await.unwrap().unwrap(), 832_040);
    });
}
