use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Client {
    pub key: String,
}

/// The seed's function: docs and visibility stay.
#[ttl_cached(ttl = "1h", sweep = "5m")]
pub fn get_or_create_client(api_key: &str) -> Client {
    Client { key: api_key.to_string() }
}

fn main() {
    let as_pointer: fn(&str) -> Client = get_or_create_client;
    assert_eq!(as_pointer("k").key, "k");
}
