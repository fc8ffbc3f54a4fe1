//! The payment provider, on Stripe's wire format.

use hyper::Method;
use orderflow_sims::{sign, verify, Running};
use serde_json::{json, Value};

use std::time::Duration;

use orderflow_sims::client;

use crate::support::{call, control, list, start, start_with, Received, Receiver, PAYMENTS_KEY, SECRET};

async fn create_intent(sims: &Running, key: &str, amount: i64) -> Value {
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    let body = json!({"amount": amount, "currency": "eur", "metadata": {"order_id": "ord_1"}});
    let response = call(Method::POST, &url, Some(PAYMENTS_KEY), Some(key), Some(body)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

async fn act(sims: &Running, intent: &Value, verb: &str, options: Value) -> Value {
    let id = intent["id"].as_str().unwrap_or_default();
    let response = control(
        &format!("{}/_sim/payment_intents/{id}/{verb}", sims.payments_url()),
        options,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

async fn with_receiver() -> (Running, Receiver) {
    let receiver = Receiver::start().await;
    let url = receiver.url.clone();
    (start_with(|c| c.webhook_url = Some(url)).await, receiver)
}

#[tokio::test]
async fn creating_an_intent_twice_with_one_key_returns_the_same_intent() {
    let sims = start().await;
    let first = create_intent(&sims, "order-1-attempt", 1999).await;
    let second = create_intent(&sims, "order-1-attempt", 1999).await;

    assert_eq!(first, second);
    assert!(first["id"].as_str().is_some_and(|id| id.starts_with("pi_")));
    assert_eq!(first["object"], "payment_intent");
    assert_eq!(first["status"], "requires_payment_method");
    assert_eq!(first["amount"], 1999);
    assert_eq!(first["currency"], "eur");
    assert_eq!(first["metadata"], json!({"order_id": "ord_1"}));
    assert!(first["created"].is_i64());
    assert_eq!(
        list(&format!("{}/_sim/payment_intents", sims.payments_url()))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_different_key_creates_a_different_intent() {
    let sims = start().await;
    let a = create_intent(&sims, "a", 100).await;
    let b = create_intent(&sims, "b", 100).await;
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn reusing_a_key_with_other_parameters_is_refused() {
    let sims = start().await;
    create_intent(&sims, "k", 100).await;
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    let body = json!({"amount": 200, "currency": "eur"});
    let response = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("k"), Some(body)).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn api_calls_without_a_test_secret_key_are_unauthorized() {
    let sims = start().await;
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    let body = json!({"amount": 100, "currency": "eur"});
    for auth in [None, Some("Bearer sk_live_123"), Some("Bearer sk_test_")] {
        let response = call(Method::POST, &url, auth, None, Some(body.clone())).await;
        assert_eq!(response.status, 401, "{auth:?}");
        assert_eq!(response.json()["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn an_amount_that_is_not_an_integer_of_minor_units_is_refused() {
    let sims = start().await;
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    for amount in [json!(10.5), json!("10.00"), json!(0)] {
        let body = json!({"amount": amount, "currency": "eur"});
        let response = call(Method::POST, &url, Some(PAYMENTS_KEY), None, Some(body)).await;
        assert_eq!(response.status, 400, "{amount}");
        assert_eq!(response.json()["error"]["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn a_succeeded_payment_is_delivered_as_an_event_signed_like_stripe() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 5000).await;

    let outcome = act(&sims, &intent, "succeed", json!({})).await;

    assert_eq!(outcome["statuses"], json!([200]));
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let event = received[0].json();
    assert_eq!(event, outcome["event"]);
    assert!(event["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "payment_intent.succeeded");
    assert_eq!(event["data"]["object"]["id"], intent["id"]);
    assert_eq!(event["data"]["object"]["status"], "succeeded");
    assert_eq!(event["data"]["object"]["amount_received"], 5000);

    let header = received[0].signature();
    let t: i64 = header
        .trim_start_matches("t=")
        .split(',')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    assert_eq!(header, sign(SECRET, t, &received[0].body));
    assert!(verify(SECRET, &header, &received[0].body, t, 300));

    let url = format!(
        "{}/v1/payment_intents/{}",
        sims.payments_url(),
        intent["id"].as_str().unwrap_or_default()
    );
    let fetched = call(Method::GET, &url, Some(PAYMENTS_KEY), None, None).await.json();
    assert_eq!(fetched["status"], "succeeded");
}

#[tokio::test]
async fn a_stale_delivery_is_signed_with_the_shifted_timestamp() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    act(&sims, &intent, "succeed", json!({"timestamp_offset_secs": -600})).await;

    let received = &receiver.received()[0];
    let header = received.signature();
    let t: i64 = header
        .trim_start_matches("t=")
        .split(',')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let now = received.json()["created"].as_i64().unwrap_or_default();
    assert!((now - 600 - t).abs() <= 2, "t={t}, event created {now}");
    assert_eq!(header, sign(SECRET, t, &received.body), "the signature itself is valid");
    assert!(
        !verify(SECRET, &header, &received.body, now, 300),
        "but too old for a 300 s tolerance"
    );
}

#[tokio::test]
async fn a_forged_delivery_does_not_verify_with_the_real_secret() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    act(&sims, &intent, "succeed", json!({"forge": true})).await;

    let received = &receiver.received()[0];
    let now = received.json()["created"].as_i64().unwrap_or_default();
    assert!(!verify(SECRET, &received.signature(), &received.body, now, 300));
}

#[tokio::test]
async fn concurrent_deliveries_arrive_n_times_all_at_once() {
    // The receiver holds every request until ten are in flight together, so
    // this only completes if the ten deliveries really are concurrent.
    let receiver = Receiver::requiring_concurrency(10).await;
    let url = receiver.url.clone();
    let sims = start_with(|c| c.webhook_url = Some(url)).await;
    let intent = create_intent(&sims, "k", 100).await;

    let outcome = act(&sims, &intent, "succeed", json!({"deliveries": 10, "concurrent": true})).await;

    assert_eq!(outcome["statuses"], json!(vec![200; 10]));
    let received = receiver.received();
    assert_eq!(received.len(), 10);
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "the same event every time"
    );
}

#[tokio::test]
async fn repeated_deliveries_carry_the_same_event_id() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    act(&sims, &intent, "succeed", json!({"deliveries": 3})).await;

    let ids: Vec<Value> = receiver.received().iter().map(|r| r.json()["id"].clone()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id == ids[0]));
}

#[tokio::test]
async fn a_declined_payment_keeps_the_intent_awaiting_payment_and_a_later_success_is_allowed() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    let failed = act(&sims, &intent, "fail", json!({})).await;
    assert_eq!(failed["event"]["type"], "payment_intent.payment_failed");
    assert_eq!(failed["event"]["data"]["object"]["status"], "requires_payment_method");
    assert_eq!(
        failed["event"]["data"]["object"]["last_payment_error"]["code"],
        "card_declined"
    );

    let succeeded = act(&sims, &intent, "succeed", json!({})).await;
    assert_eq!(succeeded["event"]["type"], "payment_intent.succeeded");
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn an_expired_intent_is_canceled_and_a_late_success_leaves_it_canceled() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    let expired = act(&sims, &intent, "expire", json!({})).await;
    assert_eq!(expired["event"]["type"], "payment_intent.canceled");
    assert_eq!(expired["event"]["data"]["object"]["status"], "canceled");

    let late = act(&sims, &intent, "succeed", json!({})).await;
    assert_eq!(late["effect"], "out_of_order");
    assert_eq!(late["event"]["data"]["object"]["status"], "succeeded");
    let url = format!(
        "{}/v1/payment_intents/{}",
        sims.payments_url(),
        intent["id"].as_str().unwrap_or_default()
    );
    let fetched = call(Method::GET, &url, Some(PAYMENTS_KEY), None, None).await.json();
    assert_eq!(fetched["status"], "canceled");
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_failure_after_success_is_sent_as_a_late_event_showing_the_earlier_state() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;
    act(&sims, &intent, "succeed", json!({})).await;

    let late = act(&sims, &intent, "fail", json!({})).await;

    assert_eq!(late["effect"], "out_of_order");
    let types: Vec<Value> = receiver.received().iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [
            json!("payment_intent.succeeded"),
            json!("payment_intent.payment_failed")
        ]
    );
    let object = &late["event"]["data"]["object"];
    assert_eq!(
        (object["status"].clone(), object["amount_received"].clone()),
        (json!("requires_payment_method"), json!(0))
    );
    let listed = list(&format!("{}/_sim/payment_intents", sims.payments_url())).await;
    assert_eq!(listed[0]["status"], "succeeded", "the intent itself is unchanged");
}

#[tokio::test]
async fn succeeding_again_resends_the_same_event() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    let first = act(&sims, &intent, "succeed", json!({})).await;
    let again = act(&sims, &intent, "succeed", json!({})).await;

    assert_eq!(
        (first["effect"].clone(), again["effect"].clone()),
        (json!("applied"), json!("repeated"))
    );
    assert_eq!(first["event"], again["event"]);
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body);
    assert_eq!(list(&format!("{}/_sim/events", sims.payments_url())).await.len(), 1);
}

#[tokio::test]
async fn an_event_recorded_without_delivery_can_be_delivered_out_of_order_later() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    let failed = act(&sims, &intent, "fail", json!({"deliveries": 0})).await;
    assert_eq!(failed["statuses"], json!([]));
    act(&sims, &intent, "succeed", json!({})).await;
    let evt = failed["event"]["id"].as_str().unwrap_or_default();
    let redelivered = control(
        &format!("{}/_sim/events/{evt}/redeliver", sims.payments_url()),
        json!({}),
    )
    .await;
    assert_eq!(redelivered.status, 200, "{}", redelivered.text());

    let types: Vec<Value> = receiver.received().iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [
            json!("payment_intent.succeeded"),
            json!("payment_intent.payment_failed")
        ]
    );
}

#[tokio::test]
async fn the_event_can_report_an_amount_other_than_the_intents() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;

    act(&sims, &intent, "succeed", json!({"amount": 1, "currency": "usd"})).await;

    let object = receiver.received()[0].json()["data"]["object"].clone();
    assert_eq!(
        (object["amount"].clone(), object["currency"].clone()),
        (json!(1), json!("usd"))
    );
}

#[tokio::test]
async fn the_webhook_target_can_be_set_at_runtime() {
    let sims = start().await;
    let receiver = Receiver::start().await;
    let set = control(
        &format!("{}/_sim/config", sims.payments_url()),
        json!({"webhook_url": receiver.url, "webhook_secret": "whsec_other"}),
    )
    .await;
    assert_eq!(set.status, 200);
    let intent = create_intent(&sims, "k", 100).await;

    act(&sims, &intent, "succeed", json!({})).await;

    let received = &receiver.received()[0];
    let now = received.json()["created"].as_i64().unwrap_or_default();
    assert!(verify("whsec_other", &received.signature(), &received.body, now, 300));
}

#[tokio::test]
async fn without_a_webhook_url_the_event_is_recorded_but_not_sent() {
    let sims = start().await;
    let intent = create_intent(&sims, "k", 100).await;
    let outcome = act(&sims, &intent, "succeed", json!({})).await;
    assert_eq!(outcome["webhook_url"], Value::Null);
    assert_eq!(list(&format!("{}/_sim/events", sims.payments_url())).await.len(), 1);
}

#[tokio::test]
async fn cancelling_twice_with_one_key_replays_and_without_it_is_refused_as_stripe_does() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 100).await;
    let url = format!(
        "{}/v1/payment_intents/{}/cancel",
        sims.payments_url(),
        intent["id"].as_str().unwrap_or_default()
    );

    let first = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("c1"), None).await;
    let replay = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("c1"), None).await;
    let fresh = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("c2"), None).await;

    assert_eq!((first.status, replay.status, fresh.status), (200, 200, 400));
    assert_eq!(first.json(), replay.json());
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(first.json()["status"], "canceled");
    assert_eq!(fresh.json()["error"]["code"], "payment_intent_unexpected_state");
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].json()["type"], "payment_intent.canceled");
    assert_eq!(
        list(&format!("{}/_sim/events", sims.payments_url())).await.len(),
        1,
        "one event, not two"
    );
}

