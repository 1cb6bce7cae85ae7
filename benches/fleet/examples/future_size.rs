//! The size of a memoizing call's future, `Shared` vs a plain `TtlMap`: every call moves it
//! (a hit too), so its size is part of a hit's cost. No Redis needed (no I/O happens).
//!
//! `cargo run --release --example future_size`

use std::sync::Arc;
use std::time::Duration;

use cache_core::TtlMap;
use cache_core::redis::{RedisTier, Shared};

fn main() {
    let ttl = Duration::from_secs(60);
    let tier = RedisTier::new("redis://127.0.0.1:1/").expect("a URL");
    let plain: TtlMap<String, Arc<str>> = TtlMap::new(ttl);
    let shared: Shared<String, Arc<str>> = TtlMap::builder().ttl(ttl).shared(tier).build();
    let plain_call = plain.get_or_insert_with_async("k", async { Arc::from("v") });
    let shared_call = shared.get_or_insert_with_async("k", async { Arc::from("v") });
    println!(
        "get_or_insert_with_async future: TtlMap {} bytes, Shared {} bytes",
        size_of_val(&plain_call),
        size_of_val(&shared_call)
    );
}
