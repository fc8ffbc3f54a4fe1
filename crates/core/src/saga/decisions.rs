//! The one pure function that decides what follows each attempt of a step
//! of the saga (its definition: `super::definition`).
//!
//! [`call_for`] says what a claimed job must ask its provider, [`next`]
//! turns what the provider answered into [`Action`]s; the worker in the
//! service only claims, calls and records those actions in one
//! transaction. The saga's state lives in the database, so a crash at any
//! point resumes from stored facts through the same functions.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::definition::{retry_delay, step, JobKind, WhenExhausted};
use super::ids::RefundId;
use super::jobs::{JobPayload, PaymentIntentPayload, ProvisionPayload, SubscriptionEndPayload};
use crate::capacity::{capacity_units, check_capacity};
use crate::catalog::{Catalog, ProductType, Quota, Region};
use crate::config::{parse_item, ItemSpec};
use crate::ids::ItemId;
use crate::lifecycle::Command;
use crate::money::Money;
use crate::order::Order;
use crate::quota::{check_quota, demand};
use crate::state::{ItemState, OrderState};
use crate::violation::{Rule, Violation};

/// A claimed job, as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaJob {
    /// What it does.
    pub kind: JobKind,
    /// Its item, for item jobs.
    pub item: Option<ItemId>,
    /// Attempts so far, counting this one.
    pub attempts: u32,
    /// Its typed input.
    pub payload: JobPayload,
}

/// What a claimed job must ask its provider (the worker makes the call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Nothing: the order moved on and the job has nothing left to do.
    Nothing,
    /// Nothing can be asked: the job cannot run (a permanent failure).
    Impossible(String),
    /// Ask for a payment intent of `amount`.
    CreatePaymentIntent {
        /// What to charge.
        amount: Money,
    },
    /// Void the order's payment intent (if one was ever created).
    CancelPaymentIntent,
    /// Re-check and reserve, in the database (no provider).
    Validate,
    /// Create the item's resource (idempotent by the item's id).
    CreateResource {
        /// The item.
        item: ItemId,
    },
    /// Ask where the resource is; `fresh` when it was created in this run.
    ResourceStatus {
        /// The item.
        item: ItemId,
        /// The resource.
        resource: String,
        /// Created in this same run.
        fresh: bool,
    },
    /// Delete the item's resource (if one was ever created).
    DeleteResource {
        /// The item.
        item: ItemId,
    },
    /// Open the item's credentials and e-mail them.
    SendAccess {
        /// The item.
        item: ItemId,
    },
    /// Execute the recorded refund at the payment provider and record its
    /// answer (the refund's own transaction finishes the job).
    Refund {
        /// The refund.
        refund_id: RefundId,
    },
    /// Void an ended subscription's renewal intent; one paid meanwhile
    /// counts as done (its late payment is refunded on its own).
    VoidRenewalIntent {
        /// The intent.
        intent: String,
    },
}

/// Why a provider call did not succeed, as far as the decisions care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth retrying: transport failure, 429 or 5xx.
    Retryable(String),
    /// Retrying will not help.
    Permanent(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Retryable(m) => write!(f, "retryable: {m}"),
            Failure::Permanent(m) => write!(f, "permanent: {m}"),
        }
    }
}

/// What the cloud says of a resource.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceState {
    /// Still being created.
    Creating,
    /// Running; here is how to reach it.
    Ready(Value),
    /// The provider gave up on it.
    Failed(String),
}

/// What the call of [`call_for`] came back with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// [`Call::Nothing`] was asked.
    Nothing,
    /// The call succeeded (intent voided, resource deleted, e-mail sent).
    Done,
    /// The step recorded its outcome itself, finishing the job in the same
    /// transaction (a refund: its state at the provider is the refund's).
    Recorded,
    /// The payment provider created (or found, by idempotency key) this intent.
    IntentCreated {
        /// The provider.
        provider: String,
        /// The intent's id.
        intent: String,
    },
    /// The cloud created (or already had) this resource.
    Created {
        /// The resource's id.
        resource: String,
    },
    /// The answer to [`Call::ResourceStatus`].
    Polled {
        /// The resource.
        resource: String,
        /// Created in this same run.
        fresh: bool,
        /// Where it is, or why asking failed.
        status: Result<ResourceState, Failure>,
    },
    /// Validation's findings (empty: valid).
    Validated {
        /// The problems found.
        problems: Vec<Violation>,
    },
    /// The call failed.
    Failed(Failure),
}

