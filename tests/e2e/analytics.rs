//! `GET /v1/analytics` through the real components: every figure checked
//! against a known set of orders built through the API and the simulated
//! providers, the five-minute cache (served, then expired by the
//! application's adjustable clock), and tenants kept apart, cache included.

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use e2e::sims::Sims;
use e2e::{eventually, App};
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{id, json_of, version, vps, with_simulators, Caller};

const SECRET: &str = "whsec_e2e_padded_to_32_bytes_or_more";

struct World {
    sims: Sims,
    app: App,
}

impl World {
    fn start() -> World {
        let sims = Sims::spawn(None, SECRET);
        let app = with_simulators(&sims, SECRET)
            .env("SPIN_VARIABLE_CLOCK", "adjustable")
            .spawn();
        sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
        World { sims, app }
    }

    fn caller(&self, tenant: &str, role: Role) -> Caller<'_> {
        Caller::new(&self.app, tenant, role)
    }

    /// Creates and submits an order for `tenant`; returns it once its payment intent exists.
    fn submitted(&self, tenant: &str, items: Value) -> Value {
        self.caller(tenant, Role::Customer)
            .submitted(items, Duration::from_secs(20))
    }

    /// The provider confirms the order's payment by its signed webhook.
    fn pay(&self, order: &Value) {
        self.sims
            .succeed(order["payment_intent"].as_str().expect("payment intent"), json!({}));
    }

    /// Waits until the order is in `state` with every item settled.
    fn settled(&self, tenant: &str, order_id: &str, state: &str) -> Value {
        let operator = self.caller(tenant, Role::Operator);
        eventually(
            &format!("order {order_id} is {state} with settled items"),
            Duration::from_secs(60),
            || {
                let order = json_of(operator.get(&format!("/v1/orders/{order_id}")));
                let items_settled = order["items"].as_array().is_some_and(|items| {
                    items
                        .iter()
                        .all(|i| i["state"] == "delivered" || i["state"] == "rolled_back")
                });
                // Refunds are executed at the payment provider after the
                // rollback: wait for its answer too.
                let refunds_settled = order["refunds"]
                    .as_array()
                    .is_none_or(|r| r.iter().all(|r| r["state"] == "refunded" || r["state"] == "failed"));
                (order["state"] == state && items_settled && refunds_settled).then_some(order)
            },
        )
    }

    fn analytics(&self, tenant: &str, role: Role) -> Value {
        let r = self.caller(tenant, role).get("/v1/analytics");
        let status = r.status();
        let body = json_of(r);
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn item_ids(order: &Value) -> Vec<String> {
    order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

fn eur(amount: &str) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

/// The figures without the cache's own fields, for comparing two answers.
fn figures(body: &Value) -> Value {
    let mut f = body.clone();
    for field in ["cached", "cache_age_secs"] {
        f.as_object_mut().unwrap().remove(field);
    }
    f
}

/// How many of `created` fall in today / this week / this month (UTC, ISO
/// weeks) as of `at`, with the periods' starts: worked out here, apart from
/// the component, so a test run that straddles midnight still checks exactly.
fn expected_created(created: &[DateTime<Utc>], at: DateTime<Utc>) -> Value {
    let date = at.date_naive();
    let midnight = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let today = midnight(date);
    let week = midnight(date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday())));
    let month = midnight(date.with_day(1).unwrap());
    let count = |since: DateTime<Utc>| created.iter().filter(|c| **c >= since && **c <= at).count();
    let period = |since: DateTime<Utc>| json!({ "count": count(since), "since": since });
    json!({ "today": period(today), "this_week": period(week), "this_month": period(month) })
}

fn by_status(counts: &[(&str, u64)]) -> Value {
    let mut all = json!({
        "draft": 0, "pending_payment": 0, "payment_confirmed": 0, "validating": 0, "provisioning": 0,
        "partially_fulfilled": 0, "fulfilled": 0, "cancelled": 0, "failed": 0,
    });
    for (state, n) in counts {
        all[*state] = json!(n);
    }
    all
}

/// Compares the `since` times as instants (the wire format may differ in precision).
fn assert_created(body: &Value, created: &[DateTime<Utc>]) {
    let expected = expected_created(created, time(&body["computed_at"]));
    for period in ["today", "this_week", "this_month"] {
        assert_eq!(
            body["orders_created"][period]["count"], expected[period]["count"],
            "{period}: {body:#}"
        );
        assert_eq!(
            time(&body["orders_created"][period]["since"]),
            time(&expected[period]["since"]),
            "{period}"
        );
    }
}

