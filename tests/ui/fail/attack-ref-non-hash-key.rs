//! A borrowed parameter whose owned form is not `Hash`: one error, on the parameter.
use cache_core::ttl_cached;

#[derive(Clone, PartialEq)]
pub struct Config {
    pub timeout: f64,
}

#[ttl_cached(ttl = "1h")]
fn client(config: &Config) -> String {
    format!("{}", config.timeout)
}

fn main() {}
