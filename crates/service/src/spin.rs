//! Opening a request's context inside a Spin component: the clock, fresh
//! ids, the keyring from the `auth_keys` variable, and the store on the
//! database the `database_url` variable names (empty: Spin's SQLite
//! `default`; `postgres://…`: PostgreSQL as the application role).

use chrono::Utc;
use orderflow_core::Catalog;
use orderflow_http::{authenticate, ApiError, Keyring, Principal, RequestParts};
use orderflow_store::{SpinDb, Store};
use uuid::Uuid;

use crate::clock::{self, ClockSource};
use crate::context::Ctx;

/// This request's correlation id: the caller's `x-correlation-id` when it
/// sent a well-formed one, else a fresh UUIDv7 ([`crate::observe`]).
pub fn correlation_id() -> String {
    crate::observe::correlation_id()
}

/// The keyring from the `auth_keys` variable (a secret). A malformed or
/// short key is a 500 whose log line names the variable and the key id,
/// never a secret.
pub fn keyring(correlation_id: &str) -> Result<Keyring, ApiError> {
    let raw = variable("auth_keys", correlation_id)?;
    raw.parse()
        .map_err(|e| ApiError::internal(correlation_id, &format!("variable `auth_keys`: {e}")))
}

/// The request's verified caller (401 otherwise).
pub fn principal(request: &RequestParts, correlation_id: &str) -> Result<Principal, ApiError> {
    let principal = authenticate(
        request.header("authorization"),
        &keyring(correlation_id)?,
        Utc::now().timestamp(),
    )?;
    crate::observe::note_tenant(&principal.tenant);
    Ok(principal)
}

/// The `database_url` variable: empty when the component does not declare it
/// (SQLite), the PostgreSQL URL otherwise.
pub fn database_url(correlation_id: &str) -> Result<String, ApiError> {
    match spin_sdk::variables::get("database_url") {
        Ok(url) => Ok(url),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(String::new()),
        Err(e) => Err(ApiError::internal(
            correlation_id,
            &format!("variable `database_url`: {e:?}"),
        )),
    }
}

/// Brings this request's clock in line with the application's: a no-op on
/// the system clock; with `clock = "adjustable"`, reads the offset from the
/// key-value store `default`. Every entry point that touches data calls it
/// before reading the clock ([`context`], [`saga_env`], [`tick`], the
/// payment webhook), so every component sees the same time.
pub fn sync_clock(correlation_id: &str) -> Result<(), ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    if clock_source(correlation_id)? == ClockSource::System {
        return Ok(());
    }
    let kv = spin_sdk::key_value::Store::open_default().map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    let stored = kv
        .get(clock::OFFSET_KEY)
        .map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    clock::set_offset(clock::decode_offset(stored.as_deref()).map_err(|e| internal(&e))?);
    Ok(())
}

/// The `clock` variable: the system clock unless a component declares it
/// `adjustable`.
fn clock_source(correlation_id: &str) -> Result<ClockSource, ApiError> {
    match spin_sdk::variables::get("clock") {
        Ok(raw) => raw.parse().map_err(|e: String| ApiError::internal(correlation_id, &e)),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(ClockSource::System),
        Err(e) => Err(ApiError::internal(correlation_id, &format!("variable `clock`: {e:?}"))),
    }
}

/// Handles `POST /v1/internal/clock` (service callers only): moves the
/// application's clock forward by `advance_secs`. Answers 404 unless the
/// `clock` variable is `adjustable`, so production time cannot be moved.
/// Advances are read-modify-write on one key: a test makes them one at a time.
pub fn advance_clock(request: &RequestParts, correlation_id: &str) -> Result<orderflow_http::HttpResponse, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        advance_secs: u32,
    }
    // The credential first, on every route: only then whether the clock moves.
    principal(request, correlation_id)?.require_role(&[orderflow_http::Role::Service])?;
    if clock_source(correlation_id)? == ClockSource::System {
        return Err(ApiError::not_found("route", "/v1/internal/clock"));
    }
    let Advance { advance_secs } = orderflow_http::decode_json(
        request.header("content-type"),
        &request.body,
        orderflow_http::DEFAULT_BODY_LIMIT,
    )?;
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    sync_clock(correlation_id)?;
    let offset = clock::offset() + chrono::Duration::seconds(i64::from(advance_secs));
    let kv = spin_sdk::key_value::Store::open_default().map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    kv.set(clock::OFFSET_KEY, &clock::encode_offset(offset))
        .map_err(|e| internal(&format!("key-value store: {e:?}")))?;
    clock::set_offset(offset);
    Ok(orderflow_http::HttpResponse::json(
        200,
        &serde_json::json!({ "now": clock::now(), "offset_secs": offset.num_seconds() }),
    ))
}

