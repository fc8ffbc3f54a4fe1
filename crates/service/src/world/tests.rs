//! The use cases in the in-process world, read as sentences: orders from
//! draft to fulfilled, idempotent writes, the payment webhook's signature
//! and de-duplication, refunds at the provider, and subscriptions. Each
//! runs in milliseconds over native SQLite; the end-to-end suite checks the
//! same rules through the real components.

use rust_decimal_macros::dec;
use serde_json::json;

use super::*;

const TENANT: &str = "acme";

fn eur(amount: rust_decimal::Decimal) -> Money {
    Money::eur(amount)
}

/// A draft of `items` VPS items, created by the tenant's customer.
fn draft(w: &World, items: usize) -> OrderId {
    let body = json!({ "items": vec![vps_item(); items], "delivery_email": "buyer@example.test" });
    let created = w.send(
        &customer(TENANT),
        "POST",
        "/v1/orders",
        &body,
        &[("idempotency-key", "create-1")],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an order id")
}

/// Submits the draft at its total and lets the saga ask for the intent.
fn submitted(w: &World, items: usize) -> OrderId {
    let order = draft(w, items);
    let total = format!("{}.00", 10 * items);
    let submit = w.act(
        &customer(TENANT),
        order,
        "submit",
        &json!({ "shown_total": { "amount": total, "currency": "EUR" } }),
        "submit-1",
    );
    assert_eq!(submit.status, 200, "{}", submit.body);
    w.run_saga();
    order
}

/// A one-item order paid, then cancelled by its customer before the saga
/// validated it, and the saga settled.
fn paid_then_cancelled(w: &World) -> OrderId {
    let order = submitted(w, 1);
    w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    let cancel = w.act(
        &customer(TENANT),
        order,
        "cancel",
        &json!({ "reason": "changed my mind" }),
        "cancel-1",
    );
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    w.settle(TENANT, order);
    order
}

/// The order's state as stored (a cancelled order is hidden from the API).
fn state(w: &World, order: OrderId) -> String {
    let tenant: TenantId = TENANT.parse().unwrap();
    let stored = w.store().order(&tenant, order).unwrap().expect("the order");
    stored.state.as_str().to_owned()
}

#[test]
fn an_order_goes_from_draft_to_fulfilled_through_the_use_cases_and_the_saga() {
    let w = World::new();
    let order = submitted(&w, 2);
    let read = w.get(&customer(TENANT), &format!("/v1/orders/{order}"));
    assert_eq!(
        (read.status, read.body["state"].as_str()),
        (200, Some("pending_payment"))
    );
    let (reply, outcome) = w.paid("evt_1", "pi_0", eur(dec!(20.00)));
    assert_eq!(reply.status, 200);
    assert!(
        matches!(outcome, Some(WebhookOutcome::Applied(_, id)) if id == order),
        "{outcome:?}"
    );
    w.settle(TENANT, order);
    assert_eq!(state(&w, order), "fulfilled");
    let fakes = w.fakes();
    assert_eq!((fakes.resources.len(), fakes.emails.len()), (2, 2));
}

#[test]
fn a_write_replayed_under_its_key_answers_as_the_first_time_and_changes_nothing() {
    let w = World::new();
    let body = json!({ "items": [vps_item()], "delivery_email": "buyer@example.test" });
    let first = w.send(
        &customer(TENANT),
        "POST",
        "/v1/orders",
        &body,
        &[("idempotency-key", "k-1")],
    );
    let again = w.send(
        &customer(TENANT),
        "POST",
        "/v1/orders",
        &body,
        &[("idempotency-key", "k-1")],
    );
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.body["id"], again.body["id"]);
    let listed = w.get(&customer(TENANT), "/v1/orders");
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.body
    );
    // The same key with another request is refused, and creates nothing.
    let other = json!({ "items": [vps_item(), vps_item()], "delivery_email": "buyer@example.test" });
    assert_eq!(
        w.send(
            &customer(TENANT),
            "POST",
            "/v1/orders",
            &other,
            &[("idempotency-key", "k-1")]
        )
        .status,
        422
    );
    // No key at all: refused.
    assert_eq!(w.send(&customer(TENANT), "POST", "/v1/orders", &body, &[]).status, 400);
    let listed = w.get(&customer(TENANT), "/v1/orders");
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_payment_webhook_delivered_twice_confirms_the_payment_once() {
    let w = World::new();
    let order = submitted(&w, 1);
    let (_, first) = w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    let (again, second) = w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    assert!(matches!(first, Some(WebhookOutcome::Applied(..))), "{first:?}");
    assert_eq!((again.status, second), (200, Some(WebhookOutcome::Duplicate)));
    // Another event for the same payment is recorded and changes nothing.
    let (_, other) = w.paid("evt_2", "pi_0", eur(dec!(10.00)));
    assert_eq!(
        other,
        Some(WebhookOutcome::Ignored("ignored: payment already recorded".into()))
    );
    assert_eq!(state(&w, order), "payment_confirmed");
}

