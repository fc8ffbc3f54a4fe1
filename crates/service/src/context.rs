//! What a use case needs: the store, the catalog, the caller, the time, and
//! a correlation id that ties a response to its log lines.

use chrono::{DateTime, Utc};
use orderflow_core::{Actor, Catalog};
use orderflow_http::{Principal, Role};
use orderflow_store::{Db, Store};
use uuid::Uuid;

/// One request's context, owned so that route tables can be constants.
/// Time and fresh ids come from outside, so use cases stay deterministic
/// under test.
pub struct Ctx<D: Db> {
    /// The database.
    pub store: Store<D>,
    /// The catalog orders are priced from.
    pub catalog: Catalog,
    /// The authenticated caller.
    pub principal: Principal,
    /// Now.
    pub now: DateTime<Utc>,
    /// A source of new unique ids (UUIDv7 in components).
    pub new_id: fn() -> Uuid,
    /// Names this request in logs and in 500 responses.
    pub correlation_id: String,
}

impl<D: Db> std::fmt::Debug for Ctx<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("principal", &self.principal)
            .field("now", &self.now)
            .field("correlation_id", &self.correlation_id)
            .finish_non_exhaustive()
    }
}

impl<D: Db> Ctx<D> {
    /// The domain actor the caller's role acts as.
    pub fn actor(&self) -> Actor {
        match self.principal.role {
            Role::Customer => Actor::Customer,
            Role::Operator => Actor::Operator,
            Role::Service => Actor::System,
        }
    }

    /// A fresh id.
    pub fn id(&self) -> Uuid {
        (self.new_id)()
    }
}
