//! Clients for the cloud and e-mail providers (a resource API with
//! idempotency keys, a transactional e-mail API), and the configured payment
//! provider (`super::payments`). Every call that creates something carries
//! an idempotency key, so retrying it is safe.

use orderflow_core::OrderItem;
use serde_json::{json, Value};

use super::outbound::{OutRequest, OutResponse, Outbound};
use super::payments::{IntentRequest, PaymentProvider, RefundInfo, RefundRequest};

/// A provider's base URL and API key (from Spin variables).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL, no trailing slash.
    pub url: String,
    /// Bearer key.
    pub key: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Why a provider call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Worth retrying: transport failure, 429 or 5xx.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Retrying will not help: the provider refused the request.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What the payment provider did with an off-session charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged (or being charged); the signed webhook confirms it.
    Accepted,
    /// Declined; the intent stays open for a retry or the customer.
    Declined(String),
}

/// What the cloud says of a resource (the core's type: the saga's
/// decisions read it).
pub use orderflow_core::saga::ResourceState as ResourceStatus;

/// The three providers. Each component configures only the ones it calls
/// (least privilege); a call to one it lacks is a permanent error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Providers {
    /// The payment provider.
    pub payments: Option<PaymentProvider>,
    /// Cloud API (one for every product and region here; the config could map each to its own).
    pub cloud: Option<Endpoint>,
    /// E-mail API.
    pub email: Option<Endpoint>,
}

fn configured<'a>(endpoint: &'a Option<Endpoint>, what: &str) -> Result<&'a Endpoint, CallError> {
    endpoint
        .as_ref()
        .ok_or_else(|| CallError::Permanent(format!("the {what} provider is not configured in this component")))
}

fn request(
    endpoint: &Endpoint,
    method: &'static str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> OutRequest {
    let mut headers = vec![("authorization".to_owned(), format!("Bearer {}", endpoint.key))];
    if let Some(key) = key {
        headers.push(("idempotency-key".to_owned(), key.to_owned()));
    }
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    OutRequest {
        method,
        url: format!("{}{path}", endpoint.url),
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    }
}

fn call(out: &dyn Outbound, req: OutRequest) -> Result<OutResponse, CallError> {
    let what = format!("{} {}", req.method, req.url);
    let response = out
        .send(req)
        .map_err(|e| CallError::Retryable(format!("{what}: {e}")))?;
    Ok(response)
}

fn classify(what: &str, r: &OutResponse) -> CallError {
    let body = String::from_utf8_lossy(&r.body);
    let text = format!(
        "{what} answered {}: {}",
        r.status,
        body.chars().take(200).collect::<String>()
    );
    if r.status == 429 || r.status >= 500 {
        CallError::Retryable(text)
    } else {
        CallError::Permanent(text)
    }
}

fn json_body(what: &str, r: &OutResponse) -> Result<Value, CallError> {
    serde_json::from_slice(&r.body).map_err(|e| CallError::Retryable(format!("{what}: unreadable answer: {e}")))
}

impl Providers {
    /// The payment provider, or a permanent error in a component without one.
    pub fn payments(&self) -> Result<&PaymentProvider, CallError> {
        self.payments
            .as_ref()
            .ok_or_else(|| CallError::Permanent("the payment provider is not configured in this component".into()))
    }

    /// Creates an item's resource; "already exists" counts as success. Returns the resource id.
    pub fn create_resource(&self, out: &dyn Outbound, item: &OrderItem) -> Result<String, CallError> {
        let config = serde_json::to_value(&item.spec.config).unwrap_or(Value::Null);
        let body = json!({
            "kind": config["product"],
            "region": item.spec.config.region(),
            "spec": config["config"],
            "reference": item.id.to_string(),
        });
        let key = format!("item-{}", item.id);
        let r = call(
            out,
            request(
                configured(&self.cloud, "cloud")?,
                "POST",
                "/v1/resources",
                Some(&key),
                Some(&body),
            ),
        )?;
        let v = match r.status {
            200..=299 => json_body("create resource", &r)?,
            409 => {
                let v = json_body("create resource", &r)?;
                let id = v["error"]["resource_id"].as_str().or_else(|| v["id"].as_str());
                return id.map(str::to_owned).ok_or_else(|| classify("create resource", &r));
            }
            _ => return Err(classify("create resource", &r)),
        };
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CallError::Retryable("resource without id".into()))
    }

    /// Where a resource is.
    pub fn resource_status(&self, out: &dyn Outbound, resource_id: &str) -> Result<ResourceStatus, CallError> {
        let path = format!("/v1/resources/{resource_id}");
        let r = call(
            out,
            request(configured(&self.cloud, "cloud")?, "GET", &path, None, None),
        )?;
        if !(200..300).contains(&r.status) {
            return Err(classify("get resource", &r));
        }
        let v = json_body("get resource", &r)?;
        Ok(match v["status"].as_str() {
            Some("ready") => ResourceStatus::Ready(v["access"].clone()),
            Some("failed") => ResourceStatus::Failed(v["error"].to_string()),
            _ => ResourceStatus::Creating,
        })
    }

    /// Deletes a resource; one that is already gone counts as deleted.
    pub fn delete_resource(&self, out: &dyn Outbound, resource_id: &str) -> Result<(), CallError> {
        let path = format!("/v1/resources/{resource_id}");
        let r = call(
            out,
            request(configured(&self.cloud, "cloud")?, "DELETE", &path, None, None),
        )?;
        match r.status {
            200..=299 | 404 => Ok(()),
            _ => Err(classify("delete resource", &r)),
        }
    }

    /// Suspends (`suspend`) or resumes a resource's service at the cloud
    /// provider; idempotent, and a resource that is gone needs neither.
    pub fn set_suspended(&self, out: &dyn Outbound, resource_id: &str, suspend: bool) -> Result<(), CallError> {
        let verb = if suspend { "suspend" } else { "resume" };
        let path = format!("/v1/resources/{resource_id}/{verb}");
        let r = call(
            out,
            request(
                configured(&self.cloud, "cloud")?,
                "POST",
                &path,
                Some(&format!("{verb}-{resource_id}")),
                Some(&json!({})),
            ),
        )?;
        match r.status {
            200..=299 | 404 => Ok(()),
            _ => Err(classify(&format!("{verb} resource"), &r)),
        }
    }

    /// Sends one e-mail, at most once per key.
    pub fn send_email(
        &self,
        out: &dyn Outbound,
        to: &str,
        subject: &str,
        text: &str,
        key: &str,
    ) -> Result<(), CallError> {
        let body = json!({ "to": to, "subject": subject, "text": text });
        let r = call(
            out,
            request(
                configured(&self.email, "e-mail")?,
                "POST",
                "/v1/messages",
                Some(key),
                Some(&body),
            ),
        )?;
        if (200..300).contains(&r.status) {
            Ok(())
        } else {
            Err(classify("send e-mail", &r))
        }
    }
}

