-- Refunds executed at the payment provider (issue 16): the PostgreSQL twin
-- of migrations/sqlite/0010_refunds.sql (same version, table and columns).
-- Forward-only. Columns use only types Spin binds: text, bigint, numeric,
-- timestamp (UTC).
--
-- Never more refunded than paid: a CHECK bounds each row by its cap (the
-- item's price, or the payment) and its payment; a trigger bounds the sum
-- of a payment's refunds (taking the payment's row lock first, so two
-- transactions cannot both pass the check); the primary key (the refund id,
-- derived from what is refunded) makes a replayed decision fail instead of
-- refunding twice.

CREATE TABLE refunds (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    order_id             TEXT NOT NULL REFERENCES orders (id),
    item_id              TEXT,
    scope                TEXT NOT NULL CHECK (scope IN ('order', 'item', 'revert', 'late_payment')),
    reason               TEXT NOT NULL,
    amount               NUMERIC(14, 2) NOT NULL,
    currency             TEXT NOT NULL CHECK (currency IN ('EUR')),
    amount_cents         BIGINT NOT NULL,
    cap_cents            BIGINT NOT NULL,
    paid_cents           BIGINT NOT NULL,
    payment_reference    TEXT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('requested', 'pending', 'refunded', 'failed')),
    provider             TEXT,
    provider_refund_id   TEXT,
    failure_reason       TEXT,
    version              BIGINT NOT NULL CHECK (version >= 1),
    requested_at         TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL,
    CHECK (amount_cents > 0 AND amount_cents <= cap_cents AND cap_cents <= paid_cents),
    CHECK (amount * 100 = amount_cents),
    CHECK ((scope = 'item') = (item_id IS NOT NULL))
);

CREATE INDEX refunds_by_order ON refunds (order_id, requested_at);

CREATE UNIQUE INDEX refunds_by_provider_id ON refunds (provider_refund_id) WHERE provider_refund_id IS NOT NULL;

CREATE FUNCTION orderflow_refunds_never_exceed_payment() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    already bigint;
BEGIN
    -- The order's row lock serializes the refunds of one payment.
    PERFORM 1 FROM orders WHERE id = NEW.order_id FOR UPDATE;
    IF EXISTS (SELECT 1 FROM refunds WHERE payment_reference = NEW.payment_reference AND paid_cents <> NEW.paid_cents) THEN
        RAISE EXCEPTION 'refunds_never_exceed_payment: % is refunded against another paid amount', NEW.payment_reference
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT coalesce(sum(amount_cents), 0) INTO already FROM refunds WHERE payment_reference = NEW.payment_reference;
    IF already + NEW.amount_cents > NEW.paid_cents THEN
        RAISE EXCEPTION 'refunds_never_exceed_payment: % would refund % of % cents', NEW.payment_reference,
            already + NEW.amount_cents, NEW.paid_cents
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER refunds_never_exceed_payment BEFORE INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION orderflow_refunds_never_exceed_payment();

CREATE FUNCTION orderflow_refund_amount_fixed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.amount <> OLD.amount OR NEW.amount_cents <> OLD.amount_cents OR NEW.cap_cents <> OLD.cap_cents
       OR NEW.paid_cents <> OLD.paid_cents OR NEW.payment_reference <> OLD.payment_reference THEN
        RAISE EXCEPTION 'a refund''s amount and payment never change' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER refunds_amount_fixed BEFORE UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION orderflow_refund_amount_fixed();

ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;

ALTER TABLE refunds FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON refunds
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE ON refunds TO orderflow_app;

-- The saga runs refunds, and the end of a subscription (deprovision its
-- resource, void its open renewal intent), as jobs of their own kinds.
ALTER TABLE saga_jobs DROP CONSTRAINT saga_jobs_kind_check;

ALTER TABLE saga_jobs ADD CONSTRAINT saga_jobs_kind_check CHECK (kind IN ('create_payment_intent',
    'cancel_payment_intent', 'validate', 'provision', 'deliver', 'deprovision', 'refund',
    'deprovision_subscription', 'void_renewal_intent'));

-- A suspended subscription never paid ends after the grace period: the
-- renewal run asks, across tenants, which ones are past it (ids only; the
-- work then runs inside each tenant, under row-level security).
CREATE FUNCTION orderflow_unpaid_subscriptions(ended_before timestamp, max_rows bigint)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT s.tenant_id, s.id FROM subscriptions s
     WHERE s.status = 'suspended' AND s.current_period_end <= ended_before
     ORDER BY s.current_period_end, s.id
     LIMIT max_rows
$$;

REVOKE ALL ON FUNCTION orderflow_unpaid_subscriptions(timestamp, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_unpaid_subscriptions(timestamp, bigint) TO orderflow_app;
