//! Custom keys whose types and expressions contain commas and generics; borrowed parameters of
//! other shapes.
use std::collections::BTreeMap;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: (String, u8) = (host.to_lowercase(), port))]
fn endpoint(host: &str, port: u8) -> String {
    format!("{host}:{port}")
}

#[ttl_cached(ttl = "1h", key: BTreeMap<String, u8> = BTreeMap::from([(host.to_string(), 1)]))]
fn mapped(host: &str) -> usize {
    host.len()
}

#[ttl_cached(ttl = "1h")]
fn shapes<'a>(a: &'static str, b: Option<&'a str>, c: &[u8; 4], d: &Option<String>, e: Box<str>, f: std::borrow::Cow<'static, str>) -> usize {
    a.len() + b.map_or(0, str::len) + c.len() + d.as_ref().map_or(0, String::len) + e.len() + f.len()
}

fn main() {
    assert_eq!(endpoint("A", 1), "A:1");
    assert_eq!(mapped("ab"), 2);
    assert_eq!(shapes("a", Some("b"), &[0; 4], &None, "e".into(), "f".into()), 8);
}
