//! The OpenAPI 3.1 document of the whole API, and the check that keeps it
//! and the route tables in step.

use std::collections::BTreeSet;

use serde_json::Value;

/// The document, served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Compares a component's routes (`(METHOD, "/v1/orders/:id")`) with the
/// operations the document assigns to it (`x-component`). Returns the routes
/// the document lacks and the documented operations no route serves; both
/// empty when they agree.
pub fn route_drift(component: &str, routes: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap_or(Value::Null);
    let mut documented = BTreeSet::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let op = &item[method];
                if op.is_object() && op["x-component"] == component {
                    documented.insert(format!("{} {}", method.to_uppercase(), to_template(path)));
                }
            }
        }
    }
    let served: BTreeSet<String> = routes.iter().map(|(m, p)| format!("{m} {p}")).collect();
    (
        served.difference(&documented).cloned().collect(),
        documented.difference(&served).cloned().collect(),
    )
}

/// `/v1/orders/{id}` → `/v1/orders/:id`.
fn to_template(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => format!(":{name}"),
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_json() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
    }

    #[test]
    fn every_operation_names_its_component_and_an_operation_id() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let op = &item[method];
                if op.is_object() {
                    assert!(op["x-component"].is_string(), "{method} {path} has no x-component");
                    assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
                }
            }
        }
    }

    #[test]
    fn a_route_missing_from_the_document_is_reported() {
        let (undocumented, unserved) = route_drift("orders", &[("DELETE", "/v1/orders/:id")]);
        assert_eq!(undocumented, ["DELETE /v1/orders/:id"]);
        assert!(unserved.contains(&"GET /v1/orders/:id".to_owned()));
    }
}
