//! `relay`: publishes the outbox to Kafka; `relay routes` prints the routing
//! matrix; `relay migrate` applies the schema (as the database owner);
//! `relay schedule` drives the app's tick and renewals inside a cluster.
//!
//! ```text
//! cargo run -p relay -- --database <sqlite path | postgres url> --brokers 127.0.0.1:9092
//! cargo run -p relay -- routes
//! cargo run -p relay -- migrate --database postgres://owner@127.0.0.1:5432/orderflow
//! ORDERFLOW_SCHEDULER_KEY="$(cat key.pem)" cargo run -p relay -- schedule --app http://127.0.0.1:3000 --issuer <auth_issuer>
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
    /// Serve the metrics in the Prometheus text format at
    /// `http://<ADDR>/metrics` (e.g. `0.0.0.0:9464`).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Create the topics at start (one partition each).
    #[arg(long, default_value_t = true)]
    create_topics: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the routing matrix: event type, topic, consumers.
    Routes,
    /// Drive the app's periodic routes (the saga tick, renewals) from inside a
    /// cluster, with a fresh one-minute service token per request, scoped
    /// `tick renew`, signed with the scheduler's own private key (env
    /// ORDERFLOW_SCHEDULER_KEY: a PKCS#8 PEM Ed25519, P-256 or RSA key whose
    /// public half is in the app's auth_jwks).
    Schedule {
        /// The app's base URL, plain HTTP, e.g. http://orderflow.shop.svc.
        #[arg(long)]
        app: String,
        /// `INTERVAL=ROUTE`, repeatable [default: 1s=/v1/internal/tick and 10s=/v1/internal/renew].
        #[arg(long = "every", value_name = "INTERVAL=ROUTE")]
        every: Vec<relay::schedule::Every>,
        /// The tenant the service tokens name (the routes work across tenants).
        #[arg(long, default_value = "platform")]
        tenant: String,
        /// The `kid` of the scheduler's key in the app's JWKS.
        #[arg(long, default_value = "scheduler")]
        kid: String,
        /// The tokens' `iss`: the app's auth_issuer.
        #[arg(long)]
        issuer: String,
        /// The tokens' `aud`: the app's auth_audience.
        #[arg(long, default_value = "orderflow")]
        audience: String,
    },
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
        Some(Command::Schedule {
            app,
            every,
            tenant,
            kid,
            issuer,
            audience,
        }) => {
            let Ok(key) = std::env::var("ORDERFLOW_SCHEDULER_KEY") else {
                eprintln!("relay schedule: ORDERFLOW_SCHEDULER_KEY (the scheduler's private key, PEM) is not set");
                return ExitCode::from(2);
            };
            let target = orderflow_http::TokenSigner::from_pem(key.as_bytes(), &kid, &issuer, &audience)
                .map_err(|e| format!("ORDERFLOW_SCHEDULER_KEY: {e}"))
                .and_then(|signer| {
                    let tenant = tenant.parse().map_err(|e| format!("--tenant: {e}"))?;
                    relay::schedule::Target::new(&app, tenant, signer)
                });
            let target = match target {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("relay schedule: {e}");
                    return ExitCode::from(2);
                }
            };
            let every = if every.is_empty() {
                vec![
                    "1s=/v1/internal/tick".parse().expect("valid"),
                    "10s=/v1/internal/renew".parse().expect("valid"),
                ]
            } else {
                every
            };
            relay::schedule::run(&target, &every, None);
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
            let metrics = std::sync::Arc::new(Metrics::default());
            if let Some(addr) = cli.metrics_listen {
                match std::net::TcpListener::bind(addr) {
                    Ok(listener) => {
                        let served = metrics.clone();
                        std::thread::spawn(move || relay::exposition::serve(listener, served));
                    }
                    Err(e) => {
                        eprintln!("relay: --metrics-listen {addr}: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
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
