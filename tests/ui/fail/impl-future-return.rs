use cache_core::ttl_cached;

use std::future::Future;

#[ttl_cached(ttl = "1h")]
fn client(key: &str) -> impl Future<Output = String> {
    let key = key.to_string();
    async move { key }
}

fn main() {}
