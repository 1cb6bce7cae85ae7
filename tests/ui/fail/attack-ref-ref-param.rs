use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn len(name: &&str) -> usize {
    name.len()
}

fn main() {}
