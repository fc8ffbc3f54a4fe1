//! Stripe's wire format, proven by an independent client: the official
//! `stripe` Python library (PyPI, installed by scripts/install-test-deps)
//! drives the simulator through the calls our adapter makes and verifies
//! its webhook deliveries with `stripe.Webhook.construct_event`; and an
//! event the library constructs and signs is accepted by our webhook route,
//! which pays the order. The script is tests/stripe/stripe_client.py.

use std::process::Command;
use std::time::Duration;

use e2e::sims::{Sims, PAYMENTS_KEY};
use serde_json::Value;

use crate::api::{id, json_of, vps, with_simulators, Caller};

/// Long enough for any minimum a deployment check may set (32 bytes and more).
const SECRET: &str = "whsec_e2e_stripe_0123456789abcdefghijkl";
/// The secret rotated in beside it.
const ROTATED_IN: &str = "whsec_rotated_in_0123456789abcdefghijkl";

/// Runs the script with `args`; panics with its output unless it succeeds.
pub(crate) fn stripe_client(args: &[&str]) -> String {
    let script = e2e::workspace_root().join("tests/stripe/stripe_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 with the stripe library (scripts/install-test-deps)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script:?} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_official_stripe_library_drives_the_simulator_and_verifies_its_webhooks() {
    let sims = Sims::spawn(None, SECRET);

    let out = stripe_client(&[
        "drive",
        "--api-base",
        &sims.payments,
        "--api-key",
        PAYMENTS_KEY,
        "--secret",
        SECRET,
    ]);

    let checks: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let names: Vec<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    for expected in [
        "create is idempotent",
        "retrieve",
        "cancel, its event verified by construct_event",
        "refund, its events verified",
        "checkout session paid on its page, both events verified",
        "a forged delivery fails construct_event",
        "done",
    ] {
        assert!(names.contains(&expected), "missing check {expected:?} in {names:?}");
    }
}

/// Has the library sign a `payment_intent.succeeded` for `intent` with
/// `secret` and POST it to the app; returns `{"status", "body"}`.
fn library_signed(app: &e2e::App, secret: &str, intent: &str, amount: i64) -> Value {
    library_signed_as(app, secret, intent, amount, "payment_intent.succeeded")
}

/// The same with another event type (`checkout.session.completed`: a
/// Checkout Session paid in full, naming `intent`).
pub(crate) fn library_signed_as(app: &e2e::App, secret: &str, intent: &str, amount: i64, kind: &str) -> Value {
    let out = stripe_client(&[
        "sign",
        "--type",
        kind,
        "--url",
        &app.url("/v1/webhooks/payments/stripe"),
        "--secret",
        secret,
        "--intent",
        intent,
        "--amount",
        &amount.to_string(),
    ]);
    serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The order's total in cents, as Stripe counts it.
fn cents(order: &Value) -> i64 {
    let mut amount: rust_decimal::Decimal = order["total"]["amount"].as_str().unwrap_or_default().parse().unwrap();
    amount.rescale(2);
    i64::try_from(amount.mantissa()).unwrap()
}

#[test]
fn an_event_the_stripe_library_signs_pays_the_order_through_our_webhook() {
    let sims = Sims::spawn(None, SECRET);
    // Two endpoint secrets, as during a rotation: the library signs with the new one.
    let app = with_simulators(&sims, SECRET)
        .env("SPIN_VARIABLE_PAYMENT_WEBHOOK_SECRET", format!("{ROTATED_IN},{SECRET}"))
        .spawn();
    let customer = Caller::customer(&app);
    let order = customer.submitted(serde_json::json!([vps("business", "monthly")]), Duration::from_secs(20));
    let intent = order["payment_intent"].as_str().expect("payment intent");

    let forged = library_signed(&app, "whsec_not_ours", intent, cents(&order));
    assert_eq!(forged["status"], 400, "{forged}");
    assert_eq!(
        json_of(customer.get(&format!("/v1/orders/{}", id(&order))))["state"],
        "pending_payment"
    );

    let unknown = library_signed_as(&app, SECRET, intent, cents(&order), "customer.created");
    assert_eq!(unknown["status"], 200, "{unknown}");
    assert_eq!(
        unknown["body"]["outcome"], "ignored",
        "acknowledged, not acted on: {unknown}"
    );
    assert_eq!(
        json_of(customer.get(&format!("/v1/orders/{}", id(&order))))["state"],
        "pending_payment"
    );

    let accepted = library_signed(&app, ROTATED_IN, intent, cents(&order));
    assert_eq!(accepted["status"], 200, "{accepted}");
    assert_eq!(accepted["body"]["outcome"], "applied", "{accepted}");
    let paid = e2e::eventually("the order is paid", Duration::from_secs(20), || {
        let now = json_of(customer.get(&format!("/v1/orders/{}", id(&order))));
        (now["state"] != "pending_payment").then_some(now)
    });
    assert_eq!(paid["payment"]["reference"], intent, "{paid:#}");
    assert_eq!(paid["payment"]["provider"], "stripe", "{paid:#}");
}

#[test]
fn the_webhook_route_refuses_oversized_bodies_and_extreme_timestamps_before_reading_them() {
    let sims = Sims::spawn(None, SECRET);
    let app = with_simulators(&sims, SECRET).spawn();
    let url = app.url("/v1/webhooks/payments/stripe");
    let http = reqwest::blocking::Client::new();
    let post = |body: Vec<u8>, signature: String| {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .expect("app reachable");
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, kind, r.text().unwrap_or_default())
    };
    let now = chrono::Utc::now().timestamp();

    // 1.1 MB, correctly signed: refused by size alone.
    let mut big = br#"{"id":"evt_big","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x"}},"pad":""#.to_vec();
    big.resize(1_100_000, b'a');
    big.extend_from_slice(b"\"}");
    let signature = orderflow_http::sign_webhook(SECRET.as_bytes(), now, &big);
    let (status, kind, text) = post(big, signature);
    assert_eq!(status, 413, "{text}");
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    assert!(text.contains("65536"), "the limit is named: {text}");

    // Signed at the far ends of time: stale, not an overflow.
    let body = br#"{"id":"evt_t","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_x"}}}"#;
    for t in [i64::MIN, i64::MAX] {
        let signature = orderflow_http::sign_webhook(SECRET.as_bytes(), t, body);
        let (status, kind, text) = post(body.to_vec(), signature);
        assert_eq!(status, 400, "t={t}: {text}");
        assert!(kind.starts_with("application/problem+json"), "{kind}");
        assert!(text.contains("timestamp"), "{text}");
    }
}
