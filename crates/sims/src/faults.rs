//! Fault injection settings: what the next calls should suffer.
//!
//! Payments and email take a simple "fail the next N calls"; the cloud
//! provider takes a richer plan (fail the Nth call, fail one item's creates,
//! refuse deletes, "already exists", readiness and latency). Setting faults
//! replaces the previous plan and restarts the call count.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `{"fail_next": N, "status": 500}`: the next N API calls fail with `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FailNext {
    #[serde(default)]
    fail_next: u32,
    #[serde(default = "default_status")]
    status: u16,
}

fn default_status() -> u16 {
    500
}

impl FailNext {
    /// Consumes one failure if any are left, returning its status.
    pub(crate) fn take(&mut self) -> Option<u16> {
        if self.fail_next == 0 {
            return None;
        }
        self.fail_next -= 1;
        Some(self.status)
    }

    /// The current setting as JSON.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "fail_next": self.fail_next, "status": self.status })
    }
}

/// The cloud provider's fault plan, as posted to `/_sim/faults`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloudFaultPlan {
    /// The Nth API call from now (1-based) fails with 503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_nth_call: Option<u64>,
    /// These API calls from now (1-based) fail with 503.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_calls: Vec<u64>,
    /// Creates for this reference fail with 500 (forever, or `times` times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reference: Option<String>,
    /// Creates for any of these references fail with 500 (forever, or
    /// `times` times each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_references: Vec<String>,
    /// How many creates per failing reference fail; absent means forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Deletes of resources with this reference fail with 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_deletes_for: Option<String>,
    /// Resources created for this reference end `failed` instead of `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_provisioning_for: Option<String>,
    /// A repeated create (same key, or same reference while live) gets 409.
    #[serde(default)]
    pub already_exists: bool,
    /// Resources created from now report `creating` for this many GETs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_after_polls: Option<u32>,
    /// Resources created from now become ready this long after creation
    /// (overrides `--cloud-latency-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Every API response is delayed this long (a slow provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_delay_ms: Option<u64>,
    /// Every API response body is sent one byte every this many
    /// milliseconds (a provider that trickles: each byte in time, the
    /// whole answer far too late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle_ms_per_byte: Option<u64>,
}

/// A plan in force, with its counters.
#[derive(Debug, Default)]
pub(crate) struct CloudFaults {
    plan: CloudFaultPlan,
    calls: u64,
    reference_failures: std::collections::HashMap<String, u32>,
}

impl CloudFaults {
    /// Replaces the plan and restarts the counters.
    pub(crate) fn set(&mut self, plan: CloudFaultPlan) {
        *self = Self {
            plan,
            ..Self::default()
        };
    }

    /// The plan as JSON, with the calls counted since it was set.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "plan": self.plan, "calls_since_set": self.calls })
    }

    /// Counts an API call; `Some(n)` if call number `n` must fail.
    pub(crate) fn on_call(&mut self) -> Option<u64> {
        self.calls += 1;
        let n = self.calls;
        (self.plan.fail_nth_call == Some(n) || self.plan.fail_calls.contains(&n)).then_some(n)
    }

    /// Whether a create for `reference` must fail (consumes one of `times`).
    pub(crate) fn fails_create(&mut self, reference: &str) -> bool {
        let targeted = self.plan.fail_reference.as_deref() == Some(reference)
            || self.plan.fail_references.iter().any(|r| r == reference);
        if !targeted {
            return false;
        }
        let failures = self.reference_failures.entry(reference.to_owned()).or_default();
        match self.plan.times {
            Some(times) if *failures >= times => false,
            _ => {
                *failures += 1;
                true
            }
        }
    }

    /// Whether a delete of a resource with `reference` must fail.
    pub(crate) fn fails_delete(&self, reference: &str) -> bool {
        self.plan.fail_deletes_for.as_deref() == Some(reference)
    }

    /// Whether a resource created now for `reference` must end `failed`.
    pub(crate) fn fails_provisioning(&self, reference: &str) -> bool {
        self.plan.fail_provisioning_for.as_deref() == Some(reference)
    }

    /// Whether repeated creates get 409 `already_exists`.
    pub(crate) fn already_exists(&self) -> bool {
        self.plan.already_exists
    }

    /// Poll-based readiness for resources created now, if set.
    pub(crate) fn ready_after_polls(&self) -> Option<u32> {
        self.plan.ready_after_polls
    }

    /// Time-based readiness override for resources created now, if set.
    pub(crate) fn latency(&self) -> Option<Duration> {
        self.plan.latency_ms.map(Duration::from_millis)
    }

    /// How long to hold each API response, if set.
    pub(crate) fn response_delay(&self) -> Option<Duration> {
        self.plan.response_delay_ms.map(Duration::from_millis)
    }

    /// The pause before each byte of a trickled response, if set.
    pub(crate) fn trickle(&self) -> Option<Duration> {
        self.plan.trickle_ms_per_byte.map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(value: Value) -> CloudFaultPlan {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("bad plan: {e}"))
    }

    #[test]
    fn fail_next_fails_exactly_that_many_calls() {
        let mut faults: FailNext = serde_json::from_value(json!({"fail_next": 2, "status": 502})).unwrap_or_default();
        assert_eq!(
            [faults.take(), faults.take(), faults.take()],
            [Some(502), Some(502), None]
        );
    }

    #[test]
    fn only_the_configured_call_numbers_fail() {
        let mut faults = CloudFaults::default();
        faults.set(plan(json!({"fail_nth_call": 2, "fail_calls": [4, 5]})));
        let failed: Vec<_> = (0..6).map(|_| faults.on_call().is_some()).collect();
        assert_eq!(failed, [false, true, false, true, true, false]);
    }

    #[test]
    fn a_reference_fails_forever_unless_limited_by_times() {
        let mut forever = CloudFaults::default();
        forever.set(plan(json!({"fail_reference": "item-1"})));
        assert!((0..10).all(|_| forever.fails_create("item-1")));
        assert!(!forever.fails_create("item-2"));

        let mut twice = CloudFaults::default();
        twice.set(plan(json!({"fail_reference": "item-1", "times": 2})));
        let failed: Vec<_> = (0..3).map(|_| twice.fails_create("item-1")).collect();
        assert_eq!(failed, [true, true, false]);
    }

    #[test]
    fn several_references_each_fail_their_own_number_of_times() {
        let mut faults = CloudFaults::default();
        faults.set(plan(json!({"fail_references": ["a", "b"], "times": 1})));
        let failed: Vec<_> = ["a", "b", "a", "b", "c"]
            .iter()
            .map(|r| faults.fails_create(r))
            .collect();
        assert_eq!(failed, [true, true, false, false, false]);
    }

    #[test]
    fn an_unknown_fault_field_is_refused() {
        assert!(serde_json::from_value::<CloudFaultPlan>(json!({"fail_nth": 1})).is_err());
    }
}
