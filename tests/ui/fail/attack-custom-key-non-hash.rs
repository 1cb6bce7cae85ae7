use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: f64 = weight * 2.0)]
fn scaled(weight: f64) -> String {
    weight.to_string()
}

fn main() {}
