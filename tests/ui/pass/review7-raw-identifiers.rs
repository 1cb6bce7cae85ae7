//! Raw identifiers for the function, its parameters and the handle.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
pub fn r#type(r#match: &str, r#ref: u32) -> String {
    format!("{match}{ref}", match = r#match, ref = r#ref)
}

fn main() {
    assert_eq!(r#type("a", 1), "a1");

}
