use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: String = port)]
fn endpoint(port: u32) -> String {
    port.to_string()
}

fn main() {}
