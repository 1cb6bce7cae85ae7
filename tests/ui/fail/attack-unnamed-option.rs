//! A duration with no option name: one error that shows the form.
use cache_core::ttl_cached;

#[ttl_cached("1h")]
fn client(key: &str) -> String {
    key.to_string()
}

fn main() {}
