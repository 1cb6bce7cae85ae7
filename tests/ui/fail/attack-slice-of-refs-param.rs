use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn join(parts: &[&str]) -> String {
    parts.join(",")
}

fn main() {}
