-- A payment above the order's total is accepted and what is above it goes
-- back (refund scope `overpayment`). Forward-only; the twin of
-- migrations/sqlite/0011_overpayment.sql.

ALTER TABLE refunds DROP CONSTRAINT refunds_scope_check;

ALTER TABLE refunds ADD CONSTRAINT refunds_scope_check
    CHECK (scope IN ('order', 'item', 'revert', 'late_payment', 'overpayment'));
