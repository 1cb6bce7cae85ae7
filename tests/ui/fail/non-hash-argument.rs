use cache_core::ttl_cached;

#[derive(Clone, PartialEq)]
struct Config {
    timeout: f64,
}

#[ttl_cached(ttl = "1h")]
fn client(name: &str, config: Config) -> String {
    format!("{name}{}", config.timeout)
}

fn main() {}
