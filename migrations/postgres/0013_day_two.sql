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
