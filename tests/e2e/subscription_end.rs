//! A subscription that ends ends at the providers too, through the real
//! components and simulators, on SQLite and PostgreSQL: at the end of a
//! cancelled period its resource is deprovisioned at the cloud provider
//! (nothing left running) and its open renewal intent voided; a renewal
//! payment that still arrives is refunded, once, at the payment provider.

use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e::pg_cluster::TestDatabase;
use e2e::sims::Sims;
use e2e::{eventually, App};
use serde_json::{json, Value};

use crate::api::{advance_to, json_of, on_simulators, renew, uuid_key, Caller};

const SECRET: &str = "whsec_subscription_end_padded_to_32_bytes";

/// The VPS core plan's monthly price, in cents.
const CORE_MONTHLY_CENTS: i64 = 1000;

struct World {
    _db: Option<TestDatabase>,
    sims: Sims,
    app: App,
}

impl World {
    fn start(postgres: Option<&str>) -> World {
        let (db, sims, app) = on_simulators(postgres, SECRET, |b| b.env("SPIN_VARIABLE_CLOCK", "adjustable"));
        World { _db: db, sims, app }
    }

    fn customer(&self) -> Caller<'_> {
        Caller::customer(&self.app)
    }

    /// A monthly VPS ordered, paid, provisioned and delivered: its order and subscription.
    fn subscribed(&self) -> (String, Value) {
        let c = self.customer();
        let order_id = crate::api::delivered_monthly_vps(&c, &self.sims);
        let page = json_of(c.get("/v1/subscriptions"));
        (order_id, page["items"][0].clone())
    }

    fn subscription(&self, sub_id: &str) -> Value {
        let page = json_of(self.customer().get("/v1/subscriptions"));
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == sub_id)
            .cloned()
            .unwrap_or_else(|| panic!("no subscription {sub_id}"))
    }

    fn renew(&self) -> Value {
        renew(&self.app)
    }

    fn advance_to(&self, at: &Value) {
        advance_to(&self.app, at);
    }

    fn control(&self, path: &str, body: Value) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.sims.payments))
            .json(&body)
            .send()
            .expect("simulator reachable");
        assert!(r.status().is_success(), "{path}");
    }

    /// Resources at the cloud provider not deprovisioned.
    fn live_resources(&self) -> i64 {
        let r = reqwest::blocking::get(format!("{}/_sim/resources", self.sims.cloud)).expect("cloud reachable");
        let v: Value = serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null);
        v["live"].as_i64().expect("the cloud simulator counts live resources")
    }

    fn intent(&self, intent_id: &str) -> Value {
        self.sims
            .payment_intents()
            .into_iter()
            .find(|i| i["id"] == intent_id)
            .unwrap_or_else(|| panic!("no intent {intent_id}"))
    }

    /// A subscription with one declined renewal (its intent open), then
    /// cancelled by the customer: returns (order, subscription, open intent).
    fn cancelled_with_an_open_renewal(&self) -> (String, Value, String) {
        let (order_id, sub) = self.subscribed();
        let sub_id = sub["id"].as_str().unwrap().to_owned();
        self.control("/_sim/declines", json!({ "decline_next": 1 }));
        self.advance_to(&sub["next_renewal_at"]);
        assert_eq!(self.renew()["declined"], 1);
        let intents: Vec<Value> = self
            .sims
            .payment_intents()
            .into_iter()
            .filter(|i| i["metadata"]["subscription_id"] == sub_id.as_str())
            .collect();
        assert_eq!(intents.len(), 1, "{intents:?}");
        let r = self.customer().write_keyed(
            "POST",
            &format!("/v1/subscriptions/{sub_id}/cancel"),
            &json!({}),
            None,
            &uuid_key(),
        );
        assert_eq!(r.status(), 200);
        (order_id, sub, intents[0]["id"].as_str().unwrap().to_owned())
    }
}

