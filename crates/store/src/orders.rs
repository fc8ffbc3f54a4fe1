//! Orders, their items, the audit trail and the outbox.
//!
//! Reads are tenant-scoped twice: by a `tenant_id = $n` in every statement
//! (all that SQLite has), and on PostgreSQL by row-level security, for which
//! every tenant's statements run in a transaction that first sets
//! `app.tenant_id` ([`Store::in_tenant`]). Writes happen inside
//! [`Store::write`], and [`Store::apply`] writes one decision — the order row
//! guarded by its version, its items, the audit record and the outbox events —
//! so they commit or vanish together.

use chrono::{DateTime, Utc};
use orderflow_core::{
    jobs_for, Actor, Compensation, Decision, Event, ItemSpec, Money, Order, OrderId, OrderItem, OrderState, Payment,
    Quota, TenantId,
};
use serde::Serialize;

use crate::codec::{parse, parse_decimal, parse_time};
use crate::db::{Db, DbError, Dialect, Param, Row, Rows};
use crate::error::StoreError;

/// How many times a write transaction is retried when the database is busy.
/// Few: on SQLite each attempt has already waited out the connection's busy
/// timeout (5 s under Spin), and on PostgreSQL busy means a deadlock or a
/// serialization failure, which a retry or two resolves. Beyond them the
/// caller answers 503 with `Retry-After`, having changed nothing.
const BUSY_RETRIES: u32 = 2;

/// Filters for listing a tenant's orders, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only orders in this state.
    pub state: Option<OrderState>,
    /// Include soft-deleted (cancelled) orders; operators only.
    pub include_deleted: bool,
    /// Only orders parked for an operator (a compensation kept failing).
    pub needs_operator: bool,
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

/// The store over one database connection. Not `Sync`: it tracks whether
/// its connection is inside a transaction.
#[derive(Debug)]
pub struct Store<D: Db> {
    db: D,
    /// Whether a [`Store::write`] (or [`Store::in_tenant`]) transaction is open.
    in_tx: std::cell::Cell<bool>,
}

impl<D: Db> Store<D> {
    /// Wraps a connection.
    pub fn new(db: D) -> Self {
        Store {
            db,
            in_tx: std::cell::Cell::new(false),
        }
    }

    /// The connection.
    pub fn db(&self) -> &D {
        &self.db
    }

