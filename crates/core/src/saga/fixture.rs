//! The one order the saga's unit tests take through their decisions: one
//! monthly VPS item (€10.00) of tenant `acme`, at a fixed time.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::config::parse_item;
use crate::ids::{ItemId, OrderId, TenantId};
use crate::lifecycle::{decide, Actor, Command};
use crate::order::Order;

/// The tests' now.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// The order's one item.
pub fn item() -> ItemId {
    ItemId::from_uuid(Uuid::from_u128(1001))
}

/// The one-item draft, taken through `commands` in turn (the customer's
/// by an operator, the rest by the system).
pub fn order(commands: &[Command]) -> Order {
    let catalog = Catalog::standard();
    let spec = parse_item(
        &catalog,
        &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"core","os_image":"debian-12"}}),
        "",
    )
    .unwrap();
    let tenant: TenantId = "acme".parse().unwrap();
    let id = OrderId::from_uuid(Uuid::from_u128(9));
    let mut order = Order::draft(&catalog, id, tenant, vec![(item(), spec)], now()).unwrap();
    for command in commands {
        let actor = if matches!(command, Command::Submit { .. } | Command::Cancel { .. }) {
            Actor::Operator
        } else {
            Actor::System
        };
        order = decide(&order, command.clone(), actor, &catalog, now()).unwrap().order;
    }
    order
}
