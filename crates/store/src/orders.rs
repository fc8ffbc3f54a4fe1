//! Orders, their items, the audit trail and the outbox.
//!
//! Reads are tenant-scoped by a `tenant_id = $n` in every statement. Writes
//! happen inside [`Store::write`], and [`Store::apply`] writes one decision —
//! the order row guarded by its version, its items, the audit record and the
//! outbox events — so they commit or vanish together.

use chrono::{DateTime, Utc};
use orderflow_core::{
    jobs_for, Actor, Compensation, Decision, Event, ItemSpec, Money, Order, OrderId, OrderItem, OrderState, Payment, Quota, TenantId,
};
use serde::Serialize;

use crate::codec::{fmt_time, parse, parse_decimal, parse_time};
use crate::db::{Db, DbError, Param, Row, Rows};
use crate::error::StoreError;

/// How many times a write transaction is retried when another writer holds the lock.
const BUSY_RETRIES: u32 = 50;

/// Filters for listing a tenant's orders, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only orders in this state.
    pub state: Option<OrderState>,
    /// Include soft-deleted (cancelled) orders; operators only.
    pub include_deleted: bool,
    /// Continue after this `(created_at, id)`, exclusive.
    pub after: Option<(DateTime<Utc>, OrderId)>,
    /// At most this many.
    pub limit: u32,
}

/// One entry of an order's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Order version after the change.
    pub order_version: i64,
    /// Who: role.
    pub actor: String,
    /// Who: the credential's subject.
    pub subject: String,
    /// What was asked.
    pub command: String,
    /// State before (`null` at creation).
    pub from: Option<String>,
    /// State after.
    pub to: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: String,
}

/// One outbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    /// Write order.
    pub seq: i64,
    /// Stable event id.
    pub event_id: String,
    /// Event type name.
    pub event_type: String,
    /// Kafka topic.
    pub topic: String,
    /// Kafka key (the order id).
    pub key: String,
    /// Event body (JSON text).
    pub data: String,
    /// When it was published, if it was.
    pub published_at: Option<String>,
}

/// The store over one database connection.
#[derive(Debug)]
pub struct Store<D: Db> {
    db: D,
}

impl<D: Db> Store<D> {
    /// Wraps a connection.
    pub fn new(db: D) -> Self {
        Store { db }
    }

    /// The connection.
    pub fn db(&self) -> &D {
        &self.db
    }

    pub(crate) fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, StoreError> {
        Ok(self.db.run(&self.db.dialect().sql(sql), params)?)
    }

