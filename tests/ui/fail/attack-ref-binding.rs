use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn shout(ref name: String) -> String {
    name.to_uppercase()
}

fn main() {}
