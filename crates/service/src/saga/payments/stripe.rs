//! Stripe (<https://docs.stripe.com/api>), on its real wire format:
//! `application/x-www-form-urlencoded` requests with bracketed keys, amounts
//! in the currency's minor unit with lower-case ISO codes, `Authorization:
//! Bearer sk_…`, a pinned `Stripe-Version`, an `Idempotency-Key` on every
//! creating call, and errors as `{"error": {"type", "code", "message", …}}`
//! (402 for a declined card, 429 for rate limits). Webhooks are event
//! envelopes signed with `Stripe-Signature`.

use chrono::{TimeZone, Utc};
use orderflow_http::{verify_webhook, ApiError, RequestParts, WebhookSecrets};
use serde_json::Value;

use super::event::{PaymentChange, PaymentEvent};
use super::form::{encode, Param};
use super::minor::{from_minor_units, to_minor_units};
use super::{
    CheckoutRequest, CheckoutSession, IntentInfo, IntentRequest, IntentStatus, RefundInfo, RefundRequest, SavedMethod,
};
use crate::saga::outbound::{OutRequest, OutResponse, Outbound};
use crate::saga::providers::{CallError, Charge};

/// The Stripe API version this adapter is written against; `spin.toml`
/// pins it (`payment_api_version`) so an account upgrade changes nothing.
pub const API_VERSION: &str = "2026-10-28.endive";

/// A Stripe account's API: base URL (`https://api.stripe.com`), secret key
/// and pinned version.
#[derive(Clone, PartialEq, Eq)]
pub struct Stripe {
    url: String,
    key: String,
    version: String,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("url", &self.url)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn metadata(pairs: &[(String, String)]) -> Param {
    Param::Object(pairs.iter().map(|(k, v)| (k.clone(), Param::Text(v.clone()))).collect())
}

fn minor(amount: &orderflow_core::Money) -> Result<i64, CallError> {
    to_minor_units(amount).map_err(CallError::Permanent)
}

fn currency(amount: &orderflow_core::Money) -> Param {
    Param::Text(amount.currency.code().to_ascii_lowercase())
}

impl Stripe {
    /// The API at `url` with secret key `key`, pinned to `version` (empty:
    /// the account's default version).
    pub fn new(url: &str, key: &str, version: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            version: version.to_owned(),
        }
    }

    fn request(&self, method: &'static str, path: &str, key: Option<&str>, form: Option<String>) -> OutRequest {
        let mut headers = vec![("authorization".to_owned(), format!("Bearer {}", self.key))];
        if !self.version.is_empty() {
            headers.push(("stripe-version".to_owned(), self.version.clone()));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key".to_owned(), key.to_owned()));
        }
        if form.is_some() {
            headers.push((
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ));
        }
        OutRequest {
            method,
            url: format!("{}{path}", self.url),
            headers,
            body: form.map(String::into_bytes).unwrap_or_default(),
        }
    }

    /// Sends and reads the answer: `Ok` for 2xx, [`Failure`] otherwise.
    fn call(&self, out: &dyn Outbound, req: OutRequest) -> Result<Value, Failure> {
        let what = format!("stripe {} {}", req.method, req.url.trim_start_matches(&self.url));
        let response = out
            .send(req)
            .map_err(|e| Failure::Call(CallError::Retryable(format!("{what}: {e}"))))?;
        if (200..300).contains(&response.status) {
            serde_json::from_slice(&response.body)
                .map_err(|e| Failure::Call(CallError::Retryable(format!("{what}: unreadable answer: {e}"))))
        } else {
            Err(Failure::from_response(&what, &response))
        }
    }

