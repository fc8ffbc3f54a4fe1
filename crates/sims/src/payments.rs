//! The Stripe-like payment provider.
//!
//! API (bearer `sk_test_…`): create/get/cancel payment intents, create/get
//! refunds, all with `Idempotency-Key` semantics (same key and request →
//! the saved response again, with `Idempotent-Replayed: true`; same key,
//! other request → 400 `idempotency_error`). Intents start
//! `requires_payment_method`; the "customer" acts through `/_sim/…`:
//! succeed, fail (declined; the intent stays `requires_payment_method`),
//! expire (→ `canceled`), or through the hosted checkout page
//! (`/checkout/{id}`, see [`crate::checkout`]). Each of those records an
//! event and delivers it to the webhook URL, signed; cancelling through the API delivers
//! `payment_intent.canceled` in the background, as Stripe would.
//!
//! Customer actions never fail on the intent's state, because adversarial
//! delivery is the point: repeating the action that put the intent where it
//! is re-sends that same event (same id, as a provider retry would), and an
//! action that can no longer happen (fail after succeed) sends a late event
//! whose object shows the intent as it was then, leaving the intent as is.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hyper::body::Bytes;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::faults::FailNext;
use crate::idempotency::{Idempotency, Lookup};
use crate::server::{Handler, Request, Response};
use crate::webhooks::{self, DeliveryOptions, MAX_DELIVERIES};
use crate::{checkout, clock, ids};

/// The payment provider's state.
#[derive(Debug)]
pub(crate) struct Payments {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    intents: Vec<Intent>,
    refunds: Vec<Value>,
    events: Vec<Event>,
    requests: Vec<Value>,
    idempotency: Idempotency<Response>,
    faults: FailNext,
    /// Off-session confirmations still to decline (`/_sim/declines`).
    declines: u32,
    webhook_url: Option<String>,
    webhook_secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    RequiresPaymentMethod,
    Succeeded,
    Canceled,
}

#[derive(Debug, Clone, Serialize)]
struct Intent {
    id: String,
    object: &'static str,
    status: Status,
    amount: i64,
    amount_received: i64,
    amount_refunded: i64,
    currency: String,
    metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    created: i64,
    canceled_at: Option<i64>,
    cancellation_reason: Option<String>,
    last_payment_error: Option<Value>,
    livemode: bool,
}

#[derive(Debug)]
struct Event {
    id: String,
    intent: String,
    kind: &'static str,
    /// The exact bytes delivered, so a redelivery is byte-identical.
    body: Bytes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIntent {
    amount: i64,
    currency: String,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelIntent {
    #[serde(default)]
    cancellation_reason: Option<String>,
}

/// `POST /v1/payment_intents/{id}/confirm`: an off-session charge.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmIntent {
    #[serde(default)]
    #[allow(dead_code)]
    off_session: bool,
    #[serde(default)]
    #[allow(dead_code)]
    payment_method: Option<String>,
}

/// `POST /_sim/declines`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Declines {
    decline_next: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRefund {
    payment_intent: String,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    reason: Option<String>,
}

/// Options of `/_sim/payment_intents/{id}/{succeed|fail|expire}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CustomerAction {
    deliveries: Option<u32>,
    concurrent: bool,
    timestamp_offset_secs: i64,
    forge: bool,
    /// Reported in the event instead of the intent's amount.
    amount: Option<i64>,
    /// Reported in the event instead of the intent's currency.
    currency: Option<String>,
}