#[tokio::test]
async fn refunds_are_idempotent_and_cannot_exceed_the_captured_amount() {
    let (sims, _receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 1000).await;
    let url = format!("{}/v1/refunds", sims.payments_url());
    let refund = |amount: i64| json!({"payment_intent": intent["id"], "amount": amount, "metadata": {"item": "i1"}});

    let early = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r0"), Some(refund(100))).await;
    assert_eq!(early.status, 400, "nothing captured yet");

    act(&sims, &intent, "succeed", json!({})).await;
    let first = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r1"), Some(refund(600))).await;
    let again = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r1"), Some(refund(600))).await;
    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(first.json(), again.json());
    assert!(first.json()["id"].as_str().is_some_and(|id| id.starts_with("re_")));
    assert_eq!(first.json()["status"], "succeeded");

    let too_much = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r2"), Some(refund(401))).await;
    assert_eq!(too_much.status, 400);
    assert_eq!(too_much.json()["error"]["code"], "amount_too_large");
    let rest = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r3"), Some(refund(400))).await;
    assert_eq!(rest.status, 200);

    assert_eq!(list(&format!("{}/_sim/refunds", sims.payments_url())).await.len(), 2);
}

#[tokio::test]
async fn faults_fail_exactly_the_next_n_api_calls() {
    let sims = start().await;
    let set = control(
        &format!("{}/_sim/faults", sims.payments_url()),
        json!({"fail_next": 2, "status": 503}),
    )
    .await;
    assert_eq!(set.status, 200);
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    let body = json!({"amount": 100, "currency": "eur"});

    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            call(Method::POST, &url, Some(PAYMENTS_KEY), Some("k"), Some(body.clone()))
                .await
                .status,
        );
    }

    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(
        list(&format!("{}/_sim/payment_intents", sims.payments_url()))
            .await
            .len(),
        1
    );
    let requests = list(&format!("{}/_sim/requests", sims.payments_url())).await;
    let logged: Vec<Value> = requests.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(logged, [json!(503), json!(503), json!(200)]);
    assert!(requests
        .iter()
        .all(|r| r["idempotency_key"] == "k" && r["method"] == "POST"));
}

