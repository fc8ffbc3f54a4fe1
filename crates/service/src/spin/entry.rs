//! The Spin entry point's two halves around a handler: reading the
//! request, and sending the response *before* the invocation ends, so work
//! queued with [`after_response`] runs once the caller has its answer.
//!
//! A handler that takes Spin's `ResponseOutparam` may run on after setting
//! it: the host sends the response as soon as it is set and its body is
//! finished, and the guest keeps its instance until it returns (Spin's
//! `crates/trigger-http/src/wasi.rs`; spin-local does the same, see
//! crates/runner/README.md). Work that must happen for sure is never only
//! here: it is durable before the response (a saga job), and this is a
//! head start on it; if the invocation is cut short the scheduled tick
//! runs it.
//!
//! The request body is read as it streams in, against the route's cap
//! ([`body_limit`]): a body that passes it is answered 413 at once, before
//! more of it is read, authenticated or buffered, so a few large uploads
//! cannot exhaust an instance's memory (the host hands the body over as it
//! arrives: Spin's `crates/trigger-http/src/wasi.rs` passes hyper's body to
//! `new_incoming_request`, and spin-local does the same).

use std::cell::RefCell;

use futures::StreamExt as _;
use orderflow_http::{ApiError, HttpResponse, RequestParts, DEFAULT_BODY_LIMIT, WEBHOOK_BODY_LIMIT};
use spin_sdk::http::{IncomingRequest, OutgoingResponse, Request, Response, ResponseOutparam};

type Work = Box<dyn FnOnce()>;

thread_local! {
    static AFTER: RefCell<Vec<Work>> = RefCell::new(Vec::new());
}

/// Queues `work` to run in this invocation after its response is sent.
pub fn after_response(work: impl FnOnce() + 'static) {
    AFTER.with(|queue| queue.borrow_mut().push(Box::new(work)));
}

/// Runs the queued work, oldest first (the entry point calls it once the
/// response is out).
pub fn run_after_response() {
    while let Some(work) = AFTER.with(|queue| {
        let mut queue = queue.borrow_mut();
        (!queue.is_empty()).then(|| queue.remove(0))
    }) {
        work();
    }
}

/// The cap of a body no route reads (reads, the scheduled routes, the
/// chained hand-overs): room for an empty JSON object and nothing more.
pub const NO_BODY_LIMIT: usize = 1024;

/// The largest body the route `method path` reads, in bytes.
pub fn body_limit(method: &str, path: &str) -> usize {
    match (method, path) {
        ("GET" | "HEAD" | "OPTIONS", _) => NO_BODY_LIMIT,
        (_, "/v1/internal/tick" | "/v1/internal/renew" | "/v1/internal/kick") => NO_BODY_LIMIT,
        (_, p) if p.starts_with("/v1/internal/jobs/") => NO_BODY_LIMIT,
        (_, p) if p.starts_with("/v1/webhooks/") => WEBHOOK_BODY_LIMIT,
        _ => DEFAULT_BODY_LIMIT,
    }
}

/// Reads Spin's incoming request, its body up to the route's
/// [`body_limit`], or the response to send instead: 413 as soon as the body
/// (or its declared `content-length`) passes the cap, 400 when it cannot be
/// read.
pub async fn read_request(incoming: IncomingRequest) -> Result<RequestParts, HttpResponse> {
    let head = Request::builder()
        .method(incoming.method())
        .uri(incoming.uri())
        .headers(incoming.headers())
        .build();
    let mut request = RequestParts::from(head);
    let limit = body_limit(&request.method, &request.path);
    let too_large = |received_bytes: usize| -> HttpResponse {
        ApiError::PayloadTooLarge {
            limit_bytes: limit,
            received_bytes,
        }
        .into()
    };
    if let Some(declared) = request
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if declared > limit as u64 {
            return Err(too_large(usize::try_from(declared).unwrap_or(usize::MAX)));
        }
    }
    let mut body = Vec::new();
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() > limit => return Err(too_large(body.len() + chunk.len())),
            Ok(chunk) => body.extend(chunk),
            Err(e) => {
                eprintln!("request body could not be read: {}", e.to_debug_string());
                return Err(HttpResponse {
                    status: 400,
                    headers: Vec::new(),
                    body: Vec::new(),
                });
            }
        }
    }
    request.body = body;
    Ok(request)
}

/// Sets `response` on the outparam and writes and finishes its body: from
/// here on the caller has its answer.
pub async fn send_response(out: ResponseOutparam, response: HttpResponse) {
    let mut response: Response = response.into();
    let body = std::mem::take(response.body_mut());
    match OutgoingResponse::try_from(response) {
        Ok(outgoing) => {
            if let Err(e) = out.set_with_body(outgoing, body).await {
                eprintln!("could not send the response: {e}");
            }
        }
        Err(e) => eprintln!("could not convert the response: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bodiless_routes_take_almost_nothing_and_writes_their_json_cap() {
        assert_eq!(body_limit("GET", "/v1/orders"), NO_BODY_LIMIT);
        assert_eq!(body_limit("POST", "/v1/internal/tick"), NO_BODY_LIMIT);
        assert_eq!(body_limit("POST", "/v1/internal/jobs/payment/j"), NO_BODY_LIMIT);
        assert_eq!(body_limit("POST", "/v1/webhooks/payments/stripe"), WEBHOOK_BODY_LIMIT);
        assert_eq!(body_limit("POST", "/v1/orders"), DEFAULT_BODY_LIMIT);
        assert_eq!(body_limit("PUT", "/v1/tenant/delivery"), DEFAULT_BODY_LIMIT);
    }
}
