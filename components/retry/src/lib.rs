//! The retry component: the saga's scheduler. `POST /v1/internal/tick`
//! claims the due saga jobs and hands each to the component that owns its
//! kind (validate, provision-step, deliver, pay) through service chaining.
//! It is driven on a schedule (the runner's `--schedule`, a cron job, or
//! Spin's cron trigger plugin calling the route, with a service token of
//! scope `tick`) and, through `POST /v1/internal/kick` (service chaining
//! only, no token), by other components when they have just queued work
//! for an order. It talks to no provider.

use orderflow_http::{parse_query, ApiError, RequestParts};
use orderflow_service::{spin as host, Params, Route};

/// Per request: a correlation id for logs.
#[derive(Debug)]
pub struct App {
    correlation_id: String,
}

/// Jobs one tick hands over at most, so a tick stays short.
const DEFAULT_LIMIT: u32 = 200;

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[
    Route {
        method: "POST",
        path: "/v1/internal/tick",
        handler: |app, req, params| {
            // The credential first: a caller that may not tick learns
            // nothing from how its query would have been read.
            host::require_service(req, "tick", &app.correlation_id)?;
            tick(app, req, params)
        },
    },
    // Service chaining only: no public route leads here (see
    // orderflow_service::spin::chain), so it takes no token.
    Route {
        method: "POST",
        path: host::KICK_PATH,
        handler: tick,
    },
    // Tests and demonstrations only: 404 unless `clock = "adjustable"`.
    Route {
        method: "POST",
        path: "/v1/internal/clock",
        handler: |app, req, _| host::advance_clock(req, &app.correlation_id),
    },
];

/// Runs the due jobs (of one order with `?order=`), at most `?limit=`.
fn tick(app: &App, req: &RequestParts, _: &Params) -> Result<orderflow_http::HttpResponse, ApiError> {
    let query = parse_query(&req.query, &["order", "limit"])?;
    let order = match query.get("order") {
        Some(raw) => Some(raw.parse().map_err(|_| ApiError::not_found("order", raw.as_str()))?),
        None => None,
    };
    let limit = match query.get("limit") {
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::BadRequest {
                problem: "invalid-query",
                detail: format!("limit must be a positive whole number, not `{raw}`"),
                accepted: None,
            })?,
        None => DEFAULT_LIMIT,
    };
    host::tick(order, limit, &app.correlation_id)
}

orderflow_service::spin_component!("retry", ROUTES, |_: &RequestParts| {
    Ok::<_, ApiError>(App {
        correlation_id: host::correlation_id(),
    })
});
