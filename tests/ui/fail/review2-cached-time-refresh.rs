// A mechanical port of `#[cached(time = 60, time_refresh = true)]`: with `time_refresh` cached's
// entries slide (every hit restarts the 60 s), which is `ttl = "60s"` with the default sliding
// expiry. The advice for `time` must not say `expiry = "fixed"` here: following both messages
// gives the opposite policy.
use cache_core::ttl_cached;

#[ttl_cached(time = 60, time_refresh = true)]
fn rates(currency: String) -> u64 {
    currency.len() as u64
}

fn main() {}
