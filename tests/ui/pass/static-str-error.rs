//! A very common fallible shape: `Result<T, &'static str>`. Only `Ok(u16)` is cached; the
//! error is `'static`, `Copy`, `Send + Sync`.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn parse_port(text: &str) -> Result<u16, &'static str> {
    text.parse().map_err(|_| "not a port")
}

fn main() {
    assert_eq!(parse_port("8080"), Ok(8080));
    assert_eq!(parse_port("x"), Err("not a port"));
}
