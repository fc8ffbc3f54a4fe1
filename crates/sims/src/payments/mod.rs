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
//!
//! One file per resource: [`intents`], [`refunds`], [`sessions`] (the API's
//! and the hosted page's), [`customers`], [`events`]; this module keeps the
//! state, the router (the API and the `/_sim` control routes) and Stripe's
//! error shapes.

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

mod customers;
mod events;
mod intents;
mod refunds;
mod sessions;

use events::{automatic, deliver_and_report};
use intents::{action_is_final, apply, as_if_from_the_start, transition, Effect};
use refunds::RefundFaults;

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
