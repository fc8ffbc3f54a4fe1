//! The analytics component: `GET /v1/analytics`, the caller's tenant's order
//! figures, cached per tenant for five minutes in Spin's key-value store
//! `default`. Wiring only: Spin request → context and cache → use case →
//! Spin response.

use orderflow_http::{ApiError, RequestParts};
use orderflow_service::{get_analytics, spin as host, Ctx, FigureCache, Route};
use orderflow_store::SpinDb;

/// The request's context and the figure cache.
#[derive(Debug)]
pub struct App {
    ctx: Ctx<SpinDb>,
    cache: KvCache,
}

/// Spin's key-value store `default`, opened per request.
#[derive(Debug)]
struct KvCache(spin_sdk::key_value::Store);

impl FigureCache for KvCache {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.get(key).map_err(|e| format!("{e:?}"))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0.set(key, value).map_err(|e| format!("{e:?}"))
    }
}

/// Every route this component serves; `/v1/openapi.json` documents exactly these.
pub const ROUTES: &[Route<App>] = &[Route {
    method: "GET",
    path: "/v1/analytics",
    handler: |app, _, _| get_analytics(&app.ctx, &app.cache),
}];

orderflow_service::spin_component!("analytics", ROUTES, |request: &RequestParts| {
    let ctx = host::context(request)?;
    let store = spin_sdk::key_value::Store::open_default()
        .map_err(|e| ApiError::internal(ctx.correlation_id.as_str(), &format!("key-value store: {e:?}")))?;
    Ok::<_, ApiError>(App {
        ctx,
        cache: KvCache(store),
    })
});
