//! The application's clock inside Spin: brought in line with the offset an
//! adjustable clock keeps in the key-value store at the start of a request,
//! and moved forward by `POST /v1/internal/clock` (tests only).

use orderflow_http::{ApiError, RequestParts};

use super::roles::require_service;
use super::variables::variables;
use crate::clock::{self, ClockSource};

/// Brings this request's clock in line with the application's: a no-op on
/// the system clock; with `clock = "adjustable"`, reads the offset from the
/// key-value store `default`. Every entry point that touches data calls it
/// before reading the clock ([`context`], [`saga_env`], the tick, the
/// payment webhook), so every component sees the same time.
pub fn sync_clock(correlation_id: &str) -> Result<(), ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    if variables(correlation_id)?.clock == ClockSource::System {
        return Ok(());
    }
    let kv = spin_sdk::key_value::Store::open_default().map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    let stored = kv
        .get(clock::OFFSET_KEY)
        .map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    clock::set_offset(clock::decode_offset(stored.as_deref()).map_err(|e| internal(&e))?);
    Ok(())
}

/// Handles `POST /v1/internal/clock` (service callers only): moves the
/// application's clock forward by `advance_secs`. Answers 404 unless the
/// `clock` variable is `adjustable`, so production time cannot be moved.
/// Advances are read-modify-write on one key: a test makes them one at a time.
pub fn advance_clock(request: &RequestParts, correlation_id: &str) -> Result<orderflow_http::HttpResponse, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        advance_secs: u32,
    }
    // The credential first, on every route: only then whether the clock moves.
    require_service(request, "clock", correlation_id)?;
    if variables(correlation_id)?.clock == ClockSource::System {
        return Err(ApiError::not_found("route", "/v1/internal/clock"));
    }
    let Advance { advance_secs } = orderflow_http::decode_json(
        request.header("content-type"),
        &request.body,
        orderflow_http::DEFAULT_BODY_LIMIT,
    )?;
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    sync_clock(correlation_id)?;
    let offset = clock::offset() + chrono::Duration::seconds(i64::from(advance_secs));
    let kv = spin_sdk::key_value::Store::open_default().map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    kv.set(clock::OFFSET_KEY, &clock::encode_offset(offset))
        .map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    clock::set_offset(offset);
    Ok(orderflow_http::HttpResponse::json(
        200,
        &serde_json::json!({ "now": clock::now(), "offset_secs": offset.num_seconds() }),
    ))
}
