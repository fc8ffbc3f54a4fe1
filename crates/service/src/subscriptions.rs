//! Subscriptions (SPEC §10): the customer's API (list, cancel at period
//! end), the renewal run that the scheduler drives, and the payment webhook's
//! handling of a renewal's intent.
//!
//! The renewal run claims due subscriptions under a lease and does what the
//! core says is due: charge the next period's renewal (one payment intent per
//! subscription and period, created and charged with idempotency keys derived
//! from them), record a decline with its retry, suspend an unpaid service at
//! period end, bring the provider in line (suspend or resume), or end a
//! cancelled subscription. The period is extended only by the signed payment
//! webhook, in one transaction with its events.

use chrono::{DateTime, Utc};
use orderflow_core::saga::{interpret_renewal_payment, RenewalVerdict};
use orderflow_core::{
    after_renewal_failure, BillingCycle, DueAction, IntentCheck, Money, OrderId, ProductType, RenewalState,
    Subscription, SubscriptionId, SubscriptionStatus, TenantId,
};
use orderflow_http::{parse_query, ApiError, Cursor, HttpResponse, Page, RequestParts, Role};
use orderflow_store::{Db, Renewal, Store, StoreError};
use serde::Serialize;
use serde_json::json;

use crate::context::Ctx;
use crate::errors::from_store;
use crate::idempotent::{write_idempotently, Prepared};
use crate::router::Params;
use crate::saga::payments::{IntentStatus, SavedMethod};
use crate::saga::{CallError, Charge, PaymentEvent, PaymentProvider, SagaEnv};

/// A subscription as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriptionView {
    /// Identity.
    pub id: SubscriptionId,
    /// The order the item was sold in.
    pub order_id: OrderId,
    /// The item it keeps running.
    pub item_id: orderflow_core::ItemId,
    /// Which product.
    pub product_type: ProductType,
    /// `monthly` or `annual`.
    pub billing_cycle: BillingCycle,
    /// What one period costs.
    pub price: Money,
    /// `active`, `past_due`, `suspended` or `cancelled`.
    pub status: SubscriptionStatus,
    /// Ends at the period's end, without renewal.
    pub cancel_at_period_end: bool,
    /// The period paid for.
    pub current_period: u32,
    /// Its start.
    pub current_period_start: DateTime<Utc>,
    /// Its end.
    pub current_period_end: DateTime<Utc>,
    /// When the next renewal is charged (`null`: none scheduled).
    pub next_renewal_at: Option<DateTime<Utc>>,
}

/// The API view of `s`.
pub fn subscription_view(s: &Subscription) -> SubscriptionView {
    SubscriptionView {
        id: s.id,
        order_id: s.order,
        item_id: s.item,
        product_type: s.product,
        billing_cycle: s.billing_cycle,
        price: s.price,
        status: s.status,
        cancel_at_period_end: s.cancel_at_period_end,
        current_period: s.period,
        current_period_start: s.current_period_start,
        current_period_end: s.current_period_end,
        // While a charge awaits its confirmation, the stored time is when
        // the provider is asked about it, not a new charge.
        next_renewal_at: s.next_renewal_at.filter(|_| !s.awaiting_payment),
    }
}

fn people<D: Db>(ctx: &Ctx<D>) -> Result<(), ApiError> {
    ctx.principal.require_role(&[Role::Customer, Role::Operator])
}

