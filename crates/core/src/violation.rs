//! Validation findings: each names the field (a JSON pointer), the rule it
//! broke, and what would have been accepted.

use serde::Serialize;
use serde_json::Value;

use crate::closed_set::closed_set;

closed_set!(
    /// The validation rules, as stable machine-readable codes.
    Rule, "rule" {
        /// A required field is missing.
        Required = "required",
        /// The value has the wrong JSON type.
        Type = "type",
        /// The value is not one of an enumerated set.
        OneOf = "one_of",
        /// A number lies outside its range.
        Range = "range",
        /// A field we do not know.
        UnknownField = "unknown_field",
        /// The product is not sold in that region.
        RegionAvailability = "region_availability",
        /// The OS image is not offered in that region.
        ImageRegion = "image_region",
        /// The OS image does not run on that plan.
        ImagePlan = "image_plan",
        /// The product is not sold on that billing cycle.
        BillingCycle = "billing_cycle",
        /// Autoscaling bounds are inconsistent.
        AutoscalingBounds = "autoscaling_bounds",
        /// Node count outside the chosen cluster size.
        ClusterSize = "cluster_size",
        /// The tenant's quota would be exceeded.
        Quota = "quota",
        /// The region has no capacity left for it.
        Capacity = "capacity",
        /// The order has too few or too many items.
        ItemCount = "item_count",
    }
);

/// One problem with a request, precise enough for a client to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// RFC 6901 pointer to the offending field, from the request body's root.
    pub pointer: String,
    /// The rule broken.
    pub rule: Rule,
    /// A sentence for humans.
    pub detail: String,
    /// What would be accepted: a list, a range `{"min":..,"max":..}`, or a limit.
    pub accepted: Value,
}

impl Violation {
    /// A finding at `pointer`.
    pub fn new(pointer: impl Into<String>, rule: Rule, detail: impl Into<String>, accepted: Value) -> Self {
        Self {
            pointer: pointer.into(),
            rule,
            detail: detail.into(),
            accepted,
        }
    }
}

/// Appends one escaped reference token to a JSON pointer (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn pointer_join(base: &str, token: &str) -> String {
    let escaped = token.replace('~', "~0").replace('/', "~1");
    format!("{base}/{escaped}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(pointer_join("/items/0", "a/b~c"), "/items/0/a~1b~0c");
        assert_eq!(pointer_join("", "items"), "/items");
    }
}