    pub(crate) fn run(&self, sql: &str, params: &[Param<'_>]) -> Result<Rows, StoreError> {
        Ok(self.db.run(&self.db.dialect().sql(sql), params)?)
    }

    /// Runs `f` in a write transaction, so concurrent writers to one order
    /// are serialized (SQLite: the database write lock; PostgreSQL: the
    /// order's row lock, taken by the version-guarded update). Commits on
    /// `Ok`, rolls back on `Err`. A busy database is waited for and retried.
    /// Called inside an open transaction, `f` joins it.
    ///
    /// On PostgreSQL, row-level security sees no tenant until one is set:
    /// every tenant-scoped method of the store sets its tenant itself (see
    /// [`Store::in_tenant`]), so `f` only has to call them.
    pub fn write<T>(&self, f: impl FnMut(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.transaction(self.db.dialect().begin_write(), f)
    }

    /// Runs `f` with `tenant` set for row-level security: inside the open
    /// transaction if there is one (setting `app.tenant_id` for the rest of
    /// it), else in a transaction of its own on PostgreSQL. SQLite has no
    /// row-level security: there `f` simply runs, and its statements must be
    /// tenant-scoped themselves, as every statement of the store is.
    ///
    /// Every tenant-scoped query of the store runs through this, so reads
    /// and writes work unchanged on both backends.
    pub fn in_tenant<T>(
        &self,
        tenant: &TenantId,
        mut f: impl FnMut(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.db.dialect() {
            Dialect::Sqlite => f(self),
            Dialect::Postgres if self.in_tx.get() => {
                self.set_tenant(tenant)?;
                f(self)
            }
            Dialect::Postgres => self.transaction("BEGIN", |s| {
                s.set_tenant(tenant)?;
                f(s)
            }),
        }
    }

    /// Runs the reads of `f` against one snapshot of the database, with
    /// `tenant` set for row-level security: an order and its items, or a
    /// page of orders, are read as one state, never half before and half
    /// after another transaction's commit. SQLite: a deferred transaction
    /// (in WAL mode its reads share the snapshot of the first); PostgreSQL:
    /// `REPEATABLE READ READ ONLY`. It is ended with `ROLLBACK`: it wrote
    /// nothing. Inside an open transaction, `f` joins it.
    pub fn snapshot<T>(
        &self,
        tenant: &TenantId,
        mut f: impl FnMut(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.in_tx.get() {
            return self.in_tenant(tenant, f);
        }
        let begin = match self.db.dialect() {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.db.run(begin, &[])?;
        self.in_tx.set(true);
        let result = self.in_tenant(tenant, &mut f);
        self.in_tx.set(false);
        let ended = self.db.run("ROLLBACK", &[]);
        let value = result?;
        ended?;
        Ok(value)
    }

    /// Sets the row-level-security tenant until the end of the current transaction.
    fn set_tenant(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.run(
            "SELECT set_config('app.tenant_id', $1, true) AS tenant",
            &[tenant.as_str().into()],
        )?;
        Ok(())
    }

    /// Runs `f` between `begin` and `COMMIT` (or `ROLLBACK` on `Err`),
    /// retrying a busy database; joins an already open transaction.
    fn transaction<T>(&self, begin: &str, mut f: impl FnMut(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if self.in_tx.get() {
            return f(self);
        }
        let mut attempt = 0;
        loop {
            match self.db.run(begin, &[]) {
                Ok(_) => {}
                Err(DbError::Busy) if attempt < BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20)) * 5));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            self.in_tx.set(true);
            let result = f(self);
            self.in_tx.set(false);
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
        self.snapshot(tenant, |s| s.order_in_tenant(tenant, id))
    }

    /// The tenant's order, its row locked until the end of the open write
    /// transaction: on PostgreSQL `FOR UPDATE`, so concurrent writers of one
    /// order (say, two items completing at once) queue instead of one losing
    /// on the version guard; on SQLite the write lock already serializes
    /// them. Call inside [`Store::write`].
    pub fn order_for_update(&self, tenant: &TenantId, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.in_tenant(tenant, |s| s.order_in_tenant_locked(tenant, id, true))
    }

    fn order_in_tenant(&self, tenant: &TenantId, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.order_in_tenant_locked(tenant, id, false)
    }

    fn order_in_tenant_locked(&self, tenant: &TenantId, id: OrderId, lock: bool) -> Result<Option<Order>, StoreError> {
        let sql = if lock {
            "SELECT * FROM orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
        } else {
            "SELECT * FROM orders WHERE tenant_id = $1 AND id = $2"
        };
        let rows = self.run(sql, &[tenant.as_str().into(), id.to_string().into()])?;
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
        self.snapshot(tenant, |s| s.list_orders_in_tenant(tenant, filter))
    }

    fn list_orders_in_tenant(&self, tenant: &TenantId, filter: &ListFilter) -> Result<Vec<Order>, StoreError> {
        let (after_time, after_id) = match &filter.after {
            Some((t, id)) => (Param::Time(*t), Param::from(id.to_string())),
            None => (Param::Null, Param::Null),
        };
        let rows = self.run(
            "SELECT * FROM orders
             WHERE tenant_id = $1
               AND (NOT $2 OR state = $3)
               AND ($4 OR deleted_at IS NULL)
               AND (NOT $5 OR created_at < $6 OR (created_at = $6 AND id < $7))
               AND (NOT $9 OR needs_operator)
             ORDER BY created_at DESC, id DESC
             LIMIT $8",
            // Each optional filter has a boolean switch: PostgreSQL cannot
            // infer the type of a placeholder that is only tested for NULL.
            &[
                tenant.as_str().into(),
                Param::Bool(filter.state.is_some()),
                filter.state.map(|s| s.as_str()).into(),
                Param::Bool(filter.include_deleted),
                Param::Bool(filter.after.is_some()),
                after_time,
                after_id,
                Param::Int(i64::from(filter.limit)),
                Param::Bool(filter.needs_operator),
            ],
        )?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.text("id").map(str::to_owned))
            .collect::<Result<_, _>>()?;
        let items = self.run(
            &format!(
                "SELECT * FROM order_items WHERE tenant_id = $1 AND order_id IN ({})
                 ORDER BY order_id, position",
                self.db.dialect().json_array_elements(2)
            ),
            &[tenant.as_str().into(), Param::Json(serde_json::to_string(&ids)?.into())],
        )?;
        let mut by_order: std::collections::HashMap<String, Vec<OrderItem>> = std::collections::HashMap::new();
        for r in items.iter() {
            by_order
                .entry(r.text("order_id")?.to_owned())
                .or_default()
                .push(item_from_row(&r)?);
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
        let rows = self.in_tenant(tenant, |s| {
            s.run("SELECT quota FROM tenants WHERE id = $1", &[tenant.as_str().into()])
        })?;
        match rows.first().map(|r| r.opt_text("quota")).transpose()?.flatten() {
            Some(json) => Ok(Some(serde_json::from_str(json)?)),
            None => Ok(None),
        }
    }

    /// The specs of every item the tenant has running or on its way: items
    /// of submitted, paid or provisioning orders that have not failed, been
    /// rolled back, or ended with their subscription. What counts against
    /// its quota.
    pub fn live_item_specs(&self, tenant: &TenantId) -> Result<Vec<ItemSpec>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT i.spec FROM order_items i JOIN orders o ON o.id = i.order_id
              WHERE o.tenant_id = $1 AND i.tenant_id = $1
                AND o.state NOT IN ('draft', 'cancelled', 'failed')
                AND i.state NOT IN ('failed', 'rolled_back', 'ended')",
                &[tenant.as_str().into()],
            )
        })?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.text("spec")?)?))
            .collect()
    }

    /// The order's audit trail, oldest first.
    pub fn audit(&self, tenant: &TenantId, id: OrderId) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM audit_log WHERE tenant_id = $1 AND order_id = $2 ORDER BY id",
                &[tenant.as_str().into(), id.to_string().into()],
            )
        })?;
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
        let rows = self.in_tenant(tenant, |s| {
            s.run(
                "SELECT * FROM outbox WHERE tenant_id = $1 AND message_key = $2 ORDER BY seq",
                &[tenant.as_str().into(), id.to_string().into()],
            )
        })?;
        rows.iter().map(|r| outbox_row_from_row(&r)).collect()
    }

    /// Inserts a new order with its creation audit record and event. Call inside [`Store::write`].
    pub fn insert_order(&self, order: &Order, created: &Event, actor: Actor, subject: &str) -> Result<(), StoreError> {
        self.in_tenant(&order.tenant, |s| {
            s.insert_order_in_tenant(order, created, actor, subject)
        })
    }

    fn insert_order_in_tenant(
        &self,
        order: &Order,
        created: &Event,
        actor: Actor,
        subject: &str,
    ) -> Result<(), StoreError> {
        self.run(
            "INSERT INTO orders (id, tenant_id, state, version, currency, total, refunded, payment, compensations,
                                 needs_operator, created_at, updated_at, submitted_at, deleted_at, delivery_email)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13, $14)",
            &[
                order.id.to_string().into(),
                order.tenant.as_str().into(),
                order.state.as_str().into(),
                Param::Int(order.version),
                order.total.currency.code().into(),
                order.total.amount.into(),
                order.refunded.amount.into(),
                json_opt(&order.payment)?,
                json(&order.compensations)?,
                order.needs_operator.into(),
                order.created_at.into(),
                order.updated_at.into(),
                order.deleted_at.into(),
                order.delivery_email.as_ref().map(|e| e.as_str()).into(),
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
        self.in_tenant(&decision.order.tenant, |s| {
            s.apply_in_tenant(expected_version, decision, subject)
        })
    }

    fn apply_in_tenant(&self, expected_version: i64, decision: &Decision, subject: &str) -> Result<(), StoreError> {
        let order = &decision.order;
        let submitted_at = (order.state == OrderState::PendingPayment).then_some(order.updated_at);
        let updated = self.run(
            "UPDATE orders
                SET state = $1, version = $2, total = $3, refunded = $4, payment = $5, compensations = $6,
                    needs_operator = $7, updated_at = $8, deleted_at = $9, submitted_at = coalesce(submitted_at, $10),
                    delivery_email = $14
              WHERE id = $11 AND tenant_id = $12 AND version = $13
             RETURNING version",
            &[
                order.state.as_str().into(),
                Param::Int(order.version),
                order.total.amount.into(),
                order.refunded.amount.into(),
                json_opt(&order.payment)?,
                json(&order.compensations)?,
                order.needs_operator.into(),
                order.updated_at.into(),
                order.deleted_at.into(),
                submitted_at.into(),
                order.id.to_string().into(),
                order.tenant.as_str().into(),
                Param::Int(expected_version),
                order.delivery_email.as_ref().map(|e| e.as_str()).into(),
            ],
        )?;
        if updated.is_empty() {
            return Err(StoreError::VersionConflict {
                expected: expected_version,
            });
        }
        self.upsert_items(order)?;
        let a = &decision.audit;
        self.insert_audit(
            order,
            a.actor,
            subject,
            a.command,
            Some(a.from),
            &a.reason,
            order.updated_at,
        )?;
        self.insert_events(&decision.events)?;
        self.insert_refunds(&order.tenant, order.id, &decision.effects, order.updated_at)?;
        let jobs = jobs_for(order.id, order.version, &decision.effects);
        self.insert_jobs(&order.tenant, &jobs, order.updated_at)
    }

    fn upsert_items(&self, order: &Order) -> Result<(), StoreError> {
        let ids: Vec<String> = order.items.iter().map(|i| i.id.to_string()).collect();
        self.run(
            &format!(
                "DELETE FROM order_items WHERE order_id = $1 AND id NOT IN ({})",
                self.db.dialect().json_array_elements(2)
            ),
            &[
                order.id.to_string().into(),
                Param::Json(serde_json::to_string(&ids)?.into()),
            ],
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
                    json(&item.spec)?,
                    json(&item.product)?,
                    json(&item.price)?,
                    item.price.period_total.amount.into(),
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
                at.into(),
            ],
        )?;
        Ok(())
    }

    pub(crate) fn insert_events(&self, events: &[Event]) -> Result<(), StoreError> {
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
                    e.occurred_at.into(),
                    serde_json::to_string(&e.data)?.into(),
                ],
            )?;
        }
        Ok(())
    }
}

