//! `spin-local bench`: per-request overhead of the runner against the same
//! handlers compiled natively.
//!
//! Starts the fixture application in process on `127.0.0.1:0` and a tiny
//! native hyper server doing the same work (a no-op, and one SQLite read via
//! the same connection pool). A keep-alive client then drives each handler at
//! concurrency 1 and 16, bounded by a request count and a time limit, and a
//! table of requests/s and p50/p99 latency is printed. Nothing is asserted.
//!
//! Build the fixtures first:
//! `cargo build --release --target wasm32-wasip2 -p fixture-sqlite -p fixture-misc`.

// Statistics and rates are floating point by nature (this is not money).
#![allow(clippy::float_arithmetic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::app::{App, LoadOptions};
use crate::database::Database;

/// Options of `spin-local bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The fixture manifest (must route `/noop` and `/bench/read`).
    #[arg(long = "from", default_value = "tests/fixtures/spin.toml")]
    pub manifest: PathBuf,
    /// Requests per measurement.
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
    /// Time limit per measurement, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

struct Measurement {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

/// Runs the benchmark and prints the table.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let state_dir = std::env::temp_dir().join(format!("spin-local-bench-{}", std::process::id()));
    std::fs::create_dir_all(&state_dir)?;
    let db_path = state_dir.join("sqlite_db.db");
    {
        let conn = rusqlite::Connection::open(&db_path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, value TEXT NOT NULL);
             INSERT OR REPLACE INTO bench (id, value) VALUES (1, 'hello');",
        )?;
    }

    let opts = LoadOptions {
        manifest: args.manifest.clone(),
        state_dir: state_dir.clone(),
        runtime_config: None,
        cache_dir: std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|p| p.join("spin-local-cache"))),
        pg_empty_query: crate::host::postgres::EmptyQuery::default(),
        after_response: crate::app::AfterResponse::default(),
        instances: 1,
    };
    let app = tokio::task::spawn_blocking(move || App::load(&opts))
        .await?
        .context("loading the fixture app (did you build the fixtures?)")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let wasm_addr = listener.local_addr()?;
    app.set_listen_addr(wasm_addr);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(app, listener, async {
        let _ = stop_rx.await;
    }));

    let native_addr = start_native(Arc::new(Database::new(&db_path))).await?;

    // The runner logs every request to stderr; run with `2>/dev/null` so the
    // terminal does not become the bottleneck.
    println!(
        "{:<28} {:>5} {:>9} {:>10} {:>10} {:>10}",
        "handler", "conc", "requests", "req/s", "p50 (µs)", "p99 (µs)"
    );
    let limit = Duration::from_secs(args.seconds);
    let mut ratios = Vec::new();
    for (label, path) in [("no-op", "/noop"), ("one SQLite read", "/bench/read")] {
        for concurrency in [1usize, 16] {
            // Warm up connections, instances and caches.
            measure(wasm_addr, path, concurrency, 200.min(args.requests), limit).await?;
            measure(native_addr, path, concurrency, 200.min(args.requests), limit).await?;
            let wasm = measure(wasm_addr, path, concurrency, args.requests, limit).await?;
            let native = measure(native_addr, path, concurrency, args.requests, limit).await?;
            print_row(&format!("wasm   {label}"), concurrency, &wasm);
            print_row(&format!("native {label}"), concurrency, &native);
            ratios.push((label, concurrency, wasm, native));
        }
    }
    println!();
    println!(
        "{:<20} {:>5} {:>16} {:>18}",
        "handler", "conc", "p50 ratio w/n", "p50 overhead (µs)"
    );
    for (label, concurrency, wasm, native) in &ratios {
        println!(
            "{:<20} {:>5} {:>16.2} {:>18.1}",
            label,
            concurrency,
            wasm.p50.as_secs_f64() / native.p50.as_secs_f64().max(1e-9),
            (wasm.p50.as_secs_f64() - native.p50.as_secs_f64()) * 1e6
        );
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&state_dir);
    Ok(())
}

fn print_row(label: &str, concurrency: usize, m: &Measurement) {
    #[allow(clippy::cast_precision_loss)]
    let rps = m.requests as f64 / m.elapsed.as_secs_f64();
    println!(
        "{:<28} {:>5} {:>9} {:>10.0} {:>10.1} {:>10.1}",
        label,
        concurrency,
        m.requests,
        rps,
        m.p50.as_secs_f64() * 1e6,
        m.p99.as_secs_f64() * 1e6
    );
}

/// Sends up to `total` GETs to `path` over `concurrency` keep-alive connections.
async fn measure(
    addr: SocketAddr,
    path: &str,
    concurrency: usize,
    total: usize,
    limit: Duration,
) -> anyhow::Result<Measurement> {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let issued = issued.clone();
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                let request = http::Request::get(path.as_str())
                    .header(http::header::HOST, addr.to_string())
                    .body(Empty::<Bytes>::new())?;
                let t = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(status.is_success(), "{path} returned {status}");
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pick = |q: f64| {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let i = ((latencies.len().saturating_sub(1)) as f64 * q).round() as usize;
        latencies.get(i).copied().unwrap_or_default()
    };
    Ok(Measurement {
        requests: latencies.len(),
        elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
    })
}

/// The native baseline: the same two handlers in plain hyper + rusqlite.
async fn start_native(db: Arc<Database>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let db = db.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let db = db.clone();
                    async move {
                        let body = if request.uri().path() == "/bench/read" {
                            tokio::task::spawn_blocking(move || read_one(&db))
                                .await
                                .ok()
                                .flatten()
                                .unwrap_or_default()
                        } else {
                            "ok".to_owned()
                        };
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn read_one(db: &Database) -> Option<String> {
    let conn = db.checkout().ok()?;
    let value = conn
        .prepare_cached("SELECT value FROM bench WHERE id = ?1")
        .and_then(|mut s| s.query_row([1], |r| r.get(0)))
        .ok();
    db.checkin(conn);
    value
}
