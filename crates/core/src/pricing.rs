//! Prices (SPEC §3): one formula per product, the annual discount, the ±€1
//! tolerance against the total a client showed, and the snapshot an order
//! item keeps forever.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalog::{BillingCycle, Catalog, DbPlan, GpuModel, StorageTier};
use crate::config::{ItemSpec, ProductConfig};
use crate::money::{Currency, Money, MoneyError};

/// One line of a price: `quantity × unit_price = amount` per month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceLine {
    /// What is charged ("business plan", "workers", "storage GB").
    pub description: String,
    /// How many units.
    pub quantity: Decimal,
    /// Monthly price per unit.
    pub unit_price: Money,
    /// `quantity × unit_price`, rounded to cents.
    pub amount: Money,
}

/// The price of an item as it was at order time. Kept with the item forever;
/// later catalog changes never touch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceSnapshot {
    /// The catalog version the price came from.
    pub catalog_version: String,
    /// The formula's lines.
    pub lines: Vec<PriceLine>,
    /// The monthly price: the sum of the lines.
    pub monthly: Money,
    /// The billing cycle charged.
    pub billing_cycle: BillingCycle,
    /// What one billing period costs: `monthly`, or `12 × monthly × 0.8` rounded to cents.
    pub period_total: Money,
}

/// Prices one valid item against `catalog`.
pub fn price_item(catalog: &Catalog, spec: &ItemSpec) -> Result<PriceSnapshot, MoneyError> {
    let lines = lines(catalog, &spec.config)?;
    let monthly = Money::sum(Currency::Eur, lines.iter().map(|l| l.amount))?.round_to_cents();
    let period_total = match spec.billing_cycle {
        BillingCycle::Monthly => monthly,
        BillingCycle::Annual => monthly
            .checked_mul(Decimal::from(12))?
            .checked_mul(catalog.rates.annual_factor)?
            .round_to_cents(),
    };
    Ok(PriceSnapshot {
        catalog_version: catalog.version.clone(),
        lines,
        monthly,
        billing_cycle: spec.billing_cycle,
        period_total,
    })
}

/// The sum of the items' period totals: what the customer pays on submit.
pub fn order_total<'a, I: IntoIterator<Item = &'a PriceSnapshot>>(prices: I) -> Result<Money, MoneyError> {
    Money::sum(Currency::Eur, prices.into_iter().map(|p| p.period_total))
}

fn line(description: &str, quantity: impl Into<Decimal>, unit_eur: Decimal) -> Result<PriceLine, MoneyError> {
    let quantity = quantity.into();
    let mut unit_eur = unit_eur;
    if unit_eur.scale() < 2 {
        unit_eur.rescale(2);
    }
    let unit_price = Money::eur(unit_eur);
    let amount = unit_price.checked_mul(quantity)?.round_to_cents();
    Ok(PriceLine {
        description: description.to_owned(),
        quantity,
        unit_price,
        amount,
    })
}

