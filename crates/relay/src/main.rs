//! `relay`: publishes the outbox to Kafka; `relay routes` prints the routing
//! matrix; `relay migrate` applies the schema (as the database owner).
//!
//! ```text
//! cargo run -p relay -- --database <sqlite path | postgres url> --brokers 127.0.0.1:9092
//! cargo run -p relay -- routes
//! cargo run -p relay -- migrate --database postgres://owner@127.0.0.1:5432/orderflow
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orderflow_core::routing_matrix;
use orderflow_store::Store;
use relay::{run, Metrics, PublisherConfig, RelayConfig};

/// The outbox relay.
#[derive(Debug, Parser)]
#[command(
    name = "relay",
    about = "Publishes the outbox to Kafka (CloudEvents 1.0, binary mode)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A SQLite file or a postgres:// URL (the orderflow_relay role).
    #[arg(long)]
    database: Option<String>,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Rows per round.
    #[arg(long, default_value_t = 500)]
    batch: u32,
    /// SQLite claim lease, in seconds.
    #[arg(long, default_value_t = 30)]
    lease_secs: u64,
    /// Delivery timeout per message, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    message_timeout_ms: u64,
    /// Pause after an empty round, in milliseconds.
    #[arg(long, default_value_t = 20)]
    idle_ms: u64,
    /// Between metrics lines on stdout, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    metrics_ms: u64,
    /// Concurrent workers, each with its own connection (PostgreSQL only;
    /// default 2 there, 1 on SQLite).
    #[arg(long)]
    workers: Option<usize>,
    /// Create the topics at start (one partition each).
    #[arg(long, default_value_t = true)]
    create_topics: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the routing matrix: event type, topic, consumers.
    Routes,
    /// Apply the schema migrations (connect as the schema owner).
    Migrate {
        /// A SQLite file or a postgres:// URL of the owner role.
        #[arg(long)]
        database: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Routes) => {
            println!("{:<36} {:<26} consumers", "event", "topic");
            for (event, consumers) in routing_matrix() {
                let names: Vec<&str> = consumers.iter().map(|c| c.as_str()).collect();
                println!("{:<36} {:<26} {}", event.as_str(), event.topic(), names.join(","));
            }
            ExitCode::SUCCESS
        }
        Some(Command::Migrate { database }) => {
            match relay::open(&database)
                .map_err(|e| e.to_string())
                .and_then(|db| Store::new(db).migrate(chrono::Utc::now()).map_err(|e| e.to_string()))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("relay migrate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            let Some(database) = cli.database else {
                eprintln!("relay: --database is required");
                return ExitCode::from(2);
            };
            let mut publisher = PublisherConfig::new(&cli.brokers);
            publisher.message_timeout = Duration::from_millis(cli.message_timeout_ms);
            if cli.create_topics {
                let topics: std::collections::BTreeSet<String> =
                    routing_matrix().into_iter().map(|(e, _)| e.topic()).collect();
                let topics: Vec<String> = topics.into_iter().collect();
                match relay::Publisher::new(publisher.clone()).and_then(|p| p.ensure_topics(&topics, 1)) {
                    Ok(()) => {}
                    Err(e) => eprintln!("relay: topics not created (continuing): {e}"),
                }
            }
            let config = RelayConfig {
                database,
                publisher,
                batch: cli.batch,
                lease: Duration::from_secs(cli.lease_secs),
                idle: Duration::from_millis(cli.idle_ms),
                metrics_every: Duration::from_millis(cli.metrics_ms),
                run_for: None,
                workers: cli.workers,
            };
            let metrics = Metrics::default();
            match run(&config, &metrics) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("relay: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
