//! cached's own `examples/async_std.rs`: `#[cached(time = 1, key = "bool", convert = r#"{ true }"#,
//! result = true)] async fn only_cached_the_first_time(s: String) -> Result<Vec<String>,
//! &'static dyn std::error::Error>`. The cached value is `Vec<String>`; the error is never
//! stored.
use cache_core::ttl_cached;

#[ttl_cached(ttl = "1s", key: bool = true)]
async fn only_cached_the_first_time(
    s: String,
) -> Result<Vec<String>, &'static dyn std::error::Error> {
    Ok(vec![s])
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = rt.block_on(only_cached_the_first_time("a".into())).unwrap();
    let b = rt.block_on(only_cached_the_first_time("b".into())).unwrap();
    assert_eq!(a, b);
}
