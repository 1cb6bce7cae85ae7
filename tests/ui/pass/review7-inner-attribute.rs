//! An inner attribute in the body (`#![allow(..)]`) is ordinary Rust; it must stay in the body.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn lenient(key: u32) -> u32 {
    #![allow(unused_variables)]
    let unused = 5;
    key + 1
}

fn main() {
    assert_eq!(lenient(1), 2);
}
