-- A payment above the order's total is accepted and what is above it goes
-- back (refund scope `overpayment`). Forward-only; the twin of
-- migrations/postgres/0011_overpayment.sql. SQLite cannot change a CHECK in
-- place, so `refunds` is rebuilt with the new list (as 0010 rebuilt
-- saga_jobs), keeping every row, index and trigger.

CREATE TABLE refunds_v11 (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    order_id             TEXT NOT NULL REFERENCES orders (id),
    item_id              TEXT,
    scope                TEXT NOT NULL CHECK (scope IN ('order', 'item', 'revert', 'late_payment', 'overpayment')),
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

INSERT INTO refunds_v11 (id, tenant_id, order_id, item_id, scope, reason, amount, currency, amount_cents, cap_cents,
                         paid_cents, payment_reference, state, provider, provider_refund_id, failure_reason, version,
                         requested_at, updated_at)
    SELECT id, tenant_id, order_id, item_id, scope, reason, amount, currency, amount_cents, cap_cents,
           paid_cents, payment_reference, state, provider, provider_refund_id, failure_reason, version,
           requested_at, updated_at FROM refunds;

DROP TABLE refunds;

ALTER TABLE refunds_v11 RENAME TO refunds;

CREATE INDEX refunds_by_order ON refunds (order_id, requested_at);

CREATE UNIQUE INDEX refunds_by_provider_id ON refunds (provider_refund_id) WHERE provider_refund_id IS NOT NULL;

CREATE TRIGGER refunds_never_exceed_payment BEFORE INSERT ON refunds WHEN (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE payment_reference = NEW.payment_reference) + NEW.amount_cents > NEW.paid_cents OR EXISTS (SELECT 1 FROM refunds WHERE payment_reference = NEW.payment_reference AND paid_cents <> NEW.paid_cents) BEGIN SELECT RAISE(ABORT, 'refunds_never_exceed_payment'); END;

CREATE TRIGGER refunds_amount_fixed BEFORE UPDATE OF amount, amount_cents, cap_cents, paid_cents, payment_reference ON refunds BEGIN SELECT RAISE(ABORT, 'a refund''s amount and payment never change'); END;
