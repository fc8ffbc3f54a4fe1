//! Per-tenant quotas: what an order adds to what the tenant already runs
//! must stay within the tenant's ceilings.

use serde_json::json;

use crate::catalog::Quota;
use crate::config::{ItemSpec, ProductConfig};
use crate::violation::{Rule, Violation};

/// What one item consumes, in the quota's units.
pub fn demand(config: &ProductConfig) -> Quota {
    let mut q = Quota::default();
    match config {
        ProductConfig::Vps(_) => q.vps_instances = 1,
        ProductConfig::Kubernetes(c) => q.kubernetes_workers = c.autoscaling.map_or(c.workers, |a| a.max_workers),
        ProductConfig::ManagedDatabase(_) => q.databases = 1,
        ProductConfig::Gpu(c) => q.gpu_nodes = c.nodes,
        ProductConfig::PrivateCloud(c) => q.private_cloud_nodes = c.nodes,
        ProductConfig::ObjectStorage(c) => q.object_storage_tb = c.capacity_tb,
    }
    q
}

type Dimension = (&'static str, fn(&Quota) -> u32);

const DIMENSIONS: [Dimension; 6] = [
    ("vps_instances", |q| q.vps_instances),
    ("kubernetes_workers", |q| q.kubernetes_workers),
    ("databases", |q| q.databases),
    ("gpu_nodes", |q| q.gpu_nodes),
    ("private_cloud_nodes", |q| q.private_cloud_nodes),
    ("object_storage_tb", |q| q.object_storage_tb),
];

/// Checks `items` (at `/items/<i>`) against `limit`, given what is `in_use`.
/// Autoscaling clusters count at their maximum, since they may grow to it
/// without another order. Reports the first item that crosses each ceiling.
pub fn check_quota(limit: &Quota, in_use: &Quota, items: &[ItemSpec]) -> Vec<Violation> {
    let mut errs = Vec::new();
    for (name, get) in DIMENSIONS {
        let mut used = u64::from(get(in_use));
        let cap = u64::from(get(limit));
        for (i, item) in items.iter().enumerate() {
            let want = u64::from(get(&demand(&item.config)));
            if want == 0 {
                continue;
            }
            if used + want > cap {
                errs.push(Violation::new(
                    format!("/items/{i}"),
                    Rule::Quota,
                    format!("this item needs {want} {name}; your quota has {} of {cap} left", cap.saturating_sub(used)),
                    json!({ "quota": name, "limit": cap, "in_use": get(in_use), "available": cap.saturating_sub(used) }),
                ));
                break;
            }
            used += want;
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::config::parse_item;

    fn gpu(nodes: u32) -> ItemSpec {
        let raw = json!({"product":"gpu","billing_cycle":"monthly",
            "config":{"region":"lj-1","gpu":"A100","nodes":nodes,"storage_gb":100,"framework":"none"}});
        parse_item(&Catalog::standard(), &raw, "").unwrap()
    }

    #[test]
    fn an_order_within_quota_passes() {
        let limit = Quota {
            gpu_nodes: 8,
            ..Quota::default()
        };
        assert!(check_quota(&limit, &Quota::default(), &[gpu(4), gpu(4)]).is_empty());
    }

    #[test]
    fn the_item_that_crosses_the_ceiling_is_named_with_what_is_left() {
        let limit = Quota {
            gpu_nodes: 8,
            ..Quota::default()
        };
        let in_use = Quota {
            gpu_nodes: 3,
            ..Quota::default()
        };
        let errs = check_quota(&limit, &in_use, &[gpu(2), gpu(4)]);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pointer, "/items/1");
        assert_eq!(errs[0].rule, Rule::Quota);
        assert_eq!(errs[0].accepted["available"], 3);
    }

    #[test]
    fn autoscaling_clusters_count_at_their_maximum() {
        let raw = json!({"product":"kubernetes","billing_cycle":"monthly","config":{"region":"lj-1","workers":3,
            "storage_class":"ssd","storage_gb":10,"autoscaling":{"min_workers":3,"max_workers":40}}});
        let spec = parse_item(&Catalog::standard(), &raw, "").unwrap();
        assert_eq!(demand(&spec.config).kubernetes_workers, 40);
    }
}
