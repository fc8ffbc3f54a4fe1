//! The fast path from the payment webhook: it answers once its decision is
//! committed, and the same invocation carries the saga on after the
//! response. Nothing relies on that second part: where the host cuts the
//! invocation short once the response is out (Spin's main branch, which
//! `spin-local --after-response abort` reproduces), the saga's jobs are
//! already durable and the scheduled tick finishes the order. With
//! `webhook_saga = "before_response"` the webhook runs the saga first and
//! answers after, which holds on every Spin.

use std::time::Duration;

use e2e::eventually;
use e2e::sims::Sims;
use serde_json::{json, Value};

use crate::api::{id, json_of, unticked, vps, with_simulators, Caller};

const SECRET: &str = "whsec_fastpath_padded_to_32_bytes_or_more";

/// How long a log line may lag behind the event it reports.
const LOG_WAIT: Duration = Duration::from_secs(10);

fn sim(url: &str, body: Option<&Value>) -> Value {
    let client = reqwest::blocking::Client::new();
    let request = match body {
        Some(body) => client.post(url).json(body),
        None => client.get(url),
    };
    let response = request.send().expect("simulator reachable");
    let status = response.status();
    let text = response.text().unwrap_or_default();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn count(listing: &Value) -> usize {
    listing
        .as_array()
        .or_else(|| listing.as_object().and_then(|o| o.values().find_map(Value::as_array)))
        .map_or(0, Vec::len)
}

#[test]
fn when_the_webhooks_invocation_is_cut_short_after_it_answered_the_tick_finishes_the_order() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).arg("--after-response", "abort").spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let order = Caller::customer(&app).submitted(
        json!([vps("business", "monthly"), vps("core", "monthly")]),
        Duration::from_secs(20),
    );
    let order_id = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent");

    // The provider's delivery is answered: the decision was committed.
    sim(
        &format!("{}/_sim/payment_intents/{intent}/succeed", sims.payments),
        Some(&json!({})),
    );
    assert!(
        app.logs()
            .shows("the guest still running after it is aborted", LOG_WAIT),
        "the webhook's invocation was cut short after its response"
    );

    // The scheduled tick carries the order to its end, each item once.
    let operator = Caller::operator(&app);
    eventually(
        "the order fulfilled and delivered by the tick",
        Duration::from_secs(60),
        || {
            let order = json_of(operator.get(&format!("/v1/orders/{order_id}")));
            let delivered = order["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|i| i["state"] == "delivered"));
            (order["state"] == "fulfilled" && delivered).then_some(order)
        },
    );
    assert_eq!(
        count(&sim(&format!("{}/_sim/resources", sims.cloud), None)),
        2,
        "one resource per item"
    );
    assert_eq!(
        count(&sim(&format!("{}/_sim/messages", sims.email), None)),
        2,
        "one e-mail per item"
    );
}

#[test]
fn with_webhook_saga_before_response_the_webhooks_own_invocation_fulfils_the_order_on_the_strictest_spin() {
    // No scheduled tick, and the guest aborted once its response is out:
    // only the webhook's own invocation, before it answers, can run the
    // saga (polls are due at once, so one pass carries every item).
    let sims = Sims::spawn(None, SECRET);
    let app = unticked(&sims, SECRET)
        .env("SPIN_VARIABLE_WEBHOOK_SAGA", "before_response")
        .env("SPIN_VARIABLE_PROVIDER_POLL_MS", "0")
        .arg("--after-response", "abort")
        .spawn();
    sims.set_webhook(&app.url("/v1/webhooks/payments/stripe"), SECRET);
    let order = Caller::customer(&app).submitted(
        json!([vps("business", "monthly"), vps("core", "monthly")]),
        Duration::from_secs(20),
    );
    let order_id = id(&order);
    let intent = order["payment_intent"].as_str().expect("payment intent");
    sim(
        &format!("{}/_sim/payment_intents/{intent}/succeed", sims.payments),
        Some(&json!({})),
    );

    let operator = Caller::operator(&app);
    eventually(
        "the order fulfilled by the webhook's invocation",
        Duration::from_secs(60),
        || {
            let order = json_of(operator.get(&format!("/v1/orders/{order_id}")));
            (order["state"] == "fulfilled").then_some(())
        },
    );
    assert_eq!(
        count(&sim(&format!("{}/_sim/resources", sims.cloud), None)),
        2,
        "one resource per item"
    );
    assert_eq!(
        count(&sim(&format!("{}/_sim/messages", sims.email), None)),
        2,
        "one e-mail per item"
    );
}