    /// Runs `f` in a write transaction holding the database write lock, so
    /// concurrent writers to one order are serialized. Commits on `Ok`,
    /// rolls back on `Err`. A busy database is waited for and retried.
    pub fn write<T>(&self, mut f: impl FnMut(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            match self.db.run(self.db.dialect().begin_write(), &[]) {
                Ok(_) => {}
                Err(DbError::Busy) if attempt < BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20)) * 5));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let result = f(self);
            match result {
                Ok(v) => match self.db.run("COMMIT", &[]) {
                    Ok(_) => return Ok(v),
                    Err(DbError::Busy) if attempt < BUSY_RETRIES => {
                        let _ = self.db.run("ROLLBACK", &[]);
                        attempt += 1;
                    }
                    Err(e) => {
                        let _ = self.db.run("ROLLBACK", &[]);
                        return Err(e.into());
                    }
                },
                Err(e) => {
                    let _ = self.db.run("ROLLBACK", &[]);
                    return Err(e);
                }
            }
        }
    }

    /// The tenant's order, or `None` (also when it belongs to another tenant).
    pub fn order(&self, tenant: &TenantId, id: OrderId) -> Result<Option<Order>, StoreError> {
        let rows = self.run(
            "SELECT * FROM orders WHERE tenant_id = $1 AND id = $2",
            &[tenant.as_str().into(), id.to_string().into()],
        )?;
        let Some(row) = rows.first() else { return Ok(None) };
        let items = self.run(
            "SELECT * FROM order_items WHERE tenant_id = $1 AND order_id = $2 ORDER BY position",
            &[tenant.as_str().into(), id.to_string().into()],
        )?;
        let items = items.iter().map(|r| item_from_row(&r)).collect::<Result<Vec<_>, _>>()?;
        Ok(Some(order_from_row(&row, items)?))
    }

    /// The tenant's orders, newest first.
    pub fn list_orders(&self, tenant: &TenantId, filter: &ListFilter) -> Result<Vec<Order>, StoreError> {
        let (after_time, after_id) = match &filter.after {
            Some((t, id)) => (Param::from(fmt_time(*t)), Param::from(id.to_string())),
            None => (Param::Null, Param::Null),
        };
        let rows = self.run(
            "SELECT * FROM orders
             WHERE tenant_id = $1
               AND ($2 IS NULL OR state = $2)
               AND ($3 = 1 OR deleted_at IS NULL)
               AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5))
             ORDER BY created_at DESC, id DESC
             LIMIT $6",
            &[
                tenant.as_str().into(),
                filter.state.map(|s| s.as_str()).into(),
                Param::Int(i64::from(filter.include_deleted)),
                after_time,
                after_id,
                Param::Int(i64::from(filter.limit)),
            ],
        )?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows.iter().map(|r| r.text("id").map(str::to_owned)).collect::<Result<_, _>>()?;
        let items = self.run(
            "SELECT * FROM order_items WHERE tenant_id = $1 AND order_id IN (SELECT value FROM json_each($2))
             ORDER BY order_id, position",
            &[tenant.as_str().into(), serde_json::to_string(&ids)?.into()],
        )?;
        let mut by_order: std::collections::HashMap<String, Vec<OrderItem>> = std::collections::HashMap::new();
        for r in items.iter() {
            by_order.entry(r.text("order_id")?.to_owned()).or_default().push(item_from_row(&r)?);
        }
        rows.iter()
            .map(|r| {
                let items = by_order.remove(r.text("id")?).unwrap_or_default();
                order_from_row(&r, items)
            })
            .collect()
    }

    /// The tenant's own quota, when it has one (otherwise the catalog default applies).
    pub fn tenant_quota(&self, tenant: &TenantId) -> Result<Option<Quota>, StoreError> {
        let rows = self.run("SELECT quota FROM tenants WHERE id = $1", &[tenant.as_str().into()])?;
        match rows.first().map(|r| r.opt_text("quota")).transpose()?.flatten() {
            Some(json) => Ok(Some(serde_json::from_str(json)?)),
            None => Ok(None),
        }
    }

    /// The specs of every item the tenant has running or on its way: items
    /// of submitted, paid or provisioning orders that have not failed or
    /// been rolled back. What counts against its quota.
    pub fn live_item_specs(&self, tenant: &TenantId) -> Result<Vec<ItemSpec>, StoreError> {
        let rows = self.run(
            "SELECT i.spec FROM order_items i JOIN orders o ON o.id = i.order_id
              WHERE o.tenant_id = $1 AND i.tenant_id = $1
                AND o.state NOT IN ('draft', 'cancelled', 'failed')
                AND i.state NOT IN ('failed', 'rolled_back')",
            &[tenant.as_str().into()],
        )?;
        rows.iter().map(|r| Ok(serde_json::from_str(r.text("spec")?)?)).collect()
    }

    /// The order's audit trail, oldest first.
    pub fn audit(&self, tenant: &TenantId, id: OrderId) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self.run(
            "SELECT * FROM audit_log WHERE tenant_id = $1 AND order_id = $2 ORDER BY id",
            &[tenant.as_str().into(), id.to_string().into()],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    order_version: r.int("order_version")?,
                    actor: r.text("actor_role")?.to_owned(),
                    subject: r.text("actor_subject")?.to_owned(),
                    command: r.text("command")?.to_owned(),
                    from: r.opt_text("from_state")?.map(str::to_owned),
                    to: r.text("to_state")?.to_owned(),
                    reason: r.text("reason")?.to_owned(),
                    at: r.text("at")?.to_owned(),
                })
            })
            .collect()
    }

    /// The order's outbox rows, in write order.
    pub fn outbox_of(&self, tenant: &TenantId, id: OrderId) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = self.run(
            "SELECT * FROM outbox WHERE tenant_id = $1 AND message_key = $2 ORDER BY seq",
            &[tenant.as_str().into(), id.to_string().into()],
        )?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRow {
                    seq: r.int("seq")?,
                    event_id: r.text("event_id")?.to_owned(),
                    event_type: r.text("event_type")?.to_owned(),
                    topic: r.text("topic")?.to_owned(),
                    key: r.text("message_key")?.to_owned(),
                    data: r.text("data")?.to_owned(),
                    published_at: r.opt_text("published_at")?.map(str::to_owned),
                })
            })
            .collect()
    }

    /// Inserts a new order with its creation audit record and event. Call inside [`Store::write`].
    pub fn insert_order(&self, order: &Order, created: &Event, actor: Actor, subject: &str) -> Result<(), StoreError> {
        self.run(
            "INSERT INTO orders (id, tenant_id, state, version, currency, total, refunded, payment, compensations,
                                 needs_operator, created_at, updated_at, submitted_at, deleted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13)",
            &[
                order.id.to_string().into(),
                order.tenant.as_str().into(),
                order.state.as_str().into(),
                Param::Int(order.version),
                order.total.currency.code().into(),
                order.total.amount.to_string().into(),
                order.refunded.amount.to_string().into(),
                json_opt(&order.payment)?,
                serde_json::to_string(&order.compensations)?.into(),
                Param::Int(i64::from(order.needs_operator)),
                fmt_time(order.created_at).into(),
                fmt_time(order.updated_at).into(),
                order.deleted_at.map(fmt_time).into(),
            ],
        )?;
        self.upsert_items(order)?;
        self.insert_audit(order, actor, subject, "create", None, "", order.created_at)?;
        self.insert_events(std::slice::from_ref(created))
    }

    /// Writes a decision taken on the order at `expected_version`: the order
    /// (only if nobody changed it meanwhile), its items, the audit record,
    /// the outbox events and the saga jobs for its effects. Call inside
    /// [`Store::write`].
    pub fn apply(&self, expected_version: i64, decision: &Decision, subject: &str) -> Result<(), StoreError> {
        let order = &decision.order;
        let submitted_at = (order.state == OrderState::PendingPayment).then(|| fmt_time(order.updated_at));
        let updated = self.run(
            "UPDATE orders
                SET state = $1, version = $2, total = $3, refunded = $4, payment = $5, compensations = $6,
                    needs_operator = $7, updated_at = $8, deleted_at = $9, submitted_at = coalesce(submitted_at, $10)
              WHERE id = $11 AND tenant_id = $12 AND version = $13
             RETURNING version",
            &[
                order.state.as_str().into(),
                Param::Int(order.version),
                order.total.amount.to_string().into(),
                order.refunded.amount.to_string().into(),
                json_opt(&order.payment)?,
                serde_json::to_string(&order.compensations)?.into(),
                Param::Int(i64::from(order.needs_operator)),
                fmt_time(order.updated_at).into(),
                order.deleted_at.map(fmt_time).into(),
                submitted_at.into(),
                order.id.to_string().into(),
                order.tenant.as_str().into(),
                Param::Int(expected_version),
            ],
        )?;
        if updated.is_empty() {
            return Err(StoreError::VersionConflict { expected: expected_version });
        }
        self.upsert_items(order)?;
        let a = &decision.audit;
        self.insert_audit(order, a.actor, subject, a.command, Some(a.from), &a.reason, order.updated_at)?;
        self.insert_events(&decision.events)?;
        let jobs = jobs_for(order.id, order.version, &decision.effects);
        self.insert_jobs(&order.tenant, &jobs, order.updated_at)
    }

    fn upsert_items(&self, order: &Order) -> Result<(), StoreError> {
        let ids: Vec<String> = order.items.iter().map(|i| i.id.to_string()).collect();
        self.run(
            "DELETE FROM order_items WHERE order_id = $1 AND id NOT IN (SELECT value FROM json_each($2))",
            &[order.id.to_string().into(), serde_json::to_string(&ids)?.into()],
        )?;
        for (position, item) in order.items.iter().enumerate() {
            self.run(
                "INSERT INTO order_items (id, order_id, tenant_id, position, product, billing_cycle, state, spec,
                                          product_snapshot, price_snapshot, period_total)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET
                    position = excluded.position, product = excluded.product, billing_cycle = excluded.billing_cycle,
                    state = excluded.state, spec = excluded.spec, product_snapshot = excluded.product_snapshot,
                    price_snapshot = excluded.price_snapshot, period_total = excluded.period_total",
                &[
                    item.id.to_string().into(),
                    order.id.to_string().into(),
                    order.tenant.as_str().into(),
                    Param::Int(i64::try_from(position).unwrap_or(i64::MAX)),
                    item.product.product.as_str().into(),
                    item.spec.billing_cycle.as_str().into(),
                    item.state.as_str().into(),
                    serde_json::to_string(&item.spec)?.into(),
                    serde_json::to_string(&item.product)?.into(),
                    serde_json::to_string(&item.price)?.into(),
                    item.price.period_total.amount.to_string().into(),
                ],
            )?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_audit(
        &self,
        order: &Order,
        actor: Actor,
        subject: &str,
        command: &str,
        from: Option<OrderState>,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let role = match actor {
            Actor::Customer => "customer",
            Actor::Operator => "operator",
            Actor::System => "system",
        };
        self.run(
            "INSERT INTO audit_log (tenant_id, order_id, order_version, actor_role, actor_subject, command, from_state,
                                    to_state, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                order.tenant.as_str().into(),
                order.id.to_string().into(),
                Param::Int(order.version),
                role.into(),
                subject.into(),
                command.into(),
                from.map(|s| s.as_str()).into(),
                order.state.as_str().into(),
                reason.into(),
                fmt_time(at).into(),
            ],
        )?;
        Ok(())
    }

    fn insert_events(&self, events: &[Event]) -> Result<(), StoreError> {
        for e in events {
            self.run(
                "INSERT INTO outbox (event_id, event_type, topic, message_key, tenant_id, order_version, occurred_at, data)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    e.id.to_string().into(),
                    e.event_type.as_str().into(),
                    e.event_type.topic().into(),
                    e.order_id.to_string().into(),
                    e.tenant.as_str().into(),
                    Param::Int(e.order_version),
                    fmt_time(e.occurred_at).into(),
                    serde_json::to_string(&e.data)?.into(),
                ],
            )?;
        }
        Ok(())
    }
}

