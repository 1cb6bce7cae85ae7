// A borrowed argument of an unsized type of the user's own with no `ToOwned`: the cache
// cannot keep a copy of it. A known weak spot: rustc's errors come beside ours, which says to
// pick the key (a user's unsized type with its own `ToOwned` works: review2-custom-to-owned-keys).
use cache_core::ttl_cached;

#[derive(PartialEq, Eq, Hash)]
pub struct Name(str);

#[ttl_cached(ttl = "1h")]
fn greet(name: &Name) -> usize {
    name.0.len()
}

fn main() {}
