//! The fulfilment saga as one piece of data (SPEC §5): every step, what it
//! does, the component that runs it (and so its private job route), the
//! steps it waits for, its retry schedule, its undo, and what a failure that
//! retries cannot mend does. The jobs ([`super::jobs`]), the unwinding and
//! the decisions ([`super::decisions`]) read it; [`describe`] prints it.

use chrono::Duration;
use serde::Serialize;

use crate::closed_set::closed_set;

closed_set!(
    /// What a job does.
    JobKind, "job kind" {
        /// Ask the payment provider for a payment intent.
        CreatePaymentIntent = "create_payment_intent",
        /// Void the payment intent of a cancelled order.
        CancelPaymentIntent = "cancel_payment_intent",
        /// Re-check the paid order, then start provisioning or fail it.
        Validate = "validate",
        /// Create one item at its provider and wait until it runs.
        Provision = "provision",
        /// Store one item's credentials and e-mail them.
        Deliver = "deliver",
        /// Remove one item's resources at its provider (a compensation).
        Deprovision = "deprovision",
        /// Give money back at the payment provider (a compensation;
        /// `crate::refund`).
        Refund = "refund",
        /// Remove an ended subscription's resource at its provider (a
        /// compensation: it retries, then parks).
        DeprovisionSubscription = "deprovision_subscription",
        /// Void an ended subscription's open renewal payment intent (a
        /// compensation).
        VoidRenewalIntent = "void_renewal_intent",
    }
);

/// The component that runs a step's jobs; each talks only to its own
/// provider and holds only its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// `pay`: the payment provider.
    Pay,
    /// `validate`: no provider, the database only.
    Validate,
    /// `provision-step`: the cloud provider and the credentials key.
    ProvisionStep,
    /// `deliver`: the e-mail provider and the credentials key.
    Deliver,
}

impl Owner {
    /// The component's id in `spin.toml`.
    pub const fn component(self) -> &'static str {
        match self {
            Owner::Pay => "pay",
            Owner::Validate => "validate",
            Owner::ProvisionStep => "provision-step",
            Owner::Deliver => "deliver",
        }
    }

    /// The segment of its private job route, `/v1/internal/jobs/<segment>/{id}`.
    pub const fn segment(self) -> &'static str {
        match self {
            Owner::Pay => "payment",
            Owner::Validate => "validate",
            Owner::ProvisionStep => "provision",
            Owner::Deliver => "deliver",
        }
    }

    /// The path that hands it the job `job_id` under the claim `claim`.
    pub fn job_path(self, job_id: &str, claim: i64) -> String {
        format!("/v1/internal/jobs/{}/{job_id}?claim={claim}", self.segment())
    }
}

/// The one URL a worker hands the job `job_id` of `kind`, claimed under
/// `claim`, to: its owner's private job route, through service chaining
/// (`http://<component>.spin.internal/v1/internal/jobs/...`).
pub fn handoff_url(kind: JobKind, job_id: &str, claim: i64) -> String {
    let owner = step(kind).owner;
    format!(
        "http://{}.spin.internal{}",
        owner.component(),
        owner.job_path(job_id, claim)
    )
}

/// What a step's failure does once retrying will not mend it (a permanent
/// error, or the retry schedule is used up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenExhausted {
    /// The item fails and is compensated (deprovisioned, refunded); the
    /// order's other items are untouched.
    RollBackItem,
    /// The order fails validation, which requests its refund.
    FailOrderAndRefund,
    /// The job stops and the order waits for an operator, visibly.
    Park,
}

/// How a completed step is undone when the order is unwound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum Undo {
    /// By a job of this kind.
    Job {
        /// Its kind.
        kind: JobKind,
    },
    /// By requesting a refund of the payment (`billing.refund-requested`).
    RequestRefund,
    /// Nothing remains to undo.
    Nothing {
        /// Why.
        why: &'static str,
    },
}

