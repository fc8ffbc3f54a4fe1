//! Stripe's webhook signature scheme: `Stripe-Signature: t=<unix>,v1=<hex>`
//! where the hex is HMAC-SHA256 keyed by the endpoint secret over
//! `"<t>.<raw body>"`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `Stripe-Signature` header value for `body` signed at `timestamp`
/// (Unix seconds) with `secret`.
///
/// ```
/// let header = orderflow_sims::sign("whsec_x", 1_700_000_000, b"{}");
/// assert!(header.starts_with("t=1700000000,v1="));
/// ```
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body)))
}

/// Whether `header` carries a `v1` signature of `body` by `secret` whose
/// timestamp is within `tolerance_secs` of `now` (either side). A test
/// utility mirroring what the platform must do; comparison is constant-time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    candidates.iter().any(|candidate| {
        let mut mac = keyed(secret);
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        mac.verify_slice(candidate).is_ok()
    })
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = keyed(secret);
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn keyed(secret: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_an_independently_computed_hmac() {
        // Python: hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign("key", 1, b"{}"),
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn a_signature_verifies_with_the_right_secret_only() {
        let header = sign("whsec_a", 1000, b"body");
        assert!(verify("whsec_a", &header, b"body", 1000, 300));
        assert!(!verify("whsec_b", &header, b"body", 1000, 300));
        assert!(!verify("whsec_a", &header, b"other", 1000, 300));
    }

    #[test]
    fn a_stale_signature_does_not_verify() {
        let header = sign("s", 1000, b"x");
        assert!(verify("s", &header, b"x", 1300, 300));
        assert!(!verify("s", &header, b"x", 1301, 300));
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let good = sign("s", 5, b"x");
        let v1 = good.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let header = format!("t=5,v1={},v1={v1}", "00".repeat(32));
        assert!(verify("s", &header, b"x", 5, 300));
    }
}