#[test]
fn analytics_report_every_figure_exactly_cache_for_five_minutes_and_never_cross_tenants() {
    let w = World::start();
    let acme = w.caller("acme", Role::Customer);

    // Given acme's orders:
    // a draft (€10.00);
    let draft = acme.create(json!([vps("core", "monthly")]));
    // a draft the customer cancelled;
    let dropped = acme.create(json!([vps("core", "monthly")]));
    assert_eq!(
        acme.command(&id(&dropped), "cancel", &json!({}), version(&dropped))
            .status(),
        200
    );
    // a submitted order nobody paid (€20.10);
    let unpaid = w.submitted("acme", json!([vps("business", "monthly")]));
    // a submitted order the customer cancelled before paying;
    let abandoned = w.submitted("acme", json!([vps("core", "monthly")]));
    assert_eq!(
        acme.command(&id(&abandoned), "cancel", &json!({}), version(&abandoned))
            .status(),
        200
    );
    // a paid order, fulfilled (€20.10 + €10.00 = €30.10);
    let whole = w.submitted("acme", json!([vps("business", "monthly"), vps("core", "monthly")]));
    // a paid order whose second item fails for good, refunded (€10.00 + €56.60 = €66.60, €56.60 back);
    let partial = w.submitted("acme", json!([vps("core", "monthly"), vps("enterprise", "monthly")]));
    // a paid order whose only item fails for good, refunded in full (€96.00).
    let failed = w.submitted("acme", json!([vps("core", "annual")]));
    w.sims.set_cloud_faults(json!({
        "fail_references": [item_ids(&partial)[1], item_ids(&failed)[0]],
    }));
    for order in [&whole, &partial, &failed] {
        w.pay(order);
    }
    w.settled("acme", &id(&whole), "fulfilled");
    let partial = w.settled("acme", &id(&partial), "partially_fulfilled");
    assert_eq!(partial["refunded"], eur("56.60"));
    let failed = w.settled("acme", &id(&failed), "failed");
    assert_eq!(failed["refunded"], eur("96.00"));
    // And globex's one order, paid and fulfilled (€56.60).
    let theirs = w.submitted("globex", json!([vps("enterprise", "monthly")]));
    w.pay(&theirs);
    w.settled("globex", &id(&theirs), "fulfilled");

    let operator = w.caller("acme", Role::Operator);
    let mut created: Vec<DateTime<Utc>> = [&draft, &dropped, &unpaid, &abandoned, &whole, &partial, &failed]
        .iter()
        .map(|o| time(&json_of(operator.get(&format!("/v1/orders/{}", id(o))))["created_at"]))
        .collect();

    // When acme asks, the figures are computed now and every one is exact.
    let first = w.analytics("acme", Role::Customer);
    assert_eq!(first["tenant"], "acme");
    assert_eq!(first["cached"], false, "{first:#}");
    assert_eq!(first["cache_age_secs"], 0);
    assert_eq!(first["cache_ttl_secs"], 300);
    assert_created(&first, &created);
    assert_eq!(
        first["by_status"],
        by_status(&[
            ("draft", 1),
            ("pending_payment", 1),
            ("fulfilled", 1),
            ("partially_fulfilled", 1),
            ("failed", 1),
            ("cancelled", 2),
        ])
    );
    // (30.10 + 66.60 + 96.00) / 3 = 64.2333… → 64.23.
    assert_eq!(
        first["average_order_value"],
        json!({ "amount": eur("64.23"), "orders": 3 })
    );
    // 192.70 paid − (56.60 + 96.00) refunded.
    assert_eq!(
        first["total_revenue"],
        json!({ "amount": eur("40.10"), "paid": eur("192.70"), "refunded": eur("152.60"), "refunds_pending": eur("0.00") })
    );
    // Five submitted, two of them fulfilled wholly or in part.
    assert_eq!(
        first["conversion"],
        json!({ "submitted": 5, "fulfilled": 2, "rate": "0.4000" })
    );

    // Globex, asking while acme's figures are cached, sees only its own.
    let globex = w.analytics("globex", Role::Customer);
    assert_eq!(globex["tenant"], "globex");
    assert_eq!(globex["cached"], false);
    assert_eq!(globex["by_status"], by_status(&[("fulfilled", 1)]));
    assert_eq!(
        globex["average_order_value"],
        json!({ "amount": eur("56.60"), "orders": 1 })
    );
    assert_eq!(
        globex["total_revenue"],
        json!({ "amount": eur("56.60"), "paid": eur("56.60"), "refunded": eur("0.00"), "refunds_pending": eur("0.00") })
    );
    assert_eq!(
        globex["conversion"],
        json!({ "submitted": 1, "fulfilled": 1, "rate": "1.0000" })
    );
    assert_eq!(globex["orders_created"]["this_month"]["count"], 1);

    // A new acme order within the five minutes: the answer is the cached one,
    // for the tenant's operators as for its customers.
    let late = acme.create(json!([vps("core", "monthly")]));
    let second = w.analytics("acme", Role::Operator);
    assert_eq!(second["cached"], true, "{second:#}");
    assert_eq!(figures(&second), figures(&first));

    // Still cached when the clock has moved 200 s on.
    w.app.advance_clock(200);
    let third = w.analytics("acme", Role::Customer);
    assert_eq!(third["cached"], true, "{third:#}");
    let age = third["cache_age_secs"].as_i64().unwrap();
    assert!((200..300).contains(&age), "cache age {age}");
    assert_eq!(figures(&third), figures(&first));

    // Past five minutes the figures are computed afresh and include the new order.
    w.app.advance_clock(101);
    let fresh = w.analytics("acme", Role::Customer);
    assert_eq!(fresh["cached"], false, "{fresh:#}");
    assert_eq!(fresh["cache_age_secs"], 0);
    assert!(time(&fresh["computed_at"]) >= time(&first["computed_at"]) + chrono::Duration::seconds(300));
    created.push(time(&late["created_at"]));
    assert_created(&fresh, &created);
    assert_eq!(fresh["by_status"]["draft"], 2);
    assert_eq!(fresh["total_revenue"], first["total_revenue"]);
    assert_eq!(fresh["conversion"], first["conversion"]);

    // Globex's figures expired too, and are still only its own.
    let globex_again = w.analytics("globex", Role::Customer);
    assert_eq!(globex_again["cached"], false);
    assert_eq!(globex_again["by_status"], globex["by_status"]);
    assert_eq!(globex_again["total_revenue"], globex["total_revenue"]);
}

#[test]
fn analytics_need_a_customer_or_operator_credential() {
    let app = crate::api::spawn();
    let anonymous = app.get("/v1/analytics");
    assert_eq!(anonymous.status(), 401);
    let service = Caller::new(&app, "acme", Role::Service).get("/v1/analytics");
    assert_eq!(service.status(), 403);
    assert_eq!(
        service.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}
