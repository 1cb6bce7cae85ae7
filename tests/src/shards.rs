//! Keys placed in chosen shards: a hasher that is the `u64` key itself, so that a test puts
//! keys in the same shard or in different ones.

use std::hash::{BuildHasherDefault, Hasher};

/// A hash that is the `u64` key itself: the shard is bits 32 and up of the hash
/// (`Inner::shard`), of which a map without a capacity has 16.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The [`IdHasher`]'s builder, for `TtlMap::builder().hasher(Id::default())`.
pub type Id = BuildHasherDefault<IdHasher>;

/// Key `n` of shard `shard`.
pub const fn in_shard(shard: u64, n: u64) -> u64 {
    (shard << 32) | n
}
