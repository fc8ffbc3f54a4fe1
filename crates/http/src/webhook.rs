//! Verifying a payment provider's signed webhook (Stripe's scheme): the
//! header `t=<unix>,v1=<hex>[,v1=<hex>…]` carries HMAC-SHA256 over
//! `"<t>.<raw body>"`. Verified against the raw bytes, compared in constant
//! time, and refused when the timestamp is more than the tolerance away.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;

/// How far a signature's timestamp may be from now.
pub const WEBHOOK_TOLERANCE_SECS: i64 = 300;

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
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        ApiError::BadRequest { problem: "webhook-signature", detail: e.to_string(), accepted: None }
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

/// Checks `header` against `body`, `secret` and `now` (unix seconds).
pub fn verify_webhook(header: Option<&str>, body: &[u8], secret: &[u8], now: i64) -> Result<(), WebhookError> {
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
    if (now - t).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err(WebhookError::Stale);
    }
    let expected = mac(secret, t, body);
    if signatures.iter().any(|s| expected.clone().verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn a_correctly_signed_body_verifies() {
        let h = sign_webhook(SECRET, NOW, BODY);
        assert_eq!(verify_webhook(Some(&h), BODY, SECRET, NOW + 10), Ok(()));
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let good = sign_webhook(SECRET, NOW, BODY);
        let v1 = good.split("v1=").nth(1).unwrap();
        let h = format!("t={NOW},v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify_webhook(Some(&h), BODY, SECRET, NOW), Ok(()));
    }

    #[test]
    fn a_changed_body_or_secret_does_not_verify() {
        let h = sign_webhook(SECRET, NOW, BODY);
        assert_eq!(verify_webhook(Some(&h), b"{}", SECRET, NOW), Err(WebhookError::Mismatch));
        assert_eq!(verify_webhook(Some(&h), BODY, b"other", NOW), Err(WebhookError::Mismatch));
    }

    #[test]
    fn a_timestamp_older_than_five_minutes_is_stale() {
        let h = sign_webhook(SECRET, NOW, BODY);
        assert_eq!(verify_webhook(Some(&h), BODY, SECRET, NOW + 300), Ok(()));
        assert_eq!(verify_webhook(Some(&h), BODY, SECRET, NOW + 301), Err(WebhookError::Stale));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for h in ["", "t=abc,v1=00", "v1=00", "t=1", "t=1,v1=zz"] {
            assert!(verify_webhook(Some(h), BODY, SECRET, 1).is_err(), "{h}");
        }
        assert_eq!(verify_webhook(None, BODY, SECRET, NOW), Err(WebhookError::Missing));
    }
}
