use std::rc::Rc;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
async fn load(key: &str) -> Rc<str> {
    Rc::from(key)
}

fn main() {}
