//! Opening a request's context: the store on the database the variables
//! name (empty `database_url`: Spin's SQLite `default`; `postgres://…`:
//! PostgreSQL as the application role), a request's context, and the
//! saga's environment, each on the clock [`super::clock`] brought in line.

use orderflow_core::Catalog;
use orderflow_http::{ApiError, RequestParts};
use orderflow_store::{SpinDb, Store};
use uuid::Uuid;

use super::clock::sync_clock;
use super::outbound::{random_nonce, SpinOutbound};
use super::roles::principal;
use super::variables::{variable, variables};
use crate::clock;
use crate::context::Ctx;

/// The store on the database `database_url` names (Spin's SQLite `default`
/// when it is empty), its schema checked (one query when it is current).
/// On PostgreSQL the schema must already be migrated by its owner (`relay
/// migrate`); `migrate` then only checks the version.
pub fn open_store(now: chrono::DateTime<chrono::Utc>, correlation_id: &str) -> Result<Store<SpinDb>, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let url = variables(correlation_id)?.database_url.clone();
    let store = Store::new(SpinDb::open(&url, "default").map_err(|e| internal(&e))?);
    store.migrate(now).map_err(|e| crate::from_store(e, correlation_id))?;
    Ok(store)
}

/// The full context of an authenticated request, against the database
/// `database_url` names.
pub fn context(request: &RequestParts) -> Result<Ctx<SpinDb>, ApiError> {
    let correlation_id = crate::observe::correlation_id();
    let principal = principal(request, &correlation_id)?;
    sync_clock(&correlation_id)?;
    let now = clock::now();
    let store = open_store(now, &correlation_id)?;
    Ok(Ctx {
        store,
        catalog: Catalog::standard(),
        principal,
        now,
        new_id: Uuid::now_v7,
        correlation_id,
    })
}

/// Which providers and keys a saga component uses: each reads only the
/// variables of what it talks to, so its manifest grants nothing more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The payments API.
    pub payments: bool,
    /// The cloud API.
    pub cloud: bool,
    /// The e-mail API.
    pub email: bool,
    /// The credentials key.
    pub vault: bool,
}

/// The saga's environment for a component with `needs`, from its
/// configuration and the variables of the providers it talks to.
pub fn saga_env(needs: Needs, correlation_id: &str) -> Result<crate::saga::SagaEnv<SpinDb>, ApiError> {
    use crate::saga::{Endpoint, Providers, SagaEnv, Vault};
    let var = |name: &str| variable(name, correlation_id);
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let endpoint = |on: bool, url: &str, key: &str| -> Result<Option<Endpoint>, ApiError> {
        Ok(if on {
            Some(Endpoint {
                url: var(url)?,
                key: var(key)?,
            })
        } else {
            None
        })
    };
    let providers = Providers {
        payments: if needs.payments {
            Some(super::variables::payment_provider(correlation_id)?)
        } else {
            None
        },
        cloud: if needs.cloud {
            Some(super::variables::cloud_routes(correlation_id)?)
        } else {
            None
        },
        email: match endpoint(needs.email, "email_api_url", "email_api_key")? {
            Some(endpoint) => Some(super::variables::mailer(endpoint, correlation_id)?),
            None => None,
        },
    };
    let vault: Option<Vault> = if needs.vault {
        Some(
            var("credentials_key")?
                .parse()
                .map_err(|e| internal(&format!("variable `credentials_key`: {e}")))?,
        )
    } else {
        None
    };
    let config = variables(correlation_id)?;
    sync_clock(correlation_id)?;
    let store = open_store(clock::now(), correlation_id)?;
    Ok(SagaEnv {
        store,
        catalog: Catalog::standard(),
        providers,
        vault,
        out: Box::new(SpinOutbound {
            timeout: crate::saga::provider_timeout(config.job_lease),
        }),
        clock: clock::now,
        nonce: random_nonce,
        lease: config.job_lease,
        poll_interval: config.provider_poll,
        provision_deadline: config.provision_deadline,
        retry_delay_scale: config.retry_delay_scale,
        renewal_lead: config.renewal_lead,
        subscription_grace: config.subscription_grace,
    })
}