fn json_opt<T: Serialize>(v: &Option<T>) -> Result<Param<'static>, StoreError> {
    Ok(match v {
        Some(v) => Param::from(serde_json::to_string(v)?),
        None => Param::Null,
    })
}

fn order_from_row(r: &Row<'_>, items: Vec<OrderItem>) -> Result<Order, StoreError> {
    let currency = orderflow_core::Currency::from_code(r.text("currency")?)
        .ok_or_else(|| StoreError::Corrupt("currency".into()))?;
    let money = |col: &str| -> Result<Money, StoreError> {
        Ok(Money { amount: parse_decimal(r.text(col)?)?, currency })
    };
    let payment: Option<Payment> = r.opt_text("payment")?.map(serde_json::from_str).transpose()?;
    let compensations: Vec<Compensation> = serde_json::from_str(r.text("compensations")?)?;
    Ok(Order {
        id: parse("order id", r.text("id")?)?,
        tenant: parse("tenant id", r.text("tenant_id")?)?,
        state: parse("order state", r.text("state")?)?,
        version: r.int("version")?,
        items,
        total: money("total")?,
        payment,
        refunded: money("refunded")?,
        compensations,
        deleted_at: r.opt_text("deleted_at")?.map(parse_time).transpose()?,
        needs_operator: r.int("needs_operator")? != 0,
        created_at: parse_time(r.text("created_at")?)?,
        updated_at: parse_time(r.text("updated_at")?)?,
    })
}

fn item_from_row(r: &Row<'_>) -> Result<OrderItem, StoreError> {
    Ok(OrderItem {
        id: parse("item id", r.text("id")?)?,
        spec: serde_json::from_str(r.text("spec")?)?,
        product: serde_json::from_str(r.text("product_snapshot")?)?,
        price: serde_json::from_str(r.text("price_snapshot")?)?,
        state: parse("item state", r.text("state")?)?,
    })
}
