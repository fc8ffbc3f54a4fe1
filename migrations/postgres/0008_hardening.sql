-- Hardening (issue 14): fenced saga jobs, idempotency keys per principal,
-- the tick's retention purge, and an append-only audit log. The PostgreSQL
-- twin of migrations/sqlite/0008_hardening.sql. Forward-only. New columns
-- are BIGINT and times TIMESTAMP (UTC, from the application's clock, bound
-- as parameters), as after migration 6 (spin_types).

-- Every claim of a job takes the next epoch; each later write of the job
-- must name the epoch it claimed, so a worker whose lease ran out (and whose
-- job another worker claimed) can no longer finish, retry or park it.
ALTER TABLE saga_jobs ADD COLUMN claim_epoch BIGINT NOT NULL DEFAULT 0;

-- Idempotency keys belong to the caller that sent them (the credential's
-- subject) within its tenant: two callers of one tenant never see each
-- other's saved responses. Existing records belong to no principal ('').
ALTER TABLE idempotency_keys ADD COLUMN principal TEXT NOT NULL DEFAULT '';

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;

ALTER TABLE idempotency_keys ADD PRIMARY KEY (tenant_id, principal, idem_key);

-- The tick purges records past their window oldest first, in batches.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE INDEX webhook_events_by_age ON webhook_events (received_at);

-- Idempotency records are tenant data under row-level security, and the
-- purge crosses tenants: a SECURITY DEFINER function deletes at most
-- max_rows records created before `before`, oldest first, and returns how
-- many it deleted. The owner gets policies of its own to see and delete
-- them (FORCE holds it to the policies too); the application role may only
-- EXECUTE the function.
CREATE POLICY owner_lookup ON idempotency_keys FOR SELECT TO CURRENT_USER USING (true);

CREATE POLICY owner_purge ON idempotency_keys FOR DELETE TO CURRENT_USER USING (true);

CREATE FUNCTION orderflow_purge_idempotency(before timestamp, max_rows bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM idempotency_keys
         WHERE (tenant_id, principal, idem_key) IN (
               SELECT k.tenant_id, k.principal, k.idem_key FROM idempotency_keys k
                WHERE k.created_at < before
                ORDER BY k.created_at
                LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) FROM gone
$$;

REVOKE ALL ON FUNCTION orderflow_purge_idempotency(timestamp, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION orderflow_purge_idempotency(timestamp, bigint) TO orderflow_app;

-- The audit trail is written once and never changed or removed: the
-- application role keeps SELECT and INSERT only.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM orderflow_app;
