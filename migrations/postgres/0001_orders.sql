-- Orders, their items, the audit trail, the outbox, idempotency records,
-- tenants and delivered credentials: the PostgreSQL twin of
-- migrations/sqlite/0001_orders.sql (same version, same tables and columns).
-- Forward-only: never edit once landed.
--
-- Applied by the schema owner (the role of the migration connection string),
-- never by the application. Money is NUMERIC(14,2), times are timestamptz,
-- flags boolean, snapshots jsonb; the outbox body stays text so that it is
-- published byte for byte as written. Closed sets are CHECKs listing the same
-- names as the Rust enums (a test compares them).
--
-- Roles (cluster-wide, created here when missing, NOLOGIN: a deployment
-- grants them to its login roles, e.g. `CREATE ROLE orders_api LOGIN
-- PASSWORD '…' IN ROLE orderflow_app`):
--   orderflow_app    the components. Not the owner, not a superuser, no
--                    BYPASSRLS: every tenant table has row-level security
--                    ENABLEd and FORCEd, with policies on
--                    tenant_id = current_setting('app.tenant_id', true), which
--                    the store sets with set_config(…, true) in each transaction.
--                    With no tenant set, the setting is NULL or '' and no row
--                    matches.
--   orderflow_relay  the outbox relay. Reads and marks every tenant's outbox
--                    rows through a policy of its own (outbox_relay, USING
--                    true), and has no grant on any other table: least privilege
--                    without BYPASSRLS (which would need a superuser to grant).
--
-- Each statement ends with ";" at the end of a line (dollar-quoted bodies may
-- span lines): the store applies them one at a time.

DO $$
BEGIN
    CREATE ROLE orderflow_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    CREATE ROLE orderflow_relay NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name        TEXT NOT NULL,
    quota       JSONB,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('draft', 'pending_payment', 'payment_confirmed', 'validating',
                        'provisioning', 'partially_fulfilled', 'fulfilled', 'cancelled', 'failed')),
    version         BIGINT NOT NULL CHECK (version >= 1),
    currency        TEXT NOT NULL CHECK (currency IN ('EUR')),
    total           NUMERIC(14, 2) NOT NULL,
    refunded        NUMERIC(14, 2) NOT NULL,
    payment         JSONB,
    compensations   JSONB NOT NULL,
    needs_operator  BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    submitted_at    TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ
);

CREATE INDEX orders_by_tenant_newest ON orders (tenant_id, created_at DESC, id DESC);

CREATE INDEX orders_by_tenant_state ON orders (tenant_id, state, created_at DESC, id DESC);

CREATE TABLE order_items (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id),
    tenant_id         TEXT NOT NULL,
    position          INTEGER NOT NULL CHECK (position >= 0),
    product           TEXT NOT NULL CHECK (product IN ('vps', 'kubernetes', 'managed_database', 'gpu',
                          'private_cloud', 'object_storage')),
    billing_cycle     TEXT NOT NULL CHECK (billing_cycle IN ('monthly', 'annual')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'provisioning', 'active', 'delivered', 'failed',
                          'rolled_back')),
    spec              JSONB NOT NULL,
    product_snapshot  JSONB NOT NULL,
    price_snapshot    JSONB NOT NULL,
    period_total      NUMERIC(14, 2) NOT NULL,
    UNIQUE (order_id, position) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX order_items_by_order ON order_items (order_id, position);

CREATE TABLE audit_log (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    order_version  BIGINT NOT NULL,
    actor_role     TEXT NOT NULL CHECK (actor_role IN ('customer', 'operator', 'system')),
    actor_subject  TEXT NOT NULL,
    command        TEXT NOT NULL,
    from_state     TEXT,
    to_state       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    at             TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_log_by_order ON audit_log (order_id, id);

CREATE TABLE outbox (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       TEXT NOT NULL UNIQUE,
    event_type     TEXT NOT NULL,
    topic          TEXT NOT NULL,
    message_key    TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    order_version  BIGINT NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    data           TEXT NOT NULL,
    published_at   TIMESTAMPTZ,
    claimed_by     TEXT,
    claimed_until  TIMESTAMPTZ,
    attempts       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE INDEX outbox_unpublished_by_key ON outbox (message_key, seq) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response      BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);

CREATE TABLE credentials (
    item_id       TEXT PRIMARY KEY REFERENCES order_items (id),
    order_id      TEXT NOT NULL REFERENCES orders (id),
    tenant_id     TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    nonce         BYTEA NOT NULL,
    ciphertext    BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;

ALTER TABLE tenants FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('app.tenant_id', true))
    WITH CHECK (id = current_setting('app.tenant_id', true));

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;

ALTER TABLE orders FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON orders
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE order_items ENABLE ROW LEVEL SECURITY;

ALTER TABLE order_items FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON order_items
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;

ALTER TABLE outbox FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

CREATE POLICY outbox_relay ON outbox TO orderflow_relay USING (true) WITH CHECK (true);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;

ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE credentials ENABLE ROW LEVEL SECURITY;

ALTER TABLE credentials FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON credentials
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT USAGE ON SCHEMA public TO orderflow_app, orderflow_relay;

GRANT SELECT ON schema_migrations TO orderflow_app, orderflow_relay;

GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, orders, order_items, audit_log, outbox, idempotency_keys, credentials
    TO orderflow_app;

GRANT SELECT, UPDATE (published_at, claimed_by, claimed_until, attempts) ON outbox TO orderflow_relay;
