//! Every write runs through [`write_idempotently`]: claim the key, run the
//! use case, then commit its changes and the saved response together.

use chrono::Duration;
use orderflow_http::{
    fingerprint, verdict_for, ApiError, Fingerprint, HttpResponse, IdempotencyKey, KeyVerdict, RequestParts,
    SavedResponse, StoredRecord, IDEMPOTENCY_KEY_HEADER, IN_FLIGHT_LEASE_SECS, RECORD_TTL_SECS,
};
use orderflow_store::{Claim, Db, Store, StoreError};

use crate::context::Ctx;
use crate::errors::from_store;

/// The store writes that make a use case's response true.
pub type Commit<'a, D> = Box<dyn Fn(&Store<D>) -> Result<(), StoreError> + 'a>;

/// A use case's result before it is committed: the response to send and the
/// writes that make it true.
pub struct Prepared<'a, D: Db> {
    /// What the client gets.
    pub response: HttpResponse,
    /// The store writes, run inside the transaction that also saves the response.
    pub commit: Commit<'a, D>,
}

impl<D: Db> std::fmt::Debug for Prepared<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("response", &self.response)
            .finish_non_exhaustive()
    }
}

/// Runs a write use case under the request's `Idempotency-Key`.
///
/// - no key: 400; a key seen with another request: 422; the same request
///   still running: 409 with `Retry-After`; the same request finished: its
///   saved response, byte for byte.
/// - otherwise `run`; its writes and the response commit in one transaction.
///   Client errors are saved too (the same request gets the same answer),
///   except conflicts, which a retry may resolve; server errors release the
///   key so the client can retry.
pub fn write_idempotently<'a, D: Db>(
    ctx: &Ctx<D>,
    request: &RequestParts,
    run: impl FnOnce() -> Result<Prepared<'a, D>, ApiError>,
) -> HttpResponse {
    let tenant = &ctx.principal.tenant;
    // Keys are the caller's own: another caller of the tenant reusing one
    // neither replays nor blocks this caller's request.
    let principal = ctx.principal.subject.as_str();
    let correlation_id = ctx.correlation_id.as_str();
    let key = match IdempotencyKey::parse(request.header(IDEMPOTENCY_KEY_HEADER)) {
        Ok(key) => key,
        Err(e) => return e.into(),
    };
    let path = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let fp = fingerprint(&request.method, &path, &request.body);
    let claim = ctx.store.claim_key(
        tenant,
        principal,
        key.as_str(),
        fp.as_str(),
        ctx.now,
        Duration::seconds(RECORD_TTL_SECS),
        Duration::seconds(IN_FLIGHT_LEASE_SECS),
    );
    match claim {
        Err(e) => return from_store(e, correlation_id).into(),
        Ok(Claim::Existing(record)) => return answer_existing(record, &fp, ctx),
        Ok(Claim::Claimed) => {}
    }

    let outcome = run().and_then(|prepared| {
        let saved = saved_bytes(&prepared.response);
        ctx.store
            .write(|s| {
                (prepared.commit)(s)?;
                s.complete_key(tenant, principal, key.as_str(), &saved)
            })
            .map_err(|e| from_store(e, correlation_id))?;
        Ok(prepared.response)
    });
    match outcome {
        Ok(response) => response,
        Err(error) => {
            let response = HttpResponse::from(error);
            let keep = response.status < 500 && response.status != 409;
            let settled = if keep {
                ctx.store
                    .write(|s| s.complete_key(tenant, principal, key.as_str(), &saved_bytes(&response)))
            } else {
                ctx.store.release_key(tenant, principal, key.as_str())
            };
            if let Err(e) = settled {
                // The answer stands; the key will be taken over once its lease runs out.
                eprintln!("idempotency key not settled [correlation_id={correlation_id}]: {e}");
            }
            response
        }
    }
}

fn saved_bytes(response: &HttpResponse) -> Vec<u8> {
    serde_json::to_vec(&response.to_saved()).unwrap_or_default()
}

fn answer_existing<D: Db>(record: orderflow_store::IdempotencyRecord, fp: &Fingerprint, ctx: &Ctx<D>) -> HttpResponse {
    let response = match record
        .response
        .as_deref()
        .map(serde_json::from_slice::<SavedResponse>)
        .transpose()
    {
        Ok(r) => r,
        Err(e) => return ApiError::internal(&ctx.correlation_id, &e).into(),
    };
    let stored = StoredRecord {
        fingerprint: Fingerprint::from_stored(record.fingerprint),
        created_at: record.created_at,
        response,
    };
    match verdict_for(Some(&stored), fp, ctx.now) {
        KeyVerdict::Replay(saved) => HttpResponse::replay(&saved),
        // The store hands back only live records, so `Proceed` cannot happen;
        // were it to, asking the client to retry is the safe answer.
        KeyVerdict::Proceed | KeyVerdict::InFlight => decide_in_flight(),
        d @ KeyVerdict::Mismatch => d.error().map_or_else(decide_in_flight, HttpResponse::from),
    }
}

fn decide_in_flight() -> HttpResponse {
    KeyVerdict::InFlight
        .error()
        .map(HttpResponse::from)
        .unwrap_or_else(HttpResponse::no_content)
}
