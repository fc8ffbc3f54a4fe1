-- Retention (issue 23): the tick purges, in bounded batches, what no one
-- needs any more: published outbox rows and finished saga jobs past their
-- windows, and the sealed credentials of items whose resource is gone; it
-- masks the delivery address of orders cancelled longer ago than their
-- window. These indexes keep each batch's search short. The SQLite twin of
-- migrations/postgres/0013_retention.sql. Forward-only.

CREATE INDEX outbox_published_by_age ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE INDEX saga_jobs_done_by_age ON saga_jobs (updated_at) WHERE state = 'done';

CREATE INDEX orders_cancelled_by_age ON orders (updated_at) WHERE state = 'cancelled';