#[test]
fn a_webhook_with_a_bad_signature_is_a_400_and_changes_nothing() {
    let w = World::new();
    let order = submitted(&w, 1);
    let event = intent_event("evt_1", "payment_intent.succeeded", "pi_0", eur(dec!(10.00)));
    let request = RequestParts::new("POST", "/v1/webhooks/payments/stripe")
        .with_header("stripe-signature", "t=1,v1=00")
        .with_body(event.to_string());
    let refused = handle_payment_webhook(
        w.store(),
        &w.saga.catalog,
        &w.provider,
        &w.secrets,
        &request,
        now(),
        w.saga.retry_delay_scale,
        "world",
    );
    assert_eq!(refused.map(|(r, _)| r.status).unwrap_or_else(|e| e.status()), 400);
    assert_eq!(state(&w, order), "pending_payment");
}

#[test]
fn a_paid_order_cancelled_before_provisioning_is_refunded_once_at_the_provider() {
    let w = World::new();
    let order = paid_then_cancelled(&w);
    assert_eq!(state(&w, order), "cancelled");
    let refunds = w.fakes().refunds.clone();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    let (key, (_, amount)) = refunds.iter().next().expect("a refund");
    assert_eq!(
        (key.as_str(), *amount),
        (format!("refund-{order}:order").as_str(), eur(dec!(10.00)))
    );
    let tenant: TenantId = TENANT.parse().unwrap();
    let recorded = w.store().refunds_of(&tenant, order).unwrap();
    assert_eq!(recorded[0].state.as_str(), "refunded");
}

#[test]
fn a_payment_that_arrives_after_cancellation_goes_back_whole() {
    let w = World::new();
    let order = submitted(&w, 1);
    let cancel = w.act(
        &customer(TENANT),
        order,
        "cancel",
        &json!({ "reason": "too slow" }),
        "cancel-1",
    );
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let (_, outcome) = w.paid("evt_late", "pi_0", eur(dec!(10.00)));
    assert!(matches!(outcome, Some(WebhookOutcome::Applied(..))), "{outcome:?}");
    w.settle(TENANT, order);
    let refunds = w.fakes().refunds.clone();
    assert_eq!(
        refunds.keys().collect::<Vec<_>>(),
        [&format!("refund-{order}:late:pi_0")]
    );
}

#[test]
fn an_item_the_cloud_refuses_is_rolled_back_and_its_price_refunded() {
    let w = World::new();
    let order = submitted(&w, 2);
    // The first item's creation will be refused for good.
    let first = w.store().order(&TENANT.parse().unwrap(), order).unwrap().unwrap().items[0].id;
    w.fail(Op::CreateResource, Some(first.to_string()), Fault::Permanent, 1);
    w.paid("evt_1", "pi_0", eur(dec!(20.00)));
    w.settle(TENANT, order);
    assert_eq!(state(&w, order), "partially_fulfilled");
    let refunds = w.fakes().refunds.clone();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds.values().next().map(|(_, a)| *a), Some(eur(dec!(10.00))));
}

#[test]
fn a_fulfilled_item_runs_as_a_subscription_the_customer_can_cancel_at_period_end() {
    let w = World::new();
    let order = submitted(&w, 1);
    w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    w.settle(TENANT, order);
    let listed = w.get(&customer(TENANT), "/v1/subscriptions");
    assert_eq!(listed.status, 200, "{}", listed.body);
    let subscriptions = listed.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(subscriptions.len(), 1, "{}", listed.body);
    assert_eq!(subscriptions[0]["status"], "active");
    let id = subscriptions[0]["id"].as_str().expect("an id");
    let cancelled = w.send(
        &customer(TENANT),
        "POST",
        &format!("/v1/subscriptions/{id}/cancel"),
        &json!({}),
        &[("idempotency-key", "sub-cancel-1")],
    );
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["cancel_at_period_end"], true, "{}", cancelled.body);
    // Another tenant cannot see it.
    let theirs = w.get(&customer("globex"), "/v1/subscriptions");
    assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(0));
}

/// A fulfilled one-item order whose subscription has its next renewal
/// charged through the intent `pi_renewal` (not paid yet).
fn renewing(w: &World) -> (OrderId, orderflow_core::Subscription) {
    let order = submitted(w, 1);
    w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    w.settle(TENANT, order);
    let tenant: TenantId = TENANT.parse().unwrap();
    let item = w.store().order(&tenant, order).unwrap().unwrap().items[0].id;
    let sub = w
        .store()
        .subscription_of_item(&tenant, item)
        .unwrap()
        .expect("a subscription");
    w.store()
        .write(|s| {
            let renewal = s.start_renewal(&sub, sub.period + 1, true, now())?;
            s.link_renewal_intent(&renewal, "stripe", "pi_renewal", now())
        })
        .unwrap();
    (order, sub)
}

