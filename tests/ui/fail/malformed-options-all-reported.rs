use cache_core::ttl_cached;

#[ttl_cached(tll = "1h", key = name.len(), cache = "clients", capcity = 3)]
fn client(name: &str) -> String {
    name.to_string()
}

fn main() {}
