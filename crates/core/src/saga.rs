//! The fulfillment saga as data (SPEC §5): each step paired with its undo,
//! the retry schedule, and the rule for compensations that keep failing.
//!
//! The saga's state lives in the database; this module only says what the
//! steps are and what to do after an attempt, so a crash at any point
//! resumes from stored facts through the same functions.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::ItemId;
use crate::order::{Compensation, Order};

/// A forward step of the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Re-check every item against capacity, quotas and images.
    Validate,
    /// Create one item at its provider and wait until it runs.
    Provision {
        /// The item.
        item: ItemId,
    },
    /// Store one item's credentials and send them to the customer.
    Deliver {
        /// The item.
        item: ItemId,
    },
}

/// A step and the compensation that undoes it once it has completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// What to do.
    pub step: Step,
    /// How to undo it; `None` when nothing remains to undo (a sent e-mail
    /// cannot be unsent; the credentials die with the deprovisioned item).
    pub undo: Option<Compensation>,
    /// Steps that must have completed first.
    pub after: Vec<Step>,
}

/// The saga for `order`: validate, then provision every item independently,
/// then deliver each item as soon as it is active.
pub fn plan(order: &Order) -> Vec<PlannedStep> {
    let mut steps = vec![PlannedStep {
        step: Step::Validate,
        undo: Some(Compensation::RefundPayment),
        after: vec![],
    }];
    for item in &order.items {
        steps.push(PlannedStep {
            step: Step::Provision { item: item.id },
            undo: Some(Compensation::Deprovision { item: item.id }),
            after: vec![Step::Validate],
        });
    }
    for item in &order.items {
        steps.push(PlannedStep {
            step: Step::Deliver { item: item.id },
            undo: None,
            after: vec![Step::Provision { item: item.id }],
        });
    }
    steps
}

/// The compensations to run, newest first: the stack walked in reverse.
pub fn unwind(stack: &[Compensation]) -> Vec<Compensation> {
    stack.iter().rev().cloned().collect()
}

/// Delays before each retry of a failed provider call. The first call is
/// not a retry; after it fails, these five retries follow.
pub const RETRY_DELAYS_SECS: [i64; 5] = [2, 4, 8, 16, 30];

/// What to do after a forward step's attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "then", rename_all = "snake_case")]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt {
        /// When.
        at: DateTime<Utc>,
    },
    /// Out of retries: the item fails for good and is rolled back.
    GiveUp,
}

/// Given that `failures` attempts have failed so far (counting this one),
/// when to retry: 2 s, 4 s, 8 s, 16 s, 30 s, then give up.
pub fn after_failure(failures: u32, now: DateTime<Utc>) -> AfterFailure {
    let delay = usize::try_from(failures)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| RETRY_DELAYS_SECS.get(i));
    match delay {
        Some(&secs) => AfterFailure::RetryAt {
            at: now + Duration::seconds(secs),
        },
        None => AfterFailure::GiveUp,
    }
}

/// Compensations retry instead of giving up; these are their delays. After
/// the last one the order is parked for an operator, visibly, and no longer
/// retried on its own.
pub const COMPENSATION_DELAYS_SECS: [i64; 8] = [2, 4, 8, 16, 30, 60, 120, 300];

/// What to do after a compensation's attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "then", rename_all = "snake_case")]
pub enum AfterCompensationFailure {
    /// Try again at this time.
    RetryAt {
        /// When.
        at: DateTime<Utc>,
    },
    /// Stop and ask a person.
    ParkForOperator,
}

/// Given `failures` failed attempts of a compensation so far, what next.
pub fn after_compensation_failure(failures: u32, now: DateTime<Utc>) -> AfterCompensationFailure {
    let delay = usize::try_from(failures)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| COMPENSATION_DELAYS_SECS.get(i));
    match delay {
        Some(&secs) => AfterCompensationFailure::RetryAt {
            at: now + Duration::seconds(secs),
        },
        None => AfterCompensationFailure::ParkForOperator,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn retries_back_off_2_4_8_16_30_seconds_then_give_up() {
        let delays: Vec<i64> = (1..=5)
            .map(|n| match after_failure(n, t0()) {
                AfterFailure::RetryAt { at } => (at - t0()).num_seconds(),
                AfterFailure::GiveUp => panic!("gave up after {n}"),
            })
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 30]);
        assert_eq!(after_failure(6, t0()), AfterFailure::GiveUp);
        assert_eq!(after_failure(0, t0()), AfterFailure::GiveUp);
    }

    #[test]
    fn a_compensation_that_keeps_failing_is_parked_not_looped() {
        assert!(matches!(
            after_compensation_failure(8, t0()),
            AfterCompensationFailure::RetryAt { .. }
        ));
        assert_eq!(
            after_compensation_failure(9, t0()),
            AfterCompensationFailure::ParkForOperator
        );
        assert_eq!(
            after_compensation_failure(u32::MAX, t0()),
            AfterCompensationFailure::ParkForOperator
        );
    }

    #[test]
    fn the_stack_unwinds_newest_first() {
        let a = ItemId::from_uuid(uuid::Uuid::from_u128(1));
        let b = ItemId::from_uuid(uuid::Uuid::from_u128(2));
        let stack = vec![
            Compensation::RefundPayment,
            Compensation::Deprovision { item: a },
            Compensation::Deprovision { item: b },
        ];
        assert_eq!(
            unwind(&stack),
            vec![
                Compensation::Deprovision { item: b },
                Compensation::Deprovision { item: a },
                Compensation::RefundPayment
            ]
        );
    }
}