fn json<T: Serialize>(v: &T) -> Result<Param<'static>, StoreError> {
    Ok(Param::Json(serde_json::to_string(v)?.into()))
}

fn json_opt<T: Serialize>(v: &Option<T>) -> Result<Param<'static>, StoreError> {
    match v {
        Some(v) => json(v),
        None => Ok(Param::Null),
    }
}

/// An outbox row as read back (by an order's readers and by the relay).
pub(crate) fn outbox_row_from_row(r: &Row<'_>) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        seq: r.int("seq")?,
        event_id: r.text("event_id")?.to_owned(),
        event_type: r.text("event_type")?.to_owned(),
        topic: r.text("topic")?.to_owned(),
        key: r.text("message_key")?.to_owned(),
        data: r.text("data")?.to_owned(),
        published_at: r.opt_text("published_at")?.map(str::to_owned),
    })
}

fn order_from_row(r: &Row<'_>, items: Vec<OrderItem>) -> Result<Order, StoreError> {
    let currency = orderflow_core::Currency::from_code(r.text("currency")?)
        .ok_or_else(|| StoreError::Corrupt("currency".into()))?;
    let money = |col: &str| -> Result<Money, StoreError> {
        Ok(Money {
            amount: parse_decimal(r.text(col)?)?,
            currency,
        })
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
        delivery_email: r
            .opt_text("delivery_email")?
            .map(|e| parse::<orderflow_core::EmailAddress>("delivery e-mail", e))
            .transpose()?,
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
