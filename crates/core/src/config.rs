//! Item configurations: parsed from untrusted JSON into typed values, with
//! every problem reported at once (SPEC §3).
//!
//! Serde stops at the first error, which makes customers fix one field per
//! round trip; this parser walks the whole item and collects every finding,
//! each with a JSON pointer, the rule and what would be accepted.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::catalog::{
    BillingCycle, Catalog, ClusterSize, DbEngine, DbPlan, Framework, GpuModel, ProductType, Region, Replication,
    StorageClass, StorageTier, VpsPlan,
};
use crate::closed_set::ClosedSet;
use crate::violation::{pointer_join, Rule, Violation};

/// A VPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpsConfig {
    /// Where it runs.
    pub region: Region,
    /// Its size.
    pub plan: VpsPlan,
    /// Its OS image id; offered in `region` and runnable on `plan`.
    pub os_image: String,
}

/// Kubernetes autoscaling bounds; `min_workers ≤ workers ≤ max_workers ≤ 50`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    /// Fewest workers.
    pub min_workers: u32,
    /// Most workers.
    pub max_workers: u32,
}

/// A Kubernetes cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Where it runs.
    pub region: Region,
    /// Workers at start; what is billed.
    pub workers: u32,
    /// Persistent-volume class.
    pub storage_class: StorageClass,
    /// Persistent storage in GB.
    pub storage_gb: u32,
    /// Autoscaling, when enabled.
    pub autoscaling: Option<Autoscaling>,
}

/// A managed database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Where it runs.
    pub region: Region,
    /// The engine (PostgreSQL 16).
    pub engine: DbEngine,
    /// Plan.
    pub plan: DbPlan,
    /// Storage in GB.
    pub storage_gb: u32,
    /// A hot standby; doubles the plan price.
    pub high_availability: bool,
}

/// GPU nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuConfig {
    /// Where they run.
    pub region: Region,
    /// GPU model.
    pub gpu: GpuModel,
    /// Node count.
    pub nodes: u32,
    /// Local storage in GB.
    pub storage_gb: u32,
    /// Preinstalled framework.
    pub framework: Framework,
}

/// A private cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateCloudConfig {
    /// Where it runs.
    pub region: Region,
    /// Size class; bounds `nodes`.
    pub cluster_size: ClusterSize,
    /// Node count.
    pub nodes: u32,
    /// Storage in TB.
    pub storage_tb: u32,
}

/// Object storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStorageConfig {
    /// Where it lives.
    pub region: Region,
    /// Tier.
    pub tier: StorageTier,
    /// Capacity in TB.
    pub capacity_tb: u32,
    /// Replication.
    pub replication: Replication,
}

/// A valid configuration of one of the six products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "product", content = "config", rename_all = "snake_case")]
pub enum ProductConfig {
    /// See [`VpsConfig`].
    Vps(VpsConfig),
    /// See [`KubernetesConfig`].
    Kubernetes(KubernetesConfig),
    /// See [`DatabaseConfig`].
    ManagedDatabase(DatabaseConfig),
    /// See [`GpuConfig`].
    Gpu(GpuConfig),
    /// See [`PrivateCloudConfig`].
    PrivateCloud(PrivateCloudConfig),
    /// See [`ObjectStorageConfig`].
    ObjectStorage(ObjectStorageConfig),
}

impl ProductConfig {
    /// Which product this configures.
    pub fn product(&self) -> ProductType {
        match self {
            ProductConfig::Vps(_) => ProductType::Vps,
            ProductConfig::Kubernetes(_) => ProductType::Kubernetes,
            ProductConfig::ManagedDatabase(_) => ProductType::ManagedDatabase,
            ProductConfig::Gpu(_) => ProductType::Gpu,
            ProductConfig::PrivateCloud(_) => ProductType::PrivateCloud,
            ProductConfig::ObjectStorage(_) => ProductType::ObjectStorage,
        }
    }

    /// Where it runs.
    pub fn region(&self) -> Region {
        match self {
            ProductConfig::Vps(c) => c.region,
            ProductConfig::Kubernetes(c) => c.region,
            ProductConfig::ManagedDatabase(c) => c.region,
            ProductConfig::Gpu(c) => c.region,
            ProductConfig::PrivateCloud(c) => c.region,
            ProductConfig::ObjectStorage(c) => c.region,
        }
    }
}

