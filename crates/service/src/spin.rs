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
