//! The operations routes inside Spin: the health check that probes use and
//! the metrics scrapers read (the `ops` component).

use chrono::Utc;
use orderflow_http::{ApiError, HttpResponse, RequestParts};

use super::{open_store, require_service, sync_clock};
use crate::clock;

/// `GET /livez`: 200 `{"status":"alive"}`, from the process alone. No
/// database, no variable, no credential: a liveness probe that failed on a
/// database outage would restart every pod and fix nothing.
pub fn alive() -> HttpResponse {
    HttpResponse::json(200, &serde_json::json!({ "status": "alive" }))
}

/// `GET /healthz` (the readiness probe): 200 `{"status":"ok"}` when this instance reaches its
/// database (SQLite `default`, or PostgreSQL as `database_url` says) and the
/// schema is at the version this build expects; otherwise 503 with a problem
/// that names no cause (the cause goes to the component's log). No
/// credential: Kubernetes probes carry none. No clock or key-value store:
/// only the database decides.
pub fn health(correlation_id: &str) -> HttpResponse {
    match open_store(Utc::now(), correlation_id) {
        Ok(_) => HttpResponse::json(200, &serde_json::json!({ "status": "ok" })),
        Err(_) => {
            // open_store logged the cause with the correlation id.
            let mut response = HttpResponse::json(
                503,
                &serde_json::json!({
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "detail": "the database is not reachable or its schema is not current",
                    "correlation_id": correlation_id,
                }),
            );
            for (name, value) in &mut response.headers {
                if name == "content-type" {
                    "application/problem+json".clone_into(value);
                }
            }
            response
        }
    }
}

/// `GET /v1/internal/metrics` (a service token with scope `metrics`: the
/// figures are platform-wide, so no tenant's operator may read them):
/// every tenant's operational figures at the application's time, as
/// Prometheus text.
pub fn metrics(request: &RequestParts, correlation_id: &str) -> Result<HttpResponse, ApiError> {
    require_service(request, "metrics", correlation_id)?;
    sync_clock(correlation_id)?;
    let store = open_store(clock::now(), correlation_id)?;
    let figures = store
        .ops_metrics(clock::now())
        .map_err(|e| ApiError::internal(correlation_id, &e))?;
    Ok(HttpResponse {
        status: 200,
        headers: vec![
            (
                "content-type".to_owned(),
                "text/plain; version=0.0.4; charset=utf-8".to_owned(),
            ),
            ("cache-control".to_owned(), "no-store".to_owned()),
        ],
        body: crate::observe::prometheus_text(&figures).into_bytes(),
    })
}