    /// `POST /v1/payment_intents`. An intent whose method is kept for
    /// renewals gets its own Customer first (`POST /v1/customers`, keyed
    /// like the intent): Stripe reuses a payment method off-session only
    /// when it is attached to a customer, which paying such an intent does.
    pub fn create_intent(&self, out: &dyn Outbound, request: &IntentRequest) -> Result<String, CallError> {
        let customer = match (&request.saved, request.save_for_renewals) {
            (None, true) => Some(self.create_customer(out, request)?),
            _ => None,
        };
        let mut form = vec![
            ("amount", Param::from(minor(&request.amount)?)),
            ("currency", currency(&request.amount)),
            ("description", Param::from(request.description.as_str())),
            ("metadata", metadata(&request.metadata)),
        ];
        if request.save_for_renewals {
            form.push(("setup_future_usage", "off_session".into()));
        }
        if let Some(customer) = customer {
            form.push(("customer", customer.into()));
        }
        if let Some(saved) = &request.saved {
            if let Some(customer) = &saved.customer {
                form.push(("customer", customer.as_str().into()));
            }
            form.push(("payment_method", saved.payment_method.as_str().into()));
        }
        let req = self.request(
            "POST",
            "/v1/payment_intents",
            Some(&request.idempotency_key),
            Some(encode(&form)),
        );
        let v = self.call(out, req).map_err(Failure::into_call)?;
        id_of(&v, "payment intent")
    }

    /// `POST /v1/customers`: the customer an order's payment method is kept
    /// for, with the order's metadata; one per intent key.
    fn create_customer(&self, out: &dyn Outbound, request: &IntentRequest) -> Result<String, CallError> {
        let form = encode(&[
            ("description", Param::from(request.description.as_str())),
            ("metadata", metadata(&request.metadata)),
        ]);
        let key = format!("customer-{}", request.idempotency_key);
        let req = self.request("POST", "/v1/customers", Some(&key), Some(form));
        let v = self.call(out, req).map_err(Failure::into_call)?;
        id_of(&v, "customer")
    }

    /// `GET /v1/payment_intents/{id}`.
    pub fn retrieve_intent(&self, out: &dyn Outbound, intent: &str) -> Result<IntentInfo, CallError> {
        let req = self.request("GET", &format!("/v1/payment_intents/{intent}"), None, None);
        let v = self.call(out, req).map_err(Failure::into_call)?;
        intent_info(&v)
    }

    /// `POST /v1/payment_intents/{id}/cancel`: one already cancelled, or
    /// unknown to Stripe, counts as cancelled.
    pub fn cancel_intent(&self, out: &dyn Outbound, intent: &str) -> Result<(), CallError> {
        let req = self.request(
            "POST",
            &format!("/v1/payment_intents/{intent}/cancel"),
            Some(&format!("cancel-{intent}")),
            Some(String::new()),
        );
        match self.call(out, req) {
            Ok(_) => Ok(()),
            Err(Failure::Stripe { status: 404, .. }) => Ok(()),
            Err(Failure::Stripe { code, .. }) if code == "payment_intent_unexpected_state" => {
                // Cancelled already is done; anything else (paid) is a refusal.
                match self.retrieve_intent(out, intent)?.status {
                    IntentStatus::Canceled => Ok(()),
                    status => Err(CallError::Permanent(format!(
                        "stripe: payment intent {intent} cannot be cancelled: it is {status:?}"
                    ))),
                }
            }
            Err(e) => Err(e.into_call()),
        }
    }

    /// `POST /v1/payment_intents/{id}/confirm` with `off_session=true`: a
    /// 402 (or an intent left needing the customer) is a decline.
    pub fn confirm_off_session(&self, out: &dyn Outbound, intent: &str, key: &str) -> Result<Charge, CallError> {
        let form = encode(&[("off_session", true.into())]);
        let req = self.request(
            "POST",
            &format!("/v1/payment_intents/{intent}/confirm"),
            Some(key),
            Some(form),
        );
        match self.call(out, req) {
            Ok(v) => Ok(match v["status"].as_str() {
                Some("succeeded" | "processing") => Charge::Accepted,
                _ => Charge::Declined(
                    v["last_payment_error"]["message"]
                        .as_str()
                        .unwrap_or("the payment needs the customer")
                        .to_owned(),
                ),
            }),
            Err(Failure::Stripe {
                status: 402, message, ..
            }) => Ok(Charge::Declined(message)),
            Err(e) => Err(e.into_call()),
        }
    }

