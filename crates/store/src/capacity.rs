//! Regional capacity and its reservations. Not tenant data: the pools are
//! shared by every tenant, so these queries are deliberately unscoped.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use orderflow_core::{ItemId, ProductType, Region};

use crate::codec::parse;
use crate::db::{Db, Param};
use crate::error::StoreError;
use crate::orders::Store;

/// An arbitrary constant naming the PostgreSQL advisory lock that
/// serializes validations (capacity and quota checks with their reservation).
const RESERVATION_LOCK: i64 = 0x6f66_5f72_6573_6572;

impl<D: Db> Store<D> {
    /// Serializes the check-then-reserve of capacity and quota until the end
    /// of the open write transaction. Call first in the [`Store::write`]
    /// that validates an order: on PostgreSQL under read committed two
    /// validations would otherwise both read the same free units and both
    /// reserve them; a transaction-scoped advisory lock makes the second
    /// wait, and its reads (each statement sees what committed before it)
    /// then include the first one's reservations and live items. It needs no
    /// grant on the shared tables. SQLite's write transaction is already
    /// exclusive.
    pub fn lock_reservations(&self) -> Result<(), StoreError> {
        if self.db().dialect() == crate::db::Dialect::Postgres {
            self.run(
                "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock($1)) AS l",
                &[Param::Int(RESERVATION_LOCK)],
            )?;
        }
        Ok(())
    }

    /// Units free in each pool: its capacity less what validated orders
    /// reserved. A pool without a capacity row has none free.
    pub fn free_capacity(&self) -> Result<HashMap<(Region, ProductType), u32>, StoreError> {
        let rows = self.run(
            // PostgreSQL's sum of bigints is numeric: cast back to an integer.
            "SELECT c.region, c.product,
                    CAST(c.capacity - coalesce((SELECT sum(r.units) FROM capacity_reservations r
                                                  WHERE r.region = c.region AND r.product = c.product), 0) AS BIGINT) AS free
               FROM region_capacity c",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let pool = (
                    parse("region", r.text("region")?)?,
                    parse("product", r.text("product")?)?,
                );
                Ok((pool, u32::try_from(r.int("free")?.max(0)).unwrap_or(u32::MAX)))
            })
            .collect()
    }

    /// Reserves an item's units in its pool (once). Call inside the
    /// [`Store::write`] that starts provisioning, after checking they are free.
    pub fn reserve_capacity(
        &self,
        item: ItemId,
        region: Region,
        product: ProductType,
        units: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.run(
            "INSERT INTO capacity_reservations (item_id, region, product, units, reserved_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (item_id) DO NOTHING",
            &[
                item.to_string().into(),
                region.as_str().into(),
                product.as_str().into(),
                Param::Int(i64::from(units)),
                now.into(),
            ],
        )?;
        Ok(())
    }

    /// Gives an item's units back (it was rolled back).
    pub fn release_capacity(&self, item: ItemId) -> Result<(), StoreError> {
        self.run(
            "DELETE FROM capacity_reservations WHERE item_id = $1",
            &[item.to_string().into()],
        )?;
        Ok(())
    }
}
