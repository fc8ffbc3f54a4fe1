-- Subscriptions and their renewals (SPEC §10). Forward-only.
--
-- One subscription per activated item (UNIQUE item_id), started in the
-- transaction that marks the item active. One renewal per subscription and
-- period (UNIQUE (subscription_id, period_number)): the constraint, not a
-- check in code, is what makes "exactly one renewal per period" hold when
-- the renewal job runs twice at once or crashes midway. A renewal's payment
-- intent is linked to it (UNIQUE intent_id), so the payment webhook finds
-- the renewal it confirms.

CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL,
    order_id              TEXT NOT NULL REFERENCES orders (id),
    item_id               TEXT NOT NULL UNIQUE REFERENCES order_items (id),
    product               TEXT NOT NULL CHECK (product IN ('vps', 'kubernetes', 'managed_database', 'gpu',
                              'private_cloud', 'object_storage')),
    billing_cycle         TEXT NOT NULL CHECK (billing_cycle IN ('monthly', 'annual')),
    price                 TEXT NOT NULL,
    currency              TEXT NOT NULL CHECK (currency IN ('EUR')),
    status                TEXT NOT NULL CHECK (status IN ('active', 'past_due', 'suspended', 'cancelled')),
    anchor_at             TEXT NOT NULL,
    period_number         INTEGER NOT NULL CHECK (period_number >= 1),
    current_period_start  TEXT NOT NULL,
    current_period_end    TEXT NOT NULL,
    renewal_lead_secs     INTEGER NOT NULL CHECK (renewal_lead_secs >= 0),
    cancel_at_period_end  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    renewal_failures      INTEGER NOT NULL DEFAULT 0 CHECK (renewal_failures >= 0),
    next_renewal_at       TEXT,
    awaiting_payment      INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_payment IN (0, 1)),
    service_suspended     INTEGER NOT NULL DEFAULT 0 CHECK (service_suspended IN (0, 1)),
    next_action_at        TEXT,
    lease_until           TEXT,
    version               INTEGER NOT NULL CHECK (version >= 1),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);

CREATE INDEX subscriptions_by_tenant_newest ON subscriptions (tenant_id, created_at DESC, id DESC);

CREATE INDEX subscriptions_due ON subscriptions (next_action_at) WHERE next_action_at IS NOT NULL;

CREATE TABLE subscription_renewals (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    subscription_id   TEXT NOT NULL REFERENCES subscriptions (id),
    period_number     INTEGER NOT NULL CHECK (period_number >= 2),
    amount            TEXT NOT NULL,
    currency          TEXT NOT NULL CHECK (currency IN ('EUR')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'confirming', 'declined', 'paid')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    provider          TEXT,
    intent_id         TEXT UNIQUE,
    last_error        TEXT,
    paid_at           TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    CONSTRAINT subscription_renewals_one_per_period UNIQUE (subscription_id, period_number)
);
