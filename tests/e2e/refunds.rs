//! Refunds executed at the payment provider, through the real components
//! and the simulated Stripe, on SQLite and on PostgreSQL (as the
//! application role, under row-level security): every refund the order
//! decides (a failed item, a failed validation) reaches the provider exactly
//! once with an idempotency key derived from what is refunded, the
//! provider's signed refund webhooks move it to `refunded` or `failed`
//! (replays change nothing), a refund the provider fails parks the order,
//! the order shows each item's refund, and analytics subtract only the
//! refunds the provider confirmed.

use std::time::{Duration, Instant};

use e2e::pg_cluster::TestDatabase;
use e2e::sims::Sims;
use e2e::{eventually, App};
use serde_json::{json, Value};

use crate::api::{id, json_of, on_simulators, outbox_types_of, version, vps, Caller};

const SECRET: &str = "whsec_e2e_refunds_padded_to_32_bytes_or_more";

/// The app on one backend, wired to fresh simulators.
struct World {
    db: Option<TestDatabase>,
    sims: Sims,
    app: App,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl World {
    fn start(backend: Backend, hint: &str) -> World {
        World::start_with(backend, hint, |b| b)
    }

    fn start_with(backend: Backend, hint: &str, change: impl FnOnce(e2e::AppBuilder) -> e2e::AppBuilder) -> World {
        let postgres = matches!(backend, Backend::Postgres).then_some(hint);
        let (db, sims, app) = on_simulators(postgres, SECRET, change);
        World { db, sims, app }
    }

    fn customer(&self) -> Caller<'_> {
        Caller::customer(&self.app)
    }

    fn order(&self, order_id: &str) -> Value {
        json_of(Caller::operator(&self.app).get(&format!("/v1/orders/{order_id}")))
    }

    /// Runs a statement on the app's database as its owner (test set-up).
    fn exec(&self, sql: &str) {
        match &self.db {
            None => {
                let db = rusqlite::Connection::open(self.app.state_dir().join("sqlite_db.db")).expect("open");
                db.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
                db.execute(sql, []).expect(sql);
            }
            Some(db) => {
                e2e::shared::rows_as_text(
                    &db.superuser_url,
                    &format!("WITH x AS ({sql} RETURNING 1) SELECT count(*) FROM x"),
                    &[],
                );
            }
        }
    }

    /// The state of the order's job of `kind`, read as an auditor would.
    fn job_state(&self, order_id: &str, kind: &str) -> Option<String> {
        let sql = "SELECT state FROM saga_jobs WHERE order_id = $1 AND kind = $2";
        match &self.db {
            None => {
                let path = self.app.state_dir().join("sqlite_db.db");
                let db = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .expect("open");
                db.query_row(&sql.replace('$', "?"), [order_id, kind], |r| r.get(0))
                    .ok()
            }
            Some(db) => e2e::shared::rows_as_text(&db.superuser_url, sql, &[order_id.into(), kind.into()])
                .into_iter()
                .next()
                .map(|r| r[0].clone()),
        }
    }

    /// The outbox event types of the order, on either backend.
    fn events(&self, order_id: &str) -> Vec<String> {
        outbox_types_of(&self.app, self.db.as_ref(), order_id)
    }

    /// Pays the order's intent at the simulator (its signed webhook follows).
    fn pay(&self, order: &Value) {
        let intent = order["payment_intent"].as_str().expect("payment intent");
        self.sims.succeed(intent, json!({}));
    }

