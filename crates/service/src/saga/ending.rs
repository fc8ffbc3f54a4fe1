//! A subscription that ends ends at the providers too (issue 16): its
//! resource is deprovisioned at the cloud provider and its open renewal
//! payment intent voided, each a saga job (retried on the compensation
//! schedule, then parked for an operator), written in the transaction that
//! ends the subscription; a renewal payment that still arrives for it is
//! refunded automatically through the `refund` job.

use chrono::{DateTime, Utc};
use orderflow_core::{JobKind, Money, NewJob, PlannedRefund, Refund, RefundScope, Subscription, SubscriptionStatus};
use orderflow_store::{Db, Job, Renewal, Store, StoreError};
use serde_json::json;

use super::providers::CallError;
use super::worker::SagaEnv;

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
        payload: json!({ "subscription_id": sub.id }),
    }];
    jobs.extend(open_intents.iter().map(|intent| NewJob {
        id: format!("subscription:{}:void:{intent}", sub.id),
        kind: JobKind::VoidRenewalIntent,
        order: sub.order,
        item: Some(sub.item),
        after: None,
        payload: json!({ "subscription_id": sub.id, "intent": intent }),
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

/// `deprovision_subscription`: deletes the item's resource at the cloud
/// provider (one already gone counts as deleted).
pub(super) fn deprovision_subscription<D: Db>(
    env: &SagaEnv<D>,
    job: &Job,
) -> Result<Result<(), CallError>, StoreError> {
    let Some(item) = job.item else {
        return Ok(Err(CallError::Permanent("deprovision job without item".into())));
    };
    if let Some(resource) = env.store.resource_of(&job.tenant, item)? {
        if let Err(e) = env.providers.delete_resource(env.out.as_ref(), &resource) {
            return Ok(Err(e));
        }
    }
    env.store.write(|s| s.finish_job(job, (env.clock)()))?;
    Ok(Ok(()))
}

/// `void_renewal_intent`: cancels the renewal's payment intent (one
/// already cancelled counts as cancelled).
pub(super) fn void_renewal_intent<D: Db>(env: &SagaEnv<D>, job: &Job) -> Result<Result<(), CallError>, StoreError> {
    let Some(intent) = job.payload["intent"].as_str() else {
        return Ok(Err(CallError::Permanent("void job without intent".into())));
    };
    let voided = env.providers.payments().and_then(|p| {
        match p.cancel_intent(env.out.as_ref(), intent) {
            // Paid before it could be voided: nothing is open any more, and
            // the late payment is refunded (`refund_late_payment`).
            Err(CallError::Permanent(why)) => match p.retrieve_intent(env.out.as_ref(), intent) {
                Ok(info) if info.status == super::payments::IntentStatus::Succeeded => Ok(()),
                _ => Err(CallError::Permanent(why)),
            },
            other => other,
        }
    });
    if let Err(e) = voided {
        return Ok(Err(e));
    }
    env.store.write(|s| s.finish_job(job, (env.clock)()))?;
    Ok(Ok(()))
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
        payload: json!({ "refund_id": id }),
    };
    s.request_refund(&refund, &job)
}
