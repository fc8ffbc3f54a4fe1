//! Delivering payment events to the platform's webhook endpoint, signed the
//! Stripe way, with the adversarial options tests need: repeated and
//! concurrent delivery, shifted timestamps, forged signatures.

use std::time::Duration;

use hyper::body::Bytes;
use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::{client, clock, signature};

/// How long one delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The most deliveries one request may ask for.
pub(crate) const MAX_DELIVERIES: u32 = 1000;

/// How to deliver an event.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryOptions {
    /// Send the same event this many times (0 records it without sending).
    pub deliveries: u32,
    /// Send them all at once instead of one after another.
    pub concurrent: bool,
    /// Sign with `now + offset` (e.g. -600 for a stale signature).
    pub timestamp_offset_secs: i64,
    /// Sign with a wrong secret.
    pub forge: bool,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            deliveries: 1,
            concurrent: false,
            timestamp_offset_secs: 0,
            forge: false,
        }
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The webhook endpoint's status, or `None` on a transport error.
    pub status: Option<u16>,
    /// The endpoint's response body (on a response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The transport error (on no response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The `Stripe-Signature` header sent.
    pub signature: String,
}

/// Delivers `body` to `url` as `options` say and reports every attempt, in
/// order of sending (for concurrent deliveries, in order of spawning).
pub(crate) async fn deliver(url: &str, secret: &str, body: Bytes, options: &DeliveryOptions) -> Vec<Delivery> {
    let count = options.deliveries.min(MAX_DELIVERIES);
    let key = if options.forge {
        format!("{secret}_forged")
    } else {
        secret.to_owned()
    };
    let attempt = |_| deliver_once(url.to_owned(), key.clone(), body.clone(), options.timestamp_offset_secs);
    if options.concurrent {
        let handles: Vec<_> = (0..count).map(|i| tokio::spawn(attempt(i))).collect();
        let mut out = Vec::with_capacity(handles.len());
        for handle in handles {
            out.push(
                handle
                    .await
                    .unwrap_or_else(|e| failed(String::new(), format!("delivery task failed: {e}"))),
            );
        }
        out
    } else {
        let mut out = Vec::new();
        for i in 0..count {
            out.push(attempt(i).await);
        }
        out
    }
}

async fn deliver_once(url: String, secret: String, body: Bytes, offset: i64) -> Delivery {
    let header = signature::sign(&secret, clock::unix_now() + offset, &body);
    let headers = [
        ("content-type", "application/json"),
        ("stripe-signature", header.as_str()),
        ("user-agent", "orderflow-sims/1 (Stripe-like webhooks)"),
    ];
    match client::request(Method::POST, &url, &headers, body, DELIVERY_TIMEOUT).await {
        Ok(response) => Delivery {
            status: Some(response.status),
            body: Some(response.text()),
            error: None,
            signature: header,
        },
        Err(error) => failed(header, error),
    }
}

fn failed(signature: String, error: String) -> Delivery {
    Delivery {
        status: None,
        body: None,
        error: Some(error),
        signature,
    }
}
