//! The catalog component: the products with their options and rates,
//! quotes for a configuration, and the OpenAPI document. No database.

use orderflow_core::Catalog;
use orderflow_http::{ApiError, HttpResponse, RequestParts};
use orderflow_service::{dispatch, list_products, quote, Route, OPENAPI};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// What the catalog's handlers read.
#[derive(Debug)]
pub struct App {
    catalog: Catalog,
    correlation_id: String,
}

impl App {
    /// Every route except the OpenAPI document requires a valid credential.
    fn authenticate(&self, request: &RequestParts) -> Result<(), ApiError> {
        orderflow_service::spin::principal(request, &self.correlation_id).map(|_| ())
    }
}

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[
    Route {
        method: "GET",
        path: "/v1/products",
        handler: |app, req, _| {
            app.authenticate(req)?;
            Ok(list_products(&app.catalog))
        },
    },
    Route {
        method: "POST",
        path: "/v1/quotes",
        handler: |app, req, _| {
            app.authenticate(req)?;
            quote(&app.catalog, req, &app.correlation_id)
        },
    },
    Route {
        method: "GET",
        path: "/v1/openapi.json",
        handler: |_, _, _| {
            Ok(HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: OPENAPI.as_bytes().to_vec(),
            })
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
        let app = App { catalog: Catalog::standard(), correlation_id: orderflow_service::spin::correlation_id() };
        dispatch(ROUTES, &app, &request).into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_and_every_documented_route_is_served() {
        let routes: Vec<(&str, &str)> = super::ROUTES.iter().map(|r| (r.method, r.path)).collect();
        let (undocumented, unserved) = orderflow_service::route_drift("catalog", &routes);
        assert!(undocumented.is_empty(), "routes missing from openapi.json: {undocumented:?}");
        assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
    }
}
