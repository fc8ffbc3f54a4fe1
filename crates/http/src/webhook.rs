//! Verifying a payment provider's signed webhook (Stripe's scheme): the
//! header `t=<unix>,v1=<hex>[,v1=<hex>…]` carries HMAC-SHA256 over
//! `"<t>.<raw body>"`. Verified against the raw bytes, compared in constant
//! time, and refused when the timestamp is more than the tolerance away or
//! the body is larger than the API accepts. Several endpoint secrets may be
//! configured at once, so one can be rotated: a signature by any of them
//! verifies.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;
use crate::json::DEFAULT_BODY_LIMIT;

/// How far a signature's timestamp may be from now.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// The largest webhook body read: the API's own limit (64 KiB). Stripe's
/// events are a few KiB; anything larger is refused before it is parsed.
pub const WEBHOOK_BODY_LIMIT: usize = DEFAULT_BODY_LIMIT;

/// The webhook endpoint's signing secrets, from a comma-separated list
/// (`whsec_new,whsec_old`): during a rotation both verify. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecrets(Vec<Vec<u8>>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} secrets)", self.0.len())
    }
}

impl std::str::FromStr for WebhookSecrets {
    type Err = String;

    /// Splits on commas, trimming blanks; at least one secret is needed.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let secrets: Vec<Vec<u8>> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        if secrets.is_empty() {
            return Err("payment_webhook_secret names no secret (a comma-separated list of whsec_… values)".into());
        }
        Ok(Self(secrets))
    }
}

impl WebhookSecrets {
    /// The secrets as byte strings, in the order configured.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(Vec::as_slice)
    }
}

/// Why a webhook signature was refused. All are 400s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No signature header.
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("the Stripe-Signature header is not of the form t=<unix>,v1=<hex>")]
    Malformed,
    /// The timestamp is more than the tolerance away from now.
    #[error("the signature's timestamp is more than {WEBHOOK_TOLERANCE_SECS} seconds from now")]
    Stale,
    /// No `v1` signature matches.
    #[error("no v1 signature matches the body")]
    Mismatch,
    /// The body is larger than [`WEBHOOK_BODY_LIMIT`] (413, not 400).
    #[error("the body of {0} bytes exceeds the limit of {WEBHOOK_BODY_LIMIT}")]
    TooLarge(usize),
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::TooLarge(received_bytes) => ApiError::PayloadTooLarge {
                limit_bytes: WEBHOOK_BODY_LIMIT,
                received_bytes,
            },
            e => ApiError::BadRequest {
                problem: "webhook-signature",
                detail: e.to_string(),
                accepted: None,
            },
        }
    }
}

