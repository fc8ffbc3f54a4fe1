//! The payment provider, speaking Stripe's wire format for the endpoints the
//! platform uses.
//!
//! API (bearer `sk_test_…`, optional `Stripe-Version`): create, retrieve,
//! cancel and confirm payment intents, create and retrieve refunds, create,
//! retrieve and expire Checkout Sessions. Requests are form-encoded with
//! bracketed keys and parsed strictly ([`crate::form`]: an unknown or
//! malformed parameter is Stripe's 400 error object); amounts are integers
//! in minor units with lower-case currencies; errors are `{"error": {"type",
//! "code", "message", …}}` (402 `card_declined`, 429 `rate_limit` through
//! `/_sim/faults`). Creating calls honour `Idempotency-Key` (same key and
//! parameters → the saved response again, with `Idempotent-Replayed: true`;
//! same key, other parameters → 400 `idempotency_error`). Events are
//! Stripe's envelopes (`evt_…`, `object: "event"`, `api_version`, …),
//! delivered signed; an automatic delivery that fails is retried with
//! backoff, as Stripe retries. Intents start
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
use crate::form::Params;
use crate::idempotency::{Idempotency, Lookup};
use crate::server::{Handler, Request, Response};
use crate::webhooks::{self, DeliveryOptions, MAX_DELIVERIES};
use crate::{checkout, clock, ids};

/// The API version the simulator speaks and stamps on its events.
pub const API_VERSION: &str = "2026-10-28.endive";

/// How often an automatic delivery is retried after failing (Stripe
/// retries for days; the simulator a few times, quickly).
const AUTOMATIC_RETRIES: u32 = 5;

/// An event to deliver: where, signed with what, the bytes.
type Emitted = (String, String, Bytes);

/// The payment provider's state.
#[derive(Debug)]
pub(crate) struct Payments {
    /// Shared with the tasks that settle pending refunds later.
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    intents: Vec<Intent>,
    refunds: Vec<Value>,
    sessions: Vec<Session>,
    customers: Vec<Value>,
    events: Vec<Event>,
    requests: Vec<Value>,
    idempotency: Idempotency<Response>,
    faults: FailNext,
    /// Off-session confirmations still to decline (`/_sim/declines`).
    declines: u32,
    /// How the next refunds end (`/_sim/refund_faults`).
    refund_faults: RefundFaults,
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
    description: Option<String>,
    client_secret: String,
    customer: Option<String>,
    payment_method: Option<String>,
    setup_future_usage: Option<String>,
    latest_charge: Option<String>,
    created: i64,
    canceled_at: Option<i64>,
    cancellation_reason: Option<String>,
    last_payment_error: Option<Value>,
    livemode: bool,
}

/// A Checkout Session: a hosted page that creates and pays an intent.
#[derive(Debug, Clone, Serialize)]
struct Session {
    id: String,
    object: &'static str,
    mode: String,
    /// `open`, `complete` or `expired`.
    status: &'static str,
    /// `unpaid` or `paid`.
    payment_status: &'static str,
    amount_total: i64,
    currency: String,
    url: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    metadata: Map<String, Value>,
    client_reference_id: Option<String>,
    customer: Option<String>,
    payment_intent: Option<String>,
    #[serde(skip)]
    intent_metadata: Map<String, Value>,
    #[serde(skip)]
    intent_setup_future_usage: Option<String>,
    #[serde(skip)]
    description: Option<String>,
    created: i64,
    expires_at: i64,
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

/// `POST /_sim/refund_faults`: how the next refunds end. With neither set,
/// a refund succeeds at once (`refund.created` and `charge.refunded`), as a
/// card refund usually does. Otherwise it is created `pending` and settled
/// `delay_ms` later by `refund.updated`: `failed` (with `failure_reason`,
/// the money back on the charge) for the next `fail_next` refunds,
/// `succeeded` (and `charge.refunded`) for the others.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RefundFaults {
    /// The next N refunds fail at the provider.
    fail_next: u32,
    /// How long a refund stays pending before its outcome is sent.
    delay_ms: u64,
}

impl RefundFaults {
    fn active(&self) -> bool {
        self.fail_next > 0 || self.delay_ms > 0
    }
}

/// `POST /_sim/declines`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Declines {
    decline_next: u32,
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
    /// Retry each failed delivery this many times (default none).
    retries: u32,
}