fn a_cancelled_subscription_leaves_no_running_resource_and_no_open_intent(postgres: Option<&str>) {
    let w = World::start(postgres);
    let (order_id, sub, intent) = w.cancelled_with_an_open_renewal();
    assert_eq!(w.live_resources(), 1);
    // When its period ends,
    w.advance_to(&sub["current_period_end"]);
    assert_eq!(w.renew()["cancelled"], 1);
    assert_eq!(w.subscription(sub["id"].as_str().unwrap())["status"], "cancelled");
    // then its resource is deprovisioned and its renewal intent voided.
    eventually("the resource is deprovisioned", Duration::from_secs(30), || {
        (w.live_resources() == 0).then_some(())
    });
    let voided = eventually("the renewal intent is voided", Duration::from_secs(30), || {
        let i = w.intent(&intent);
        (i["status"] == "canceled").then_some(i)
    });
    assert_eq!(voided["amount_received"], 0);
    let order = json_of(Caller::operator(&w.app).get(&format!("/v1/orders/{order_id}")));
    assert_eq!(order["needs_operator"], false, "{order:#}");
    assert_eq!(order["refunds"], json!([]), "nothing was paid to refund: {order:#}");
}

fn a_renewal_paid_after_its_subscription_ended_is_refunded_once(postgres: Option<&str>) {
    let w = World::start(postgres);
    let (order_id, sub, intent) = w.cancelled_with_an_open_renewal();
    // The provider fails the next three calls, so the void waits while the
    // customer's payment lands.
    w.control("/_sim/faults", json!({ "fail_next": 3, "status": 500 }));
    w.advance_to(&sub["current_period_end"]);
    assert_eq!(w.renew()["cancelled"], 1);
    // When the customer pays the renewal after the subscription ended,
    w.sims.succeed(&intent, json!({}));
    // then the payment goes back, once, and nothing is left running.
    let refunded = eventually("the late payment is refunded", Duration::from_secs(60), || {
        let order = json_of(Caller::operator(&w.app).get(&format!("/v1/orders/{order_id}")));
        let late = order["refunds"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["scope"] == "late_payment")
            .cloned()?;
        (late["state"] == "refunded").then_some((order, late))
    });
    assert_eq!(refunded.1["amount"]["amount"], "10.00");
    assert_eq!(refunded.1["id"], format!("{order_id}:late:{intent}"));
    let at_provider: Vec<Value> = w
        .sims
        .refunds()
        .into_iter()
        .filter(|r| r["payment_intent"] == intent.as_str())
        .collect();
    assert_eq!(at_provider.len(), 1, "{at_provider:?}");
    assert_eq!(at_provider[0]["amount"], CORE_MONTHLY_CENTS);
    eventually("the resource is deprovisioned", Duration::from_secs(30), || {
        (w.live_resources() == 0).then_some(())
    });
    // The void found the intent paid: nothing open, nothing parked.
    eventually("the void is done", Duration::from_secs(30), || {
        let order = json_of(Caller::operator(&w.app).get(&format!("/v1/orders/{order_id}")));
        (order["needs_operator"] == false).then_some(())
    });
    assert_eq!(w.intent(&intent)["amount_refunded"], CORE_MONTHLY_CENTS);
}

#[test]
fn on_sqlite_a_cancelled_subscription_leaves_no_running_resource_and_no_open_intent() {
    a_cancelled_subscription_leaves_no_running_resource_and_no_open_intent(None);
}

#[test]
fn on_postgres_a_cancelled_subscription_leaves_no_running_resource_and_no_open_intent() {
    a_cancelled_subscription_leaves_no_running_resource_and_no_open_intent(Some("sub_end_clean"));
}

#[test]
fn on_sqlite_a_renewal_paid_after_its_subscription_ended_is_refunded_once() {
    a_renewal_paid_after_its_subscription_ended_is_refunded_once(None);
}

#[test]
fn on_postgres_a_renewal_paid_after_its_subscription_ended_is_refunded_once() {
    a_renewal_paid_after_its_subscription_ended_is_refunded_once(Some("sub_end_late"));
}