/// One step of the saga, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepDef {
    /// The job kind that runs it.
    pub kind: JobKind,
    /// What it does, for people.
    pub does: &'static str,
    /// The component that runs it.
    pub owner: Owner,
    /// One job per item (else one per order).
    pub per_item: bool,
    /// Steps that must have completed first.
    pub after: &'static [JobKind],
    /// Delays before each retry of a retryable failure, in seconds.
    pub retry_secs: &'static [i64],
    /// Whether it undoes another step (compensations run one after another,
    /// newest first, and park instead of giving up).
    pub compensation: bool,
    /// How it is undone once completed.
    pub undo: Undo,
    /// What a failure that retries cannot mend does.
    pub when_exhausted: WhenExhausted,
}

/// Delays before each retry of a failed forward step. The first call is
/// not a retry; after it fails, these five retries follow.
pub const RETRY_DELAYS_SECS: [i64; 5] = [2, 4, 8, 16, 30];

/// Compensations retry longer instead of giving up; after the last of these
/// the order is parked for an operator and no longer retried on its own.
pub const COMPENSATION_DELAYS_SECS: [i64; 8] = [2, 4, 8, 16, 30, 60, 120, 300];

/// The saga, in the order its steps run. Adding a step is one entry here
/// (plus its kind in `JobKind`, its arms in [`call_for`](super::call_for) and [`next`](super::next), and
/// its provider call in the worker).
pub const SAGA: &[StepDef] = &[
    StepDef {
        kind: JobKind::CreatePaymentIntent,
        does: "ask the payment provider for a payment intent",
        owner: Owner::Pay,
        per_item: false,
        after: &[],
        retry_secs: &RETRY_DELAYS_SECS,
        compensation: false,
        undo: Undo::Job {
            kind: JobKind::CancelPaymentIntent,
        },
        when_exhausted: WhenExhausted::Park,
    },
    StepDef {
        kind: JobKind::Validate,
        does: "re-check the paid order (catalog, quota, capacity) and reserve capacity",
        owner: Owner::Validate,
        per_item: false,
        after: &[JobKind::CreatePaymentIntent],
        retry_secs: &RETRY_DELAYS_SECS,
        compensation: false,
        undo: Undo::RequestRefund,
        when_exhausted: WhenExhausted::FailOrderAndRefund,
    },
    StepDef {
        kind: JobKind::Provision,
        does: "create the item's resource, poll it until it runs, seal its access and activate the item",
        owner: Owner::ProvisionStep,
        per_item: true,
        after: &[JobKind::Validate],
        retry_secs: &RETRY_DELAYS_SECS,
        compensation: false,
        undo: Undo::Job {
            kind: JobKind::Deprovision,
        },
        when_exhausted: WhenExhausted::RollBackItem,
    },
    StepDef {
        kind: JobKind::Deliver,
        does: "e-mail the item's access details",
        owner: Owner::Deliver,
        per_item: true,
        after: &[JobKind::Provision],
        retry_secs: &RETRY_DELAYS_SECS,
        compensation: false,
        undo: Undo::Nothing {
            why: "a sent e-mail cannot be unsent; the credentials die with the resource",
        },
        when_exhausted: WhenExhausted::Park,
    },
    StepDef {
        kind: JobKind::CancelPaymentIntent,
        does: "void the payment intent of a cancelled order",
        owner: Owner::Pay,
        per_item: false,
        after: &[],
        retry_secs: &COMPENSATION_DELAYS_SECS,
        compensation: true,
        undo: Undo::Nothing { why: "a compensation" },
        when_exhausted: WhenExhausted::Park,
    },
    StepDef {
        kind: JobKind::Deprovision,
        does: "delete the failed item's resource, roll the item back (requesting its refund), free its capacity",
        owner: Owner::ProvisionStep,
        per_item: true,
        after: &[JobKind::Deprovision],
        retry_secs: &COMPENSATION_DELAYS_SECS,
        compensation: true,
        undo: Undo::Nothing { why: "a compensation" },
        when_exhausted: WhenExhausted::Park,
    },
    StepDef {
        kind: JobKind::Refund,
        does:
            "give a decided refund back at the payment provider (idempotency key from the refund id), record its answer",
        owner: Owner::Pay,
        per_item: false,
        after: &[],
        retry_secs: &COMPENSATION_DELAYS_SECS,
        compensation: true,
        undo: Undo::Nothing { why: "a compensation" },
        when_exhausted: WhenExhausted::Park,
    },
    StepDef {
        kind: JobKind::DeprovisionSubscription,
        does: "delete an ended subscription's resource at the cloud provider, end the item, free its capacity",
        owner: Owner::ProvisionStep,
        per_item: true,
        after: &[],
        retry_secs: &COMPENSATION_DELAYS_SECS,
        compensation: true,
        undo: Undo::Nothing { why: "a compensation" },
        when_exhausted: WhenExhausted::Park,
    },
    StepDef {
        kind: JobKind::VoidRenewalIntent,
        does: "void an ended subscription's open renewal payment intent (one paid meanwhile is refunded instead)",
        owner: Owner::Pay,
        per_item: true,
        after: &[],
        retry_secs: &COMPENSATION_DELAYS_SECS,
        compensation: true,
        undo: Undo::Nothing { why: "a compensation" },
        when_exhausted: WhenExhausted::Park,
    },
];

