use std::time::Duration;

use cache_core::ttl_cached;

// The key of a two-argument function is the pair of their owned forms.
#[ttl_cached(ttl = "1h", expire_after = |_: &String, _: &u32| Some(Duration::from_secs(5)))]
fn client(host: &str, port: u16) -> u32 {
    u32::from(port) + host.len() as u32
}

fn main() {}