#[tokio::test]
async fn requests_are_parsed_as_stripes_form_encoding_strictly() {
    let sims = start().await;
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    let refused = |body: Value| {
        let url = url.clone();
        async move {
            let response = call(Method::POST, &url, Some(PAYMENTS_KEY), None, Some(body)).await;
            assert_eq!(response.status, 400, "{}", response.text());
            let error = response.json()["error"].clone();
            assert_eq!(error["type"], "invalid_request_error");
            (
                error["code"].as_str().unwrap_or_default().to_owned(),
                error["param"].clone(),
            )
        }
    };
    assert_eq!(
        refused(json!({"amount": 100, "currency": "eur", "colour": "red"})).await,
        ("parameter_unknown".into(), json!("colour"))
    );
    assert_eq!(
        refused(json!({"amount": 100, "currency": "eur", "metadata": {"a": {"b": "c"}}})).await,
        ("parameter_invalid_string".into(), json!("metadata[a]"))
    );
    assert_eq!(
        refused(json!({"amount": "ten", "currency": "eur"})).await,
        ("parameter_invalid_integer".into(), json!("amount"))
    );
    assert_eq!(
        refused(json!({"currency": "eur"})).await,
        ("parameter_missing".into(), json!("amount"))
    );

    let json_body = client::request(
        Method::POST,
        &url,
        &[("authorization", PAYMENTS_KEY), ("content-type", "application/json")],
        r#"{"amount":100,"currency":"eur"}"#,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(json_body.status, 400, "JSON is not Stripe's encoding");

    let form = "amount=100&currency=eur&metadata[order_id]=o1";
    let send = |version: &'static str| {
        let url = url.clone();
        async move {
            let headers = [
                ("authorization", PAYMENTS_KEY),
                ("content-type", "application/x-www-form-urlencoded"),
                ("stripe-version", version),
            ];
            client::request(Method::POST, &url, &headers, form, Duration::from_secs(10)).await
        }
    };
    let pinned = send(orderflow_sims::API_VERSION).await.unwrap();
    assert_eq!(pinned.status, 200, "{}", pinned.text());
    assert_eq!(pinned.json()["metadata"], json!({"order_id": "o1"}));
    assert!(pinned.headers.contains_key("request-id"));
    assert_eq!(send("yesterday").await.unwrap().status, 400);
}