    /// `POST /v1/refunds`.
    pub fn create_refund(&self, out: &dyn Outbound, request: &RefundRequest) -> Result<RefundInfo, CallError> {
        let mut form = vec![("payment_intent", Param::from(request.intent.as_str()))];
        if let Some(amount) = &request.amount {
            form.push(("amount", minor(amount)?.into()));
        }
        form.push(("metadata", metadata(&request.metadata)));
        let req = self.request(
            "POST",
            "/v1/refunds",
            Some(&request.idempotency_key),
            Some(encode(&form)),
        );
        let v = self.call(out, req).map_err(Failure::into_call)?;
        Ok(RefundInfo {
            id: id_of(&v, "refund")?,
            status: v["status"].as_str().unwrap_or_default().to_owned(),
            amount: money_of(&v["amount"], &v["currency"]),
        })
    }

    /// `POST /v1/checkout/sessions` in `payment` mode, one line item with
    /// the amount; the payment method is kept for renewals.
    pub fn create_checkout(&self, out: &dyn Outbound, request: &CheckoutRequest) -> Result<CheckoutSession, CallError> {
        let line = Param::Object(vec![
            (
                "price_data".into(),
                Param::Object(vec![
                    ("currency".into(), currency(&request.amount)),
                    ("unit_amount".into(), minor(&request.amount)?.into()),
                    (
                        "product_data".into(),
                        Param::Object(vec![("name".into(), request.description.as_str().into())]),
                    ),
                ]),
            ),
            ("quantity".into(), 1.into()),
        ]);
        let form = encode(&[
            ("mode", "payment".into()),
            ("line_items", Param::List(vec![line])),
            ("success_url", request.success_url.as_str().into()),
            ("cancel_url", request.cancel_url.as_str().into()),
            ("metadata", metadata(&request.metadata)),
            (
                "payment_intent_data",
                Param::Object(vec![
                    ("metadata".into(), metadata(&request.metadata)),
                    ("setup_future_usage".into(), "off_session".into()),
                ]),
            ),
        ]);
        let req = self.request(
            "POST",
            "/v1/checkout/sessions",
            Some(&request.idempotency_key),
            Some(form),
        );
        let v = self.call(out, req).map_err(Failure::into_call)?;
        let url = v["url"]
            .as_str()
            .ok_or_else(|| CallError::Retryable("stripe: checkout session without url".into()))?;
        Ok(CheckoutSession {
            id: id_of(&v, "checkout session")?,
            url: url.to_owned(),
        })
    }
}

/// Why a call to Stripe did not succeed.
#[derive(Debug)]
enum Failure {
    /// Stripe answered with an error object.
    Stripe {
        status: u16,
        code: String,
        message: String,
        text: String,
    },
    /// Transport failure or an unreadable answer.
    Call(CallError),
}

impl Failure {
    fn from_response(what: &str, r: &OutResponse) -> Self {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let error = &v["error"];
        let code = error["code"]
            .as_str()
            .or(error["type"].as_str())
            .unwrap_or("unknown")
            .to_owned();
        let message = error["message"].as_str().unwrap_or("no message").to_owned();
        Failure::Stripe {
            status: r.status,
            text: format!("{what} answered {} {code}: {message}", r.status),
            code,
            message,
        }
    }

    /// As a saga call error: 429, 409 (a concurrent request with the same
    /// key) and 5xx are worth retrying; other refusals are not.
    fn into_call(self) -> CallError {
        match self {
            Failure::Call(e) => e,
            Failure::Stripe { status, text, .. } if status == 429 || status == 409 || status >= 500 => {
                CallError::Retryable(text)
            }
            Failure::Stripe { text, .. } => CallError::Permanent(text),
        }
    }
}

fn id_of(v: &Value, what: &str) -> Result<String, CallError> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CallError::Retryable(format!("stripe: {what} without id")))
}

fn money_of(amount: &Value, currency: &Value) -> Result<orderflow_core::Money, String> {
    let minor = amount.as_i64().ok_or("the object has no integer amount")?;
    from_minor_units(minor, currency.as_str().unwrap_or_default())
}

/// An expandable field: the id, whether Stripe sent it or the object.
fn expandable(v: &Value) -> Option<String> {
    v.as_str().or_else(|| v["id"].as_str()).map(str::to_owned)
}

