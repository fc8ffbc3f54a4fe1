//! The payment provider's webhook: verified and parsed by the provider into
//! a typed change, deduplicated by event id, and persisted with the
//! decision the core interprets it as (`orderflow_core::saga::payments`)
//! in the same transaction that records the event. Nothing is decided here.

use chrono::{DateTime, Utc};
use orderflow_core::saga::{interpret_payment, Ignored, PaymentVerdict};
use orderflow_core::{Catalog, OrderId, TenantId};
use orderflow_http::{ApiError, HttpResponse, RequestParts, WebhookSecrets};
use orderflow_store::{Db, Store, StoreError};
use serde_json::json;

use super::payments::{PaymentChange, PaymentProvider};

/// What became of a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied to the tenant's order.
    Applied(TenantId, OrderId),
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    /// Recorded, but no order changed (unknown intent, a failed payment
    /// attempt, an out-of-order event).
    Ignored(String),
    /// Refused by the order and flagged for an operator.
    Flagged(OrderId, String),
    /// A subscription's renewal was paid: it runs one period more.
    Renewed(TenantId, orderflow_core::SubscriptionId),
}

/// Handles `POST /v1/webhooks/payments/{provider}`: the provider verifies
/// and parses its own event (400 for a bad signature or body, 413 for an
/// oversized one; nothing changes), then the typed change is applied; 2xx
/// otherwise (so the provider stops retrying), with the outcome in the body.
/// Event types the domain does not act on are recorded and acknowledged.
/// `retry_delay_scale` scales the dunning schedule of a renewal declined by
/// an event (1 outside tests), as the renewal run scales it.
#[allow(clippy::too_many_arguments)]
pub fn handle_payment_webhook<D: Db>(
    store: &Store<D>,
    catalog: &Catalog,
    provider: &PaymentProvider,
    secrets: &WebhookSecrets,
    request: &RequestParts,
    now: DateTime<Utc>,
    retry_delay_scale: f64,
    correlation_id: &str,
) -> Result<(HttpResponse, WebhookOutcome), ApiError> {
    // The provider signs with the real time: check it against the system
    // clock, whatever offset the application's clock has.
    let event = provider.parse_webhook(request, secrets, (now - crate::clock::offset()).timestamp())?;
    let name = provider.name();
    // A store that stayed busy is a 503 with Retry-After (the provider
    // delivers again), a lost race a 409, anything else an opaque 500.
    let store_error = |e: StoreError| crate::errors::from_store(e, correlation_id);
    let Some(intent_id) = event.change.intent() else {
        let fresh = store
            .write(|s| s.record_webhook(name, &event.id, &event.kind, None, "ignored: not acted on", now))
            .map_err(store_error)?;
        let outcome = if fresh {
            WebhookOutcome::Ignored(format!("{} is not acted on", event.kind))
        } else {
            WebhookOutcome::Duplicate
        };
        return Ok((respond(&outcome), outcome));
    };
    if matches!(event.change, PaymentChange::RefundUpdated { .. }) {
        // A refund's outcome: moves our refund record (super::refunds).
        // (Each path re-reads and decides again if it loses a version race.)
        let outcome = again_on_conflict(WEBHOOK_DECIDE_ROUNDS, || {
            super::refunds::apply_refund_event(store, catalog, name, &event, now)
        })
        .map_err(store_error)?;
        return Ok((respond(&outcome), outcome));
    }
    if let Some(renewal) = store.renewal_of_intent(intent_id).map_err(store_error)? {
        // A subscription's renewal, not an order: the same signed path.
        use crate::subscriptions::{apply_renewal_payment, RenewalOutcome};
        let outcome = again_on_conflict(WEBHOOK_DECIDE_ROUNDS, || {
            apply_renewal_payment(store, &renewal, name, &event, now, retry_delay_scale)
        })
        .map_err(store_error)?;
        let outcome = match outcome {
            RenewalOutcome::Renewed(tenant, id) => WebhookOutcome::Renewed(tenant, id),
            RenewalOutcome::Duplicate => WebhookOutcome::Duplicate,
            RenewalOutcome::Ignored(why) => WebhookOutcome::Ignored(why),
        };
        return Ok((respond(&outcome), outcome));
    }
    let target = store.order_of_intent(intent_id).map_err(store_error)?;
    let report = event.report(name, now);
    // The order may change between this transaction's read and its write (a
    // customer's cancel, the saga): the version-guarded write then fails and
    // the event is read and decided again, against the order as it is now,
    // rather than answering the provider with a conflict it would retry for
    // days. Bounded: each round loses only to a write that committed.
    let outcome = again_on_conflict(WEBHOOK_DECIDE_ROUNDS, || {
        store.write(|s| {
            let Some((tenant, order_id)) = &target else {
                let fresh = s.record_webhook(name, &event.id, &event.kind, None, "unknown payment intent", now)?;
                return Ok(if fresh {
                    WebhookOutcome::Ignored("unknown payment intent".into())
                } else {
                    WebhookOutcome::Duplicate
                });
            };
            let Some(order) = s.order(tenant, *order_id)? else {
                let fresh = s.record_webhook(name, &event.id, &event.kind, Some(*order_id), "order missing", now)?;
                return Ok(if fresh {
                    WebhookOutcome::Ignored("order missing".into())
                } else {
                    WebhookOutcome::Duplicate
                });
            };
            // What the event means for the order is the core's call, given
            // what the order already did with the intent (its refunds).
            let refunds = s.refunds_of(tenant, *order_id)?;
            let verdict = report
                .as_ref()
                .map_or(PaymentVerdict::Ignore(Ignored::NotAStateChange), |r| {
                    interpret_payment(&order, &refunds, r, catalog, now)
                });
            let (label, outcome) = match &verdict {
                PaymentVerdict::Command(_) | PaymentVerdict::Refund(_) => {
                    ("applied".to_owned(), WebhookOutcome::Applied(tenant.clone(), *order_id))
                }
                PaymentVerdict::Ignore(Ignored::NotAStateChange) => (
                    Ignored::NotAStateChange.why(),
                    WebhookOutcome::Ignored(event.kind.clone()),
                ),
                PaymentVerdict::Ignore(ignored) => (ignored.why(), WebhookOutcome::Ignored(ignored.why())),
                PaymentVerdict::Flag { why, .. } => (why.clone(), WebhookOutcome::Flagged(*order_id, why.clone())),
            };
            if !s.record_webhook(name, &event.id, &event.kind, Some(*order_id), &label, now)? {
                return Ok(WebhookOutcome::Duplicate);
            }
            if let Some(d) = verdict.decision() {
                s.apply(order.version, d, &format!("webhook:{name}"))?;
            }
            Ok(outcome)
        })
    })
    .map_err(store_error)?;
    Ok((respond(&outcome), outcome))
}

