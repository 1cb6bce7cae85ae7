use std::rc::Rc;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", key: Rc<str> = Rc::from(name))]
fn greeting(name: &str) -> String {
    format!("hello {name}")
}

fn main() {}