    /// Waits until every refund of the order is in a final state at the
    /// provider (and there are `n` of them).
    fn refunds_settled(&self, order_id: &str, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let order = self.order(order_id);
            let refunds = order["refunds"].as_array().cloned().unwrap_or_default();
            if refunds.len() == n
                && refunds
                    .iter()
                    .all(|r| r["state"] == "refunded" || r["state"] == "failed")
            {
                return order;
            }
            assert!(Instant::now() < deadline, "refunds never settled:\n{order:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The simulator's refunds for `order_id` (by the metadata we send).
    fn provider_refunds(&self, order_id: &str) -> Vec<Value> {
        self.sims
            .refunds()
            .into_iter()
            .filter(|r| r["metadata"]["order_id"] == order_id)
            .collect()
    }

    fn set_refund_faults(&self, faults: Value) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/_sim/refund_faults", self.sims.payments))
            .json(&faults)
            .send()
            .expect("simulator reachable");
        assert!(r.status().is_success());
    }
}

fn cents(money: &Value) -> i64 {
    let s = money["amount"].as_str().expect("an amount");
    let (units, frac) = s.split_once('.').unwrap_or((s, "0"));
    units.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap()
}

/// Every refund-related event the simulator sent, delivered again three
/// times each (as a provider's retries would), byte for byte.
fn replay_refund_webhooks(w: &World) {
    for event in w.sims.events() {
        let kind = event["type"].as_str().unwrap_or_default();
        if kind.starts_with("refund.") || kind == "charge.refunded" {
            w.sims.redeliver(
                event["id"].as_str().unwrap(),
                json!({ "deliveries": 3, "concurrent": true }),
            );
        }
    }
}

fn each_refund_reaches_the_provider_exactly_once_and_replayed_webhooks_change_nothing(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    // Given an order whose second item fails for good at the cloud provider
    let partial = w.customer().submitted(
        json!([vps("core", "monthly"), vps("business", "monthly")]),
        Duration::from_secs(20),
    );
    let doomed = partial["items"][1]["id"].as_str().unwrap().to_owned();
    w.sims.set_cloud_faults(json!({ "fail_reference": doomed }));
    // and an order that fails validation (no GPU capacity left),
    w.exec("UPDATE region_capacity SET capacity = 0 WHERE product = 'gpu'");
    let gpu = json!({"product":"gpu","billing_cycle":"monthly","config":{"region":"lj-1","gpu":"A100","nodes":1,"storage_gb":100,"framework":"pytorch"}});
    let invalid = w.customer().submitted(json!([gpu]), Duration::from_secs(20));
    // when both are paid,
    w.pay(&partial);
    w.pay(&invalid);
    // then each refund is executed at the provider and confirmed by its webhook.
    let (pid, iid) = (id(&partial), id(&invalid));
    let p = w.refunds_settled(&pid, 1);
    let i = w.refunds_settled(&iid, 1);
    assert_eq!(p["state"], "partially_fulfilled", "{p:#}");
    assert_eq!(i["state"], "failed", "{i:#}");
    assert_eq!(p["refunds"][0]["id"], format!("{pid}:item:{doomed}"));
    assert_eq!(p["refunds"][0]["state"], "refunded");
    assert_eq!(
        p["items"][1]["refund"]["state"], "refunded",
        "the item shows its refund: {p:#}"
    );
    assert_eq!(
        p["items"][1]["refund"]["amount"],
        p["items"][1]["price"]["period_total"]
    );
    assert!(
        p["items"][0].get("refund").is_none(),
        "a delivered item has no refund: {p:#}"
    );
    assert_eq!(i["refunds"][0]["id"], format!("{iid}:order"));
    assert_eq!(i["refunds"][0]["amount"], i["total"]);

    // Exactly one refund per case at the provider, under the derived key,
    // for the refunded amount, against the order's payment.
    for (order, refund_id, amount) in [
        (
            &p,
            format!("{pid}:item:{doomed}"),
            &p["items"][1]["price"]["period_total"],
        ),
        (&i, format!("{iid}:order"), &i["total"]),
    ] {
        let at_provider = w.provider_refunds(&id(order));
        assert_eq!(at_provider.len(), 1, "{at_provider:#?}");
        assert_eq!(at_provider[0]["metadata"]["refund_id"], refund_id.as_str());
        assert_eq!(at_provider[0]["amount"].as_i64(), Some(cents(amount)));
        assert_eq!(at_provider[0]["payment_intent"], order["payment"]["reference"]);
        assert_eq!(at_provider[0]["status"], "succeeded");
        let calls: Vec<Value> = w
            .sims
            .payment_requests()
            .into_iter()
            .filter(|r| r["path"] == "/v1/refunds" && r["idempotency_key"] == format!("refund-{refund_id}"))
            .collect();
        assert!(!calls.is_empty(), "the refund was asked for under its derived key");
    }
    let events = w.events(&pid);
    assert_eq!(events.iter().filter(|e| *e == "billing.refund-requested").count(), 1);
    assert_eq!(events.iter().filter(|e| *e == "billing.refunded").count(), 1);

    // When every refund webhook is delivered again, three times at once,
    replay_refund_webhooks(&w);
    // then nothing changes: no new refund, no new event, the same states.
    for order in [&pid, &iid] {
        assert_eq!(w.provider_refunds(order).len(), 1);
        let again = w.order(order);
        assert_eq!(again["refunds"][0]["state"], "refunded");
        assert_eq!(
            again["refunds"][0]["updated_at"],
            if order == &pid { &p } else { &i }["refunds"][0]["updated_at"]
        );
        assert_eq!(w.events(order).iter().filter(|e| *e == "billing.refunded").count(), 1);
    }

    // And analytics subtract the confirmed refunds, with nothing pending.
    let a = json_of(w.customer().get("/v1/analytics"));
    let paid = cents(&p["total"]) + cents(&i["total"]);
    let refunded = cents(&p["items"][1]["price"]["period_total"]) + cents(&i["total"]);
    assert_eq!(cents(&a["total_revenue"]["paid"]), paid, "{a:#}");
    assert_eq!(cents(&a["total_revenue"]["refunded"]), refunded, "{a:#}");
    assert_eq!(cents(&a["total_revenue"]["amount"]), paid - refunded, "{a:#}");
    assert_eq!(cents(&a["total_revenue"]["refunds_pending"]), 0, "{a:#}");
}

fn a_refund_the_provider_fails_parks_the_order_and_a_slow_one_waits_for_its_webhook(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    // Given a provider whose next refund fails after a while,
    w.set_refund_faults(json!({ "fail_next": 1, "delay_ms": 300 }));
    let order = w.customer().submitted(
        json!([vps("core", "monthly"), vps("business", "monthly")]),
        Duration::from_secs(20),
    );
    let doomed = order["items"][1]["id"].as_str().unwrap().to_owned();
    w.sims.set_cloud_faults(json!({ "fail_reference": doomed }));
    // when an item fails for good and is refunded,
    w.pay(&order);
    let oid = id(&order);
    let failed = w.refunds_settled(&oid, 1);
    // then the refund is failed, the order parked for an operator, and billing told.
    assert_eq!(failed["refunds"][0]["state"], "failed", "{failed:#}");
    assert_eq!(failed["items"][1]["refund"]["state"], "failed");
    assert_eq!(failed["refunds"][0]["failure_reason"], "expired_or_canceled_card");
    let parked = eventually("the order is parked", Duration::from_secs(20), || {
        let o = w.order(&oid);
        (o["needs_operator"] == true).then_some(o)
    });
    assert_eq!(parked["needs_operator"], true);
    let seen_by_customer = json_of(w.customer().get(&format!("/v1/orders/{oid}")));
    assert_eq!(
        seen_by_customer["refunds"][0]["failure_reason"],
        "the payment provider could not refund; an operator is looking into it"
    );
    let events = w.events(&oid);
    assert_eq!(
        events.iter().filter(|e| *e == "billing.refund-failed").count(),
        1,
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "billing.refunded"), "{events:?}");
    assert_eq!(w.provider_refunds(&oid).len(), 1);

