//! The email APIs: record messages instead of sending them. Two wire
//! formats on one port, one message list:
//!
//! - Ours: `POST /v1/messages` (bearer `ek_…`) answers 202
//!   `{"id":"msg_…"}`; the same `Idempotency-Key` and body returns the same
//!   id and records nothing new; the same key with another body is 422.
//! - Resend's: `POST /emails` (bearer `re_…`; none is 401
//!   `missing_api_key`, another 403 `invalid_api_key`) with `from`, `to`
//!   (an address or a list), `subject`, `text`/`html`, … answers 200
//!   `{"id": "<uuid>"}`; the same `Idempotency-Key` and body answers the
//!   same id, another body 409 `invalid_idempotent_request`; errors are
//!   `{"statusCode", "name", "message"}`; answers carry `ratelimit-limit`,
//!   `ratelimit-remaining`, `ratelimit-reset`, and a 429 `retry-after`.
//!   `GET /emails/{id}` reads one back.
//!
//! Faults (`POST /_sim/faults`): `fail_next` N calls with `status`
//! (default 500), `rate_limit_next` N calls with 429
//! `rate_limit_exceeded`. `/_sim/messages` lists what was "sent" (`to` is
//! the first recipient; `api` says which format it came through).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::idempotency::{Idempotency, Lookup};
use crate::server::{Handler, Request, Response};
use crate::{clock, ids};

/// The email sink's state.
#[derive(Debug, Default)]
pub(crate) struct Email {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<Value>,
    requests: Vec<Value>,
    idempotency: Idempotency<String>,
    faults: Faults,
}

/// `{"fail_next": N, "status": 500, "rate_limit_next": M}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    #[serde(default)]
    fail_next: u32,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default)]
    rate_limit_next: u32,
}

fn default_status() -> u16 {
    500
}

impl Faults {
    fn to_json(&self) -> Value {
        json!({ "fail_next": self.fail_next, "status": self.status, "rate_limit_next": self.rate_limit_next })
    }

    /// Consumes one injected failure: a status, or 429 for a rate limit.
    fn take(&mut self) -> Option<u16> {
        if self.rate_limit_next > 0 {
            self.rate_limit_next -= 1;
            return Some(429);
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(if self.status == 0 { 500 } else { self.status });
        }
        None
    }
}

/// Resend's send request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendEmail {
    from: String,
    to: Recipients,
    subject: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    cc: Option<Recipients>,
    #[serde(default)]
    bcc: Option<Recipients>,
    #[serde(default)]
    reply_to: Option<Recipients>,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(default)]
    tags: Option<Vec<Value>>,
    #[serde(default)]
    scheduled_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Recipients {
    One(String),
    Many(Vec<String>),
}

