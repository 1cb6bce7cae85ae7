use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h", name = tenant)]
fn f(tenant: &'static str) -> u32 {
    tenant.len() as u32
}

fn main() {
    f("a");
}