/// `GET /v1/subscriptions`: the tenant's subscriptions, newest first, paged
/// by cursor like `GET /v1/orders`.
pub fn list_subscriptions<D: Db>(ctx: &Ctx<D>, request: &RequestParts) -> Result<HttpResponse, ApiError> {
    people(ctx)?;
    let query = parse_query(&request.query, &["limit", "cursor"])?;
    let page = Page::from_query(&query)?;
    let after = page.after.map(|c| (c.created_at, SubscriptionId::from_uuid(c.id)));
    let subscriptions = ctx
        .store
        .list_subscriptions(&ctx.principal.tenant, after, page.limit)
        .map_err(|e| from_store(e, &ctx.correlation_id))?;
    let next_cursor = (subscriptions.len() == page.limit as usize)
        .then(|| {
            subscriptions.last().map(|s| {
                Cursor {
                    created_at: s.created_at,
                    id: *s.id.as_uuid(),
                }
                .encode()
            })
        })
        .flatten();
    let items: Vec<_> = subscriptions.iter().map(subscription_view).collect();
    Ok(HttpResponse::json(
        200,
        &json!({ "items": items, "next_cursor": next_cursor }),
    ))
}

/// `POST /v1/subscriptions/{id}/cancel`: ends the subscription at the end of
/// the paid period (not at once); cancelling again changes nothing. Returns
/// the subscription.
pub fn cancel_subscription<D: Db>(ctx: &Ctx<D>, request: &RequestParts, params: &Params) -> HttpResponse {
    if let Err(e) = people(ctx) {
        return e.into();
    }
    write_idempotently(ctx, request, || {
        let raw = params.get("id").unwrap_or_default();
        let id: SubscriptionId = raw.parse().map_err(|_| ApiError::not_found("subscription", raw))?;
        let current = ctx
            .store
            .subscription(&ctx.principal.tenant, id)
            .map_err(|e| from_store(e, &ctx.correlation_id))?
            .ok_or_else(|| ApiError::not_found("subscription", raw))?;
        let change = current
            .request_cancel(ctx.now)
            .map_err(|e| ApiError::internal(&ctx.correlation_id, &e))?;
        let shown = change.as_ref().map_or(&current, |c| &c.subscription);
        let response = HttpResponse::json(200, &subscription_view(shown));
        let expected = current.version;
        Ok(Prepared {
            response,
            commit: Box::new(move |s| match &change {
                Some(change) => s.apply_subscription(expected, change),
                None => Ok(()),
            }),
        })
    })
}

/// What one renewal run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RenewReport {
    /// Subscriptions claimed.
    pub claimed: u32,
    /// Renewal charges the provider accepted.
    pub charged: u32,
    /// Renewal charges declined (or failed).
    pub declined: u32,
    /// Services suspended.
    pub suspended: u32,
    /// Provider calls that suspended or resumed a service.
    pub synced: u32,
    /// Subscriptions ended at period end.
    pub cancelled: u32,
    /// Suspended subscriptions ended unpaid after the grace period.
    pub ended_unpaid: u32,
    /// Renewal charges whose confirmation was overdue, asked about at the
    /// provider.
    pub checked: u32,
    /// Subscriptions left for the next run after an error.
    pub errors: u32,
}

/// Claims up to `limit` due subscriptions of every tenant and does what is
/// due for each, releasing each claim when done (a run that dies loses its
/// claims when their lease ends).
pub fn run_renewals<D: Db>(env: &SagaEnv<D>, limit: u32) -> Result<RenewReport, StoreError> {
    let mut report = RenewReport::default();
    let claimed = env.store.claim_due_subscriptions((env.clock)(), env.lease, limit)?;
    for (tenant, id) in claimed {
        report.claimed += 1;
        if let Err(e) = renew_one(env, &tenant, id, &mut report) {
            eprintln!("renew: subscription {id} of {tenant}: {e}; the next run tries again");
            report.errors += 1;
        }
        env.store.release_subscription(&tenant, id)?;
    }
    // Suspended and never paid: ended after the grace period, the same way.
    let now = (env.clock)();
    for (tenant, id) in env.store.unpaid_subscriptions(now - env.subscription_grace, limit)? {
        let ended = env.store.write(|s| {
            let Some(sub) = s.subscription(&tenant, id)? else {
                return Ok(false);
            };
            let Some(change) = sub.end_unpaid(env.subscription_grace, now) else {
                return Ok(false);
            };
            s.apply_subscription(sub.version, &change)?;
            crate::saga::schedule_end(s, &change.subscription, now)?;
            Ok(true)
        });
        match ended {
            Ok(true) => report.ended_unpaid += 1,
            Ok(false) => {}
            Err(e) => {
                eprintln!("renew: ending unpaid subscription {id} of {tenant}: {e}; the next run tries again");
                report.errors += 1;
            }
        }
    }
    Ok(report)
}

