//! Starting the simulators in-process, calling them, and a webhook receiver
//! that records what it is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use hyper::{HeaderMap, Method};
use orderflow_sims::client::{self, ClientResponse};
use orderflow_sims::server::{self, Handler, Request, Response};
use orderflow_sims::{Config, Running};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Barrier};

pub const SECRET: &str = "whsec_test_secret";
pub const PAYMENTS_KEY: &str = "Bearer sk_test_123";
pub const CLOUD_TOKEN: &str = "Bearer ck_123";
pub const EMAIL_KEY: &str = "Bearer ek_123";

/// Starts the simulators with default settings and `SECRET`.
pub async fn start() -> Running {
    start_with(|_| {}).await
}

/// Starts the simulators after `change` adjusts the configuration.
pub async fn start_with(change: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config {
        webhook_secret: SECRET.to_owned(),
        ..Config::default()
    };
    change(&mut config);
    orderflow_sims::start(config)
        .await
        .unwrap_or_else(|e| panic!("cannot start the simulators: {e}"))
}

/// One request with an optional bearer and idempotency key.
pub async fn call(
    method: Method,
    url: &str,
    auth: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> ClientResponse {
    // The payment API speaks Stripe's form encoding; everything else JSON.
    let stripe = url.contains("/v1/") && auth.is_some_and(|a| a.starts_with("Bearer sk_"));
    let content_type = if stripe {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let mut headers = vec![("content-type", content_type)];
    if let Some(auth) = auth {
        headers.push(("authorization", auth));
    }
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let body = match body {
        Some(b) if stripe => stripe_form(&b),
        Some(b) => b.to_string(),
        None => String::new(),
    };
    client::request(method.clone(), url, &headers, body, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// A JSON object as Stripe's form encoding: nested objects and arrays as
/// bracketed keys (`metadata[order_id]=…`, `line_items[0][quantity]=1`).
pub fn stripe_form(body: &Value) -> String {
    fn flatten(out: &mut form_urlencoded::Serializer<'_, String>, key: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if key.is_empty() {
                        k.clone()
                    } else {
                        format!("{key}[{k}]")
                    };
                    flatten(out, &key, v);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    flatten(out, &format!("{key}[{i}]"), v);
                }
            }
            Value::String(s) => {
                out.append_pair(key, s);
            }
            Value::Null => {}
            other => {
                out.append_pair(key, &other.to_string());
            }
        }
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    flatten(&mut out, "", body);
    out.finish()
}

/// `GET url` of a `/_sim` listing, returning its `data` array.
pub async fn list(url: &str) -> Vec<Value> {
    let response = call(Method::GET, url, None, None, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["data"].as_array().cloned().unwrap_or_default()
}

/// `POST url` with a JSON body and no credentials (the `/_sim` surface).
pub async fn control(url: &str, body: Value) -> ClientResponse {
    call(Method::POST, url, None, None, Some(body)).await
}

/// A webhook endpoint that records every request and answers `status`.
#[derive(Debug)]
pub struct Receiver {
    pub url: String,
    handler: Arc<Recorder>,
    _stop: watch::Sender<bool>,
}

/// One recorded webhook.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn signature(&self) -> String {
        self.headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug)]
struct Recorder {
    status: u16,
    /// Answer 500 to this many requests first.
    fail_first: usize,
    barrier: Option<Barrier>,
    received: Mutex<Vec<Received>>,
    count: watch::Sender<usize>,
}

impl Handler for Recorder {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        if let Some(barrier) = &self.barrier {
            // Only returns once `n` requests are in flight together.
            barrier.wait().await;
        }
        let count = {
            let mut received = self.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            received.push(Received {
                headers: req.headers,
                body: req.body,
            });
            received.len()
        };
        self.count.send_replace(count);
        let status = if count <= self.fail_first { 500 } else { self.status };
        Response::json(status, json!({ "received": true }))
    }
}

impl Receiver {
    /// A receiver answering 200.
    pub async fn start() -> Self {
        Self::start_with(200, None, 0).await
    }

    /// A receiver that answers only when `n` requests are in flight at once.
    pub async fn requiring_concurrency(n: usize) -> Self {
        Self::start_with(200, Some(Barrier::new(n)), 0).await
    }

    /// A receiver that answers 500 to the first `n` requests, 200 after.
    pub async fn failing_first(n: usize) -> Self {
        Self::start_with(200, None, n).await
    }

    async fn start_with(status: u16, barrier: Option<Barrier>, fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!(
            "http://{}/webhooks/payments/sim",
            listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
        );
        let (count, _) = watch::channel(0);
        let handler = Arc::new(Recorder {
            status,
            fail_first,
            barrier,
            received: Mutex::new(Vec::new()),
            count,
        });
        let (stop, rx) = watch::channel(false);
        tokio::spawn(server::serve(listener, handler.clone(), rx));
        Self {
            url,
            handler,
            _stop: stop,
        }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.handler
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits (up to 10 s) until at least `n` webhooks have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut count = self.handler.count.subscribe();
        tokio::time::timeout(Duration::from_secs(10), count.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("fewer than {n} webhooks arrived"))
            .unwrap_or_else(|e| panic!("receiver gone: {e}"));
        self.received()
    }
}
