-- Hardening (issue 14): fenced saga jobs, idempotency keys per principal,
-- indexes for the tick's retention purge, and an append-only audit log.
-- The SQLite twin of migrations/postgres/0008_hardening.sql. Forward-only.

-- Every claim of a job takes the next epoch; each later write of the job
-- must name the epoch it claimed, so a worker whose lease ran out (and whose
-- job another worker claimed) can no longer finish, retry or park it.
ALTER TABLE saga_jobs ADD COLUMN claim_epoch INTEGER NOT NULL DEFAULT 0;

-- Idempotency keys belong to the caller that sent them (the credential's
-- subject) within its tenant: two callers of one tenant never see each
-- other's saved responses. SQLite cannot change a primary key in place, so
-- the table is rebuilt; existing records belong to no principal ('').
CREATE TABLE idempotency_keys_by_principal (
    tenant_id     TEXT NOT NULL,
    principal     TEXT NOT NULL DEFAULT '',
    idem_key      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    response      TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, principal, idem_key)
);

INSERT INTO idempotency_keys_by_principal (tenant_id, principal, idem_key, fingerprint, state, response, created_at)
    SELECT tenant_id, '', idem_key, fingerprint, state, response, created_at FROM idempotency_keys;

DROP TABLE idempotency_keys;

ALTER TABLE idempotency_keys_by_principal RENAME TO idempotency_keys;

-- The tick purges records past their window oldest first, in batches.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE INDEX webhook_events_by_age ON webhook_events (received_at);

-- The audit trail is written once and never changed or removed.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
