//! What Redis sees: key names built from a keyed hash, never from the key itself.
//!
//! A cache key is serialized with postcard (compact, and the same bytes in every process for
//! the same value), then hashed with BLAKE3 in keyed mode under the tier's secret together with
//! the map's tag. The Redis key is `namespace:version:tag:{digest}`: the braces make the value
//! and its lease share one Redis Cluster slot, so one script can touch both (a namespace's own
//! braces are percent-encoded, see `in_key`).

use serde::Serialize;

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
            prefix: format!("{}:{version}:", in_key(namespace)),
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

    /// The digest of `key` in the map tagged `tag`: its postcard bytes are written straight
    /// into the hash, with no buffer between. `None` if it does not serialize.
    pub(crate) fn digest<K: Serialize + ?Sized>(&self, tag: u64, key: &K) -> Option<Digest> {
        let mut hasher = blake3::Hasher::new_keyed(&self.secret);
        hasher.update(b"key\0");
        hasher.update(&tag.to_le_bytes());
        postcard::to_io(key, &mut hasher).ok()?;
        let hash = hasher.finalize();
        Some(hash.as_bytes()[..DIGEST_LEN].try_into().expect("16 bytes"))
    }

    /// `namespace:version:tag:{`, the start of every value key of the map tagged `tag`: made
    /// once per map, so that naming a value is one copy and the digest's hex.
    pub(crate) fn value_key_prefix(&self, tag: u64) -> String {
        format!("{}{{", self.map_prefix(tag))
    }

    /// The Redis key holding a value: `namespace:version:tag:{digest}`, after `prefix` (see
    /// [`value_key_prefix`](Self::value_key_prefix)).
    pub(crate) fn value_key(prefix: &str, digest: &Digest) -> String {
        let mut key = String::with_capacity(prefix.len() + 2 * DIGEST_LEN + 1);
        key.push_str(prefix);
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
    fn map_prefix(&self, tag: u64) -> String {
        format!("{}{tag:016x}:", self.prefix)
    }

    /// The `SCAN MATCH` pattern of every key of one map: its prefix, with the glob characters a
    /// namespace may hold (`*`, `?`, `[`, `]`, `\`) escaped so that it matches only itself,
    /// then `*`.
    pub(crate) fn map_pattern(&self, tag: u64) -> String {
        let mut pattern = String::new();
        for c in self.map_prefix(tag).chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// The pub/sub channel of the tier's backplane.
    pub(crate) fn channel(&self) -> String {
        format!("{}events", self.prefix)
    }
}

/// A namespace as keys and channels hold it: with Redis Cluster's hash-tag marks (`{`, `}`)
/// percent-encoded, and `%` too so that no two namespaces read alike. A key's only hash tag is
/// then its digest, which keeps a value and its lease in one slot (`{}` in a namespace would
/// have split them, failing every script) and spreads a map's keys over the slots (`{prod}`
/// would have put every key in one). Other namespaces are kept as they are.
fn in_key(namespace: &str) -> String {
    let mut escaped = String::with_capacity(namespace.len());
    for c in namespace.chars() {
        match c {
            '{' => escaped.push_str("%7B"),
            '}' => escaped.push_str("%7D"),
            '%' => escaped.push_str("%25"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of<K: Serialize + ?Sized>(naming: &Naming, tag: u64, key: &K) -> String {
        let digest = naming.digest(tag, key).expect("a key that serializes");
        Naming::value_key(&naming.value_key_prefix(tag), &digest)
    }

    #[test]
    fn keys_name_neither_the_key_nor_the_map() {
        let naming = Naming::new("svc", 3, Some([7; 32]));
        let tag = naming.map_tag("app::embedding", "(String, Vec<f32>)");
        let key = key_of(&naming, tag, "sk-secret");
        assert!(key.starts_with("svc:3:"), "{key}");
        assert!(
            !key.contains("secret") && !key.contains("embedding"),
            "{key}"
        );
        assert_eq!(Naming::lease_key(&key), format!("{key}:lease"));
    }

    /// A namespace's glob characters match only themselves in a map's `SCAN` pattern, so that
    /// `clear` in `svc*` leaves `svc-billing`'s values alone.
    #[test]
    fn a_map_pattern_escapes_the_namespace() {
        let naming = Naming::new("svc*[a]?\\", 1, Some([7; 32]));
        assert_eq!(
            naming.map_pattern(0xab),
            "svc\\*\\[a\\]\\?\\\\:1:00000000000000ab:*"
        );
        assert!(naming.value_key_prefix(0xab).starts_with("svc*[a]?\\:1:"));
    }

    /// Processes running older or newer code share values only if they name them alike: these
    /// are the names every version so far has given.
    #[test]
    fn keys_are_the_same_in_every_version() {
        let naming = Naming::new("svc", 3, Some([7; 32]));
        let tag = naming.map_tag("app::embedding", "(String, Vec<f32>)");
        assert_eq!(
            key_of(&naming, tag, "sk-secret"),
            "svc:3:5c309d34e09d6364:{4149bc18bde267165647e998ab1024a4}"
        );
        assert_eq!(
            key_of(&naming, tag, &("sk-secret".to_string(), 7u32)),
            "svc:3:5c309d34e09d6364:{b9b72f7152261749749cfb35c33718e4}"
        );
    }

    /// Redis Cluster's hash tag of `key`: what lies between its first `{` and the first `}`
    /// after that, if anything (else the whole key).
    fn hash_tag(key: &str) -> &str {
        let Some(open) = key.find('{') else {
            return key;
        };
        match key[open + 1..].find('}') {
            Some(0) | None => key,
            Some(len) => &key[open + 1..open + 1 + len],
        }
    }

    /// Whatever a namespace holds, a value and its lease hash to one slot, by the digest.
    #[test]
    fn a_namespace_s_braces_never_make_the_hash_tag() {
        for namespace in ["a{}b", "{prod}", "a{b", "}{", "{", "%7B", "svc"] {
            let naming = Naming::new(namespace, 1, Some([7; 32]));
            let digest = naming.digest(9, "k").expect("a key that serializes");
            let key = Naming::value_key(&naming.value_key_prefix(9), &digest);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hash_tag(&key), hex, "{namespace:?}: {key}");
            assert_eq!(hash_tag(&Naming::lease_key(&key)), hex, "{namespace:?}");
        }
        // No two namespaces read alike once escaped.
        let prefix = |namespace| Naming::new(namespace, 1, Some([7; 32])).value_key_prefix(9);
        assert_ne!(prefix("a{b"), prefix("a%7Bb"));
        assert_eq!(prefix("svc"), "svc:1:0000000000000009:{");
    }

    #[test]
    fn digests_depend_on_the_secret_the_map_and_the_key() {
        let a = Naming::new("svc", 1, Some([1; 32]));
        let b = Naming::new("svc", 1, Some([2; 32]));
        let (ta, tb) = (a.map_tag("f", "t"), a.map_tag("g", "t"));
        assert_ne!(a.digest(ta, "k"), a.digest(tb, "k"));
        assert_ne!(a.digest(ta, "k"), a.digest(ta, "k2"));
        assert_ne!(a.digest(ta, "k"), b.digest(ta, "k"));
        // The same in every process: nothing random goes in.
        let again = Naming::new("svc", 1, Some([1; 32]));
        assert_eq!(
            a.digest(ta, "k"),
            again.digest(again.map_tag("f", "t"), "k")
        );
    }
}
