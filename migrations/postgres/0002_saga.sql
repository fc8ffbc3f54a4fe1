-- The fulfillment saga's durable state: the PostgreSQL twin of
-- migrations/sqlite/0002_saga.sql (same version, same tables and columns).
-- Forward-only. Times are timestamptz, money NUMERIC(14,2), payloads jsonb;
-- tenant tables get row-level security like those of 0001. webhook_events is
-- keyed by the provider's event id and has no tenant: it is not
-- tenant-scoped (a webhook identifies its order only after the lookup).

ALTER TABLE tenants ADD COLUMN contact_email TEXT;

CREATE TABLE saga_jobs (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    order_id         TEXT NOT NULL REFERENCES orders (id),
    item_id          TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('create_payment_intent', 'cancel_payment_intent', 'validate',
                         'provision', 'deliver', 'deprovision')),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'parked')),
    after_job        TEXT,
    payload          JSONB NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX saga_jobs_due ON saga_jobs (next_attempt_at) WHERE state IN ('pending', 'running');

CREATE INDEX saga_jobs_by_order ON saga_jobs (order_id, created_at);

CREATE TABLE payment_intents (
    order_id      TEXT PRIMARY KEY REFERENCES orders (id),
    tenant_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    intent_id     TEXT NOT NULL UNIQUE,
    amount        NUMERIC(14, 2) NOT NULL,
    currency      TEXT NOT NULL CHECK (currency IN ('EUR')),
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE item_resources (
    item_id       TEXT PRIMARY KEY REFERENCES order_items (id),
    order_id      TEXT NOT NULL REFERENCES orders (id),
    tenant_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_events (
    provider      TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    order_id      TEXT,
    outcome       TEXT NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, event_id)
);

ALTER TABLE saga_jobs ENABLE ROW LEVEL SECURITY;

ALTER TABLE saga_jobs FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON saga_jobs
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE payment_intents ENABLE ROW LEVEL SECURITY;

ALTER TABLE payment_intents FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON payment_intents
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE item_resources ENABLE ROW LEVEL SECURITY;

ALTER TABLE item_resources FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON item_resources
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON saga_jobs, payment_intents, item_resources, webhook_events TO orderflow_app;
