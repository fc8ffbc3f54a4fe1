//! The relay loop: rounds of claim → publish → mark, a metrics line per
//! interval, and reconnection after database errors.
//!
//! On PostgreSQL a relay runs several workers (`--workers`, default 2), each
//! with its own connection and the one shared producer: while one worker
//! waits for the broker's acknowledgements, another claims and marks. They
//! coordinate exactly as separate relays do (`FOR UPDATE SKIP LOCKED`, and an
//! order's rows are skipped while an earlier row of it is held), so one
//! order's events still go out in order. On SQLite claims are leases with no
//! such per-order guard, so a relay there runs one worker.

use std::time::{Duration, Instant};

use chrono::Utc;
use orderflow_store::{Relay, Store, StoreError};

use crate::database::{open, AnyDb, OpenError};
use crate::metrics::Metrics;
use crate::publisher::{Publisher, PublisherConfig, PublisherError};

/// What the relay runs with.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// A SQLite path or a `postgres://` URL (the `orderflow_relay` role).
    pub database: String,
    /// The broker.
    pub publisher: PublisherConfig,
    /// Rows per round.
    pub batch: u32,
    /// SQLite claim lease.
    pub lease: Duration,
    /// Pause after a round that found nothing.
    pub idle: Duration,
    /// Between metrics lines.
    pub metrics_every: Duration,
    /// Stop after this long (benchmarks, tests); `None` runs forever.
    pub run_for: Option<Duration>,
    /// Concurrent workers; `None`: 2 on PostgreSQL, 1 on SQLite (where more
    /// than one is refused).
    pub workers: Option<usize>,
}

/// Workers on PostgreSQL unless told otherwise: one publishing while the
/// other claims and marks.
const DEFAULT_PG_WORKERS: usize = 2;

impl RelayConfig {
    fn is_postgres(&self) -> bool {
        self.database.starts_with("postgres://") || self.database.starts_with("postgresql://")
    }

    /// How many workers to run, or why the setting is refused.
    fn worker_count(&self) -> Result<usize, RelayError> {
        match (self.workers, self.is_postgres()) {
            (Some(0), _) => Err(RelayError::Setting("workers must be at least 1".into())),
            (Some(n), true) => Ok(n),
            (Some(1) | None, false) => Ok(1),
            (Some(n), false) => Err(RelayError::Setting(format!(
                "{n} workers on SQLite: its leases do not keep one order's events in order across workers; use 1"
            ))),
            (None, true) => Ok(DEFAULT_PG_WORKERS),
        }
    }
}

/// The relay could not run.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The producer could not be created.
    #[error(transparent)]
    Publisher(#[from] PublisherError),
    /// A lease or batch size is out of range.
    #[error("invalid setting: {0}")]
    Setting(String),
}

/// Runs the relay until `config.run_for` has passed (or forever).
pub fn run(config: &RelayConfig, metrics: &Metrics) -> Result<(), RelayError> {
    let workers = config.worker_count()?;
    let publisher = Publisher::new(config.publisher.clone())?;
    let relay = Relay {
        id: format!("relay-{}", uuid::Uuid::new_v4()),
        batch: config.batch,
        lease: chrono::Duration::from_std(config.lease).map_err(|e| RelayError::Setting(e.to_string()))?,
    };
    let stores = (0..workers)
        .map(|_| open(&config.database).map(Store::new))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (n, store) in stores.into_iter().enumerate() {
            let (publisher, relay) = (&publisher, &relay);
            // The first worker also prints the metrics.
            scope.spawn(move || work(config, store, publisher, relay, metrics, started, n == 0));
        }
    });
    publisher.flush(Duration::from_secs(10));
    Ok(())
}

/// One worker's rounds, on its own connection.
fn work(
    config: &RelayConfig,
    mut store: Store<AnyDb>,
    publisher: &Publisher,
    relay: &Relay,
    metrics: &Metrics,
    started: Instant,
    reports: bool,
) {
    let mut last_metrics = Instant::now();
    while config.run_for.is_none_or(|d| started.elapsed() < d) {
        match store.relay_round(relay, Utc::now, |rows| publisher.publish(rows, metrics)) {
            Ok(rows) => {
                metrics.published(rows.len());
                if rows.is_empty() {
                    std::thread::sleep(config.idle);
                }
            }
            Err(e) => {
                metrics.error();
                eprintln!("relay: round failed: {e}");
                std::thread::sleep(Duration::from_millis(500));
                if matches!(e, StoreError::Db(_)) {
                    match open(&config.database) {
                        Ok(db) => store = Store::new(db),
                        Err(e) => eprintln!("relay: reconnect failed: {e}"),
                    }
                }
            }
        }
        if reports && last_metrics.elapsed() >= config.metrics_every {
            last_metrics = Instant::now();
            match store.backlog() {
                Ok(b) => {
                    let now = Utc::now();
                    metrics.observe(b, now);
                    println!("{}", metrics.line(&b, now));
                }
                Err(e) => eprintln!("relay: backlog: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(database: &str, workers: Option<usize>) -> RelayConfig {
        RelayConfig {
            database: database.into(),
            publisher: PublisherConfig::new("127.0.0.1:9092"),
            batch: 500,
            lease: Duration::from_secs(30),
            idle: Duration::from_millis(20),
            metrics_every: Duration::from_secs(5),
            run_for: None,
            workers,
        }
    }

    #[test]
    fn postgres_runs_two_workers_unless_told_otherwise() {
        assert_eq!(
            config("postgres://relay@127.0.0.1/orderflow", None)
                .worker_count()
                .unwrap(),
            2
        );
        assert_eq!(
            config("postgresql://relay@127.0.0.1/orderflow", Some(4))
                .worker_count()
                .unwrap(),
            4
        );
    }

    #[test]
    fn sqlite_runs_one_worker_and_refuses_more() {
        assert_eq!(config("state/default.db", None).worker_count().unwrap(), 1);
        assert_eq!(config("state/default.db", Some(1)).worker_count().unwrap(), 1);
        let refused = config("state/default.db", Some(2)).worker_count().unwrap_err();
        assert!(refused.to_string().contains("use 1"), "{refused}");
    }

    #[test]
    fn zero_workers_is_refused() {
        assert!(config("postgres://relay@127.0.0.1/orderflow", Some(0))
            .worker_count()
            .is_err());
    }
}