/// What the worker does next, in order; all but [`Action::Call`] are
/// written in one transaction with the job's new state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Make this call now, in this same run, and decide again.
    Call(Call),
    /// Remember the order's payment intent.
    SaveIntent {
        /// The provider.
        provider: String,
        /// The intent.
        intent: String,
        /// What it charges.
        amount: Money,
    },
    /// Remember the item's resource (so deprovisioning knows what to delete).
    SaveResource {
        /// The item.
        item: ItemId,
        /// The resource.
        resource: String,
    },
    /// Seal and store the item's access details.
    SaveCredentials {
        /// The item.
        item: ItemId,
        /// The provider's access details.
        access: Value,
    },
    /// Take capacity for the item in its region's pool.
    ReserveCapacity {
        /// The item.
        item: ItemId,
        /// Where.
        region: Region,
        /// Which pool.
        product: ProductType,
        /// How much.
        units: u32,
    },
    /// Give the item's capacity back.
    ReleaseCapacity {
        /// The item.
        item: ItemId,
    },
    /// Decide this command on the order as the system (a refusal, because
    /// the order moved on meanwhile, is logged, not an error).
    Apply(Command),
    /// Start the subscription of the item, if it is active now.
    StartSubscription {
        /// The item.
        item: ItemId,
    },
    /// End the subscription of the item at once.
    EndSubscription {
        /// The item.
        item: ItemId,
    },
    /// The job is done.
    Finish,
    /// The job carries on later with this payload (waiting is not failing:
    /// no attempt is counted).
    Advance {
        /// Its new payload.
        payload: JobPayload,
        /// When it is due.
        due: DateTime<Utc>,
    },
    /// The call failed; try again at `at` (scaled by the worker's knob).
    RetryAt {
        /// When.
        at: DateTime<Utc>,
        /// What failed.
        error: String,
    },
    /// The job failed for good (its failure is compensated).
    GiveUp {
        /// What failed.
        error: String,
    },
    /// The job stops until an operator acts.
    Park {
        /// What failed.
        error: String,
    },
}

impl Action {
    /// Whether this action records a failure.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Action::RetryAt { .. } | Action::GiveUp { .. } | Action::Park { .. }
        )
    }
}

/// What the decisions need besides the order and the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepContext {
    /// Now.
    pub now: DateTime<Utc>,
    /// How soon to ask again about a resource still being created.
    pub poll_interval: Duration,
    /// How long a resource may stay in creation before the item is rolled
    /// back and refunded, as a permanent failure.
    pub provision_deadline: Duration,
    /// Whether this worker holds the credentials key (only the components
    /// that seal or open access details do).
    pub can_seal: bool,
}

