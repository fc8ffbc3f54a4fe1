-- Subscriptions and their renewals (SPEC §10): the PostgreSQL twin of
-- migrations/sqlite/0005_subscriptions.sql (same version, same tables and
-- columns). Forward-only. Money NUMERIC(14,2), times timestamptz, flags
-- boolean, closed sets CHECKs; row-level security per tenant like 0001/0002.
--
-- UNIQUE (subscription_id, period_number) is what makes "exactly one renewal
-- per subscription per period" hold under concurrent or crashed renewal
-- jobs. The renewal component must find every tenant's due subscriptions
-- and the webhook a renewal's payment intent: two SECURITY DEFINER
-- functions return only (tenant, id) pairs, as in 0004; the work then runs
-- inside that tenant.

CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL,
    order_id              TEXT NOT NULL REFERENCES orders (id),
    item_id               TEXT NOT NULL UNIQUE REFERENCES order_items (id),
    product               TEXT NOT NULL CHECK (product IN ('vps', 'kubernetes', 'managed_database', 'gpu',
                              'private_cloud', 'object_storage')),
    billing_cycle         TEXT NOT NULL CHECK (billing_cycle IN ('monthly', 'annual')),
    price                 NUMERIC(14, 2) NOT NULL,
    currency              TEXT NOT NULL CHECK (currency IN ('EUR')),
    status                TEXT NOT NULL CHECK (status IN ('active', 'past_due', 'suspended', 'cancelled')),
    anchor_at             TIMESTAMPTZ NOT NULL,
    period_number         INTEGER NOT NULL CHECK (period_number >= 1),
    current_period_start  TIMESTAMPTZ NOT NULL,
    current_period_end    TIMESTAMPTZ NOT NULL,
    renewal_lead_secs     BIGINT NOT NULL CHECK (renewal_lead_secs >= 0),
    cancel_at_period_end  BOOLEAN NOT NULL DEFAULT false,
    renewal_failures      INTEGER NOT NULL DEFAULT 0 CHECK (renewal_failures >= 0),
    next_renewal_at       TIMESTAMPTZ,
    awaiting_payment      BOOLEAN NOT NULL DEFAULT false,
    service_suspended     BOOLEAN NOT NULL DEFAULT false,
    next_action_at        TIMESTAMPTZ,
    lease_until           TIMESTAMPTZ,
    version               BIGINT NOT NULL CHECK (version >= 1),
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

CREATE INDEX subscriptions_by_tenant_newest ON subscriptions (tenant_id, created_at DESC, id DESC);

CREATE INDEX subscriptions_due ON subscriptions (next_action_at) WHERE next_action_at IS NOT NULL;

CREATE TABLE subscription_renewals (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    subscription_id   TEXT NOT NULL REFERENCES subscriptions (id),
    period_number     INTEGER NOT NULL CHECK (period_number >= 2),
    amount            NUMERIC(14, 2) NOT NULL,
    currency          TEXT NOT NULL CHECK (currency IN ('EUR')),
    state             TEXT NOT NULL CHECK (state IN ('pending', 'confirming', 'declined', 'paid')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    provider          TEXT,
    intent_id         TEXT UNIQUE,
    last_error        TEXT,
    paid_at           TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT subscription_renewals_one_per_period UNIQUE (subscription_id, period_number)
);

ALTER TABLE subscriptions ENABLE ROW LEVEL SECURITY;

ALTER TABLE subscriptions FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON subscriptions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE subscription_renewals ENABLE ROW LEVEL SECURITY;

ALTER TABLE subscription_renewals FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON subscription_renewals
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON subscriptions, subscription_renewals TO orderflow_app;

-- The owner's read-only lookups for the two functions below (see 0004).
CREATE POLICY owner_lookup ON subscriptions FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY owner_lookup ON subscription_renewals FOR SELECT TO CURRENT_USER USING (true);

-- Up to max_rows subscriptions needing the renewal component at due_at
-- (due, and not leased by another run), oldest due first.
CREATE FUNCTION orderflow_due_subscriptions(due_at timestamptz, max_rows integer)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT s.tenant_id, s.id FROM subscriptions s
     WHERE s.next_action_at IS NOT NULL AND s.next_action_at <= due_at
       AND (s.lease_until IS NULL OR s.lease_until <= due_at)
     ORDER BY s.next_action_at, s.id
     LIMIT max_rows
$$;

-- The tenant and subscription of a renewal's payment intent, if the platform created it.
CREATE FUNCTION orderflow_renewal_intent_owner(intent text)
RETURNS TABLE (tenant_id text, subscription_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT r.tenant_id, r.subscription_id FROM subscription_renewals r WHERE r.intent_id = intent
$$;

REVOKE ALL ON FUNCTION orderflow_due_subscriptions(timestamptz, integer), orderflow_renewal_intent_owner(text)
    FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_due_subscriptions(timestamptz, integer), orderflow_renewal_intent_owner(text)
    TO orderflow_app;
