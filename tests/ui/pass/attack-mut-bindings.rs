//! `mut` bindings of every key kind; the key is taken before the body changes them.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn trim(mut text: &str, mut n: u32, mut o: Option<&str>) -> String {
    text = text.trim();
    n += 1;
    o = o.or(Some("-"));
    format!("{text}{n}{}", o.unwrap())
}

fn main() {
    assert_eq!(trim(" a ", 1, None), "a2-");
    assert_eq!(trim(" a ", 1, None), "a2-");
    assert_eq!(trim(" a ", 2, Some("x")), "a3x");
}
