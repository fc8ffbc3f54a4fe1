-- Delivery to the customer (issue 16): each order carries the address its
-- access details are e-mailed to, and a tenant may register a public key
-- (an age X25519 recipient, `age1…`) that delivery e-mails are encrypted
-- to. The tenant's default delivery address is `tenants.contact_email`
-- (migration 2), now written by the operator API. The SQLite twin of
-- migrations/postgres/0009_delivery.sql. Forward-only.

-- NULL only for orders created before this version: every new order gets
-- one (given, or the tenant's default), and the deliver step refuses to
-- guess one for the old ones that have neither.
ALTER TABLE orders ADD COLUMN delivery_email TEXT CHECK (delivery_email IS NULL OR length(delivery_email) BETWEEN 3 AND 254);

ALTER TABLE tenants ADD COLUMN delivery_key TEXT CHECK (delivery_key IS NULL OR delivery_key LIKE 'age1%');
