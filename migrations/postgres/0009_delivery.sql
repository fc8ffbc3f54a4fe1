-- Delivery to the customer (issue 16): each order carries the address its
-- access details are e-mailed to, and a tenant may register a public key
-- (an age X25519 recipient, `age1…`) that delivery e-mails are encrypted
-- to. The tenant's default delivery address is `tenants.contact_email`
-- (migration 2), now written by the operator API. The PostgreSQL twin of
-- migrations/sqlite/0009_delivery.sql; `text` columns, which Spin binds as
-- `str`. Row-level security and the grants of 0001 already cover both
-- tables. Forward-only.

ALTER TABLE orders ADD COLUMN delivery_email text CHECK (delivery_email IS NULL OR length(delivery_email) BETWEEN 3 AND 254);

ALTER TABLE tenants ADD COLUMN delivery_key text CHECK (delivery_key IS NULL OR delivery_key LIKE 'age1%');
