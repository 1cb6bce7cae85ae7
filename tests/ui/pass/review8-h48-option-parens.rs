//! Option values in parentheses are the attribute's syntax: the expansion places each value
//! alone (a `let` initializer, a method argument), where kept parentheses were the user's
//! `unused_parens` warning, and `#![deny(warnings)]` then failed the build.
#![deny(warnings)]
use std::time::Duration;

use cache_core::ttl_cached;

const TTL: Duration = Duration::from_secs(60);

#[ttl_cached(
    ttl = (TTL * 2),
    sweep = (Duration::from_secs(300)),
    max_lifetime = (TTL * 10),
    refresh_after = (TTL / 2),
    stale_if_error = (TTL),
    capacity = (1 << 10),
    name = ("review8::lookup"),
    clock = (cache_core::ManualClock::new()),
    expire_after = (|_key: &u32, value: &u32| Some(Duration::from_secs(u64::from(*value)))),
)]
fn lookup(key: u32) -> u32 {
    key + 1
}

#[ttl_cached(ttl = ("1h"), key: String = (format!("{host}:{port}")), cache = urls_cache)]
fn url(host: &str, port: u16) -> String {
    format!("http://{host}:{port}")
}

pub struct Service;

impl Service {
    const TTL: Duration = Duration::from_secs(5);

    #[ttl_cached(ttl = (Self::TTL), capacity = (usize::MAX))]
    async fn fetch(key: u32) -> Result<u32, String> {
        key.checked_mul(2).ok_or_else(|| "overflow".to_owned())
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn main() {
    assert_eq!(lookup(1), 2);
    assert_eq!(url("a", 1), "http://a:1");
    assert_eq!(urls_cache().len(), 1);
    assert_eq!(block_on(Service::fetch(2)), Ok(4));
}