/// At most this many steps per subscription and run (suspend, then sync, …).
const STEPS: usize = 4;

fn renew_one<D: Db>(
    env: &SagaEnv<D>,
    tenant: &TenantId,
    id: SubscriptionId,
    report: &mut RenewReport,
) -> Result<(), StoreError> {
    for _ in 0..STEPS {
        let now = (env.clock)();
        let Some(sub) = env.store.subscription(tenant, id)? else {
            return Ok(());
        };
        let renewal = env.store.renewal(tenant, id, sub.period + 1)?;
        match sub.due(renewal.map(|r| r.state), now) {
            DueAction::Nothing => return Ok(()),
            DueAction::Cancel => {
                if let Ok(change) = sub.end("cancelled at period end", now) {
                    // Ended at the providers too: the saga deprovisions the
                    // resource and voids open renewal intents.
                    env.store.write(|s| {
                        s.apply_subscription(sub.version, &change)?;
                        crate::saga::schedule_end(s, &change.subscription, now)
                    })?;
                    report.cancelled += 1;
                }
            }
            DueAction::Suspend => {
                if let Ok(change) = sub.suspend(now) {
                    env.store.write(|s| s.apply_subscription(sub.version, &change))?;
                    report.suspended += 1;
                }
            }
            DueAction::SyncService { suspend } => {
                if let Some(resource) = env.store.resource_of(tenant, sub.item)? {
                    if let Err(e) = env.providers.set_suspended(env.out.as_ref(), &resource, suspend) {
                        // Left out of line: the next run asks again.
                        return Err(StoreError::Db(orderflow_store::DbError::Other(e.to_string())));
                    }
                }
                let change = sub.service_synced(suspend, now);
                env.store.write(|s| s.apply_subscription(sub.version, &change))?;
                report.synced += 1;
            }
            DueAction::CheckIntent { period } => {
                check_intent(env, &sub, period)?;
                report.checked += 1;
            }
            DueAction::Charge { period, .. } => {
                if charge(env, &sub, period)? {
                    report.charged += 1;
                } else {
                    report.declined += 1;
                }
            }
        }
    }
    Ok(())
}

