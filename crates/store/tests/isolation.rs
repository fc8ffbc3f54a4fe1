//! Row-level security on PostgreSQL, proven by connecting as the
//! application's login role and trying to reach another tenant's rows with
//! plain SQL: with tenant A set, no select, update, delete or insert touches
//! tenant B's rows; with no tenant set, nothing is visible. The relay's role
//! sees every tenant's outbox and nothing else.

mod support;

use support::pg_cluster;

use chrono::{DateTime, TimeZone, Utc};
use orderflow_core::*;
use orderflow_store::{Db, DbError, NativePg, Param, Store};
use serde_json::json;
use uuid::Uuid;

/// Every table with a tenant column, all under row-level security.
const TENANT_TABLES: &[&str] = &[
    "orders",
    "order_items",
    "audit_log",
    "outbox",
    "idempotency_keys",
    "credentials",
    "saga_jobs",
    "payment_intents",
    "item_resources",
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

/// A migrated database holding one order (with its audit record, outbox event
/// and an idempotency key) for each of the tenants `acme` and `globex`.
fn two_tenants(hint: &str) -> pg_cluster::TestDatabase {
    let db = pg_cluster::fresh_database(hint, |owner| {
        Store::new(NativePg::connect(owner).unwrap()).migrate(now()).unwrap();
    });
    let store = Store::new(NativePg::connect(&db.app_url).unwrap());
    for (n, t) in [(1u128, "acme"), (2, "globex")] {
        let spec = parse_item(
            &Catalog::standard(),
            &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"business","os_image":"debian-12"}}),
            "",
        )
        .unwrap();
        let order = Order::draft(
            &Catalog::standard(),
            OrderId::from_uuid(Uuid::from_u128(n)),
            t.parse().unwrap(),
            vec![(ItemId::from_uuid(Uuid::from_u128(n * 100)), spec)],
            now(),
        )
        .unwrap();
        store
            .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "u"))
            .unwrap();
        store
            .claim_key(
                &t.parse().unwrap(),
                "u",
                "k",
                "fp",
                now(),
                chrono::Duration::hours(24),
                chrono::Duration::seconds(30),
            )
            .unwrap();
    }
    db
}

/// A raw connection as `url`, inside a transaction with `tenant` set (or none).
fn session(url: &str, tenant: Option<&str>) -> NativePg {
    let db = NativePg::connect(url).unwrap();
    db.run("BEGIN", &[]).unwrap();
    if let Some(t) = tenant {
        db.run("SELECT set_config('app.tenant_id', $1, true)", &[t.into()])
            .unwrap();
    }
    db
}

