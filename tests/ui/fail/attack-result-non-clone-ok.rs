use cache_core::ttl_cached;

pub struct Conn(u32);

#[ttl_cached(ttl = "1h")]
fn connect(port: u32) -> Result<Conn, String> {
    Ok(Conn(port))
}

fn main() {}
