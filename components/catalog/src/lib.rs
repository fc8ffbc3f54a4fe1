//! The catalog component: the products with their options and rates,
//! quotes for a configuration, and the OpenAPI document. No database.

use orderflow_core::Catalog;
use orderflow_http::{ApiError, HttpResponse, RequestParts};
use orderflow_service::{list_products, quote, Route, OPENAPI};

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

orderflow_service::spin_component!("catalog", ROUTES, |_: &RequestParts| {
    Ok::<_, ApiError>(App {
        catalog: Catalog::standard(),
        correlation_id: orderflow_service::spin::correlation_id(),
    })
});