/// The store on the database `database_url` names (Spin's SQLite `default`
/// when it is empty), its schema brought up to date.
pub fn open_store(now: chrono::DateTime<Utc>, correlation_id: &str) -> Result<Store<SpinDb>, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let store = Store::new(SpinDb::open(&database_url(correlation_id)?, "default").map_err(|e| internal(&e))?);
    store.migrate(now).map_err(|e| crate::from_store(e, correlation_id))?;
    Ok(store)
}

/// The full context of an authenticated request, against the database
/// `database_url` names. On PostgreSQL the schema must already be migrated by
/// its owner (`relay migrate`); `migrate` then only checks the version.
pub fn context(request: &RequestParts) -> Result<Ctx<SpinDb>, ApiError> {
    let correlation_id = correlation_id();
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

/// A Spin variable, or a 500 naming it (its value is never logged).
pub fn variable(name: &str, correlation_id: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name).map_err(|e| ApiError::internal(correlation_id, &format!("variable `{name}`: {e:?}")))
}

/// Spin's outbound HTTP, blocking, with every phase of a call bounded by
/// `timeout` (connect, first byte, between bytes), which is kept below the
/// job lease: a provider that hangs fails the call, it does not outlive the
/// worker's claim.
#[derive(Debug)]
pub struct SpinOutbound {
    /// The bound on each phase of a call.
    pub timeout: std::time::Duration,
}

impl crate::saga::Outbound for SpinOutbound {
    /// Sends through `wasi:http/outgoing-handler` with request options: the
    /// SDK's `send` passes none, so a provider that accepts the connection
    /// and never answers would hold the job past its lease.
    fn send(&self, request: crate::saga::OutRequest) -> Result<crate::saga::OutResponse, String> {
        use spin_sdk::http::conversions::TryIntoOutgoingRequest;
        use spin_sdk::http::{Method, Request};
        use spin_sdk::wit::wasi::http0_2_0::{outgoing_handler, types};
        use wasi::io::streams::StreamError;

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
        let (outgoing, buffered) = builder
            .body(request.body)
            .build()
            .try_into_outgoing_request()
            .map_err(|e| format!("{e}"))?;
        let options = types::RequestOptions::new();
        let nanos = Some(u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX));
        // A host that cannot bound a phase says so; the others still apply.
        let _ = options.set_connect_timeout(nanos);
        let _ = options.set_first_byte_timeout(nanos);
        let _ = options.set_between_bytes_timeout(nanos);
        let body = outgoing.body().map_err(|()| "request body already taken".to_owned())?;
        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(|e| format!("{e:?}"))?;
        {
            let stream = body.write().map_err(|()| "request body stream unavailable".to_owned())?;
            for chunk in buffered.unwrap_or_default().chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|e| format!("{e:?}"))?;
            }
        }
        types::OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
        future.subscribe().block();
        let response = future
            .get()
            .ok_or_else(|| "no response".to_owned())?
            .map_err(|()| "response already taken".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let incoming = response.consume().map_err(|()| "response body already taken".to_owned())?;
        let mut bytes = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| "response body stream unavailable".to_owned())?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(format!("{e:?}")),
                }
            }
        }
        Ok(crate::saga::OutResponse { status, body: bytes })
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

