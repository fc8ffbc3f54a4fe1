//! Hetzner Cloud (API v1) for the `hetzner-fsn1` region, in Hetzner's own
//! wire format: JSON with a Bearer token; `POST /servers` with
//! `server_type`, `image`, `location` and labels; actions polled until
//! `success` or `error`; `DELETE /servers/{id}` for compensation; errors as
//! `{"error": {"code", "message", "details"}}`; the `RateLimit-Remaining`
//! and `RateLimit-Reset` headers; pages through `meta.pagination`.
//!
//! Hetzner has no idempotency header. Each server carries our item's id as
//! a label (`orderflow-item`) and is named after it (`of-<item id>`, names
//! are unique per project), so a create that crashed before its answer was
//! recorded is found again by its label instead of creating a second
//! server; a create that races one finds it through the name's
//! `uniqueness_error`.
//!
//! The root password comes only with the create's answer, which a crash can
//! lose, and the saga must not store it unsealed between create and ready.
//! So the create asks for none to be kept: once the server runs and its
//! actions have succeeded, the poll resets the root password
//! (`POST /servers/{id}/actions/reset_password`) and hands the fresh one
//! straight to the vault with the server's addresses. A poll repeated after
//! a crash resets it again; only the last one is sealed.
//!
//! What our products map to (README "Connect Hetzner Cloud"): a VPS only,
//! `core` → `cpx21`, `business` → `cpx31`, images by the same name; the
//! catalog refuses everything else in that region at validation, and this
//! adapter refuses it again (permanently) should an old order carry it.

use orderflow_core::{OrderItem, ProductConfig, Region, VpsPlan};
use serde_json::{json, Value};

use crate::saga::outbound::{OutRequest, OutResponse, Outbound};
use crate::saga::providers::{CallError, CloudCalls, Endpoint, ResourceStatus};

/// The label that carries our item id (our idempotency key).
pub const ITEM_LABEL: &str = "orderflow-item";
/// The label that marks servers we manage.
pub const MANAGED_LABEL: &str = "managed-by";
/// How many pages of a listing we read before giving up for this attempt.
const MAX_PAGES: u32 = 20;
/// Page size asked for (Hetzner's maximum is 50).
const PER_PAGE: u32 = 50;

/// The adapter for one Hetzner Cloud project.
#[derive(Clone, PartialEq, Eq)]
pub struct HetznerCloud {
    /// `https://api.hetzner.cloud/v1` (or the simulator's `…/v1`), and the
    /// project's API token.
    endpoint: Endpoint,
}

impl std::fmt::Debug for HetznerCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HetznerCloud")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// What one of our items is at Hetzner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRequest {
    /// `of-<item id>`.
    pub name: String,
    /// A server type name.
    pub server_type: &'static str,
    /// An image name.
    pub image: String,
    /// A location name.
    pub location: &'static str,
}

/// The Hetzner server for `item`, or why Hetzner cannot provide it.
pub fn server_for(item: &OrderItem) -> Result<ServerRequest, String> {
    let ProductConfig::Vps(vps) = &item.spec.config else {
        return Err(format!(
            "Hetzner Cloud provides servers only, not {}",
            item.spec.config.product()
        ));
    };
    let location = match vps.region {
        Region::HetznerFsn1 => "fsn1",
        other => return Err(format!("{other} is not a Hetzner location")),
    };
    let server_type = match vps.plan {
        VpsPlan::Core => "cpx21",
        VpsPlan::Business => "cpx31",
        VpsPlan::Enterprise => return Err("Hetzner has no server type for the enterprise plan (640 GB)".into()),
    };
    let image = match vps.os_image.as_str() {
        image @ ("ubuntu-24.04" | "debian-12") => image.to_owned(),
        other => return Err(format!("Hetzner Cloud has no image {other}")),
    };
    Ok(ServerRequest {
        name: format!("of-{}", item.id),
        server_type,
        image,
        location,
    })
}

