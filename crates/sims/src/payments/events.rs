//! Events: Stripe's envelopes, recorded in order and delivered signed to
//! the webhook URL, retried with backoff when the endpoint fails.

#[allow(clippy::wildcard_imports)]
use super::*;

impl State {
    /// Records an event and, when a webhook endpoint is set, returns it for delivery.
    pub(super) fn emit(&mut self, kind: &'static str, object: Value, now: i64) -> Vec<Emitted> {
        let body = self.record_event(kind, object, now);
        self.target()
            .map(|(url, secret)| (url, secret, body))
            .into_iter()
            .collect()
    }

    pub(super) fn record_event(&mut self, kind: &'static str, object: Value, now: i64) -> Bytes {
        let id = ids::new_id("evt");
        let intent = object["id"].as_str().unwrap_or_default().to_owned();
        let event = json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
        });
        let body = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        self.events.push(Event {
            id,
            intent,
            kind,
            body: body.clone(),
        });
        body
    }
}

pub(super) async fn deliver_and_report(
    event: Bytes,
    target: Option<(String, String)>,
    effect: Effect,
    options: &DeliveryOptions,
) -> Response {
    let deliveries = match &target {
        Some((url, secret)) => webhooks::deliver(url, secret, event.clone(), options).await,
        None => Vec::new(),
    };
    let statuses: Vec<Option<u16>> = deliveries.iter().map(|d| d.status).collect();
    ok(json!({
        "event": serde_json::from_slice::<Value>(&event).unwrap_or(Value::Null),
        "effect": match effect {
            Effect::Applied => "applied",
            Effect::Repeated => "repeated",
            Effect::OutOfOrder => "out_of_order",
        },
        "webhook_url": target.map(|(url, _)| url),
        "statuses": statuses,
        "deliveries": deliveries,
    }))
}

/// How an event the provider sends on its own is delivered: once, retried
/// with backoff while the endpoint fails.
pub(super) fn automatic() -> DeliveryOptions {
    DeliveryOptions {
        retries: AUTOMATIC_RETRIES,
        ..DeliveryOptions::default()
    }
}