/// One charge attempt of `period`'s renewal. Returns whether the provider
/// accepted it.
fn charge<D: Db>(env: &SagaEnv<D>, sub: &Subscription, period: u32) -> Result<bool, StoreError> {
    let now = (env.clock)();
    let renewal = env.store.write(|s| s.start_renewal(sub, period, true, now))?;
    let intent = match &renewal.intent_id {
        Some(intent) => Ok(intent.clone()),
        None => env.providers.payments().and_then(|provider| {
            let saved = saved_method(env, provider, sub)?;
            let request = crate::saga::payments::renewal_intent(sub, period, saved);
            // Never charged before it is linked to its renewal: a payment
            // nobody can attribute would confirm nothing. The next attempt
            // finds the same intent by its idempotency key and links it.
            provider.create_intent(env.out.as_ref(), &request).and_then(|intent| {
                env.store
                    .write(|s| s.link_renewal_intent(&renewal, provider.name(), &intent, now))
                    .map(|()| intent)
                    .map_err(|e| CallError::Retryable(format!("renewal intent not linked: {e}")))
            })
        }),
    };
    // The attempt number keys the charge: a crashed attempt's charge is
    // replayed, a new attempt confirms the same intent again (which charges
    // an intent at most once).
    let outcome = intent.and_then(|intent| {
        let key = format!("renewal-{}-{period}-{}", sub.id, renewal.attempts);
        env.providers
            .payments()
            .and_then(|p| p.confirm_off_session(env.out.as_ref(), &intent, &key))
    });
    let now = (env.clock)();
    let accepted = matches!(outcome, Ok(Charge::Accepted));
    env.store.write(|s| {
        let Some(current) = s.subscription(&sub.tenant, sub.id)? else {
            return Ok(());
        };
        let Some(renewal) = s.renewal(&sub.tenant, sub.id, period)? else {
            return Ok(());
        };
        match &outcome {
            Ok(Charge::Accepted) => {
                // The webhook may have been faster: then it is paid already.
                if s.set_renewal_state(&renewal, RenewalState::Confirming, None, now)? {
                    if let Ok(change) = current.charge_accepted(period, now) {
                        s.apply_subscription(current.version, &change)?;
                    }
                }
            }
            Ok(Charge::Declined(reason)) | Err(CallError::Retryable(reason) | CallError::Permanent(reason)) => {
                if s.set_renewal_state(&renewal, RenewalState::Declined, Some(reason), now)? {
                    let retry_at =
                        after_renewal_failure(current.renewal_failures + 1, now).map(|at| env.scaled(now, at));
                    if let Ok(change) = current.charge_declined(period, reason, retry_at, now) {
                        s.apply_subscription(current.version, &change)?;
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(accepted)
}

/// A renewal charge the provider accepted whose confirmation is overdue:
/// its intent is retrieved at the provider and the answer decides
/// ([`Subscription::intent_checked`]): paid renews it (the webhook was
/// lost), failed or cancelled is a decline, still processing is asked
/// about again later (the service suspended once the period is over). A
/// failed retrieval is left for the next run.
fn check_intent<D: Db>(env: &SagaEnv<D>, sub: &Subscription, period: u32) -> Result<(), StoreError> {
    let Some(renewal) = env.store.renewal(&sub.tenant, sub.id, period)? else {
        return Ok(());
    };
    let check = match &renewal.intent_id {
        // Accepted without an intent cannot happen any more; treat it as a
        // charge that did not go through.
        None => IntentCheck::Failed("no payment intent linked".into()),
        Some(intent) => {
            let info = env
                .providers
                .payments()
                .and_then(|p| p.retrieve_intent(env.out.as_ref(), intent))
                .map_err(|e| StoreError::Db(orderflow_store::DbError::Other(e.to_string())))?;
            match (info.status, info.amount) {
                (IntentStatus::Succeeded, Ok(amount)) if amount == renewal.amount => IntentCheck::Paid(amount),
                (IntentStatus::Succeeded, _) => IntentCheck::Failed("paid, but not the renewal's amount".into()),
                (IntentStatus::Processing, _) => IntentCheck::Processing,
                (IntentStatus::Canceled, _) => IntentCheck::Failed("the payment was cancelled".into()),
                (IntentStatus::Open, _) => IntentCheck::Failed("the payment did not go through".into()),
            }
        }
    };
    let now = (env.clock)();
    env.store.write(|s| {
        let Some(current) = s.subscription(&sub.tenant, sub.id)? else {
            return Ok(());
        };
        let Some(renewal) = s.renewal(&sub.tenant, sub.id, period)? else {
            return Ok(());
        };
        let moved = match &check {
            IntentCheck::Paid(_) => s.set_renewal_state(&renewal, RenewalState::Paid, None, now)?,
            IntentCheck::Failed(why) => s.set_renewal_state(&renewal, RenewalState::Declined, Some(why), now)?,
            IntentCheck::Processing => true,
        };
        if !moved {
            return Ok(());
        }
        let retry_at = after_renewal_failure(current.renewal_failures + 1, now).map(|at| env.scaled(now, at));
        if let Ok(change) = current.intent_checked(period, check.clone(), retry_at, now) {
            s.apply_subscription(current.version, &change)?;
        }
        Ok(())
    })
}

/// The payment method that paid the subscription's order, as the provider
/// kept it for renewals (read from the order's payment intent), if any.
fn saved_method<D: Db>(
    env: &SagaEnv<D>,
    provider: &PaymentProvider,
    sub: &Subscription,
) -> Result<Option<SavedMethod>, CallError> {
    let order_intent = env
        .store
        .payment_intent_of(&sub.tenant, sub.order)
        .map_err(|e| CallError::Retryable(format!("reading the order's payment intent: {e}")))?;
    match order_intent {
        Some(intent) => Ok(provider.retrieve_intent(env.out.as_ref(), &intent)?.saved),
        None => Ok(None),
    }
}

/// What a payment event did to a renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewalOutcome {
    /// The renewal was paid: the subscription runs one period more.
    Renewed(TenantId, SubscriptionId),
    /// Recorded, nothing changed (why).
    Ignored(String),
    /// Seen before.
    Duplicate,
}

/// Applies a verified payment event for a renewal's intent, in one
/// transaction with the record of the event (so a replay does nothing):
/// a payment of the renewal's amount pays it and extends
/// the subscription by exactly one period (resuming it if suspended).
/// Declines were recorded by the renewal run when it charged; their events
/// only get recorded.
#[allow(clippy::too_many_arguments)]
pub fn apply_renewal_payment<D: Db>(
    store: &Store<D>,
    renewal: &Renewal,
    provider: &str,
    event: &PaymentEvent,
    now: DateTime<Utc>,
    retry_delay_scale: f64,
) -> Result<RenewalOutcome, StoreError> {
    let Some(report) = event.report(provider, now) else {
        return Ok(RenewalOutcome::Ignored("ignored: not a renewal payment".into()));
    };
    store.write(|s| {
        let sub = s.subscription(&renewal.tenant, renewal.subscription)?;
        // As it is now: its charge accepted and awaiting confirmation, or not.
        let renewal = s
            .renewal(&renewal.tenant, renewal.subscription, renewal.period)?
            .unwrap_or_else(|| renewal.clone());
        let awaited = renewal.state == RenewalState::Confirming;
        let verdict = interpret_renewal_payment(
            sub.as_ref(),
            &renewal.id,
            renewal.period,
            renewal.amount,
            awaited,
            &report,
            now,
        );
        let why = verdict.why();
        let outcome = match (&verdict, &sub) {
            (RenewalVerdict::Renew(_), Some(sub)) => RenewalOutcome::Renewed(sub.tenant.clone(), sub.id),
            _ => RenewalOutcome::Ignored(why.clone()),
        };
        if !s.record_webhook(
            provider,
            &event.id,
            &event.kind,
            sub.as_ref().map(|x| x.order),
            &why,
            now,
        )? {
            return Ok(RenewalOutcome::Duplicate);
        }
        let Some(sub) = &sub else {
            return Ok(outcome);
        };
        match verdict {
            RenewalVerdict::Renew(change) => {
                if s.set_renewal_state(&renewal, RenewalState::Paid, None, now)? {
                    s.apply_subscription(sub.version, &change)?;
                }
            }
            RenewalVerdict::Decline(reason) => {
                if s.set_renewal_state(&renewal, RenewalState::Declined, Some(&reason), now)? {
                    let retry_at = after_renewal_failure(sub.renewal_failures + 1, now)
                        .map(|at| crate::saga::scaled(now, at, retry_delay_scale));
                    if let Ok(change) = sub.charge_declined(renewal.period, &reason, retry_at, now) {
                        s.apply_subscription(sub.version, &change)?;
                    }
                }
            }
            RenewalVerdict::RefundLate(planned) => {
                crate::saga::request_late_refund(s, sub, planned, now)?;
            }
            // Paid, but not as the renewal asked: kept with the renewal
            // (durably; the webhook log is purged) for a person to settle.
            RenewalVerdict::Flag(why) => {
                s.note_renewal_problem(&renewal, &why, now)?;
            }
            RenewalVerdict::Ignore => {}
        }
        Ok(outcome)
    })
}
