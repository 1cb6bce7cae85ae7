use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn total(parts: Vec<impl std::hash::Hash + Eq + Clone>) -> usize {
    parts.len()
}

fn main() {}