/// The signature header value for `body` signed with `secret` at `t`.
pub fn sign_webhook(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("hmac takes any key"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks `header` against `body`, any of `secrets` and `now` (unix
/// seconds). The size is checked first, so an oversized body is never
/// hashed or parsed.
pub fn verify_webhook(
    header: Option<&str>,
    body: &[u8],
    secrets: &WebhookSecrets,
    now: i64,
) -> Result<(), WebhookError> {
    if body.len() > WEBHOOK_BODY_LIMIT {
        return Err(WebhookError::TooLarge(body.len()));
    }
    let header = header.ok_or(WebhookError::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(WebhookError::Malformed)?;
        match k {
            "t" => t = Some(v.parse::<i64>().map_err(|_| WebhookError::Malformed)?),
            "v1" => signatures.push(hex::decode(v).map_err(|_| WebhookError::Malformed)?),
            _ => {} // other schemes (v0 …) are ignored, as Stripe documents
        }
    }
    let t = t.ok_or(WebhookError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    // Checked: an extreme `t=` (near i64::MIN or MAX) is stale, not an overflow.
    if now
        .checked_sub(t)
        .is_none_or(|d| d.unsigned_abs() > WEBHOOK_TOLERANCE_SECS.unsigned_abs())
    {
        return Err(WebhookError::Stale);
    }
    let matches = |secret: &[u8]| {
        let expected = mac(secret, t, body);
        signatures.iter().any(|s| expected.clone().verify_slice(s).is_ok())
    };
    if secrets.iter().any(matches) {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    fn secrets(raw: &str) -> WebhookSecrets {
        raw.parse().unwrap()
    }

    fn one() -> WebhookSecrets {
        secrets("whsec_test")
    }
    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn a_correctly_signed_body_verifies() {
        let h = sign_webhook(SECRET, NOW, BODY);
        assert_eq!(verify_webhook(Some(&h), BODY, &one(), NOW + 10), Ok(()));
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let good = sign_webhook(SECRET, NOW, BODY);
        let v1 = good.split("v1=").nth(1).unwrap();
        let h = format!("t={NOW},v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify_webhook(Some(&h), BODY, &one(), NOW), Ok(()));
    }

    #[test]
    fn a_changed_body_or_secret_does_not_verify() {
        let h = sign_webhook(SECRET, NOW, BODY);
        assert_eq!(
            verify_webhook(Some(&h), b"{}", &one(), NOW),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify_webhook(Some(&h), BODY, &secrets("other"), NOW),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn a_timestamp_older_than_five_minutes_is_stale() {
        let h = sign_webhook(SECRET, NOW, BODY);
        assert_eq!(verify_webhook(Some(&h), BODY, &one(), NOW + 300), Ok(()));
        assert_eq!(
            verify_webhook(Some(&h), BODY, &one(), NOW + 301),
            Err(WebhookError::Stale)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for h in ["", "t=abc,v1=00", "v1=00", "t=1", "t=1,v1=zz"] {
            assert!(verify_webhook(Some(h), BODY, &one(), 1).is_err(), "{h}");
        }
        assert_eq!(verify_webhook(None, BODY, &one(), NOW), Err(WebhookError::Missing));
    }

    #[test]
    fn any_configured_secret_verifies_so_one_can_be_rotated() {
        let both = secrets("whsec_new, whsec_old");
        for secret in [b"whsec_new".as_slice(), b"whsec_old"] {
            let h = sign_webhook(secret, NOW, BODY);
            assert_eq!(verify_webhook(Some(&h), BODY, &both, NOW), Ok(()));
        }
        let retired = sign_webhook(b"whsec_retired", NOW, BODY);
        assert_eq!(
            verify_webhook(Some(&retired), BODY, &both, NOW),
            Err(WebhookError::Mismatch)
        );
        assert!("".parse::<WebhookSecrets>().is_err());
        assert!(" , ".parse::<WebhookSecrets>().is_err());
        assert_eq!(format!("{both:?}"), "WebhookSecrets(2 secrets)");
    }

    #[test]
    fn extreme_timestamps_are_stale_not_an_overflow() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
            let h = sign_webhook(SECRET, t, BODY);
            for now in [NOW, i64::MAX, i64::MIN, 0] {
                let verdict = verify_webhook(Some(&h), BODY, &one(), now);
                if (i128::from(now) - i128::from(t)).abs() <= 300 {
                    assert_eq!(verdict, Ok(()), "t={t} now={now}");
                } else {
                    assert_eq!(verdict, Err(WebhookError::Stale), "t={t} now={now}");
                }
            }
        }
    }

    #[test]
    fn a_body_over_64_kib_is_refused_as_413_before_anything_else() {
        let body = vec![b' '; WEBHOOK_BODY_LIMIT + 1];
        let h = sign_webhook(SECRET, NOW, &body);
        let err = verify_webhook(Some(&h), &body, &one(), NOW).unwrap_err();
        assert_eq!(err, WebhookError::TooLarge(WEBHOOK_BODY_LIMIT + 1));
        assert_eq!(ApiError::from(err).status(), 413);
        assert_eq!(
            verify_webhook(None, &body, &one(), NOW),
            Err(WebhookError::TooLarge(body.len()))
        );
        let at_limit = vec![b' '; WEBHOOK_BODY_LIMIT];
        let h = sign_webhook(SECRET, NOW, &at_limit);
        assert_eq!(verify_webhook(Some(&h), &at_limit, &one(), NOW), Ok(()));
    }
}
