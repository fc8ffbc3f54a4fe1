//! Refunds at the payment provider: the saga's `refund` job and the
//! provider's refund webhooks (`orderflow_core::Refund` holds the rules).
//!
//! The job asks the provider once per refund: the idempotency key is
//! derived from the refund id, which is derived from what is refunded, so
//! a job run twice (a crash after the call, a lost lease) gets the same
//! refund back instead of a second one. Before asking, the never-more-than-
//! paid invariant is checked over the order's refunds; a refund that breaks
//! it is never sent (the job parks). The provider's answer and its signed
//! webhooks, in any order and any number of times, move the refund forward
//! only; a refund that fails at the provider parks the order for an
//! operator, with `billing.refund-failed`.

use chrono::{DateTime, Utc};
use orderflow_core::saga::{interpret_refund_report, RefundVerdict};
use orderflow_core::{
    check_refund_bounds, decide, refund_state_of_provider_status, Actor, Catalog, Command, ObservedRefund, OrderId,
    Refund, RefundId, RefundState, TenantId,
};
use orderflow_store::{Db, Job, Store, StoreError};

use super::payments::{PaymentChange, PaymentEvent, RefundRequest};
use super::providers::{CallError, SagaProviders};
use super::webhook::WebhookOutcome;
use super::worker::{SagaEnv, SUBJECT};

/// Runs a `refund` job: asks the provider for the refund (once per refund,
/// whatever the number of runs) and records its answer. `Ok(Err(_))` is a
/// failed call, retried on the compensation schedule, then parked.
pub(super) fn run_refund<D: Db, P: SagaProviders>(
    env: &SagaEnv<D, P>,
    job: &Job,
    id: &RefundId,
) -> Result<Result<(), CallError>, StoreError> {
    let Some(refund) = env.store.refund(&job.tenant, id)? else {
        return Ok(Err(CallError::Permanent(format!("no refund {id} recorded"))));
    };
    if refund.state != RefundState::Requested {
        // The provider answered already (this job's earlier run, or its webhook).
        env.store.write(|s| s.finish_job(job, (env.clock)()))?;
        return Ok(Ok(()));
    }
    // Never more refunded than paid, checked before any money moves.
    let all = env.store.refunds_of(&job.tenant, job.order)?;
    if let Err(violation) = check_refund_bounds(all.iter().map(|r| &r.planned)) {
        return Ok(Err(CallError::Permanent(format!("refund {id} not sent: {violation}"))));
    }
    let request = RefundRequest {
        intent: refund.planned.payment_reference.clone(),
        amount: Some(refund.planned.amount),
        metadata: vec![
            ("refund_id".into(), id.to_string()),
            ("order_id".into(), job.order.to_string()),
            ("tenant".into(), job.tenant.as_str().to_owned()),
            ("scope".into(), refund.planned.scope.as_str().to_owned()),
        ],
        idempotency_key: id.idempotency_key(),
    };
    let (provider, info) = match env.providers.create_refund(env.out.as_ref(), &request) {
        Ok(answer) => answer,
        Err(e) => return Ok(Err(e)),
    };
    if info.amount.as_ref().ok() != Some(&refund.planned.amount) {
        // The provider refunded another amount than asked: a person must look.
        return Ok(Err(CallError::Permanent(format!(
            "refund {id}: the provider answered {:?} for {}",
            info.amount, refund.planned.amount
        ))));
    }
    let seen = ObservedRefund {
        provider_refund_id: info.id,
        state: refund_state_of_provider_status(&info.status),
        failure_reason: None,
    };
    let now = (env.clock)();
    env.store.write(|s| {
        let current = s.refund(&job.tenant, id)?;
        let verdict = interpret_refund_report(current.as_ref(), provider, &seen, now);
        if let Some(current) = &current {
            record(s, &env.catalog, current, verdict, now)?;
        }
        s.finish_job(job, now)
    })?;
    Ok(Ok(()))
}

/// Writes what the core made of a refund's report: its change, and the
/// parking of its order when it failed at the provider.
fn record<D: Db>(
    s: &Store<D>,
    catalog: &Catalog,
    before: &Refund,
    verdict: RefundVerdict,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let RefundVerdict::Apply { change, park } = verdict {
        s.apply_refund_change(before.version, &change)?;
        if let Some(reason) = park {
            park_order(s, catalog, &change.refund.tenant, change.refund.order, reason, now)?;
        }
    }
    Ok(())
}

fn park_order<D: Db>(
    s: &Store<D>,
    catalog: &Catalog,
    tenant: &TenantId,
    order: OrderId,
    reason: String,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(current) = s.order_for_update(tenant, order)? else {
        return Ok(());
    };
    if let Ok(d) = decide(
        &current,
        Command::ParkForOperator { reason },
        Actor::System,
        catalog,
        now,
    ) {
        s.apply(current.version, &d, SUBJECT)?;
    }
    Ok(())
}

/// Applies a verified refund event (`refund.created`, `refund.updated`,
/// `refund.failed`) to the refund it names (by our refund id in its
/// metadata, else by the provider's refund id among the order's refunds),
/// deduplicated by event id in the same transaction.
pub(super) fn apply_refund_event<D: Db>(
    store: &Store<D>,
    catalog: &Catalog,
    provider: &str,
    event: &PaymentEvent,
    now: DateTime<Utc>,
) -> Result<WebhookOutcome, StoreError> {
    let PaymentChange::RefundUpdated {
        intent,
        refund: provider_refund_id,
        status,
        refund_key,
        failure_reason,
    } = &event.change
    else {
        return Ok(WebhookOutcome::Ignored("not a refund event".into()));
    };
    // An order's payment, or a subscription renewal's (a late payment refunded).
    let target = match store.order_of_intent(intent)? {
        Some(target) => Some(target),
        None => match store.renewal_of_intent(intent)? {
            Some(r) => store
                .subscription(&r.tenant, r.subscription)?
                .map(|s| (s.tenant, s.order)),
            None => None,
        },
    };
    store.write(|s| {
        let Some((tenant, order)) = &target else {
            let fresh = s.record_webhook(provider, &event.id, &event.kind, None, "unknown payment intent", now)?;
            return Ok(if fresh {
                WebhookOutcome::Ignored("unknown payment intent".into())
            } else {
                WebhookOutcome::Duplicate
            });
        };
        let refund = match refund_key {
            Some(key) => s
                .refund(tenant, &RefundId::stored(key.as_str()))?
                .filter(|r| r.order == *order),
            None => s
                .refunds_of(tenant, *order)?
                .into_iter()
                .find(|r| r.provider_refund_id.as_deref() == Some(provider_refund_id.as_str())),
        };
        let seen = ObservedRefund {
            provider_refund_id: provider_refund_id.clone(),
            state: refund_state_of_provider_status(status),
            failure_reason: failure_reason.clone(),
        };
        let verdict = interpret_refund_report(refund.as_ref(), provider, &seen, now);
        let label = verdict.why();
        let outcome = match &verdict {
            RefundVerdict::Apply { .. } => WebhookOutcome::Applied(tenant.clone(), *order),
            RefundVerdict::Ignore(why) => WebhookOutcome::Ignored(why.clone()),
        };
        if !s.record_webhook(provider, &event.id, &event.kind, Some(*order), &label, now)? {
            return Ok(WebhookOutcome::Duplicate);
        }
        if let Some(before) = &refund {
            record(s, catalog, before, verdict, now)?;
        }
        Ok(outcome)
    })
}