#[tokio::test]
async fn an_automatic_delivery_that_fails_is_retried_until_accepted() {
    let receiver = Receiver::failing_first(2).await;
    let url = receiver.url.clone();
    let sims = start_with(|c| c.webhook_url = Some(url)).await;
    let intent = create_intent(&sims, "k", 100).await;
    let cancel = format!(
        "{}/v1/payment_intents/{}/cancel",
        sims.payments_url(),
        intent["id"].as_str().unwrap_or_default()
    );

    let response = call(Method::POST, &cancel, Some(PAYMENTS_KEY), None, None).await;
    assert_eq!(response.status, 200);

    let received = receiver.wait_for(3).await;
    let ids: Vec<Value> = received.iter().map(|r| r.json()["id"].clone()).collect();
    assert_eq!(ids, vec![ids[0].clone(); 3], "the same event, sent until accepted");
    assert_eq!(received[0].json()["type"], "payment_intent.canceled");
    assert_eq!(received[0].json()["api_version"], orderflow_sims::API_VERSION);
}

#[tokio::test]
async fn rate_limits_and_declines_come_as_stripes_error_objects() {
    let sims = start().await;
    let faults = format!("{}/_sim/faults", sims.payments_url());
    let url = format!("{}/v1/payment_intents", sims.payments_url());
    let body = json!({"amount": 100, "currency": "eur"});
    for (status, kind, code) in [
        (429, "invalid_request_error", "rate_limit"),
        (402, "card_error", "card_declined"),
    ] {
        control(&faults, json!({"fail_next": 1, "status": status})).await;
        let response = call(Method::POST, &url, Some(PAYMENTS_KEY), None, Some(body.clone())).await;
        assert_eq!(response.status, status);
        assert_eq!(response.json()["error"]["type"], kind);
        assert_eq!(response.json()["error"]["code"], code);
    }
    let after = call(Method::POST, &url, Some(PAYMENTS_KEY), None, Some(body)).await;
    assert_eq!(after.status, 200, "faults are used up");
}

