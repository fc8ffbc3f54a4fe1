//! Command-line interface: `spin-local up` and `spin-local bench`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::app::{App, LoadOptions};
use crate::scheduler::{self, Schedule};

/// A local runner for Spin applications.
#[derive(Debug, Parser)]
#[command(name = "spin-local", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the application (like `spin up`).
    Up(UpArgs),
    /// Measure request overhead against a native baseline.
    Bench(crate::bench::BenchArgs),
}

/// Options of `spin-local up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// The application manifest.
    #[arg(long = "from", short = 'f', default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Spin runtime config file (sqlite_database / key_value_store tables).
    #[arg(long)]
    pub runtime_config_file: Option<PathBuf>,
    /// Directory for default databases [default: `.spin` next to the manifest].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Directory for compiled components [default: `spin-local-cache` next
    /// to this executable, or env SPIN_LOCAL_CACHE_DIR].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// `POST <route>` every `<interval>` in process, e.g. `1s=/v1/internal/tick`.
    #[arg(long = "schedule", value_name = "INTERVAL=ROUTE")]
    pub schedules: Vec<Schedule>,
    /// A header (`name: value`) added to every scheduled request.
    #[arg(long = "schedule-header", value_name = "HEADER")]
    pub schedule_headers: Vec<String>,
    /// What a PostgreSQL `query` whose result has no rows does: `error` (the
    /// default: on Spin 4.0.0-4.0.2 such a call never returns, see
    /// spinframework/spin issue 3671) or `empty` (Spin 3.x: an empty set).
    #[arg(long, value_enum, default_value = "error")]
    pub pg_empty_query: crate::host::postgres::EmptyQuery,
    /// What becomes of a guest still running after its response was sent:
    /// `abort` (the default, the strictest Spin: its main branch after pull
    /// request 3541 aborts it once the response body has been sent) or
    /// `run` (Spin 3.x and 4.0 let it run until it returns).
    #[arg(long, value_enum, env = "SPIN_LOCAL_AFTER_RESPONSE", default_value = "abort")]
    pub after_response: crate::app::AfterResponse,
    /// How many instances serve this application together (this one
    /// included). Above 1, key-value stores must be shared (`type = "redis"`)
    /// and local SQLite databases are warned about.
    #[arg(long, env = "SPIN_LOCAL_INSTANCES", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub instances: u32,
}

impl UpArgs {
    /// The load options these arguments describe.
    pub fn load_options(&self) -> LoadOptions {
        let manifest_dir = self
            .manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        LoadOptions {
            manifest: self.manifest.clone(),
            state_dir: self.state_dir.clone().unwrap_or_else(|| manifest_dir.join(".spin")),
            runtime_config: self.runtime_config_file.clone(),
            cache_dir: self.cache_dir.clone().or_else(default_cache_dir),
            pg_empty_query: self.pg_empty_query,
            after_response: self.after_response,
            instances: self.instances,
        }
    }
}

/// `SPIN_LOCAL_CACHE_DIR`, else `spin-local-cache` beside the executable
/// (`target/release/spin-local-cache` in this repository).
fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SPIN_LOCAL_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("spin-local-cache"))
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match cli.command {
        Command::Up(args) => runtime.block_on(up(args)),
        Command::Bench(args) => runtime.block_on(crate::bench::run(args)),
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let headers = args
        .schedule_headers
        .iter()
        .map(|h| scheduler::parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = args.load_options();
    let app = tokio::task::spawn_blocking(move || App::load(&opts)).await??;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    app.set_listen_addr(addr);
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Serving http://{addr}")?;
        writeln!(out, "Available Routes:")?;
        for (route, component) in app.router().routes() {
            writeln!(out, "  {component}: http://{addr}{route}")?;
        }
        out.flush()?;
    }
    scheduler::spawn(&app, &args.schedules, &headers);
    spawn_stats_reporter(&app);
    crate::server::serve(app, listener, shutdown_signal()).await;
    eprintln!("spin-local: shutting down");
    Ok(())
}

/// On every SIGUSR1, prints `spin-local: stats invocations=N` (component
/// instances run since start), then `spin-local: stats commits=N` (database
/// commits since start) to stderr, so a benchmark can count what its load took.
fn spawn_stats_reporter(app: &std::sync::Arc<App>) {
    #[cfg(unix)]
    {
        let Ok(mut usr1) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) else {
            eprintln!("spin-local: cannot listen for SIGUSR1; no stats");
            return;
        };
        let app = app.clone();
        tokio::spawn(async move {
            while usr1.recv().await.is_some() {
                let invocations = app.services.invocations.load(std::sync::atomic::Ordering::Relaxed);
                eprintln!("spin-local: stats invocations={invocations}");
                eprintln!("spin-local: stats commits={}", app.services.commits.total());
            }
        });
    }
    #[cfg(not(unix))]
    let _ = app;
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
