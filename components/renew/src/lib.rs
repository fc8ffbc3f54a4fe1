//! The renew component: subscriptions' renewals (SPEC §10).
//! `POST /v1/internal/renew` (service callers only) claims the due
//! subscriptions of every tenant and does what is due for each: charges the
//! next period's renewal through the payment provider (one intent per
//! subscription and period; the signed webhook to the pay component extends
//! the period), records a declined charge with its retry, suspends the
//! service of a period that ended unpaid and resumes a paid one at the cloud
//! provider, and ends subscriptions cancelled at period end. Driven on a
//! schedule like the saga's tick (the runner's `--schedule`, a cron job, or
//! Spin's cron trigger plugin calling the route).

use orderflow_http::{parse_query, ApiError, HttpResponse, RequestParts};
use orderflow_service::spin::{self as host, Needs};
use orderflow_service::{run_renewals, Route};

/// Per request: a correlation id for logs.
#[derive(Debug)]
pub struct App {
    correlation_id: String,
}

/// Subscriptions one run handles at most, so a run stays short.
const DEFAULT_LIMIT: u32 = 100;

/// The payment provider (renewal charges) and the cloud (suspend, resume).
const NEEDS: Needs = Needs {
    payments: true,
    cloud: true,
    email: false,
    vault: false,
};

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[Route {
    method: "POST",
    path: "/v1/internal/renew",
    handler: |app, req, _| {
        let id = &app.correlation_id;
        host::require_service(req, "renew", id)?;
        let query = parse_query(&req.query, &["limit"])?;
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
        let env = host::saga_env(NEEDS, id)?;
        let report = run_renewals(&env, limit).map_err(|e| orderflow_service::from_store(e, id))?;
        Ok(HttpResponse::json(200, &report))
    },
}];

orderflow_service::spin_component!("renew", ROUTES, |_: &RequestParts| {
    Ok::<_, ApiError>(App {
        correlation_id: host::correlation_id(),
    })
});