fn lines(catalog: &Catalog, config: &ProductConfig) -> Result<Vec<PriceLine>, MoneyError> {
    let r = &catalog.rates;
    Ok(match config {
        ProductConfig::Vps(c) => {
            // The plan was checked against this catalog when the item was parsed.
            let monthly = catalog.vps_plan(c.plan).map_or(Decimal::ZERO, |p| p.monthly_eur);
            vec![line(&format!("{} plan", c.plan), 1, monthly)?]
        }
        ProductConfig::Kubernetes(c) => vec![
            line("workers", c.workers, r.kubernetes_worker)?,
            line("storage GB", c.storage_gb, r.kubernetes_storage_gb)?,
        ],
        ProductConfig::ManagedDatabase(c) => {
            let plan = match c.plan {
                DbPlan::Starter => r.db_starter,
                DbPlan::Production => r.db_production,
            };
            let (what, count) = if c.high_availability {
                (format!("{} plan, high availability", c.plan), r.db_ha_factor)
            } else {
                (format!("{} plan", c.plan), Decimal::ONE)
            };
            vec![
                line(&what, count, plan)?,
                line("storage GB", c.storage_gb, r.db_storage_gb)?,
            ]
        }
        ProductConfig::Gpu(c) => {
            let node = match c.gpu {
                GpuModel::A100 => r.gpu_a100_node,
                GpuModel::H100 => r.gpu_h100_node,
            };
            vec![
                line(&format!("{} nodes", c.gpu), c.nodes, node)?,
                line("storage GB", c.storage_gb, r.gpu_storage_gb)?,
            ]
        }
        ProductConfig::PrivateCloud(c) => vec![
            line("nodes", c.nodes, r.private_cloud_node)?,
            line("storage TB", c.storage_tb, r.private_cloud_storage_tb)?,
        ],
        ProductConfig::ObjectStorage(c) => {
            let tb = match c.tier {
                StorageTier::Standard => r.object_standard_tb,
                StorageTier::Archive => r.object_archive_tb,
            };
            vec![line(&format!("{} TB", c.tier), c.capacity_tb, tb)?]
        }
    })
}

/// How far a client-shown total may be from ours and still be accepted.
pub const TOLERANCE_EUR: Decimal = Decimal::ONE;

/// The client's total is more than €1 away from ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the total shown ({shown}) differs from the current price ({server}) by more than {tolerance}")]
pub struct PriceMismatch {
    /// What the client showed.
    pub shown: Money,
    /// What we compute now; what the customer will be charged.
    pub server: Money,
    /// The accepted difference.
    pub tolerance: Money,
}

