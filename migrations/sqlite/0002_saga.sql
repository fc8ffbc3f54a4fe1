-- The fulfillment saga's durable state: jobs (the effects of committed
-- decisions, run by the worker), payment intents, provider resources per
-- item, and processed webhook events. Forward-only.

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
    payload          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX saga_jobs_due ON saga_jobs (next_attempt_at) WHERE state IN ('pending', 'running');

CREATE INDEX saga_jobs_by_order ON saga_jobs (order_id, created_at);

CREATE TABLE payment_intents (
    order_id      TEXT PRIMARY KEY REFERENCES orders (id),
    tenant_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    intent_id     TEXT NOT NULL UNIQUE,
    amount        TEXT NOT NULL,
    currency      TEXT NOT NULL CHECK (currency IN ('EUR')),
    created_at    TEXT NOT NULL
);

CREATE TABLE item_resources (
    item_id       TEXT PRIMARY KEY REFERENCES order_items (id),
    order_id      TEXT NOT NULL REFERENCES orders (id),
    tenant_id     TEXT NOT NULL,
    provider      TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE webhook_events (
    provider      TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    order_id      TEXT,
    outcome       TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
