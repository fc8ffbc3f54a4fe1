//! Payment, the fulfillment saga and delivery, through the real components
//! with the simulated providers on loopback: the happy path, retries with
//! backoff, per-item rollback and refund, total failure, operator
//! cancellation, and adversarial webhooks.

use std::time::Duration;

use e2e::sims::Sims;
use e2e::{eventually, App};
use serde_json::{json, Value};

use crate::api::{id, json_of, outbox_types, version, vps, with_simulators, Caller};

const SECRET: &str = "whsec_e2e_padded_to_32_bytes_or_more";

/// The app wired to fresh simulators, ticking the worker every 200 ms, with
/// the retry schedule shrunk twentyfold (2-4-8-16-30 s → 0.1-0.2-0.4-0.8-1.5 s).
struct World {
    sims: Sims,
    app: App,
}

impl World {
    fn start() -> World {
        World::start_with(|b| b)
    }

    fn start_with(change: impl FnOnce(e2e::AppBuilder) -> e2e::AppBuilder) -> World {
        let sims = Sims::spawn(None, SECRET);
        let app = change(with_simulators(&sims, SECRET)).spawn();
        sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
        World { sims, app }
    }

    fn customer(&self) -> Caller<'_> {
        Caller::customer(&self.app)
    }

    /// Creates and submits an order; returns it with its payment intent.
    fn submitted(&self, items: Value) -> Value {
        self.customer().submitted(items, Duration::from_secs(20))
    }

    /// The customer pays: the provider sends its signed webhook.
    fn pay(&self, order: &Value, options: Value) -> Value {
        let intent = order["payment_intent"].as_str().expect("payment intent");
        sim_post(
            &format!("{}/_sim/payment_intents/{intent}/succeed", self.sims.payments),
            &options,
        )
    }

    /// The order as an operator sees it (cancelled orders are hidden from customers).
    fn order(&self, order_id: &str) -> Value {
        json_of(Caller::operator(&self.app).get(&format!("/v1/orders/{order_id}")))
    }

    /// Waits until the order is in `state` with every item settled; on
    /// timeout, fails with the order and its saga jobs, for diagnosis.
    fn settled(&self, order_id: &str, state: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let order = self.order(order_id);
            let items_settled = order["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .all(|i| i["state"] == "delivered" || i["state"] == "rolled_back")
            });
            if order["state"] == state && items_settled {
                return order;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "order never reached {state} with settled items:\n{order:#}\njobs:\n{}",
                    jobs(&self.app, order_id)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cloud_faults(&self, faults: Value) {
        sim_post(&format!("{}/_sim/faults", self.sims.cloud), &faults);
    }

    fn resources(&self) -> Vec<Value> {
        list(&sim_get(&format!("{}/_sim/resources", self.sims.cloud)))
    }

    fn cloud_calls(&self) -> Vec<Value> {
        list(&sim_get(&format!("{}/_sim/calls", self.sims.cloud)))
    }

    fn messages(&self) -> Vec<Value> {
        list(&sim_get(&format!("{}/_sim/messages", self.sims.email)))
    }
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array()
        .cloned()
        .or_else(|| {
            v.as_object()
                .and_then(|o| o.values().find_map(|x| x.as_array().cloned()))
        })
        .unwrap_or_default()
}

fn sim_post(url: &str, body: &Value) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(url)
        .json(body)
        .send()
        .expect("simulator reachable");
    let status = r.status();
    let text = r.text().unwrap_or_default();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn sim_get(url: &str) -> Value {
    let r = reqwest::blocking::get(url).expect("simulator reachable");
    serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null)
}

fn database() -> Value {
    json!({"product":"managed_database","billing_cycle":"monthly","config":{"region":"lj-1","engine":"postgresql-16","plan":"starter","storage_gb":20,"high_availability":false}})
}

fn three_items() -> Value {
    json!([
        vps("business", "monthly"),
        database(),
        {"product":"object_storage","billing_cycle":"monthly","config":{"region":"lj-1","tier":"standard","capacity_tb":1,"replication":"single_zone"}},
    ])
}