#[tokio::test]
async fn a_checkout_session_has_a_page_that_pays_it_and_announces_both_events() {
    let (sims, receiver) = with_receiver().await;
    let url = format!("{}/v1/checkout/sessions", sims.payments_url());
    let body = json!({
        "mode": "payment",
        "success_url": "http://127.0.0.1:3000/portal/paid",
        "cancel_url": "http://127.0.0.1:3000/portal/cancelled",
        "line_items": [{"quantity": 2, "price_data": {"currency": "eur", "unit_amount": 1250, "product_data": {"name": "VPS"}}}],
        "metadata": {"order_id": "o1"},
        "payment_intent_data": {"metadata": {"order_id": "o1"}, "setup_future_usage": "off_session"},
    });
    let created = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("cs-1"), Some(body)).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let session = created.json();
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(
        (session["status"].as_str(), session["amount_total"].as_i64()),
        (Some("open"), Some(2500))
    );
    let page_url = session["url"].as_str().unwrap_or_default().to_owned();
    assert!(
        page_url.starts_with(&format!("{}/c/pay/cs_test_", sims.payments_url())),
        "{page_url}"
    );

    let page = call(Method::GET, &page_url, None, None, None).await;
    assert!(page.text().contains("Pay €25.00"), "{}", page.text());
    let paid = client::request(
        Method::POST,
        &page_url,
        &[("content-type", "application/x-www-form-urlencoded")],
        "choice=pay",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(paid.status, 303);
    assert_eq!(paid.headers["location"], "http://127.0.0.1:3000/portal/paid");

    let received = receiver.wait_for(2).await;
    let kinds: Vec<Value> = received.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        kinds,
        [json!("payment_intent.succeeded"), json!("checkout.session.completed")]
    );
    let completed = received[1].json()["data"]["object"].clone();
    assert_eq!(completed["payment_status"], "paid");
    assert_eq!(completed["payment_intent"], received[0].json()["data"]["object"]["id"]);
    assert_eq!(
        received[0].json()["data"]["object"]["metadata"],
        json!({"order_id": "o1"})
    );
    assert_eq!(received[0].json()["data"]["object"]["amount_received"], 2500);
}

