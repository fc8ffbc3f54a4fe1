//! The ops component: what operators and the platform ask of a running
//! instance. `GET /livez` (no credential: the liveness probe) says only
//! that the instance answers, touching nothing, so a database outage
//! restarts no pod; `GET /healthz` (no credential: the readiness probe)
//! says whether this instance reaches its database at the schema version
//! it expects; `GET /v1/internal/metrics` (a service token with scope
//! `metrics`) gives the saga's
//! queue, the parked orders, the outbox backlog and the orders by state in
//! the Prometheus text format. Wiring only.

use orderflow_http::{ApiError, RequestParts};
use orderflow_service::{spin as host, Route};

/// Per request: a correlation id for logs.
#[derive(Debug)]
pub struct App {
    correlation_id: String,
}

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[
    Route {
        method: "GET",
        path: "/livez",
        handler: |_, _, _| Ok(host::ops::alive()),
    },
    Route {
        method: "GET",
        path: "/healthz",
        handler: |app, _, _| Ok(host::ops::health(&app.correlation_id)),
    },
    Route {
        method: "GET",
        path: "/v1/internal/metrics",
        handler: |app, req, _| host::ops::metrics(req, &app.correlation_id),
    },
];

orderflow_service::spin_component!("ops", ROUTES, |_: &RequestParts| {
    Ok::<_, ApiError>(App {
        correlation_id: host::correlation_id(),
    })
});