fn intent_info(v: &Value) -> Result<IntentInfo, CallError> {
    let status = match v["status"].as_str() {
        Some("succeeded") => IntentStatus::Succeeded,
        Some("processing") => IntentStatus::Processing,
        Some("canceled") => IntentStatus::Canceled,
        _ => IntentStatus::Open,
    };
    Ok(IntentInfo {
        id: id_of(v, "payment intent")?,
        status,
        amount: money_of(&v["amount"], &v["currency"]),
        saved: expandable(&v["payment_method"]).map(|payment_method| SavedMethod {
            customer: expandable(&v["customer"]),
            payment_method,
        }),
    })
}

fn bad_event(detail: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        problem: "webhook-body",
        detail: detail.into(),
        accepted: Some(
            "a Stripe event: {\"id\": \"evt_…\", \"object\": \"event\", \"type\": …, \"data\": {\"object\": {…}}}"
                .into(),
        ),
    }
}

/// Verifies a Stripe webhook request and reads its event.
///
/// # Errors
/// 413 over the size limit; 400 for a missing, malformed, stale or
/// mismatched `Stripe-Signature`, or a body that is not an event.
pub fn parse_webhook(
    request: &RequestParts,
    secrets: &WebhookSecrets,
    now_unix: i64,
) -> Result<PaymentEvent, ApiError> {
    verify_webhook(request.header("stripe-signature"), &request.body, secrets, now_unix)?;
    let event: Value =
        serde_json::from_slice(&request.body).map_err(|e| bad_event(format!("the event is not JSON: {e}")))?;
    parse_event(&event)
}

