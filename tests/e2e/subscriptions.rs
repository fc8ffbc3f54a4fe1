//! Subscriptions and renewals through the real components, the simulated
//! providers and the adjustable clock: every activated item starts a
//! subscription; the renewal run charges each period through the payment
//! provider and the signed webhook extends it; a run twice at once charges
//! once; a crash at any commit of a renewal neither charges twice nor loses
//! the extension; declined renewals retry, the unpaid period's end suspends
//! the service at the cloud provider, a payment resumes it; a cancelled
//! subscription ends at period end without another charge.
//!
//! Renewals are driven by the test (`POST /v1/internal/renew`), not a timer,
//! and time by `App::advance_clock`, so a year of renewals takes seconds.

use std::time::Duration;

use chrono::{DateTime, Months, Utc};
use e2e::sims::Sims;
use e2e::{eventually, App};
use orderflow_http::Role;
use serde_json::{json, Value};

use crate::api::{json_of, outbox_types, token, uuid_key, with_simulators, Caller};

const SECRET: &str = "whsec_subscriptions_padded_to_32_bytes_or_more";

/// The VPS core plan's monthly price, in cents.
const CORE_MONTHLY_CENTS: i64 = 1000;

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
        let world = World { sims, app };
        world.hook();
        world
    }

    /// Points the provider's webhooks at the app (again, after a restart on a new port).
    fn hook(&self) {
        self.sims
            .set_webhook(&self.app.url("/v1/webhooks/payments/stripe"), SECRET);
    }

    fn customer(&self) -> Caller<'_> {
        Caller::customer(&self.app)
    }

    /// A monthly VPS ordered, paid, provisioned and delivered: its subscription.
    fn subscribed(&self) -> (String, Value) {
        let c = self.customer();
        let order_id = crate::api::delivered_monthly_vps(&c, &self.sims);
        let subscriptions = self.subscriptions();
        assert_eq!(
            subscriptions.len(),
            1,
            "one subscription per activated item: {subscriptions:?}"
        );
        (order_id, subscriptions[0].clone())
    }

    fn subscriptions(&self) -> Vec<Value> {
        let page = json_of(self.customer().get("/v1/subscriptions"));
        page["items"].as_array().cloned().unwrap_or_default()
    }

    fn subscription(&self, sub_id: &str) -> Value {
        self.subscriptions()
            .into_iter()
            .find(|s| s["id"] == sub_id)
            .unwrap_or_else(|| panic!("no subscription {sub_id}"))
    }

    /// Waits until the subscription satisfies `ok`.
    fn until(&self, what: &str, sub_id: &str, ok: impl Fn(&Value) -> bool) -> Value {
        eventually(what, Duration::from_secs(20), || {
            let s = self.subscription(sub_id);
            ok(&s).then_some(s)
        })
    }

    /// One renewal run, as the scheduler would make it.
    fn renew(&self) -> Value {
        crate::api::renew(&self.app)
    }

    /// Moves the app's clock to just past `at`.
    fn advance_to(&self, at: &Value) {
        crate::api::advance_to(&self.app, at);
    }

    /// The payment intents of the subscription's renewals at the provider.
    fn renewal_intents(&self, sub_id: &str) -> Vec<Value> {
        self.sims
            .payment_intents()
            .into_iter()
            .filter(|i| i["metadata"]["subscription_id"] == sub_id)
            .collect()
    }

    fn declines(&self, n: u32) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/_sim/declines", self.sims.payments))
            .json(&json!({ "decline_next": n }))
            .send()
            .expect("simulator reachable");
        assert!(r.status().is_success());
    }

    fn cloud_counts(&self, item: &Value) -> Value {
        self.sims.resource_counts()[item.as_str().unwrap()].clone()
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().expect("RFC 3339")
}

fn count(types: &[String], name: &str) -> usize {
    types.iter().filter(|t| *t == name).count()
}

