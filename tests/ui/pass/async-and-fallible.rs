use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
async fn fetch(url: &str) -> String {
    url.to_uppercase()
}

#[ttl_cached(ttl = "1h")]
async fn verified(key: &str) -> std::io::Result<String> {
    if key.is_empty() {
        return Err(std::io::Error::other("empty key"));
    }
    let n: u32 = key.len().try_into().map_err(std::io::Error::other)?;
    Ok(format!("{key}:{n}"))
}

/// Several borrowed key parts: the future is still `Send` (the check asks for the key's
/// lookup with a lifetime per borrow).
#[ttl_cached(ttl = "1h")]
async fn pair(tenant: &str, model: &str, n: u32) -> String {
    format!("{tenant}/{model}/{n}")
}

#[ttl_cached(ttl = "1h")]
fn maybe(key: Option<&str>) -> Option<String> {
    key.map(str::to_string)
}

mod anyhow {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[ttl_cached(ttl = "1h")]
fn aliased(key: &[u8]) -> anyhow::Result<usize> {
    Ok(std::str::from_utf8(key)?.len())
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(fetch("x"));
    assert_send(verified("x"));
    assert_send(pair("a", "b", 1));
    assert_eq!(maybe(Some("a")), Some("a".to_string()));
    assert_eq!(aliased(b"abc").unwrap(), 3);
}
