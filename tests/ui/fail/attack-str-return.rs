use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn name(id: u32) -> str {
    *id.to_string().as_str()
}

fn main() {}
