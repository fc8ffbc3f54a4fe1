//! The Stripe adapter against the Stripe-speaking simulator over real HTTP
//! on loopback: every call the saga makes (create, retrieve, cancel, an
//! off-session renewal charge, a refund, a Checkout Session) is understood
//! by the simulator's strict form parser and answered as Stripe would.

use std::time::Duration;

use orderflow_core::{Money, OrderId, TenantId};
use orderflow_service::saga::payments::{self, CheckoutRequest, IntentStatus, RefundRequest};
use orderflow_service::saga::{CallError, Charge, OutRequest, OutResponse, Outbound, PaymentConfig, PaymentProvider};
use orderflow_sims::{client, Config, Running};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

/// Outbound HTTP through the simulators' own client, on one runtime.
struct Http(tokio::runtime::Runtime);

impl Outbound for Http {
    fn send(&self, r: OutRequest) -> Result<OutResponse, String> {
        let method: hyper::Method = r.method.parse().map_err(|e| format!("{e}"))?;
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let response = self.0.block_on(client::request(
            method,
            &r.url,
            &headers,
            r.body,
            Duration::from_secs(10),
        ))?;
        Ok(OutResponse {
            status: response.status,
            headers: Vec::new(),
            body: response.body.to_vec(),
        })
    }
}

struct World {
    http: Http,
    sims: Running,
    stripe: PaymentProvider,
}

impl World {
    fn start() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sims = rt.block_on(orderflow_sims::start(Config::default())).unwrap();
        let stripe = PaymentProvider::from_config(&PaymentConfig {
            provider: "stripe".into(),
            api_url: sims.payments_url(),
            api_key: "sk_test_adapter".into(),
            api_version: payments::stripe::API_VERSION.into(),
        })
        .unwrap();
        World {
            http: Http(rt),
            sims,
            stripe,
        }
    }

    fn simulator(&self, method: hyper::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.sims.payments_url());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = self
            .http
            .0
            .block_on(client::request(
                method,
                &url,
                &[("content-type", "application/json")],
                body,
                Duration::from_secs(10),
            ))
            .unwrap();
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        response.json()
    }

    /// A `/_sim` control call with a JSON body.
    fn control(&self, path: &str, body: Value) -> Value {
        self.simulator(hyper::Method::POST, path, Some(body))
    }

    /// A `/_sim` listing.
    fn listing(&self, path: &str) -> Vec<Value> {
        self.simulator(hyper::Method::GET, path, None)["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn order_intent(&self, total: Money) -> String {
        let tenant: TenantId = "acme".parse().unwrap();
        let order = OrderId::from_uuid(uuid::Uuid::now_v7());
        self.stripe
            .create_intent(&self.http, &payments::order_intent(&tenant, order, &total))
            .unwrap()
    }
}

#[test]
fn an_order_intent_is_created_once_per_key_read_back_and_cancelled() {
    let w = World::start();
    let tenant: TenantId = "acme".parse().unwrap();
    let order = OrderId::from_uuid(uuid::Uuid::now_v7());
    let request = payments::order_intent(&tenant, order, &Money::eur(dec!(192.96)));

    let first = w.stripe.create_intent(&w.http, &request).unwrap();
    let again = w.stripe.create_intent(&w.http, &request).unwrap();
    assert_eq!(first, again, "one intent per order, however often asked");

    let info = w.stripe.retrieve_intent(&w.http, &first).unwrap();
    assert_eq!(info.status, IntentStatus::Open);
    assert_eq!(info.amount, Ok(Money::eur(dec!(192.96))));

    w.stripe.cancel_intent(&w.http, &first).unwrap();
    w.stripe.cancel_intent(&w.http, &first).unwrap();
    assert_eq!(
        w.stripe.retrieve_intent(&w.http, &first).unwrap().status,
        IntentStatus::Canceled
    );
    let intents = w.listing("/_sim/payment_intents");
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["amount"], 19296);
    assert_eq!(
        intents[0]["metadata"],
        json!({"order_id": order.to_string(), "tenant": "acme"})
    );
    assert_eq!(intents[0]["setup_future_usage"], "off_session");
    let customers = w.listing("/_sim/customers");
    assert_eq!(customers.len(), 1, "one customer per order, however often asked");
    assert_eq!(intents[0]["customer"], customers[0]["id"]);
}