fn refunds(app: &App, order_id: &str) -> Vec<Value> {
    let path = app.state_dir().join("sqlite_db.db");
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("db");
    let mut stmt = conn
        .prepare(
            "SELECT data FROM outbox WHERE message_key = ?1 AND event_type = 'billing.refund-requested' ORDER BY seq",
        )
        .expect("prepare");
    stmt.query_map([order_id], |r| r.get::<_, String>(0))
        .expect("query")
        .map(|r| serde_json::from_str(&r.expect("row")).expect("json"))
        .collect()
}

/// The order's saga jobs as text, for failure messages.
fn jobs(app: &App, order_id: &str) -> String {
    let path = app.state_dir().join("sqlite_db.db");
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("db");
    let mut stmt = conn
        .prepare("SELECT kind, item_id, state, attempts, after_job, last_error, id FROM saga_jobs WHERE order_id = ?1 ORDER BY created_at, id")
        .expect("prepare");
    stmt.query_map([order_id], |r| {
        Ok(format!(
            "{} {:?} {} attempts={} after={:?} error={:?} id={}",
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, String>(6)?
        ))
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect::<Vec<_>>()
    .join("\n")
}

fn item_ids(order: &Value) -> Vec<String> {
    order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_paid_three_item_order_is_provisioned_delivered_and_fulfilled_without_leaking_credentials() {
    let w = World::start();
    let order = w.submitted(three_items());
    let order_id = id(&order);
    let webhook = w.pay(&order, json!({}));
    let done = w.settled(&order_id, "fulfilled");
    assert!(
        done["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "delivered"),
        "{done}"
    );
    assert_eq!(done["payment"]["reference"], order["payment_intent"], "{webhook}");

    // One resource per item, one delivery e-mail per item.
    let resources = w.resources();
    assert_eq!(resources.len(), 3, "{resources:?}");
    let messages = w.messages();
    assert_eq!(messages.len(), 3, "{messages:?}");

    // The events tell the story in order.
    let events = outbox_types(&w.app, &order_id);
    let position = |t: &str| {
        events
            .iter()
            .position(|e| e == t)
            .unwrap_or_else(|| panic!("no {t} in {events:?}"))
    };
    assert!(position("order.created") < position("order.submitted"));
    assert!(position("order.submitted") < position("order.payment-confirmed"));
    assert!(position("order.payment-confirmed") < position("order.validation-started"));
    assert!(position("order.validation-started") < position("order.provisioning-started"));
    assert!(position("order.provisioning-started") < position("order.fulfilled"));
    assert_eq!(events.iter().filter(|e| *e == "order.item-provisioned").count(), 3);
    assert_eq!(events.iter().filter(|e| *e == "order.service-delivered").count(), 3);
    assert_eq!(events.iter().filter(|e| *e == "billing.refund-requested").count(), 0);

    // No API response carries a credential, though every e-mail does.
    let secrets: Vec<String> = resources
        .iter()
        .filter_map(|r| r["access"]["password"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(secrets.len(), 3, "{resources:?}");
    for secret in &secrets {
        assert!(messages
            .iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.contains(secret.as_str()))));
    }
    let c = w.customer();
    let operator = Caller::operator(&w.app);
    let bodies = [
        c.get(&format!("/v1/orders/{order_id}")).text().unwrap(),
        c.get("/v1/orders").text().unwrap(),
        c.get(&format!("/v1/orders/{order_id}/audit")).text().unwrap(),
        operator.get("/v1/orders?include_deleted=true").text().unwrap(),
        c.write(
            "POST",
            &format!("/v1/orders/{order_id}/items/{}/redeliver", item_ids(&done)[0]),
            &json!({}),
            None,
        )
        .text()
        .unwrap(),
    ];
    for body in &bodies {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "a response leaked a credential: {body}"
            );
        }
    }
    // The re-delivery sends the first item's credentials once more.
    eventually("the re-delivery is sent", Duration::from_secs(20), || {
        (w.messages().len() == 4).then_some(())
    });
}

#[test]
fn an_item_that_fails_twice_is_retried_with_backoff_and_then_succeeds() {
    let w = World::start();
    let order = w.submitted(json!([vps("core", "monthly"), vps("business", "monthly")]));
    let flaky = item_ids(&order)[1].clone();
    w.cloud_faults(json!({ "fail_reference": flaky, "times": 2 }));
    w.pay(&order, json!({}));
    let done = w.settled(&id(&order), "fulfilled");
    assert!(done["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["state"] == "delivered"));

    let creates: Vec<Value> = w
        .cloud_calls()
        .into_iter()
        .filter(|c| c["method"] == "POST" && c.to_string().contains(&flaky))
        .collect();
    assert_eq!(creates.len(), 3, "two failures, then success: {creates:?}");
    let millis = |c: &Value| c["time_ms"].as_i64().expect("calls carry their time");
    let gaps: Vec<i64> = creates.windows(2).map(|w| millis(&w[1]) - millis(&w[0])).collect();
    // 2 s and 4 s, shrunk twentyfold: at least 100 ms, then at least 200 ms.
    assert!(gaps[0] >= 100 && gaps[1] >= 200, "backoff gaps {gaps:?} ms");
    assert!(gaps[1] > gaps[0], "the second wait is longer: {gaps:?}");
}

#[test]
fn a_provider_that_trickles_its_answer_is_abandoned_within_the_lease_so_no_two_workers_run_one_job() {
    // given two-second leases (so a one-second deadline per provider call),
    // a two-second retry, and a cloud that sends each answer a byte every
    // 25 ms: every byte in time, the whole answer seconds too late
    let w = World::start_with(|b| b.env("SPIN_VARIABLE_RETRY_DELAY_SCALE", "1"));
    let order = w.submitted(json!([vps("core", "monthly")]));
    let item = item_ids(&order)[0].clone();
    w.cloud_faults(json!({ "trickle_ms_per_byte": 25 }));
    w.pay(&order, json!({}));
    let creates_of = |calls: Vec<Value>| -> Vec<Value> {
        calls
            .into_iter()
            .filter(|c| c["method"] == "POST" && c.to_string().contains(&item))
            .collect()
    };
    // when the provisioning job has tried twice, each call done with
    eventually("two trickled creates, each abandoned", Duration::from_secs(30), || {
        let creates = creates_of(w.cloud_calls());
        (creates.len() >= 2 && creates.iter().all(|c| c["ended_ms"].is_i64())).then_some(())
    });
    w.cloud_faults(json!({}));
    w.settled(&id(&order), "fulfilled");
    // then no call outlived its lease, and no two calls of the job overlapped
    let creates = creates_of(w.cloud_calls());
    let ms = |c: &Value, field: &str| c[field].as_i64().unwrap_or_else(|| panic!("{field} in {c}"));
    for call in creates.iter().filter(|c| c["ended_ms"].is_i64()) {
        let held = ms(call, "ended_ms") - ms(call, "time_ms");
        assert!(
            held < 2_000,
            "a call was held {held} ms, past the two-second lease: {call}"
        );
    }
    for pair in creates.windows(2) {
        if let Some(ended) = pair[0]["ended_ms"].as_i64() {
            assert!(
                ms(&pair[1], "time_ms") >= ended,
                "a second create began while the first was still being answered: {pair:?}"
            );
        }
    }
    // and the item has exactly one resource
    let resources: Vec<Value> = w
        .resources()
        .into_iter()
        .filter(|r| r.to_string().contains(&item))
        .collect();
    assert_eq!(resources.len(), 1, "{resources:?}");
}

#[test]
fn an_item_that_fails_for_good_is_rolled_back_and_refunded_while_the_others_stay() {
    let w = World::start();
    let order = w.submitted(three_items());
    let doomed = item_ids(&order)[2].clone();
    w.cloud_faults(json!({ "fail_reference": doomed }));
    w.pay(&order, json!({}));
    let done = w.settled(&id(&order), "partially_fulfilled");
    let states: Vec<&str> = done["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "delivered", "rolled_back"]);
    let refunds = refunds(&w.app, &id(&order));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["item_id"], doomed.as_str());
    assert_eq!(refunds[0]["amount"], done["items"][2]["price"]["period_total"]);
    // The doomed item was tried six times: the first call and five retries.
    let creates = w
        .cloud_calls()
        .into_iter()
        .filter(|c| c["method"] == "POST" && c.to_string().contains(&doomed))
        .count();
    assert_eq!(creates, 6);
}

#[test]
fn when_every_item_fails_the_order_fails_and_each_item_is_refunded_once() {
    let w = World::start();
    let order = w.submitted(json!([vps("core", "monthly"), vps("core", "annual")]));
    let ids = item_ids(&order);
    w.cloud_faults(json!({ "fail_references": ids }));
    w.pay(&order, json!({}));
    let done = w.settled(&id(&order), "failed");
    assert!(done["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["state"] == "rolled_back"));
    let refunds = refunds(&w.app, &id(&order));
    assert_eq!(refunds.len(), 2);
    let total: f64 = refunds
        .iter()
        .map(|r| r["amount"]["amount"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((total - 106.0).abs() < 1e-9, "refunded {total}");
    assert_eq!(done["refunded"], done["total"]);
}

#[test]
fn webhooks_that_are_forged_or_stale_change_nothing_and_replays_are_ignored() {
    let w = World::start();
    let order = w.submitted(json!([vps("core", "monthly")]));
    let order_id = id(&order);
    let before = outbox_types(&w.app, &order_id);

    let forged = w.pay(&order, json!({ "forge": true }));
    assert!(forged.to_string().contains("400"), "{forged}");
    let stale = w.pay(&order, json!({ "timestamp_offset_secs": -301 }));
    assert!(stale.to_string().contains("400"), "{stale}");
    assert_eq!(w.order(&order_id)["state"], "pending_payment");
    assert_eq!(outbox_types(&w.app, &order_id), before);

    // The same event ten times at once: confirmed exactly once.
    w.pay(&order, json!({ "deliveries": 10, "concurrent": true }));
    w.settled(&order_id, "fulfilled");
    let confirmed = outbox_types(&w.app, &order_id)
        .iter()
        .filter(|e| *e == "order.payment-confirmed")
        .count();
    assert_eq!(confirmed, 1);

    // A failure reported after the success is acknowledged and ignored.
    let intent = order["payment_intent"].as_str().unwrap();
    sim_post(
        &format!("{}/_sim/payment_intents/{intent}/fail", w.sims.payments),
        &json!({}),
    );
    assert_eq!(w.order(&order_id)["state"], "fulfilled");
}

#[test]
fn an_operator_cancelling_mid_provisioning_deprovisions_newest_first_and_refunds_everything() {
    let w = World::start();
    let order = w.submitted(three_items());
    let ids = item_ids(&order);
    // The third item keeps failing (and retrying) while the first two come up.
    w.cloud_faults(json!({ "fail_reference": ids[2] }));
    w.pay(&order, json!({}));
    let partial = eventually("two items are delivered", Duration::from_secs(30), || {
        let o = w.order(&id(&order));
        let delivered = o["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["state"] == "delivered")
            .count();
        (delivered == 2 && o["state"] == "partially_fulfilled").then_some(o)
    });
    let operator = Caller::operator(&w.app);
    assert_eq!(
        w.customer()
            .command(&id(&order), "cancel", &json!({}), version(&partial))
            .status(),
        403
    );
    let r = operator.command(
        &id(&order),
        "cancel",
        &json!({"reason":"customer request by phone"}),
        version(&partial),
    );
    assert_eq!(r.status(), 200);
    let done = w.settled(&id(&order), "cancelled");
    assert!(
        done["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "rolled_back"),
        "{done}"
    );

    // Deleted in reverse order of activation; nothing left running.
    let resources = w.resources();
    let by_reference = |item: &str| {
        resources
            .iter()
            .find(|r| r["reference"] == item)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let deletes: Vec<String> = w
        .cloud_calls()
        .into_iter()
        .filter(|c| c["method"] == "DELETE")
        .map(|c| c["path"].as_str().unwrap_or_default().to_owned())
        .collect();
    let first = by_reference(&ids[0])["id"].as_str().unwrap().to_owned();
    let second = by_reference(&ids[1])["id"].as_str().unwrap().to_owned();
    assert!(
        deletes.iter().position(|p| p.ends_with(&second)) < deletes.iter().position(|p| p.ends_with(&first)),
        "{deletes:?}"
    );
    assert!(resources.iter().all(|r| r["status"] != "ready"), "{resources:?}");
    let refunds = refunds(&w.app, &id(&order));
    assert_eq!(refunds.len(), 3);
    assert_eq!(done["refunded"], done["total"]);
}

#[test]
fn a_payment_of_the_wrong_amount_is_refused_and_flagged_for_an_operator() {
    let w = World::start();
    let order = w.submitted(json!([vps("core", "monthly")]));
    let reply = w.pay(&order, json!({ "amount": 999 }));
    assert!(reply.to_string().contains("flagged"), "{reply}");
    let flagged = w.order(&id(&order));
    assert_eq!(flagged["state"], "pending_payment");
    assert_eq!(flagged["needs_operator"], true);
    assert!(flagged["payment"].is_null());
    let audit = json_of(w.customer().get(&format!("/v1/orders/{}/audit", id(&order))));
    assert!(audit.to_string().contains("does not match the order total"), "{audit}");
}

#[test]
fn a_payment_cannot_be_reverted_once_provisioning_has_started() {
    let w = World::start();
    let order = w.submitted(json!([vps("core", "monthly")]));
    w.pay(&order, json!({}));
    let done = w.settled(&id(&order), "fulfilled");
    let r = Caller::operator(&w.app).command(
        &id(&order),
        "payment/revert",
        &json!({"reason":"chargeback"}),
        version(&done),
    );
    assert_eq!(r.status(), 409);
    assert_eq!(w.order(&id(&order))["state"], "fulfilled");
}

#[test]
fn an_order_beyond_a_regions_free_capacity_fails_validation_and_is_refunded() {
    let w = World::start();
    let gpu = |nodes: u32| json!({"product":"gpu","billing_cycle":"monthly","config":{"region":"lj-1","gpu":"A100","nodes":nodes,"storage_gb":100,"framework":"none"}});
    let first = w.submitted(json!([gpu(2)]));
    // An operator shrinks the pool: lj-1 has room for 3 GPU nodes in all.
    let db = rusqlite::Connection::open(w.app.state_dir().join("sqlite_db.db")).expect("db");
    db.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    db.execute(
        "UPDATE region_capacity SET capacity = 3 WHERE region = 'lj-1' AND product = 'gpu'",
        [],
    )
    .expect("update");
    w.pay(&first, json!({}));
    w.settled(&id(&first), "fulfilled");

    let second = w.submitted(json!([gpu(2)]));
    w.pay(&second, json!({}));
    let failed = eventually("the second order fails validation", Duration::from_secs(30), || {
        let o = w.order(&id(&second));
        (o["state"] == "failed").then_some(o)
    });
    assert!(
        failed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "pending"),
        "{failed}"
    );
    let refunds = refunds(&w.app, &id(&second));
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["amount"], failed["total"]);
    let audit = json_of(w.customer().get(&format!("/v1/orders/{}/audit", id(&second))));
    assert!(audit.to_string().contains("room for 1 more gpu units"), "{audit}");
    assert!(
        w.resources().iter().all(|r| r["reference"] != failed["items"][0]["id"]),
        "nothing was provisioned"
    );
}
