//! What Redis sees: key names built from a keyed hash, never from the key itself.
//!
//! A cache key is serialized with postcard (compact, and the same bytes in every process for
//! the same value), then hashed with BLAKE3 in keyed mode under the tier's secret together with
//! the map's tag. The Redis key is `namespace:version:tag:{digest}`: the braces make the value
//! and its lease share one Redis Cluster slot, so one script can touch both.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes of a key's digest: 128 bits, hex-encoded in the Redis key.
pub(crate) const DIGEST_LEN: usize = 16;

/// A cache key's digest under the tier's secret and its map's tag.
pub(crate) type Digest = [u8; DIGEST_LEN];

/// The secret every process of a fleet must share, and the names derived from it.
pub(crate) struct Naming {
    secret: [u8; 32],
    /// `namespace:version:`, the prefix of every key and channel.
    prefix: String,
}

impl Naming {
    pub(crate) fn new(namespace: &str, version: u32, secret: Option<[u8; 32]>) -> Self {
        // Without a secret of the user's, one derived from the namespace: digests stay one-way,
        // but whoever knows the namespace can confirm a guessed key (see the module docs).
        let secret = secret.unwrap_or_else(|| {
            blake3::derive_key(
                "cache-core 2026 redis tier default secret",
                namespace.as_bytes(),
            )
        });
        Naming {
            secret,
            prefix: format!("{namespace}:{version}:"),
        }
    }

    /// The tag of a map named `name` whose keys and values are `types`: tells maps sharing a
    /// tier apart without naming them.
    pub(crate) fn map_tag(&self, name: &str, types: &str) -> u64 {
        let mut hasher = blake3::Hasher::new_keyed(&self.secret);
        hasher.update(b"map\0");
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(types.as_bytes());
        let hash = hasher.finalize();
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// The digest of a serialized key in the map tagged `tag`.
    pub(crate) fn digest(&self, tag: u64, key: &[u8]) -> Digest {
        let mut hasher = blake3::Hasher::new_keyed(&self.secret);
        hasher.update(b"key\0");
        hasher.update(&tag.to_le_bytes());
        hasher.update(key);
        let hash = hasher.finalize();
        hash.as_bytes()[..DIGEST_LEN].try_into().expect("16 bytes")
    }

    /// The Redis key holding a value: `namespace:version:tag:{digest}`.
    pub(crate) fn value_key(&self, tag: u64, digest: &Digest) -> String {
        let mut key = self.map_pattern_prefix(tag);
        key.push('{');
        for byte in digest {
            key.push(char::from(HEX[usize::from(byte >> 4)]));
            key.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        key.push('}');
        key
    }

    /// The Redis key of the lease on a value: in the same slot as the value.
    pub(crate) fn lease_key(value_key: &str) -> String {
        format!("{value_key}:lease")
    }

    /// `namespace:version:tag:`, the prefix of every key of one map.
    pub(crate) fn map_pattern_prefix(&self, tag: u64) -> String {
        format!("{}{tag:016x}:", self.prefix)
    }

    /// The pub/sub channel of the tier's backplane.
    pub(crate) fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_neither_the_key_nor_the_map() {
        let naming = Naming::new("svc", 3, Some([7; 32]));
        let tag = naming.map_tag("app::embedding", "(String, Vec<f32>)");
        let key = naming.value_key(tag, &naming.digest(tag, b"sk-secret"));
        assert!(key.starts_with("svc:3:"), "{key}");
        assert!(
            !key.contains("secret") && !key.contains("embedding"),
            "{key}"
        );
        assert_eq!(Naming::lease_key(&key), format!("{key}:lease"));
    }

    #[test]
    fn digests_depend_on_the_secret_the_map_and_the_key() {
        let a = Naming::new("svc", 1, Some([1; 32]));
        let b = Naming::new("svc", 1, Some([2; 32]));
        let (ta, tb) = (a.map_tag("f", "t"), a.map_tag("g", "t"));
        assert_ne!(a.digest(ta, b"k"), a.digest(tb, b"k"));
        assert_ne!(a.digest(ta, b"k"), a.digest(ta, b"k2"));
        assert_ne!(a.digest(ta, b"k"), b.digest(ta, b"k"));
        // The same in every process: nothing random goes in.
        let again = Naming::new("svc", 1, Some([1; 32]));
        assert_eq!(
            a.digest(ta, b"k"),
            again.digest(again.map_tag("f", "t"), b"k")
        );
    }
}
