#![deny(deprecated)]

use cache_core::ttl_cached;

mod old {
    use super::*;

    /// Superseded; its handle is deprecated with it.
    #[deprecated(note = "use `client_v2`")]
    #[ttl_cached(ttl = "1h", cache = clients)]
    pub fn client(key: &str) -> String {
        key.to_string()
    }
}

fn main() {
    old::clients().clear();
}
