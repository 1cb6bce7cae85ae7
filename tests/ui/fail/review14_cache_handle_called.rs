//! `cache = clients()`: the handle written as a call. One error, at the parentheses or the
//! option, that says the handle is named by an identifier.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", cache = clients())]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
