//! Saga jobs: the effects of a committed decision, made durable, and the
//! one place a job is built.
//!
//! A decision's effects are written as jobs in the same transaction as the
//! decision itself, so a crash after the commit loses none of them; the
//! worker runs them (each idempotently) until they are done. Which step
//! runs an effect, whether it fans out per item, and which earlier job of
//! the same decision it waits for all come from the definition
//! ([`SAGA`](super::SAGA)). A job's id is derived from its cause
//! ([`JobId`]), so writing the same cause twice cannot create a job twice.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::definition::{step, JobKind};
use super::ids::{JobId, RefundId};
use super::refunds::PlannedRefund;
use crate::ids::{ItemId, OrderId};
use crate::lifecycle::Effect;
use crate::money::Money;
use crate::subscription::Subscription;

/// The input of a `create_payment_intent` job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntentPayload {
    /// What to charge; the order's total when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

/// The state a `provision` job carries between its runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionPayload {
    /// The resource, once created: later runs poll it instead of creating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Since when the provider has reported it still being created (its
    /// first poll): past the provisioning deadline the item is rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The input of a `refund` job: which recorded refund to execute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPayload {
    /// The refund's id (derived from what is refunded).
    pub refund_id: RefundId,
}

/// The input of the jobs that take an ended subscription down at the
/// providers (`deprovision_subscription`, `void_renewal_intent`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionEndPayload {
    /// The subscription that ended.
    pub subscription_id: String,
    /// The renewal's payment intent to void (`void_renewal_intent` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// A job's input, typed per kind. The store keeps it as JSON; it is parsed
/// once, when the worker picks the job up ([`JobPayload::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPayload {
    /// Of `create_payment_intent`.
    PaymentIntent(PaymentIntentPayload),
    /// Of `provision`.
    Provision(ProvisionPayload),
    /// Of `refund`.
    Refund(RefundPayload),
    /// Of `deprovision_subscription` and `void_renewal_intent`.
    SubscriptionEnd(SubscriptionEndPayload),
    /// The kinds that carry nothing (their order and item say it all).
    Empty,
}

impl JobPayload {
    /// Reads the stored JSON of a job of `kind`; a payload of the wrong
    /// shape is an error naming the kind (the job is parked, not guessed at).
    pub fn parse(kind: JobKind, value: &Value) -> Result<Self, String> {
        fn read<T: serde::de::DeserializeOwned + Default>(kind: JobKind, value: &Value) -> Result<T, String> {
            if value.is_null() {
                return Ok(T::default());
            }
            serde_json::from_value(value.clone()).map_err(|e| format!("{kind} job payload: {e}"))
        }
        Ok(match kind {
            JobKind::CreatePaymentIntent => JobPayload::PaymentIntent(read(kind, value)?),
            JobKind::Provision => JobPayload::Provision(read(kind, value)?),
            JobKind::Refund => JobPayload::Refund(read(kind, value)?),
            JobKind::DeprovisionSubscription | JobKind::VoidRenewalIntent => {
                JobPayload::SubscriptionEnd(read(kind, value)?)
            }
            JobKind::CancelPaymentIntent | JobKind::Validate | JobKind::Deliver | JobKind::Deprovision => {
                JobPayload::Empty
            }
        })
    }

    /// The JSON the store keeps.
    pub fn to_value(&self) -> Value {
        let value = match self {
            JobPayload::PaymentIntent(p) => serde_json::to_value(p),
            JobPayload::Provision(p) => serde_json::to_value(p),
            JobPayload::Refund(p) => serde_json::to_value(p),
            JobPayload::SubscriptionEnd(p) => serde_json::to_value(p),
            JobPayload::Empty => return json!({}),
        };
        // Plain structs of strings and decimals always serialize.
        value.unwrap_or_else(|_| json!({}))
    }

    /// The resource a provisioning job has created, if any.
    pub fn resource_id(&self) -> Option<&str> {
        match self {
            JobPayload::Provision(p) => p.resource_id.as_deref(),
            _ => None,
        }
    }
}

/// A job to insert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// Stable id, derived from its cause.
    pub id: JobId,
    /// What to do.
    pub kind: JobKind,
    /// The order.
    pub order: OrderId,
    /// The item, for item jobs.
    pub item: Option<ItemId>,
    /// A job that must be done first (the step's `after`).
    pub after: Option<JobId>,
    /// Kind-specific input.
    pub payload: Value,
}

impl Effect {
    /// The step that runs this effect, the items it fans out to (one job
    /// each for a per-item step, one job for the order otherwise), and the
    /// jobs' input.
    fn work(&self) -> (JobKind, Vec<Option<ItemId>>, JobPayload) {
        match self {
            Effect::CreatePaymentIntent { amount } => (
                JobKind::CreatePaymentIntent,
                vec![None],
                JobPayload::PaymentIntent(PaymentIntentPayload { amount: Some(*amount) }),
            ),
            Effect::CancelPaymentIntent => (JobKind::CancelPaymentIntent, vec![None], JobPayload::Empty),
            Effect::StartValidation => (JobKind::Validate, vec![None], JobPayload::Empty),
            Effect::Provision { item } => (JobKind::Provision, vec![Some(*item)], JobPayload::Empty),
            Effect::Deliver { item } => (JobKind::Deliver, vec![Some(*item)], JobPayload::Empty),
            Effect::Deprovision { items } => (
                JobKind::Deprovision,
                items.iter().copied().map(Some).collect(),
                JobPayload::Empty,
            ),
            Effect::Refund(refund) => (
                JobKind::Refund,
                vec![refund.item],
                JobPayload::Refund(RefundPayload {
                    refund_id: refund.id.clone(),
                }),
            ),
        }
    }
}