/// What the job must ask its provider, given the order as it is now.
pub fn call_for(order: &Order, job: &SagaJob) -> Call {
    let item = |what: &str| match job.item {
        None => Err(Call::Impossible(format!("{what} job without item"))),
        Some(id) => order
            .item(id)
            .map(|i| (id, i.state))
            .ok_or_else(|| Call::Impossible("unknown item".into())),
    };
    match job.kind {
        JobKind::CreatePaymentIntent => Call::CreatePaymentIntent {
            amount: match &job.payload {
                JobPayload::PaymentIntent(PaymentIntentPayload { amount: Some(a) }) => *a,
                _ => order.total,
            },
        },
        JobKind::CancelPaymentIntent => Call::CancelPaymentIntent,
        JobKind::Validate => Call::Validate,
        JobKind::Provision => match item("provision") {
            Err(call) => call,
            Ok((id, state)) => match (state, job.payload.resource_id()) {
                (ItemState::Provisioning, None) => Call::CreateResource { item: id },
                (ItemState::Provisioning, Some(resource)) => Call::ResourceStatus {
                    item: id,
                    resource: resource.to_owned(),
                    fresh: false,
                },
                (state, None) if recreate_after_failure(state, job.attempts) => Call::CreateResource { item: id },
                // Cancelled meanwhile (its deprovision job, which waits
                // for this one, cleans up) or already active.
                _ => Call::Nothing,
            },
        },
        JobKind::Deliver => match item("deliver") {
            Err(call) => call,
            Ok((id, state)) if state.is_live() => Call::SendAccess { item: id },
            Ok(_) => Call::Nothing,
        },
        JobKind::Deprovision => match job.item {
            None => Call::Impossible("deprovision job without item".into()),
            Some(id) if order.item(id).map(|i| i.state) == Some(ItemState::Failed) => Call::DeleteResource { item: id },
            Some(_) => Call::Nothing,
        },
        JobKind::Refund => match &job.payload {
            JobPayload::Refund(p) if !p.refund_id.as_str().is_empty() => Call::Refund {
                refund_id: p.refund_id.clone(),
            },
            _ => Call::Impossible("refund job without refund_id".into()),
        },
        // The item's resource goes whatever the item's state: the
        // subscription that kept it running has ended.
        JobKind::DeprovisionSubscription => match job.item {
            Some(item) => Call::DeleteResource { item },
            None => Call::Impossible("deprovision job without item".into()),
        },
        JobKind::VoidRenewalIntent => match &job.payload {
            JobPayload::SubscriptionEnd(SubscriptionEndPayload {
                intent: Some(intent), ..
            }) => Call::VoidRenewalIntent { intent: intent.clone() },
            _ => Call::Impossible("void job without intent".into()),
        },
    }
}

/// What a void the provider refused for good comes to: an intent paid
/// before it could be voided leaves nothing open (its payment goes back
/// when its webhook arrives: a payment the order no longer awaits, or a
/// renewal paid after its subscription ended, both refunded whole), so the
/// void is done; any other refusal is a permanent failure.
pub fn after_void_refused(why: String, paid: bool) -> Outcome {
    if paid {
        Outcome::Done
    } else {
        Outcome::Failed(Failure::Permanent(why))
    }
}

/// A failed item whose provisioning job has no resource recorded, after
/// more than one attempt, may have had its resource created by an attempt
/// that crashed before recording it: ask for it again under the same
/// idempotency key, so the deprovisioning knows what to delete.
pub fn recreate_after_failure(state: ItemState, attempts: u32) -> bool {
    state == ItemState::Failed && attempts > 1
}

