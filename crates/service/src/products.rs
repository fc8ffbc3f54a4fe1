//! The catalog as clients see it, and quotes: pricing a configuration
//! without creating anything.

use orderflow_core::{order_total, parse_items, price_item, Catalog, ProductType};
use orderflow_http::{decode_json, ApiError, HttpResponse, RequestParts, DEFAULT_BODY_LIMIT};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::from_violations;

/// `GET /v1/products`: every product with its regions, cycles, options and rates.
pub fn list_products(catalog: &Catalog) -> HttpResponse {
    let products: Vec<Value> = ProductType::ALL
        .iter()
        .map(|&p| {
            json!({
                "product": p,
                "regions": catalog.regions_for(p),
                "billing_cycles": catalog.cycles_for(p),
            })
        })
        .collect();
    HttpResponse::json(
        200,
        &json!({
            "catalog_version": catalog.version,
            "currency": "EUR",
            "products": products,
            "vps_plans": catalog.vps_plans,
            "os_images": catalog.os_images,
            "rates": catalog.rates,
            "limits": catalog.limits,
        }),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteBody {
    items: Value,
}

/// `POST /v1/quotes`: the price of each item and the total, as submit would charge.
pub fn quote(catalog: &Catalog, request: &RequestParts, correlation_id: &str) -> Result<HttpResponse, ApiError> {
    let QuoteBody { items } = decode_json(request.header("content-type"), &request.body, DEFAULT_BODY_LIMIT)?;
    let specs = parse_items(catalog, &items).map_err(from_violations)?;
    let prices = specs
        .iter()
        .map(|s| price_item(catalog, s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(correlation_id, &e))?;
    let total = order_total(&prices).map_err(|e| ApiError::internal(correlation_id, &e))?;
    let lines: Vec<Value> = specs
        .iter()
        .zip(&prices)
        .map(|(s, p)| json!({ "item": s, "price": p }))
        .collect();
    Ok(HttpResponse::json(
        200,
        &json!({ "catalog_version": catalog.version, "items": lines, "total": total }),
    ))
}