    // Given a provider that takes its time with the next refund,
    w.set_refund_faults(json!({ "fail_next": 0, "delay_ms": 1500 }));
    let slow = w.customer().submitted(
        json!([vps("core", "monthly"), vps("business", "monthly")]),
        Duration::from_secs(20),
    );
    let doomed = slow["items"][1]["id"].as_str().unwrap().to_owned();
    w.sims.set_cloud_faults(json!({ "fail_reference": doomed }));
    w.pay(&slow);
    let sid = id(&slow);
    // the refund is pending at the provider until its webhook says otherwise,
    let pending = eventually("the refund is at the provider", Duration::from_secs(60), || {
        let o = w.order(&sid);
        let state = o["refunds"][0]["state"].clone();
        (state != Value::Null && state != "requested").then_some(state)
    });
    assert_eq!(pending, "pending");
    // then refunded.
    let done = w.refunds_settled(&sid, 1);
    assert_eq!(done["refunds"][0]["state"], "refunded");
    assert_eq!(done["needs_operator"], false);
    assert_eq!(w.provider_refunds(&sid).len(), 1);
    assert_eq!(w.events(&sid).iter().filter(|e| *e == "billing.refunded").count(), 1);
}

#[test]
fn on_sqlite_each_refund_reaches_the_provider_exactly_once_and_replayed_webhooks_change_nothing() {
    each_refund_reaches_the_provider_exactly_once_and_replayed_webhooks_change_nothing(Backend::Sqlite, "");
}

