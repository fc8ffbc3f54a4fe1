//! The retry component's tick: the saga's scheduler. It claims due jobs
//! and hands each to the component that owns its kind, through service
//! chaining; the periodic tick also purges what is past its window and
//! cancels the orders left unpaid past the payment window.

use orderflow_http::ApiError;

use super::chain::hand_over;
use super::clock::sync_clock;
use super::store::open_store;
use super::variables::variables;
use crate::clock;

/// The retry component's tick: claims due jobs and hands each to the
/// component that owns its kind, through service chaining. A hand-over
/// that fails counts as a failed attempt of the job's step.
/// The route checks its caller first: the scheduler's token with scope
/// `tick` on `/v1/internal/tick`, service chaining on `/v1/internal/kick`.
pub fn tick(
    order: Option<orderflow_core::OrderId>,
    limit: u32,
    correlation_id: &str,
) -> Result<orderflow_http::HttpResponse, ApiError> {
    let settings = variables(correlation_id)?;
    let lease = settings.job_lease;
    sync_clock(correlation_id)?;
    let store = open_store(clock::now(), correlation_id)?;
    let report = crate::saga::drive(&store, clock::now, lease, limit, order, |job| {
        hand_over(&store, job, correlation_id)
    })
    .map_err(|e| crate::from_store(e, correlation_id))?;
    // The periodic tick (not an order's kick) also purges what is past its
    // window, a bounded batch per tick.
    let purged = if order.is_none() {
        crate::saga::purge_expired(&store, clock::now(), settings.retention)
            .map_err(|e| crate::from_store(e, correlation_id))?
    } else {
        crate::saga::Purged::default()
    };
    // It also cancels the orders left unpaid past the payment window; their
    // intents are voided by the jobs this writes (run by the next tick).
    let expired_payments = if order.is_none() {
        let catalog = orderflow_core::Catalog::standard();
        crate::saga::expire_unpaid_orders(&store, &catalog, settings.payment_window, clock::now())
            .map_err(|e| crate::from_store(e, correlation_id))?
    } else {
        0
    };
    Ok(orderflow_http::HttpResponse::json(
        200,
        &serde_json::json!({
            "ran": report.ran,
            "failed": report.failed,
            "purged_idempotency_keys": purged.idempotency_keys,
            "purged_webhook_events": purged.webhook_events,
            "purged_outbox": purged.outbox,
            "purged_jobs": purged.jobs,
            "purged_credentials": purged.credentials,
            "masked_addresses": purged.masked_addresses,
            "expired_payments": expired_payments,
        }),
    ))
}
