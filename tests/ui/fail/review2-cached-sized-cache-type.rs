// A mechanical port of `#[cached]` with its own store (`ty`/`create`, both `#[cached]`'s own
// options, the usual way to bound it): `SizedCache::with_size(100)` is `capacity = 100` and
// `TimedSizedCache` a `ttl` and a `capacity`; the advice must not talk of `#[io_cached]`.
use cache_core::ttl_cached;

#[ttl_cached(
    ttl = "1h",
    ty = "SizedCache<String, u64>",
    create = "{ SizedCache::with_size(100) }"
)]
fn lookup(name: String) -> u64 {
    name.len() as u64
}

fn main() {}