/// Accepts a client-shown total within ±€1 of ours (inclusive); the order is
/// then charged at `server`, never at `shown`.
pub fn check_shown_total(shown: Money, server: Money) -> Result<Money, PriceMismatch> {
    let tolerance = Money::eur(TOLERANCE_EUR);
    let mismatch = || PriceMismatch {
        shown,
        server,
        tolerance,
    };
    let diff = shown.abs_diff(server).map_err(|_| mismatch())?;
    if diff.amount <= tolerance.amount {
        Ok(server)
    } else {
        Err(mismatch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_item;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;
    use serde_json::{json, Value};

    fn price(product: &str, cycle: &str, config: Value) -> PriceSnapshot {
        let raw = json!({"product": product, "billing_cycle": cycle, "config": config});
        let spec = parse_item(&Catalog::standard(), &raw, "").expect("valid item");
        price_item(&Catalog::standard(), &spec).unwrap()
    }

    fn vps(plan: &str, cycle: &str) -> PriceSnapshot {
        price(
            "vps",
            cycle,
            json!({"region":"lj-1","plan":plan,"os_image":"debian-12"}),
        )
    }

    #[test]
    fn vps_plans_cost_their_fixed_monthly_price() {
        assert_eq!(vps("core", "monthly").period_total, Money::eur(dec!(10.00)));
        assert_eq!(vps("business", "monthly").period_total, Money::eur(dec!(20.10)));
        assert_eq!(vps("enterprise", "monthly").period_total, Money::eur(dec!(56.60)));
    }

    #[test]
    fn annual_vps_business_is_20_10_times_12_times_0_8() {
        let p = vps("business", "annual");
        assert_eq!(p.monthly, Money::eur(dec!(20.10)));
        assert_eq!(p.period_total, Money::eur(dec!(192.96)));
        assert_eq!(vps("enterprise", "annual").period_total, Money::eur(dec!(543.36)));
        assert_eq!(vps("core", "annual").period_total, Money::eur(dec!(96.00)));
    }

    #[test]
    fn kubernetes_is_workers_times_150_plus_storage_times_0_50() {
        let p = price(
            "kubernetes",
            "monthly",
            json!({"region":"mb-1","workers":5,"storage_class":"ssd","storage_gb":200}),
        );
        assert_eq!(p.period_total, Money::eur(dec!(850.00)));
        assert_eq!(p.lines.len(), 2);
        let p = price(
            "kubernetes",
            "annual",
            json!({"region":"mb-1","workers":3,"storage_class":"standard","storage_gb":15}),
        );
        // (450 + 7.50) × 12 × 0.8 = 4392.00
        assert_eq!(p.period_total, Money::eur(dec!(4392.00)));
    }

    #[test]
    fn managed_database_doubles_the_plan_with_high_availability_and_adds_storage() {
        let db =
            |plan: &str, ha: bool, gb: u32| {
                price("managed_database", "monthly",
                json!({"region":"lj-1","engine":"postgresql-16","plan":plan,"storage_gb":gb,"high_availability":ha}))
            .period_total
            };
        assert_eq!(db("starter", false, 20), Money::eur(dec!(45.00)));
        assert_eq!(db("starter", true, 20), Money::eur(dec!(85.00)));
        assert_eq!(db("production", false, 100), Money::eur(dec!(145.00)));
        assert_eq!(db("production", true, 2000), Money::eur(dec!(740.00)));
    }

    #[test]
    fn gpu_nodes_cost_1200_or_2400_each_plus_storage() {
        let gpu = |model: &str, nodes: u32, gb: u32| {
            price(
                "gpu",
                "monthly",
                json!({"region":"lj-1","gpu":model,"nodes":nodes,"storage_gb":gb,"framework":"jax"}),
            )
            .period_total
        };
        assert_eq!(gpu("A100", 1, 100), Money::eur(dec!(1220.00)));
        assert_eq!(gpu("H100", 8, 1000), Money::eur(dec!(19400.00)));
    }

    #[test]
    fn private_cloud_is_nodes_times_450_plus_tb_times_80() {
        let p = price(
            "private_cloud",
            "annual",
            json!({"region":"mb-1","cluster_size":"medium","nodes":10,"storage_tb":50}),
        );
        assert_eq!(p.monthly, Money::eur(dec!(8500.00)));
        assert_eq!(p.period_total, Money::eur(dec!(81600.00)));
    }

    #[test]
    fn object_storage_is_tier_rate_times_capacity() {
        let os = |tier: &str, tb: u32| {
            price(
                "object_storage",
                "monthly",
                json!({"region":"mb-1","tier":tier,"capacity_tb":tb,"replication":"multi_zone"}),
            )
            .period_total
        };
        assert_eq!(os("standard", 10), Money::eur(dec!(200.00)));
        assert_eq!(os("archive", 1000), Money::eur(dec!(10000.00)));
    }

    #[test]
    fn every_amount_of_a_price_prints_with_cents() {
        let p = price(
            "private_cloud",
            "annual",
            json!({"region":"mb-1","cluster_size":"medium","nodes":10,"storage_tb":50}),
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["period_total"]["amount"], "81600.00");
        assert_eq!(json["monthly"]["amount"], "8500.00");
        assert_eq!(json["lines"][0]["unit_price"]["amount"], "450.00");
        assert_eq!(json["lines"][0]["amount"]["amount"], "4500.00");
    }

    #[test]
    fn a_snapshot_does_not_move_when_the_catalog_changes() {
        let spec = parse_item(&Catalog::standard(),
            &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}), "").unwrap();
        let before = price_item(&Catalog::standard(), &spec).unwrap();
        let stored = serde_json::to_string(&before).unwrap();

        let mut dearer = Catalog::standard();
        dearer.version = "2027-01-01".into();
        dearer.vps_plans[0].monthly_eur = dec!(12.00);
        assert_eq!(
            price_item(&dearer, &spec).unwrap().period_total,
            Money::eur(dec!(12.00))
        );

        let kept: PriceSnapshot = serde_json::from_str(&stored).unwrap();
        assert_eq!(kept, before);
        assert_eq!(kept.catalog_version, "2026-11-01");
    }

    #[test]
    fn a_shown_total_exactly_one_euro_off_is_accepted_at_our_price() {
        let ours = Money::eur(dec!(192.96));
        assert_eq!(check_shown_total(Money::eur(dec!(193.96)), ours), Ok(ours));
        assert_eq!(check_shown_total(Money::eur(dec!(191.96)), ours), Ok(ours));
    }

    #[test]
    fn a_shown_total_one_euro_and_a_cent_off_is_rejected_with_our_price() {
        let ours = Money::eur(dec!(192.96));
        let err = check_shown_total(Money::eur(dec!(193.97)), ours).unwrap_err();
        assert_eq!(err.server, ours);
        assert!(check_shown_total(Money::eur(dec!(191.95)), ours).is_err());
    }

    fn any_item() -> impl Strategy<Value = Value> {
        let cycle = prop_oneof![Just("monthly"), Just("annual")];
        let config = prop_oneof![
            (0usize..3).prop_map(|p| {
                let plan = ["core", "business", "enterprise"][p];
                json!({"product":"vps","config":{"region":"lj-1","plan":plan,"os_image":"ubuntu-24.04"}})
            }),
            (3u32..=50, 10u32..=10_000).prop_map(|(w, gb)| json!({"product":"kubernetes","config":{"region":"lj-1","workers":w,"storage_class":"ssd","storage_gb":gb}})),
            (20u32..=2000, any::<bool>(), any::<bool>()).prop_map(|(gb, ha, prod)| json!({"product":"managed_database","config":{"region":"lj-1","engine":"postgresql-16","plan":if prod {"production"} else {"starter"},"storage_gb":gb,"high_availability":ha}})),
            (1u32..=8, 100u32..=20_000, any::<bool>()).prop_map(|(n, gb, h)| json!({"product":"gpu","config":{"region":"lj-1","gpu":if h {"H100"} else {"A100"},"nodes":n,"storage_gb":gb,"framework":"none"}})),
            (3u32..=6, 5u32..=500).prop_map(|(n, tb)| json!({"product":"private_cloud","config":{"region":"lj-1","cluster_size":"small","nodes":n,"storage_tb":tb}})),
            (1u32..=1000, any::<bool>()).prop_map(|(tb, a)| json!({"product":"object_storage","config":{"region":"lj-1","tier":if a {"archive"} else {"standard"},"capacity_tb":tb,"replication":"single_zone"}})),
        ];
        (config, cycle).prop_map(|(mut item, cycle)| {
            let cycle = if item["product"] == "private_cloud" {
                "annual"
            } else {
                cycle
            };
            item["billing_cycle"] = json!(cycle);
            item
        })
    }

    proptest! {
        #[test]
        fn no_price_is_ever_negative(raw in any_item()) {
            let spec = parse_item(&Catalog::standard(), &raw, "").unwrap();
            let p = price_item(&Catalog::standard(), &spec).unwrap();
            prop_assert!(p.monthly.amount > Decimal::ZERO);
            prop_assert!(p.period_total.amount > Decimal::ZERO);
            prop_assert!(p.lines.iter().all(|l| l.amount.amount >= Decimal::ZERO));
        }

        #[test]
        fn annual_is_exactly_eighty_percent_of_twelve_months(raw in any_item()) {
            let mut spec = parse_item(&Catalog::standard(), &raw, "").unwrap();
            spec.billing_cycle = BillingCycle::Annual;
            let p = price_item(&Catalog::standard(), &spec).unwrap();
            let expected = p.monthly.amount * dec!(12) * dec!(0.8);
            // Every rate is in cents and 12 × 0.8 = 9.6, so the product needs no rounding at all.
            prop_assert_eq!(p.period_total.amount, expected);
            prop_assert_eq!(expected, expected.round_dp(2));
        }

        #[test]
        fn the_tolerance_is_symmetric_and_inclusive(cents in -500i64..500) {
            let ours = Money::eur(dec!(100.00));
            let shown = Money::eur(dec!(100.00) + Decimal::new(cents, 2));
            prop_assert_eq!(check_shown_total(shown, ours).is_ok(), cents.abs() <= 100);
        }
    }
}