impl CustomerAction {
    fn delivery(&self) -> DeliveryOptions {
        DeliveryOptions {
            deliveries: self.deliveries.unwrap_or(1),
            concurrent: self.concurrent,
            timestamp_offset_secs: self.timestamp_offset_secs,
            forge: self.forge,
            retries: self.retries,
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
            state: Arc::new(Mutex::new(State {
                intents: Vec::new(),
                refunds: Vec::new(),
                sessions: Vec::new(),
                customers: Vec::new(),
                events: Vec::new(),
                requests: Vec::new(),
                idempotency: Idempotency::default(),
                faults: FailNext::default(),
                declines: 0,
                refund_faults: RefundFaults::default(),
                webhook_url,
                webhook_secret,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn api(&self, req: &Request) -> Response {
        if !req.bearer_has_prefix("sk_test_") {
            return Response::error(
                401,
                "invalid_request_error",
                "Invalid API Key provided: use `Authorization: Bearer sk_test_…`.",
            )
            .with_error_field("code", "api_key_invalid");
        }
        if let Some(version) = req.header("stripe-version").filter(|v| !valid_version(v)) {
            return Response::error(
                400,
                "invalid_request_error",
                format!("Invalid Stripe API version: {version}"),
            )
            .with_error_field("code", "api_version_invalid");
        }
        let mut settle = None;
        let (response, emitted) = {
            let mut state = self.lock();
            if let Some(status) = state.faults.take() {
                return injected(status);
            }
            let host = req.header("host").unwrap_or("127.0.0.1").to_owned();
            let segments = req.segments();
            match (&req.method, segments.as_slice()) {
                (&Method::POST, ["v1", "payment_intents"]) => (state.create_intent(req), Vec::new()),
                (&Method::GET, ["v1", "payment_intents", id]) => (
                    retrieve(req).map_or_else(
                        |e| e,
                        |()| {
                            state
                                .intent(id)
                                .map_or_else(|| missing("payment_intent", id), |i| ok(json!(i)))
                        },
                    ),
                    Vec::new(),
                ),
                (&Method::POST, ["v1", "payment_intents", id, "cancel"]) => state.cancel_intent(req, id),
                (&Method::POST, ["v1", "payment_intents", id, "confirm"]) => state.confirm_intent(req, id),
                (&Method::POST, ["v1", "refunds"]) => {
                    let (response, emitted, later) = state.create_refund(req);
                    settle = later;
                    (response, emitted)
                }
                (&Method::POST, ["v1", "customers"]) => (state.create_customer(req), Vec::new()),
                (&Method::GET, ["v1", "customers", id]) => {
                    let customer = state.customers.iter().find(|c| c["id"] == *id).cloned();
                    (
                        retrieve(req).map_or_else(|e| e, |()| customer.map_or_else(|| missing("customer", id), ok)),
                        Vec::new(),
                    )
                }
                (&Method::GET, ["v1", "refunds", id]) => {
                    let refund = state.refunds.iter().find(|r| r["id"] == *id).cloned();
                    (
                        retrieve(req).map_or_else(|e| e, |()| refund.map_or_else(|| missing("refund", id), ok)),
                        Vec::new(),
                    )
                }
                (&Method::POST, ["v1", "checkout", "sessions"]) => (state.create_session(req, &host), Vec::new()),
                (&Method::GET, ["v1", "checkout", "sessions", id]) => {
                    let session = state.sessions.iter().find(|c| c.id == *id).map(|c| json!(c));
                    (
                        retrieve(req)
                            .map_or_else(|e| e, |()| session.map_or_else(|| missing("checkout.session", id), ok)),
                        Vec::new(),
                    )
                }
                (&Method::POST, ["v1", "checkout", "sessions", id, "expire"]) => state.expire_session(req, id),
                _ => (
                    Response::error(
                        404,
                        "invalid_request_error",
                        format!("Unrecognized request URL ({} {}).", req.method, req.path),
                    ),
                    Vec::new(),
                ),
            }
        };
        for (url, secret, body) in emitted {
            // Stripe delivers asynchronously, and retries what fails; the
            // caller may hold locks that the webhook handler needs, so never
            // deliver inside the API call.
            tokio::spawn(async move {
                webhooks::deliver(&url, &secret, body, &automatic()).await;
            });
        }
        if let Some((refund, delay, fail)) = settle {
            let shared = Arc::clone(&self.state);
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                let emitted = {
                    let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    state.settle_refund(&refund, fail, clock::unix_now())
                };
                for (url, secret, body) in emitted {
                    webhooks::deliver(&url, &secret, body, &automatic()).await;
                }
            });
        }
        response.with_header("request-id", ids::new_id("req"))
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
            (&Method::GET, ["_sim", "refund_faults"]) => ok(json!(self.lock().refund_faults)),
            (&Method::POST, ["_sim", "refund_faults"]) => match req.json::<RefundFaults>() {
                Ok((_, faults)) => {
                    let mut state = self.lock();
                    state.refund_faults = faults;
                    ok(json!(state.refund_faults))
                }
                Err(e) => e,
            },
            (&Method::DELETE, ["_sim", "refund_faults"]) => {
                let mut state = self.lock();
                state.refund_faults = RefundFaults::default();
                ok(json!(state.refund_faults))
            }
            (&Method::GET, ["_sim", "checkout_sessions"]) => ok(json!({ "data": self.lock().sessions })),
            (&Method::GET, ["_sim", "customers"]) => ok(json!({ "data": self.lock().customers })),
            // The customer pays a Checkout Session without a browser.
            (&Method::POST, ["_sim", "checkout_sessions", id, "complete"]) => match self.complete(id).await {
                Ok(session) => ok(json!(session)),
                Err(e) => e,
            },
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
                let action = format!("/checkout/{}", intent.id);
                let shown = checkout::Shown {
                    id: &intent.id,
                    action: &action,
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
                // The provider's own delivery, retried while the app fails it.
                let automatic = CustomerAction {
                    retries: AUTOMATIC_RETRIES,
                    ..CustomerAction::default()
                };
                let outcome = self.act(id, action, &automatic).await;
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

    /// `/c/pay/{session}`: a Checkout Session's hosted page (GET) and its
    /// form (POST). Paying creates and pays the session's intent, delivers
    /// `payment_intent.succeeded` and `checkout.session.completed`, then
    /// sends the browser to the session's `success_url` (loopback only).
    async fn session_page(&self, req: &Request) -> Response {
        let segments = req.segments();
        let ["c", "pay", id] = segments.as_slice() else {
            return Response::no_route(req);
        };
        let page = |session: &Session, declined: Option<&str>| {
            let action = format!("/c/pay/{}", session.id);
            let shown = checkout::Shown {
                id: &session.id,
                action: &action,
                amount: session.amount_total,
                currency: &session.currency,
                status: match session.status {
                    "open" => "requires_payment_method",
                    "complete" => "succeeded",
                    _ => "canceled",
                },
                declined,
            };
            let back = session.success_url.as_deref().and_then(checkout::allowed_return);
            Response::html(200, checkout::page(&shown, back.as_deref()))
        };
        match req.method {
            Method::GET => {
                let state = self.lock();
                match state.sessions.iter().find(|c| c.id == *id) {
                    Some(session) => page(session, None),
                    None => missing("checkout.session", id),
                }
            }
            Method::POST => {
                let form = match checkout::parse_form(&req.body) {
                    Ok(form) => form,
                    Err(message) => return Response::error(400, "invalid_request_error", message),
                };
                if form.choice == checkout::Choice::Decline {
                    let state = self.lock();
                    return match state.sessions.iter().find(|c| c.id == *id) {
                        Some(session) => page(session, Some("Your card was declined.")),
                        None => missing("checkout.session", id),
                    };
                }
                let session = match self.complete(id).await {
                    Ok(session) => session,
                    Err(e) => return e,
                };
                match session.success_url.as_deref().and_then(checkout::allowed_return) {
                    Some(url) => Response::see_other(&url),
                    None => page(&session, None),
                }
            }
            _ => Response::no_route(req),
        }
    }

    /// Completes a session as its customer paying, delivering its events.
    async fn complete(&self, id: &str) -> Result<Session, Response> {
        let (session, bodies, target) = {
            let mut state = self.lock();
            let (session, bodies) = state.complete_session(id, clock::unix_now())?;
            (session, bodies, state.target())
        };
        if let Some((url, secret)) = target {
            for body in bodies {
                webhooks::deliver(&url, &secret, body, &automatic()).await;
            }
        }
        Ok(session)
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
        if req.path.starts_with("/c/pay/") {
            return self.session_page(&req).await;
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

    /// Looks `key` up for `endpoint` with `params`: `Err` is the answer to
    /// give at once (a replay, or a key reused with other parameters).
    fn check_key(&self, key: Option<&str>, endpoint: &'static str, params: &Value) -> Result<(), Response> {
        match self.idempotency.lookup(key, endpoint, params) {
            Lookup::Replay(saved) => Err(replayed(saved)),
            Lookup::Mismatch => Err(idempotency_mismatch(key)),
            Lookup::New => Ok(()),
        }
    }

    fn create_intent(&mut self, req: &Request) -> Response {
        match self.try_create_intent(req) {
            Ok(response) | Err(response) => response,
        }
    }

    fn try_create_intent(&mut self, req: &Request) -> Result<Response, Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_intent", &value)?;
        let amount = p.required_integer("amount")?;
        let currency = p.required_string("currency")?;
        let metadata = p.metadata("metadata")?;
        let description = p.string("description")?;
        let customer = p.string("customer")?;
        let payment_method = p.string("payment_method")?;
        let setup_future_usage = p.one_of("setup_future_usage", &["off_session", "on_session"])?;
        let _ = p.strings("payment_method_types")?;
        let _ = p.strings("expand")?;
        p.finish()?;
        if amount < 1 {
            return Err(invalid("amount", "Amount must be a positive integer in minor units."));
        }
        if let Some(customer) = customer
            .as_deref()
            .filter(|c| !self.customers.iter().any(|x| x["id"] == *c))
        {
            return Err(invalid("customer", &format!("No such customer: '{customer}'"))
                .with_error_field("code", "resource_missing"));
        }
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(invalid(
                "currency",
                "Currency must be a three-letter lower-case ISO code.",
            ));
        }
        let id = ids::new_id("pi");
        let intent = Intent {
            client_secret: format!("{id}_secret_{}", ids::token(24)),
            id,
            object: "payment_intent",
            status: Status::RequiresPaymentMethod,
            amount,
            amount_received: 0,
            amount_refunded: 0,
            currency,
            metadata,
            description,
            customer,
            payment_method,
            setup_future_usage,
            latest_charge: None,
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
        Ok(response)
    }

    /// Cancels; returns the event to deliver. Cancelling one that is
    /// already cancelled or paid is Stripe's 400
    /// `payment_intent_unexpected_state`.
    fn cancel_intent(&mut self, req: &Request, id: &str) -> (Response, Vec<Emitted>) {
        let parsed = Params::of(req).and_then(|mut p| {
            let value = p.to_value();
            let reason = p.one_of(
                "cancellation_reason",
                &["duplicate", "fraudulent", "requested_by_customer", "abandoned"],
            )?;
            p.finish().map(|()| (value, reason))
        });
        let (value, reason) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return (e, Vec::new()),
        };
        // The key covers the path: cancelling another intent with it is a mismatch.
        let value = json!({ "intent": id, "params": value });
        let key = req.idempotency_key();
        if let Err(answer) = self.check_key(key.as_deref(), "cancel_intent", &value) {
            return (answer, Vec::new());
        }
        let (response, emitted) = self.cancel_now(id, reason);
        self.idempotency
            .save(key.as_deref(), "cancel_intent", value, response.clone());
        (response, emitted)
    }

    fn cancel_now(&mut self, id: &str, reason: Option<String>) -> (Response, Vec<Emitted>) {
        let now = clock::unix_now();
        let Some(intent) = self.intent_mut(id) else {
            return (missing("payment_intent", id), Vec::new());
        };
        match intent.status {
            Status::Canceled | Status::Succeeded => {
                let status = if intent.status == Status::Canceled {
                    "canceled"
                } else {
                    "succeeded"
                };
                (
                    Response::error(
                        400,
                        "invalid_request_error",
                        format!(
                            "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
                        ),
                    )
                    .with_error_field("code", "payment_intent_unexpected_state")
                    .with_error_field("payment_intent", json!(intent)),
                    Vec::new(),
                )
            }
            Status::RequiresPaymentMethod => {
                intent.status = Status::Canceled;
                intent.canceled_at = Some(now);
                intent.cancellation_reason = Some(reason.unwrap_or_else(|| "requested_by_customer".into()));
                let snapshot = json!(intent);
                let response = ok(snapshot.clone());
                let emitted = self.emit("payment_intent.canceled", snapshot, now);
                (response, emitted)
            }
        }
    }

    /// Confirms an intent off-session with the customer's saved payment
    /// method (a subscription's renewal): charged at once, or declined while
    /// `/_sim/declines` says so; either way its event is delivered. An intent
    /// is charged at most once: confirming a succeeded one returns it as is.
    fn confirm_intent(&mut self, req: &Request, id: &str) -> (Response, Vec<Emitted>) {
        let parsed = Params::of(req).and_then(|mut p| {
            let value = p.to_value();
            let _off_session = p.boolean("off_session")?;
            let payment_method = p.string("payment_method")?;
            let _ = p.strings("expand")?;
            p.finish()
                .map(|()| (json!({ "intent": id, "params": value }), payment_method))
        });
        let (value, payment_method) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return (e, Vec::new()),
        };
        let key = req.idempotency_key();
        if let Err(answer) = self.check_key(key.as_deref(), "confirm_intent", &value) {
            return (answer, Vec::new());
        }
        let now = clock::unix_now();
        let declined = self.declines > 0;
        let Some(intent) = self.intent_mut(id) else {
            return (missing("payment_intent", id), Vec::new());
        };
        if payment_method.is_some() {
            intent.payment_method = payment_method;
        }
        let (response, event) = match intent.status {
            Status::Succeeded => (ok(json!(intent)), None),
            Status::Canceled => (
                Response::error(
                    400,
                    "invalid_request_error",
                    "You cannot confirm this PaymentIntent because it has a status of canceled.",
                )
                .with_error_field("code", "payment_intent_unexpected_state"),
                None,
            ),
            Status::RequiresPaymentMethod if declined => {
                transition(intent, Action::Fail, now);
                let snapshot = json!(intent);
                let response = Response::error(402, "card_error", "Your card was declined.")
                    .with_error_field("code", "card_declined")
                    .with_error_field("decline_code", "generic_decline")
                    .with_error_field("payment_intent", snapshot.clone());
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
        let emitted = event.map_or_else(Vec::new, |(kind, snapshot)| self.emit(kind, snapshot, now));
        (response, emitted)
    }

    fn create_customer(&mut self, req: &Request) -> Response {
        match self.try_create_customer(req) {
            Ok(response) | Err(response) => response,
        }
    }

    /// `POST /v1/customers`: whom a saved payment method belongs to.
    fn try_create_customer(&mut self, req: &Request) -> Result<Response, Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_customer", &value)?;
        let description = p.string("description")?;
        let email = p.string("email")?;
        let name = p.string("name")?;
        let metadata = p.metadata("metadata")?;
        let _ = p.strings("expand")?;
        p.finish()?;
        let customer = json!({
            "id": ids::new_id("cus"),
            "object": "customer",
            "description": description,
            "email": email,
            "name": name,
            "metadata": metadata,
            "created": clock::unix_now(),
            "livemode": false,
        });
        let response = ok(customer.clone());
        self.customers.push(customer);
        self.idempotency
            .save(key.as_deref(), "create_customer", value, response.clone());
        Ok(response)
    }

    /// Also returns, for a refund left pending by `/_sim/refund_faults`,
    /// what settles it later: (refund id, delay in ms, whether it fails).
    fn create_refund(&mut self, req: &Request) -> (Response, Vec<Emitted>, Option<(String, u64, bool)>) {
        // A replayed key answers through `Err` (the saved response): only a
        // refund created now is settled later.
        match self.try_create_refund(req) {
            Ok((response, emitted)) if self.refund_faults.active() => {
                let id = self
                    .refunds
                    .last()
                    .map(|r| r["id"].as_str().unwrap_or_default().to_owned());
                let fail = self.refund_faults.fail_next > 0;
                if fail {
                    self.refund_faults.fail_next -= 1;
                }
                (response, emitted, id.map(|id| (id, self.refund_faults.delay_ms, fail)))
            }
            Ok((response, emitted)) => (response, emitted, None),
            Err(response) => (response, Vec::new(), None),
        }
    }

    /// Ends a pending refund: `failed` (the money back on the charge) or
    /// `succeeded`, with `refund.updated` (and `charge.refunded`).
    fn settle_refund(&mut self, id: &str, fail: bool, now: i64) -> Vec<Emitted> {
        let Some(refund) = self.refunds.iter_mut().find(|r| r["id"] == id) else {
            return Vec::new();
        };
        refund["status"] = json!(if fail { "failed" } else { "succeeded" });
        if fail {
            refund["failure_reason"] = json!("expired_or_canceled_card");
        }
        let refund = refund.clone();
        let amount = refund["amount"].as_i64().unwrap_or(0);
        let intent_id = refund["payment_intent"].as_str().unwrap_or_default().to_owned();
        let mut emitted = self.emit("refund.updated", refund, now);
        if let Some(intent) = self.intents.iter_mut().find(|i| i.id == intent_id) {
            if fail {
                intent.amount_refunded -= amount;
            } else {
                let charge = charge_of(intent);
                emitted.extend(self.emit("charge.refunded", charge, now));
            }
        }
        emitted
    }

    /// `POST /v1/refunds` for a paid intent (or its charge): at most what is
    /// left unrefunded; `refund.created` and `charge.refunded` follow.
    fn try_create_refund(&mut self, req: &Request) -> Result<(Response, Vec<Emitted>), Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_refund", &value)?;
        let payment_intent = p.string("payment_intent")?;
        let charge = p.string("charge")?;
        let amount = p.integer("amount")?;
        let metadata = p.metadata("metadata")?;
        let reason = p.one_of("reason", &["duplicate", "fraudulent", "requested_by_customer"])?;
        let _ = p.strings("expand")?;
        p.finish()?;
        let intent = match (&payment_intent, &charge) {
            (Some(pi), _) => self.intents.iter_mut().find(|i| i.id == *pi),
            (None, Some(ch)) => self
                .intents
                .iter_mut()
                .find(|i| i.latest_charge.as_deref() == Some(ch.as_str())),
            (None, None) => {
                return Err(invalid(
                    "payment_intent",
                    "One of the following params should be provided for this request: payment_intent or charge.",
                ))
            }
        };
        let Some(intent) = intent else {
            let (param, id) = payment_intent
                .map(|pi| ("payment_intent", pi))
                .or(charge.map(|ch| ("charge", ch)))
                .unwrap_or_default();
            return Err(
                invalid(param, &format!("No such {param}: '{id}'")).with_error_field("code", "resource_missing")
            );
        };
        if intent.status != Status::Succeeded {
            return Err(invalid(
                "payment_intent",
                "This PaymentIntent does not have a successful charge to refund.",
            ));
        }
        let refundable = intent.amount_received - intent.amount_refunded;
        let amount = amount.unwrap_or(refundable);
        if amount < 1 {
            return Err(if refundable == 0 {
                invalid("amount", "Charge has already been refunded.")
                    .with_error_field("code", "charge_already_refunded")
            } else {
                invalid("amount", "Amount must be a positive integer in minor units.")
            });
        }
        if amount > refundable {
            return Err(invalid(
                "amount",
                &format!(
                    "Refund amount ({amount}) is greater than the unrefunded amount on the charge ({refundable})."
                ),
            )
            .with_error_field("code", "amount_too_large"));
        }
        intent.amount_refunded += amount;
        let now = clock::unix_now();
        let pending = self.refund_faults.active();
        let refund = json!({
            "id": ids::new_id("re"),
            "object": "refund",
            "status": if pending { "pending" } else { "succeeded" },
            "amount": amount,
            "currency": intent.currency,
            "payment_intent": intent.id,
            "charge": intent.latest_charge,
            "metadata": metadata,
            "reason": reason,
            "created": now,
        });
        let charge = charge_of(intent);
        let response = ok(refund.clone());
        self.refunds.push(refund.clone());
        self.idempotency
            .save(key.as_deref(), "create_refund", value, response.clone());
        let mut emitted = self.emit("refund.created", refund, now);
        if !pending {
            emitted.extend(self.emit("charge.refunded", charge, now));
        }
        Ok((response, emitted))
    }

    fn create_session(&mut self, req: &Request, host: &str) -> Response {
        match self.try_create_session(req, host) {
            Ok(response) | Err(response) => response,
        }
    }

    /// `POST /v1/checkout/sessions` (mode `payment`, line items with
    /// `price_data`): a session whose `url` is the simulator's hosted page.
    fn try_create_session(&mut self, req: &Request, host: &str) -> Result<Response, Response> {
        let mut p = Params::of(req)?;
        let value = p.to_value();
        let key = req.idempotency_key();
        self.check_key(key.as_deref(), "create_session", &value)?;
        let mode = p.one_of("mode", &["payment", "setup", "subscription"])?;
        if mode.as_deref() != Some("payment") {
            return Err(invalid("mode", "The simulator supports mode=payment only."));
        }
        let success_url = p.string("success_url")?;
        let cancel_url = p.string("cancel_url")?;
        let metadata = p.metadata("metadata")?;
        let client_reference_id = p.string("client_reference_id")?;
        let customer = p.string("customer")?;
        let _customer_email = p.string("customer_email")?;
        let _ = p.strings("payment_method_types")?;
        let _ = p.strings("expand")?;
        let (mut intent_metadata, mut setup_future_usage, mut description) = (Map::new(), None, None);
        if let Some(mut data) = p.object("payment_intent_data")? {
            intent_metadata = data.metadata("metadata")?;
            setup_future_usage = data.one_of("setup_future_usage", &["off_session", "on_session"])?;
            description = data.string("description")?;
            data.finish()?;
        }
        let items = p.list("line_items")?;
        p.finish()?;
        if items.is_empty() {
            return Err(invalid("line_items", "Missing required param: line_items.")
                .with_error_field("code", "parameter_missing"));
        }
        let (mut total, mut currency) = (0_i64, None::<String>);
        for (i, mut item) in items.into_iter().enumerate() {
            let quantity = item.integer("quantity")?.unwrap_or(1);
            let Some(mut price) = item.object("price_data")? else {
                return Err(invalid(
                    &format!("line_items[{i}][price_data]"),
                    "The simulator needs price_data on every line item.",
                ));
            };
            let item_currency = price.required_string("currency")?;
            let unit = price.required_integer("unit_amount")?;
            if let Some(mut product) = price.object("product_data")? {
                product.required_string("name")?;
                let _ = product.string("description")?;
                product.finish()?;
            } else {
                let _ = price.required_string("product")?;
            }
            price.finish()?;
            item.finish()?;
            if unit < 0 || quantity < 1 {
                return Err(invalid(
                    &format!("line_items[{i}]"),
                    "Amounts and quantities must be positive.",
                ));
            }
            if currency.as_ref().is_some_and(|c| *c != item_currency) {
                return Err(invalid(
                    &format!("line_items[{i}][price_data][currency]"),
                    "All line items must share one currency.",
                ));
            }
            currency = Some(item_currency);
            total = unit
                .checked_mul(quantity)
                .and_then(|x| x.checked_add(total))
                .ok_or_else(|| invalid("line_items", "The total is too large."))?;
        }
        let now = clock::unix_now();
        let id = format!("cs_test_{}", ids::token(24));
        let session = Session {
            url: Some(format!("http://{host}/c/pay/{id}")),
            id,
            object: "checkout.session",
            mode: "payment".into(),
            status: "open",
            payment_status: "unpaid",
            amount_total: total,
            currency: currency.unwrap_or_default(),
            success_url,
            cancel_url,
            metadata,
            client_reference_id,
            customer,
            payment_intent: None,
            intent_metadata,
            intent_setup_future_usage: setup_future_usage,
            description,
            created: now,
            expires_at: now + 24 * 3600,
            livemode: false,
        };
        let response = ok(json!(session));
        self.sessions.push(session);
        self.idempotency
            .save(key.as_deref(), "create_session", value, response.clone());
        Ok(response)
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: only an open session expires.
    fn expire_session(&mut self, req: &Request, id: &str) -> (Response, Vec<Emitted>) {
        if let Err(e) = Params::of(req).and_then(Params::finish) {
            return (e, Vec::new());
        }
        let now = clock::unix_now();
        let Some(session) = self.sessions.iter_mut().find(|c| c.id == id) else {
            return (missing("checkout.session", id), Vec::new());
        };
        if session.status != "open" {
            return (
                invalid(
                    "session",
                    &format!(
                        "Only Checkout Sessions with a status of open can be expired; this one is {}.",
                        session.status
                    ),
                ),
                Vec::new(),
            );
        }
        session.status = "expired";
        session.url = None;
        let snapshot = json!(session);
        let emitted = self.emit("checkout.session.expired", snapshot.clone(), now);
        (ok(snapshot), emitted)
    }

    /// The customer pays an open session on its page: its payment intent
    /// is created and paid, and both events are recorded for delivery.
    fn complete_session(&mut self, id: &str, now: i64) -> Result<(Session, Vec<Bytes>), Response> {
        let Some(index) = self.sessions.iter().position(|c| c.id == id) else {
            return Err(missing("checkout.session", id));
        };
        let session = self.sessions[index].clone();
        if session.status != "open" {
            return Ok((session, Vec::new()));
        }
        let pi = ids::new_id("pi");
        let mut intent = Intent {
            client_secret: format!("{pi}_secret_{}", ids::token(24)),
            id: pi.clone(),
            object: "payment_intent",
            status: Status::RequiresPaymentMethod,
            amount: session.amount_total,
            amount_received: 0,
            amount_refunded: 0,
            currency: session.currency.clone(),
            metadata: session.intent_metadata.clone(),
            description: session.description.clone(),
            customer: session.customer.clone(),
            payment_method: None,
            setup_future_usage: session.intent_setup_future_usage.clone(),
            latest_charge: None,
            created: now,
            canceled_at: None,
            cancellation_reason: None,
            last_payment_error: None,
            livemode: false,
        };
        transition(&mut intent, Action::Succeed, now);
        let paid = json!(intent);
        self.intents.push(intent);
        let session = &mut self.sessions[index];
        session.status = "complete";
        session.payment_status = "paid";
        session.payment_intent = Some(pi);
        session.url = None;
        let done = session.clone();
        let bodies = vec![
            self.record_event("payment_intent.succeeded", paid, now),
            self.record_event("checkout.session.completed", json!(done), now),
        ];
        Ok((done, bodies))
    }

    /// Records an event and, when a webhook endpoint is set, returns it for delivery.
    fn emit(&mut self, kind: &'static str, object: Value, now: i64) -> Vec<Emitted> {
        let body = self.record_event(kind, object, now);
        self.target()
            .map(|(url, secret)| (url, secret, body))
            .into_iter()
            .collect()
    }

    fn record_event(&mut self, kind: &'static str, object: Value, now: i64) -> Bytes {
        let id = ids::new_id("evt");
        let intent = object["id"].as_str().unwrap_or_default().to_owned();
        let event = json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
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
            intent.latest_charge = Some(ids::new_id("ch"));
            // The card the customer paid with (kept for off-session use
            // when the intent asked for it).
            if intent.payment_method.is_none() {
                intent.payment_method = Some(ids::new_id("pm"));
            }
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

/// A GET's query: only `expand[]` is accepted (and changes nothing here).
fn retrieve(req: &Request) -> Result<(), Response> {
    let mut p = Params::of(req)?;
    let _ = p.strings("expand")?;
    p.finish()
}

/// `YYYY-MM-DD` with an optional `.name` release suffix.
fn valid_version(version: &str) -> bool {
    let (date, release) = version.split_once('.').unwrap_or((version, "x"));
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && !release.is_empty()
        && release.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The error an injected fault answers, as Stripe words it.
fn injected(status: u16) -> Response {
    match status {
        402 => Response::error(402, "card_error", "Your card was declined.")
            .with_error_field("code", "card_declined")
            .with_error_field("decline_code", "generic_decline"),
        429 => Response::error(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        )
        .with_error_field("code", "rate_limit"),
        409 => Response::error(409, "invalid_request_error", "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.")
            .with_error_field("code", "lock_timeout"),
        status => Response::error(status, "api_error", "injected fault"),
    }
}

/// How an event the provider sends on its own is delivered: once, retried
/// with backoff while the endpoint fails.
/// The charge of a paid intent, as `charge.refunded` shows it.
fn charge_of(intent: &Intent) -> Value {
    json!({
        "id": intent.latest_charge,
        "object": "charge",
        "amount": intent.amount_received,
        "amount_captured": intent.amount_received,
        "amount_refunded": intent.amount_refunded,
        "currency": intent.currency,
        "payment_intent": intent.id,
        "paid": true,
        "refunded": intent.amount_refunded == intent.amount_received,
        "status": "succeeded",
        "created": intent.created,
    })
}

fn automatic() -> DeliveryOptions {
    DeliveryOptions {
        retries: AUTOMATIC_RETRIES,
        ..DeliveryOptions::default()
    }
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
