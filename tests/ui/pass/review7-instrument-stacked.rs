//! `#[tracing::instrument]` stacked above and below the attribute, sync and async.
use cache_core::ttl_cached;

#[tracing::instrument]
#[ttl_cached(ttl = "1h")]
fn above(key: u32) -> u32 {
    key + 1
}

#[ttl_cached(ttl = "1h")]
#[tracing::instrument]
fn below(key: u32) -> u32 {
    key + 2
}

#[tracing::instrument(skip(key), err)]
#[ttl_cached(ttl = "1h")]
async fn above_async(key: &str) -> Result<usize, String> {
    Ok(key.len())
}

#[ttl_cached(ttl = "1h")]
#[tracing::instrument(level = "debug", ret)]
async fn below_async(key: &str) -> usize {
    key.len()
}

fn main() {
    assert_eq!(above(1), 2);
    assert_eq!(below(1), 3);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(above_async("ab")), Ok(2));
    assert_eq!(rt.block_on(below_async("ab")), 2);
}
