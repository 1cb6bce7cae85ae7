//! A lookup table: `Option<&'static str>` (HTTP reason phrases, country names). The value
//! `&'static str` is `Copy + Send + Sync + 'static`; `Cow<'static, str>` is accepted.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn reason(code: u16) -> Option<&'static str> {
    match code {
        200 => Some("OK"),
        404 => Some("Not Found"),
        _ => None,
    }
}

#[ttl_cached(ttl = "1h")]
fn names(prefix: &str) -> Vec<&'static str> {
    ["alpha", "beta"]
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn main() {
    assert_eq!(reason(404), Some("Not Found"));
    assert_eq!(names("a"), vec!["alpha"]);
}