#[test]
fn an_activated_item_is_renewed_three_periods_in_a_row_at_exactly_its_price() {
    let w = World::start();
    let (order_id, sub) = w.subscribed();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (sub["status"].as_str(), sub["billing_cycle"].as_str()),
        (Some("active"), Some("monthly"))
    );
    assert_eq!(sub["price"], json!({ "amount": "10.00", "currency": "EUR" }));
    let anchor = time(&sub["current_period_start"]);
    assert_eq!(time(&sub["current_period_end"]), anchor + Months::new(1));
    assert_eq!(
        time(&sub["next_renewal_at"]),
        anchor + Months::new(1) - chrono::Duration::days(3),
        "renewal due three days before the period ends"
    );

    let mut current = sub;
    for period in 2..=4u32 {
        w.advance_to(&current["next_renewal_at"]);
        let report = w.renew();
        assert_eq!(report["charged"], 1, "{report}");
        current = w.until("the webhook extends the period", &sub_id, |s| {
            s["current_period"] == period
        });
        assert_eq!(current["status"], "active");
        assert_eq!(time(&current["current_period_start"]), anchor + Months::new(period - 1));
        assert_eq!(time(&current["current_period_end"]), anchor + Months::new(period));
        // Nothing more is due until the next renewal.
        assert_eq!(w.renew()["charged"], 0);
    }

    let intents = w.renewal_intents(&sub_id);
    assert_eq!(intents.len(), 3, "one intent per renewed period: {intents:?}");
    for (n, intent) in intents.iter().enumerate() {
        assert_eq!(intent["status"], "succeeded");
        assert_eq!(intent["amount"], CORE_MONTHLY_CENTS);
        assert_eq!(intent["amount_received"], CORE_MONTHLY_CENTS);
        assert_eq!(intent["metadata"]["period"], (n + 2).to_string());
    }
    let types = outbox_types(&w.app, &order_id);
    assert_eq!(count(&types, "subscription.started"), 1, "{types:?}");
    assert_eq!(count(&types, "subscription.renewed"), 3, "{types:?}");
    assert_eq!(count(&types, "subscription.renewal-failed"), 0, "{types:?}");
}

#[test]
fn the_renewal_run_twice_at_once_charges_once() {
    let w = World::start();
    let (order_id, sub) = w.subscribed();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    w.advance_to(&sub["next_renewal_at"]);

    let runs: Vec<_> = (0..2)
        .map(|_| {
            let client = w.app.client().clone();
            let url = w.app.url("/v1/internal/renew");
            std::thread::spawn(move || {
                let r = client
                    .post(url)
                    .bearer_auth(token("platform", Role::Service))
                    .send()
                    .expect("renew reachable");
                assert_eq!(r.status(), 200);
                json_of(r)
            })
        })
        .collect();
    let reports: Vec<Value> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    let charged: i64 = reports.iter().map(|r| r["charged"].as_i64().unwrap()).sum();
    assert_eq!(charged, 1, "{reports:?}");

    w.until("period 2", &sub_id, |s| s["current_period"] == 2);
    let intents = w.renewal_intents(&sub_id);
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(intents[0]["amount_received"], CORE_MONTHLY_CENTS);
    assert_eq!(count(&outbox_types(&w.app, &order_id), "subscription.renewed"), 1);
}

#[test]
fn a_crash_at_any_commit_of_a_renewal_neither_charges_twice_nor_loses_the_extension() {
    // Commits of one renewal: claim, renewal row, intent linked, charge
    // recorded, claim released, and the webhook's extension in between.
    for n in 1..=6u32 {
        let mut w = World::start();
        let (order_id, sub) = w.subscribed();
        let sub_id = sub["id"].as_str().unwrap().to_owned();
        w.advance_to(&sub["next_renewal_at"]);

        w.app
            .restart_with(|b| b.env("SPIN_LOCAL_CRASH_AFTER_COMMITS", n.to_string()));
        w.hook();
        let _ = w
            .app
            .client()
            .post(w.app.url("/v1/internal/renew"))
            .bearer_auth(token("platform", Role::Service))
            .send();
        // The run makes at least six commits (the webhook's among them), so
        // the app died at the one chosen.
        assert!(
            w.app
                .logs()
                .shows(&format!("aborting after commit #{n} "), Duration::from_secs(10)),
            "no crash at commit {n}"
        );
        w.app.restart_with(|b| b.env_remove("SPIN_LOCAL_CRASH_AFTER_COMMITS"));
        w.hook();
        w.app.advance_clock(60); // past the dead run's lease
        w.renew();
        // Whatever was delivered while the app was down is delivered again,
        // as the provider retries a failed webhook.
        for intent in w.renewal_intents(&sub_id) {
            for event in w.sims.events() {
                if event["data"]["object"]["id"] == intent["id"] {
                    w.sims.redeliver(event["id"].as_str().unwrap(), json!({}));
                }
            }
        }

        let s = w.until(&format!("period 2 after a crash at commit {n}"), &sub_id, |s| {
            s["current_period"] == 2
        });
        assert_eq!(s["status"], "active");
        let intents = w.renewal_intents(&sub_id);
        assert_eq!(intents.len(), 1, "crash at commit {n}: {intents:?}");
        assert_eq!(intents[0]["amount_received"], CORE_MONTHLY_CENTS, "crash at commit {n}");
        let types = outbox_types(&w.app, &order_id);
        assert_eq!(
            count(&types, "subscription.renewed"),
            1,
            "crash at commit {n}: {types:?}"
        );
        // The next renewal is scheduled for the new period.
        assert_eq!(
            time(&s["next_renewal_at"]),
            time(&s["current_period_end"]) - chrono::Duration::days(3)
        );
    }
}

