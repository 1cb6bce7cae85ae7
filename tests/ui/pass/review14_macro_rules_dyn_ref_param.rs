//! A `macro_rules!` that writes `x: &$t` with `$t:ty` = `dyn Display + Send + Sync` and a
//! custom key: without the attribute it compiles; the attribute must keep the signature.
use cache_core::ttl_cached;

macro_rules! describe {
    ($name:ident, $t:ty) => {
        #[ttl_cached(ttl = "1h", key: String = x.to_string())]
        pub fn $name(x: &$t) -> String {
            x.to_string()
        }
    };
}

describe!(describe, dyn std::fmt::Display + Send + Sync);

fn main() {
    let _ = describe(&1u8);
}
