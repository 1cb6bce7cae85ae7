use std::sync::mpsc::Receiver;

use cache_core::ttl_cached;

#[ttl_cached(ttl = "1h")]
fn channel(key: u32) -> Receiver<u32> {
    let (tx, rx) = std::sync::mpsc::channel();
    tx.send(key).unwrap();
    rx
}

fn main() {}
