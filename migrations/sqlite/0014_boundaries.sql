-- Least privilege (issue 23): a tenant's delivery settings (its default
-- delivery address and the key delivery e-mails are encrypted to) change
-- only with a record of who changed what and when. Kept like the orders'
-- audit log: no retention window deletes it. The SQLite twin of
-- migrations/postgres/0012_boundaries.sql. Forward-only.

CREATE TABLE tenant_audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL,
    actor_role     TEXT NOT NULL CHECK (actor_role IN ('customer', 'operator', 'system')),
    actor_subject  TEXT NOT NULL,
    setting        TEXT NOT NULL CHECK (setting IN ('delivery')),
    change         TEXT NOT NULL,
    at             TEXT NOT NULL
);

CREATE INDEX tenant_audit_log_by_tenant ON tenant_audit_log (tenant_id, id);

-- Append-only, as PostgreSQL's grants make it for the application role.
CREATE TRIGGER tenant_audit_log_no_update BEFORE UPDATE ON tenant_audit_log BEGIN SELECT RAISE(ABORT, 'tenant_audit_log is append-only'); END;

CREATE TRIGGER tenant_audit_log_no_delete BEFORE DELETE ON tenant_audit_log BEGIN SELECT RAISE(ABORT, 'tenant_audit_log is append-only'); END;