impl HetznerCloud {
    /// The project at `endpoint` (`hetzner_api_url`, `hetzner_api_token`).
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }

    fn send(
        &self,
        out: &dyn Outbound,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<OutResponse, CallError> {
        let mut headers = vec![
            ("authorization".to_owned(), format!("Bearer {}", self.endpoint.key)),
            ("accept".to_owned(), "application/json".to_owned()),
        ];
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        let request = OutRequest {
            method,
            url: format!("{}{path}", self.endpoint.url),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        out.send(request)
            .map_err(|e| CallError::Retryable(format!("Hetzner {method} {path}: {e}")))
    }

    /// Sends, then refuses to go on while the project's rate limit is spent
    /// (the next call would only be refused), and reads a 2xx body.
    fn json(
        &self,
        out: &dyn Outbound,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), CallError> {
        let r = self.send(out, method, path, body)?;
        if !(200..300).contains(&r.status) {
            return Err(classify(&format!("{method} {path}"), &r));
        }
        let value = if r.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&r.body)
                .map_err(|e| CallError::Retryable(format!("Hetzner {method} {path}: unreadable answer: {e}")))?
        };
        Ok((r.status, value))
    }

    /// The id of our live server for `item_id`, found by its label
    /// (every page read).
    fn find_by_label(&self, out: &dyn Outbound, item_id: &str) -> Result<Option<i64>, CallError> {
        let selector = format!("{ITEM_LABEL}=={item_id}");
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/servers?label_selector={}&page={page}&per_page={PER_PAGE}",
                encode(&selector)
            );
            let (_, v) = self.json(out, "GET", &path, None)?;
            let found = v["servers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["status"] != "deleting" && s["labels"][ITEM_LABEL] == item_id)
                .and_then(|s| s["id"].as_i64());
            if found.is_some() {
                return Ok(found);
            }
            if v["meta"]["pagination"]["next_page"].as_u64().is_none() {
                return Ok(None);
            }
        }
        Err(CallError::Retryable(format!(
            "Hetzner: more than {MAX_PAGES} pages of servers for one label"
        )))
    }

    /// Every action of server `id` (every page, oldest first); `None` when
    /// the server no longer exists.
    fn actions(&self, out: &dyn Outbound, id: &str) -> Result<Option<Vec<Value>>, CallError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let path = format!("/servers/{id}/actions?sort=id:asc&page={page}&per_page={PER_PAGE}");
            let r = self.send(out, "GET", &path, None)?;
            if r.status == 404 {
                return Ok(None);
            }
            if !(200..300).contains(&r.status) {
                return Err(classify(&format!("GET {path}"), &r));
            }
            let v: Value = serde_json::from_slice(&r.body)
                .map_err(|e| CallError::Retryable(format!("Hetzner GET {path}: unreadable answer: {e}")))?;
            all.extend(v["actions"].as_array().cloned().unwrap_or_default());
            if v["meta"]["pagination"]["next_page"].as_u64().is_none() {
                return Ok(Some(all));
            }
        }
        Err(CallError::Retryable(format!(
            "Hetzner: more than {MAX_PAGES} pages of actions for server {id}"
        )))
    }

    /// Powers a server off (`suspend`) or on; a server that is gone needs
    /// neither. Hetzner answers either for a server already there.
    pub fn set_suspended(&self, out: &dyn Outbound, id: &str, suspend: bool) -> Result<(), CallError> {
        let verb = if suspend { "poweroff" } else { "poweron" };
        let path = format!("/servers/{id}/actions/{verb}");
        let r = self.send(out, "POST", &path, None)?;
        match r.status {
            200..=299 | 404 => Ok(()),
            _ => Err(classify(&format!("POST {path}"), &r)),
        }
    }
}

