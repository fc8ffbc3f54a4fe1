-- Day two (issue 22). Forward-only; the twin of
-- migrations/postgres/0013_day_two.sql (which also adds
-- orderflow_expired_payments: SQLite reads the orders directly).
--
-- An item whose subscription ended, its resource deleted at the provider,
-- is `ended`: it holds no capacity and counts against no quota.
-- SQLite cannot change a CHECK in place, so `order_items` is rebuilt with
-- the new list (as 0011 rebuilt refunds), keeping every row and index. The
-- tables that reference it (credentials, subscriptions, …) name it by
-- name, so the rename leaves them pointing at the new table. Where foreign
-- keys are enforced, dropping the old table would break those references
-- for a moment: they are deferred to the commit (the pragma lasts until the
-- migration's transaction ends), by when every row is back under its name.

PRAGMA defer_foreign_keys = ON;

CREATE TABLE order_items_v13 (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id),
    tenant_id         TEXT NOT NULL,
    position          INTEGER NOT NULL CHECK (position >= 0),
    product           TEXT NOT NULL CHECK (product IN ('vps', 'kubernetes', 'managed_database', 'gpu',
                          'private_cloud', 'object_storage')),
    billing_cycle     TEXT NOT NULL CHECK (billing_cycle IN ('monthly', 'annual')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'provisioning', 'active', 'delivered', 'failed',
                          'rolled_back', 'ended')),
    spec              TEXT NOT NULL,
    product_snapshot  TEXT NOT NULL,
    price_snapshot    TEXT NOT NULL,
    period_total      TEXT NOT NULL,
    UNIQUE (order_id, position)
);

INSERT INTO order_items_v13 (id, order_id, tenant_id, position, product, billing_cycle, state, spec,
                             product_snapshot, price_snapshot, period_total)
    SELECT id, order_id, tenant_id, position, product, billing_cycle, state, spec,
           product_snapshot, price_snapshot, period_total
      FROM order_items;

DROP TABLE order_items;

ALTER TABLE order_items_v13 RENAME TO order_items;

CREATE INDEX order_items_by_order ON order_items (order_id, position);
