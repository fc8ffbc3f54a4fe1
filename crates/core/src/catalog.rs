//! The product catalog as data (SPEC §3): products, regions, plans, OS images,
//! rates, ranges and default quotas.
//!
//! Everything a price or a validation rule depends on lives in a [`Catalog`]
//! value, so a test can price against an altered catalog and prove that an
//! order's snapshot does not move. Where the seed gives no rate (database and
//! GPU storage) the figure chosen here is the documented one.

use std::ops::RangeInclusive;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;

use crate::closed_set::closed_set;

closed_set!(
    /// The six product types.
    ProductType, "product type" {
        /// A virtual private server.
        Vps = "vps",
        /// A managed Kubernetes cluster.
        Kubernetes = "kubernetes",
        /// A managed PostgreSQL database.
        ManagedDatabase = "managed_database",
        /// AI/ML GPU nodes.
        Gpu = "gpu",
        /// A dedicated private cloud cluster.
        PrivateCloud = "private_cloud",
        /// S3-compatible object storage.
        ObjectStorage = "object_storage",
    }
);

closed_set!(
    /// Data-centre regions.
    Region, "region" {
        /// Ljubljana.
        Lj1 = "lj-1",
        /// Maribor.
        Mb1 = "mb-1",
        /// Hetzner Falkenstein.
        HetznerFsn1 = "hetzner-fsn1",
    }
);

closed_set!(
    /// How often an item is billed.
    BillingCycle, "billing cycle" {
        /// Every month, at the monthly price.
        Monthly = "monthly",
        /// Every twelve months, at 12 × monthly × 0.8.
        Annual = "annual",
    }
);

closed_set!(
    /// VPS plan tiers, in ascending order of size.
    VpsPlan, "VPS plan" {
        /// 2 vCPU, 4 GB.
        Core = "core",
        /// 4 vCPU, 8 GB.
        Business = "business",
        /// 16 vCPU, 32 GB.
        Enterprise = "enterprise",
    }
);

closed_set!(
    /// Kubernetes persistent-volume storage classes.
    StorageClass, "storage class" {
        /// Replicated network block storage.
        Standard = "standard",
        /// Local NVMe SSD.
        Ssd = "ssd",
    }
);

closed_set!(
    /// Managed database engines. Only PostgreSQL 16 is offered.
    DbEngine, "database engine" {
        /// PostgreSQL 16.
        Postgresql16 = "postgresql-16",
    }
);

closed_set!(
    /// Managed database plans.
    DbPlan, "database plan" {
        /// Small shared instance.
        Starter = "starter",
        /// Dedicated instance.
        Production = "production",
    }
);

closed_set!(
    /// GPU models.
    GpuModel, "GPU model" {
        /// NVIDIA A100 80 GB.
        A100 = "A100",
        /// NVIDIA H100 80 GB.
        H100 = "H100",
    }
);

closed_set!(
    /// ML frameworks preinstalled on GPU nodes.
    Framework, "framework" {
        /// PyTorch.
        Pytorch = "pytorch",
        /// TensorFlow.
        Tensorflow = "tensorflow",
        /// JAX.
        Jax = "jax",
        /// A bare CUDA image.
        None = "none",
    }
);

closed_set!(
    /// Private cloud cluster sizes; each bounds the node count.
    ClusterSize, "cluster size" {
        /// 3–6 nodes.
        Small = "small",
        /// 7–12 nodes.
        Medium = "medium",
        /// 13–20 nodes.
        Large = "large",
    }
);

closed_set!(
    /// Object storage tiers.
    StorageTier, "storage tier" {
        /// Hot storage.
        Standard = "standard",
        /// Cold storage, cheaper per TB.
        Archive = "archive",
    }
);

closed_set!(
    /// Object storage replication modes.
    Replication, "replication" {
        /// One copy set in one zone.
        SingleZone = "single_zone",
        /// Copies across zones of the region.
        MultiZone = "multi_zone",
    }
);

