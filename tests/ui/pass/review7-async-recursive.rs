//! Recursion through the cache: a sync one, and an async one through `Box::pin` (which the
//! function needs without the attribute too).
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

#[ttl_cached(ttl = "1h")]
async fn fib_async(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        Box::pin(fib_async(n - 1)).await + Box::pin(fib_async(n - 2)).await
    }
}

fn main() {
    assert_eq!(fib(50), 12_586_269_025);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(fib_async(40)), 102_334_155);
}