/// The definition of the step `kind` runs.
pub fn step(kind: JobKind) -> &'static StepDef {
    // Every kind has its entry (a unit test checks it); the fallback only
    // keeps this total.
    SAGA.iter().find(|s| s.kind == kind).unwrap_or(&SAGA[0])
}

/// The saga as text: every step with its owner, retries, failure rule and undo.
///
/// ```
/// let text = orderflow_core::saga::describe();
/// assert!(text.contains("provision  [per item] by provision-step at /v1/internal/jobs/provision/{id}"));
/// assert!(text.contains("undo: deprovision"));
/// ```
pub fn describe() -> String {
    let secs = |d: &[i64]| d.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut out = String::from("The fulfilment saga (forward steps, then compensations):\n");
    for (n, s) in SAGA.iter().enumerate() {
        let scope = if s.per_item { "per item" } else { "per order" };
        out.push_str(&format!(
            "{}. {}  [{scope}] by {} at /v1/internal/jobs/{}/{{id}}{}\n",
            n + 1,
            s.kind,
            s.owner.component(),
            s.owner.segment(),
            if s.compensation { "  (compensation)" } else { "" },
        ));
        out.push_str(&format!("   does: {}\n", s.does));
        if !s.after.is_empty() {
            let after: Vec<&str> = s.after.iter().map(|k| k.as_str()).collect();
            out.push_str(&format!("   after: {}\n", after.join(", ")));
        }
        out.push_str(&format!(
            "   retries after {} s; then: {}\n",
            secs(s.retry_secs),
            match s.when_exhausted {
                WhenExhausted::RollBackItem => "roll back the item (deprovision, refund it)",
                WhenExhausted::FailOrderAndRefund => "fail the order and refund it",
                WhenExhausted::Park => "park the order for an operator",
            }
        ));
        match s.undo {
            Undo::Job { kind } => out.push_str(&format!("   undo: {kind}\n")),
            Undo::RequestRefund => out.push_str("   undo: request a refund (billing.refund-requested)\n"),
            Undo::Nothing { why } if !s.compensation => out.push_str(&format!("   undo: none ({why})\n")),
            Undo::Nothing { .. } => {}
        }
    }
    out
}

/// The delay before the retry that follows `failures` failed attempts
/// (counting this one), or `None` when the schedule is used up.
pub fn retry_delay(schedule: &[i64], failures: u32) -> Option<Duration> {
    let i = usize::try_from(failures).ok()?.checked_sub(1)?;
    schedule.get(i).map(|&secs| Duration::seconds(secs))
}
