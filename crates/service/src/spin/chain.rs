//! Service chaining between the app's components: short-lived service
//! tokens, the in-process hop (`http://<component>.spin.internal/…`), the
//! kick that asks the saga to run an order's due jobs now, and the step
//! components' side of a job hand-over.

use chrono::Utc;
use orderflow_http::{ApiError, RequestParts, Role};
use orderflow_store::{Job, SpinDb, Store, StoreError};

use super::clock::sync_clock;
use super::roles::require;
use super::store::{open_store, saga_env, Needs};
use super::variables::{keyring, variables};
use crate::clock;

/// A short-lived service token for calls between the app's components.
pub fn service_token(tenant: &orderflow_core::TenantId, subject: &str, correlation_id: &str) -> Result<String, String> {
    let keyring = keyring(correlation_id).map_err(|e| e.to_string())?;
    let now = Utc::now().timestamp();
    Ok(keyring.mint(subject, tenant, Role::Service, now, now + 60))
}

/// The URL of `path` on another component of the app, through service
/// chaining.
pub fn internal_url(component: &str, path: &str) -> String {
    format!("http://{component}.spin.internal{path}")
}

/// POSTs to another component of the app through service chaining.
pub fn chain(url: &str, token: &str) -> Result<(u16, Vec<u8>), String> {
    let request = spin_sdk::http::Request::builder()
        .method(spin_sdk::http::Method::Post)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header(crate::observe::CORRELATION_HEADER, crate::observe::correlation_id())
        .build();
    let response: spin_sdk::http::Response =
        spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| e.to_string())?;
    Ok((*response.status(), response.into_body()))
}

/// Asks the saga worker (service chaining to the `retry` component) to run
/// the order's due jobs now, instead of at its next scheduled tick. Best
/// effort: if it fails, the scheduled tick runs them.
pub fn kick(tenant: &orderflow_core::TenantId, order: orderflow_core::OrderId, correlation_id: &str) {
    let result = service_token(tenant, "saga-kick", correlation_id).and_then(|token| {
        let (status, _) = chain(
            &internal_url("retry", &format!("/v1/internal/tick?order={order}")),
            &token,
        )?;
        if status >= 300 {
            return Err(format!("worker answered {status}"));
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!(
            "saga kick for {order} failed [correlation_id={correlation_id}]: {e}; the scheduled tick will run it"
        );
    }
}

/// Hands the claimed `job` to the component that owns its kind, through
/// service chaining, and returns whether its call succeeded. A hand-over
/// that fails counts as a failed attempt of the job's step (retried on the
/// step's schedule, then rolled back or parked: a step that traps every
/// time does not run every second for ever) rather than leaving it claimed
/// until its lease ends; a claim that moved on meanwhile (it did finish
/// after all) is left alone.
pub fn hand_over(store: &Store<SpinDb>, job: &Job, token: &str, correlation_id: &str) -> Result<bool, StoreError> {
    let url = orderflow_core::saga::handoff_url(job.kind, &job.id, job.claim);
    let failed = match chain(&url, token) {
        Ok((200, body)) => {
            return Ok(serde_json::from_slice::<serde_json::Value>(&body)
                .map(|v| v["succeeded"] == true)
                .unwrap_or(false))
        }
        Ok((status, body)) => {
            eprintln!(
                "saga: {url} answered {status}: {} [correlation_id={correlation_id}]; recorded as a failed attempt",
                String::from_utf8_lossy(&body)
            );
            format!("{} answered {status}", job.kind)
        }
        Err(e) => {
            eprintln!("saga: {url} unreachable: {e} [correlation_id={correlation_id}]; recorded as a failed attempt");
            format!("{} unreachable", job.kind)
        }
    };
    let now = clock::now();
    let scale = variables(correlation_id).map_or(1.0, |c| c.retry_delay_scale);
    let catalog = orderflow_core::Catalog::standard();
    match crate::saga::record_failed_hand_over(store, &catalog, scale, job, &failed, now) {
        Ok(()) | Err(StoreError::ClaimLost(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Jobs one drive of an order hands over at most.
const ORDER_DRIVE_LIMIT: u32 = 50;

/// Runs the order's due jobs from this invocation: claims each and hands
/// it to the component that owns its kind, without a hop through the
/// `retry` component (which [`kick`] takes). Best effort: if it fails, the
/// scheduled tick runs them.
pub fn drive_order(tenant: &orderflow_core::TenantId, order: orderflow_core::OrderId, correlation_id: &str) {
    let result = (|| -> Result<crate::saga::TickReport, String> {
        let lease = variables(correlation_id).map_err(|e| e.to_string())?.job_lease;
        sync_clock(correlation_id).map_err(|e| e.to_string())?;
        let store = open_store(clock::now(), correlation_id).map_err(|e| e.to_string())?;
        let token = service_token(tenant, "saga-kick", correlation_id)?;
        crate::saga::drive(&store, clock::now, lease, ORDER_DRIVE_LIMIT, Some(order), |job| {
            hand_over(&store, job, &token, correlation_id)
        })
        .map_err(|e| e.to_string())
    })();
    if let Err(e) = result {
        eprintln!(
            "saga drive for {order} failed [correlation_id={correlation_id}]: {e}; the scheduled tick will run it"
        );
    }
}

/// How many more of its order's due jobs a step component claims and runs
/// after the one handed over (the other items, polls due at once).
const OWN_JOBS_PER_HAND_OVER: u32 = 16;

/// Handles `POST /v1/internal/jobs/<segment>/{id}` in a saga step component:
/// a service caller hands over a claimed job (`?claim=<epoch>` names the
/// claim), which runs here with only the providers and keys in `needs` —
/// and only while the job is still under that claim. Then the component
/// carries the order on: it claims and runs the order's other due jobs of
/// its own kinds, so one hand-over runs every item's step.
pub fn run_handed_job(
    request: &RequestParts,
    job_id: &str,
    needs: Needs,
    correlation_id: &str,
) -> Result<orderflow_http::HttpResponse, ApiError> {
    require(request, &[Role::Service], correlation_id)?;
    let query = orderflow_http::parse_query(&request.query, &["claim"])?;
    let claim = query
        .get("claim")
        .and_then(|raw| raw.parse::<i64>().ok())
        .ok_or_else(|| ApiError::BadRequest {
            problem: "invalid-query",
            detail: "claim must be the whole-number epoch of the job's claim".to_owned(),
            accepted: None,
        })?;
    let env = saga_env(needs, correlation_id)?;
    let ran = crate::saga::run_handed_jobs(&env, job_id, claim, OWN_JOBS_PER_HAND_OVER)
        .map_err(|e| crate::from_store(e, correlation_id))?;
    crate::observe::note_outcome(ran.map(|(succeeded, _)| succeeded));
    let more = ran.map(|(_, more)| more).unwrap_or_default();
    Ok(orderflow_http::HttpResponse::json(
        200,
        &serde_json::json!({
            "job": job_id,
            "ran": ran.is_some(),
            "succeeded": matches!(ran, Some((true, _))),
            "more_ran": more.ran,
            "more_failed": more.failed,
        }),
    ))
}
