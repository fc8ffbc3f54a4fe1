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
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = auth {
        headers.push(("authorization", auth));
    }
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    client::request(method.clone(), url, &headers, body, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
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
        Response::json(self.status, json!({ "received": true }))
    }
}

impl Receiver {
    /// A receiver answering 200.
    pub async fn start() -> Self {
        Self::start_with(200, None).await
    }

    /// A receiver that answers only when `n` requests are in flight at once.
    pub async fn requiring_concurrency(n: usize) -> Self {
        Self::start_with(200, Some(Barrier::new(n))).await
    }

    async fn start_with(status: u16, barrier: Option<Barrier>) -> Self {
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
