-- Day two (issue 22). Forward-only; the twin of migrations/sqlite/0013_day_two.sql.
--
-- An item whose subscription ended, its resource deleted at the provider,
-- is `ended`: it holds no capacity and counts against no quota.

ALTER TABLE order_items DROP CONSTRAINT order_items_state_check;

ALTER TABLE order_items ADD CONSTRAINT order_items_state_check
    CHECK (state IN ('pending', 'provisioning', 'active', 'delivered', 'failed', 'rolled_back', 'ended'));

-- Up to max_rows orders of any tenant still awaiting payment that were
-- submitted at or before submitted_before (now less the payment window),
-- oldest first: the tick expires them. Ids only; the owner reads orders
-- through migration 7's owner_metrics policy.
CREATE FUNCTION orderflow_expired_payments(submitted_before timestamp, max_rows bigint)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC'
AS $$
    SELECT o.tenant_id, o.id FROM orders o
     WHERE o.state = 'pending_payment' AND o.submitted_at <= submitted_before
     ORDER BY o.submitted_at, o.id
     LIMIT max_rows
$$;

REVOKE ALL ON FUNCTION orderflow_expired_payments(timestamp, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_expired_payments(timestamp, bigint) TO orderflow_app;

-- A job chained after another (an order's deprovisionings, newest first)
-- waits until that one is done or parked: one parked deprovisioning no
-- longer holds back the other items' rollback and refunds. As in 0006 but
-- for that condition (the same as the SQLite claim in crates/store/src/saga.rs).
DROP FUNCTION orderflow_due_jobs(timestamp, text, bigint);

CREATE FUNCTION orderflow_due_jobs(due_at timestamp, only_order text, max_rows bigint)
RETURNS TABLE (tenant_id text, id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT j.tenant_id, j.id FROM saga_jobs j
     WHERE ((j.state = 'pending' AND j.next_attempt_at <= due_at) OR (j.state = 'running' AND j.lease_until <= due_at))
       AND (only_order IS NULL OR j.order_id = only_order)
       AND (j.after_job IS NULL OR EXISTS (SELECT 1 FROM saga_jobs a WHERE a.id = j.after_job AND a.state IN ('done', 'parked')))
       AND (j.kind <> 'deprovision' OR NOT EXISTS (
             SELECT 1 FROM saga_jobs p
              WHERE p.item_id = j.item_id AND p.kind = 'provision' AND p.state IN ('pending', 'running')))
     ORDER BY j.next_attempt_at, j.created_at, j.id
     LIMIT max_rows
$$;

REVOKE ALL ON FUNCTION orderflow_due_jobs(timestamp, text, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_due_jobs(timestamp, text, bigint) TO orderflow_app;
