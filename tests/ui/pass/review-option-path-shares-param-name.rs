//! An option whose path starts with a module that shares a parameter's name reads no
//! parameter: `config::TTL` is the module's constant (paths resolve in the type namespace,
//! a local variable cannot shadow them). Rejected by `named_variable` since 15b6e76.
use cache_core::ttl_cached;

mod config {
    use std::time::Duration;
    pub const TTL: Duration = Duration::from_secs(60);
}

mod limits {
    pub const MAX: usize = 100;
}

#[ttl_cached(ttl = config::TTL, capacity = limits::MAX)]
fn lookup(config: u8, limits: u8) -> u16 {
    u16::from(config) + u16::from(limits)
}

fn main() {
    assert_eq!(lookup(1, 2), 3);
}
