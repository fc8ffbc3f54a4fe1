//! Saga jobs: the effects of a committed decision, made durable.
//!
//! A decision's effects are written as jobs in the same transaction as the
//! decision itself, so a crash after the commit loses none of them; the
//! worker runs them (each idempotently) until they are done. A job's id is
//! derived from the order version that created it, so writing the same
//! decision twice cannot create a job twice.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::closed_set::closed_set;
use crate::ids::{ItemId, OrderId};
use crate::lifecycle::Effect;
use crate::money::Money;

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
    /// The refund's id (derived from what is refunded, `crate::refund`).
    pub refund_id: String,
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
    /// Stable id: `<order>:<version>:<n>`.
    pub id: String,
    /// What to do.
    pub kind: JobKind,
    /// The order.
    pub order: OrderId,
    /// The item, for item jobs.
    pub item: Option<ItemId>,
    /// A job that must be done first (compensations run one after another).
    pub after: Option<String>,
    /// Kind-specific input.
    pub payload: Value,
}

/// The jobs for `effects` decided at order `version`.
pub fn jobs_for(order: OrderId, version: i64, effects: &[Effect]) -> Vec<NewJob> {
    let mut jobs: Vec<NewJob> = Vec::new();
    let mut push = |kind: JobKind, item: Option<ItemId>, after: Option<String>, payload: JobPayload| -> String {
        let payload = payload.to_value();
        let id = format!("{order}:{version}:{}", jobs.len());
        jobs.push(NewJob {
            id: id.clone(),
            kind,
            order,
            item,
            after,
            payload,
        });
        id
    };
    for effect in effects {
        match effect {
            Effect::CreatePaymentIntent { amount } => {
                let payload = PaymentIntentPayload { amount: Some(*amount) };
                push(
                    JobKind::CreatePaymentIntent,
                    None,
                    None,
                    JobPayload::PaymentIntent(payload),
                );
            }
            Effect::CancelPaymentIntent => {
                push(JobKind::CancelPaymentIntent, None, None, JobPayload::Empty);
            }
            Effect::StartValidation => {
                push(JobKind::Validate, None, None, JobPayload::Empty);
            }
            Effect::Provision { item } => {
                push(JobKind::Provision, Some(*item), None, JobPayload::Empty);
            }
            Effect::Deliver { item } => {
                push(JobKind::Deliver, Some(*item), None, JobPayload::Empty);
            }
            Effect::Deprovision { items } => {
                let mut previous = None;
                for item in items {
                    previous = Some(push(
                        JobKind::Deprovision,
                        Some(*item),
                        previous.clone(),
                        JobPayload::Empty,
                    ));
                }
            }
            Effect::Refund(refund) => {
                let payload = RefundPayload {
                    refund_id: refund.id.clone(),
                };
                push(JobKind::Refund, refund.item, None, JobPayload::Refund(payload));
            }
        }
    }
    jobs
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
        assert_eq!(a[0].id, format!("{}:2:0", order()));
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
        let chain: Vec<(Option<ItemId>, Option<&str>)> = jobs.iter().map(|j| (j.item, j.after.as_deref())).collect();
        assert_eq!(chain[0], (Some(item(3)), None));
        assert_eq!(chain[1], (Some(item(1)), Some(jobs[0].id.as_str())));
        assert_eq!(chain[2], (Some(item(2)), Some(jobs[1].id.as_str())));
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
