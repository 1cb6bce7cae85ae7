// yolk's `#[cached(key = "String", convert = r#"{s.to_string()}"#, result)]`, ported with the
// key translated but the bare `result` flag kept.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: String = s.to_string(), result)]
fn create_regex(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

fn main() {}
