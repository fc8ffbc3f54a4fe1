//! The fulfilment saga (SPEC §5), all of it: a reader who prints the saga
//! ([`describe`]) finds every decision about it in this module.
//!
//! - [`definition`]: [`SAGA`], the steps as data (owner, `after`, retries,
//!   `undo`, per-item fan-out, what exhaustion does).
//! - [`jobs`]: effects become jobs by the definition; the one place a job
//!   is built (order decisions, an ended subscription, a late refund, a
//!   re-delivery).
//! - [`ids`]: the typed ids of jobs and refunds, one formula each.
//! - [`unwind`](mod@unwind): what unwinding an order undoes, by each step's `undo`.
//! - [`refunds`]: refund planning, records and the never-more-than-paid law.
//! - [`decisions`]: what a claimed job calls and what follows its answer.
//! - [`payments`]: every payment-provider event interpreted: command,
//!   refund, park or ignore (a refund's own reports: `refunds::interpret_refund_report`).
//!
//! Nothing here imports back up: `definition` and `ids` stand alone, the
//! order's state machine (`crate::lifecycle`) reads them and `refunds`, and
//! `jobs`, `decisions` and `payments` read the state machine.

pub mod decisions;
pub mod definition;
pub mod ids;
pub mod jobs;
pub mod payments;
pub mod refunds;
pub mod unwind;

pub use decisions::{
    after_failed_hand_over, after_void_refused, call_for, next, quota_minus, quota_sum, recreate_after_failure,
    validation_problems, validation_stage, Action, Call, Failure, Outcome, ResourceState, SagaJob, StepContext,
    ValidationStage,
};
pub use definition::{
    describe, handoff_url, retry_delay, step, JobKind, Owner, StepDef, Undo, WhenExhausted, COMPENSATION_DELAYS_SECS,
    RETRY_DELAYS_SECS, SAGA,
};
pub use ids::{JobId, RefundId};
pub use jobs::{
    jobs_for, redelivery_job, refund_job, subscription_end_jobs, JobPayload, NewJob, PaymentIntentPayload,
    ProvisionPayload, RefundPayload, SubscriptionEndPayload,
};
pub use payments::{
    interpret_payment, interpret_renewal_payment, settled_intent, Ignored, PaymentReport, PaymentVerdict,
    RenewalVerdict, Reported, SettledIntent,
};
pub use refunds::{
    check_refund_bounds, interpret_refund_report, refund_state_of_provider_status, ObservedRefund, PlannedRefund,
    Refund, RefundBoundViolation, RefundChange, RefundScope, RefundState, RefundVerdict,
};
pub use unwind::{unwind, unwinding, Undoing};

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;