impl From<CallError> for orderflow_core::saga::Failure {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Retryable(m) => orderflow_core::saga::Failure::Retryable(m),
            CallError::Permanent(m) => orderflow_core::saga::Failure::Permanent(m),
        }
    }
}

/// The payment provider's calls the saga makes.
pub trait PaymentCalls {
    /// Creates a payment intent (idempotent by the request's key); returns
    /// the provider's name and the intent's id.
    fn create_intent(&self, out: &dyn Outbound, request: &IntentRequest) -> Result<(&'static str, String), CallError>;
    /// Voids a payment intent; one already voided counts as voided.
    fn cancel_intent(&self, out: &dyn Outbound, intent: &str) -> Result<(), CallError>;
    /// Whether a payment intent has been paid.
    fn intent_paid(&self, out: &dyn Outbound, intent: &str) -> Result<bool, CallError>;
    /// Refunds (part of) a paid intent (idempotent by the request's key);
    /// returns the provider's name and the refund as it reports it.
    fn create_refund(
        &self,
        out: &dyn Outbound,
        request: &RefundRequest,
    ) -> Result<(&'static str, RefundInfo), CallError>;
}

/// The cloud provider's calls the saga makes.
pub trait CloudCalls {
    /// Creates an item's resource (idempotent by the item's id); "already
    /// exists" counts as success. Returns the resource id.
    fn create_resource(&self, out: &dyn Outbound, item: &OrderItem) -> Result<String, CallError>;
    /// Where a resource is.
    fn resource_status(&self, out: &dyn Outbound, resource_id: &str) -> Result<ResourceStatus, CallError>;
    /// Deletes a resource; one that is already gone counts as deleted.
    fn delete_resource(&self, out: &dyn Outbound, resource_id: &str) -> Result<(), CallError>;
}

/// The e-mail provider's call the saga makes.
pub trait MailCalls {
    /// Sends one e-mail, at most once per key.
    fn send_email(&self, out: &dyn Outbound, to: &str, subject: &str, text: &str, key: &str) -> Result<(), CallError>;
}

/// Every provider the saga's steps call: the configured ones in the
/// components ([`Providers`]), fakes in the decision tests.
pub trait SagaProviders: PaymentCalls + CloudCalls + MailCalls + std::fmt::Debug {}

impl<T: PaymentCalls + CloudCalls + MailCalls + std::fmt::Debug> SagaProviders for T {}

impl PaymentCalls for Providers {
    fn create_intent(&self, out: &dyn Outbound, request: &IntentRequest) -> Result<(&'static str, String), CallError> {
        let provider = self.payments()?;
        Ok((provider.name(), provider.create_intent(out, request)?))
    }

    fn cancel_intent(&self, out: &dyn Outbound, intent: &str) -> Result<(), CallError> {
        self.payments()?.cancel_intent(out, intent)
    }

    fn intent_paid(&self, out: &dyn Outbound, intent: &str) -> Result<bool, CallError> {
        let info = self.payments()?.retrieve_intent(out, intent)?;
        Ok(info.status == super::payments::IntentStatus::Succeeded)
    }

    fn create_refund(
        &self,
        out: &dyn Outbound,
        request: &RefundRequest,
    ) -> Result<(&'static str, RefundInfo), CallError> {
        let provider = self.payments()?;
        Ok((provider.name(), provider.create_refund(out, request)?))
    }
}

impl CloudCalls for Providers {
    fn create_resource(&self, out: &dyn Outbound, item: &OrderItem) -> Result<String, CallError> {
        Providers::create_resource(self, out, item)
    }

    fn resource_status(&self, out: &dyn Outbound, resource_id: &str) -> Result<ResourceStatus, CallError> {
        Providers::resource_status(self, out, resource_id)
    }

    fn delete_resource(&self, out: &dyn Outbound, resource_id: &str) -> Result<(), CallError> {
        Providers::delete_resource(self, out, resource_id)
    }
}

impl MailCalls for Providers {
    fn send_email(&self, out: &dyn Outbound, to: &str, subject: &str, text: &str, key: &str) -> Result<(), CallError> {
        Providers::send_email(self, out, to, subject, text, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_retryable_and_client_errors_are_not() {
        let r = |status| OutResponse {
            status,
            body: b"{}".to_vec(),
        };
        assert!(matches!(classify("x", &r(503)), CallError::Retryable(_)));
        assert!(matches!(classify("x", &r(429)), CallError::Retryable(_)));
        assert!(matches!(classify("x", &r(400)), CallError::Permanent(_)));
    }
}
