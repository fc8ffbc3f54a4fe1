-- Operational figures across tenants, for GET /v1/internal/metrics, without
-- lifting row-level security for the application role. Forward-only.
--
-- The function returns one row of counts and two instants, never a row of
-- any table: the same columns and conditions as the SQLite statement in
-- crates/store/src/metrics.rs. It runs as its owner, the schema owner, which
-- FORCE ROW LEVEL SECURITY holds to the policies too: the owner gets
-- read-only policies of its own on the two tables the saga lookups (0004)
-- did not cover (owner_metrics, FOR SELECT). The application role may
-- EXECUTE the function and still cannot read another tenant's order or event.
--
-- Times: the parameter and the two instants returned are `timestamp`
-- (UTC wall time), which is what Spin binds and decodes without conversion;
-- the function pins its own time zone to UTC, so the comparisons and casts
-- mean the same whether a column is `timestamp` or `timestamptz`.

CREATE POLICY owner_metrics ON orders FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY owner_metrics ON outbox FOR SELECT TO CURRENT_USER USING (true);

CREATE FUNCTION orderflow_metrics(at timestamp)
RETURNS TABLE (jobs_due bigint, jobs_running bigint, jobs_waiting bigint, jobs_parked bigint,
               oldest_due timestamp, orders_needing_operator bigint, outbox_backlog bigint,
               outbox_oldest timestamp, orders_by_state text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC'
AS $$
    SELECT
        (SELECT count(*) FROM saga_jobs WHERE (state = 'pending' AND next_attempt_at <= at)
                                           OR (state = 'running' AND lease_until <= at)),
        (SELECT count(*) FROM saga_jobs WHERE state = 'running' AND lease_until > at),
        (SELECT count(*) FROM saga_jobs WHERE state = 'pending' AND next_attempt_at > at),
        (SELECT count(*) FROM saga_jobs WHERE state = 'parked'),
        (SELECT CAST(min(CASE WHEN state = 'pending' THEN next_attempt_at ELSE lease_until END) AS timestamp)
           FROM saga_jobs
          WHERE (state = 'pending' AND next_attempt_at <= at) OR (state = 'running' AND lease_until <= at)),
        (SELECT count(*) FROM orders WHERE needs_operator),
        (SELECT count(*) FROM outbox WHERE published_at IS NULL),
        (SELECT CAST(min(occurred_at) AS timestamp) FROM outbox WHERE published_at IS NULL),
        (SELECT CAST(coalesce(jsonb_object_agg(s.state, s.n), '{}'::jsonb) AS text)
           FROM (SELECT state, count(*) AS n FROM orders GROUP BY state) s)
$$;

REVOKE ALL ON FUNCTION orderflow_metrics(timestamp) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_metrics(timestamp) TO orderflow_app;
