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

impl JobKind {
    /// Compensations retry until they succeed or park the order; forward
    /// steps give up after their retries.
    pub fn is_compensation(self) -> bool {
        matches!(
            self,
            JobKind::Deprovision
                | JobKind::CancelPaymentIntent
                | JobKind::Refund
                | JobKind::DeprovisionSubscription
                | JobKind::VoidRenewalIntent
        )
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
    let mut push = |kind: JobKind, item: Option<ItemId>, after: Option<String>, payload: Value| -> String {
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
                push(JobKind::CreatePaymentIntent, None, None, json!({ "amount": amount }));
            }
            Effect::CancelPaymentIntent => {
                push(JobKind::CancelPaymentIntent, None, None, json!({}));
            }
            Effect::StartValidation => {
                push(JobKind::Validate, None, None, json!({}));
            }
            Effect::Provision { item } => {
                push(JobKind::Provision, Some(*item), None, json!({}));
            }
            Effect::Deliver { item } => {
                push(JobKind::Deliver, Some(*item), None, json!({}));
            }
            Effect::Deprovision { items } => {
                let mut previous = None;
                for item in items {
                    previous = Some(push(JobKind::Deprovision, Some(*item), previous.clone(), json!({})));
                }
            }
            Effect::Refund(refund) => {
                push(JobKind::Refund, refund.item, None, json!({ "refund_id": refund.id }));
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
