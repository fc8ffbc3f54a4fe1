//! Opening a request's context inside a Spin component: the clock, fresh
//! ids, the keyring from the `auth_keys` variable, and the SQLite store.

use chrono::Utc;
use orderflow_core::Catalog;
use orderflow_http::{authenticate, ApiError, Keyring, Principal, RequestParts};
use orderflow_store::{SpinSqlite, Store};
use uuid::Uuid;

use crate::context::Ctx;

/// A new correlation id for this request.
pub fn correlation_id() -> String {
    Uuid::now_v7().to_string()
}

/// The keyring from the `auth_keys` variable (a secret).
pub fn keyring(correlation_id: &str) -> Result<Keyring, ApiError> {
    let raw = spin_sdk::variables::get("auth_keys").map_err(|e| ApiError::internal(correlation_id, &format!("{e:?}")))?;
    raw.parse().map_err(|e| ApiError::internal(correlation_id, &e))
}

/// The request's verified caller (401 otherwise).
pub fn principal(request: &RequestParts, correlation_id: &str) -> Result<Principal, ApiError> {
    authenticate(request.header("authorization"), &keyring(correlation_id)?, Utc::now().timestamp())
}

/// The full context of an authenticated request against the `default` SQLite database.
pub fn context(request: &RequestParts) -> Result<Ctx<SpinSqlite>, ApiError> {
    let correlation_id = correlation_id();
    let principal = principal(request, &correlation_id)?;
    let now = Utc::now();
    let db = SpinSqlite::open("default").map_err(|e| ApiError::internal(&correlation_id, &e))?;
    let store = Store::new(db);
    store.migrate(now).map_err(|e| ApiError::internal(&correlation_id, &e))?;
    Ok(Ctx { store, catalog: Catalog::standard(), principal, now, new_id: Uuid::now_v7, correlation_id })
}

/// A Spin variable, or a 500 naming it (its value is never logged).
pub fn variable(name: &str, correlation_id: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name)
        .map_err(|e| ApiError::internal(correlation_id, &format!("variable `{name}`: {e:?}")))
}

/// Spin's outbound HTTP, blocking on the SDK's executor.
#[derive(Debug)]
pub struct SpinOutbound;

impl crate::saga::Outbound for SpinOutbound {
    fn send(&self, request: crate::saga::OutRequest) -> Result<crate::saga::OutResponse, String> {
        use spin_sdk::http::{Method, Request, Response};
        let method = match request.method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            other => return Err(format!("unsupported method {other}")),
        };
        let mut builder = Request::builder();
        builder.method(method).uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder.header(name.as_str(), value.as_str());
        }
        let outgoing = builder.body(request.body).build();
        let response: Response =
            spin_sdk::http::run(spin_sdk::http::send(outgoing)).map_err(|e| format!("{e}"))?;
        Ok(crate::saga::OutResponse { status: *response.status(), body: response.into_body() })
    }
}

/// 24 random bytes from the host (WASI `random`).
fn random_nonce() -> [u8; crate::saga::NONCE_LEN] {
    let mut nonce = [0u8; crate::saga::NONCE_LEN];
    // The host's random source does not fail; were it to, a zero nonce must
    // not be used, so abort the request rather than encrypt with it.
    getrandom::fill(&mut nonce).unwrap_or_else(|e| panic!("no randomness from the host: {e}"));
    nonce
}

/// The saga worker's environment, from the component's variables.
pub fn saga_env(correlation_id: &str) -> Result<crate::saga::SagaEnv<SpinSqlite>, ApiError> {
    use crate::saga::{Endpoint, Providers, SagaEnv, Vault};
    let var = |name: &str| variable(name, correlation_id);
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let providers = Providers {
        payment_provider: var("payment_provider")?,
        payments: Endpoint { url: var("payment_api_url")?, key: var("payment_api_key")? },
        cloud: Endpoint { url: var("cloud_api_url")?, key: var("cloud_api_key")? },
        email: Endpoint { url: var("email_api_url")?, key: var("email_api_key")? },
    };
    let vault: Vault = var("credentials_key")?.parse().map_err(|e| internal(&e))?;
    let lease_secs: i64 = var("job_lease_secs")?.parse().map_err(|e| internal(&e))?;
    let poll_ms: i64 = var("provider_poll_ms")?.parse().map_err(|e| internal(&e))?;
    let retry_delay_scale: f64 = var("retry_delay_scale")?.parse().map_err(|e| internal(&e))?;
    let now = Utc::now();
    let db = SpinSqlite::open("default").map_err(|e| internal(&e))?;
    let store = Store::new(db);
    store.migrate(now).map_err(|e| internal(&e))?;
    Ok(SagaEnv {
        store,
        catalog: Catalog::standard(),
        providers,
        vault,
        out: Box::new(SpinOutbound),
        clock: Utc::now,
        nonce: random_nonce,
        lease: chrono::Duration::seconds(lease_secs),
        poll_interval: chrono::Duration::milliseconds(poll_ms),
        default_recipient: var("delivery_default_email")?,
        retry_delay_scale,
    })
}

/// Asks the saga worker (service chaining to the `retry` component) to run
/// the order's due jobs now, instead of at its next scheduled tick. Best
/// effort: if it fails, the scheduled tick runs them.
pub fn kick(tenant: &orderflow_core::TenantId, order: orderflow_core::OrderId, correlation_id: &str) {
    let result = (|| -> Result<(), String> {
        let keyring = keyring(correlation_id).map_err(|e| e.to_string())?;
        let now = Utc::now().timestamp();
        let token = keyring.mint("saga-kick", tenant, orderflow_http::Role::Service, now, now + 60);
        let request = spin_sdk::http::Request::builder()
            .method(spin_sdk::http::Method::Post)
            .uri(format!("http://retry.spin.internal/v1/internal/tick?order={order}"))
            .header("authorization", format!("Bearer {token}"))
            .build();
        let response: spin_sdk::http::Response =
            spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| e.to_string())?;
        if *response.status() >= 300 {
            return Err(format!("worker answered {}", response.status()));
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("saga kick for {order} failed [correlation_id={correlation_id}]: {e}; the scheduled tick will run it");
    }
}
