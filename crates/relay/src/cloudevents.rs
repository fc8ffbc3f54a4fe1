//! CloudEvents 1.0 in the Kafka protocol binding's binary mode: the event's
//! attributes travel as `ce_`-prefixed headers, its data as the message value
//! (JSON, `content-type: application/json`), its subject (the order id) is
//! also the message key.

use chrono::SecondsFormat;
use orderflow_store::RelayRow;
use rdkafka::message::{Header, OwnedHeaders};

/// The `source` of every event we publish.
pub const CE_SOURCE: &str = "/orderflow/orders";

/// The headers of one outbox row.
pub fn headers(row: &RelayRow) -> OwnedHeaders {
    let time = row.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let version = row.order_version.to_string();
    [
        ("ce_specversion", "1.0"),
        ("ce_id", row.event_id.as_str()),
        ("ce_type", row.event_type.as_str()),
        ("ce_source", CE_SOURCE),
        ("ce_time", time.as_str()),
        ("ce_subject", row.key.as_str()),
        // Extension attributes: lower-case alphanumerics only (CloudEvents §3.1.1).
        ("ce_tenantid", row.tenant.as_str()),
        ("ce_orderversion", version.as_str()),
        ("content-type", "application/json"),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(value),
        })
    })
}