impl CloudCalls for HetznerCloud {
    fn create_resource(&self, out: &dyn Outbound, item: &OrderItem) -> Result<String, CallError> {
        let server = server_for(item).map_err(CallError::Permanent)?;
        let item_id = item.id.to_string();
        // A create that crashed before its answer was recorded made a
        // server with this label: that one is ours.
        if let Some(id) = self.find_by_label(out, &item_id)? {
            return Ok(id.to_string());
        }
        let body = json!({
            "name": server.name,
            "server_type": server.server_type,
            "image": server.image,
            "location": server.location,
            "start_after_create": true,
            "labels": { ITEM_LABEL: item_id, MANAGED_LABEL: "orderflow" },
            "public_net": { "enable_ipv4": true, "enable_ipv6": true },
        });
        let r = self.send(out, "POST", "/servers", Some(&body))?;
        if r.status == 409 && error_code(&r).as_deref() == Some("uniqueness_error") {
            // Created meanwhile under our name: find it by its label.
            return match self.find_by_label(out, &item_id)? {
                Some(id) => Ok(id.to_string()),
                None => Err(classify("POST /servers", &r)),
            };
        }
        if !(200..300).contains(&r.status) {
            return Err(classify("POST /servers", &r));
        }
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| CallError::Retryable(format!("Hetzner POST /servers: unreadable answer: {e}")))?;
        v["server"]["id"]
            .as_i64()
            .map(|id| id.to_string())
            .ok_or_else(|| CallError::Retryable("Hetzner POST /servers: no server id in the answer".into()))
    }

    fn resource_status(&self, out: &dyn Outbound, id: &str) -> Result<ResourceStatus, CallError> {
        let Some(mut actions) = self.actions(out, id)? else {
            return Ok(ResourceStatus::Failed(format!("Hetzner server {id} no longer exists")));
        };
        // Creating is these two; a password reset or power action of ours
        // may still run beside a server that is ready.
        actions.retain(|a| a["command"] == "create_server" || a["command"] == "start_server");
        if let Some(failed) = actions.iter().find(|a| a["status"] == "error") {
            return Ok(ResourceStatus::Failed(format!(
                "Hetzner action {} failed: {}: {}",
                failed["command"].as_str().unwrap_or("?"),
                failed["error"]["code"].as_str().unwrap_or("?"),
                failed["error"]["message"].as_str().unwrap_or("")
            )));
        }
        if actions.iter().any(|a| a["status"] == "running") {
            return Ok(ResourceStatus::Creating);
        }
        let path = format!("/servers/{id}");
        let r = self.send(out, "GET", &path, None)?;
        if r.status == 404 {
            return Ok(ResourceStatus::Failed(format!("Hetzner server {id} no longer exists")));
        }
        if !(200..300).contains(&r.status) {
            return Err(classify(&format!("GET {path}"), &r));
        }
        let server: Value = serde_json::from_slice::<Value>(&r.body)
            .map_err(|e| CallError::Retryable(format!("Hetzner GET {path}: unreadable answer: {e}")))?["server"]
            .take();
        if server["status"] != "running" {
            return Ok(ResourceStatus::Creating);
        }
        if let Some(until) = spent(&r) {
            return Err(CallError::Retryable(format!("Hetzner rate limit spent until {until}")));
        }
        let path = format!("/servers/{id}/actions/reset_password");
        let (_, reset) = self.json(out, "POST", &path, None)?;
        let password = reset["root_password"]
            .as_str()
            .ok_or_else(|| CallError::Retryable("Hetzner reset_password: no root_password".into()))?;
        let ipv4 = &server["public_net"]["ipv4"];
        Ok(ResourceStatus::Ready(json!({
            "ip": ipv4["ip"],
            "ipv6": server["public_net"]["ipv6"]["ip"],
            "hostname": ipv4["dns_ptr"],
            "username": "root",
            "password": password,
            "ssh_port": 22,
            "provider": "hetzner",
            "server_id": server["id"],
        })))
    }

    fn delete_resource(&self, out: &dyn Outbound, id: &str) -> Result<(), CallError> {
        let path = format!("/servers/{id}");
        let r = self.send(out, "DELETE", &path, None)?;
        match r.status {
            200..=299 | 404 => Ok(()),
            _ => Err(classify(&format!("DELETE {path}"), &r)),
        }
    }
}

