//! The HTTP/1.1 shell shared by the three providers: accept loop, request
//! collection, JSON responses, and shutdown on a watch signal.
//!
//! Handlers are plain `async` functions of a fully read [`Request`]; every
//! response body is JSON, except the payment provider's checkout page (HTML).
//! A response may be trickled ([`Trickle`]): its body sent one byte at a
//! time, each within any between-bytes timeout, the whole far slower.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One provider: turns a request into a response.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request. Must not panic; errors are JSON responses.
    fn handle(self: Arc<Self>, req: Request) -> impl Future<Output = Response> + Send;

    /// A name to log each request under (`<name> <method> <path> <status>`
    /// on stderr), or `None` to stay quiet.
    fn log_name(&self) -> Option<&'static str> {
        None
    }
}

/// A request with its body fully read.
#[derive(Debug)]
pub struct Request {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
}

impl Request {
    /// The path split on `/`, without empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// A header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Idempotency-Key` header, if present and non-empty.
    pub fn idempotency_key(&self) -> Option<String> {
        self.header("idempotency-key")
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
    }

    /// Whether `Authorization: Bearer <token>` carries a token with `prefix`
    /// and something after it.
    pub fn bearer_has_prefix(&self, prefix: &str) -> bool {
        self.headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| token.len() > prefix.len() && token.starts_with(prefix))
    }

    /// The body as JSON (an empty body reads as `{}`) and as `T`, or a 400
    /// `invalid_request_error` naming what is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<(Value, T), Response> {
        let value: Value = if self.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&self.body)
                .map_err(|e| Response::error(400, "invalid_request_error", format!("invalid JSON body: {e}")))?
        };
        let parsed = serde_json::from_value(value.clone())
            .map_err(|e| Response::error(400, "invalid_request_error", format!("invalid request: {e}")))?;
        Ok((value, parsed))
    }
}

/// A JSON response (or, for the checkout page, an HTML one).
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// An HTML body sent instead of `body`.
    pub html: Option<String>,
    /// Send the body one byte at a time (a fault).
    pub trickle: Option<Trickle>,
}

/// How a trickled body is sent: one byte every `every`; `on_end` runs once
/// the body is done with, sent in full or abandoned by the client.
#[derive(Clone)]
pub struct Trickle {
    /// The pause before each byte.
    pub every: Duration,
    /// Called when the body is dropped.
    pub on_end: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Trickle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trickle")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// A body sent a byte at a time (with its exact length announced).
struct TrickleBody {
    bytes: Bytes,
    every: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    on_end: Arc<dyn Fn() + Send + Sync>,
}

impl Body for TrickleBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            return Poll::Ready(None);
        }
        if this.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = tokio::time::Instant::now() + this.every;
        this.sleep.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(this.bytes.split_to(1)))))
    }

    fn is_end_stream(&self) -> bool {
        self.bytes.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.bytes.len() as u64)
    }
}

impl Drop for TrickleBody {
    fn drop(&mut self) {
        (self.on_end)();
    }
}

type OutBody = BoxBody<Bytes, Infallible>;

impl Response {
    /// `status` with `body`. An invalid status becomes 500.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            headers: Vec::new(),
            html: None,
            trickle: None,
        }
    }

    /// `status` with an HTML page.
    pub fn html(status: u16, page: String) -> Self {
        Self {
            html: Some(page),
            ..Self::json(status, Value::Null)
        }
    }

    /// `303 See Other` to `location`.
    pub fn see_other(location: &str) -> Self {
        Self::json(303, Value::Null).with_header("location", location)
    }

    /// `{"error":{"type":…,"message":…}}` with `status`.
    pub fn error(status: u16, kind: &str, message: impl Into<String>) -> Self {
        Self::json(status, json!({ "error": { "type": kind, "message": message.into() } }))
    }

    /// The 404 for a path no route matches.
    pub fn no_route(req: &Request) -> Self {
        Self::error(404, "not_found", format!("no route for {} {}", req.method, req.path))
    }

    /// Adds a field to the `error` object (e.g. `code`, `resource_id`).
    pub fn with_error_field(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Some(error) = self.body.get_mut("error").and_then(Value::as_object_mut) {
            error.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The status as a number.
    pub fn status_code(&self) -> u16 {
        self.status.as_u16()
    }
}

/// Serves `handler` on `listener` until `shutdown` changes or its sender is
/// dropped; open connections are then closed gracefully.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>, shutdown: watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                // A failed accept (e.g. the peer reset) only loses that connection.
                let Ok((stream, _)) = accepted else { continue };
                tokio::spawn(connection(stream, handler.clone(), shutdown.clone()));
            }
        }
    }
}

async fn connection<H: Handler>(stream: tokio::net::TcpStream, handler: Arc<H>, mut shutdown: watch::Receiver<bool>) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(dispatch(handler, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        // Connection errors (client went away) are the client's business.
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn dispatch<H: Handler>(handler: Arc<H>, req: hyper::Request<Incoming>) -> hyper::Response<OutBody> {
    let (parts, body) = req.into_parts();
    let response = match body.collect().await {
        Ok(collected) => {
            let request = Request {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: parts.headers,
                body: collected.to_bytes(),
            };
            let (name, method, path) = (handler.log_name(), request.method.clone(), request.path.clone());
            let response = handler.handle(request).await;
            if let Some(name) = name {
                eprintln!("{name} {method} {path} {}", response.status_code());
            }
            response
        }
        Err(e) => Response::error(400, "invalid_request_error", format!("cannot read the body: {e}")),
    };
    encode(response)
}

fn encode(response: Response) -> hyper::Response<OutBody> {
    let (body, content_type) = match response.html {
        Some(page) => (page.into_bytes(), "text/html; charset=utf-8"),
        None => (
            serde_json::to_vec(&response.body).unwrap_or_else(|_| b"{}".to_vec()),
            "application/json",
        ),
    };
    let body = match response.trickle {
        None => Full::new(Bytes::from(body)).boxed(),
        Some(Trickle { every, on_end }) => TrickleBody {
            bytes: Bytes::from(body),
            every,
            sleep: Box::pin(tokio::time::sleep(every)),
            on_end,
        }
        .boxed(),
    };
    let mut out = hyper::Response::new(body);
    *out.status_mut() = response.status;
    out.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in response.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.headers_mut().insert(name, value);
        }
    }
    out
}
