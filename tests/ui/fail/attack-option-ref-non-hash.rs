use cache_core::ttl_cached;

#[derive(Clone, PartialEq)]
pub struct Config {
    pub timeout: f64,
}

#[ttl_cached(ttl = "1h")]
fn client(config: Option<&Config>) -> String {
    format!("{:?}", config.map(|c| c.timeout))
}

fn main() {}
