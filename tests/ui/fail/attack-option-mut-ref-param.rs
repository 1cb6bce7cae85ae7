use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn touch(name: Option<&mut String>) -> usize {
    name.map_or(0, |n| n.len())
}

fn main() {}