/// The one decision: given the order, the job and what its call came back
/// with, what the worker does next.
pub fn next(order: &Order, job: &SagaJob, outcome: Outcome, ctx: StepContext) -> Vec<Action> {
    use Action::{Apply, Finish};
    let item_of = |state: Option<ItemState>| job.item.filter(|i| order.item(*i).map(|x| x.state) == state);
    match outcome {
        Outcome::Failed(failure) => after_failure(order, job, &failure, ctx.now),
        Outcome::Nothing => vec![Finish],
        Outcome::Recorded => vec![],
        Outcome::IntentCreated { provider, intent } => {
            let amount = match call_for(order, job) {
                Call::CreatePaymentIntent { amount } => amount,
                _ => order.total,
            };
            vec![
                Action::SaveIntent {
                    provider,
                    intent,
                    amount,
                },
                Finish,
            ]
        }
        Outcome::Done => match (job.kind, job.item) {
            (JobKind::Deprovision, Some(item)) => vec![
                Apply(Command::RollBackItem { item }),
                Action::ReleaseCapacity { item },
                Action::EndSubscription { item },
                Finish,
            ],
            // An ended subscription's resource is gone: the item ends, and
            // its capacity (and, by its state, its quota) is given back.
            (JobKind::DeprovisionSubscription, Some(item)) => vec![
                Apply(Command::EndItem { item }),
                Action::ReleaseCapacity { item },
                Finish,
            ],
            // Only the first delivery moves the item; re-deliveries of a
            // delivered item just send again.
            (JobKind::Deliver, _) => match item_of(Some(ItemState::Active)) {
                Some(item) => vec![Apply(Command::DeliverItem { item }), Finish],
                None => vec![Finish],
            },
            _ => vec![Finish],
        },
        Outcome::Created { resource } => match job.item {
            Some(item) if item_of(Some(ItemState::Provisioning)).is_some() => {
                // The first poll is due at once: ask now, in this run.
                vec![Action::Call(Call::ResourceStatus {
                    item,
                    resource,
                    fresh: true,
                })]
            }
            // Re-created after a failure: record it for the deprovisioning.
            Some(item) => vec![Action::SaveResource { item, resource }, Finish],
            None => after_failure(
                order,
                job,
                &Failure::Permanent("provision job without item".into()),
                ctx.now,
            ),
        },
        Outcome::Polled {
            resource,
            fresh,
            status,
        } => {
            let Some(item) = job.item else {
                return after_failure(
                    order,
                    job,
                    &Failure::Permanent("provision job without item".into()),
                    ctx.now,
                );
            };
            // The deadline counts from the first poll (older jobs without
            // one start counting now).
            let since = match &job.payload {
                JobPayload::Provision(p) => p.creating_since,
                _ => None,
            }
            .unwrap_or(ctx.now);
            let poll_again = |due| Action::Advance {
                payload: JobPayload::Provision(ProvisionPayload {
                    resource_id: Some(resource.clone()),
                    creating_since: Some(since),
                }),
                due,
            };
            let save = Action::SaveResource {
                item,
                resource: resource.clone(),
            };
            match status {
                Ok(ResourceState::Ready(_)) if !ctx.can_seal => {
                    let mut actions = if fresh { vec![save] } else { vec![] };
                    let missing = Failure::Permanent("no credentials key in this component".into());
                    actions.extend(after_failure(order, job, &missing, ctx.now));
                    actions
                }
                Ok(ResourceState::Ready(access)) => {
                    let mut actions = if fresh { vec![save] } else { vec![] };
                    actions.extend([
                        Action::SaveCredentials { item, access },
                        Apply(Command::ActivateItem { item }),
                        Action::StartSubscription { item },
                        Finish,
                    ]);
                    actions
                }
                // Just created and not running yet (or the first question
                // failed): record it; the next run polls.
                _ if fresh => vec![save, poll_again(ctx.now)],
                Ok(ResourceState::Creating) if ctx.now - since >= ctx.provision_deadline => after_failure(
                    order,
                    job,
                    &Failure::Permanent(format!(
                        "resource {resource} still being created after {} minutes",
                        (ctx.now - since).num_minutes()
                    )),
                    ctx.now,
                ),
                Ok(ResourceState::Creating) => vec![poll_again(ctx.now + ctx.poll_interval)],
                Ok(ResourceState::Failed(why)) => after_failure(
                    order,
                    job,
                    &Failure::Retryable(format!("resource {resource} failed: {why}")),
                    ctx.now,
                ),
                Err(failure) => after_failure(order, job, &failure, ctx.now),
            }
        }
        Outcome::Validated { problems } => {
            if problems.is_empty() {
                let mut actions: Vec<Action> = order
                    .items
                    .iter()
                    .map(|i| Action::ReserveCapacity {
                        item: i.id,
                        region: i.spec.config.region(),
                        product: i.spec.config.product(),
                        units: capacity_units(&i.spec.config),
                    })
                    .collect();
                actions.extend([Apply(Command::PassValidation), Finish]);
                actions
            } else {
                vec![Apply(Command::FailValidation { problems }), Finish]
            }
        }
    }
}

/// A failed attempt that never reached its call: the job's hand-over to
/// the component that owns its kind was answered with an error or not at
/// all (a trap, a store error there). It counts like a failed call, so a
/// step that fails deterministically is retried on its schedule and then
/// rolled back or parked, never re-run every second for ever.
pub fn after_failed_hand_over(order: &Order, job: &SagaJob, error: &str, now: DateTime<Utc>) -> Vec<Action> {
    after_failure(
        order,
        job,
        &Failure::Retryable(format!("hand-over failed: {error}")),
        now,
    )
}

