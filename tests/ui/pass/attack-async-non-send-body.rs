//! An async body that is not `Send` still compiles; only its future is not `Send`.
use std::rc::Rc;

use cache_core::ttl_cached;

async fn yield_now() {}

#[ttl_cached(ttl = "1h")]
async fn local(key: u32) -> u32 {
    let rc = Rc::new(key);
    yield_now().await;
    *rc
}

fn main() {
    let _ = local(1);
}
