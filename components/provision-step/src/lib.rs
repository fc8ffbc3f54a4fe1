//! The provision-step component: creates each item at the cloud provider, polls until
//! it runs, seals its access details, and deprovisions failed or cancelled
//! items (the compensation).
//! It runs saga jobs handed over by the retry component through service
//! chaining (a private route), with only the variables and outbound hosts
//! its jobs need.

use orderflow_http::RequestParts;
use orderflow_service::spin::{self as host, Needs};
use orderflow_service::{dispatch, Route};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// Per request: a correlation id for logs.
#[derive(Debug)]
pub struct App {
    correlation_id: String,
}

/// What this component's jobs talk to.
const NEEDS: Needs = Needs {
    payments: false,
    cloud: true,
    email: false,
    vault: true,
};

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[Route {
    method: "POST",
    path: "/v1/internal/jobs/provision/:id",
    handler: |app, req, params| {
        host::run_handed_job(req, params.get("id").unwrap_or_default(), NEEDS, &app.correlation_id)
    },
}];

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
        let (undocumented, unserved) = orderflow_service::route_drift("provision-step", &routes);
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    }
}