#[test]
fn on_postgres_each_refund_reaches_the_provider_exactly_once_and_replayed_webhooks_change_nothing() {
    each_refund_reaches_the_provider_exactly_once_and_replayed_webhooks_change_nothing(
        Backend::Postgres,
        "refunds_once",
    );
}

#[test]
fn on_sqlite_a_refund_the_provider_fails_parks_the_order_and_a_slow_one_waits_for_its_webhook() {
    a_refund_the_provider_fails_parks_the_order_and_a_slow_one_waits_for_its_webhook(Backend::Sqlite, "");
}

#[test]
fn on_postgres_a_refund_the_provider_fails_parks_the_order_and_a_slow_one_waits_for_its_webhook() {
    a_refund_the_provider_fails_parks_the_order_and_a_slow_one_waits_for_its_webhook(
        Backend::Postgres,
        "refunds_faults",
    );
}

/// A payment above the order's total: the order goes on, and what is above
/// the total goes back once, at the provider, against that payment.
fn an_overpayment_is_accepted_and_what_is_above_the_total_refunded_once(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    let order = w
        .customer()
        .submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let oid = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent");
    w.sims
        .succeed(intent, json!({ "amount": cents(&order["total"]) + 500 }));

    let settled = w.refunds_settled(&oid, 1);
    let refund = &settled["refunds"][0];
    assert_eq!(refund["id"], format!("{oid}:overpaid:{intent}"), "{settled:#}");
    assert_eq!(
        (refund["scope"].as_str(), refund["state"].as_str()),
        (Some("overpayment"), Some("refunded"))
    );
    assert_eq!(cents(&refund["amount"]), 500);
    let at_provider = w.provider_refunds(&oid);
    assert_eq!(at_provider.len(), 1, "{at_provider:#?}");
    assert_eq!(at_provider[0]["amount"].as_i64(), Some(500));
    assert_eq!(at_provider[0]["payment_intent"], intent);
    eventually("the overpaid order is fulfilled", Duration::from_secs(60), || {
        (w.order(&oid)["state"] == "fulfilled").then_some(())
    });
}

/// A payment that arrives once the order no longer awaits one (cancelled
/// while the customer paid): the paid intent cannot be voided, which
/// leaves nothing open, and the payment goes back whole, once.
fn a_payment_for_a_cancelled_order_goes_back_whole_once(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    let order = w
        .customer()
        .submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let oid = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent").to_owned();
    // The customer pays; the provider's event is not delivered yet,
    w.sims.succeed(&intent, json!({ "deliveries": 0 }));
    // and meanwhile the customer cancels: the paid intent cannot be voided.
    let r = w
        .customer()
        .command(&oid, "cancel", &json!({ "reason": "changed my mind" }), version(&order));
    assert_eq!(r.status(), 200);
    eventually(
        "the void counts as done, the intent being paid",
        Duration::from_secs(60),
        || (w.job_state(&oid, "cancel_payment_intent").as_deref() == Some("done")).then_some(()),
    );

    // The provider's event arrives now, twice, as a retry would send it.
    let event = w
        .sims
        .events()
        .into_iter()
        .find(|e| e["type"] == "payment_intent.succeeded" && e["data"]["object"]["id"] == intent.as_str())
        .expect("the payment's event");
    w.sims
        .redeliver(event["id"].as_str().expect("event id"), json!({ "deliveries": 2 }));

    let settled = w.refunds_settled(&oid, 1);
    assert_eq!(
        (settled["state"].as_str(), settled["needs_operator"].as_bool()),
        (Some("cancelled"), Some(false)),
        "{settled:#}"
    );
    let refund = &settled["refunds"][0];
    assert_eq!(refund["id"], format!("{oid}:late:{intent}"));
    assert_eq!(
        (refund["scope"].as_str(), refund["state"].as_str()),
        (Some("late_payment"), Some("refunded"))
    );
    assert_eq!(refund["amount"], settled["total"]);
    let at_provider = w.provider_refunds(&oid);
    assert_eq!(at_provider.len(), 1, "{at_provider:#?}");
    assert_eq!(at_provider[0]["payment_intent"], intent.as_str());
}

