//! `#[ttl_cached]` on shapes users write that earlier reviews did not try: each test names the
//! shape and what must hold.

use std::sync::atomic::{AtomicU32, Ordering};

use cache_core::ttl_cached;

/// A type of the user's named `Path` (as `object_store::path::Path` is), taken by reference,
/// with a `cache = name` handle: the handle's signature names the map the function uses (it
/// named `std::path::PathBuf`, which failed to compile with two type mismatches at the
/// attribute).
mod user_path {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct Path(pub String);

    pub static RUNS: AtomicU32 = AtomicU32::new(0);

    #[ttl_cached(ttl = "1h", cache = metas)]
    pub fn meta(path: &Path) -> usize {
        RUNS.fetch_add(1, Ordering::SeqCst);
        path.0.len()
    }

    #[ttl_cached(ttl = "1h", cache = optional_metas)]
    pub fn optional_meta(path: Option<&Path>, n: u8) -> usize {
        path.map_or(0, |p| p.0.len()) + usize::from(n)
    }
}

#[test]
fn a_handle_keyed_by_a_user_type_named_path_is_that_type() {
    let key = user_path::Path("/a/b".to_owned());
    assert_eq!(user_path::meta(&key), 4);
    assert_eq!(user_path::meta(&key), 4);
    assert_eq!(user_path::RUNS.load(Ordering::SeqCst), 1);
    let map: &cache_core::TtlMap<user_path::Path, usize> = user_path::metas();
    assert_eq!(map.get(&key), Some(4));
    assert_eq!(user_path::optional_meta(Some(&key), 1), 5);
    let map: &cache_core::TtlMap<(Option<user_path::Path>, u8), usize> =
        user_path::optional_metas();
    assert_eq!(map.len(), 1);
}

/// The standard library's `Path` still keys by `PathBuf`, in the handle's signature too.
mod std_path {
    use super::*;
    use std::path::Path;

    #[ttl_cached(ttl = "1h", cache = sizes)]
    pub fn size(path: &Path) -> usize {
        path.as_os_str().len()
    }
}

#[test]
fn a_handle_keyed_by_std_path_is_keyed_by_path_buf() {
    assert_eq!(std_path::size(std::path::Path::new("/tmp")), 4);
    let map: &cache_core::TtlMap<std::path::PathBuf, usize> = std_path::sizes();
    assert_eq!(map.get(std::path::Path::new("/tmp")), Some(4));
}

/// A parameter of type `Self` (or `&Self`) left out of the key by `key: Type = expr`: the
/// static never names it, so it is taken as any other parameter (it was rejected with "`Self`
/// cannot appear in a key type", about a key that does not contain it).
mod self_param {
    use super::*;

    #[derive(Clone, Debug)]
    pub struct Tenant {
        pub id: u32,
        pub name: String,
    }

    pub static RUNS: AtomicU32 = AtomicU32::new(0);

    impl Tenant {
        #[ttl_cached(ttl = "1h", key: u32 = tenant.id)]
        pub fn label(tenant: &Self) -> String {
            RUNS.fetch_add(1, Ordering::SeqCst);
            format!("{}#{}", tenant.name, tenant.id)
        }

        #[ttl_cached(ttl = "1h", key: (u32, u8) = (tenant.id, n))]
        pub async fn label_async(tenant: Self, n: u8) -> String {
            format!("{}#{}/{n}", tenant.name, tenant.id)
        }
    }
}

#[test]
fn a_self_parameter_left_out_of_a_custom_key_is_taken() {
    use self_param::{RUNS, Tenant};
    let a = Tenant {
        id: 1,
        name: "a".to_owned(),
    };
    let renamed = Tenant {
        id: 1,
        name: "b".to_owned(),
    };
    assert_eq!(Tenant::label(&a), "a#1");
    assert_eq!(Tenant::label(&renamed), "a#1", "keyed by the id alone");
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let label = runtime.block_on(Tenant::label_async(a, 2));
    assert_eq!(label, "a#1/2");
}
