//! `Idempotency-Key`: the pure decision of what a write request should do
//! given the record stored under its (tenant, key).
//!
//! The flow in a write handler: parse the key ([`IdempotencyKey::parse`]),
//! compute the [`fingerprint`], read the record, [`verdict_for`]. On
//! [`KeyVerdict::Proceed`] insert an in-flight record under a unique
//! (tenant, key) constraint (losing that race means another request got
//! there first: read again and decide again), do the work, then store the
//! [`SavedResponse`]. Storage is the store crate's; nothing here does I/O.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Conflict};

/// The request header name.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// How long a record is honoured: 24 h (SPEC §7). A record this old or older
/// counts as absent.
pub const RECORD_TTL_SECS: i64 = 24 * 60 * 60;

/// How long an in-flight record holds its key. A request that has not
/// completed by then has died (a component invocation cannot run this
/// long), and its work rolled back with its transaction, so a retry may
/// take the key over instead of waiting 24 h.
pub const IN_FLIGHT_LEASE_SECS: i64 = 120;

/// The `Retry-After` sent with [`KeyVerdict::InFlight`].
pub const IN_FLIGHT_RETRY_AFTER_SECS: u32 = 2;

/// A syntactically valid `Idempotency-Key`: 1–255 visible ASCII characters
/// (`!` to `~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value of a write request. Absent or malformed → 400
    /// saying the header is required and what it looks like.
    pub fn parse(header: Option<&str>) -> Result<Self, ApiError> {
        let bad = |detail: &str| ApiError::BadRequest {
            problem: "idempotency-key-required",
            detail: format!(
                "{detail}; every write needs an Idempotency-Key header of 1-255 visible ASCII characters, \
                 e.g. a UUID, reused only to retry the same request"
            ),
            accepted: Some(serde_json::json!({"min_length": 1, "max_length": 255, "charset": "visible ASCII"})),
        };
        let value = header.ok_or_else(|| bad("Idempotency-Key header is missing"))?;
        let ok = (1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(bad("Idempotency-Key header is malformed"))
        }
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 (lowercase hex) of a request's method, path and body.
///
/// Invariant: 64 hex characters; equal exactly when the three inputs are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The hex digest, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a digest read back from storage.
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }
}

/// Fingerprints a request. Each field is prefixed with its length as 8 bytes
/// big-endian, so `("POST", "/ab", "c")` and `("POST", "/a", "bc")` differ.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Fingerprint {
    let mut hasher = Sha256::new();
    for field in [method.as_bytes(), path.as_bytes(), body] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    Fingerprint(hex::encode(hasher.finalize()))
}

/// The response a completed request produced, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` sent.
    pub content_type: String,
    /// `ETag` sent, if any.
    pub etag: Option<String>,
    /// `Location` sent, if any.
    pub location: Option<String>,
    /// The body bytes; base64 in JSON so they survive any storage exactly.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

mod base64_bytes {
    use super::{Engine, STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// What is stored under a (tenant, key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The fingerprint of the request that first used the key.
    pub fingerprint: Fingerprint,
    /// When that request started; the TTL and the in-flight lease count from here.
    pub created_at: DateTime<Utc>,
    /// `None` while in flight; the response once completed.
    pub response: Option<SavedResponse>,
}

/// What a write request should do with its idempotency key (not to be
/// confused with the order's decisions in `orderflow_core`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// No live record (none, expired, or an abandoned in-flight one): insert
    /// an in-flight record — replacing a dead one conditionally on its
    /// `created_at`, so two takers cannot both win — and process the request.
    Proceed,
    /// Same request, completed: return this response unchanged.
    Replay(SavedResponse),
    /// Same key, different request: 422 ([`ApiError::idempotency_key_reused`]).
    Mismatch,
    /// Same request, still being processed: 409 with `Retry-After`.
    InFlight,
}

impl KeyVerdict {
    /// The error to return for [`KeyVerdict::Mismatch`] and
    /// [`KeyVerdict::InFlight`]; `None` for the other two.
    pub fn error(&self) -> Option<ApiError> {
        match self {
            KeyVerdict::Mismatch => Some(ApiError::idempotency_key_reused()),
            KeyVerdict::InFlight => Some(ApiError::Conflict(Conflict::IdempotencyKeyInFlight {
                retry_after_secs: IN_FLIGHT_RETRY_AFTER_SECS,
            })),
            KeyVerdict::Proceed | KeyVerdict::Replay(_) => None,
        }
    }
}

