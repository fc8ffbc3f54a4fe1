//! Regional capacity: each (region, product) pool runs only so many units,
//! and a paid order is provisioned only if every item fits what is free.

use serde_json::json;

use crate::catalog::{ProductType, Region};
use crate::config::{ItemSpec, ProductConfig};
use crate::quota::demand;
use crate::violation::{Rule, Violation};

/// The units of its pool an item takes: instances (VPS, databases), workers
/// (Kubernetes, at the autoscaling maximum), nodes (GPU, private cloud) or
/// TB (object storage).
pub fn capacity_units(config: &ProductConfig) -> u32 {
    let d = demand(config);
    [
        d.vps_instances,
        d.kubernetes_workers,
        d.databases,
        d.gpu_nodes,
        d.private_cloud_nodes,
        d.object_storage_tb,
    ]
    .into_iter()
    .fold(0u32, u32::saturating_add)
}

/// Checks `items` (at `/items/<i>`) against the units `free` in each pool,
/// counting earlier items of the same order against later ones.
pub fn check_capacity(free: impl Fn(Region, ProductType) -> u32, items: &[ItemSpec]) -> Vec<Violation> {
    let mut taken: Vec<((Region, ProductType), u32)> = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pool = (item.config.region(), item.config.product());
        let want = capacity_units(&item.config);
        let already = taken.iter().find(|(p, _)| *p == pool).map_or(0, |(_, n)| *n);
        let available = free(pool.0, pool.1).saturating_sub(already);
        if want > available {
            problems.push(Violation::new(
                format!("/items/{i}/config/region"),
                Rule::Capacity,
                format!(
                    "{} has room for {available} more {} units; this item needs {want}",
                    pool.0, pool.1
                ),
                json!({ "available": available, "requested": want }),
            ));
        }
        match taken.iter_mut().find(|(p, _)| *p == pool) {
            Some((_, n)) => *n = n.saturating_add(want),
            None => taken.push((pool, want)),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::config::parse_item;

    fn gpu(region: &str, nodes: u32) -> ItemSpec {
        let raw = json!({"product":"gpu","billing_cycle":"monthly",
            "config":{"region":region,"gpu":"H100","nodes":nodes,"storage_gb":100,"framework":"none"}});
        parse_item(&Catalog::standard(), &raw, "").unwrap()
    }

    #[test]
    fn an_item_that_fits_its_pool_passes() {
        assert!(check_capacity(|_, _| 8, &[gpu("lj-1", 8)]).is_empty());
    }

    #[test]
    fn items_of_one_order_share_their_pool() {
        // Another region's item draws on its own pool.
        let elsewhere = parse_item(
            &Catalog::standard(),
            &json!({"product":"vps","billing_cycle":"monthly",
                "config":{"region":"hetzner-fsn1","plan":"core","os_image":"debian-12"}}),
            "",
        )
        .unwrap();
        let problems = check_capacity(|_, _| 10, &[gpu("lj-1", 6), gpu("lj-1", 6), elsewhere]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pointer, "/items/1/config/region");
        assert_eq!(problems[0].rule, Rule::Capacity);
        assert_eq!(problems[0].accepted, json!({"available": 4, "requested": 6}));
    }

    #[test]
    fn units_are_the_products_own_measure() {
        let k8s = parse_item(
            &Catalog::standard(),
            &json!({"product":"kubernetes","billing_cycle":"monthly","config":{"region":"lj-1","workers":3,
                "storage_class":"ssd","storage_gb":10,"autoscaling":{"min_workers":3,"max_workers":12}}}),
            "",
        )
        .unwrap();
        assert_eq!(capacity_units(&k8s.config), 12);
        assert_eq!(capacity_units(&gpu("lj-1", 5).config), 5);
    }
}