/// The sim's `payment_intent.succeeded` for `intent` (made, not yet delivered).
fn success_event_of(w: &World, intent: &str) -> String {
    w.sims
        .events()
        .into_iter()
        .find(|e| e["type"] == "payment_intent.succeeded" && e["data"]["object"]["id"] == intent)
        .and_then(|e| e["id"].as_str().map(str::to_owned))
        .expect("the payment's event")
}

/// One payment for a cancelled order, reported by two different events (a
/// Stripe Checkout Session reports `checkout.session.completed` beside the
/// intent's `payment_intent.succeeded`): both are acknowledged with 200 and
/// the payment goes back once. Before, the second tried to record the same
/// refund again, answered 500, and the provider retried it for days.
fn a_late_payment_reported_by_two_events_goes_back_once_and_both_are_acknowledged(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    let order = w
        .customer()
        .submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let oid = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent").to_owned();
    w.sims.succeed(&intent, json!({ "deliveries": 0 }));
    let r = w
        .customer()
        .command(&oid, "cancel", &json!({ "reason": "changed my mind" }), version(&order));
    assert_eq!(r.status(), 200);

    let first = w
        .sims
        .redeliver(&success_event_of(&w, &intent), json!({ "deliveries": 1 }));
    assert_eq!(first["statuses"], json!([200]), "{first:#}");
    let second = crate::stripe::library_signed_as(
        &w.app,
        SECRET,
        &intent,
        cents(&order["total"]),
        "checkout.session.completed",
    );
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["body"]["outcome"], "ignored", "{second}");

    let settled = w.refunds_settled(&oid, 1);
    assert_eq!(settled["refunds"][0]["id"], format!("{oid}:late:{intent}"));
    assert_eq!(settled["refunds"][0]["state"], "refunded");
    assert_eq!(settled["needs_operator"], false, "{settled:#}");
    assert_eq!(w.provider_refunds(&oid).len(), 1);
}

/// A customer's cancel lands between the payment webhook's read of the
/// order and its write. The webhook reads and decides again, against the
/// cancelled order, and answers the provider 200 (the payment goes back
/// whole) instead of a 409 the provider would retry for days.
///
/// On PostgreSQL the interleaving is forced: the test holds a lock that
/// stops the webhook's first write (its record of the event) after it has
/// read the order, sees it waiting, lets the customer cancel, then lets it
/// go. SQLite serializes writers (`BEGIN IMMEDIATE`), so there the two
/// simply race; either order must end consistently.
fn a_customer_cancel_racing_the_payment_webhook_is_decided_again_not_answered_409(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    let order = w
        .customer()
        .submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let oid = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent").to_owned();
    w.sims.succeed(&intent, json!({ "deliveries": 0 }));
    let event = success_event_of(&w, &intent);

    let cancel = || {
        w.customer()
            .command(&oid, "cancel", &json!({ "reason": "changed my mind" }), version(&order))
            .status()
            .as_u16()
    };
    let (delivered, cancelled) = std::thread::scope(|scope| match &w.db {
        Some(db) => {
            use orderflow_store::{Db, NativePg};
            let lock = NativePg::connect(&db.superuser_url).expect("connect as superuser");
            lock.run("BEGIN", &[]).expect("begin");
            lock.run("LOCK TABLE webhook_events IN SHARE MODE", &[]).expect("lock");
            let delivery = scope.spawn(|| w.sims.redeliver(&event, json!({ "deliveries": 1 })));
            eventually("the webhook waits to record its event", Duration::from_secs(30), || {
                let waiting = e2e::shared::rows_as_text(
                    &db.superuser_url,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND query ILIKE '%webhook_events%'",
                    &[],
                );
                (waiting[0][0] != "0").then_some(())
            });
            let cancelled = cancel();
            lock.run("COMMIT", &[]).expect("commit");
            (delivery.join().expect("delivery"), cancelled)
        }
        None => {
            let delivery = scope.spawn(|| w.sims.redeliver(&event, json!({ "deliveries": 1 })));
            let cancelled = cancel();
            (delivery.join().expect("delivery"), cancelled)
        }
    });
    assert_eq!(delivered["statuses"], json!([200]), "{delivered:#}");

    let now = w.order(&oid);
    if cancelled == 200 {
        // The cancel won: the payment that raced it goes back whole, once.
        let settled = w.refunds_settled(&oid, 1);
        assert_eq!(settled["state"], "cancelled");
        assert_eq!(settled["refunds"][0]["id"], format!("{oid}:late:{intent}"));
        assert_eq!(settled["refunds"][0]["amount"], settled["total"]);
        assert_eq!(w.provider_refunds(&oid).len(), 1);
    } else {
        // The payment won (SQLite only): the cancel saw a newer version.
        assert!(
            w.db.is_none(),
            "the cancel must win on PostgreSQL: {cancelled}\n{now:#}"
        );
        assert!([409, 412].contains(&cancelled), "{cancelled}");
        assert_ne!(now["state"], "cancelled", "{now:#}");
        assert_eq!(now["payment"]["reference"], intent.as_str(), "{now:#}");
    }
}