/// What to do with a request of `fingerprint` at `now`, given the
/// record stored under its key.
///
/// A record is dead when `now - created_at >= 24 h`, or when it is still in
/// flight after [`IN_FLIGHT_LEASE_SECS`]; a dead record counts as absent.
/// For a live record a different fingerprint is a mismatch whether or not
/// the first request has completed.
pub fn verdict_for(stored: Option<&StoredRecord>, fingerprint: &Fingerprint, now: DateTime<Utc>) -> KeyVerdict {
    let Some(record) = stored else {
        return KeyVerdict::Proceed;
    };
    let age = now.signed_duration_since(record.created_at);
    if age >= TimeDelta::seconds(RECORD_TTL_SECS) {
        return KeyVerdict::Proceed;
    }
    if record.response.is_none() && age >= TimeDelta::seconds(IN_FLIGHT_LEASE_SECS) {
        return KeyVerdict::Proceed;
    }
    if &record.fingerprint != fingerprint {
        return KeyVerdict::Mismatch;
    }
    match &record.response {
        Some(response) => KeyVerdict::Replay(response.clone()),
        None => KeyVerdict::InFlight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
    }

    fn saved() -> SavedResponse {
        SavedResponse {
            status: 201,
            content_type: "application/json".into(),
            etag: Some("\"1\"".into()),
            location: Some("/orders/0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a".into()),
            body: b"{\"id\":\"x\"}\xff".to_vec(),
        }
    }

    fn completed(fp: &Fingerprint) -> StoredRecord {
        StoredRecord {
            fingerprint: fp.clone(),
            created_at: t0(),
            response: Some(saved()),
        }
    }

    fn in_flight(fp: &Fingerprint) -> StoredRecord {
        StoredRecord {
            fingerprint: fp.clone(),
            created_at: t0(),
            response: None,
        }
    }

    #[test]
    fn a_key_never_seen_proceeds() {
        let fp = fingerprint("POST", "/orders", b"{}");
        assert_eq!(verdict_for(None, &fp, t0()), KeyVerdict::Proceed);
    }

    #[test]
    fn the_same_request_after_completion_replays_the_saved_response() {
        let fp = fingerprint("POST", "/orders", b"{}");
        let later = t0() + TimeDelta::hours(23);
        assert_eq!(
            verdict_for(Some(&completed(&fp)), &fp, later),
            KeyVerdict::Replay(saved())
        );
    }

    #[test]
    fn the_same_key_with_another_body_is_a_mismatch_even_while_in_flight() {
        let first = fingerprint("POST", "/orders", b"{\"a\":1}");
        let second = fingerprint("POST", "/orders", b"{\"a\":2}");
        let now = t0() + TimeDelta::seconds(1);
        assert_eq!(
            verdict_for(Some(&completed(&first)), &second, now),
            KeyVerdict::Mismatch
        );
        assert_eq!(
            verdict_for(Some(&in_flight(&first)), &second, now),
            KeyVerdict::Mismatch
        );
        assert_eq!(KeyVerdict::Mismatch.error().unwrap().status(), 422);
    }

    #[test]
    fn the_same_request_while_in_flight_is_told_to_retry_later() {
        let fp = fingerprint("POST", "/orders", b"{}");
        let now = t0() + TimeDelta::seconds(5);
        assert_eq!(verdict_for(Some(&in_flight(&fp)), &fp, now), KeyVerdict::InFlight);
        let error = KeyVerdict::InFlight.error().unwrap();
        assert_eq!(error.status(), 409);
        assert_eq!(error.headers(), vec![("retry-after", "2".to_owned())]);
    }

    #[test]
    fn a_record_expires_at_exactly_24_hours() {
        // given a completed record
        let fp = fingerprint("POST", "/orders", b"{}");
        let record = completed(&fp);
        // one second before 24 h it still replays
        let just_before = t0() + TimeDelta::seconds(RECORD_TTL_SECS - 1);
        assert_eq!(
            verdict_for(Some(&record), &fp, just_before),
            KeyVerdict::Replay(saved())
        );
        // at exactly 24 h it counts as absent, even for another body
        let at_ttl = t0() + TimeDelta::seconds(RECORD_TTL_SECS);
        assert_eq!(verdict_for(Some(&record), &fp, at_ttl), KeyVerdict::Proceed);
        let other = fingerprint("POST", "/orders", b"other");
        assert_eq!(verdict_for(Some(&record), &other, at_ttl), KeyVerdict::Proceed);
    }

    #[test]
    fn an_abandoned_in_flight_record_can_be_taken_over_after_its_lease() {
        let fp = fingerprint("POST", "/orders", b"{}");
        let before = t0() + TimeDelta::seconds(IN_FLIGHT_LEASE_SECS - 1);
        let at = t0() + TimeDelta::seconds(IN_FLIGHT_LEASE_SECS);
        assert_eq!(verdict_for(Some(&in_flight(&fp)), &fp, before), KeyVerdict::InFlight);
        assert_eq!(verdict_for(Some(&in_flight(&fp)), &fp, at), KeyVerdict::Proceed);
    }

    #[test]
    fn fingerprint_fields_cannot_run_together() {
        assert_ne!(fingerprint("POST", "/ab", b"c"), fingerprint("POST", "/a", b"bc"));
        assert_ne!(fingerprint("POST", "/a", b""), fingerprint("PUT", "/a", b""));
        assert_eq!(fingerprint("POST", "/a", b"x"), fingerprint("POST", "/a", b"x"));
        assert_eq!(fingerprint("POST", "/a", b"x").as_str().len(), 64);
    }

    #[test]
    fn a_saved_response_round_trips_through_json_byte_for_byte() {
        let json = serde_json::to_string(&saved()).unwrap();
        let back: SavedResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, saved());
    }

    #[test]
    fn a_missing_key_is_400_saying_the_header_is_required() {
        let err = IdempotencyKey::parse(None).unwrap_err();
        assert_eq!(err.status(), 400);
        let detail = err.to_problem().detail;
        assert!(detail.contains("Idempotency-Key header is missing"));
        assert!(detail.contains("1-255 visible ASCII"));
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse(Some("0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a")).is_ok());
        assert!(IdempotencyKey::parse(Some(&"k".repeat(255))).is_ok());
        assert!(IdempotencyKey::parse(Some(&"k".repeat(256))).is_err());
        assert!(IdempotencyKey::parse(Some("")).is_err());
        assert!(IdempotencyKey::parse(Some("has space")).is_err());
        assert!(IdempotencyKey::parse(Some("naïve")).is_err());
    }
}
