//! The component's Spin variables, read and parsed once per
//! request into typed values (Spin instantiates a component per request,
//! so "once per instance" is "once per request").
//!
//! Each setting has one type and one parser: the job lease is whole
//! seconds, the poll interval whole milliseconds, the retry scale a
//! multiplier, the renewal lead whole seconds. A variable a component does
//! not declare reads as its default, so a manifest grants only what the
//! component uses; a malformed value is a 500 naming the variable, never
//! its value.

use std::cell::OnceCell;
use std::rc::Rc;

use chrono::Duration;
use orderflow_http::{ApiError, Keyring};

use crate::clock::ClockSource;

/// The typed settings every component shares.
#[derive(Debug, Clone)]
pub struct Variables {
    /// `clock`: the system clock unless a component declares it `adjustable`.
    pub clock: ClockSource,
    /// `database_url`: empty for Spin's SQLite `default`, else PostgreSQL.
    pub database_url: String,
    /// `job_lease_secs`: how long a claimed saga job is its worker's.
    pub job_lease: Duration,
    /// `provider_poll_ms`: how soon to ask again about a resource still
    /// being created.
    pub provider_poll: Duration,
    /// `retry_delay_scale`: multiplies the saga's retry schedule (1 outside tests).
    pub retry_delay_scale: f64,
    /// `renewal_lead_secs`: how long before a period ends its renewal is charged.
    pub renewal_lead: Duration,
    /// `subscription_grace_days`: how long a suspended subscription may
    /// stay unpaid before it ends.
    pub subscription_grace: Duration,
    /// `webhook_saga`: when the payment webhook carries the saga on.
    pub webhook_saga: WebhookSaga,
    /// `provision_deadline_secs`: how long a resource may stay in creation
    /// before its item is rolled back and refunded.
    pub provision_deadline: Duration,
    /// `payment_window_secs`: how long a submitted order may stay unpaid
    /// before the tick cancels it and voids its intent.
    pub payment_window: Duration,
}

/// When the payment webhook carries the saga on, once its decision is
/// committed. Either way the jobs are durable first and the scheduled tick
/// runs whatever is left; this only chooses who waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookSaga {
    /// `after_response` (the default): the provider gets its answer at once
    /// and the same invocation runs the saga after it. On a Spin that aborts
    /// a guest once its response is sent (its main branch, see
    /// crates/runner/README.md) that part is cut short and the saga waits
    /// for the tick.
    AfterResponse,
    /// `before_response`: the webhook runs the saga, then answers; the
    /// provider waits for it, on every Spin alike.
    BeforeResponse,
}

impl std::str::FromStr for WebhookSaga {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "after_response" => Ok(WebhookSaga::AfterResponse),
            "before_response" => Ok(WebhookSaga::BeforeResponse),
            other => Err(format!(
                "variable `webhook_saga`: `{other}` is neither `after_response` nor `before_response`"
            )),
        }
    }
}

impl Variables {
    /// The defaults of settings a component does not declare.
    const DEFAULT_LEASE_SECS: i64 = 30;
    const DEFAULT_POLL_MS: i64 = 500;
    const DEFAULT_RENEWAL_LEAD_SECS: i64 = 3 * 24 * 3600;
    const DEFAULT_GRACE_DAYS: u32 = 14;
    const DEFAULT_PAYMENT_WINDOW_SECS: i64 = 24 * 3600;
    const DEFAULT_PROVISION_DEADLINE_SECS: i64 = 30 * 60;

