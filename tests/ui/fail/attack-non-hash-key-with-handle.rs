use cache_core::ttl_cached;

#[derive(Clone, PartialEq)]
pub struct Weight(f64);

#[ttl_cached(ttl = "1h", cache = weights)]
pub fn label(weight: Weight) -> String {
    weight.0.to_string()
}

fn main() {}
