-- Orders, their items, the audit trail, the outbox, idempotency records,
-- tenants and delivered credentials. Forward-only: never edit once landed.
--
-- Money is TEXT holding a decimal string ("192.96"), never REAL. Times are
-- TEXT in RFC 3339 UTC with microseconds ("2026-11-22T09:30:00.000000Z"),
-- so text order is time order. Closed sets are CHECKs listing the same names
-- as the Rust enums (a test compares them). Each statement ends with ";" at
-- the end of a line: the store applies them one at a time.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name        TEXT NOT NULL,
    quota       TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('draft', 'pending_payment', 'payment_confirmed', 'validating',
                        'provisioning', 'partially_fulfilled', 'fulfilled', 'cancelled', 'failed')),
    version         INTEGER NOT NULL CHECK (version >= 1),
    currency        TEXT NOT NULL CHECK (currency IN ('EUR')),
    total           TEXT NOT NULL,
    refunded        TEXT NOT NULL,
    payment         TEXT,
    compensations   TEXT NOT NULL,
    needs_operator  INTEGER NOT NULL DEFAULT 0 CHECK (needs_operator IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    submitted_at    TEXT,
    deleted_at      TEXT
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
    spec              TEXT NOT NULL,
    product_snapshot  TEXT NOT NULL,
    price_snapshot    TEXT NOT NULL,
    period_total      TEXT NOT NULL,
    UNIQUE (order_id, position)
);

CREATE INDEX order_items_by_order ON order_items (order_id, position);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    order_id       TEXT NOT NULL,
    order_version  INTEGER NOT NULL,
    actor_role     TEXT NOT NULL CHECK (actor_role IN ('customer', 'operator', 'system')),
    actor_subject  TEXT NOT NULL,
    command        TEXT NOT NULL,
    from_state     TEXT,
    to_state       TEXT NOT NULL,
    reason         TEXT NOT NULL,
    at             TEXT NOT NULL
);

CREATE INDEX audit_log_by_order ON audit_log (order_id, id);

CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,
    event_type     TEXT NOT NULL,
    topic          TEXT NOT NULL,
    message_key    TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    order_version  INTEGER NOT NULL,
    occurred_at    TEXT NOT NULL,
    data           TEXT NOT NULL,
    published_at   TEXT,
    claimed_by     TEXT,
    claimed_until  TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response      TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, idem_key)
);

CREATE TABLE credentials (
    item_id       TEXT PRIMARY KEY REFERENCES order_items (id),
    order_id      TEXT NOT NULL REFERENCES orders (id),
    tenant_id     TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    created_at    TEXT NOT NULL
);