    fn load(correlation_id: &str) -> Result<Self, ApiError> {
        let bad = |name: &str, e: &dyn std::fmt::Display| {
            ApiError::internal(correlation_id, &format!("variable `{name}`: {e}"))
        };
        let whole = |name: &str, default: i64| -> Result<i64, ApiError> {
            match optional(name, correlation_id)? {
                None => Ok(default),
                Some(raw) => raw.trim().parse::<i64>().map_err(|e| bad(name, &e)),
            }
        };
        let clock = match optional("clock", correlation_id)? {
            None => ClockSource::System,
            Some(raw) => raw
                .parse()
                .map_err(|e: String| ApiError::internal(correlation_id, &e))?,
        };
        let retry_delay_scale = match optional("retry_delay_scale", correlation_id)? {
            None => 1.0,
            Some(raw) => raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| bad("retry_delay_scale", &"must be a number ≥ 0"))?,
        };
        let subscription_grace = match optional("subscription_grace_days", correlation_id)? {
            None => Self::DEFAULT_GRACE_DAYS,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .map_err(|e| bad("subscription_grace_days", &e))?,
        };
        let webhook_saga = match optional("webhook_saga", correlation_id)? {
            None => WebhookSaga::AfterResponse,
            Some(raw) => raw
                .parse()
                .map_err(|e: String| ApiError::internal(correlation_id, &e))?,
        };
        Ok(Self {
            clock,
            database_url: optional("database_url", correlation_id)?.unwrap_or_default(),
            job_lease: Duration::seconds(whole("job_lease_secs", Self::DEFAULT_LEASE_SECS)?),
            provider_poll: Duration::milliseconds(whole("provider_poll_ms", Self::DEFAULT_POLL_MS)?),
            retry_delay_scale,
            renewal_lead: Duration::seconds(whole("renewal_lead_secs", Self::DEFAULT_RENEWAL_LEAD_SECS)?),
            subscription_grace: Duration::days(i64::from(subscription_grace)),
            webhook_saga,
            provision_deadline: Duration::seconds(
                Some(whole("provision_deadline_secs", Self::DEFAULT_PROVISION_DEADLINE_SECS)?)
                    .filter(|secs| *secs > 0)
                    .ok_or_else(|| bad("provision_deadline_secs", &"must be a whole number of seconds above 0"))?,
            ),
            payment_window: Duration::seconds(
                Some(whole("payment_window_secs", Self::DEFAULT_PAYMENT_WINDOW_SECS)?)
                    .filter(|secs| *secs > 0)
                    .ok_or_else(|| bad("payment_window_secs", &"must be a whole number of seconds above 0"))?,
            ),
        })
    }
}

thread_local! {
    static CONFIG: OnceCell<Rc<Variables>> = const { OnceCell::new() };
    static KEYRING: OnceCell<Rc<Keyring>> = const { OnceCell::new() };
}

/// This request's configuration, parsed on first use.
pub fn variables(correlation_id: &str) -> Result<Rc<Variables>, ApiError> {
    if let Some(config) = CONFIG.with(|c| c.get().cloned()) {
        return Ok(config);
    }
    let config = Rc::new(Variables::load(correlation_id)?);
    CONFIG.with(|c| c.get_or_init(|| config.clone()).clone());
    Ok(config)
}

/// The keyring from the `auth_keys` variable (a secret), parsed once per
/// request: the token check and the service tokens this request mints
/// share it. A malformed or short key is a 500 whose log line names the
/// variable and the key id, never a secret.
pub fn keyring(correlation_id: &str) -> Result<Rc<Keyring>, ApiError> {
    if let Some(keyring) = KEYRING.with(|k| k.get().cloned()) {
        return Ok(keyring);
    }
    let keyring: Keyring = variable("auth_keys", correlation_id)?
        .parse()
        .map_err(|e| ApiError::internal(correlation_id, &format!("variable `auth_keys`: {e}")))?;
    let keyring = Rc::new(keyring);
    KEYRING.with(|k| k.get_or_init(|| keyring.clone()).clone());
    Ok(keyring)
}

/// A Spin variable, or a 500 naming it (its value is never logged).
pub fn variable(name: &str, correlation_id: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).map_err(|e| ApiError::internal(correlation_id, &format!("variable `{name}`: {e:?}")))
}

/// A Spin variable the component may not declare: `None` when it does not.
fn optional(name: &str, correlation_id: &str) -> Result<Option<String>, ApiError> {
    match spin_sdk::variables::get(name) {
        Ok(value) => Ok(Some(value)),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
        Err(e) => Err(ApiError::internal(correlation_id, &format!("variable `{name}`: {e:?}"))),
    }
}