#[test]
fn a_renewal_paid_through_the_webhook_extends_its_subscription_by_one_period() {
    let w = World::new();
    let (_, sub) = renewing(&w);
    let (_, outcome) = w.paid("evt_r", "pi_renewal", eur(dec!(10.00)));
    assert_eq!(outcome, Some(WebhookOutcome::Renewed(sub.tenant.clone(), sub.id)));
    let renewed = w.store().subscription(&sub.tenant, sub.id).unwrap().unwrap();
    assert_eq!(renewed.period, sub.period + 1);
    // Replayed: nothing more.
    assert_eq!(
        w.paid("evt_r", "pi_renewal", eur(dec!(10.00))).1,
        Some(WebhookOutcome::Duplicate)
    );
}

#[test]
fn a_renewal_paid_after_its_subscription_ended_is_refunded_whole_once() {
    let w = World::new();
    let (order, sub) = renewing(&w);
    w.store()
        .write(|s| {
            let change = sub.end("cancelled at period end", now()).expect("it ends");
            s.apply_subscription(sub.version, &change)?;
            crate::saga::schedule_end(s, &change.subscription, now())
        })
        .unwrap();
    let (_, outcome) = w.paid("evt_late", "pi_renewal", eur(dec!(10.00)));
    assert_eq!(
        outcome,
        Some(WebhookOutcome::Ignored("refunded: the subscription had ended".into()))
    );
    w.settle(TENANT, order);
    let refunds = w.fakes().refunds.clone();
    assert_eq!(
        refunds.keys().collect::<Vec<_>>(),
        [&format!("refund-{order}:late:pi_renewal")]
    );
    assert_eq!(w.fakes().deleted.len(), 1, "its resource is deprovisioned");
}

#[test]
fn a_refund_webhook_moves_only_a_refund_of_ours_and_only_forward() {
    let w = World::new();
    let order = paid_then_cancelled(&w);
    let refund_event = |id: &str, refund: &str, status: &str, ours: &str| {
        json!({
            "id": id, "object": "event", "type": "refund.updated", "created": now().timestamp(),
            "data": { "object": {
                "id": refund, "object": "refund", "payment_intent": "pi_0", "status": status,
                "metadata": { "refund_id": ours },
            }},
        })
    };
    // The job recorded the provider's answer (succeeded): a late report changes nothing.
    let ours = format!("{order}:order");
    let (_, late) = w.webhook(&refund_event("evt_r1", "re_0", "pending", &ours));
    assert_eq!(
        late,
        Some(WebhookOutcome::Ignored("ignored: refund already refunded".into()))
    );
    let (_, stranger) = w.webhook(&refund_event("evt_r2", "re_9", "failed", "someone-else"));
    assert_eq!(
        stranger,
        Some(WebhookOutcome::Ignored("ignored: not a refund of ours".into()))
    );
    let tenant: TenantId = TENANT.parse().unwrap();
    assert!(!w.store().order(&tenant, order).unwrap().unwrap().needs_operator);
}

#[test]
fn an_operator_reverting_a_payment_refunds_it_under_its_own_id_and_the_order_awaits_payment_again() {
    let w = World::new();
    let order = submitted(&w, 1);
    // Paid, and not yet validated (the saga has not run since).
    w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    assert_eq!(
        w.act(
            &customer(TENANT),
            order,
            "payment/revert",
            &json!({ "reason": "x" }),
            "revert-0"
        )
        .status,
        403,
        "only an operator reverts"
    );
    let reverted = w.act(
        &operator(TENANT),
        order,
        "payment/revert",
        &json!({ "reason": "chargeback" }),
        "revert-1",
    );
    assert_eq!(reverted.status, 200, "{}", reverted.body);
    assert_eq!(state(&w, order), "pending_payment");
    w.run_saga();
    let keys: Vec<String> = w.fakes().refunds.keys().cloned().collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("refund-{order}:revert:")), "{keys:?}");
}

#[test]
fn a_delivered_item_is_e_mailed_again_once_per_request() {
    let w = World::new();
    let order = submitted(&w, 1);
    w.paid("evt_1", "pi_0", eur(dec!(10.00)));
    w.settle(TENANT, order);
    let item = w.store().order(&TENANT.parse().unwrap(), order).unwrap().unwrap().items[0].id;
    let path = format!("/v1/orders/{order}/items/{item}/redeliver");
    let headers = [("idempotency-key", "again-1")];
    assert_eq!(
        w.send(&customer(TENANT), "POST", &path, &json!({}), &headers).status,
        202
    );
    assert_eq!(
        w.send(&customer(TENANT), "POST", &path, &json!({}), &headers).status,
        202
    );
    w.settle(TENANT, order);
    assert_eq!(w.fakes().emails.len(), 2, "the first delivery and one re-delivery");
}
