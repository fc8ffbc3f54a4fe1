-- Column types that Spin's PostgreSQL interface can bind and read.
-- Forward-only.
--
-- Spin (crates/factor-outbound-pg, 3.x and 4.x) binds each parameter as one
-- fixed Rust type through tokio-postgres and converts nothing: an `int64`
-- parameter is an i64 and binds only to bigint, a `datetime` parameter is a
-- chrono NaiveDateTime and binds only to `timestamp` (without time zone), and
-- a `timestamptz` column cannot be read at all (it is decoded as
-- NaiveDateTime too). So every instant becomes `timestamp`, holding UTC (the
-- store always writes and reads UTC; no statement depends on the session's
-- TimeZone), and every integer becomes bigint. The lookup functions take the
-- same types. Applied by the schema owner; rewrites the tables once.

ALTER TABLE schema_migrations ALTER COLUMN version TYPE bigint;

ALTER TABLE tenants ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC';

ALTER TABLE orders
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN submitted_at TYPE timestamp USING submitted_at AT TIME ZONE 'UTC',
    ALTER COLUMN deleted_at TYPE timestamp USING deleted_at AT TIME ZONE 'UTC';

ALTER TABLE order_items ALTER COLUMN position TYPE bigint;

ALTER TABLE audit_log ALTER COLUMN at TYPE timestamp USING at AT TIME ZONE 'UTC';

ALTER TABLE outbox
    ALTER COLUMN occurred_at TYPE timestamp USING occurred_at AT TIME ZONE 'UTC',
    ALTER COLUMN published_at TYPE timestamp USING published_at AT TIME ZONE 'UTC',
    ALTER COLUMN claimed_until TYPE timestamp USING claimed_until AT TIME ZONE 'UTC',
    ALTER COLUMN attempts TYPE bigint;

ALTER TABLE idempotency_keys ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC';

ALTER TABLE credentials ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC';

ALTER TABLE saga_jobs
    ALTER COLUMN attempts TYPE bigint,
    ALTER COLUMN next_attempt_at TYPE timestamp USING next_attempt_at AT TIME ZONE 'UTC',
    ALTER COLUMN lease_until TYPE timestamp USING lease_until AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC';

ALTER TABLE payment_intents ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC';

ALTER TABLE item_resources ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC';

ALTER TABLE webhook_events ALTER COLUMN received_at TYPE timestamp USING received_at AT TIME ZONE 'UTC';

ALTER TABLE region_capacity ALTER COLUMN capacity TYPE bigint;

ALTER TABLE capacity_reservations
    ALTER COLUMN units TYPE bigint,
    ALTER COLUMN reserved_at TYPE timestamp USING reserved_at AT TIME ZONE 'UTC';

ALTER TABLE subscriptions
    ALTER COLUMN anchor_at TYPE timestamp USING anchor_at AT TIME ZONE 'UTC',
    ALTER COLUMN period_number TYPE bigint,
    ALTER COLUMN current_period_start TYPE timestamp USING current_period_start AT TIME ZONE 'UTC',
    ALTER COLUMN current_period_end TYPE timestamp USING current_period_end AT TIME ZONE 'UTC',
    ALTER COLUMN renewal_failures TYPE bigint,
    ALTER COLUMN next_renewal_at TYPE timestamp USING next_renewal_at AT TIME ZONE 'UTC',
    ALTER COLUMN next_action_at TYPE timestamp USING next_action_at AT TIME ZONE 'UTC',
    ALTER COLUMN lease_until TYPE timestamp USING lease_until AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC';

ALTER TABLE subscription_renewals
    ALTER COLUMN period_number TYPE bigint,
    ALTER COLUMN attempts TYPE bigint,
    ALTER COLUMN paid_at TYPE timestamp USING paid_at AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC';

DROP FUNCTION orderflow_due_jobs(timestamptz, text, integer);

-- As in 0004, with Spin's parameter types.
CREATE FUNCTION orderflow_due_jobs(due_at timestamp, only_order text, max_rows bigint)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT j.tenant_id, j.id FROM saga_jobs j
     WHERE ((j.state = 'pending' AND j.next_attempt_at <= due_at) OR (j.state = 'running' AND j.lease_until <= due_at))
       AND (only_order IS NULL OR j.order_id = only_order)
       AND (j.after_job IS NULL OR EXISTS (SELECT 1 FROM saga_jobs a WHERE a.id = j.after_job AND a.state = 'done'))
       AND (j.kind <> 'deprovision' OR NOT EXISTS (
             SELECT 1 FROM saga_jobs p
              WHERE p.item_id = j.item_id AND p.kind = 'provision' AND p.state IN ('pending', 'running')))
     ORDER BY j.next_attempt_at, j.created_at, j.id
     LIMIT max_rows
$$;

DROP FUNCTION orderflow_due_subscriptions(timestamptz, integer);

-- As in 0005, with Spin's parameter types.
CREATE FUNCTION orderflow_due_subscriptions(due_at timestamp, max_rows bigint)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT s.tenant_id, s.id FROM subscriptions s
     WHERE s.next_action_at IS NOT NULL AND s.next_action_at <= due_at
       AND (s.lease_until IS NULL OR s.lease_until <= due_at)
     ORDER BY s.next_action_at, s.id
     LIMIT max_rows
$$;

REVOKE ALL ON FUNCTION orderflow_due_jobs(timestamp, text, bigint), orderflow_due_subscriptions(timestamp, bigint)
    FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_due_jobs(timestamp, text, bigint), orderflow_due_subscriptions(timestamp, bigint)
    TO orderflow_app;