impl CustomerAction {
    fn delivery(&self) -> DeliveryOptions {
        DeliveryOptions {
            deliveries: self.deliveries.unwrap_or(1),
            concurrent: self.concurrent,
            timestamp_offset_secs: self.timestamp_offset_secs,
            forge: self.forge,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfig {
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Succeed,
    Fail,
    Expire,
}

impl Payments {
    /// A provider with no intents, delivering to `webhook_url` (if any).
    pub(crate) fn new(webhook_url: Option<String>, webhook_secret: String) -> Self {
        Self {
            state: Mutex::new(State {
                intents: Vec::new(),
                refunds: Vec::new(),
                events: Vec::new(),
                requests: Vec::new(),
                idempotency: Idempotency::default(),
                faults: FailNext::default(),
                declines: 0,
                webhook_url,
                webhook_secret,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn api(&self, req: &Request) -> Response {
        if !req.bearer_has_prefix("sk_test_") {
            return Response::error(
                401,
                "authentication_error",
                "Invalid API Key provided: use `Authorization: Bearer sk_test_…`.",
            );
        }
        let (response, emitted) = {
            let mut state = self.lock();
            if let Some(status) = state.faults.take() {
                return Response::error(status, "api_error", "injected fault");
            }
            let segments = req.segments();
            match (&req.method, segments.as_slice()) {
                (&Method::POST, ["v1", "payment_intents"]) => (state.create_intent(req), None),
                (&Method::GET, ["v1", "payment_intents", id]) => (
                    state
                        .intent(id)
                        .map_or_else(|| missing("payment_intent", id), |i| ok(json!(i))),
                    None,
                ),
                (&Method::POST, ["v1", "payment_intents", id, "cancel"]) => state.cancel_intent(req, id),
                (&Method::POST, ["v1", "payment_intents", id, "confirm"]) => state.confirm_intent(req, id),
                (&Method::POST, ["v1", "refunds"]) => (state.create_refund(req), None),
                (&Method::GET, ["v1", "refunds", id]) => {
                    let refund = state.refunds.iter().find(|r| r["id"] == *id).cloned();
                    (refund.map_or_else(|| missing("refund", id), ok), None)
                }
                _ => (Response::no_route(req), None),
            }
        };
        if let Some((url, secret, body)) = emitted {
            // Stripe delivers asynchronously; the caller may hold locks that the
            // webhook handler needs, so never deliver inside the API call.
            tokio::spawn(async move {
                webhooks::deliver(&url, &secret, body, &DeliveryOptions::default()).await;
            });
        }
        response
    }

    async fn control(&self, req: &Request) -> Response {
        let segments = req.segments();
        match (&req.method, segments.as_slice()) {
            (&Method::GET, ["_sim", "config"]) => ok(self.lock().config()),
            (&Method::POST, ["_sim", "config"]) => match req.json::<WebhookConfig>() {
                Ok((_, config)) => {
                    let mut state = self.lock();
                    if let Some(url) = config.webhook_url {
                        state.webhook_url = Some(url).filter(|u| !u.is_empty());
                    }
                    if let Some(secret) = config.webhook_secret {
                        state.webhook_secret = secret;
                    }
                    ok(state.config())
                }
                Err(e) => e,
            },
            (&Method::GET, ["_sim", "faults"]) => ok(self.lock().faults.to_json()),
            // `{"decline_next": N}`: the next N off-session confirmations are
            // declined (402 `card_declined`), as a customer's expired card would.
            (&Method::GET, ["_sim", "declines"]) => ok(json!({ "decline_next": self.lock().declines })),
            (&Method::POST, ["_sim", "declines"]) => match req.json::<Declines>() {
                Ok((_, declines)) => {
                    let mut state = self.lock();
                    state.declines = declines.decline_next;
                    ok(json!({ "decline_next": state.declines }))
                }
                Err(e) => e,
            },
            (&Method::POST, ["_sim", "faults"]) => match req.json::<FailNext>() {
                Ok((_, faults)) => {
                    let mut state = self.lock();
                    state.faults = faults;
                    ok(state.faults.to_json())
                }
                Err(e) => e,
            },
            (&Method::DELETE, ["_sim", "faults"]) => {
                let mut state = self.lock();
                state.faults = FailNext::default();
                ok(state.faults.to_json())
            }
            (&Method::GET, ["_sim", "payment_intents"]) => ok(json!({ "data": self.lock().intents })),
            (&Method::GET, ["_sim", "refunds"]) => ok(json!({ "data": self.lock().refunds })),
            (&Method::GET, ["_sim", "requests"]) => ok(json!({ "data": self.lock().requests })),
            (&Method::GET, ["_sim", "events"]) => {
                let state = self.lock();
                let events: Vec<Value> = state
                    .events
                    .iter()
                    .map(|e| serde_json::from_slice(&e.body).unwrap_or(Value::Null))
                    .collect();
                ok(json!({ "data": events }))
            }
            (&Method::POST, ["_sim", "payment_intents", id, verb]) => {
                let action = match *verb {
                    "succeed" => Action::Succeed,
                    "fail" => Action::Fail,
                    "expire" => Action::Expire,
                    _ => return Response::no_route(req),
                };
                self.customer_action(req, id, action).await
            }
            (&Method::POST, ["_sim", "events", id, "redeliver"]) => self.redeliver(req, id).await,
            _ => Response::no_route(req),
        }
    }

    /// `/checkout/{id}`: the hosted checkout page (GET) and its form (POST).
    async fn checkout(&self, req: &Request) -> Response {
        let segments = req.segments();
        let ["checkout", id] = segments.as_slice() else {
            return Response::no_route(req);
        };
        match req.method {
            Method::GET => {
                let state = self.lock();
                let Some(intent) = state.intent(id) else {
                    return missing("payment_intent", id);
                };
                let shown = checkout::Shown {
                    id: &intent.id,
                    amount: intent.amount,
                    currency: &intent.currency,
                    status: match intent.status {
                        Status::RequiresPaymentMethod => "requires_payment_method",
                        Status::Succeeded => "succeeded",
                        Status::Canceled => "canceled",
                    },
                    declined: intent.last_payment_error.as_ref().and_then(|e| e["message"].as_str()),
                };
                Response::html(
                    200,
                    checkout::page(&shown, checkout::return_to_in(&req.query).as_deref()),
                )
            }
            Method::POST => {
                let form = match checkout::parse_form(&req.body) {
                    Ok(form) => form,
                    Err(message) => return Response::error(400, "invalid_request_error", message),
                };
                let action = match form.choice {
                    checkout::Choice::Pay => Action::Succeed,
                    checkout::Choice::Decline => Action::Fail,
                };
                let outcome = self.act(id, action, &CustomerAction::default()).await;
                match (outcome.status_code(), form.return_to) {
                    (200, Some(url)) if action_is_final(action) => Response::see_other(&url),
                    (200, Some(url)) => Response::see_other(&format!(
                        "/checkout/{id}?return_to={}",
                        form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
                    )),
                    (200, None) => Response::see_other(&format!("/checkout/{id}")),
                    _ => outcome,
                }
            }
            _ => Response::no_route(req),
        }
    }

    async fn customer_action(&self, req: &Request, id: &str, action: Action) -> Response {
        let options = match req.json::<CustomerAction>() {
            Ok((_, options)) => options,
            Err(e) => return e,
        };
        self.act(id, action, &options).await
    }

    /// The customer's action on intent `id`, its event recorded and delivered.
    async fn act(&self, id: &str, action: Action, options: &CustomerAction) -> Response {
        if options.deliveries.is_some_and(|n| n > MAX_DELIVERIES) {
            return Response::error(
                400,
                "invalid_request_error",
                format!("at most {MAX_DELIVERIES} deliveries"),
            );
        }
        let (event, target, effect) = {
            let mut state = self.lock();
            let now = clock::unix_now();
            let Some(intent) = state.intent_mut(id) else {
                return missing("payment_intent", id);
            };
            let (kind, effect) = apply(intent, action, now);
            let mut snapshot = match effect {
                Effect::Applied | Effect::Repeated => json!(intent),
                Effect::OutOfOrder => json!(as_if_from_the_start(intent, action, now)),
            };
            let overridden = options.amount.is_some() || options.currency.is_some();
            let previous = state
                .events
                .iter()
                .rev()
                .find(|e| e.intent == id && e.kind == kind)
                .map(|e| e.body.clone());
            let event = match (effect, previous) {
                // The provider sending its event again, as after a failed delivery.
                (Effect::Repeated, Some(previous)) if !overridden => previous,
                _ => {
                    if let Some(amount) = options.amount {
                        snapshot["amount"] = json!(amount);
                        if snapshot["status"] == "succeeded" {
                            snapshot["amount_received"] = json!(amount);
                        }
                    }
                    if let Some(currency) = &options.currency {
                        snapshot["currency"] = json!(currency);
                    }
                    state.record_event(kind, snapshot, now)
                }
            };
            (event, state.target(), effect)
        };
        deliver_and_report(event, target, effect, &options.delivery()).await
    }

    async fn redeliver(&self, req: &Request, id: &str) -> Response {
        let options = match req.json::<DeliveryOptions>() {
            Ok((_, options)) => options,
            Err(e) => return e,
        };
        let (event, target) = {
            let state = self.lock();
            let Some(event) = state.events.iter().find(|e| e.id == id) else {
                return missing("event", id);
            };
            (event.body.clone(), state.target())
        };
        deliver_and_report(event, target, Effect::Repeated, &options).await
    }
}

impl Handler for Payments {
    fn log_name(&self) -> Option<&'static str> {
        Some("payments")
    }

    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if req.path.starts_with("/checkout/") {
            return self.checkout(&req).await;
        }
        if req.path.starts_with("/v1/") {
            let response = self.api(&req).await;
            self.lock().requests.push(json!({
                "method": req.method.as_str(),
                "path": req.path,
                "idempotency_key": req.idempotency_key(),
                "status": response.status_code(),
                "time": clock::unix_now(),
                "time_ms": clock::unix_millis(),
            }));
            response
        } else {
            self.control(&req).await
        }
    }
}

impl State {
    fn config(&self) -> Value {
        json!({ "webhook_url": self.webhook_url, "webhook_secret": self.webhook_secret })
    }

    fn target(&self) -> Option<(String, String)> {
        self.webhook_url.clone().map(|url| (url, self.webhook_secret.clone()))
    }

    fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.id == id)
    }

    fn intent_mut(&mut self, id: &str) -> Option<&mut Intent> {
        self.intents.iter_mut().find(|i| i.id == id)
    }

    fn create_intent(&mut self, req: &Request) -> Response {
        let (value, body) = match req.json::<CreateIntent>() {
            Ok(parsed) => parsed,
            Err(e) => return e,
        };
        let key = req.idempotency_key();
        match self.idempotency.lookup(key.as_deref(), "create_intent", &value) {
            Lookup::Replay(saved) => return replayed(saved),
            Lookup::Mismatch => return idempotency_mismatch(key.as_deref()),
            Lookup::New => {}
        }
        if body.amount < 1 {
            return invalid("amount", "Amount must be a positive integer in minor units.");
        }
        let currency = body.currency.to_ascii_lowercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return invalid("currency", "Currency must be a three-letter ISO code.");
        }
        let intent = Intent {
            id: ids::new_id("pi"),
            object: "payment_intent",
            status: Status::RequiresPaymentMethod,
            amount: body.amount,
            amount_received: 0,
            amount_refunded: 0,
            currency,
            metadata: body.metadata,
            description: body.description,
            created: clock::unix_now(),
            canceled_at: None,
            cancellation_reason: None,
            last_payment_error: None,
            livemode: false,
        };
        let response = ok(json!(intent));
        self.intents.push(intent);
        self.idempotency
            .save(key.as_deref(), "create_intent", value, response.clone());
        response
    }

    /// Cancels (idempotently); returns the event to deliver on a real transition.
    fn cancel_intent(&mut self, req: &Request, id: &str) -> (Response, Option<(String, String, Bytes)>) {
        let body = match req.json::<CancelIntent>() {
            Ok((_, body)) => body,
            Err(e) => return (e, None),
        };
        let now = clock::unix_now();
        let Some(intent) = self.intent_mut(id) else {
            return (missing("payment_intent", id), None);
        };
        match intent.status {
            Status::Canceled => (ok(json!(intent)), None),
            Status::Succeeded => (
                Response::error(
                    400,
                    "invalid_request_error",
                    format!("You cannot cancel this PaymentIntent because it has a status of succeeded ({id})."),
                )
                .with_error_field("code", "payment_intent_unexpected_state"),
                None,
            ),
            Status::RequiresPaymentMethod => {
                intent.status = Status::Canceled;
                intent.canceled_at = Some(now);
                intent.cancellation_reason = Some(
                    body.cancellation_reason
                        .unwrap_or_else(|| "requested_by_customer".into()),
                );
                let snapshot = json!(intent);
                let response = ok(snapshot.clone());
                let event = self.record_event("payment_intent.canceled", snapshot, now);
                let emitted = self.target().map(|(url, secret)| (url, secret, event));
                (response, emitted)
            }
        }
    }

    /// Confirms an intent off-session with the customer's saved payment
    /// method (a subscription's renewal): charged at once, or declined while
    /// `/_sim/declines` says so; either way its event is delivered. An intent
    /// is charged at most once: confirming a succeeded one returns it as is.
    fn confirm_intent(&mut self, req: &Request, id: &str) -> (Response, Option<(String, String, Bytes)>) {
        let (value, _) = match req.json::<ConfirmIntent>() {
            Ok(parsed) => parsed,
            Err(e) => return (e, None),
        };
        let key = req.idempotency_key();
        match self.idempotency.lookup(key.as_deref(), "confirm_intent", &value) {
            Lookup::Replay(saved) => return (replayed(saved), None),
            Lookup::Mismatch => return (idempotency_mismatch(key.as_deref()), None),
            Lookup::New => {}
        }
        let now = clock::unix_now();
        let declined = self.declines > 0;
        let Some(intent) = self.intent_mut(id) else {
            return (missing("payment_intent", id), None);
        };
        let (response, event) = match intent.status {
            Status::Succeeded => (ok(json!(intent)), None),
            Status::Canceled => (
                Response::error(
                    400,
                    "invalid_request_error",
                    format!("You cannot confirm this PaymentIntent because it has a status of canceled ({id})."),
                )
                .with_error_field("code", "payment_intent_unexpected_state"),
                None,
            ),
            Status::RequiresPaymentMethod if declined => {
                transition(intent, Action::Fail, now);
                let snapshot = json!(intent);
                let response = Response::error(402, "card_error", "Your card was declined.")
                    .with_error_field("code", "card_declined")
                    .with_error_field("payment_intent", id);
                (response, Some(("payment_intent.payment_failed", snapshot)))
            }
            Status::RequiresPaymentMethod => {
                transition(intent, Action::Succeed, now);
                let snapshot = json!(intent);
                (ok(snapshot.clone()), Some(("payment_intent.succeeded", snapshot)))
            }
        };
        if event
            .as_ref()
            .is_some_and(|(kind, _)| *kind == "payment_intent.payment_failed")
        {
            self.declines -= 1;
        }
        self.idempotency
            .save(key.as_deref(), "confirm_intent", value, response.clone());
        let emitted = event.and_then(|(kind, snapshot)| {
            let body = self.record_event(kind, snapshot, now);
            self.target().map(|(url, secret)| (url, secret, body))
        });
        (response, emitted)
    }

    fn create_refund(&mut self, req: &Request) -> Response {
        let (value, body) = match req.json::<CreateRefund>() {
            Ok(parsed) => parsed,
            Err(e) => return e,
        };
        let key = req.idempotency_key();
        match self.idempotency.lookup(key.as_deref(), "create_refund", &value) {
            Lookup::Replay(saved) => return replayed(saved),
            Lookup::Mismatch => return idempotency_mismatch(key.as_deref()),
            Lookup::New => {}
        }
        let Some(intent) = self.intents.iter_mut().find(|i| i.id == body.payment_intent) else {
            return invalid(
                "payment_intent",
                &format!("No such payment_intent: '{}'", body.payment_intent),
            )
            .with_error_field("code", "resource_missing");
        };
        if intent.status != Status::Succeeded {
            return invalid(
                "payment_intent",
                "This PaymentIntent does not have a successful charge to refund.",
            );
        }
        let refundable = intent.amount_received - intent.amount_refunded;
        let amount = body.amount.unwrap_or(refundable);
        if amount < 1 {
            return if refundable == 0 {
                invalid("amount", "Charge has already been refunded.")
                    .with_error_field("code", "charge_already_refunded")
            } else {
                invalid("amount", "Amount must be a positive integer in minor units.")
            };
        }
        if amount > refundable {
            return invalid(
                "amount",
                &format!(
                    "Refund amount ({amount}) is greater than the unrefunded amount on the charge ({refundable})."
                ),
            )
            .with_error_field("code", "amount_too_large");
        }
        intent.amount_refunded += amount;
        let refund = json!({
            "id": ids::new_id("re"),
            "object": "refund",
            "status": "succeeded",
            "amount": amount,
            "currency": intent.currency,
            "payment_intent": intent.id,
            "metadata": body.metadata,
            "reason": body.reason,
            "idempotency_key": key,
            "created": clock::unix_now(),
        });
        let response = ok(refund.clone());
        self.refunds.push(refund);
        self.idempotency
            .save(key.as_deref(), "create_refund", value, response.clone());
        response
    }

    fn record_event(&mut self, kind: &'static str, object: Value, now: i64) -> Bytes {
        let id = ids::new_id("evt");
        let intent = object["id"].as_str().unwrap_or_default().to_owned();
        let event = json!({
            "id": id,
            "object": "event",
            "type": kind,
            "created": now,
            "livemode": false,
            "data": { "object": object },
        });
        let body = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        self.events.push(Event {
            id,
            intent,
            kind,
            body: body.clone(),
        });
        body
    }
}

/// How a customer action relates to the intent's current state.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Effect {
    /// The intent was awaiting payment and moved on.
    Applied,
    /// The intent is already where the action leads: its event is sent again.
    Repeated,
    /// The intent is past the point where the action could happen: the event
    /// is sent as a late, out-of-order one and the intent does not change.
    OutOfOrder,
}

/// Whether the customer is done after `action` (a declined card may try again).
fn action_is_final(action: Action) -> bool {
    !matches!(action, Action::Fail)
}

impl Action {
    fn event_type(self) -> &'static str {
        match self {
            Action::Succeed => "payment_intent.succeeded",
            Action::Fail => "payment_intent.payment_failed",
            Action::Expire => "payment_intent.canceled",
        }
    }
}

