//! `shared = tier` in every shape it supports; nothing here connects (no future is polled).

use std::sync::LazyLock;
use std::time::Duration;

use cache_core::redis::{RedisTier, Shared};
use cache_core::{ManualClock, ttl_cached};
use serde::{Deserialize, Serialize};

static TIER: LazyLock<RedisTier> =
    LazyLock::new(|| RedisTier::new("redis://127.0.0.1:1/").expect("a Redis URL"));

fn tier() -> RedisTier {
    TIER.clone()
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Embedding(Vec<f32>);

#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Model {
    name: String,
}

#[ttl_cached(ttl = "1h", shared = tier(), cache = embeddings)]
pub async fn embedding(text: &str, model: Model) -> Embedding {
    Embedding(vec![text.len() as f32, model.name.len() as f32])
}

#[ttl_cached(ttl = "1h", shared = &TIER)]
async fn fallible(key: &str) -> std::io::Result<u32> {
    let n: u32 = key.len().try_into().map_err(std::io::Error::other)?;
    Ok(n)
}

#[ttl_cached(ttl = "1h", shared = TIER.clone())]
async fn shared_error(key: Option<&str>) -> Result<u32, String> {
    key.map(|k| k.len() as u32).ok_or_else(|| "none".to_string())
}

#[ttl_cached(ttl = "1h", shared = tier())]
async fn maybe(key: u64) -> Option<String> {
    (key > 0).then(|| key.to_string())
}

#[ttl_cached(
    ttl = "10m",
    sweep = "1m",
    expiry = "fixed",
    max_lifetime = "1h",
    expire_after = |_: &String, value: &u64| Some(Duration::from_secs(*value)),
    refresh_after = "5m",
    stale_if_error = "1m",
    capacity = 100,
    key: String = host.to_lowercase(),
    cache = hosts,
    shared = tier(),
    clock = ManualClock::new(),
    crate = "::cache_core",
)]
async fn every_option(host: &str) -> Result<u64, std::num::ParseIntError> {
    host.parse()
}

pub struct Codec<T>(T);

impl<T: Send + Sync + 'static> Codec<T> {
    #[ttl_cached(ttl = "1h", shared = tier(), cache = Self::decoded)]
    pub async fn decode(bytes: &[u8]) -> String {
        format!("{}:{}", std::any::type_name::<T>(), bytes.len())
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(embedding("x", Model { name: "m".into() }));
    assert_send(fallible("x"));
    assert_send(shared_error(None));
    assert_send(maybe(1));
    assert_send(every_option("x"));
    assert_send(Codec::<u8>::decode(b"x"));
    let _: fn() -> &'static Shared<(String, Model), Embedding> = embeddings;
    let _: fn() -> &'static Shared<String, u64> = hosts;
    let _: fn() -> &'static Shared<Vec<u8>, String> = Codec::<u8>::decoded;
}
