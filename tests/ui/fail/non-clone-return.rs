use cache_core::ttl_cached;

struct Client;

#[ttl_cached(ttl = "1h")]
fn client(key: &str) -> Client {
    let _ = key;
    Client
}

fn main() {}
