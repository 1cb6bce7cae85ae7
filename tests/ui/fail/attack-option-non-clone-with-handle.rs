use cache_core::ttl_cached;

pub struct Conn(u32);

#[ttl_cached(ttl = "1h", cache = conns)]
pub fn connect(port: u32) -> Option<Conn> {
    Some(Conn(port))
}

fn main() {}
