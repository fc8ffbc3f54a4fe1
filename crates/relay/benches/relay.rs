//! The outbox relay benchmark (issue 6, "Performance (benchmark)"): on SQLite
//! and on PostgreSQL, in one run against one real broker (tansu on
//! 127.0.0.1), it measures
//!
//! - (a) the database's raw rate of claiming and marking outbox rows
//!   (`Store::relay_round` with a publish step that acknowledges everything
//!   without publishing), as the relay's database role;
//! - (b) the broker's raw produce rate with the relay's own client and
//!   settings (`relay::Publisher`, same batches, the rows read in (a)), no
//!   database;
//! - (c) the relay binary's end-to-end rate: a running, idle relay gets
//!   `EVENTS` rows committed in one transaction; from that commit to the
//!   last row's `published_at` (set after the broker acknowledged it);
//! - (d) end-to-end lag p50/p99 (`published_at − occurred_at`, where
//!   `occurred_at` is the insert time) while a writer inserts events at half
//!   the lower of (a) and (b) for a bounded time.
//!
//! It prints a table (stdout) and asserts nothing; progress goes to stderr.
//! `cargo bench -p relay --bench relay`; `RELAY_BENCH_EVENTS` (default
//! 20 000) sets the events per phase. Every phase is also bounded in time.

// The figures are rates, ratios and milliseconds, not money: floats are fine.
#![allow(clippy::float_arithmetic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use orderflow_store::{Db, NativePg, NativeSqlite, Relay, RelayRow, Store};
use relay::{AnyDb, Metrics, Publisher, PublisherConfig};
use support::{Broker, Outbox, RelayProcess};

/// Rows per round, as the relay's default `--batch`.
const BATCH: u32 = 500;
/// Distinct order keys the generated events spread over.
const KEYS: usize = 1_000;
/// No throughput phase runs longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(10);
/// The lag phase's writer runs at most this long.
const LAG_WRITE: Duration = Duration::from_secs(6);
/// Waiting for the relay to drain after a phase.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// The lag target (issue 6).
const LAG_P99_TARGET_MS: f64 = 200.0;
/// The throughput target: relay ≥ this share of min((a), (b)).
const RATIO_TARGET: f64 = 0.80;

