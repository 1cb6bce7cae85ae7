// A borrowed argument of an unsized type of the user's own: the cache cannot keep a copy of
// it, whatever its `ToOwned` says. A known weak spot: rustc's size errors come beside ours,
// which says to pick the key (the macro cannot tell an unsized type from a sized one).
use cache_core::ttl_cached;

#[derive(PartialEq, Eq, Hash)]
pub struct Name(str);

#[ttl_cached(ttl = "1h")]
fn greet(name: &Name) -> usize {
    name.0.len()
}

fn main() {}
