// A mechanical port of a real `#[cached]` attribute (a NEAR RPC client:
// `#[cached(time = 30, result = true, size = 1000)]`, plus gatelogue's `sync_writes = true`).
use cache_core::ttl_cached;

#[ttl_cached(time = 30, result = true, size = 1000, sync_writes = true)]
async fn view_account_cached_30s(account_id: String) -> Result<u128, String> {
    Ok(account_id.len() as u128)
}

fn main() {}