/// The saga's environment for a component with `needs`, from its variables.
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
            Some(payment_provider(correlation_id)?)
        } else {
            None
        },
        cloud: endpoint(needs.cloud, "cloud_api_url", "cloud_api_key")?,
        email: endpoint(needs.email, "email_api_url", "email_api_key")?,
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
    let default_recipient = if needs.email {
        var("delivery_default_email")?
    } else {
        String::new()
    };
    let number = |name: &str| -> Result<f64, ApiError> { var(name)?.parse().map_err(|e| internal(&e)) };
    let (lease_secs, poll_ms, retry_delay_scale) = (
        number("job_lease_secs")?,
        number("provider_poll_ms")?,
        number("retry_delay_scale")?,
    );
    sync_clock(correlation_id)?;
    let store = open_store(clock::now(), correlation_id)?;
    #[allow(clippy::cast_possible_truncation)]
    Ok(SagaEnv {
        store,
        catalog: Catalog::standard(),
        providers,
        vault,
        out: Box::new(SpinOutbound {
            timeout: crate::saga::provider_timeout(chrono::Duration::seconds(lease_secs as i64)),
        }),
        clock: clock::now,
        nonce: random_nonce,
        lease: chrono::Duration::seconds(lease_secs as i64),
        poll_interval: chrono::Duration::milliseconds(poll_ms as i64),
        default_recipient,
        retry_delay_scale,
        renewal_lead: renewal_lead(correlation_id)?,
        subscription_grace: subscription_grace(correlation_id)?,
    })
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

/// The `renewal_lead_secs` variable: how long before a subscription period
/// ends its renewal is charged; three days where a component does not
/// declare it.
pub fn renewal_lead(correlation_id: &str) -> Result<chrono::Duration, ApiError> {
    match spin_sdk::variables::get("renewal_lead_secs") {
        Ok(raw) => raw
            .parse::<i64>()
            .map(chrono::Duration::seconds)
            .map_err(|e| ApiError::internal(correlation_id, &format!("variable `renewal_lead_secs`: {e}"))),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(chrono::Duration::days(3)),
        Err(e) => Err(ApiError::internal(
            correlation_id,
            &format!("variable `renewal_lead_secs`: {e:?}"),
        )),
    }
}

/// The `subscription_grace_days` variable: how long a suspended
/// subscription may stay unpaid before it ends; 14 days where a component
/// does not declare it.
pub fn subscription_grace(correlation_id: &str) -> Result<chrono::Duration, ApiError> {
    match spin_sdk::variables::get("subscription_grace_days") {
        Ok(raw) => raw
            .parse::<u32>()
            .map(|days| chrono::Duration::days(i64::from(days)))
            .map_err(|e| ApiError::internal(correlation_id, &format!("variable `subscription_grace_days`: {e}"))),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(chrono::Duration::days(14)),
        Err(e) => Err(ApiError::internal(
            correlation_id,
            &format!("variable `subscription_grace_days`: {e:?}"),
        )),
    }
}

/// A short-lived service token for calls between the app's components.
pub fn service_token(tenant: &orderflow_core::TenantId, subject: &str, correlation_id: &str) -> Result<String, String> {
    let keyring = keyring(correlation_id).map_err(|e| e.to_string())?;
    let now = Utc::now().timestamp();
    Ok(keyring.mint(subject, tenant, orderflow_http::Role::Service, now, now + 60))
}

/// POSTs to another component of the app through service chaining.
pub fn chain(url: &str, token: &str) -> Result<(u16, Vec<u8>), String> {
    let request = spin_sdk::http::Request::builder()
        .method(spin_sdk::http::Method::Post)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header(crate::observe::CORRELATION_HEADER, crate::observe::correlation_id())
        .build();
    let response: spin_sdk::http::Response =
        spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| e.to_string())?;
    Ok((*response.status(), response.into_body()))
}

/// Asks the saga worker (service chaining to the `retry` component) to run
/// the order's due jobs now, instead of at its next scheduled tick. Best
/// effort: if it fails, the scheduled tick runs them.
pub fn kick(tenant: &orderflow_core::TenantId, order: orderflow_core::OrderId, correlation_id: &str) {
    let result = service_token(tenant, "saga-kick", correlation_id).and_then(|token| {
        let (status, _) = chain(
            &format!("http://retry.spin.internal/v1/internal/tick?order={order}"),
            &token,
        )?;
        if status >= 300 {
            return Err(format!("worker answered {status}"));
        }
        Ok(())
    });
    if let Err(e) = result {
        eprintln!(
            "saga kick for {order} failed [correlation_id={correlation_id}]: {e}; the scheduled tick will run it"
        );
    }
}