/// The jobs for `effects` decided at order `version`, in order. A step
/// `after` another of a different kind is ordered across decisions (the
/// decision that completes the one emits the other: `decisions::next`);
/// a step `after` itself runs the jobs one decision gives it one after
/// another, each waiting for the one before (deprovisions: the stack walked
/// newest first).
pub fn jobs_for(order: OrderId, version: i64, effects: &[Effect]) -> Vec<NewJob> {
    let mut jobs: Vec<NewJob> = Vec::new();
    for effect in effects {
        let (kind, items, payload) = effect.work();
        let def = step(kind);
        debug_assert!(
            !def.per_item || items.iter().all(Option::is_some),
            "{kind} runs per item"
        );
        for item in items {
            let chained = def.after.contains(&kind);
            let after = jobs
                .iter()
                .rev()
                .find(|j| chained && j.kind == kind)
                .map(|j| j.id.clone());
            jobs.push(NewJob {
                id: JobId::of_decision(order, version, jobs.len()),
                kind,
                order,
                item,
                after,
                payload: payload.to_value(),
            });
        }
    }
    jobs
}

/// The jobs that take an ended subscription down at the providers: its
/// resource, and the intents of renewals not paid (`open_intents`). Ids are
/// derived from the subscription, so ending it twice adds nothing.
pub fn subscription_end_jobs(sub: &Subscription, open_intents: &[String]) -> Vec<NewJob> {
    let job = |id: JobId, kind: JobKind, intent: Option<&String>| NewJob {
        id,
        kind,
        order: sub.order,
        item: Some(sub.item),
        after: None,
        payload: JobPayload::SubscriptionEnd(SubscriptionEndPayload {
            subscription_id: sub.id.to_string(),
            intent: intent.cloned(),
        })
        .to_value(),
    };
    let mut jobs = vec![job(
        JobId::subscription_deprovision(sub.id),
        JobKind::DeprovisionSubscription,
        None,
    )];
    jobs.extend(open_intents.iter().map(|intent| {
        job(
            JobId::renewal_void(sub.id, intent),
            JobKind::VoidRenewalIntent,
            Some(intent),
        )
    }));
    jobs
}

/// The job that executes a refund decided outside an order decision (a
/// renewal paid after its subscription ended).
pub fn refund_job(order: OrderId, refund: &PlannedRefund) -> NewJob {
    NewJob {
        id: JobId::refund(&refund.id),
        kind: JobKind::Refund,
        order,
        item: refund.item,
        after: None,
        payload: JobPayload::Refund(RefundPayload {
            refund_id: refund.id.clone(),
        })
        .to_value(),
    }
}

/// A delivery of `item`'s access details again, asked for by the request
/// `request` (once per request, however often it is replayed).
pub fn redelivery_job(order: OrderId, item: ItemId, request: &str) -> NewJob {
    NewJob {
        id: JobId::redelivery(order, request),
        kind: JobKind::Deliver,
        order,
        item: Some(item),
        after: None,
        payload: json!({ "redelivery": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;
    use rust_decimal_macros::dec;
    use uuid::Uuid;

    fn order() -> OrderId {
        OrderId::from_uuid(Uuid::from_u128(9))
    }

    fn item(n: u128) -> ItemId {
        ItemId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn every_effect_becomes_a_job_with_a_stable_id() {
        let effects = vec![Effect::CreatePaymentIntent {
            amount: Money::eur(dec!(10.00)),
        }];
        let a = jobs_for(order(), 2, &effects);
        assert_eq!(a, jobs_for(order(), 2, &effects));
        assert_eq!(a[0].id, JobId::of_decision(order(), 2, 0));
        assert_eq!(a[0].kind, JobKind::CreatePaymentIntent);
        assert_eq!(a[0].payload["amount"]["amount"], "10.00");
    }

    #[test]
    fn payloads_read_back_as_they_were_written_and_a_bad_one_is_named() {
        let written = JobPayload::Provision(ProvisionPayload {
            resource_id: Some("res-1".into()),
            creating_since: Some(chrono::DateTime::UNIX_EPOCH),
        });
        assert_eq!(JobPayload::parse(JobKind::Provision, &written.to_value()), Ok(written));
        assert_eq!(
            JobPayload::parse(JobKind::Provision, &json!({})),
            Ok(JobPayload::Provision(ProvisionPayload::default()))
        );
        let bad = JobPayload::parse(JobKind::Provision, &json!({"resource_id": 7})).unwrap_err();
        assert!(bad.starts_with("provision job payload"), "{bad}");
        assert_eq!(JobPayload::parse(JobKind::Deliver, &json!({})), Ok(JobPayload::Empty));
    }

    #[test]
    fn deprovisions_are_chained_in_the_order_given() {
        let jobs = jobs_for(
            order(),
            5,
            &[Effect::Deprovision {
                items: vec![item(3), item(1), item(2)],
            }],
        );
        let chain: Vec<(Option<ItemId>, Option<&JobId>)> = jobs.iter().map(|j| (j.item, j.after.as_ref())).collect();
        assert_eq!(chain[0], (Some(item(3)), None));
        assert_eq!(chain[1], (Some(item(1)), Some(&jobs[0].id)));
        assert_eq!(chain[2], (Some(item(2)), Some(&jobs[1].id)));
    }

    #[test]
    fn provisioning_jobs_are_independent() {
        let jobs = jobs_for(
            order(),
            4,
            &[Effect::Provision { item: item(1) }, Effect::Provision { item: item(2) }],
        );
        assert!(jobs.iter().all(|j| j.after.is_none() && j.kind == JobKind::Provision));
    }
}
