-- Least privilege (issue 23): a tenant's delivery settings (its default
-- delivery address and the key delivery e-mails are encrypted to) change
-- only with a record of who changed what and when. Kept like the orders'
-- audit log: no retention window deletes it. The PostgreSQL twin of
-- migrations/sqlite/0012_boundaries.sql; bigint and timestamp (UTC), the
-- types Spin binds. Forward-only.

CREATE TABLE tenant_audit_log (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    actor_role     TEXT NOT NULL CHECK (actor_role IN ('customer', 'operator', 'system')),
    actor_subject  TEXT NOT NULL,
    setting        TEXT NOT NULL CHECK (setting IN ('delivery')),
    change         TEXT NOT NULL,
    at             TIMESTAMP NOT NULL
);

CREATE INDEX tenant_audit_log_by_tenant ON tenant_audit_log (tenant_id, id);

ALTER TABLE tenant_audit_log ENABLE ROW LEVEL SECURITY;

ALTER TABLE tenant_audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON tenant_audit_log
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Appended, read, never changed by the application.
GRANT SELECT, INSERT ON tenant_audit_log TO orderflow_app;