#[tokio::test]
async fn a_refund_is_announced_with_refund_created_and_charge_refunded() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 1000).await;
    act(&sims, &intent, "succeed", json!({})).await;
    let url = format!("{}/v1/refunds", sims.payments_url());
    let body = json!({"payment_intent": intent["id"], "amount": 400});
    let refund = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r1"), Some(body)).await;
    assert_eq!(refund.status, 200, "{}", refund.text());

    let received = receiver.wait_for(3).await;
    let kinds: Vec<Value> = received.iter().map(|r| r.json()["type"].clone()).collect();
    assert!(kinds.contains(&json!("refund.created")), "{kinds:?}");
    let charge = received
        .iter()
        .map(Received::json)
        .find(|e| e["type"] == "charge.refunded")
        .unwrap_or_else(|| panic!("no charge.refunded in {kinds:?}"));
    assert_eq!(charge["data"]["object"]["payment_intent"], intent["id"]);
    assert_eq!(charge["data"]["object"]["amount_refunded"], 400);
}

#[tokio::test]
async fn refunds_held_pending_on_request_end_failed_or_succeeded_by_a_signed_refund_updated() {
    let (sims, receiver) = with_receiver().await;
    let intent = create_intent(&sims, "k", 1000).await;
    act(&sims, &intent, "succeed", json!({})).await;
    let faults = control(
        &format!("{}/_sim/refund_faults", sims.payments_url()),
        json!({"fail_next": 1, "delay_ms": 50}),
    )
    .await;
    assert_eq!(faults.status, 200, "{}", faults.text());
    let url = format!("{}/v1/refunds", sims.payments_url());
    let whole = json!({"payment_intent": intent["id"], "amount": 1000});

    // The first refund is pending, then fails: the money stays on the charge.
    let first = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r1"), Some(whole.clone())).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["status"], "pending");
    let received = receiver.wait_for(3).await;
    let events: Vec<Value> = received.iter().map(Received::json).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds, ["payment_intent.succeeded", "refund.created", "refund.updated"]);
    assert_eq!(events[2]["data"]["object"]["status"], "failed");
    assert_eq!(
        events[2]["data"]["object"]["failure_reason"],
        "expired_or_canceled_card"
    );

    // Its key replayed answers the same refund and settles nothing new.
    let replay = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r1"), Some(whole.clone())).await;
    assert_eq!(replay.json()["id"], first.json()["id"]);

    // A second refund of the whole amount is possible, and this one succeeds.
    let second = call(Method::POST, &url, Some(PAYMENTS_KEY), Some("r2"), Some(whole)).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let received = receiver.wait_for(6).await;
    let events: Vec<Value> = received.iter().map(Received::json).collect();
    let updated = events
        .iter()
        .filter(|e| e["type"] == "refund.updated" && e["data"]["object"]["id"] == second.json()["id"])
        .collect::<Vec<_>>();
    assert_eq!(updated.len(), 1, "{events:?}");
    assert_eq!(updated[0]["data"]["object"]["status"], "succeeded");
    assert!(events.iter().any(|e| e["type"] == "charge.refunded"));
    let refunds = list(&format!("{}/_sim/refunds", sims.payments_url())).await;
    let states: Vec<&str> = refunds
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["failed", "succeeded"]);
}