impl Recipients {
    fn all(&self) -> Vec<String> {
        match self {
            Recipients::One(a) => vec![a.clone()],
            Recipients::Many(list) => list.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMessage {
    to: String,
    subject: String,
    text: String,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    tags: Option<Map<String, Value>>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    reply_to: Option<String>,
}

impl Email {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn control(&self, req: &Request) -> Response {
        let segments = req.segments();
        let mut state = self.lock();
        match (&req.method, segments.as_slice()) {
            (&Method::GET, ["_sim", "messages"]) => ok(json!({ "data": state.messages })),
            (&Method::GET, ["_sim", "requests"]) => ok(json!({ "data": state.requests })),
            (&Method::GET, ["_sim", "faults"]) => ok(state.faults.to_json()),
            (&Method::POST, ["_sim", "faults"]) => match req.json::<Faults>() {
                Ok((_, faults)) => {
                    state.faults = faults;
                    ok(state.faults.to_json())
                }
                Err(e) => e,
            },
            (&Method::DELETE, ["_sim", "faults"]) => {
                state.faults = Faults::default();
                ok(state.faults.to_json())
            }
            _ => Response::no_route(req),
        }
    }
}

impl Handler for Email {
    fn log_name(&self) -> Option<&'static str> {
        Some("email")
    }

    async fn handle(self: Arc<Self>, req: Request) -> Response {
        let resend = req.path == "/emails" || req.path.starts_with("/emails/");
        if !req.path.starts_with("/v1/") && !resend {
            return self.control(&req);
        }
        let mut state = self.lock();
        let response = if resend {
            rate_headers(state.resend(&req))
        } else {
            state.api(&req)
        };
        state.requests.push(json!({
            "method": req.method.as_str(),
            "path": req.path,
            "idempotency_key": req.idempotency_key(),
            "status": response.status_code(),
            "time": clock::unix_now(),
            "time_ms": clock::unix_millis(),
        }));
        response
    }
}

impl State {
    /// Resend's `POST /emails` and `GET /emails/{id}`.
    fn resend(&mut self, req: &Request) -> Response {
        match req.header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
            None | Some("") => {
                return resend_error(401, "missing_api_key", "Missing API key in the authorization header.")
            }
            Some(key) if !key.starts_with("re_") => return resend_error(403, "invalid_api_key", "API key is invalid"),
            Some(_) => {}
        }
        match self.faults.take() {
            Some(429) => {
                return resend_error(
                    429,
                    "rate_limit_exceeded",
                    "Too many requests. You can only make 2 requests per second.",
                )
                .with_header("retry-after", "1")
            }
            Some(status) => return resend_error(status, "application_error", "injected fault"),
            None => {}
        }
        let segments = req.segments();
        match (&req.method, segments.as_slice()) {
            (&Method::GET, ["emails", id]) => {
                match self.messages.iter().find(|m| m["id"] == *id && m["api"] == "resend") {
                    Some(m) => Response::json(200, m["resend"].clone()),
                    None => resend_error(404, "not_found", "Email not found"),
                }
            }
            (&Method::POST, ["emails"]) => self.resend_send(req),
            _ => resend_error(
                405,
                "method_not_allowed",
                "Method is not allowed for the requested path.",
            ),
        }
    }

    fn resend_send(&mut self, req: &Request) -> Response {
        let (value, body) = match req.json::<ResendEmail>() {
            Ok(parsed) => parsed,
            Err(e) => {
                let message = e.body["error"]["message"]
                    .as_str()
                    .unwrap_or("invalid request")
                    .to_owned();
                return resend_error(422, "validation_error", message);
            }
        };
        let key = req.idempotency_key();
        if key.as_ref().is_some_and(|k| k.len() > 256) {
            return resend_error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.");
        }
        match self.idempotency.lookup(key.as_deref(), "resend", &value) {
            Lookup::Replay(id) => return Response::json(200, json!({ "id": id })),
            Lookup::Mismatch => {
                return resend_error(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload.",
                )
            }
            Lookup::New => {}
        }
        let to = body.to.all();
        if to.is_empty() || to.len() > 50 || !to.iter().all(|a| a.contains('@')) {
            return resend_error(
                422,
                "validation_error",
                "Invalid `to` field. Use `email@example.com` or `Name <email@example.com>`.",
            );
        }
        if !body.from.contains('@') {
            return resend_error(
                422,
                "validation_error",
                "Invalid `from` field. Use `email@example.com` or `Name <email@example.com>`.",
            );
        }
        if body.text.is_none() && body.html.is_none() {
            return resend_error(422, "validation_error", "Missing `text` or `html` field.");
        }
        let id = uuid_like();
        let created = clock::unix_now();
        self.messages.push(json!({
            "id": id,
            "api": "resend",
            "to": to[0],
            "from": body.from,
            "reply_to": body.reply_to.as_ref().map(Recipients::all),
            "subject": body.subject,
            "text": body.text,
            "html": body.html,
            "tags": body.tags,
            "idempotency_key": key,
            "time": created,
            "time_ms": clock::unix_millis(),
            "resend": {
                "object": "email",
                "id": id,
                "to": to,
                "from": body.from,
                "created_at": created.to_string(),
                "subject": body.subject,
                "html": body.html,
                "text": body.text,
                "bcc": body.bcc.as_ref().map(Recipients::all),
                "cc": body.cc.as_ref().map(Recipients::all),
                "reply_to": body.reply_to.as_ref().map(Recipients::all),
                "last_event": "delivered",
                "scheduled_at": body.scheduled_at,
                "headers": body.headers,
            },
        }));
        self.idempotency.save(key.as_deref(), "resend", value, id.clone());
        Response::json(200, json!({ "id": id }))
    }

    fn api(&mut self, req: &Request) -> Response {
        if !req.bearer_has_prefix("ek_") {
            return Response::error(401, "unauthorized", "use `Authorization: Bearer ek_…`");
        }
        if let Some(status) = self.faults.take() {
            return Response::error(status, "internal_error", "injected fault");
        }
        if !(req.method == Method::POST && req.path == "/v1/messages") {
            return Response::no_route(req);
        }
        let (value, body) = match req.json::<SendMessage>() {
            Ok(parsed) => parsed,
            Err(e) => return e,
        };
        let key = req.idempotency_key();
        match self.idempotency.lookup(key.as_deref(), "send", &value) {
            Lookup::Replay(id) => {
                return Response::json(202, json!({ "id": id })).with_header("idempotent-replayed", "true")
            }
            Lookup::Mismatch => {
                return Response::error(
                    422,
                    "idempotency_error",
                    "this Idempotency-Key was used with a different message",
                )
            }
            Lookup::New => {}
        }
        if !body.to.contains('@') {
            return Response::error(422, "validation_error", "`to` must be an email address");
        }
        let id = ids::new_id("msg");
        self.messages.push(json!({
            "id": id,
            "to": body.to,
            "from": body.from,
            "reply_to": body.reply_to,
            "subject": body.subject,
            "text": body.text,
            "html": body.html,
            "tags": body.tags,
            "idempotency_key": key,
            "time": clock::unix_now(),
            "time_ms": clock::unix_millis(),
        }));
        self.idempotency.save(key.as_deref(), "send", value, id.clone());
        Response::json(202, json!({ "id": id }))
    }
}

fn ok(body: Value) -> Response {
    Response::json(200, body)
}

/// Resend's error object.
fn resend_error(status: u16, name: &str, message: impl Into<String>) -> Response {
    Response::json(
        status,
        json!({ "statusCode": status, "name": name, "message": message.into() }),
    )
}

/// Resend's rate-limit headers (2 requests per second).
fn rate_headers(response: Response) -> Response {
    let remaining = if response.status_code() == 429 { "0" } else { "1" };
    response
        .with_header("ratelimit-limit", "2")
        .with_header("ratelimit-remaining", remaining)
        .with_header("ratelimit-reset", "1")
}

/// A random id shaped like a UUID (Resend's e-mail ids are UUIDs).
fn uuid_like() -> String {
    let hex: String = ids::token(64)
        .bytes()
        .map(|b| char::from(b"0123456789abcdef"[usize::from(b) % 16]))
        .take(32)
        .collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