/// A GPU server of 8 nodes in lj-1, monthly: two take the tenant's whole
/// GPU quota (16 nodes).
fn lj1_gpu8() -> Value {
    json!({"product":"gpu","billing_cycle":"monthly",
           "config":{"region":"lj-1","gpu":"H100","nodes":8,"storage_gb":100,"framework":"none"}})
}

/// An order left unpaid past the payment window (24 h by default) is
/// cancelled by the tick, its intent voided and the quota its items held
/// freed; the customer's payment that was on its way meanwhile goes back
/// whole. Before, a `pending_payment` order never expired and kept
/// counting against the quota.
fn an_order_unpaid_past_the_payment_window_expires_and_frees_its_quota(backend: Backend, hint: &str) {
    let w = World::start_with(backend, hint, |b| b.env("SPIN_VARIABLE_CLOCK", "adjustable"));
    // Two 8-node GPU servers take the whole GPU quota while they await payment.
    let unpaid = w
        .customer()
        .submitted(json!([lj1_gpu8(), lj1_gpu8()]), Duration::from_secs(20));
    let oid = id(&unpaid);
    let intent = unpaid["payment_intent"].as_str().expect("payment intent").to_owned();
    // The customer pays at the last moment; the provider's event is late.
    w.sims.succeed(&intent, json!({ "deliveries": 0 }));
    // A day and a second later, the tick has expired the order
    w.app.advance_clock(24 * 3600 + 1);
    let expired = eventually("the unpaid order expires", Duration::from_secs(30), || {
        let o = w.order(&oid);
        (o["state"] == "cancelled").then_some(o)
    });
    let audit = json_of(Caller::operator(&w.app).get(&format!("/v1/orders/{oid}/audit")));
    let last = audit["items"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (last["command"].as_str(), last["subject"].as_str(), last["to"].as_str()),
        (
            Some("expire payment of"),
            Some("saga:payment-window"),
            Some("cancelled")
        ),
        "{audit}"
    );
    // and tried to void its intent: paid meanwhile, it cannot be; that is done,
    eventually("the intent's void is done", Duration::from_secs(30), || {
        (w.job_state(&oid, "cancel_payment_intent").as_deref() == Some("done")).then_some(())
    });
    // and the late payment goes back whole, once.
    let late = w
        .sims
        .redeliver(&success_event_of(&w, &intent), json!({ "deliveries": 1 }));
    assert_eq!(late["statuses"], json!([200]), "{late:#}");
    let settled = w.refunds_settled(&oid, 1);
    assert_eq!(settled["refunds"][0]["id"], format!("{oid}:late:{intent}"));
    assert_eq!(settled["refunds"][0]["amount"], expired["total"]);

    // The quota is free again: a new 8-node server is validated and provisioned.
    let next = w.customer().submitted(json!([lj1_gpu8()]), Duration::from_secs(20));
    let next_id = id(&next);
    w.pay(&next);
    let done = eventually("the new order settles", Duration::from_secs(60), || {
        let o = w.order(&next_id);
        ["fulfilled", "failed"].contains(&o["state"].as_str()?).then_some(o)
    });
    assert_eq!(done["state"], "fulfilled", "{done:#}");
}