fn a_suspended_subscription_never_paid_ends_after_its_grace_period(postgres: Option<&str>) {
    let w = World::start(postgres);
    let (order_id, sub) = w.subscribed();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    // Every renewal attempt is declined, so the period ends unpaid: suspended.
    w.control("/_sim/declines", json!({ "decline_next": 100 }));
    let mut current = sub.clone();
    while !current["next_renewal_at"].is_null() {
        w.advance_to(&current["next_renewal_at"]);
        w.renew();
        current = w.subscription(&sub_id);
    }
    w.advance_to(&sub["current_period_end"]);
    w.renew();
    assert_eq!(w.subscription(&sub_id)["status"], "suspended");
    let intent = w
        .sims
        .payment_intents()
        .into_iter()
        .find(|i| i["metadata"]["subscription_id"] == sub_id.as_str())
        .expect("the renewal's intent");
    // Thirteen days later it is still there, waiting for the payment;
    let end: DateTime<Utc> = sub["current_period_end"].as_str().unwrap().parse().unwrap();
    w.advance_to(&json!((end + chrono::Duration::days(13)).to_rfc3339()));
    assert_eq!(w.renew()["ended_unpaid"], 0);
    assert_eq!(w.subscription(&sub_id)["status"], "suspended");
    assert_eq!(w.live_resources(), 1);
    // fourteen days (the default `subscription_grace_days`) after, it ends:
    w.advance_to(&json!((end + chrono::Duration::days(14)).to_rfc3339()));
    assert_eq!(w.renew()["ended_unpaid"], 1);
    assert_eq!(w.subscription(&sub_id)["status"], "cancelled");
    // nothing left running, no intent left open.
    eventually("the resource is deprovisioned", Duration::from_secs(30), || {
        (w.live_resources() == 0).then_some(())
    });
    eventually("the renewal intent is voided", Duration::from_secs(30), || {
        (w.intent(intent["id"].as_str().unwrap())["status"] == "canceled").then_some(())
    });
    let order = json_of(Caller::operator(&w.app).get(&format!("/v1/orders/{order_id}")));
    assert_eq!(order["needs_operator"], false, "{order:#}");
    // A second run ends nothing more.
    assert_eq!(w.renew()["ended_unpaid"], 0);
}

#[test]
fn on_sqlite_a_suspended_subscription_never_paid_ends_after_its_grace_period() {
    a_suspended_subscription_never_paid_ends_after_its_grace_period(None);
}

#[test]
fn on_postgres_a_suspended_subscription_never_paid_ends_after_its_grace_period() {
    a_suspended_subscription_never_paid_ends_after_its_grace_period(Some("sub_end_grace"));
}

/// A GPU server of `nodes` nodes in lj-1, monthly.
fn lj1_gpu(nodes: u32) -> Value {
    json!({"product":"gpu","billing_cycle":"monthly",
           "config":{"region":"lj-1","gpu":"H100","nodes":nodes,"storage_gb":100,"framework":"none"}})
}

