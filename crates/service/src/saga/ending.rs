//! A subscription that ends ends at the providers too (issue 16): its
//! resource is deprovisioned at the cloud provider and its open renewal
//! payment intent voided, each a saga job (retried on the compensation
//! schedule, then parked for an operator), written in the transaction that
//! ends the subscription; a renewal payment that still arrives for it is
//! refunded automatically through the `refund` job.

use chrono::{DateTime, Utc};
use orderflow_core::{
    JobKind, JobPayload, Money, NewJob, PlannedRefund, Refund, RefundPayload, RefundScope, Subscription,
    SubscriptionEndPayload, SubscriptionStatus,
};
use orderflow_store::{Db, Renewal, Store, StoreError};

/// The jobs that take an ended subscription down at the providers: its
/// resource, and the intents of renewals not paid (`open_intents`). Ids are
/// derived from the subscription, so ending it twice adds nothing.
pub fn end_jobs(sub: &Subscription, open_intents: &[String]) -> Vec<NewJob> {
    let mut jobs = vec![NewJob {
        id: format!("subscription:{}:deprovision", sub.id),
        kind: JobKind::DeprovisionSubscription,
        order: sub.order,
        item: Some(sub.item),
        after: None,
        payload: JobPayload::SubscriptionEnd(SubscriptionEndPayload {
            subscription_id: sub.id.to_string(),
            intent: None,
        })
        .to_value(),
    }];
    jobs.extend(open_intents.iter().map(|intent| {
        NewJob {
            id: format!("subscription:{}:void:{intent}", sub.id),
            kind: JobKind::VoidRenewalIntent,
            order: sub.order,
            item: Some(sub.item),
            after: None,
            payload: JobPayload::SubscriptionEnd(SubscriptionEndPayload {
                subscription_id: sub.id.to_string(),
                intent: Some(intent.clone()),
            })
            .to_value(),
        }
    }));
    jobs
}

/// Writes the end-of-subscription jobs of `sub` (just ended) in the open
/// transaction: its renewals with an intent and no payment are voided.
pub fn schedule_end<D: Db>(s: &Store<D>, sub: &Subscription, now: DateTime<Utc>) -> Result<(), StoreError> {
    let open: Vec<String> = s
        .renewals_of(&sub.tenant, sub.id)?
        .into_iter()
        .filter(|r| r.state != orderflow_core::RenewalState::Paid)
        .filter_map(|r| r.intent_id)
        .collect();
    s.insert_jobs(&sub.tenant, &end_jobs(sub, &open), now)
}

/// A renewal paid after its subscription ended: the money goes back, once
/// (the refund id is derived from the renewal's intent), through the saga's
/// `refund` job. Call inside [`Store::write`]; returns whether it was new.
pub fn refund_late_payment<D: Db>(
    s: &Store<D>,
    sub: &Subscription,
    renewal: &Renewal,
    intent: &str,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    debug_assert_eq!(sub.status, SubscriptionStatus::Cancelled);
    let id = format!("{}:late:{intent}", sub.order);
    let refund = Refund::requested(
        sub.tenant.clone(),
        sub.order,
        PlannedRefund {
            id: id.clone(),
            scope: RefundScope::LatePayment,
            item: None,
            amount,
            cap: amount,
            payment_reference: intent.to_owned(),
            paid: amount,
            reason: format!("renewal {} paid after subscription {} ended", renewal.id, sub.id),
        },
        now,
    );
    let job = NewJob {
        id: format!("refund:{id}"),
        kind: JobKind::Refund,
        order: sub.order,
        item: None,
        after: None,
        payload: JobPayload::Refund(RefundPayload { refund_id: id.clone() }).to_value(),
    };
    s.request_refund(&refund, &job)
}