/// A resource the cloud keeps reporting as being created is not polled for
/// ever: past the provisioning deadline (30 minutes by default) the item is
/// rolled back like a permanent failure, its resource deleted and its price
/// refunded. Before, every answer other than ready/failed was "creating" and
/// the order stayed in `provisioning`, the payment taken, for good.
fn a_resource_stuck_in_creation_past_the_deadline_is_rolled_back_and_refunded(backend: Backend, hint: &str) {
    let w = World::start_with(backend, hint, |b| b.env("SPIN_VARIABLE_CLOCK", "adjustable"));
    w.sims.set_cloud_faults(json!({ "ready_after_polls": 1_000_000 }));
    let order = w
        .customer()
        .submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let oid = id(&order);
    w.pay(&order);
    eventually("the resource is being created", Duration::from_secs(30), || {
        let polled = w.sims.resources().iter().any(|r| r["polls"].as_u64() > Some(1));
        (polled && w.order(&oid)["items"][0]["state"] == "provisioning").then_some(())
    });
    // Half an hour later it is still being created: the item is rolled back.
    w.app.advance_clock(30 * 60 + 1);
    let failed = eventually("the stuck item is rolled back", Duration::from_secs(60), || {
        let o = w.order(&oid);
        (o["items"][0]["state"] == "rolled_back").then_some(o)
    });
    assert_eq!(failed["state"], "failed", "{failed:#}");
    assert_eq!(failed["needs_operator"], false, "{failed:#}");
    let settled = w.refunds_settled(&oid, 1);
    assert_eq!(settled["refunds"][0]["scope"], "item");
    assert_eq!(settled["refunds"][0]["state"], "refunded");
    assert_eq!(settled["refunds"][0]["amount"], settled["total"]);
    let resources = w.sims.resources();
    assert_eq!(resources.len(), 1, "{resources:#?}");
    assert!(
        !resources[0]["deleted_at"].is_null(),
        "its resource is deleted: {resources:#?}"
    );
}