/// Ended subscriptions give back what they held: two 8-node GPU servers in
/// lj-1 take the region's whole GPU pool (16 nodes) and the tenant's whole
/// GPU quota (16 nodes); once both subscriptions ended and their resources
/// are deleted, the items are `ended`, and a new 8-node order in lj-1 is
/// validated and provisioned. Before, the ended items kept counting (still
/// `delivered`, their capacity reserved): every later lj-1 GPU order failed
/// validation and was refunded.
fn ended_gpu_subscriptions_give_back_their_capacity_and_quota(postgres: Option<&str>) {
    let w = World::start(postgres);
    let c = w.customer();
    let first = c.submitted(json!([lj1_gpu(8), lj1_gpu(8)]), Duration::from_secs(20));
    let first_id = crate::api::id(&first);
    w.sims
        .succeed(first["payment_intent"].as_str().expect("intent"), json!({}));
    eventually("both servers delivered", Duration::from_secs(60), || {
        let o = json_of(c.get(&format!("/v1/orders/{first_id}")));
        (o["items"].as_array()?.iter().all(|i| i["state"] == "delivered")).then_some(())
    });
    // The customer cancels both subscriptions; they end at the period's end.
    let subs = json_of(c.get("/v1/subscriptions"))["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(subs.len(), 2, "{subs:#?}");
    for sub in &subs {
        let r = c.write_keyed(
            "POST",
            &format!("/v1/subscriptions/{}/cancel", sub["id"].as_str().unwrap()),
            &json!({}),
            None,
            &uuid_key(),
        );
        assert_eq!(r.status(), 200);
    }
    w.advance_to(&subs[0]["current_period_end"]);
    w.advance_to(&subs[1]["current_period_end"]);
    assert_eq!(w.renew()["cancelled"], 2);
    let ended = eventually(
        "both items ended, their resources deleted",
        Duration::from_secs(60),
        || {
            let o = json_of(c.get(&format!("/v1/orders/{first_id}")));
            (w.live_resources() == 0 && o["items"].as_array()?.iter().all(|i| i["state"] == "ended")).then_some(o)
        },
    );
    assert_eq!(
        ended["state"], "fulfilled",
        "the order was fulfilled; it stays so: {ended:#}"
    );
    assert_eq!(ended["needs_operator"], false, "{ended:#}");

    // A new 8-node GPU server in lj-1 now fits the region and the quota.
    let second = c.submitted(json!([lj1_gpu(8)]), Duration::from_secs(20));
    let second_id = crate::api::id(&second);
    w.sims
        .succeed(second["payment_intent"].as_str().expect("intent"), json!({}));
    let settled = eventually("the new order settles", Duration::from_secs(60), || {
        let o = json_of(c.get(&format!("/v1/orders/{second_id}")));
        ["fulfilled", "failed"].contains(&o["state"].as_str()?).then_some(o)
    });
    assert_eq!(settled["state"], "fulfilled", "{settled:#}");
    assert_eq!(settled["refunds"], json!([]), "{settled:#}");
}

#[test]
fn on_sqlite_ended_gpu_subscriptions_give_back_their_capacity_and_quota() {
    ended_gpu_subscriptions_give_back_their_capacity_and_quota(None);
}

#[test]
fn on_postgres_ended_gpu_subscriptions_give_back_their_capacity_and_quota() {
    ended_gpu_subscriptions_give_back_their_capacity_and_quota(Some("sub_end_capacity"));
}

/// A renewal charge the provider accepted whose webhook never arrives is
/// not awaited for ever: at the period's end the renewal run retrieves the
/// intent at the provider, finds it paid, and renews. Before, the
/// subscription waited for the webhook with no deadline and ran on unpaid
/// (or, paid, was never renewed).
fn a_renewal_whose_webhook_is_lost_is_asked_about_at_the_period_end(postgres: Option<&str>) {
    let w = World::start(postgres);
    let (_, sub) = w.subscribed();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    // The provider's webhooks go nowhere while the renewal is charged.
    w.sims
        .set_webhook("http://127.0.0.1:9/v1/webhooks/payments/stripe", SECRET);
    w.advance_to(&sub["next_renewal_at"]);
    assert_eq!(w.renew()["charged"], 1);
    let awaiting = w.subscription(&sub_id);
    assert_eq!(awaiting["current_period"], 1, "not confirmed: {awaiting:#}");
    assert_eq!(awaiting["next_renewal_at"], Value::Null, "{awaiting:#}");
    w.sims.set_webhook(&w.app.url("/v1/webhooks/payments/stripe"), SECRET);
    // Before the period's end nothing is asked;
    assert_eq!(w.renew()["checked"], 0);
    // at its end the provider is asked: paid, so renewed.
    w.advance_to(&sub["current_period_end"]);
    let run = w.renew();
    assert_eq!(run["checked"], 1, "{run}");
    let renewed = w.subscription(&sub_id);
    assert_eq!(
        (renewed["status"].as_str(), renewed["current_period"].as_u64()),
        (Some("active"), Some(2)),
        "{renewed:#}"
    );
    assert_eq!(renewed["current_period_start"], sub["current_period_end"]);
    // Asked once: the next run has nothing to ask.
    assert_eq!(w.renew()["checked"], 0);
}

#[test]
fn on_sqlite_a_renewal_whose_webhook_is_lost_is_asked_about_at_the_period_end() {
    a_renewal_whose_webhook_is_lost_is_asked_about_at_the_period_end(None);
}

#[test]
fn on_postgres_a_renewal_whose_webhook_is_lost_is_asked_about_at_the_period_end() {
    a_renewal_whose_webhook_is_lost_is_asked_about_at_the_period_end(Some("sub_end_lost_webhook"));
}
