//! A type of the user's named `Path`, taken by reference: keyed by its own `ToOwned::Owned`
//! (itself), not by `std::path::PathBuf`.
use cache_core::ttl_cached;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path(String);

#[ttl_cached(ttl = "1h")]
fn route(path: &Path) -> usize {
    path.0.len()
}

fn main() {
    assert_eq!(route(&Path("/a".into())), 2);
}
