use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn score(pair: (String, f64)) -> String {
    format!("{}{}", pair.0, pair.1)
}

fn main() {}
