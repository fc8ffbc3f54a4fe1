//! The email API: records messages instead of sending them.
//!
//! `POST /v1/messages` (bearer `ek_…`) answers 202 `{"id":"msg_…"}`; the
//! same `Idempotency-Key` and body returns the same id and records nothing
//! new; the same key with another body is 422. `/_sim/messages` lists what
//! was "sent".

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::faults::FailNext;
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
    faults: FailNext,
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
            (&Method::POST, ["_sim", "faults"]) => match req.json::<FailNext>() {
                Ok((_, faults)) => {
                    state.faults = faults;
                    ok(state.faults.to_json())
                }
                Err(e) => e,
            },
            (&Method::DELETE, ["_sim", "faults"]) => {
                state.faults = FailNext::default();
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
        if !req.path.starts_with("/v1/") {
            return self.control(&req);
        }
        let mut state = self.lock();
        let response = state.api(&req);
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
