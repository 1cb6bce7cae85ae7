use std::time::Duration;

use cache_core::ttl_cached;

#[ttl_cached(ttl = Duration::from_secs(secs), cache = clients)]
pub fn client(key: &str, secs: u64) -> String {
    format!("{key}{secs}")
}

fn main() {}
