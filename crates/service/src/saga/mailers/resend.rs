//! Resend's e-mail API (`POST /emails`), in its own wire format: JSON with
//! a Bearer key (`re_…`); `from`, `to`, `subject`, `text`; an
//! `Idempotency-Key` header (kept 24 hours) so a retried delivery is sent
//! once; errors as `{"statusCode", "name", "message"}`; rate limits as
//! 429 with `ratelimit-*` and `retry-after` headers.
//!
//! Classification: 429 (`rate_limit_exceeded`, and the daily or monthly
//! quota, which pass too) and 5xx retry; 409
//! `concurrent_idempotent_requests` (the same key still in flight) retries;
//! 409 `invalid_idempotent_request` means this delivery's key was already
//! used, so its e-mail was accepted: an age-encrypted text differs on every
//! attempt (a fresh file key), and the first accepted one is the delivery;
//! any other 4xx (a bad key, an unverified sender domain, an invalid
//! address) is permanent and parks the delivery for an operator.

use serde_json::{json, Value};

use crate::saga::outbound::{OutRequest, OutResponse, Outbound};
use crate::saga::providers::{CallError, Endpoint};

/// The adapter for one Resend account.
#[derive(Clone, PartialEq, Eq)]
pub struct Resend {
    endpoint: Endpoint,
    from: String,
}

impl std::fmt::Debug for Resend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resend")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from)
            .finish()
    }
}

impl Resend {
    /// The account at `endpoint` (`https://api.resend.com`), sending as
    /// `from` (`address` or `Name <address>`).
    pub fn new(endpoint: Endpoint, from: &str) -> Result<Self, String> {
        let address = from
            .rsplit_once('<')
            .map_or(from, |(_, a)| a.trim_end_matches('>'))
            .trim();
        if !address.contains('@') {
            return Err(format!("the sender `{from}` has no e-mail address"));
        }
        Ok(Self {
            endpoint,
            from: from.to_owned(),
        })
    }

    /// Sends one e-mail under `key`.
    pub fn send_email(
        &self,
        out: &dyn Outbound,
        to: &str,
        subject: &str,
        text: &str,
        key: &str,
    ) -> Result<(), CallError> {
        let body = json!({ "from": self.from, "to": [to], "subject": subject, "text": text });
        let request = OutRequest {
            method: "POST",
            url: format!("{}/emails", self.endpoint.url),
            headers: vec![
                ("authorization".to_owned(), format!("Bearer {}", self.endpoint.key)),
                ("content-type".to_owned(), "application/json".to_owned()),
                ("accept".to_owned(), "application/json".to_owned()),
                ("idempotency-key".to_owned(), key.to_owned()),
            ],
            body: body.to_string().into_bytes(),
        };
        let r = out
            .send(request)
            .map_err(|e| CallError::Retryable(format!("Resend POST /emails: {e}")))?;
        if (200..300).contains(&r.status) {
            return Ok(());
        }
        match classify(&r) {
            Sent::Already => Ok(()),
            Sent::No(e) => Err(e),
        }
    }
}

/// What an error answer means for the delivery.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// The key was used before: that e-mail is the delivery.
    Already,
    /// Not sent.
    No(CallError),
}

fn classify(r: &OutResponse) -> Sent {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let name = body["name"].as_str().unwrap_or("");
    let message = body["message"].as_str().unwrap_or("");
    let mut text = format!("Resend POST /emails answered {} {name}: {message}", r.status);
    if r.status == 429 {
        if let Some(after) = r.header("retry-after") {
            text.push_str(&format!(" (retry after {after} s)"));
        }
    }
    match (r.status, name) {
        (409, "invalid_idempotent_request") => Sent::Already,
        (409, "concurrent_idempotent_requests") | (429, _) => Sent::No(CallError::Retryable(text)),
        (status, _) if status >= 500 => Sent::No(CallError::Retryable(text)),
        _ => Sent::No(CallError::Permanent(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, name: &str, headers: &[(&str, &str)]) -> OutResponse {
        OutResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: json!({"statusCode": status, "name": name, "message": "m"})
                .to_string()
                .into_bytes(),
        }
    }

    #[test]
    fn rate_limits_quotas_and_server_errors_retry_and_bad_requests_do_not() {
        let limited = classify(&answer(429, "rate_limit_exceeded", &[("retry-after", "2")]));
        assert!(
            matches!(&limited, Sent::No(CallError::Retryable(m)) if m.contains("retry after 2")),
            "{limited:?}"
        );
        assert!(matches!(
            classify(&answer(429, "daily_quota_exceeded", &[])),
            Sent::No(CallError::Retryable(_))
        ));
        assert!(matches!(
            classify(&answer(500, "application_error", &[])),
            Sent::No(CallError::Retryable(_))
        ));
        assert!(matches!(
            classify(&answer(409, "concurrent_idempotent_requests", &[])),
            Sent::No(CallError::Retryable(_))
        ));
        assert!(matches!(
            classify(&answer(422, "validation_error", &[])),
            Sent::No(CallError::Permanent(_))
        ));
        assert!(matches!(
            classify(&answer(403, "invalid_api_key", &[])),
            Sent::No(CallError::Permanent(_))
        ));
    }

    #[test]
    fn a_key_used_before_means_the_delivery_was_sent() {
        assert_eq!(classify(&answer(409, "invalid_idempotent_request", &[])), Sent::Already);
    }
}
