//! Strict lint levels around annotated functions: the expansion brings no warning of its own,
//! and no `#[allow]` that a `forbid` would turn into an error.
#![forbid(unused_imports, unused_braces)]
#![deny(warnings)]
use cache_core::ttl_cached;

// One-line async bodies: spliced into the generated block, they are not `unused_braces`.
#[ttl_cached(ttl = "1h")]
async fn upper(key: &str) -> String { key.to_uppercase() }

#[ttl_cached(ttl = "1h", cache = parsed_cache)]
async fn parsed(key: &str) -> Result<u32, std::num::ParseIntError> { key.parse() }

pub struct Host;

impl Host {
    #[ttl_cached(ttl = "1h")]
    async fn found(key: u32) -> Option<u32> { key.checked_add(1) }
}

mod strict {
    #![forbid(deprecated)]
    use cache_core::ttl_cached;

    #[ttl_cached(ttl = "1h", cache = double_cache)]
    pub fn double(key: u32) -> u32 { key * 2 }
}

mod old {
    use cache_core::ttl_cached;

    /// A deprecated function's handle is deprecated too; the function itself still calls it.
    #[deprecated(note = "use `strict::double`")]
    #[ttl_cached(ttl = "1h", cache = triple_cache)]
    pub fn triple(key: u32) -> u32 { key * 3 }
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

#[allow(deprecated)]
fn main() {
    assert_eq!(block_on(upper("ab")), "AB");
    assert_eq!(block_on(parsed("7")), Ok(7));
    assert!(block_on(parsed("x")).is_err());
    assert_eq!(parsed_cache().len(), 1);
    assert_eq!(block_on(Host::found(1)), Some(2));
    assert_eq!(strict::double(2), 4);
    assert_eq!(strict::double_cache().len(), 1);
    assert_eq!(old::triple(2), 6);
    assert_eq!(old::triple_cache().len(), 1);
}
