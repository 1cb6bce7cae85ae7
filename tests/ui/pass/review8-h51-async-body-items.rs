//! An `async fn` body's own items (`struct Config`, `use ... as Error`) are the body's: they
//! do not rename what the signature's return type names, and a one-line body is not the
//! user's `unused_braces`.
#![deny(warnings)]

use std::io::Error;

use cache_core::ttl_cached;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub port: u16,
}

#[ttl_cached(ttl = "1h")]
pub async fn load(id: u32) -> Config {
    // The wire format, named like the domain type.
    struct Config {
        port: String,
    }
    let raw = Config {
        port: format!("{}", 8000 + id),
    };
    crate::Config {
        port: raw.port.parse().unwrap(),
    }
}

#[ttl_cached(ttl = "1h")]
pub async fn parse(text: String) -> Result<u32, Error> {
    use std::num::ParseIntError as Error;
    let parsed: Result<u32, Error> = text.parse();
    parsed.map_err(std::io::Error::other)
}

#[rustfmt::skip]
#[ttl_cached(ttl = "1h")]
pub async fn one_line(id: u32) -> u32 { id + 1 }

#[tokio::main]
async fn main() {
    assert_eq!(load(1).await, Config { port: 8001 });
    assert_eq!(parse("7".to_owned()).await.unwrap(), 7);
    assert_eq!(one_line(1).await, 2);
}