/// After a failed call: retry on the step's schedule, or do what the step
/// says a failure that retries cannot mend does.
fn after_failure(order: &Order, job: &SagaJob, failure: &Failure, now: DateTime<Utc>) -> Vec<Action> {
    let def = step(job.kind);
    let error = failure.to_string();
    if let Failure::Retryable(_) = failure {
        if let Some(delay) = retry_delay(def.retry_secs, job.attempts) {
            return vec![Action::RetryAt { at: now + delay, error }];
        }
    }
    let park = |reason: String| {
        vec![
            Action::Park { error: error.clone() },
            Action::Apply(Command::ParkForOperator { reason }),
        ]
    };
    match (def.when_exhausted, job.item) {
        (WhenExhausted::RollBackItem, Some(item)) => vec![
            Action::Apply(Command::FailItem {
                item,
                reason: error.clone(),
            }),
            Action::GiveUp { error },
        ],
        (WhenExhausted::FailOrderAndRefund, _) if order.state == OrderState::Validating => vec![
            Action::Apply(Command::FailValidation {
                problems: vec![Violation::new("", Rule::Required, error.clone(), Value::Null)],
            }),
            Action::GiveUp { error },
        ],
        _ if def.compensation => park(format!(
            "{} of item {} keeps failing: {error}",
            job.kind,
            job.item.map(|i| i.to_string()).unwrap_or_default()
        )),
        _ => park(format!("{} keeps failing: {error}", job.kind)),
    }
}

/// Where validation stands for an order in `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationStage {
    /// Paid: start validating (`StartValidation`), then check.
    Start,
    /// Validating: check it now.
    Check,
    /// Cancelled or reverted meanwhile: nothing to validate.
    MovedOn,
}

/// What a validation job does with an order in `state`.
pub fn validation_stage(state: OrderState) -> ValidationStage {
    match state {
        OrderState::PaymentConfirmed => ValidationStage::Start,
        OrderState::Validating => ValidationStage::Check,
        _ => ValidationStage::MovedOn,
    }
}

/// What validation found: the order's items against today's catalog, the
/// tenant's quota `limit` (given what its other live items `live` already
/// use) and, if those pass, the regions' `free` capacity. Empty: valid.
pub fn validation_problems(
    catalog: &Catalog,
    order: &Order,
    limit: &Quota,
    live: &[ItemSpec],
    free: impl Fn(Region, ProductType) -> u32,
) -> Vec<Violation> {
    let mut problems = Vec::new();
    for (i, item) in order.items.iter().enumerate() {
        let raw = serde_json::to_value(&item.spec).unwrap_or(Value::Null);
        if let Err(found) = parse_item(catalog, &raw, &format!("/items/{i}")) {
            problems.extend(found);
        }
    }
    // The live items include this order's own (reserved while it is
    // validated): what the others use is all live minus the order's own.
    let own = quota_sum(order.items.iter().map(|i| &i.spec));
    let others = quota_minus(quota_sum(live.iter()), own);
    let specs: Vec<ItemSpec> = order.items.iter().map(|i| i.spec.clone()).collect();
    problems.extend(check_quota(limit, &others, &specs));
    if problems.is_empty() {
        // Capacity last: the worker reserves what it checked, under its lock.
        problems.extend(check_capacity(free, &specs));
    }
    problems
}

/// What `specs` demand of a tenant's quota together.
pub fn quota_sum<'a>(specs: impl Iterator<Item = &'a ItemSpec>) -> Quota {
    specs.fold(Quota::default(), |q, spec| {
        quota_zip(q, demand(&spec.config), u32::saturating_add)
    })
}

/// `a - b`, saturating at zero in each dimension.
pub fn quota_minus(a: Quota, b: Quota) -> Quota {
    quota_zip(a, b, u32::saturating_sub)
}

pub(super) fn quota_zip(a: Quota, b: Quota, f: fn(u32, u32) -> u32) -> Quota {
    Quota {
        vps_instances: f(a.vps_instances, b.vps_instances),
        kubernetes_workers: f(a.kubernetes_workers, b.kubernetes_workers),
        databases: f(a.databases, b.databases),
        gpu_nodes: f(a.gpu_nodes, b.gpu_nodes),
        private_cloud_nodes: f(a.private_cloud_nodes, b.private_cloud_nodes),
        object_storage_tb: f(a.object_storage_tb, b.object_storage_tb),
    }
}
