-- Regional capacity: how much of each product a region can run, and the
-- units reserved by orders that passed validation. Reserving happens in the
-- transaction that starts provisioning, so two orders cannot both take the
-- last units; a rolled-back item gives its units back. Not tenant data.

CREATE TABLE region_capacity (
    region    TEXT NOT NULL CHECK (region IN ('lj-1', 'mb-1', 'hetzner-fsn1')),
    product   TEXT NOT NULL CHECK (product IN ('vps', 'kubernetes', 'managed_database', 'gpu', 'private_cloud',
                  'object_storage')),
    capacity  INTEGER NOT NULL CHECK (capacity >= 0),
    PRIMARY KEY (region, product)
);

CREATE TABLE capacity_reservations (
    item_id      TEXT PRIMARY KEY,
    region       TEXT NOT NULL,
    product      TEXT NOT NULL,
    units        INTEGER NOT NULL CHECK (units > 0),
    reserved_at  TEXT NOT NULL
);

CREATE INDEX capacity_reservations_by_pool ON capacity_reservations (region, product);

INSERT INTO region_capacity (region, product, capacity) VALUES
    ('lj-1', 'vps', 500), ('mb-1', 'vps', 300), ('hetzner-fsn1', 'vps', 1000),
    ('lj-1', 'kubernetes', 400), ('mb-1', 'kubernetes', 200), ('hetzner-fsn1', 'kubernetes', 800),
    ('lj-1', 'managed_database', 200), ('mb-1', 'managed_database', 100), ('hetzner-fsn1', 'managed_database', 300),
    ('lj-1', 'gpu', 16), ('hetzner-fsn1', 'gpu', 64),
    ('lj-1', 'private_cloud', 60), ('mb-1', 'private_cloud', 40),
    ('lj-1', 'object_storage', 2000), ('mb-1', 'object_storage', 1000), ('hetzner-fsn1', 'object_storage', 5000);
