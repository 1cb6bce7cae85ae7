//! An `impl Trait` parameter left out of the key by `key: Type = expr`: still not supported,
//! but not because of the key, which the message no longer blames.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: u32 = *id)]
fn describe(id: &u32, label: impl std::fmt::Display) -> String {
    format!("{label}#{id}")
}

fn main() {}