/// A VPS plan's size and price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpsPlanSpec {
    /// Which plan.
    pub plan: VpsPlan,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in GB.
    pub memory_gb: u32,
    /// Disk in GB.
    pub disk_gb: u32,
    /// Monthly price in EUR.
    pub monthly_eur: Decimal,
}

/// An operating system image and where it may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsImage {
    /// Image id as customers send it (`ubuntu-24.04`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Regions that carry the image.
    pub regions: Vec<Region>,
    /// The smallest plan the image runs on.
    pub min_plan: VpsPlan,
}

/// Where each product is sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionOffer {
    /// The region.
    pub region: Region,
    /// Products sold there.
    pub products: Vec<ProductType>,
    /// VPS plans sold there (a provider's server types may not reach the
    /// largest plan).
    pub vps_plans: Vec<VpsPlan>,
}

/// Every rate of every price formula, in EUR per month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rates {
    /// Per Kubernetes worker.
    pub kubernetes_worker: Decimal,
    /// Per GB of Kubernetes storage.
    pub kubernetes_storage_gb: Decimal,
    /// Managed database starter plan.
    pub db_starter: Decimal,
    /// Managed database production plan.
    pub db_production: Decimal,
    /// Plan multiplier with high availability.
    pub db_ha_factor: Decimal,
    /// Per GB of database storage (not in the seed: our figure).
    pub db_storage_gb: Decimal,
    /// Per A100 node.
    pub gpu_a100_node: Decimal,
    /// Per H100 node.
    pub gpu_h100_node: Decimal,
    /// Per GB of GPU node storage (not in the seed: our figure).
    pub gpu_storage_gb: Decimal,
    /// Per private cloud node.
    pub private_cloud_node: Decimal,
    /// Per TB of private cloud storage.
    pub private_cloud_storage_tb: Decimal,
    /// Per TB of standard object storage.
    pub object_standard_tb: Decimal,
    /// Per TB of archive object storage.
    pub object_archive_tb: Decimal,
    /// Annual price = 12 × monthly × this.
    pub annual_factor: Decimal,
}

/// The inclusive ranges configurations must fall in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Kubernetes worker count (also the autoscaling bounds).
    pub kubernetes_workers: RangeInclusive<u32>,
    /// Kubernetes storage in GB.
    pub kubernetes_storage_gb: RangeInclusive<u32>,
    /// Database storage in GB.
    pub db_storage_gb: RangeInclusive<u32>,
    /// GPU nodes.
    pub gpu_nodes: RangeInclusive<u32>,
    /// GPU node storage in GB.
    pub gpu_storage_gb: RangeInclusive<u32>,
    /// Private cloud nodes.
    pub private_cloud_nodes: RangeInclusive<u32>,
    /// Private cloud storage in TB.
    pub private_cloud_storage_tb: RangeInclusive<u32>,
    /// Object storage capacity in TB.
    pub object_capacity_tb: RangeInclusive<u32>,
    /// Items in one order.
    pub items_per_order: RangeInclusive<usize>,
}

/// Per-tenant ceilings on what may be running at once. A tenant without its
/// own quota gets [`Catalog::default_quota`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Quota {
    /// VPS instances.
    pub vps_instances: u32,
    /// Kubernetes workers across clusters.
    pub kubernetes_workers: u32,
    /// Managed databases.
    pub databases: u32,
    /// GPU nodes.
    pub gpu_nodes: u32,
    /// Private cloud nodes.
    pub private_cloud_nodes: u32,
    /// Object storage TB.
    pub object_storage_tb: u32,
}

/// The catalog: a versioned set of products, rates and rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Catalog {
    /// Recorded in every item snapshot, so a price can be traced to its list.
    pub version: String,
    /// VPS plans.
    pub vps_plans: Vec<VpsPlanSpec>,
    /// OS images.
    pub os_images: Vec<OsImage>,
    /// Products per region.
    pub regions: Vec<RegionOffer>,
    /// Price formula rates.
    pub rates: Rates,
    /// Configuration ranges.
    pub limits: Limits,
    /// Billing cycles each product is sold on.
    pub cycles: Vec<(ProductType, Vec<BillingCycle>)>,
    /// Quota for tenants without their own.
    pub default_quota: Quota,
}

