-- The operational figures gain the renewals past their deadline: a
-- subscription still active or past due after its paid period ended (not
-- cancelled at period end, not suspended), i.e. a renewal that reached no
-- outcome. Forward-only; the columns and conditions match the SQLite
-- statement in crates/store/src/metrics.rs.
--
-- A function's result columns cannot change in place, so orderflow_metrics
-- is dropped and created again, with the same owner, search path, time
-- zone and grants as migration 7. Subscriptions are readable by the owner
-- through migration 5's owner_lookup policy.

DROP FUNCTION orderflow_metrics(timestamp);

CREATE FUNCTION orderflow_metrics(at timestamp)
RETURNS TABLE (jobs_due bigint, jobs_running bigint, jobs_waiting bigint, jobs_parked bigint,
               oldest_due timestamp, orders_needing_operator bigint, outbox_backlog bigint,
               outbox_oldest timestamp, orders_by_state text, renewals_past_deadline bigint)
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
           FROM (SELECT state, count(*) AS n FROM orders GROUP BY state) s),
        (SELECT count(*) FROM subscriptions
          WHERE status IN ('active', 'past_due') AND NOT cancel_at_period_end AND current_period_end <= at)
$$;

REVOKE ALL ON FUNCTION orderflow_metrics(timestamp) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_metrics(timestamp) TO orderflow_app;
