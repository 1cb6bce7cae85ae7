// An Advent of Code solver's `#[cached(key = "String", convert = r#"{ design.clone() }"#)]`,
// ported as `key: String = design`: the key expression moves the argument the body uses.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: String = design)]
fn count_number_of_possibilities(design: String, patterns: &[String]) -> usize {
    patterns.iter().filter(|p| design.starts_with(p.as_str())).count()
}

fn main() {}