/// A dead end has an exit: the item's resource fails at the provider and
/// its deletion keeps failing, so the deprovisioning parks and the order
/// waits for an operator. The operator sees the parked job and why
/// (`GET /v1/orders/{id}/jobs`), has the provider fixed, and retries it
/// (`POST …/jobs/{job}/retry`, If-Match, audited): the item is rolled back
/// and refunded, and the order no longer waits. Before, nothing but the
/// database could move a parked job.
fn an_operator_retries_a_parked_compensation_and_the_item_is_rolled_back_and_refunded(backend: Backend, hint: &str) {
    let w = World::start(backend, hint);
    let order = w
        .customer()
        .submitted(json!([vps("core", "monthly")]), Duration::from_secs(20));
    let oid = id(&order);
    let item = order["items"][0]["id"].as_str().expect("item id").to_owned();
    w.sims
        .set_cloud_faults(json!({ "fail_provisioning_for": item, "fail_deletes_for": item }));
    w.pay(&order);
    let operator = Caller::operator(&w.app);
    let parked = eventually("the deprovisioning parks", Duration::from_secs(90), || {
        let o = w.order(&oid);
        (o["needs_operator"] == true).then_some(o)
    });
    let jobs = json_of(operator.get(&format!("/v1/orders/{oid}/jobs")));
    let stuck: Vec<&Value> = jobs["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| j["state"] == "parked")
        .collect();
    assert_eq!(stuck.len(), 1, "{jobs:#}");
    assert_eq!(stuck[0]["kind"], "deprovision");
    assert!(
        stuck[0]["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "the parked job says why: {jobs:#}"
    );
    let job = stuck[0]["id"].as_str().unwrap().to_owned();
    // Customers see neither the jobs nor the exit.
    assert_eq!(w.customer().get(&format!("/v1/orders/{oid}/jobs")).status(), 403);
    let path = format!("/v1/orders/{oid}/jobs/{job}/retry");
    let body = json!({ "reason": "provider fixed the deletion" });
    assert_eq!(
        w.customer()
            .write("POST", &path, &body, Some(version(&parked)))
            .status(),
        403
    );
    // A stale version changes nothing (409, the order's current version named).
    assert_eq!(
        operator
            .write("POST", &path, &body, Some(version(&parked) - 1))
            .status(),
        409
    );

    w.sims.clear_cloud_faults();
    let r = operator.write("POST", &path, &body, Some(version(&parked)));
    assert_eq!(r.status(), 200);
    let retried = json_of(r);
    assert_eq!(retried["needs_operator"], false, "{retried:#}");
    let settled = w.refunds_settled(&oid, 1);
    assert_eq!(settled["items"][0]["state"], "rolled_back", "{settled:#}");
    assert_eq!(settled["refunds"][0]["scope"], "item");
    assert_eq!(settled["needs_operator"], false);
    let audit = json_of(operator.get(&format!("/v1/orders/{oid}/audit")));
    assert!(
        audit.to_string().contains("provider fixed the deletion"),
        "the retry is audited: {audit}"
    );
    // Retrying again: the job is no longer parked.
    let again = operator.write("POST", &path, &body, Some(version(&w.order(&oid))));
    assert_eq!(again.status(), 409);
}

#[test]
fn on_sqlite_an_operator_retries_a_parked_compensation_and_the_item_is_rolled_back_and_refunded() {
    an_operator_retries_a_parked_compensation_and_the_item_is_rolled_back_and_refunded(Backend::Sqlite, "");
}

#[test]
fn on_postgres_an_operator_retries_a_parked_compensation_and_the_item_is_rolled_back_and_refunded() {
    an_operator_retries_a_parked_compensation_and_the_item_is_rolled_back_and_refunded(
        Backend::Postgres,
        "refunds_retry_parked",
    );
}

#[test]
fn on_sqlite_a_resource_stuck_in_creation_past_the_deadline_is_rolled_back_and_refunded() {
    a_resource_stuck_in_creation_past_the_deadline_is_rolled_back_and_refunded(Backend::Sqlite, "");
}

#[test]
fn on_postgres_a_resource_stuck_in_creation_past_the_deadline_is_rolled_back_and_refunded() {
    a_resource_stuck_in_creation_past_the_deadline_is_rolled_back_and_refunded(Backend::Postgres, "refunds_stuck");
}

#[test]
fn on_sqlite_an_order_unpaid_past_the_payment_window_expires_and_frees_its_quota() {
    an_order_unpaid_past_the_payment_window_expires_and_frees_its_quota(Backend::Sqlite, "");
}

#[test]
fn on_postgres_an_order_unpaid_past_the_payment_window_expires_and_frees_its_quota() {
    an_order_unpaid_past_the_payment_window_expires_and_frees_its_quota(Backend::Postgres, "refunds_window");
}

#[test]
fn on_sqlite_a_late_payment_reported_by_two_events_goes_back_once_and_both_are_acknowledged() {
    a_late_payment_reported_by_two_events_goes_back_once_and_both_are_acknowledged(Backend::Sqlite, "");
}

#[test]
fn on_postgres_a_late_payment_reported_by_two_events_goes_back_once_and_both_are_acknowledged() {
    a_late_payment_reported_by_two_events_goes_back_once_and_both_are_acknowledged(
        Backend::Postgres,
        "refunds_two_events",
    );
}

#[test]
fn on_sqlite_a_customer_cancel_racing_the_payment_webhook_is_decided_again_not_answered_409() {
    a_customer_cancel_racing_the_payment_webhook_is_decided_again_not_answered_409(Backend::Sqlite, "");
}

#[test]
fn on_postgres_a_customer_cancel_racing_the_payment_webhook_is_decided_again_not_answered_409() {
    a_customer_cancel_racing_the_payment_webhook_is_decided_again_not_answered_409(
        Backend::Postgres,
        "refunds_cancel_race",
    );
}

#[test]
fn on_sqlite_a_payment_for_a_cancelled_order_goes_back_whole_once() {
    a_payment_for_a_cancelled_order_goes_back_whole_once(Backend::Sqlite, "");
}

#[test]
fn on_postgres_a_payment_for_a_cancelled_order_goes_back_whole_once() {
    a_payment_for_a_cancelled_order_goes_back_whole_once(Backend::Postgres, "refunds_late");
}

#[test]
fn on_sqlite_an_overpayment_is_accepted_and_what_is_above_the_total_refunded_once() {
    an_overpayment_is_accepted_and_what_is_above_the_total_refunded_once(Backend::Sqlite, "");
}

#[test]
fn on_postgres_an_overpayment_is_accepted_and_what_is_above_the_total_refunded_once() {
    an_overpayment_is_accepted_and_what_is_above_the_total_refunded_once(Backend::Postgres, "refunds_overpaid");
}

#[test]
fn a_customer_sees_no_refund_on_an_order_never_paid() {
    let w = World::start(Backend::Sqlite, "");
    let order = w.customer().create(json!([vps("core", "monthly")]));
    let seen = json_of(w.customer().get(&format!("/v1/orders/{}", id(&order))));
    assert_eq!(seen["refunds"], json!([]));
}
