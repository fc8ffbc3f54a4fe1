//! The relay loop: rounds of claim → publish → mark, a metrics line per
//! interval, and reconnection after database errors.

use std::time::{Duration, Instant};

use chrono::Utc;
use orderflow_store::{Relay, Store, StoreError};

use crate::database::{open, OpenError};
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
    let publisher = Publisher::new(config.publisher.clone())?;
    let relay = Relay {
        id: format!("relay-{}", uuid::Uuid::new_v4()),
        batch: config.batch,
        lease: chrono::Duration::from_std(config.lease).map_err(|e| RelayError::Setting(e.to_string()))?,
    };
    let started = Instant::now();
    let mut last_metrics = Instant::now();
    let mut store = Store::new(open(&config.database)?);
    while config.run_for.is_none_or(|d| started.elapsed() < d) {
        match store.relay_round(&relay, Utc::now, |rows| publisher.publish(rows, metrics)) {
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
        if last_metrics.elapsed() >= config.metrics_every {
            last_metrics = Instant::now();
            match store.backlog() {
                Ok(b) => println!("{}", metrics.line(&b, Utc::now())),
                Err(e) => eprintln!("relay: backlog: {e}"),
            }
        }
    }
    publisher.flush(Duration::from_secs(10));
    Ok(())
}
