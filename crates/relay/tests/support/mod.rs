//! Test services for the relay: a tansu broker on a free port in its own
//! empty directory (SQLite storage), the relay binary, an independent
//! consumer (Python `confluent-kafka`), and outbox writers on both databases.

#![allow(dead_code)]

#[path = "../../../../tests/src/pg_cluster.rs"]
pub mod pg_cluster;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use orderflow_core::*;
use orderflow_store::{NativePg, NativeSqlite, Store};
use relay::AnyDb;
use serde_json::{json, Value};
use uuid::Uuid;

/// The order family's topic.
pub const ORDER_TOPIC: &str = "orderflow.order.v1";

/// Polls `f` until it returns `Some`, or panics after `deadline`.
pub fn eventually<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tansu broker; killed on drop.
pub struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// Starts a broker on a free port.
    pub fn start() -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = Broker {
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
        };
        b.resume();
        b
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn resume(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(std::env::var("TANSU").unwrap_or_else(|_| "tansu".into()))
            .args(["--listener-url", &listener, "--advertised-listener-url", &listener])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu on PATH (scripts/install-test-deps installs it)");
        self.child = Some(child);
        let addr = self.address();
        eventually("the broker to listen", Duration::from_secs(20), || {
            TcpStream::connect(&addr).ok()
        });
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running relay process; killed on drop.
pub struct RelayProcess(Child);

impl RelayProcess {
    /// Starts `relay --database <db> --brokers <broker>` with a short lease.
    pub fn start(database: &str, broker: &str, batch: u32) -> RelayProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_relay"))
            .args([
                "--database",
                database,
                "--brokers",
                broker,
                "--lease-secs",
                "2",
                "--metrics-ms",
                "500",
            ])
            .args(["--batch", &batch.to_string(), "--message-timeout-ms", "120000"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        RelayProcess(child)
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Topic.
    pub topic: String,
    /// Key (the order id).
    pub key: String,
    /// Headers by name.
    pub headers: serde_json::Map<String, Value>,
    /// The value, parsed.
    pub value: Value,
}

/// Reads at least `expect` messages (and whatever else arrives within the
/// timeout once `expect` is reached: none) with the independent consumer.
pub fn consume(broker: &str, expect: usize, timeout: Duration) -> Vec<Consumed> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/kafka/consume.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            "--brokers",
            broker,
            "--topics",
            "orderflow.order.v1,orderflow.billing.v1",
        ])
        .args([
            "--expect",
            &expect.to_string(),
            "--timeout",
            &timeout.as_secs().to_string(),
        ])
        .output()
        .expect("python3 with confluent-kafka (scripts/install-test-deps)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "consumer got {} of {expect}: {}",
        stdout.lines().count(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Consumed {
                topic: v["topic"].as_str().unwrap().to_owned(),
                key: v["key"].as_str().unwrap_or_default().to_owned(),
                headers: v["headers"].as_object().cloned().unwrap_or_default(),
                value: serde_json::from_str(v["value"].as_str().unwrap_or("null")).unwrap(),
            }
        })
        .collect()
}

/// Where the outbox lives.
pub enum Outbox {
    /// A SQLite file.
    Sqlite(tempfile::TempDir),
    /// A fresh PostgreSQL database.
    Postgres(pg_cluster::TestDatabase),
}

impl Outbox {
    /// A migrated SQLite file.
    pub fn sqlite() -> Outbox {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::Sqlite(dir);
        o.app().migrate(Utc::now()).unwrap();
        o
    }

    /// A migrated PostgreSQL database.
    pub fn postgres(hint: &str) -> Outbox {
        Outbox::Postgres(pg_cluster::fresh_database(hint, |owner| {
            Store::new(NativePg::connect(owner).unwrap())
                .migrate(Utc::now())
                .unwrap();
        }))
    }

    /// What the relay gets as `--database`.
    pub fn relay_database(&self) -> String {
        match self {
            Outbox::Sqlite(dir) => dir.path().join("db.sqlite").display().to_string(),
            Outbox::Postgres(db) => db.relay_url.clone(),
        }
    }

    /// The store as the application writes it.
    pub fn app(&self) -> Store<AnyDb> {
        match self {
            Outbox::Sqlite(dir) => Store::new(AnyDb::Sqlite(
                NativeSqlite::open(&dir.path().join("db.sqlite")).unwrap(),
            )),
            Outbox::Postgres(db) => Store::new(AnyDb::Postgres(Box::new(NativePg::connect(&db.app_url).unwrap()))),
        }
    }

    /// Unpublished rows (as the relay sees them).
    pub fn backlog(&self) -> i64 {
        let store = Store::new(relay::open(&self.relay_database()).unwrap());
        store.backlog().unwrap().rows
    }

    /// Writes `orders` lifecycles (create, submit, cancel, one transaction per
    /// change) and returns each order's event ids on the order topic, in order.
    pub fn write_lifecycles(&self, tenant: &str, orders: usize) -> Vec<(String, Vec<String>)> {
        let store = self.app();
        let catalog = Catalog::standard();
        let mut all = Vec::new();
        for _ in 0..orders {
            let spec = parse_item(
                &catalog,
                &json!({"product":"vps","billing_cycle":"monthly","config":{"region":"lj-1","plan":"business","os_image":"debian-12"}}),
                "",
            )
            .unwrap();
            let now = Utc::now();
            let order = Order::draft(
                &catalog,
                OrderId::from_uuid(Uuid::new_v4()),
                tenant.parse().unwrap(),
                vec![(ItemId::from_uuid(Uuid::new_v4()), spec)],
                now,
            )
            .unwrap();
            store
                .write(|s| s.insert_order(&order, &created_event(&order), Actor::Customer, "u"))
                .unwrap();
            let submit = decide(
                &order,
                orderflow_core::Command::Submit {
                    shown_total: order.total,
                },
                Actor::Customer,
                &catalog,
                now,
            )
            .unwrap();
            store.write(|s| s.apply(order.version, &submit, "u")).unwrap();
            let cancel = decide(
                &submit.order,
                orderflow_core::Command::Cancel {
                    reason: "changed my mind".into(),
                },
                Actor::Customer,
                &catalog,
                now,
            )
            .unwrap();
            store.write(|s| s.apply(submit.order.version, &cancel, "u")).unwrap();
            let rows = store.outbox_of(&order.tenant, order.id).unwrap();
            let ids = rows
                .iter()
                .filter(|r| r.topic == ORDER_TOPIC)
                .map(|r| r.event_id.clone())
                .collect();
            all.push((order.id.to_string(), ids));
        }
        all
    }
}
