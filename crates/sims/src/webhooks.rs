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
    /// Send each delivery again while the endpoint fails (no answer or not
    /// 2xx), up to this many more times, with backoff from 100 ms doubling
    /// to 3.2 s, as Stripe retries (over hours there).
    pub retries: u32,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            deliveries: 1,
            concurrent: false,
            timestamp_offset_secs: 0,
            forge: false,
            retries: 0,
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
    /// How many times it was sent (more than one after retries).
    pub attempts: u32,
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
    let attempt = |_| {
        deliver_retrying(
            url.to_owned(),
            key.clone(),
            body.clone(),
            options.timestamp_offset_secs,
            options.retries,
        )
    };
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

/// One delivery and its retries; reports the last attempt.
async fn deliver_retrying(url: String, secret: String, body: Bytes, offset: i64, retries: u32) -> Delivery {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        let delivery = deliver_once(url.clone(), secret.clone(), body.clone(), offset).await;
        let succeeded = delivery.status.is_some_and(|s| (200..300).contains(&s));
        if succeeded || attempt >= retries {
            return Delivery {
                attempts: attempt + 1,
                ..delivery
            };
        }
        eprintln!(
            "payments: delivery to {url} failed ({}); retrying in {delay:?}",
            delivery
                .status
                .map_or_else(|| delivery.error.clone().unwrap_or_default(), |s| s.to_string())
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(3200));
        attempt += 1;
    }
}

async fn deliver_once(url: String, secret: String, body: Bytes, offset: i64) -> Delivery {
    let header = signature::sign(&secret, clock::unix_now() + offset, &body);
    let headers = [
        ("content-type", "application/json"),
        ("stripe-signature", header.as_str()),
        (
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks) orderflow-sims",
        ),
    ];
    match client::request(Method::POST, &url, &headers, body, DELIVERY_TIMEOUT).await {
        Ok(response) => Delivery {
            status: Some(response.status),
            body: Some(response.text()),
            error: None,
            signature: header,
            attempts: 1,
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
        attempts: 1,
    }
}
