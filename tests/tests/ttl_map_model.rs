//! Model-based test: random operation sequences against a plain `HashMap` that follows the
//! documented rules, with a `ManualClock`, with and without a capacity.
//!
//! Time advances in whole seconds and the ttl is 64 s, so sliding expiry's step (ttl/64) is
//! one second: a hit at a later second than the entry's last use always moves its deadline.
//! Write-path sweeping may remove expired entries at any time; the model keeps them until
//! `sweep` and compares lengths within that slack.

mod model;

use cache_core::{DefaultHashBuilder, Expiry};
use model::{Op, TTL, op_in};
use proptest::prelude::*;
const CAPACITY: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    op_in(12, 2 * TTL)
}

fn check(expiry: Expiry, capacity: Option<usize>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    model::check_with(DefaultHashBuilder::default(), expiry, capacity, None, ops)
}

/// 2,500 cases for each of the five configurations: 12,500 in all.
const CASES: u32 = 2_500;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn sliding_map_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        check(Expiry::Sliding, None, ops)?;
    }

    #[test]
    // Few keys and short advances, so that hits keep entries alive up to their limit.
    fn sliding_map_with_a_max_lifetime_agrees_with_the_model(ops in proptest::collection::vec(op_in(3, TTL), 1..120)) {
        model::check_with(DefaultHashBuilder::default(), Expiry::Sliding, None, Some(150), ops)?;
    }

    #[test]
    fn fixed_map_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        check(Expiry::Fixed, None, ops)?;
    }

    #[test]
    fn sliding_map_with_a_capacity_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        check(Expiry::Sliding, Some(CAPACITY), ops)?;
    }

    #[test]
    fn fixed_map_with_a_capacity_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        check(Expiry::Fixed, Some(CAPACITY), ops)?;
    }
}
