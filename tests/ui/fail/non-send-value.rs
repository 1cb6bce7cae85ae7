use std::rc::Rc;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn shared(key: u32) -> Rc<u32> {
    Rc::new(key)
}

fn main() {}
