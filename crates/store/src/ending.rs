//! What ends by time, found across tenants (PostgreSQL: SECURITY DEFINER
//! functions returning only ids), each then ended inside its own tenant:
//! subscriptions suspended and never paid whose grace period is over
//! (migration 10), and orders still awaiting payment past the payment
//! window (migration 13).

use chrono::{DateTime, Utc};
use orderflow_core::{OrderId, SubscriptionId, TenantId};

use crate::codec::parse;
use crate::db::{Db, Dialect, Param};
use crate::error::StoreError;
use crate::orders::Store;

impl<D: Db> Store<D> {
    /// Up to `limit` suspended subscriptions whose period ended at or
    /// before `ended_before` (now less the grace period), oldest first.
    pub fn unpaid_subscriptions(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(TenantId, SubscriptionId)>, StoreError> {
        let sql = match self.db().dialect() {
            Dialect::Sqlite => {
                "SELECT tenant_id, id FROM subscriptions
                  WHERE status = 'suspended' AND current_period_end <= $1
                  ORDER BY current_period_end, id LIMIT $2"
            }
            Dialect::Postgres => "SELECT tenant_id, id FROM orderflow_unpaid_subscriptions($1, $2)",
        };
        let rows = self.run(sql, &[Param::Time(ended_before), Param::Int(i64::from(limit))])?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse::<TenantId>("tenant id", r.text("tenant_id")?)?,
                    parse::<SubscriptionId>("subscription id", r.text("id")?)?,
                ))
            })
            .collect()
    }

    /// Up to `limit` orders of any tenant still awaiting payment that were
    /// submitted at or before `submitted_before` (now less the payment
    /// window), oldest first.
    pub fn expired_payments(
        &self,
        submitted_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(TenantId, OrderId)>, StoreError> {
        let sql = match self.db().dialect() {
            Dialect::Sqlite => {
                "SELECT tenant_id, id FROM orders
                  WHERE state = 'pending_payment' AND submitted_at <= $1
                  ORDER BY submitted_at, id LIMIT $2"
            }
            Dialect::Postgres => "SELECT tenant_id, id FROM orderflow_expired_payments($1, $2)",
        };
        let rows = self.run(sql, &[Param::Time(submitted_before), Param::Int(i64::from(limit))])?;
        rows.iter()
            .map(|r| {
                Ok((
                    parse::<TenantId>("tenant id", r.text("tenant_id")?)?,
                    parse::<OrderId>("order id", r.text("id")?)?,
                ))
            })
            .collect()
    }
}
