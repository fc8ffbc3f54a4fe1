//! The retry component's tick: the saga's scheduler. It claims due jobs
//! and hands each to the component that owns its kind, through service
//! chaining; the periodic tick also purges what is past its window and
//! cancels the orders left unpaid past the payment window.

use orderflow_http::{ApiError, Principal};

use super::chain::{hand_over, service_token};
use super::clock::sync_clock;
use super::store::open_store;
use super::variables::variables;
use crate::clock;

/// The retry component's tick: claims due jobs and hands each to the
/// component that owns its kind, through service chaining. A job whose
/// hand-over fails stays claimed until its lease ends, then runs again.
/// `caller` is the verified service principal (the route authenticates
/// before it reads its query).
pub fn tick(
    caller: &Principal,
    order: Option<orderflow_core::OrderId>,
    limit: u32,
    correlation_id: &str,
) -> Result<orderflow_http::HttpResponse, ApiError> {
    caller.require_role(&[orderflow_http::Role::Service])?;
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let settings = variables(correlation_id)?;
    let lease = settings.job_lease;
    sync_clock(correlation_id)?;
    let store = open_store(clock::now(), correlation_id)?;
    let token = service_token(&caller.tenant, "saga-worker", correlation_id).map_err(|e| internal(&e))?;
    let report = crate::saga::drive(&store, clock::now, lease, limit, order, |job| {
        hand_over(&store, job, &token, correlation_id)
    })
    .map_err(|e| crate::from_store(e, correlation_id))?;
    // The periodic tick (not an order's kick) also purges what is past its
    // window, a bounded batch per tick.
    let purged = if order.is_none() {
        crate::saga::purge_expired(&store, clock::now()).map_err(|e| crate::from_store(e, correlation_id))?
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
            "expired_payments": expired_payments,
        }),
    ))
}