#[test]
fn declined_renewals_retry_then_suspend_the_service_and_a_payment_resumes_it() {
    let w = World::start();
    let (order_id, sub) = w.subscribed();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let item = sub["item_id"].clone();
    let period_end = sub["current_period_end"].clone();
    w.declines(100);

    // The first attempt and its three retries are all declined.
    let mut current = sub;
    for attempt in 1..=4 {
        w.advance_to(&current["next_renewal_at"]);
        let report = w.renew();
        assert_eq!(report["declined"], 1, "attempt {attempt}: {report}");
        current = w.subscription(&sub_id);
        assert_eq!(current["status"], "past_due", "the service runs until the period ends");
    }
    assert!(current["next_renewal_at"].is_null(), "retries used up: {current}");
    assert_eq!(w.cloud_counts(&item)["suspends"], 0);

    // The period ends unpaid: suspended, at the provider too.
    w.advance_to(&period_end);
    let report = w.renew();
    assert_eq!(
        (report["suspended"].as_i64(), report["synced"].as_i64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(w.subscription(&sub_id)["status"], "suspended");
    assert_eq!(w.cloud_counts(&item)["suspends"], 1);

    // The customer pays the open renewal: resumed, at the provider too.
    w.declines(0);
    let intents = w.renewal_intents(&sub_id);
    assert_eq!(
        intents.len(),
        1,
        "one intent for the period, however often it was tried"
    );
    w.sims.succeed(intents[0]["id"].as_str().unwrap(), json!({}));
    let s = w.until("the payment renews it", &sub_id, |s| s["status"] == "active");
    assert_eq!(s["current_period"], 2);
    assert_eq!(s["current_period_start"], period_end);
    w.renew();
    assert_eq!(w.cloud_counts(&item)["resumes"], 1);

    let types = outbox_types(&w.app, &order_id);
    assert_eq!(count(&types, "subscription.renewal-failed"), 4, "{types:?}");
    assert_eq!(count(&types, "subscription.suspended"), 1, "{types:?}");
    assert_eq!(count(&types, "subscription.renewed"), 1, "{types:?}");
    assert_eq!(count(&types, "subscription.resumed"), 1, "{types:?}");
    let charged: i64 = w
        .renewal_intents(&sub_id)
        .iter()
        .map(|i| i["amount_received"].as_i64().unwrap())
        .sum();
    assert_eq!(charged, CORE_MONTHLY_CENTS);
}

#[test]
fn a_cancelled_subscription_runs_to_its_period_end_and_is_not_charged_again() {
    let w = World::start();
    let (order_id, sub) = w.subscribed();
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let c = w.customer();
    let path = format!("/v1/subscriptions/{sub_id}/cancel");

    let r = c.write_keyed("POST", &path, &json!({}), None, &uuid_key());
    assert_eq!(r.status(), 200);
    let cancelled = json_of(r);
    assert_eq!(
        (
            cancelled["status"].as_str(),
            cancelled["cancel_at_period_end"].as_bool()
        ),
        (Some("active"), Some(true))
    );
    assert!(cancelled["next_renewal_at"].is_null());
    // Cancelling again changes nothing.
    let again = json_of(c.write_keyed("POST", &path, &json!({}), None, &uuid_key()));
    assert_eq!(again, cancelled);
    // Another tenant cannot see or cancel it.
    let other = Caller::new(&w.app, "globex", Role::Customer);
    assert_eq!(
        other.write_keyed("POST", &path, &json!({}), None, &uuid_key()).status(),
        404
    );

    // Past the renewal date, still running and not charged.
    w.advance_to(&sub["next_renewal_at"]);
    w.renew();
    assert_eq!(w.subscription(&sub_id)["status"], "active");
    assert!(w.renewal_intents(&sub_id).is_empty());

    // At period end it ends.
    w.advance_to(&sub["current_period_end"]);
    assert_eq!(w.renew()["cancelled"], 1);
    let s = w.subscription(&sub_id);
    assert_eq!(s["status"], "cancelled");
    assert!(w.renewal_intents(&sub_id).is_empty(), "no charge after cancelling");
    let types = outbox_types(&w.app, &order_id);
    assert_eq!(count(&types, "subscription.cancellation-scheduled"), 1, "{types:?}");
    assert_eq!(count(&types, "subscription.cancelled"), 1, "{types:?}");
}