/// A valid item: what to run, and how it is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSpec {
    /// The product and its configuration.
    #[serde(flatten)]
    pub config: ProductConfig,
    /// How it is billed.
    pub billing_cycle: BillingCycle,
}

/// Parses one item (`{"product", "billing_cycle", "config"}`) found at
/// pointer `at`, checking every static rule of the catalog.
pub fn parse_item(catalog: &Catalog, raw: &Value, at: &str) -> Result<ItemSpec, Vec<Violation>> {
    let mut errs = Vec::new();
    let spec = parse_item_into(catalog, raw, at, &mut errs);
    match spec {
        Some(spec) if errs.is_empty() => Ok(spec),
        _ => Err(errs),
    }
}

/// Parses an order's item list (found at `/items`), returning every item or every problem.
pub fn parse_items(catalog: &Catalog, raw: &Value) -> Result<Vec<ItemSpec>, Vec<Violation>> {
    let at = "/items";
    let Some(list) = raw.as_array() else {
        return Err(vec![type_error(at, "an array of items", raw)]);
    };
    let mut errs = Vec::new();
    let range = &catalog.limits.items_per_order;
    if !range.contains(&list.len()) {
        errs.push(Violation::new(
            at,
            Rule::ItemCount,
            format!(
                "an order holds {} to {} items; this one has {}",
                range.start(),
                range.end(),
                list.len()
            ),
            json!({ "min": range.start(), "max": range.end() }),
        ));
    }
    let mut specs = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        if let Some(s) = parse_item_into(catalog, item, &format!("{at}/{i}"), &mut errs) {
            specs.push(s);
        }
    }
    if errs.is_empty() {
        Ok(specs)
    } else {
        Err(errs)
    }
}

