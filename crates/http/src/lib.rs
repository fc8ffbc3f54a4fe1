//! The HTTP shell every Orderflow component shares: problem+json errors,
//! bearer authentication, JSON body decoding, idempotency decisions, ETags,
//! pagination cursors, and a thin adapter to `spin_sdk::http`.
//!
//! Everything but [`spin`] is pure and tested natively; the Spin SDK also
//! compiles natively, so the adapter is tested here too.

mod auth;
mod cursor;
mod error;
mod etag;
mod idempotency;
mod json;
mod jwt;
mod mint;
mod problem;
mod request;
mod response;
mod spin;
mod webhook;

pub use auth::{
    authenticate, bearer_token, check_secret_length, AuthError, Principal, Role, CLOCK_SKEW_SECS, MIN_SECRET_BYTES,
};
pub use cursor::{parse_limit, parse_query, Cursor, Page, DEFAULT_LIMIT, MAX_LIMIT};
pub use error::{ApiError, Conflict};
pub use etag::{check_if_match, etag, EntityTag, IfMatch, IF_MATCH_HEADER};
pub use idempotency::{
    fingerprint, verdict_for, Fingerprint, IdempotencyKey, KeyVerdict, SavedResponse, StoredRecord,
    IDEMPOTENCY_KEY_HEADER, IN_FLIGHT_LEASE_SECS, IN_FLIGHT_RETRY_AFTER_SECS, RECORD_TTL_SECS,
};
pub use json::{check_content_type, decode_json, json_pointer, DEFAULT_BODY_LIMIT, JSON_CONTENT_TYPE};
pub use jwt::{JwksError, TokenPolicy, TokenVerifier};
pub use mint::{TokenSigner, TokenSpec};
pub use problem::{
    escape_pointer_segment, pointer, pointer_segments, FieldError, Problem, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE,
};
pub use request::RequestParts;
pub use response::{HttpResponse, REPLAYED_HEADER};
pub use spin::respond;
pub use webhook::{
    sign_webhook, verify_webhook, WebhookError, WebhookSecrets, WEBHOOK_BODY_LIMIT, WEBHOOK_TOLERANCE_SECS,
};
