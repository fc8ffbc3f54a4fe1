-- Retention (issue 23): the tick purges, in bounded batches, what no one
-- needs any more: published outbox rows and finished saga jobs past their
-- windows, and the sealed credentials of items whose resource is gone; it
-- masks the delivery address of orders cancelled longer ago than their
-- window. The PostgreSQL twin of migrations/sqlite/0013_retention.sql.
-- Forward-only.
--
-- The rows are tenant data under row-level security and a purge crosses
-- tenants, so each is a SECURITY DEFINER function that touches at most
-- max_rows rows, oldest first, and returns how many; the owner gets the
-- policies it needs (FORCE holds it to them too), the application role may
-- only EXECUTE the functions (as for orderflow_purge_idempotency, 0008).

CREATE INDEX outbox_published_by_age ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE INDEX saga_jobs_done_by_age ON saga_jobs (updated_at) WHERE state = 'done';

CREATE INDEX orders_cancelled_by_age ON orders (updated_at) WHERE state = 'cancelled';

CREATE POLICY owner_purge ON outbox FOR DELETE TO CURRENT_USER USING (true);

CREATE POLICY owner_purge ON saga_jobs FOR DELETE TO CURRENT_USER USING (true);

CREATE POLICY owner_retention ON orders FOR UPDATE TO CURRENT_USER USING (true) WITH CHECK (true);

CREATE POLICY owner_lookup ON order_items FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY owner_lookup ON credentials FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY owner_purge ON credentials FOR DELETE TO CURRENT_USER USING (true);

CREATE FUNCTION orderflow_purge_outbox(before timestamp, max_rows bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM outbox
         WHERE seq IN (
               SELECT o.seq FROM outbox o
                WHERE o.published_at IS NOT NULL AND o.published_at < before
                ORDER BY o.published_at
                LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;

CREATE FUNCTION orderflow_purge_jobs(before timestamp, max_rows bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM saga_jobs
         WHERE id IN (
               SELECT j.id FROM saga_jobs j
                WHERE j.state = 'done' AND j.updated_at < before
                ORDER BY j.updated_at
                LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;

CREATE FUNCTION orderflow_purge_credentials(max_rows bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM credentials
         WHERE item_id IN (
               SELECT c.item_id FROM credentials c JOIN order_items i ON i.id = c.item_id
                WHERE i.state = 'rolled_back'
                   OR EXISTS (SELECT 1 FROM saga_jobs j
                               WHERE j.item_id = c.item_id AND j.kind = 'deprovision' AND j.state = 'done')
                ORDER BY c.created_at
                LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;

CREATE FUNCTION orderflow_mask_cancelled_addresses(before timestamp, max_rows bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH masked AS (
        UPDATE orders
           SET delivery_email = left(delivery_email, 1) || '***@' || split_part(delivery_email, '@', 2)
         WHERE id IN (
               SELECT o.id FROM orders o
                WHERE o.state = 'cancelled' AND o.updated_at < before
                  AND o.delivery_email IS NOT NULL AND o.delivery_email NOT LIKE '%***@%'
                ORDER BY o.updated_at
                LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) FROM masked
$$;

REVOKE ALL ON FUNCTION orderflow_purge_outbox(timestamp, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION orderflow_purge_jobs(timestamp, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION orderflow_purge_credentials(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION orderflow_mask_cancelled_addresses(timestamp, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_purge_outbox(timestamp, bigint) TO orderflow_app;
GRANT EXECUTE ON FUNCTION orderflow_purge_jobs(timestamp, bigint) TO orderflow_app;
GRANT EXECUTE ON FUNCTION orderflow_purge_credentials(bigint) TO orderflow_app;
GRANT EXECUTE ON FUNCTION orderflow_mask_cancelled_addresses(timestamp, bigint) TO orderflow_app;
