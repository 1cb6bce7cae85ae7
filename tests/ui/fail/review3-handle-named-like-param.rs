//! A handle named like a parameter (`cache = config` on `fn load(config: &str)`): inside the
//! function the parameter would hide the handle the generated code calls. One error, at the
//! handle's name, that says to rename it.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", cache = config)]
fn load(config: &str) -> String {
    config.to_uppercase()
}

fn main() {
    assert_eq!(load("a"), "A");
}