fn count(db: &NativePg, sql: &str, params: &[Param<'_>]) -> i64 {
    db.run(sql, params).unwrap().first().unwrap().int("n").unwrap()
}

#[test]
fn with_tenant_a_set_no_select_sees_tenant_bs_rows() {
    let db = two_tenants("select");
    let s = session(&db.app_url, Some("acme"));
    for table in TENANT_TABLES {
        assert_eq!(
            count(
                &s,
                &format!("SELECT count(*) AS n FROM {table} WHERE tenant_id = 'globex'"),
                &[]
            ),
            0,
            "{table}"
        );
        assert_eq!(
            count(
                &s,
                &format!("SELECT count(*) AS n FROM {table} WHERE tenant_id <> 'acme'"),
                &[]
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(count(&s, "SELECT count(*) AS n FROM orders", &[]), 1);
    assert_eq!(
        count(&s, "SELECT count(*) AS n FROM tenants WHERE id = 'globex'", &[]),
        0
    );
}

#[test]
fn with_tenant_a_set_no_update_or_delete_touches_tenant_bs_rows() {
    let db = two_tenants("update_delete");
    let s = session(&db.app_url, Some("acme"));
    let updated = s
        .run(
            "UPDATE orders SET version = version + 1 WHERE tenant_id = 'globex' RETURNING id",
            &[],
        )
        .unwrap();
    assert!(updated.is_empty());
    let updated_all = s
        .run("UPDATE orders SET version = version + 1 RETURNING tenant_id", &[])
        .unwrap();
    assert_eq!(
        updated_all
            .iter()
            .map(|r| r.text("tenant_id").unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["acme"]
    );
    // (The audit log is not here: the application may not delete from it at
    // all, any tenant's; the contract suite proves that.)
    for table in ["outbox", "idempotency_keys"] {
        assert!(s
            .run(
                &format!("DELETE FROM {table} WHERE tenant_id = 'globex' RETURNING tenant_id"),
                &[]
            )
            .unwrap()
            .is_empty());
    }
    s.run("ROLLBACK", &[]).unwrap();
    let su = NativePg::connect(&db.superuser_url).unwrap();
    assert_eq!(
        count(
            &su,
            "SELECT count(*) AS n FROM orders WHERE tenant_id = 'globex' AND version = 1",
            &[]
        ),
        1
    );
    assert_eq!(
        count(&su, "SELECT count(*) AS n FROM outbox WHERE tenant_id = 'globex'", &[]),
        1
    );
}

#[test]
fn with_tenant_a_set_inserting_or_moving_a_row_to_tenant_b_is_refused() {
    let db = two_tenants("insert");
    let refused = |sql: &str| {
        let s = session(&db.app_url, Some("acme"));
        match s.run(sql, &[]) {
            Err(DbError::Other(msg)) => assert!(msg.contains("row-level security"), "{sql}: {msg}"),
            other => panic!("{sql}: expected a row-level security error, got {other:?}"),
        }
    };
    refused(
        "INSERT INTO outbox (event_id, event_type, topic, message_key, tenant_id, order_version, occurred_at, data)
         VALUES ('e-x', 'order.created', 'orderflow.order.v1', 'k', 'globex', 1, now(), '{}')",
    );
    refused(
        "INSERT INTO idempotency_keys (tenant_id, idem_key, fingerprint, state, created_at)
         VALUES ('globex', 'k2', 'fp', 'in_flight', now())",
    );
    refused("INSERT INTO tenants (id, name, created_at) VALUES ('globex2', 'x', now())");
    refused("UPDATE orders SET tenant_id = 'globex' WHERE tenant_id = 'acme'");
}

#[test]
fn with_no_tenant_set_nothing_is_visible() {
    let db = two_tenants("no_tenant");
    let s = session(&db.app_url, None);
    for table in TENANT_TABLES.iter().chain(&["tenants"]) {
        assert_eq!(
            count(&s, &format!("SELECT count(*) AS n FROM {table}"), &[]),
            0,
            "{table}"
        );
    }
    // An empty tenant (what a reset setting reads as) sees nothing either.
    s.run("SELECT set_config('app.tenant_id', '', true)", &[]).unwrap();
    assert_eq!(count(&s, "SELECT count(*) AS n FROM orders", &[]), 0);
}

#[test]
fn the_application_role_neither_owns_the_tables_nor_bypasses_security() {
    let db = two_tenants("roles");
    let su = NativePg::connect(&db.superuser_url).unwrap();
    for role in ["orderflow_app", "orderflow_api", "orderflow_relay", "orderflow_relayer"] {
        let rows = su
            .run(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1",
                &[role.into()],
            )
            .unwrap();
        let r = rows.first().unwrap_or_else(|| panic!("no role {role}"));
        assert_eq!(
            (r.int("rolsuper").unwrap(), r.int("rolbypassrls").unwrap()),
            (0, 0),
            "{role}"
        );
    }
    let owned = count(
        &su,
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tableowner IN ('orderflow_app', 'orderflow_api')",
        &[],
    );
    assert_eq!(owned, 0);
    let unforced = su
        .run(
            "SELECT c.relname AS name FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attname = 'tenant_id'
                AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
            &[],
        )
        .unwrap();
    assert!(
        unforced.is_empty(),
        "tables with a tenant column but no forced RLS: {unforced:?}"
    );
}

#[test]
fn the_relay_role_sees_every_tenants_outbox_and_nothing_else() {
    let db = two_tenants("relay_role");
    let s = session(&db.relay_url, None);
    assert_eq!(count(&s, "SELECT count(*) AS n FROM outbox", &[]), 2);
    s.run("ROLLBACK", &[]).unwrap();
    let s = session(&db.relay_url, None);
    match s.run("SELECT count(*) AS n FROM orders", &[]) {
        Err(DbError::Other(msg)) => assert!(msg.contains("permission denied"), "{msg}"),
        other => panic!("the relay read orders: {other:?}"),
    }
}

#[test]
fn every_column_and_lookup_argument_has_a_type_spins_postgres_interface_binds_and_reads() {
    // Spin binds `int64` as i64 and `datetime` as NaiveDateTime, and reads
    // every date-time column as NaiveDateTime: an `integer`, `timestamptz` or
    // `json` column (or function argument) would fail on Spin.
    let db = two_tenants("spin-types");
    let su = NativePg::connect(&db.superuser_url).unwrap();
    let columns = su
        .run(
            "SELECT table_name || '.' || column_name || ' ' || data_type AS col FROM information_schema.columns
              WHERE table_schema = 'public' AND data_type IN ('integer', 'smallint', 'timestamp with time zone', 'json')
              ORDER BY 1",
            &[],
        )
        .unwrap();
    let columns: Vec<&str> = columns.iter().map(|r| r.text("col").unwrap()).collect();
    assert!(columns.is_empty(), "columns Spin cannot bind or read: {columns:?}");
    let arguments = su
        .run(
            "SELECT p.proname::text AS fn FROM pg_proc p
              WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'orderflow_%'
                AND EXISTS (SELECT 1 FROM unnest(p.proargtypes) AS t (oid)
                             WHERE t.oid IN ('integer'::regtype, 'timestamptz'::regtype))",
            &[],
        )
        .unwrap();
    let arguments: Vec<&str> = arguments.iter().map(|r| r.text("fn").unwrap()).collect();
    assert!(
        arguments.is_empty(),
        "lookups with arguments Spin cannot bind: {arguments:?}"
    );
}
