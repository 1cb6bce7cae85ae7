//! Borrowed lookups: finding a key of type `K` without building one.

use std::hash::{Hash, Hasher};

pub use equivalent::Equivalent;

/// A borrowed stand-in for a key of type `K`: it hashes like the key, compares equal to it
/// ([`Equivalent`]), and can build the owned key when a miss needs to store one.
///
/// Every `Q: ToOwned` is a `Lookup<Q::Owned>` (`str` for `String`, `[T]` for `Vec<T>`, `K` for
/// itself). [`TupleRef`] and [`OptionRef`] extend that to tuples of borrows and optional
/// borrows, so hits on composite keys allocate nothing either.
///
/// ```
/// use cache_core::Lookup;
///
/// let key: String = "tenant".to_key();
/// assert_eq!(key, "tenant");
/// ```
pub trait Lookup<K>: Hash + Equivalent<K> {
    /// Builds the owned key this value stands for.
    fn to_key(&self) -> K;
}

impl<Q> Lookup<Q::Owned> for Q
where
    Q: ?Sized + Hash + Eq + ToOwned,
{
    fn to_key(&self) -> Q::Owned {
        self.to_owned()
    }
}

/// A tuple of borrows that finds a tuple key: `TupleRef((&str, &str))` finds
/// `(String, String)`.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{TtlMap, TupleRef};
///
/// let map = TtlMap::new(Duration::from_secs(60));
/// map.insert(("acme".to_string(), "gpt".to_string()), 7);
/// assert_eq!(map.get(&TupleRef(("acme", "gpt"))), Some(7));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TupleRef<T>(pub T);

/// An optional borrow that finds an optional key: `OptionRef(Some("x"))` finds
/// `Some(String::from("x"))`.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{OptionRef, TtlMap};
///
/// let map = TtlMap::new(Duration::from_secs(60));
/// map.insert(Some("eu".to_string()), 1);
/// map.insert(None, 2);
/// assert_eq!(map.get(&OptionRef(Some("eu"))), Some(1));
/// assert_eq!(map.get(&OptionRef::<str>(None)), Some(2));
/// ```
///
/// It is `Copy`, as the borrow it holds is, whatever `Q` is:
///
/// ```
/// use cache_core::OptionRef;
///
/// let region = OptionRef::<str>(Some("eu"));
/// let (a, b) = (region, region); // copied, not moved
/// assert_eq!((a.0, b.0), (Some("eu"), Some("eu")));
/// ```
#[derive(Debug)]
pub struct OptionRef<'a, Q: ?Sized>(pub Option<&'a Q>);

// By hand: a derive would ask `Q: Clone`, which a borrow does not need (`str` is not `Clone`).
impl<Q: ?Sized> Clone for OptionRef<'_, Q> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q: ?Sized> Copy for OptionRef<'_, Q> {}

impl<Q: ?Sized + Hash> Hash for OptionRef<'_, Q> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // `Option<&Q>` hashes its discriminant then `Q`, exactly as `Option<K>` does.
        self.0.hash(state);
    }
}

impl<Q: ?Sized + Equivalent<K>, K> Equivalent<Option<K>> for OptionRef<'_, Q> {
    fn equivalent(&self, key: &Option<K>) -> bool {
        match (self.0, key) {
            (Some(q), Some(k)) => q.equivalent(k),
            (None, None) => true,
            _ => false,
        }
    }
}

impl<Q: ?Sized + Lookup<K>, K> Lookup<Option<K>> for OptionRef<'_, Q> {
    fn to_key(&self) -> Option<K> {
        self.0.map(Lookup::to_key)
    }
}

macro_rules! tuple_ref {
    ($($Q:ident $K:ident $i:tt),+) => {
        // Each borrow has a lifetime of its own: the check that an async memoized function's
        // future is `Send` asks for these impls for any lifetimes, one per parameter.
        impl<$($Q: ?Sized + Hash),+> Hash for TupleRef<($(&$Q,)+)> {
            fn hash<H: Hasher>(&self, state: &mut H) {
                // A tuple hashes its fields in order with nothing in between.
                $(self.0.$i.hash(state);)+
            }
        }

        impl<$($Q: ?Sized + Equivalent<$K>, $K),+> Equivalent<($($K,)+)>
            for TupleRef<($(&$Q,)+)>
        {
            fn equivalent(&self, key: &($($K,)+)) -> bool {
                $(self.0.$i.equivalent(&key.$i))&&+
            }
        }

        impl<$($Q: ?Sized + Lookup<$K>, $K),+> Lookup<($($K,)+)> for TupleRef<($(&$Q,)+)> {
            fn to_key(&self) -> ($($K,)+) {
                ($(self.0.$i.to_key(),)+)
            }
        }
    };
}

tuple_ref!(Q0 K0 0);
tuple_ref!(Q0 K0 0, Q1 K1 1);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5, Q6 K6 6);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5, Q6 K6 6, Q7 K7 7);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5, Q6 K6 6, Q7 K7 7, Q8 K8 8);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5, Q6 K6 6, Q7 K7 7, Q8 K8 8, Q9 K9 9);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5, Q6 K6 6, Q7 K7 7, Q8 K8 8, Q9 K9 9, Q10 K10 10);
tuple_ref!(Q0 K0 0, Q1 K1 1, Q2 K2 2, Q3 K3 3, Q4 K4 4, Q5 K5 5, Q6 K6 6, Q7 K7 7, Q8 K8 8, Q9 K9 9, Q10 K10 10, Q11 K11 11);
