//! The pay component: everything that talks to the payment provider. The
//! provider's signed webhook (a verified, first-seen event becomes a decision
//! on its order, and the saga is asked to carry on at once), and the saga's
//! payment jobs (creating and voiding payment intents), handed over by the
//! retry component through service chaining.

use chrono::Utc;
use orderflow_core::Catalog;
use orderflow_http::{ApiError, RequestParts};
use orderflow_service::saga::{handle_payment_webhook, WebhookOutcome};
use orderflow_service::spin::{self as host, Needs};
use orderflow_service::{dispatch, Route};
use orderflow_store::{SpinDb, Store};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// Per request: a correlation id for logs.
#[derive(Debug)]
pub struct App {
    correlation_id: String,
}

/// What the payment jobs talk to.
const NEEDS: Needs = Needs {
    payments: true,
    cloud: false,
    email: false,
    vault: false,
};

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[
    Route {
        method: "POST",
        path: "/v1/internal/jobs/payment/:id",
        handler: |app, req, params| {
            host::run_handed_job(req, params.get("id").unwrap_or_default(), NEEDS, &app.correlation_id)
        },
    },
    Route {
        method: "POST",
        path: "/v1/webhooks/payments/:provider",
        handler: |app, req, params| {
            let id = &app.correlation_id;
            let provider = params.get("provider").unwrap_or_default();
            if provider != host::variable("payment_provider", id)? {
                return Err(ApiError::not_found("payment provider", provider));
            }
            let secret = host::variable("payment_webhook_secret", id)?;
            let now = Utc::now();
            let db = SpinDb::open(&host::database_url(id)?, "default").map_err(|e| ApiError::internal(id, &e))?;
            let store = Store::new(db);
            store.migrate(now).map_err(|e| ApiError::internal(id, &e))?;
            let (response, outcome) =
                handle_payment_webhook(&store, &Catalog::standard(), provider, secret.as_bytes(), req, now, id)?;
            if let WebhookOutcome::Applied(tenant, order) = &outcome {
                host::kick(tenant, *order, id);
            }
            Ok(response)
        },
    },
];

/// The Spin entry point. Its export glue is generated `unsafe` code, so the
/// workspace's `unsafe_code` lint is relaxed for this module alone.
#[allow(unsafe_code)]
mod entry {
    use super::*;

    #[http_component]
    fn handle(request: Request) -> Response {
        let request = RequestParts::from(request);
        let app = App {
            correlation_id: host::correlation_id(),
        };
        dispatch(ROUTES, &app, &request).into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_and_every_documented_route_is_served() {
        let routes: Vec<(&str, &str)> = super::ROUTES.iter().map(|r| (r.method, r.path)).collect();
        let (undocumented, unserved) = orderflow_service::route_drift("pay", &routes);
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    }
}
