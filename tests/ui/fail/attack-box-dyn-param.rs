use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn describe(value: Box<dyn std::fmt::Debug>) -> String {
    format!("{value:?}")
}

fn main() {}
