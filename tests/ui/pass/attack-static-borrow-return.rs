//! `&'static` data inside an owned return type is `Clone + Send + Sync + 'static`.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn status(code: u16) -> Result<&'static str, String> {
    match code {
        200 => Ok("ok"),
        _ => Err(format!("unknown {code}")),
    }
}

#[ttl_cached(ttl = "1h")]
fn names(n: u8) -> Vec<&'static str> {
    vec!["x"; n as usize]
}

fn main() {
    assert_eq!(status(200), Ok("ok"));
    assert_eq!(names(2).len(), 2);
}
