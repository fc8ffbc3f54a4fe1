//! The payment provider's webhook: verified, deduplicated by event id, and
//! applied as a decision in the same transaction that records the event.

use chrono::{DateTime, TimeZone, Utc};
use orderflow_core::{decide, Actor, Catalog, Command, Currency, Money, OrderId, Payment, Rejection, TenantId};
use orderflow_http::{verify_webhook, ApiError, HttpResponse, RequestParts};
use orderflow_store::{Db, Store};
use rust_decimal::Decimal;
use serde_json::{json, Value};

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

/// Handles `POST /v1/webhooks/payments/{provider}`: 400 for a bad
/// signature (nothing changes), 2xx otherwise (so the provider stops
/// retrying), with the outcome in the body.
pub fn handle_payment_webhook<D: Db>(
    store: &Store<D>,
    catalog: &Catalog,
    provider: &str,
    secret: &[u8],
    request: &RequestParts,
    now: DateTime<Utc>,
    correlation_id: &str,
) -> Result<(HttpResponse, WebhookOutcome), ApiError> {
    // The provider signs with the real time: check it against the system
    // clock, whatever offset the application's clock has.
    verify_webhook(
        request.header("stripe-signature"),
        &request.body,
        secret,
        (now - crate::clock::offset()).timestamp(),
    )?;
    let event: Value = serde_json::from_slice(&request.body).map_err(|e| ApiError::BadRequest {
        problem: "webhook-body",
        detail: format!("the event is not JSON: {e}"),
        accepted: None,
    })?;
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let event_type = event["type"].as_str().unwrap_or_default().to_owned();
    let intent = &event["data"]["object"];
    let intent_id = intent["id"].as_str().unwrap_or_default();
    if event_id.is_empty() || event_type.is_empty() || intent_id.is_empty() {
        return Err(ApiError::BadRequest {
            problem: "webhook-body",
            detail: "the event needs id, type and data.object.id".into(),
            accepted: None,
        });
    }
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    if let Some(renewal) = store.renewal_of_intent(intent_id).map_err(|e| internal(&e))? {
        // A subscription's renewal, not an order: the same signed path.
        use crate::subscriptions::{apply_renewal_payment, RenewalOutcome};
        let outcome = apply_renewal_payment(
            store,
            &renewal,
            provider,
            &event_id,
            &event_type,
            amount_of(intent),
            now,
        )
        .map_err(|e| internal(&e))?;
        let (body, outcome) = match outcome {
            RenewalOutcome::Renewed(tenant, id) => (
                json!({ "received": true, "outcome": "applied", "subscription_id": id }),
                WebhookOutcome::Renewed(tenant, id),
            ),
            RenewalOutcome::Duplicate => (
                json!({ "received": true, "outcome": "duplicate" }),
                WebhookOutcome::Duplicate,
            ),
            RenewalOutcome::Ignored(why) => (
                json!({ "received": true, "outcome": "ignored", "reason": why }),
                WebhookOutcome::Ignored(why),
            ),
        };
        return Ok((HttpResponse::json(200, &body), outcome));
    }
    let target = store.order_of_intent(intent_id).map_err(|e| internal(&e))?;
    let outcome = store
        .write(|s| {
            let Some((tenant, order_id)) = &target else {
                let fresh = s.record_webhook(provider, &event_id, &event_type, None, "unknown payment intent", now)?;
                return Ok(if fresh {
                    WebhookOutcome::Ignored("unknown payment intent".into())
                } else {
                    WebhookOutcome::Duplicate
                });
            };
            let command = match event_type.as_str() {
                "payment_intent.succeeded" => Some(match amount_of(intent) {
                    Ok(amount) => Command::ConfirmPayment(Payment {
                        provider: provider.to_owned(),
                        reference: intent_id.to_owned(),
                        amount,
                        paid_at: event["created"]
                            .as_i64()
                            .and_then(|t| Utc.timestamp_opt(t, 0).single())
                            .unwrap_or(now),
                    }),
                    // Paid in a currency the order is not in: flag it, like any mismatch.
                    Err(why) => Command::ParkForOperator {
                        reason: format!("payment {intent_id}: {why}"),
                    },
                }),
                "payment_intent.canceled" => Some(Command::ExpirePayment),
                _ => None,
            };
            let Some(order) = s.order(tenant, *order_id)? else {
                let fresh =
                    s.record_webhook(provider, &event_id, &event_type, Some(*order_id), "order missing", now)?;
                return Ok(if fresh {
                    WebhookOutcome::Ignored("order missing".into())
                } else {
                    WebhookOutcome::Duplicate
                });
            };
            let already_paid = order.payment.as_ref().is_some_and(|p| p.reference == intent_id);
            if already_paid && event_type == "payment_intent.succeeded" {
                // Another event for the payment we already recorded: nothing new.
                let why = "ignored: payment already recorded".to_owned();
                let fresh = s.record_webhook(provider, &event_id, &event_type, Some(*order_id), &why, now)?;
                return Ok(if fresh {
                    WebhookOutcome::Ignored(why)
                } else {
                    WebhookOutcome::Duplicate
                });
            }
            let decided = command.map(|c| decide(&order, c, Actor::System, catalog, now));
            let (label, outcome, decision) = match decided {
                None => (
                    "ignored: not a state change".to_owned(),
                    WebhookOutcome::Ignored(event_type.clone()),
                    None,
                ),
                Some(Ok(d)) => (
                    "applied".to_owned(),
                    WebhookOutcome::Applied(tenant.clone(), *order_id),
                    Some(d),
                ),
                Some(Err(Rejection::IllegalTransition { state, .. })) if event_type != "payment_intent.succeeded" => {
                    let why = format!("ignored: order is {state}");
                    (why.clone(), WebhookOutcome::Ignored(why), None)
                }
                Some(Err(r)) => {
                    // Money was taken that the order cannot accept (wrong
                    // amount, or the order is no longer awaiting payment):
                    // a person must refund or reconcile it.
                    let why = format!("flagged: {r}");
                    let park = decide(
                        &order,
                        Command::ParkForOperator {
                            reason: format!("payment {intent_id}: {r}"),
                        },
                        Actor::System,
                        catalog,
                        now,
                    )
                    .ok();
                    (why.clone(), WebhookOutcome::Flagged(*order_id, why), park)
                }
            };
            if !s.record_webhook(provider, &event_id, &event_type, Some(*order_id), &label, now)? {
                return Ok(WebhookOutcome::Duplicate);
            }
            if let Some(d) = decision {
                s.apply(order.version, &d, &format!("webhook:{provider}"))?;
            }
            Ok(outcome)
        })
        .map_err(|e| internal(&e))?;
    let body = match &outcome {
        WebhookOutcome::Applied(_, id) => json!({ "received": true, "outcome": "applied", "order_id": id }),
        WebhookOutcome::Duplicate => json!({ "received": true, "outcome": "duplicate" }),
        WebhookOutcome::Renewed(_, id) => json!({ "received": true, "outcome": "applied", "subscription_id": id }),
        WebhookOutcome::Ignored(why) => json!({ "received": true, "outcome": "ignored", "reason": why }),
        WebhookOutcome::Flagged(id, why) => {
            json!({ "received": true, "outcome": "flagged", "order_id": id, "reason": why })
        }
    };
    Ok((HttpResponse::json(200, &body), outcome))
}

/// The intent's amount: minor units and an ISO currency (lower case on the wire).
fn amount_of(intent: &Value) -> Result<Money, String> {
    let minor = intent["amount"].as_i64().ok_or("the event has no amount")?;
    let code = intent["currency"].as_str().unwrap_or_default().to_ascii_uppercase();
    let currency =
        Currency::from_code(&code).ok_or_else(|| format!("paid in `{code}`, not in the order's currency"))?;
    Ok(Money {
        amount: Decimal::new(minor, 2),
        currency,
    })
}
