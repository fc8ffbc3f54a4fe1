-- Refunds executed at the payment provider (issue 16): one row per refund
-- the domain decides, written in the transaction of that decision, then
-- moved by the saga's `refund` job (the provider's refund id) and by the
-- provider's signed refund webhook (refunded or failed). Forward-only; the
-- twin of migrations/postgres/0010_refunds.sql.
--
-- Never more refunded than paid: each row carries the payment it refunds
-- (`payment_reference`, `paid_cents`) and what it may refund at most
-- (`cap_cents`: the item's price, or the payment); a CHECK bounds the row,
-- a trigger bounds the sum of a payment's refunds, and the primary key (the
-- refund id derived from what is refunded) makes a replayed decision fail
-- instead of refunding twice. Amounts are also kept in cents (INTEGER), so
-- the database compares exact integers, never floats.

CREATE TABLE refunds (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    order_id             TEXT NOT NULL REFERENCES orders (id),
    item_id              TEXT,
    scope                TEXT NOT NULL CHECK (scope IN ('order', 'item', 'revert', 'late_payment')),
    reason               TEXT NOT NULL,
    amount               TEXT NOT NULL,
    currency             TEXT NOT NULL CHECK (currency IN ('EUR')),
    amount_cents         INTEGER NOT NULL,
    cap_cents            INTEGER NOT NULL,
    paid_cents           INTEGER NOT NULL,
    payment_reference    TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('requested', 'pending', 'refunded', 'failed')),
    provider             TEXT,
    provider_refund_id   TEXT,
    failure_reason       TEXT,
    version              INTEGER NOT NULL CHECK (version >= 1),
    requested_at         TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    CHECK (amount_cents > 0 AND amount_cents <= cap_cents AND cap_cents <= paid_cents),
    CHECK ((scope = 'item') = (item_id IS NOT NULL))
);

CREATE INDEX refunds_by_order ON refunds (order_id, requested_at);

CREATE UNIQUE INDEX refunds_by_provider_id ON refunds (provider_refund_id) WHERE provider_refund_id IS NOT NULL;

CREATE TRIGGER refunds_never_exceed_payment BEFORE INSERT ON refunds WHEN (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE payment_reference = NEW.payment_reference) + NEW.amount_cents > NEW.paid_cents OR EXISTS (SELECT 1 FROM refunds WHERE payment_reference = NEW.payment_reference AND paid_cents <> NEW.paid_cents) BEGIN SELECT RAISE(ABORT, 'refunds_never_exceed_payment'); END;

CREATE TRIGGER refunds_amount_fixed BEFORE UPDATE OF amount, amount_cents, cap_cents, paid_cents, payment_reference ON refunds BEGIN SELECT RAISE(ABORT, 'a refund''s amount and payment never change'); END;

-- The saga runs refunds, and the end of a subscription (deprovision its
-- resource, void its open renewal intent), as jobs of their own kinds. SQLite cannot change a
-- CHECK in place, so saga_jobs is rebuilt with the new list (as 0008
-- rebuilt idempotency_keys), keeping every row and index.
CREATE TABLE saga_jobs_v10 (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    order_id         TEXT NOT NULL REFERENCES orders (id),
    item_id          TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('create_payment_intent', 'cancel_payment_intent', 'validate',
                         'provision', 'deliver', 'deprovision', 'refund', 'deprovision_subscription',
                         'void_renewal_intent')),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'parked')),
    after_job        TEXT,
    payload          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    claim_epoch      INTEGER NOT NULL DEFAULT 0
);

INSERT INTO saga_jobs_v10 (id, tenant_id, order_id, item_id, kind, state, after_job, payload, attempts,
                           next_attempt_at, lease_until, last_error, created_at, updated_at, claim_epoch)
    SELECT id, tenant_id, order_id, item_id, kind, state, after_job, payload, attempts,
           next_attempt_at, lease_until, last_error, created_at, updated_at, claim_epoch FROM saga_jobs;

DROP TABLE saga_jobs;

ALTER TABLE saga_jobs_v10 RENAME TO saga_jobs;

CREATE INDEX saga_jobs_due ON saga_jobs (next_attempt_at) WHERE state IN ('pending', 'running');

CREATE INDEX saga_jobs_by_order ON saga_jobs (order_id, created_at);

-- A suspended subscription never paid ends after the grace period (the
-- renewal run looks for those past it; PostgreSQL through a function).
CREATE INDEX subscriptions_suspended ON subscriptions (current_period_end) WHERE status = 'suspended';