impl Catalog {
    /// The catalog we sell from today.
    pub fn standard() -> Catalog {
        use ProductType::*;
        let all_regions = vec![Region::Lj1, Region::Mb1, Region::HetznerFsn1];
        Catalog {
            version: "2026-11-01".to_owned(),
            vps_plans: vec![
                VpsPlanSpec {
                    plan: VpsPlan::Core,
                    vcpus: 2,
                    memory_gb: 4,
                    disk_gb: 80,
                    monthly_eur: dec!(10.00),
                },
                VpsPlanSpec {
                    plan: VpsPlan::Business,
                    vcpus: 4,
                    memory_gb: 8,
                    disk_gb: 160,
                    monthly_eur: dec!(20.10),
                },
                VpsPlanSpec {
                    plan: VpsPlan::Enterprise,
                    vcpus: 16,
                    memory_gb: 32,
                    disk_gb: 640,
                    monthly_eur: dec!(56.60),
                },
            ],
            os_images: vec![
                image("ubuntu-24.04", "Ubuntu 24.04 LTS", all_regions.clone(), VpsPlan::Core),
                image("debian-12", "Debian 12", all_regions.clone(), VpsPlan::Core),
                image(
                    "rocky-9",
                    "Rocky Linux 9",
                    vec![Region::Lj1, Region::Mb1],
                    VpsPlan::Core,
                ),
                // Windows needs 8 GB to run comfortably, and is licensed in
                // Ljubljana only (Hetzner Cloud offers no Windows image).
                image(
                    "windows-server-2022",
                    "Windows Server 2022",
                    vec![Region::Lj1],
                    VpsPlan::Business,
                ),
            ],
            regions: vec![
                RegionOffer {
                    region: Region::Lj1,
                    products: ProductType::ALL.to_vec(),
                    vps_plans: VpsPlan::ALL.to_vec(),
                },
                RegionOffer {
                    region: Region::Mb1,
                    products: vec![Vps, Kubernetes, ManagedDatabase, PrivateCloud, ObjectStorage],
                    vps_plans: VpsPlan::ALL.to_vec(),
                },
                // Hetzner Cloud's API creates servers, nothing else we sell:
                // no GPUs, no dedicated clusters, no managed Kubernetes or
                // PostgreSQL, and its object storage is not part of that API.
                // Its largest shared server type (cpx51, 360 GB) is short of
                // the enterprise plan's 640 GB disk.
                RegionOffer {
                    region: Region::HetznerFsn1,
                    products: vec![Vps],
                    vps_plans: vec![VpsPlan::Core, VpsPlan::Business],
                },
            ],
            rates: Rates {
                kubernetes_worker: dec!(150),
                kubernetes_storage_gb: dec!(0.50),
                db_starter: dec!(40),
                db_production: dec!(120),
                db_ha_factor: dec!(2),
                db_storage_gb: dec!(0.25),
                gpu_a100_node: dec!(1200),
                gpu_h100_node: dec!(2400),
                gpu_storage_gb: dec!(0.20),
                private_cloud_node: dec!(450),
                private_cloud_storage_tb: dec!(80),
                object_standard_tb: dec!(20),
                object_archive_tb: dec!(10),
                annual_factor: dec!(0.8),
            },
            limits: Limits {
                kubernetes_workers: 3..=50,
                kubernetes_storage_gb: 10..=10_000,
                db_storage_gb: 20..=2_000,
                gpu_nodes: 1..=8,
                gpu_storage_gb: 100..=20_000,
                private_cloud_nodes: 3..=20,
                private_cloud_storage_tb: 5..=500,
                object_capacity_tb: 1..=1_000,
                items_per_order: 1..=20,
            },
            cycles: ProductType::ALL
                .iter()
                .map(|&p| {
                    // Dedicated hardware is contracted by the year.
                    let cycles = if p == PrivateCloud {
                        vec![BillingCycle::Annual]
                    } else {
                        vec![BillingCycle::Monthly, BillingCycle::Annual]
                    };
                    (p, cycles)
                })
                .collect(),
            default_quota: Quota {
                vps_instances: 50,
                kubernetes_workers: 200,
                databases: 20,
                gpu_nodes: 16,
                private_cloud_nodes: 40,
                object_storage_tb: 2_000,
            },
        }
    }

