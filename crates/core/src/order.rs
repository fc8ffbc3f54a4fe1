//! The order aggregate: its items with their product and price snapshots,
//! its state, version and payment record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ProductType};
use crate::config::{ItemSpec, ProductConfig};
use crate::delivery::EmailAddress;
use crate::ids::{ItemId, OrderId, TenantId};
use crate::money::{Money, MoneyError};
use crate::pricing::{order_total, price_item, PriceSnapshot};
use crate::state::{ItemState, OrderState};

/// What the product was at order time, in words a customer reads on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSnapshot {
    /// Which product.
    pub product: ProductType,
    /// The catalog version it was sold from.
    pub catalog_version: String,
    /// A one-line description ("VPS business (4 vCPU, 8 GB, 160 GB) in lj-1, Ubuntu 24.04 LTS").
    pub summary: String,
}

impl ProductSnapshot {
    /// Describes `spec` as `catalog` sells it today.
    pub fn of(catalog: &Catalog, spec: &ItemSpec) -> ProductSnapshot {
        let region = spec.config.region();
        let summary = match &spec.config {
            ProductConfig::Vps(c) => {
                let size = catalog
                    .vps_plan(c.plan)
                    .map(|p| format!(" ({} vCPU, {} GB, {} GB disk)", p.vcpus, p.memory_gb, p.disk_gb))
                    .unwrap_or_default();
                let image = catalog
                    .os_image(&c.os_image)
                    .map_or(c.os_image.as_str(), |i| i.name.as_str());
                format!("VPS {}{size} in {region}, {image}", c.plan)
            }
            ProductConfig::Kubernetes(c) => {
                format!(
                    "Kubernetes, {} workers, {} GB {} storage in {region}",
                    c.workers, c.storage_gb, c.storage_class
                )
            }
            ProductConfig::ManagedDatabase(c) => format!(
                "Managed {} {}{}, {} GB in {region}",
                c.engine,
                c.plan,
                if c.high_availability {
                    " with high availability"
                } else {
                    ""
                },
                c.storage_gb
            ),
            ProductConfig::Gpu(c) => {
                format!(
                    "{} × {} GPU nodes, {} GB, {} in {region}",
                    c.nodes, c.gpu, c.storage_gb, c.framework
                )
            }
            ProductConfig::PrivateCloud(c) => {
                format!(
                    "Private cloud ({}), {} nodes, {} TB in {region}",
                    c.cluster_size, c.nodes, c.storage_tb
                )
            }
            ProductConfig::ObjectStorage(c) => {
                format!(
                    "Object storage {} {} TB, {} in {region}",
                    c.tier, c.capacity_tb, c.replication
                )
            }
        };
        ProductSnapshot {
            product: spec.config.product(),
            catalog_version: catalog.version.clone(),
            summary,
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Its identity.
    pub id: ItemId,
    /// The configuration as ordered.
    pub spec: ItemSpec,
    /// The product as sold.
    pub product: ProductSnapshot,
    /// The price as sold; never re-priced after submit.
    pub price: PriceSnapshot,
    /// Where it is in its life.
    pub state: ItemState,
}

impl OrderItem {
    /// Snapshots and prices a new item.
    pub fn new(catalog: &Catalog, id: ItemId, spec: ItemSpec) -> Result<OrderItem, MoneyError> {
        let price = price_item(catalog, &spec)?;
        let product = ProductSnapshot::of(catalog, &spec);
        Ok(OrderItem {
            id,
            spec,
            product,
            price,
            state: ItemState::Pending,
        })
    }
}

/// A confirmed payment, recorded permanently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Which provider confirmed it.
    pub provider: String,
    /// The provider's transaction reference.
    pub reference: String,
    /// What was paid.
    pub amount: Money,
    /// When the provider says it was paid.
    pub paid_at: DateTime<Utc>,
}

/// The compensation for a completed step, pushed on the order's stack when
/// the step completes and popped, newest first, when the order is unwound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Compensation {
    /// Give the payment back (what is left of it after item refunds).
    RefundPayment,
    /// Remove an item's resources at its provider.
    Deprovision {
        /// The item.
        item: ItemId,
    },
}

/// An order: the aggregate every command acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Identity.
    pub id: OrderId,
    /// Owner; set from the verified credential at creation.
    pub tenant: TenantId,
    /// Lifecycle state.
    pub state: OrderState,
    /// Bumped by every change; guards concurrent writes.
    pub version: i64,
    /// The lines, in order.
    pub items: Vec<OrderItem>,
    /// Sum of the items' period totals: what is charged on submit.
    pub total: Money,
    /// The confirmed payment, once there is one.
    pub payment: Option<Payment>,
    /// Refunds requested so far (sum of amounts).
    pub refunded: Money,
    /// Completed steps' compensations, oldest first.
    pub compensations: Vec<Compensation>,
    /// Set when cancelled: hidden from lists until an operator restores it.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Set when a compensation kept failing and a person must look.
    pub needs_operator: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change.
    pub updated_at: DateTime<Utc>,
    /// Where its access details are e-mailed: set at creation (given, or
    /// the tenant's default then), changed only by an audited write.
    /// `None` only for orders created before addresses were stored.
    pub delivery_email: Option<EmailAddress>,
}

impl Order {
    /// A new draft with priced, snapshotted items, at version 1.
    pub fn draft(
        catalog: &Catalog,
        id: OrderId,
        tenant: TenantId,
        items: Vec<(ItemId, ItemSpec)>,
        now: DateTime<Utc>,
    ) -> Result<Order, MoneyError> {
        let items = items
            .into_iter()
            .map(|(id, spec)| OrderItem::new(catalog, id, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let total = order_total(items.iter().map(|i| &i.price))?;
        Ok(Order {
            id,
            tenant,
            state: OrderState::Draft,
            version: 1,
            total,
            refunded: Money::zero(total.currency),
            items,
            payment: None,
            compensations: Vec::new(),
            deleted_at: None,
            needs_operator: false,
            created_at: now,
            updated_at: now,
            delivery_email: None,
        })
    }

    /// The same draft, delivering to `address`.
    pub fn delivering_to(mut self, address: EmailAddress) -> Order {
        self.delivery_email = Some(address);
        self
    }

    /// The item with this id.
    pub fn item(&self, id: ItemId) -> Option<&OrderItem> {
        self.items.iter().find(|i| i.id == id)
    }

    pub(crate) fn item_mut(&mut self, id: ItemId) -> Option<&mut OrderItem> {
        self.items.iter_mut().find(|i| i.id == id)
    }

    /// What was paid and not yet refunded.
    pub fn refundable(&self) -> Result<Money, MoneyError> {
        match &self.payment {
            Some(p) => p.amount.checked_sub(self.refunded),
            None => Ok(Money::zero(self.total.currency)),
        }
    }

    /// The state the items put a provisioning order in.
    pub(crate) fn settled_state(&self) -> OrderState {
        let n = self.items.len();
        // An item that ran until its subscription ended was fulfilled.
        let live = self
            .items
            .iter()
            .filter(|i| i.state.is_live() || i.state == ItemState::Ended)
            .count();
        let in_flight = self.items.iter().filter(|i| !i.state.is_settled()).count();
        if live == n {
            OrderState::Fulfilled
        } else if in_flight == 0 {
            if live == 0 {
                OrderState::Failed
            } else {
                OrderState::PartiallyFulfilled
            }
        } else if live > 0 {
            OrderState::PartiallyFulfilled
        } else {
            OrderState::Provisioning
        }
    }
}