/// Reads a (verified) Stripe event envelope.
pub fn parse_event(event: &Value) -> Result<PaymentEvent, ApiError> {
    let id = event["id"].as_str().filter(|s| !s.is_empty());
    let kind = event["type"].as_str().filter(|s| !s.is_empty());
    let object = &event["data"]["object"];
    let (Some(id), Some(kind), true) = (id, kind, event["object"] == "event" && object.is_object()) else {
        return Err(bad_event(
            "the event needs `object`: \"event\", an `id`, a `type` and `data.object`",
        ));
    };
    let text = |field: &str| object[field].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let object_id = || text("id").ok_or_else(|| bad_event(format!("a `{kind}` event needs data.object.id")));
    let change = match kind {
        "payment_intent.succeeded" => {
            let received = if object["amount_received"].is_i64() {
                &object["amount_received"]
            } else {
                &object["amount"]
            };
            PaymentChange::Succeeded {
                intent: object_id()?,
                amount: money_of(received, &object["currency"]),
            }
        }
        "payment_intent.payment_failed" => PaymentChange::Failed {
            intent: object_id()?,
            reason: object["last_payment_error"]["message"]
                .as_str()
                .unwrap_or("the payment failed")
                .to_owned(),
        },
        "payment_intent.canceled" => PaymentChange::Canceled { intent: object_id()? },
        // A hosted checkout paid: the same as its payment intent succeeding.
        // Unpaid completions (delayed methods) wait for that event instead.
        "checkout.session.completed" => {
            match (object["payment_status"].as_str(), expandable(&object["payment_intent"])) {
                (Some("paid"), Some(intent)) => PaymentChange::Succeeded {
                    intent,
                    amount: money_of(&object["amount_total"], &object["currency"]),
                },
                _ => PaymentChange::Other,
            }
        }
        "charge.refunded" => match expandable(&object["payment_intent"]) {
            Some(intent) => PaymentChange::Refunded {
                intent,
                amount: Some(money_of(&object["amount_refunded"], &object["currency"])),
            },
            None => PaymentChange::Other,
        },
        // One refund's state: what moves our refund record (its metadata
        // names our refund id; `failure_reason` says why it failed).
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            match expandable(&object["payment_intent"]) {
                Some(intent) => PaymentChange::RefundUpdated {
                    intent,
                    refund: object_id()?,
                    status: object["status"].as_str().unwrap_or("pending").to_owned(),
                    refund_key: object["metadata"]["refund_id"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                    failure_reason: object["failure_reason"].as_str().map(str::to_owned),
                },
                None => PaymentChange::Other,
            }
        }
        _ => PaymentChange::Other,
    };
    Ok(PaymentEvent {
        id: id.to_owned(),
        kind: kind.to_owned(),
        created: event["created"].as_i64().and_then(|t| Utc.timestamp_opt(t, 0).single()),
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_core::Money;
    use rust_decimal_macros::dec;
    use serde_json::json;
    use std::cell::RefCell;

    /// Answers every request with one canned response and remembers the requests.
    struct Canned {
        status: u16,
        body: Value,
        seen: RefCell<Vec<OutRequest>>,
    }

    impl Outbound for Canned {
        fn send(&self, request: OutRequest) -> Result<OutResponse, String> {
            self.seen.borrow_mut().push(request);
            Ok(OutResponse {
                status: self.status,
                headers: Vec::new(),
                body: self.body.to_string().into_bytes(),
            })
        }
    }

    fn canned(status: u16, body: Value) -> Canned {
        Canned {
            status,
            body,
            seen: RefCell::new(Vec::new()),
        }
    }

    fn stripe() -> Stripe {
        Stripe::new("http://127.0.0.1:1/", "sk_test_x", API_VERSION)
    }

    fn header<'a>(r: &'a OutRequest, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn an_intent_is_created_form_encoded_in_cents_with_key_version_and_bearer() {
        let out = canned(200, json!({"id": "pi_1", "object": "payment_intent"}));
        let tenant: orderflow_core::TenantId = "acme".parse().unwrap();
        let order = orderflow_core::OrderId::from_uuid(uuid::Uuid::nil());
        let request = super::super::order_intent(&tenant, order, &Money::eur(dec!(192.96)));
        assert_eq!(stripe().create_intent(&out, &request), Ok("pi_1".into()));
        let seen = out.seen.borrow();
        assert_eq!(seen.len(), 2, "a customer for the saved method, then the intent");
        assert_eq!(seen[0].url, "http://127.0.0.1:1/v1/customers");
        assert_eq!(
            header(&seen[0], "idempotency-key"),
            Some(format!("customer-intent-{order}").as_str())
        );
        let r = &seen[1];
        assert_eq!(
            (r.method, r.url.as_str()),
            ("POST", "http://127.0.0.1:1/v1/payment_intents")
        );
        assert_eq!(header(r, "authorization"), Some("Bearer sk_test_x"));
        assert_eq!(header(r, "stripe-version"), Some(API_VERSION));
        assert_eq!(header(r, "idempotency-key"), Some(format!("intent-{order}").as_str()));
        assert_eq!(header(r, "content-type"), Some("application/x-www-form-urlencoded"));
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(body.starts_with("amount=19296&currency=eur&"), "{body}");
        assert!(body.contains(&format!("metadata%5Border_id%5D={order}")), "{body}");
        assert!(body.contains("metadata%5Btenant%5D=acme"), "{body}");
        assert!(body.contains("setup_future_usage=off_session"), "{body}");
        assert!(body.ends_with("&customer=pi_1"), "the customer created first: {body}");
    }

    #[test]
    fn stripe_errors_are_classified_by_status() {
        let error = |status, code: &str| {
            let out = canned(status, json!({"error": {"type": "x", "code": code, "message": "m"}}));
            stripe().retrieve_intent(&out, "pi_1").unwrap_err()
        };
        assert!(matches!(error(429, "rate_limit"), CallError::Retryable(_)));
        assert!(matches!(error(500, "api_error"), CallError::Retryable(_)));
        assert!(matches!(error(409, "lock_timeout"), CallError::Retryable(_)));
        assert!(matches!(error(400, "parameter_unknown"), CallError::Permanent(_)));
        assert!(matches!(error(401, "api_key_invalid"), CallError::Permanent(_)));
    }

    #[test]
    fn a_402_on_an_off_session_confirm_is_a_decline_with_stripes_message() {
        let out = canned(
            402,
            json!({"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}}),
        );
        assert_eq!(
            stripe().confirm_off_session(&out, "pi_1", "k"),
            Ok(Charge::Declined("Your card was declined.".into()))
        );
        assert_eq!(
            String::from_utf8(out.seen.borrow()[0].body.clone()).unwrap(),
            "off_session=true"
        );
    }

    #[test]
    fn a_refund_names_the_intent_and_the_amount_in_cents() {
        let out = canned(
            200,
            json!({"id": "re_1", "object": "refund", "status": "succeeded", "amount": 500, "currency": "eur"}),
        );
        let refund = stripe()
            .create_refund(
                &out,
                &RefundRequest {
                    intent: "pi_1".into(),
                    amount: Some(Money::eur(dec!(5))),
                    metadata: vec![("order_id".into(), "o".into())],
                    idempotency_key: "refund-1".into(),
                },
            )
            .unwrap();
        assert_eq!(refund.id, "re_1");
        assert_eq!(refund.amount, Ok(Money::eur(dec!(5.00))));
        let seen = out.seen.borrow();
        assert_eq!(
            String::from_utf8(seen[0].body.clone()).unwrap(),
            "payment_intent=pi_1&amount=500&metadata%5Border_id%5D=o"
        );
        assert_eq!(header(&seen[0], "idempotency-key"), Some("refund-1"));
    }

    fn event(kind: &str, object: Value) -> Value {
        json!({"id": "evt_1", "object": "event", "type": kind, "created": 1_800_000_000, "livemode": false,
               "api_version": API_VERSION, "data": {"object": object}})
    }

    #[test]
    fn each_stripe_event_type_maps_to_one_domain_change() {
        let pi = json!({"id": "pi_1", "object": "payment_intent", "amount": 1999, "amount_received": 1999, "currency": "eur",
                        "last_payment_error": {"message": "Your card was declined."}});
        let change = |kind: &str, object: &Value| parse_event(&event(kind, object.clone())).unwrap().change;
        assert_eq!(
            change("payment_intent.succeeded", &pi),
            PaymentChange::Succeeded {
                intent: "pi_1".into(),
                amount: Ok(Money::eur(dec!(19.99)))
            }
        );
        assert_eq!(
            change("payment_intent.payment_failed", &pi),
            PaymentChange::Failed {
                intent: "pi_1".into(),
                reason: "Your card was declined.".into()
            }
        );
        assert_eq!(
            change("payment_intent.canceled", &pi),
            PaymentChange::Canceled { intent: "pi_1".into() }
        );
        let session = json!({"id": "cs_1", "object": "checkout.session", "payment_status": "paid",
                             "payment_intent": "pi_2", "amount_total": 500, "currency": "eur"});
        assert_eq!(
            change("checkout.session.completed", &session),
            PaymentChange::Succeeded {
                intent: "pi_2".into(),
                amount: Ok(Money::eur(dec!(5)))
            }
        );
        let unpaid =
            json!({"id": "cs_1", "object": "checkout.session", "payment_status": "unpaid", "payment_intent": "pi_2"});
        assert_eq!(change("checkout.session.completed", &unpaid), PaymentChange::Other);
        let charge = json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount_refunded": 300, "currency": "eur"});
        assert_eq!(
            change("charge.refunded", &charge),
            PaymentChange::Refunded {
                intent: "pi_1".into(),
                amount: Some(Ok(Money::eur(dec!(3))))
            }
        );
        let refund = json!({"id": "re_1", "object": "refund", "payment_intent": "pi_1", "status": "failed",
                            "failure_reason": "expired_or_canceled_card", "metadata": {"refund_id": "o:item:i"}});
        assert_eq!(
            change("refund.updated", &refund),
            PaymentChange::RefundUpdated {
                intent: "pi_1".into(),
                refund: "re_1".into(),
                status: "failed".into(),
                refund_key: Some("o:item:i".into()),
                failure_reason: Some("expired_or_canceled_card".into()),
            }
        );
        assert_eq!(
            change("customer.created", &json!({"id": "cus_1"})),
            PaymentChange::Other
        );
    }

    #[test]
    fn a_payment_in_a_currency_we_do_not_bill_in_is_an_error_in_the_change() {
        let pi = json!({"id": "pi_1", "amount": 1999, "currency": "usd"});
        let PaymentChange::Succeeded { amount, .. } =
            parse_event(&event("payment_intent.succeeded", pi)).unwrap().change
        else {
            panic!("not a success");
        };
        assert!(amount.unwrap_err().contains("USD"));
    }

    #[test]
    fn a_body_that_is_not_an_event_envelope_is_refused() {
        for bad in [
            json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi"}}}),
            json!({"object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi"}}}),
            json!({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {}}),
            json!({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {}}}),
        ] {
            assert!(parse_event(&bad).is_err(), "{bad}");
        }
    }
}
