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

use std::cell::RefCell;

use orderflow_http::{HttpResponse, RequestParts};
use spin_sdk::http::conversions::TryFromIncomingRequest as _;
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

/// Reads Spin's incoming request (its whole body), or the response to send
/// when it cannot be read.
pub async fn read_request(incoming: IncomingRequest) -> Result<RequestParts, HttpResponse> {
    match Request::try_from_incoming_request(incoming).await {
        Ok(request) => Ok(RequestParts::from(request)),
        Err(e) => {
            eprintln!("request could not be read: {e}");
            Err(HttpResponse {
                status: 400,
                headers: Vec::new(),
                body: Vec::new(),
            })
        }
    }
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