/// Applies the customer's action to `intent` when it is awaiting payment.
fn apply(intent: &mut Intent, action: Action, now: i64) -> (&'static str, Effect) {
    let effect = match (intent.status, action) {
        (Status::RequiresPaymentMethod, _) => {
            transition(intent, action, now);
            Effect::Applied
        }
        (Status::Succeeded, Action::Succeed) | (Status::Canceled, Action::Expire) => Effect::Repeated,
        _ => Effect::OutOfOrder,
    };
    (action.event_type(), effect)
}

fn transition(intent: &mut Intent, action: Action, now: i64) {
    match action {
        Action::Succeed => {
            intent.status = Status::Succeeded;
            intent.amount_received = intent.amount;
            intent.last_payment_error = None;
        }
        Action::Fail => {
            intent.last_payment_error = Some(json!({
                "type": "card_error", "code": "card_declined", "message": "Your card was declined."
            }));
        }
        Action::Expire => {
            intent.status = Status::Canceled;
            intent.canceled_at = Some(now);
            intent.cancellation_reason = Some("abandoned".into());
        }
    }
}

/// The intent as it would have looked had `action` happened while it was
/// still awaiting payment (the object a late event carries).
fn as_if_from_the_start(intent: &Intent, action: Action, now: i64) -> Intent {
    let mut past = Intent {
        status: Status::RequiresPaymentMethod,
        amount_received: 0,
        amount_refunded: 0,
        canceled_at: None,
        cancellation_reason: None,
        last_payment_error: None,
        ..intent.clone()
    };
    transition(&mut past, action, now);
    past
}