fn main() {
    let events: usize = std::env::var("RELAY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let started = Instant::now();
    progress(&format!("starting tansu on 127.0.0.1 ({events} events per phase)"));
    let broker = Broker::start();
    let mut results = Vec::new();
    progress("SQLite outbox");
    results.push(bench("sqlite", &Outbox::sqlite(), &broker.address(), events));
    progress("PostgreSQL outbox (throwaway cluster)");
    results.push(bench(
        "postgres",
        &Outbox::postgres("relay_bench"),
        &broker.address(),
        events,
    ));
    progress(&format!("done in {:.1} s", started.elapsed().as_secs_f64()));
    print_table(&results, events);
}

/// One backend's figures.
struct Figures {
    backend: &'static str,
    /// (a) claim + mark, rows/s.
    db_rate: f64,
    /// (b) produce with the relay's client, events/s.
    broker_rate: f64,
    /// (c) relay end to end, events/s.
    relay_rate: f64,
    /// Events (c) published within its bound.
    relay_events: usize,
    /// (d) writer rate, events/s.
    writer_rate: f64,
    /// (d) events written.
    lag_events: usize,
    /// (d) events not published within the drain bound.
    lag_unpublished: usize,
    /// (d) lag percentiles, ms.
    lag_p50: f64,
    lag_p99: f64,
    lag_max: f64,
}

fn bench(backend: &'static str, outbox: &Outbox, broker: &str, events: usize) -> Figures {
    let writer = writer_db(outbox);

    // (a) The database alone.
    fill(&writer, events);
    let (db_rate, rows) = db_rate(outbox);
    progress(&format!(
        "{backend} (a) claim+mark: {db_rate:.0} rows/s ({} rows)",
        rows.len()
    ));
    mark_all_published(&writer);

    // (b) The broker alone, same client, settings and batches.
    let broker_rate = broker_rate(broker, &rows);
    progress(&format!("{backend} (b) produce: {broker_rate:.0} events/s"));

    // (c) The relay binary, started idle, then a committed batch of `events`.
    let relay = RelayProcess::start(&outbox.relay_database(), broker, BATCH);
    insert_rows(&writer, 1, Utc::now());
    wait_drained(&writer, Duration::from_secs(60), "the relay to start");
    let before_fill = max_seq(&writer);
    fill(&writer, events);
    let t0 = Utc::now();
    wait_drained(&writer, PHASE_LIMIT, "the relay to drain the pre-filled outbox");
    let times = publish_times(&writer, before_fill);
    let relay_events = times.iter().filter(|(_, p)| p.is_some()).count();
    let last = times.iter().filter_map(|(_, p)| *p).max().unwrap_or(t0);
    let relay_rate = relay_events as f64 / secs(last - t0);
    progress(&format!(
        "{backend} (c) relay: {relay_rate:.0} events/s ({relay_events} of {events})"
    ));
    mark_all_published(&writer);

    // (d) Lag at half the lower limit.
    let writer_rate = db_rate.min(broker_rate) / 2.0;
    let write_for = LAG_WRITE.min(Duration::from_secs_f64(events as f64 / writer_rate.max(1.0)));
    progress(&format!(
        "{backend} (d) writing at {writer_rate:.0} events/s for {:.1} s",
        write_for.as_secs_f64()
    ));
    let before_lag = max_seq(&writer);
    let start = Instant::now();
    let mut written = 0usize;
    while start.elapsed() < write_for {
        let due = (start.elapsed().as_secs_f64() * writer_rate) as usize;
        if due > written {
            insert_rows(&writer, due - written, Utc::now());
            written = due;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let drained = wait_drained(&writer, DRAIN_LIMIT, "the relay to catch up");
    if !drained {
        progress(&format!(
            "{backend} (d) the relay did not catch up within {} s",
            DRAIN_LIMIT.as_secs()
        ));
    }
    drop(relay);
    let times = publish_times(&writer, before_lag);
    let mut lags: Vec<f64> = times
        .iter()
        .filter_map(|(o, p)| p.map(|p| secs(p - *o) * 1000.0))
        .collect();
    lags.sort_by(f64::total_cmp);
    let lag_unpublished = times.len() - lags.len();
    let figures = Figures {
        backend,
        db_rate,
        broker_rate,
        relay_rate,
        relay_events,
        writer_rate,
        lag_events: times.len(),
        lag_unpublished,
        lag_p50: percentile(&lags, 50),
        lag_p99: percentile(&lags, 99),
        lag_max: lags.last().copied().unwrap_or(f64::NAN),
    };
    progress(&format!(
        "{backend} (d) lag p50 {:.1} ms, p99 {:.1} ms over {} events ({} unpublished)",
        figures.lag_p50, figures.lag_p99, figures.lag_events, lag_unpublished
    ));
    figures
}

/// (a): claim+mark rounds as the relay's role, acknowledging every row
/// without publishing; returns rows/s and the rows read (for (b)).
fn db_rate(outbox: &Outbox) -> (f64, Vec<RelayRow>) {
    let store = Store::new(relay::open(&outbox.relay_database()).expect("open the outbox as the relay"));
    let relay = Relay {
        id: "bench-db-only".into(),
        batch: BATCH,
        lease: chrono::Duration::seconds(30),
    };
    let mut read = Vec::new();
    let start = Instant::now();
    let mut marked = 0usize;
    loop {
        let rows = store
            .relay_round(&relay, Utc::now, |rows| {
                read.extend_from_slice(rows);
                rows.iter().map(|r| r.seq).collect()
            })
            .expect("relay round");
        marked += rows.len();
        if rows.is_empty() || start.elapsed() > PHASE_LIMIT {
            break;
        }
    }
    (marked as f64 / start.elapsed().as_secs_f64(), read)
}

/// (b): the relay's `Publisher` on `rows`, in the relay's batches (each
/// waits for all its acknowledgements, as a relay round does).
fn broker_rate(broker: &str, rows: &[RelayRow]) -> f64 {
    let publisher = Publisher::new(PublisherConfig::new(broker)).expect("producer");
    let topics = vec![support::ORDER_TOPIC.to_owned(), "orderflow.billing.v1".to_owned()];
    publisher.ensure_topics(&topics, 1).expect("topics");
    let metrics = Metrics::default();
    let batch = BATCH as usize;
    // Warm-up: connection, metadata, producer id.
    let _ = publisher.publish(&rows[..rows.len().min(batch)], &metrics);
    let start = Instant::now();
    let mut acked = 0usize;
    for chunk in rows.chunks(batch) {
        acked += publisher.publish(chunk, &metrics).len();
        if start.elapsed() > PHASE_LIMIT {
            break;
        }
    }
    let rate = acked as f64 / start.elapsed().as_secs_f64();
    if metrics.errors_total() > 0 {
        progress(&format!("(b) {} delivery errors", metrics.errors_total()));
    }
    rate
}

/// A connection that may write any tenant's outbox rows directly (SQLite:
/// the file; PostgreSQL: the superuser, bypassing row-level security).
fn writer_db(outbox: &Outbox) -> AnyDb {
    match outbox {
        Outbox::Sqlite(dir) => AnyDb::Sqlite(NativeSqlite::open(&dir.path().join("db.sqlite")).expect("sqlite")),
        Outbox::Postgres(db) => AnyDb::Postgres(Box::new(NativePg::connect(&db.superuser_url).expect("postgres"))),
    }
}

fn exec(db: &AnyDb, sql: &str) -> orderflow_store::Rows {
    db.run(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Inserts `n` outbox rows as the application writes them, in one
/// transaction (SQLite: `BEGIN IMMEDIATE`), all `occurred_at = at`.
fn insert_rows(db: &AnyDb, n: usize, at: DateTime<Utc>) {
    if n == 0 {
        return;
    }
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    exec(db, db.dialect().begin_write());
    let mut left = n;
    while left > 0 {
        let take = left.min(500);
        left -= take;
        let values: Vec<String> = (0..take)
            .map(|_| {
                let id = uuid::Uuid::new_v4();
                let key = key_of(id.as_u128());
                let data = format!(
                    r#"{{"order_id":"{key}","tenant":"acme","total":"119.00","currency":"EUR","items":[{{"product":"vps","billing_cycle":"monthly","config":{{"region":"lj-1","plan":"business","os_image":"debian-12"}}}}]}}"#
                );
                format!("('{id}','order.created','{}','{key}','acme',1,'{at}','{data}')", support::ORDER_TOPIC)
            })
            .collect();
        exec(
            db,
            &format!(
                "INSERT INTO outbox (event_id, event_type, topic, message_key, tenant_id, order_version, occurred_at, data) VALUES {}",
                values.join(",")
            ),
        );
    }
    exec(db, "COMMIT");
}

/// One of `KEYS` order ids, picked by `n`.
fn key_of(n: u128) -> String {
    let k = n % KEYS as u128;
    format!("00000000-0000-4000-8000-{k:012x}")
}

/// Pre-fills the outbox with `n` rows in one transaction.
fn fill(db: &AnyDb, n: usize) {
    let start = Instant::now();
    insert_rows(db, n, Utc::now());
    progress(&format!("  filled {n} rows in {:.1} s", start.elapsed().as_secs_f64()));
}

fn mark_all_published(db: &AnyDb) {
    exec(
        db,
        "UPDATE outbox SET published_at = occurred_at WHERE published_at IS NULL",
    );
}

fn max_seq(db: &AnyDb) -> i64 {
    let rows = exec(db, "SELECT coalesce(max(seq), 0) AS m FROM outbox");
    rows.first().and_then(|r| r.int("m").ok()).unwrap_or(0)
}

fn backlog(db: &AnyDb) -> i64 {
    let rows = exec(db, "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL");
    rows.first().and_then(|r| r.int("n").ok()).unwrap_or(i64::MAX)
}

/// Polls until nothing is unpublished; false when `limit` passed first.
fn wait_drained(db: &AnyDb, limit: Duration, what: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if backlog(db) == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    progress(&format!(
        "  gave up waiting for {what} after {:.0} s",
        limit.as_secs_f64()
    ));
    false
}

/// `(occurred_at, published_at)` of every row after `seq`.
fn publish_times(db: &AnyDb, seq: i64) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let rows = exec(
        db,
        &format!("SELECT occurred_at, published_at FROM outbox WHERE seq > {seq} ORDER BY seq"),
    );
    let time = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .expect("an RFC 3339 time")
    };
    rows.iter()
        .map(|r| {
            (
                time(r.text("occurred_at").expect("occurred_at")),
                r.opt_text("published_at").expect("published_at").map(time),
            )
        })
        .collect()
}

fn secs(d: chrono::Duration) -> f64 {
    d.to_std().map_or(f64::NAN, |d| d.as_secs_f64())
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn progress(line: &str) {
    eprintln!("relay bench: {line}");
}

fn print_table(results: &[Figures], events: usize) {
    println!();
    println!("outbox relay benchmark: {events} events per phase, batch {BATCH}, tansu + rdkafka on 127.0.0.1");
    println!(
        "{:<9} {:>14} {:>13} {:>12} {:>11} {:>10} {:>11} {:>11} {:>11}",
        "backend",
        "(a) db rows/s",
        "(b) produce/s",
        "(c) relay/s",
        "c/min(a,b)",
        "writer/s",
        "lag p50 ms",
        "lag p99 ms",
        "lag max ms"
    );
    for f in results {
        let ratio = f.relay_rate / f.db_rate.min(f.broker_rate);
        println!(
            "{:<9} {:>14.0} {:>13.0} {:>12.0} {:>10.0}% {:>10.0} {:>11.1} {:>11.1} {:>11.1}",
            f.backend,
            f.db_rate,
            f.broker_rate,
            f.relay_rate,
            ratio * 100.0,
            f.writer_rate,
            f.lag_p50,
            f.lag_p99,
            f.lag_max
        );
    }
    println!();
    for f in results {
        let ratio = f.relay_rate / f.db_rate.min(f.broker_rate);
        let limit = if f.db_rate <= f.broker_rate {
            "database"
        } else {
            "broker"
        };
        println!(
            "{}: relay at {:.0}% of the lower limit ({limit}; target ≥ {:.0}%: {}), lag p99 {:.1} ms at {:.0} events/s (target < {LAG_P99_TARGET_MS:.0} ms: {}); (c) published {} events{}",
            f.backend,
            ratio * 100.0,
            RATIO_TARGET * 100.0,
            if ratio >= RATIO_TARGET { "met" } else { "NOT met" },
            f.lag_p99,
            f.writer_rate,
            if f.lag_p99 < LAG_P99_TARGET_MS { "met" } else { "NOT met" },
            f.relay_events,
            if f.lag_unpublished > 0 { format!("; {} lag events unpublished", f.lag_unpublished) } else { String::new() },
        );
    }
}