/// The payment provider the variables `payment_provider`,
/// `payment_api_url`, `payment_api_key` and `payment_api_version` configure.
pub fn payment_provider(correlation_id: &str) -> Result<crate::saga::PaymentProvider, ApiError> {
    let var = |name: &str| variable(name, correlation_id);
    let config = crate::saga::PaymentConfig {
        provider: var("payment_provider")?,
        api_url: var("payment_api_url")?,
        api_key: var("payment_api_key")?,
        api_version: var("payment_api_version")?,
    };
    crate::saga::PaymentProvider::from_config(&config).map_err(|e| ApiError::internal(correlation_id, &e))
}

/// The cloud routing table (`cloud_routes`: `region=provider,…`; unset,
/// [`DEFAULT_ROUTES`](crate::saga::clouds::DEFAULT_ROUTES)) with an adapter
/// for each provider it names, from that provider's URL and key variables:
/// `cloud_api_url`/`cloud_api_key` (our own API),
/// `hetzner_api_url`/`hetzner_api_token` (Hetzner Cloud). Only the
/// variables of a provider the table names are read.
pub fn cloud_routes(correlation_id: &str) -> Result<crate::saga::clouds::CloudRoutes, ApiError> {
    use crate::saga::clouds::{parse_routes, CloudKind, CloudRoutes, HetznerCloud, OrderflowCloud, DEFAULT_ROUTES};
    use crate::saga::Endpoint;
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let table = optional("cloud_routes", correlation_id)?.unwrap_or_else(|| DEFAULT_ROUTES.to_owned());
    let routes = parse_routes(&table).map_err(|e| internal(&format!("variable `cloud_routes`: {e}")))?;
    let uses = |kind: CloudKind| routes.values().any(|k| *k == kind);
    let endpoint = |url: &str, key: &str| -> Result<Endpoint, ApiError> {
        Ok(Endpoint {
            url: variable(url, correlation_id)?.trim_end_matches('/').to_owned(),
            key: variable(key, correlation_id)?,
        })
    };
    let orderflow = if uses(CloudKind::Orderflow) {
        Some(OrderflowCloud::new(endpoint("cloud_api_url", "cloud_api_key")?))
    } else {
        None
    };
    let hetzner = if uses(CloudKind::Hetzner) {
        Some(HetznerCloud::new(endpoint("hetzner_api_url", "hetzner_api_token")?))
    } else {
        None
    };
    CloudRoutes::new(routes, orderflow, hetzner).map_err(|e| internal(&format!("variable `cloud_routes`: {e}")))
}

/// The e-mail API at `endpoint`: `email_provider` (`orderflow`, the
/// default, or `resend`) sending from `email_from`.
pub fn mailer(endpoint: crate::saga::Endpoint, correlation_id: &str) -> Result<crate::saga::mailers::Mailer, ApiError> {
    let provider = optional("email_provider", correlation_id)?.unwrap_or_else(|| "orderflow".to_owned());
    let from = optional("email_from", correlation_id)?.unwrap_or_default();
    crate::saga::mailers::Mailer::from_config(&provider, endpoint, &from)
        .map_err(|e| ApiError::internal(correlation_id, &format!("variable `email_provider`: {e}")))
}

/// The `payment_webhook_secret` variable: one secret, or several separated
/// by commas while one is rotated.
///
/// Each secret must hold at least [`orderflow_http::MIN_SECRET_BYTES`] bytes;
/// a shorter one is a 500 whose log line names the variable and the
/// length, never the value.
pub fn webhook_secrets(correlation_id: &str) -> Result<orderflow_http::WebhookSecrets, ApiError> {
    let raw = variable("payment_webhook_secret", correlation_id)?;
    for secret in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        orderflow_http::check_secret_length("payment_webhook_secret", secret)
            .map_err(|e| ApiError::internal(correlation_id, &e))?;
    }
    raw.parse().map_err(|e: String| ApiError::internal(correlation_id, &e))
}

/// The `database_url` variable: empty when the component does not declare it
/// (SQLite), the PostgreSQL URL otherwise.
pub fn database_url(correlation_id: &str) -> Result<String, ApiError> {
    variables(correlation_id).map(|c| c.database_url.clone())
}

/// The `renewal_lead_secs` variable: how long before a subscription period
/// ends its renewal is charged; three days where a component does not
/// declare it.
pub fn renewal_lead(correlation_id: &str) -> Result<Duration, ApiError> {
    variables(correlation_id).map(|c| c.renewal_lead)
}