/// How many times the webhook reads and decides an order event before it
/// gives a version conflict up (as 409; the provider delivers again).
pub const WEBHOOK_DECIDE_ROUNDS: u32 = 5;

/// Runs `attempt` until it does not lose a version race, at most `rounds`
/// times; the last conflict is returned as it is.
pub fn again_on_conflict<T>(rounds: u32, mut attempt: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let mut left = rounds.max(1);
    loop {
        left -= 1;
        match attempt() {
            Err(StoreError::VersionConflict { .. }) if left > 0 => continue,
            other => return other,
        }
    }
}

/// The acknowledgement, naming what became of the event.
fn respond(outcome: &WebhookOutcome) -> HttpResponse {
    let body = match outcome {
        WebhookOutcome::Applied(_, id) => json!({ "received": true, "outcome": "applied", "order_id": id }),
        WebhookOutcome::Duplicate => json!({ "received": true, "outcome": "duplicate" }),
        WebhookOutcome::Renewed(_, id) => json!({ "received": true, "outcome": "applied", "subscription_id": id }),
        WebhookOutcome::Ignored(why) => json!({ "received": true, "outcome": "ignored", "reason": why }),
        WebhookOutcome::Flagged(id, why) => {
            json!({ "received": true, "outcome": "flagged", "order_id": id, "reason": why })
        }
    };
    HttpResponse::json(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_version_race_is_decided_again_but_not_forever() {
        let conflict = || StoreError::VersionConflict { expected: 2 };
        // Loses twice, then wins: the third round's answer.
        let mut rounds = 0;
        let won = again_on_conflict(WEBHOOK_DECIDE_ROUNDS, || {
            rounds += 1;
            if rounds < 3 {
                Err(conflict())
            } else {
                Ok(rounds)
            }
        });
        assert_eq!(won, Ok(3));
        // Always loses: gives up after the bound, with the conflict.
        let mut rounds = 0;
        let lost: Result<(), _> = again_on_conflict(WEBHOOK_DECIDE_ROUNDS, || {
            rounds += 1;
            Err(conflict())
        });
        assert_eq!((lost, rounds), (Err(conflict()), WEBHOOK_DECIDE_ROUNDS));
        // Any other error is not a race: answered at once.
        let mut rounds = 0;
        let other: Result<(), _> = again_on_conflict(WEBHOOK_DECIDE_ROUNDS, || {
            rounds += 1;
            Err(StoreError::Corrupt("x".into()))
        });
        assert_eq!((other, rounds), (Err(StoreError::Corrupt("x".into())), 1));
    }
}