#[test]
fn a_paid_intent_cannot_be_cancelled_and_is_refunded_once_per_key() {
    let w = World::start();
    let intent = w.order_intent(Money::eur(dec!(50)));
    w.control(&format!("/_sim/payment_intents/{intent}/succeed"), json!({}));

    let refusal = w.stripe.cancel_intent(&w.http, &intent).unwrap_err();
    assert!(matches!(refusal, CallError::Permanent(_)), "{refusal:?}");

    let refund = RefundRequest {
        intent: intent.clone(),
        amount: Some(Money::eur(dec!(12.50))),
        metadata: vec![("item".into(), "i1".into())],
        idempotency_key: "refund-i1".into(),
    };
    let first = w.stripe.create_refund(&w.http, &refund).unwrap();
    let again = w.stripe.create_refund(&w.http, &refund).unwrap();
    assert_eq!(first, again, "the same key refunds once");
    assert_eq!(first.status, "succeeded");
    assert_eq!(first.amount, Ok(Money::eur(dec!(12.50))));
    assert_eq!(w.listing("/_sim/refunds").len(), 1);

    let too_much = RefundRequest {
        amount: Some(Money::eur(dec!(40))),
        idempotency_key: "refund-i2".into(),
        ..refund
    };
    assert!(matches!(
        w.stripe.create_refund(&w.http, &too_much),
        Err(CallError::Permanent(_))
    ));
}

#[test]
fn a_renewal_is_charged_off_session_with_the_method_the_order_was_paid_with() {
    let w = World::start();
    let order_intent = w.order_intent(Money::eur(dec!(20.10)));
    w.control(&format!("/_sim/payment_intents/{order_intent}/succeed"), json!({}));
    let saved = w.stripe.retrieve_intent(&w.http, &order_intent).unwrap().saved;
    let method = saved.clone().expect("the paid intent names its payment method");

    let tenant: TenantId = "acme".parse().unwrap();
    let renewal = payments::IntentRequest {
        saved,
        save_for_renewals: false,
        idempotency_key: "renewal-s1-2".into(),
        ..payments::order_intent(
            &tenant,
            OrderId::from_uuid(uuid::Uuid::now_v7()),
            &Money::eur(dec!(20.10)),
        )
    };
    let intent = w.stripe.create_intent(&w.http, &renewal).unwrap();
    let listed = w.listing("/_sim/payment_intents");
    let created = listed.iter().find(|i| i["id"] == intent.as_str()).unwrap();
    assert_eq!(created["payment_method"], method.payment_method.as_str());
    let customer = method.customer.expect("the order's intent has its customer");
    assert!(customer.starts_with("cus_"), "{customer}");
    assert_eq!(created["customer"], customer.as_str(), "charged to the same customer");
    assert_eq!(w.listing("/_sim/customers").len(), 1, "the renewal creates no customer");

    w.control("/_sim/declines", json!({"decline_next": 1}));
    assert_eq!(
        w.stripe
            .confirm_off_session(&w.http, &intent, "renewal-s1-2-1")
            .unwrap(),
        Charge::Declined("Your card was declined.".into())
    );
    assert_eq!(
        w.stripe
            .confirm_off_session(&w.http, &intent, "renewal-s1-2-2")
            .unwrap(),
        Charge::Accepted
    );
    assert_eq!(
        w.stripe
            .confirm_off_session(&w.http, &intent, "renewal-s1-2-2")
            .unwrap(),
        Charge::Accepted,
        "a replayed attempt"
    );
    assert_eq!(
        w.stripe.retrieve_intent(&w.http, &intent).unwrap().status,
        IntentStatus::Succeeded
    );
}

#[test]
fn a_checkout_session_is_opened_with_a_url_and_rate_limits_are_retryable() {
    let w = World::start();
    let session = w
        .stripe
        .create_checkout(
            &w.http,
            &CheckoutRequest {
                amount: Money::eur(dec!(578.98)),
                description: "Order 1".into(),
                metadata: vec![("order_id".into(), "o1".into())],
                success_url: "http://127.0.0.1:3000/portal/orders/o1".into(),
                cancel_url: "http://127.0.0.1:3000/portal/orders/o1".into(),
                idempotency_key: "checkout-o1".into(),
            },
        )
        .unwrap();
    assert!(session.id.starts_with("cs_test_"), "{session:?}");
    assert!(
        session.url.starts_with(&format!("{}/c/pay/", w.sims.payments_url())),
        "{session:?}"
    );
    let listed = w.listing("/_sim/checkout_sessions");
    assert_eq!(listed[0]["amount_total"], 57898);

    w.control("/_sim/faults", json!({"fail_next": 1, "status": 429}));
    let limited = w.stripe.retrieve_intent(&w.http, "pi_x").unwrap_err();
    assert!(matches!(limited, CallError::Retryable(_)), "{limited:?}");
    let missing = w.stripe.retrieve_intent(&w.http, "pi_x").unwrap_err();
    assert!(matches!(missing, CallError::Permanent(_)), "{missing:?}");
}
