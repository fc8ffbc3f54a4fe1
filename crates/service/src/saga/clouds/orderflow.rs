//! Our own regions' provisioning API (`lj-1`, `mb-1`): the contract written
//! down in `docs/cloud-api.openapi.json`, so our platform team (or any
//! provider's) can implement it. Resources are created with an
//! `Idempotency-Key` (`item-<item id>`), polled until `ready` or `failed`,
//! deleted for compensation, and suspended or resumed for unpaid
//! subscriptions.

use orderflow_core::OrderItem;
use serde_json::{json, Value};

use crate::saga::outbound::Outbound;
use crate::saga::providers::{call, classify, json_body, request, CallError, CloudCalls, Endpoint, ResourceStatus};

/// The adapter for our own provisioning API at one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderflowCloud {
    endpoint: Endpoint,
}

impl OrderflowCloud {
    /// The API at `endpoint` (`cloud_api_url`, `cloud_api_key`).
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }

    /// Suspends (`suspend`) or resumes a resource's service; idempotent,
    /// and a resource that is gone needs neither.
    pub fn set_suspended(&self, out: &dyn Outbound, resource_id: &str, suspend: bool) -> Result<(), CallError> {
        let verb = if suspend { "suspend" } else { "resume" };
        let path = format!("/v1/resources/{resource_id}/{verb}");
        let r = call(
            out,
            request(
                &self.endpoint,
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
}

impl CloudCalls for OrderflowCloud {
    fn create_resource(&self, out: &dyn Outbound, item: &OrderItem) -> Result<String, CallError> {
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
            request(&self.endpoint, "POST", "/v1/resources", Some(&key), Some(&body)),
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

    fn resource_status(&self, out: &dyn Outbound, resource_id: &str) -> Result<ResourceStatus, CallError> {
        let path = format!("/v1/resources/{resource_id}");
        let r = call(out, request(&self.endpoint, "GET", &path, None, None))?;
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

    fn delete_resource(&self, out: &dyn Outbound, resource_id: &str) -> Result<(), CallError> {
        let path = format!("/v1/resources/{resource_id}");
        let r = call(out, request(&self.endpoint, "DELETE", &path, None, None))?;
        match r.status {
            200..=299 | 404 => Ok(()),
            _ => Err(classify("delete resource", &r)),
        }
    }
}
