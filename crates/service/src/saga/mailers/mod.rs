//! Which e-mail API delivers access details, by configuration
//! (`email_provider`): our own simple API (`orderflow`, `POST
//! /v1/messages`) or Resend (`resend`, `POST /emails`). Both take an
//! idempotency key per delivery, so a retried or re-run delivery job sends
//! its e-mail once; the e-mail's text (encrypted to the tenant's key when
//! it has one) is built and opened in the deliver component and goes to the
//! provider over TLS only, never through our API or Kafka.

mod resend;

use crate::saga::outbound::Outbound;
use crate::saga::providers::{call, classify, request, CallError, Endpoint, MailCalls};

pub use resend::Resend;

/// The configured e-mail API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailer {
    /// Our own API (`email_api_url`, `email_api_key`).
    Orderflow(Endpoint),
    /// Resend's API.
    Resend(Resend),
}

impl Mailer {
    /// The mailer `provider` names (`orderflow` or `resend`) at `endpoint`,
    /// sending from `from` (Resend needs a sender on a verified domain).
    pub fn from_config(provider: &str, endpoint: Endpoint, from: &str) -> Result<Mailer, String> {
        match provider {
            "orderflow" => Ok(Mailer::Orderflow(endpoint)),
            "resend" => Ok(Mailer::Resend(Resend::new(endpoint, from)?)),
            other => Err(format!("unknown e-mail provider `{other}` (known: orderflow, resend)")),
        }
    }
}

impl MailCalls for Mailer {
    fn send_email(&self, out: &dyn Outbound, to: &str, subject: &str, text: &str, key: &str) -> Result<(), CallError> {
        match self {
            Mailer::Orderflow(endpoint) => {
                let body = serde_json::json!({ "to": to, "subject": subject, "text": text });
                let r = call(out, request(endpoint, "POST", "/v1/messages", Some(key), Some(&body)))?;
                if (200..300).contains(&r.status) {
                    Ok(())
                } else {
                    Err(classify("send e-mail", &r))
                }
            }
            Mailer::Resend(resend) => resend.send_email(out, to, subject, text, key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_is_chosen_by_name_and_an_unknown_one_is_refused() {
        let endpoint = Endpoint {
            url: "http://127.0.0.1:1".into(),
            key: "re_x".into(),
        };
        assert!(matches!(
            Mailer::from_config("orderflow", endpoint.clone(), "a@b.example"),
            Ok(Mailer::Orderflow(_))
        ));
        assert!(matches!(
            Mailer::from_config("resend", endpoint.clone(), "Orderflow <access@b.example>"),
            Ok(Mailer::Resend(_))
        ));
        assert!(Mailer::from_config("sendmail", endpoint.clone(), "a@b.example")
            .unwrap_err()
            .contains("sendmail"));
        assert!(Mailer::from_config("resend", endpoint, "nobody").is_err());
    }
}
