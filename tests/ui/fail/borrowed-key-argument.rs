use std::borrow::Cow;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn normalize(name: Cow<'_, str>) -> String {
    name.to_lowercase()
}

fn main() {}