    /// The plan's spec, if the catalog sells it.
    pub fn vps_plan(&self, plan: VpsPlan) -> Option<&VpsPlanSpec> {
        self.vps_plans.iter().find(|p| p.plan == plan)
    }

    /// The image with this id.
    pub fn os_image(&self, id: &str) -> Option<&OsImage> {
        self.os_images.iter().find(|i| i.id == id)
    }

    /// Regions where `product` is sold.
    pub fn regions_for(&self, product: ProductType) -> Vec<Region> {
        self.regions
            .iter()
            .filter(|r| r.products.contains(&product))
            .map(|r| r.region)
            .collect()
    }

    /// VPS plans sold in `region`.
    pub fn vps_plans_in(&self, region: Region) -> &[VpsPlan] {
        self.regions
            .iter()
            .find(|r| r.region == region)
            .map(|r| r.vps_plans.as_slice())
            .unwrap_or(&[])
    }

    /// Billing cycles `product` is sold on.
    pub fn cycles_for(&self, product: ProductType) -> &[BillingCycle] {
        self.cycles
            .iter()
            .find(|(p, _)| *p == product)
            .map(|(_, c)| c.as_slice())
            .unwrap_or(&[])
    }

    /// Node-count bounds of a private cloud cluster size.
    pub fn cluster_nodes(&self, size: ClusterSize) -> RangeInclusive<u32> {
        match size {
            ClusterSize::Small => 3..=6,
            ClusterSize::Medium => 7..=12,
            ClusterSize::Large => 13..=20,
        }
    }
}

fn image(id: &str, name: &str, regions: Vec<Region>, min_plan: VpsPlan) -> OsImage {
    OsImage {
        id: id.to_owned(),
        name: name.to_owned(),
        regions,
        min_plan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_product_is_sold_in_some_region_on_some_cycle() {
        let c = Catalog::standard();
        for &p in ProductType::ALL {
            assert!(!c.regions_for(p).is_empty(), "{p} is sold nowhere");
            assert!(!c.cycles_for(p).is_empty(), "{p} has no billing cycle");
        }
    }

    #[test]
    fn every_image_runs_somewhere() {
        let c = Catalog::standard();
        assert!(c.os_images.iter().all(|i| !i.regions.is_empty()));
    }

    #[test]
    fn cluster_sizes_tile_the_node_range_without_gaps() {
        let c = Catalog::standard();
        let mut covered: Vec<u32> = ClusterSize::ALL.iter().flat_map(|s| c.cluster_nodes(*s)).collect();
        covered.sort_unstable();
        let expected: Vec<u32> = c.limits.private_cloud_nodes.clone().collect();
        assert_eq!(covered, expected);
    }

    #[test]
    fn closed_sets_round_trip_through_their_wire_names() {
        fn check<T: std::str::FromStr + PartialEq + std::fmt::Debug + Copy + std::fmt::Display>(all: &[T]) {
            for v in all {
                assert_eq!(v.to_string().parse::<T>().ok(), Some(*v));
            }
        }
        check(ProductType::ALL);
        check(Region::ALL);
        check(BillingCycle::ALL);
        check(VpsPlan::ALL);
        check(StorageClass::ALL);
        check(DbEngine::ALL);
        check(DbPlan::ALL);
        check(GpuModel::ALL);
        check(Framework::ALL);
        check(ClusterSize::ALL);
        check(StorageTier::ALL);
        check(Replication::ALL);
    }
}