async fn deliver_and_report(
    event: Bytes,
    target: Option<(String, String)>,
    effect: Effect,
    options: &DeliveryOptions,
) -> Response {
    let deliveries = match &target {
        Some((url, secret)) => webhooks::deliver(url, secret, event.clone(), options).await,
        None => Vec::new(),
    };
    let statuses: Vec<Option<u16>> = deliveries.iter().map(|d| d.status).collect();
    ok(json!({
        "event": serde_json::from_slice::<Value>(&event).unwrap_or(Value::Null),
        "effect": match effect {
            Effect::Applied => "applied",
            Effect::Repeated => "repeated",
            Effect::OutOfOrder => "out_of_order",
        },
        "webhook_url": target.map(|(url, _)| url),
        "statuses": statuses,
        "deliveries": deliveries,
    }))
}

fn ok(body: Value) -> Response {
    Response::json(200, body)
}

fn replayed(saved: &Response) -> Response {
    saved.clone().with_header("idempotent-replayed", "true")
}

fn missing(kind: &str, id: &str) -> Response {
    Response::error(404, "invalid_request_error", format!("No such {kind}: '{id}'"))
        .with_error_field("code", "resource_missing")
}

fn invalid(param: &str, message: &str) -> Response {
    Response::error(400, "invalid_request_error", message).with_error_field("param", param)
}

fn idempotency_mismatch(key: Option<&str>) -> Response {
    Response::error(
        400,
        "idempotency_error",
        format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with ({}).",
            key.unwrap_or_default()
        ),
    )
}