/// Handles `POST /v1/internal/jobs/<segment>/{id}` in a saga step component:
/// a service caller hands over a claimed job (`?claim=<epoch>` names the
/// claim), which runs here with only the providers and keys in `needs` —
/// and only while the job is still under that claim.
pub fn run_handed_job(
    request: &RequestParts,
    job_id: &str,
    needs: Needs,
    correlation_id: &str,
) -> Result<orderflow_http::HttpResponse, ApiError> {
    principal(request, correlation_id)?.require_role(&[orderflow_http::Role::Service])?;
    let query = orderflow_http::parse_query(&request.query, &["claim"])?;
    let claim = query
        .get("claim")
        .and_then(|raw| raw.parse::<i64>().ok())
        .ok_or_else(|| ApiError::BadRequest {
            problem: "invalid-query",
            detail: "claim must be the whole-number epoch of the job's claim".to_owned(),
            accepted: None,
        })?;
    let env = saga_env(needs, correlation_id)?;
    let ran =
        crate::saga::run_claimed_job(&env, job_id, claim).map_err(|e| crate::from_store(e, correlation_id))?;
    crate::observe::note_outcome(ran);
    Ok(orderflow_http::HttpResponse::json(
        200,
        &serde_json::json!({ "job": job_id, "ran": ran.is_some(), "succeeded": ran == Some(true) }),
    ))
}

/// The retry component's tick: claims due jobs and hands each to the
/// component that owns its kind, through service chaining. A job whose
/// hand-over fails stays claimed until its lease ends, then runs again.
/// `caller` is the verified service principal (the route authenticates
/// before it reads its query).
pub fn tick(
    caller: &Principal,
    order: Option<orderflow_core::OrderId>,
    limit: u32,
    correlation_id: &str,
) -> Result<orderflow_http::HttpResponse, ApiError> {
    caller.require_role(&[orderflow_http::Role::Service])?;
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(correlation_id, e);
    let number =
        |name: &str| -> Result<i64, ApiError> { variable(name, correlation_id)?.parse().map_err(|e| internal(&e)) };
    let lease = chrono::Duration::seconds(number("job_lease_secs")?);
    sync_clock(correlation_id)?;
    let store = open_store(clock::now(), correlation_id)?;
    let token = service_token(&caller.tenant, "saga-worker", correlation_id).map_err(|e| internal(&e))?;
    let report = crate::saga::drive(&store, clock::now, lease, limit, order, |job| {
        let (component, segment) = crate::saga::job_owner(job.kind);
        let url = format!(
            "http://{component}.spin.internal/v1/internal/jobs/{segment}/{}?claim={}",
            job.id, job.claim
        );
        let failed = match chain(&url, &token) {
            Ok((200, body)) => {
                return Ok(serde_json::from_slice::<serde_json::Value>(&body)
                    .map(|v| v["succeeded"] == true)
                    .unwrap_or(false))
            }
            Ok((status, body)) => format!("answered {status}: {}", String::from_utf8_lossy(&body)),
            Err(e) => format!("unreachable: {e}"),
        };
        eprintln!("saga: {url} {failed} [correlation_id={correlation_id}]; the job is released");
        // The job did not run to an outcome: give it back now rather than
        // leave it claimed until its lease ends. A claim that moved on
        // meanwhile (it did finish after all) is left alone.
        let now = clock::now();
        match store.write(|s| s.release_job(job, now + crate::saga::RELEASE_DELAY, now)) {
            Ok(()) | Err(orderflow_store::StoreError::ClaimLost(_)) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .map_err(|e| crate::from_store(e, correlation_id))?;
    // The periodic tick (not an order's kick) also purges what is past its
    // window, a bounded batch per tick.
    let purged = if order.is_none() {
        crate::saga::purge_expired(&store, clock::now()).map_err(|e| crate::from_store(e, correlation_id))?
    } else {
        crate::saga::Purged::default()
    };
    Ok(orderflow_http::HttpResponse::json(
        200,
        &serde_json::json!({
            "ran": report.ran,
            "failed": report.failed,
            "purged_idempotency_keys": purged.idempotency_keys,
            "purged_webhook_events": purged.webhook_events,
        }),
    ))
}