/// Hetzner's error code from an error answer, if it has one.
fn error_code(r: &OutResponse) -> Option<String> {
    serde_json::from_slice::<Value>(&r.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
}

/// When the rate limit is spent: `RateLimit-Remaining: 0` gives
/// `RateLimit-Reset` (unix seconds).
fn spent(r: &OutResponse) -> Option<String> {
    (r.header("ratelimit-remaining") == Some("0")).then(|| r.header("ratelimit-reset").unwrap_or("unknown").to_owned())
}

/// Retryable: transport trouble, 5xx, 429 and the codes Hetzner documents
/// as passing (`rate_limit_exceeded`, `conflict`, `locked`, `timeout`,
/// `maintenance`, `resource_unavailable`, `server_error`); everything else
/// (invalid input, unknown type or image, forbidden, limits) is permanent.
pub fn classify(what: &str, r: &OutResponse) -> CallError {
    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"].as_str().unwrap_or("");
    let mut text = format!("Hetzner {what} answered {} {code}: {message}", r.status);
    if let Some(reset) = r.header("ratelimit-reset").filter(|_| r.status == 429) {
        text.push_str(&format!(" (rate limit resets at {reset})"));
    }
    let passing = matches!(
        code,
        "rate_limit_exceeded"
            | "conflict"
            | "locked"
            | "timeout"
            | "maintenance"
            | "resource_unavailable"
            | "server_error"
    );
    if passing || r.status == 429 || r.status >= 500 {
        CallError::Retryable(text)
    } else {
        CallError::Permanent(text)
    }
}

/// Percent-encodes a query value (a label selector: letters, digits, `-`,
/// `_`, `.` stay).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value, headers: &[(&str, &str)]) -> OutResponse {
        OutResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn rate_limits_locks_and_server_errors_are_retried_and_bad_input_is_not() {
        let err = |code: &str| json!({"error": {"code": code, "message": "m", "details": {}}});
        let limited = classify(
            "x",
            &answer(429, err("rate_limit_exceeded"), &[("ratelimit-reset", "1700000000")]),
        );
        assert!(
            matches!(&limited, CallError::Retryable(m) if m.contains("1700000000")),
            "{limited:?}"
        );
        assert!(matches!(
            classify("x", &answer(423, err("locked"), &[])),
            CallError::Retryable(_)
        ));
        assert!(matches!(
            classify("x", &answer(409, err("conflict"), &[])),
            CallError::Retryable(_)
        ));
        assert!(matches!(
            classify("x", &answer(503, err("unavailable"), &[])),
            CallError::Retryable(_)
        ));
        assert!(matches!(
            classify("x", &answer(400, err("invalid_input"), &[])),
            CallError::Permanent(_)
        ));
        assert!(matches!(
            classify("x", &answer(403, err("forbidden"), &[])),
            CallError::Permanent(_)
        ));
        assert!(matches!(
            classify("x", &answer(403, err("resource_limit_exceeded"), &[])),
            CallError::Permanent(_)
        ));
    }

    #[test]
    fn a_label_selector_is_percent_encoded() {
        assert_eq!(encode("orderflow-item==a-1"), "orderflow-item%3D%3Da-1");
    }

    #[test]
    fn a_spent_rate_limit_names_its_reset() {
        let r = answer(
            200,
            json!({}),
            &[("ratelimit-remaining", "0"), ("ratelimit-reset", "42")],
        );
        assert_eq!(spent(&r).as_deref(), Some("42"));
        let r = answer(200, json!({}), &[("ratelimit-remaining", "3")]);
        assert_eq!(spent(&r), None);
    }
}