fn parse_item_into(catalog: &Catalog, raw: &Value, at: &str, errs: &mut Vec<Violation>) -> Option<ItemSpec> {
    let item = Fields::of(raw, at, errs)?;
    let product: Option<ProductType> = item.closed("product", errs);
    let cycle: Option<BillingCycle> = item.closed("billing_cycle", errs);
    let config = item.object("config", errs);
    item.finish(&["product", "billing_cycle", "config"], errs);

    let product = product?;
    if let Some(cycle) = cycle {
        let offered = catalog.cycles_for(product);
        if !offered.contains(&cycle) {
            errs.push(Violation::new(
                pointer_join(at, "billing_cycle"),
                Rule::BillingCycle,
                format!("{product} is not sold on a {cycle} cycle"),
                json!(offered.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
            ));
        }
    }
    let config = config?;
    let parsed = match product {
        ProductType::Vps => vps(catalog, &config, errs).map(ProductConfig::Vps),
        ProductType::Kubernetes => kubernetes(catalog, &config, errs).map(ProductConfig::Kubernetes),
        ProductType::ManagedDatabase => database(catalog, &config, errs).map(ProductConfig::ManagedDatabase),
        ProductType::Gpu => gpu(catalog, &config, errs).map(ProductConfig::Gpu),
        ProductType::PrivateCloud => private_cloud(catalog, &config, errs).map(ProductConfig::PrivateCloud),
        ProductType::ObjectStorage => object_storage(catalog, &config, errs).map(ProductConfig::ObjectStorage),
    };
    Some(ItemSpec {
        config: parsed?,
        billing_cycle: cycle?,
    })
}

fn region(catalog: &Catalog, product: ProductType, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<Region> {
    let region: Region = f.closed("region", errs)?;
    let offered = catalog.regions_for(product);
    if offered.contains(&region) {
        Some(region)
    } else {
        errs.push(Violation::new(
            f.at("region"),
            Rule::RegionAvailability,
            format!("{product} is not available in {region}"),
            json!(offered.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
        ));
        None
    }
}

fn vps(catalog: &Catalog, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<VpsConfig> {
    let region = region(catalog, ProductType::Vps, f, errs);
    let plan: Option<VpsPlan> = f.closed("plan", errs);
    let image_id = f.string("os_image", errs);
    f.finish(&["region", "plan", "os_image"], errs);

    let image_id = image_id?;
    let Some(image) = catalog.os_image(&image_id) else {
        errs.push(Violation::new(
            f.at("os_image"),
            Rule::OneOf,
            format!("there is no OS image `{image_id}`"),
            json!(catalog.os_images.iter().map(|i| i.id.as_str()).collect::<Vec<_>>()),
        ));
        return None;
    };
    let (region, plan) = (region?, plan?);
    let mut ok = true;
    let plans_here = catalog.vps_plans_in(region);
    if !plans_here.contains(&plan) {
        ok = false;
        errs.push(Violation::new(
            f.at("plan"),
            Rule::RegionAvailability,
            format!("the {plan} plan is not available in {region}"),
            json!(plans_here.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
        ));
    }
    if !image.regions.contains(&region) {
        ok = false;
        let here: Vec<&str> = catalog
            .os_images
            .iter()
            .filter(|i| i.regions.contains(&region))
            .map(|i| i.id.as_str())
            .collect();
        errs.push(Violation::new(
            f.at("os_image"),
            Rule::ImageRegion,
            format!("{} is not offered in {region}", image.name),
            json!(here),
        ));
    }
    if plan < image.min_plan {
        ok = false;
        let plans: Vec<&str> = VpsPlan::ALL
            .iter()
            .filter(|p| **p >= image.min_plan)
            .map(|p| p.as_str())
            .collect();
        errs.push(Violation::new(
            f.at("os_image"),
            Rule::ImagePlan,
            format!("{} needs the {} plan or larger", image.name, image.min_plan),
            json!({ "plan": plans }),
        ));
    }
    ok.then_some(VpsConfig {
        region,
        plan,
        os_image: image_id,
    })
}

fn kubernetes(catalog: &Catalog, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<KubernetesConfig> {
    let limits = &catalog.limits;
    let region = region(catalog, ProductType::Kubernetes, f, errs);
    let workers = f.uint("workers", &limits.kubernetes_workers, errs);
    let storage_class: Option<StorageClass> = f.closed("storage_class", errs);
    let storage_gb = f.uint("storage_gb", &limits.kubernetes_storage_gb, errs);
    let autoscaling = match f.optional_object("autoscaling", errs) {
        None => Some(None),
        Some(None) => None,
        Some(Some(a)) => {
            let min = a.uint("min_workers", &limits.kubernetes_workers, errs);
            let max = a.uint("max_workers", &limits.kubernetes_workers, errs);
            a.finish(&["min_workers", "max_workers"], errs);
            match (min, max, workers) {
                (Some(min), Some(max), Some(w)) if min <= w && w <= max => Some(Some(Autoscaling {
                    min_workers: min,
                    max_workers: max,
                })),
                (Some(min), Some(max), Some(w)) => {
                    errs.push(Violation::new(
                        a.base.clone(),
                        Rule::AutoscalingBounds,
                        format!("autoscaling needs min_workers ≤ workers ≤ max_workers; got {min} ≤ {w} ≤ {max}"),
                        json!({ "min_workers": { "max": w }, "max_workers": { "min": w, "max": limits.kubernetes_workers.end() } }),
                    ));
                    None
                }
                _ => None,
            }
        }
    };
    f.finish(
        &["region", "workers", "storage_class", "storage_gb", "autoscaling"],
        errs,
    );
    Some(KubernetesConfig {
        region: region?,
        workers: workers?,
        storage_class: storage_class?,
        storage_gb: storage_gb?,
        autoscaling: autoscaling?,
    })
}

fn database(catalog: &Catalog, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<DatabaseConfig> {
    let region = region(catalog, ProductType::ManagedDatabase, f, errs);
    let engine: Option<DbEngine> = f.closed("engine", errs);
    let plan: Option<DbPlan> = f.closed("plan", errs);
    let storage_gb = f.uint("storage_gb", &catalog.limits.db_storage_gb, errs);
    let high_availability = f.bool("high_availability", errs);
    f.finish(&["region", "engine", "plan", "storage_gb", "high_availability"], errs);
    Some(DatabaseConfig {
        region: region?,
        engine: engine?,
        plan: plan?,
        storage_gb: storage_gb?,
        high_availability: high_availability?,
    })
}

fn gpu(catalog: &Catalog, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<GpuConfig> {
    let region = region(catalog, ProductType::Gpu, f, errs);
    let gpu: Option<GpuModel> = f.closed("gpu", errs);
    let nodes = f.uint("nodes", &catalog.limits.gpu_nodes, errs);
    let storage_gb = f.uint("storage_gb", &catalog.limits.gpu_storage_gb, errs);
    let framework: Option<Framework> = f.closed("framework", errs);
    f.finish(&["region", "gpu", "nodes", "storage_gb", "framework"], errs);
    Some(GpuConfig {
        region: region?,
        gpu: gpu?,
        nodes: nodes?,
        storage_gb: storage_gb?,
        framework: framework?,
    })
}

fn private_cloud(catalog: &Catalog, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<PrivateCloudConfig> {
    let region = region(catalog, ProductType::PrivateCloud, f, errs);
    let cluster_size: Option<ClusterSize> = f.closed("cluster_size", errs);
    let nodes = f.uint("nodes", &catalog.limits.private_cloud_nodes, errs);
    let storage_tb = f.uint("storage_tb", &catalog.limits.private_cloud_storage_tb, errs);
    f.finish(&["region", "cluster_size", "nodes", "storage_tb"], errs);
    let (size, n) = (cluster_size?, nodes?);
    let bounds = catalog.cluster_nodes(size);
    if !bounds.contains(&n) {
        errs.push(Violation::new(
            f.at("nodes"),
            Rule::ClusterSize,
            format!(
                "a {size} cluster has {} to {} nodes; got {n}",
                bounds.start(),
                bounds.end()
            ),
            json!({ "min": bounds.start(), "max": bounds.end() }),
        ));
        return None;
    }
    Some(PrivateCloudConfig {
        region: region?,
        cluster_size: size,
        nodes: n,
        storage_tb: storage_tb?,
    })
}

fn object_storage(catalog: &Catalog, f: &Fields<'_>, errs: &mut Vec<Violation>) -> Option<ObjectStorageConfig> {
    let region = region(catalog, ProductType::ObjectStorage, f, errs);
    let tier: Option<StorageTier> = f.closed("tier", errs);
    let capacity_tb = f.uint("capacity_tb", &catalog.limits.object_capacity_tb, errs);
    let replication: Option<Replication> = f.closed("replication", errs);
    f.finish(&["region", "tier", "capacity_tb", "replication"], errs);
    Some(ObjectStorageConfig {
        region: region?,
        tier: tier?,
        capacity_tb: capacity_tb?,
        replication: replication?,
    })
}

fn type_error(at: &str, expected: &str, got: &Value) -> Violation {
    Violation::new(
        at,
        Rule::Type,
        format!("expected {expected}, got {}", json_type(got)),
        json!(expected),
    )
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being read field by field; every read records its own
/// finding, and [`Fields::finish`] reports the fields nobody asked for.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    base: String,
}

impl<'a> Fields<'a> {
    fn of(v: &'a Value, at: &str, errs: &mut Vec<Violation>) -> Option<Fields<'a>> {
        match v {
            Value::Object(obj) => Some(Fields {
                obj,
                base: at.to_owned(),
            }),
            other => {
                errs.push(type_error(at, "an object", other));
                None
            }
        }
    }

    fn at(&self, name: &str) -> String {
        pointer_join(&self.base, name)
    }

    fn required(&self, name: &str, errs: &mut Vec<Violation>) -> Option<&'a Value> {
        let v = self.obj.get(name);
        if v.is_none() {
            errs.push(Violation::new(
                self.at(name),
                Rule::Required,
                format!("`{name}` is required"),
                Value::Null,
            ));
        }
        v
    }

    fn closed<T: ClosedSet>(&self, name: &str, errs: &mut Vec<Violation>) -> Option<T> {
        let v = self.required(name, errs)?;
        let accepted = json!(T::wire_names());
        let Some(s) = v.as_str() else {
            errs.push(Violation::new(
                self.at(name),
                Rule::Type,
                format!("expected a {} name, got {}", T::KIND, json_type(v)),
                accepted,
            ));
            return None;
        };
        let parsed = T::parse_name(s);
        if parsed.is_none() {
            errs.push(Violation::new(
                self.at(name),
                Rule::OneOf,
                format!("unknown {} `{s}`", T::KIND),
                accepted,
            ));
        }
        parsed
    }

    fn string(&self, name: &str, errs: &mut Vec<Violation>) -> Option<String> {
        let v = self.required(name, errs)?;
        match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                errs.push(type_error(&self.at(name), "a string", v));
                None
            }
        }
    }

    fn uint(&self, name: &str, range: &RangeInclusive<u32>, errs: &mut Vec<Violation>) -> Option<u32> {
        let v = self.required(name, errs)?;
        let accepted = json!({ "min": range.start(), "max": range.end() });
        let Some(n) = v.as_i64() else {
            errs.push(Violation::new(
                self.at(name),
                Rule::Type,
                format!("expected a whole number, got {}", json_type(v)),
                accepted,
            ));
            return None;
        };
        match u32::try_from(n) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                errs.push(Violation::new(
                    self.at(name),
                    Rule::Range,
                    format!(
                        "`{name}` must be between {} and {}; got {n}",
                        range.start(),
                        range.end()
                    ),
                    accepted,
                ));
                None
            }
        }
    }

    fn bool(&self, name: &str, errs: &mut Vec<Violation>) -> Option<bool> {
        let v = self.required(name, errs)?;
        let b = v.as_bool();
        if b.is_none() {
            errs.push(type_error(&self.at(name), "true or false", v));
        }
        b
    }

    fn object(&self, name: &str, errs: &mut Vec<Violation>) -> Option<Fields<'a>> {
        let v = self.required(name, errs)?;
        Fields::of(v, &self.at(name), errs)
    }

    /// `None`: absent or null. `Some(None)`: present but not an object (recorded).
    fn optional_object(&self, name: &str, errs: &mut Vec<Violation>) -> Option<Option<Fields<'a>>> {
        match self.obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(Fields::of(v, &self.at(name), errs)),
        }
    }

    fn finish(&self, known: &[&str], errs: &mut Vec<Violation>) {
        for key in self.obj.keys().filter(|k| !known.contains(&k.as_str())) {
            errs.push(Violation::new(
                self.at(key),
                Rule::UnknownField,
                format!("unknown field `{key}`"),
                json!(known),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalog {
        Catalog::standard()
    }

    fn rules(errs: &[Violation]) -> Vec<(String, Rule)> {
        errs.iter().map(|v| (v.pointer.clone(), v.rule)).collect()
    }

    #[test]
    fn a_valid_vps_parses_into_its_typed_config() {
        let raw = json!({"product":"vps","billing_cycle":"annual",
            "config":{"region":"lj-1","plan":"business","os_image":"ubuntu-24.04"}});
        let spec = parse_item(&cat(), &raw, "/items/0").unwrap();
        assert_eq!(spec.billing_cycle, BillingCycle::Annual);
        assert_eq!(
            spec.config,
            ProductConfig::Vps(VpsConfig {
                region: Region::Lj1,
                plan: VpsPlan::Business,
                os_image: "ubuntu-24.04".into()
            })
        );
    }

    #[test]
    fn every_problem_of_an_item_is_reported_at_once() {
        let raw = json!({"product":"kubernetes","billing_cycle":"weekly","colour":"red",
            "config":{"region":"us-east-1","workers":2,"storage_class":7,"storage_gb":100}});
        let errs = parse_item(&cat(), &raw, "/items/2").unwrap_err();
        let got = rules(&errs);
        for expected in [
            ("/items/2/billing_cycle", Rule::OneOf),
            ("/items/2/colour", Rule::UnknownField),
            ("/items/2/config/region", Rule::OneOf),
            ("/items/2/config/workers", Rule::Range),
            ("/items/2/config/storage_class", Rule::Type),
        ] {
            assert!(
                got.contains(&(expected.0.to_owned(), expected.1)),
                "missing {expected:?} in {got:?}"
            );
        }
        let workers = errs.iter().find(|v| v.pointer.ends_with("workers")).unwrap();
        assert_eq!(workers.accepted, json!({"min":3,"max":50}));
    }

    #[test]
    fn an_image_not_offered_in_the_region_lists_the_images_that_are() {
        let raw = json!({"product":"vps","billing_cycle":"monthly",
            "config":{"region":"hetzner-fsn1","plan":"core","os_image":"rocky-9"}});
        let errs = parse_item(&cat(), &raw, "/items/0").unwrap_err();
        assert_eq!(
            rules(&errs),
            vec![("/items/0/config/os_image".into(), Rule::ImageRegion)]
        );
        assert_eq!(errs[0].accepted, json!(["ubuntu-24.04", "debian-12"]));
    }

    #[test]
    fn what_hetzner_cloud_cannot_provide_is_refused_in_its_region() {
        let gpu = json!({"product":"gpu","billing_cycle":"monthly",
            "config":{"region":"hetzner-fsn1","gpu":"A100","nodes":1,"storage_gb":500,"framework":"pytorch"}});
        let errs = parse_item(&cat(), &gpu, "/items/1").unwrap_err();
        assert_eq!(
            rules(&errs),
            vec![("/items/1/config/region".into(), Rule::RegionAvailability)]
        );
        assert_eq!(errs[0].accepted, json!(["lj-1"]));

        let private = json!({"product":"private_cloud","billing_cycle":"annual",
            "config":{"region":"hetzner-fsn1","cluster_size":"small","nodes":3,"storage_tb":5}});
        let errs = parse_item(&cat(), &private, "").unwrap_err();
        assert_eq!(rules(&errs), vec![("/config/region".into(), Rule::RegionAvailability)]);

        let enterprise = json!({"product":"vps","billing_cycle":"monthly",
            "config":{"region":"hetzner-fsn1","plan":"enterprise","os_image":"debian-12"}});
        let errs = parse_item(&cat(), &enterprise, "").unwrap_err();
        assert_eq!(rules(&errs), vec![("/config/plan".into(), Rule::RegionAvailability)]);
        assert_eq!(errs[0].accepted, json!(["core", "business"]));

        let business = json!({"product":"vps","billing_cycle":"monthly",
            "config":{"region":"hetzner-fsn1","plan":"business","os_image":"ubuntu-24.04"}});
        assert!(parse_item(&cat(), &business, "").is_ok());
    }

    #[test]
    fn windows_does_not_run_on_the_core_plan() {
        let raw = json!({"product":"vps","billing_cycle":"monthly",
            "config":{"region":"lj-1","plan":"core","os_image":"windows-server-2022"}});
        let errs = parse_item(&cat(), &raw, "").unwrap_err();
        assert_eq!(errs[0].rule, Rule::ImagePlan);
        assert_eq!(errs[0].accepted, json!({"plan":["business","enterprise"]}));
    }

    #[test]
    fn gpus_are_not_sold_in_maribor() {
        let raw = json!({"product":"gpu","billing_cycle":"monthly",
            "config":{"region":"mb-1","gpu":"H100","nodes":2,"storage_gb":500,"framework":"pytorch"}});
        let errs = parse_item(&cat(), &raw, "").unwrap_err();
        assert_eq!(rules(&errs), vec![("/config/region".into(), Rule::RegionAvailability)]);
        assert_eq!(errs[0].accepted, json!(["lj-1"]));
    }

    #[test]
    fn private_cloud_is_sold_by_the_year_only() {
        let raw = json!({"product":"private_cloud","billing_cycle":"monthly",
            "config":{"region":"lj-1","cluster_size":"small","nodes":3,"storage_tb":5}});
        let errs = parse_item(&cat(), &raw, "").unwrap_err();
        assert_eq!(rules(&errs), vec![("/billing_cycle".into(), Rule::BillingCycle)]);
    }

    #[test]
    fn private_cloud_nodes_must_fit_the_cluster_size() {
        let raw = json!({"product":"private_cloud","billing_cycle":"annual",
            "config":{"region":"lj-1","cluster_size":"medium","nodes":4,"storage_tb":5}});
        let errs = parse_item(&cat(), &raw, "").unwrap_err();
        assert_eq!(rules(&errs), vec![("/config/nodes".into(), Rule::ClusterSize)]);
        assert_eq!(errs[0].accepted, json!({"min":7,"max":12}));
    }

    #[test]
    fn autoscaling_needs_min_at_most_workers_at_most_max() {
        let base = json!({"region":"lj-1","workers":10,"storage_class":"ssd","storage_gb":100});
        let with = |a: Value| {
            let mut c = base.clone();
            c["autoscaling"] = a;
            json!({"product":"kubernetes","billing_cycle":"monthly","config":c})
        };
        assert!(parse_item(&cat(), &with(json!({"min_workers":3,"max_workers":50})), "").is_ok());
        let errs = parse_item(&cat(), &with(json!({"min_workers":12,"max_workers":20})), "").unwrap_err();
        assert_eq!(
            rules(&errs),
            vec![("/config/autoscaling".into(), Rule::AutoscalingBounds)]
        );
        let errs = parse_item(&cat(), &with(json!({"min_workers":3,"max_workers":51})), "").unwrap_err();
        assert_eq!(
            rules(&errs),
            vec![("/config/autoscaling/max_workers".into(), Rule::Range)]
        );
    }

    #[test]
    fn range_boundaries_are_inclusive() {
        let db = |gb: u32| {
            json!({"product":"managed_database","billing_cycle":"monthly",
                "config":{"region":"mb-1","engine":"postgresql-16","plan":"starter","storage_gb":gb,"high_availability":false}})
        };
        assert!(parse_item(&cat(), &db(20), "").is_ok());
        assert!(parse_item(&cat(), &db(2000), "").is_ok());
        assert_eq!(parse_item(&cat(), &db(19), "").unwrap_err()[0].rule, Rule::Range);
        assert_eq!(parse_item(&cat(), &db(2001), "").unwrap_err()[0].rule, Rule::Range);
    }

    #[test]
    fn negative_and_fractional_numbers_are_rejected() {
        let raw = json!({"product":"object_storage","billing_cycle":"monthly",
            "config":{"region":"lj-1","tier":"archive","capacity_tb":-1,"replication":"single_zone"}});
        assert_eq!(parse_item(&cat(), &raw, "").unwrap_err()[0].rule, Rule::Range);
        let raw = json!({"product":"object_storage","billing_cycle":"monthly",
            "config":{"region":"lj-1","tier":"archive","capacity_tb":1.5,"replication":"single_zone"}});
        assert_eq!(parse_item(&cat(), &raw, "").unwrap_err()[0].rule, Rule::Type);
    }

    #[test]
    fn missing_fields_are_each_named() {
        let raw = json!({"product":"managed_database","billing_cycle":"monthly","config":{}});
        let errs = parse_item(&cat(), &raw, "").unwrap_err();
        let missing: Vec<&str> = errs
            .iter()
            .filter(|v| v.rule == Rule::Required)
            .map(|v| v.pointer.as_str())
            .collect();
        assert_eq!(
            missing,
            [
                "/config/region",
                "/config/engine",
                "/config/plan",
                "/config/storage_gb",
                "/config/high_availability"
            ]
        );
    }

    #[test]
    fn an_order_needs_one_to_twenty_items() {
        assert_eq!(parse_items(&cat(), &json!([])).unwrap_err()[0].rule, Rule::ItemCount);
        assert_eq!(parse_items(&cat(), &json!({})).unwrap_err()[0].rule, Rule::Type);
    }

    #[test]
    fn item_specs_round_trip_through_json() {
        let raw = json!({"product":"kubernetes","billing_cycle":"monthly",
            "config":{"region":"lj-1","workers":3,"storage_class":"standard","storage_gb":10,"autoscaling":null}});
        let spec = parse_item(&cat(), &raw, "").unwrap();
        let stored = serde_json::to_value(&spec).unwrap();
        assert_eq!(stored, raw);
        assert_eq!(serde_json::from_value::<ItemSpec>(stored).unwrap(), spec);
    }
}
