//! The fleet tier (feature `redis`): a second tier on Redis, shared by every process of a
//! service, with a fleet-wide single flight.
//!
//! ```no_run
//! # #[cfg(feature = "macros")] mod demo {
//! use std::sync::LazyLock;
//! use cache_core::redis::RedisTier;
//! use cache_core::ttl_cached;
//!
//! static TIER: LazyLock<RedisTier> = LazyLock::new(|| {
//!     RedisTier::new("redis://127.0.0.1:6379/").expect("a Redis URL").namespace("embeddings")
//! });
//!
//! /// Built once in the whole fleet per text and hour, however many processes ask at once.
//! #[ttl_cached(ttl = "1h", shared = TIER.clone())]
//! pub async fn embedding(text: &str) -> Vec<f32> {
//!     vec![text.len() as f32] // the expensive call
//! }
//! # }
//! ```
//!
//! # A call
//!
//! 1. **L1**, this process's [`TtlMap`](crate::TtlMap): a hit costs what any hit costs; Redis
//!    is not asked.
//! 2. **L2**, Redis: the value if Redis has it, with one `GETEX` (sliding expiry) or `GET` and
//!    `PTTL` (fixed); a map with hard limits (`expire_after`, `max_lifetime`) or
//!    `refresh_after` reads through a script that also enforces them. A value from Redis stays
//!    in L1 for at most its remaining life there. With `refresh_after`, its L1 copy is due for
//!    a refresh `refresh_after` after its birth in Redis (the script returns its age), not
//!    after its arrival here; but never sooner than a floor after its arrival (a third of the
//!    lease, or a quarter of `refresh_after` if less), so that while another process rebuilds
//!    a value, the calls here do not send a script each.
//! 3. **The fleet's single flight**: if Redis has no value, a script gives the caller a lease
//!    (`SET NX PX`) unless another process holds it. The leader builds the value while
//!    its lease is renewed, then writes it with the map's TTL and publishes "landed". The
//!    other processes' callers wait for that message (not by polling: they look again after a
//!    third of the lease only if a message was lost, and at once when the backplane subscribes
//!    again after a drop) and read the value. If the leader dies,
//!    its lease lapses and a waiter takes over. In each process, only one caller per key goes
//!    to Redis at all: the others wait on the L1 flight.
//!
//! `Err` and `None` are neither cached nor written; the fleet's waiters then try again, one of
//! them leading. `remove` and `clear` on a [`Shared`] map delete in Redis and publish an
//! invalidation that every process's L1 applies when it arrives (one round trip).
//!
//! # Failure rules
//!
//! Redis down, slow or resetting never fails a call and never makes it wait longer than the
//! tier's [`timeout`](RedisTier::timeout) (250 ms by default) per Redis operation: the call
//! goes on as if the map were not shared (L1 and this process's single flight). The first
//! failure opens a circuit breaker: calls skip Redis for a cool-down (from 0.5 s, doubling up
//! to 30 s while it stays down), then one call probes it. Opening and recovery are each logged
//! once (`tracing`, target `cache_core::redis`, never a key). The connection reconnects by
//! itself; a command whose connection was closed while quiet (Redis's idle `timeout`, a
//! proxy) goes again, once, on the new one, as no failure. A connection that goes silent
//! without closing (a NAT that forgot the flow, a Redis host cut off) is never reconnected by
//! redis-rs, so an operation that times out gives its connection up: the breaker's probe goes
//! on a new one, and the tier recovers at the first probe after the network passes again. A
//! backplane that subscribes again drops every L1 entry of its tier fetched before, since it may have missed invalidations
//! meanwhile, and wakes every caller waiting for another process's leader, since it may have
//! missed its "landed". A subscription that has heard nothing for four timeouts sends a
//! `PING`, and one not answered within four more gives its connection up (a warning) and
//! subscribes again: a connection that went silent without a reset (a NAT that forgot the
//! flow, a Redis host that lost power) is noticed within eight timeouts, 2 s by default.
//! The first calls of a process wait, at most
//! one timeout and once, for the backplane's first subscription; a slower one is no failure of
//! Redis: calls go on to Redis meanwhile (so a process started against a hung Redis waits two
//! timeouts once: this wait, then the read that opens the breaker). A backplane that cannot
//! subscribe hears no invalidation meanwhile: each streak of failed attempts is logged once,
//! as an error if Redis refuses the subscription (an ACL, a renamed command), else as a
//! warning, and the subscription that ends it too. An error reply (`BUSY`, `LOADING`,
//! `MASTERDOWN`, ...) is a failure; only `WRONGTYPE` or a reply of another shape reads as
//! absent.
//!
//! A value that no longer deserializes (its type changed) counts as absent: it is deleted and
//! built again. Bump [`RedisTier::version`] when a type's serialized form changes, so that
//! processes running the old and the new code do not read each other's values.
//!
//! # What Redis sees
//!
//! Keys are often secrets (API keys), so no key reaches Redis:
//! - a value's Redis key is `namespace:version:tag:{digest}`, where `digest` is 128 bits of
//!   BLAKE3 in keyed mode over the map's tag and the key serialized with postcard, and `tag`
//!   64 bits of the same over the map's name;
//! - the value is its postcard serialization (the value itself, readable by anyone who can
//!   read Redis and knows its type);
//! - the lease is a random token at `...:{digest}:lease`; backplane messages carry digests
//!   and tags.
//!
//! Someone who can read Redis learns how many keys each map holds, when they are used, and the
//! values. With the tier's [`secret`](RedisTier::secret) set to one the fleet shares, they
//! cannot tell which key a digest stands for, even by guessing; without it (the secret is then
//! derived from the namespace) they can confirm a guess.
//!
//! Values and keys are serialized with postcard: compact (measured beside bincode, rmp-serde
//! and JSON by `scripts/serde-formats.sh`), with a wire format frozen for its 1.x, and the same
//! bytes in every process for the same value. A key must serialize the same way in every
//! process to be found there: a `HashMap` or `HashSet` in a key does not (its order is
//! random per process); use a `BTreeMap`, a `BTreeSet` or a sorted `Vec`.

mod backplane;
mod breaker;
mod naming;
mod scan;
mod shared;
mod tier;

pub use shared::{FleetStats, Shared, SharedBuilder};
pub use tier::{RedisTier, TierError};
