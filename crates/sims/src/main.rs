//! `sims`: the simulated providers as a program.
//!
//! ```text
//! sims [--listen-payments 127.0.0.1:0] [--listen-cloud 127.0.0.1:0] [--listen-email 127.0.0.1:0]
//!      [--listen-hetzner 127.0.0.1:0]
//!      [--webhook-url URL] [--webhook-secret SECRET] [--cloud-latency-ms N]
//! ```
//!
//! Prints `payments http://…`, `cloud http://…`, `email http://…`,
//! `hetzner http://…` (the bound addresses; Hetzner's API is under `/v1`) and serves until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use orderflow_sims::Config;

const USAGE: &str = "usage: sims [--listen-payments ADDR] [--listen-cloud ADDR] [--listen-email ADDR] \
                     [--listen-hetzner ADDR] \
                     [--webhook-url URL] [--webhook-secret SECRET] [--cloud-latency-ms N]\n\
                     ADDR must be a loopback address (default 127.0.0.1:0).";

fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("sims: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sims: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let running = match orderflow_sims::start(config).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("sims: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let printed = writeln!(out, "payments {}", running.payments_url())
        .and_then(|()| writeln!(out, "cloud {}", running.cloud_url()))
        .and_then(|()| writeln!(out, "email {}", running.email_url()))
        .and_then(|()| writeln!(out, "hetzner {}", running.hetzner_url()))
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        eprintln!("sims: cannot print the addresses: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = shutdown_signal().await {
        eprintln!("sims: cannot wait for signals: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("sims: shutting down");
    running.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}

/// The configuration from the arguments; `None` for `--help`.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config::default();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen-payments" => config.listen_payments = loopback(&flag, &value)?,
            "--listen-cloud" => config.listen_cloud = loopback(&flag, &value)?,
            "--listen-email" => config.listen_email = loopback(&flag, &value)?,
            "--listen-hetzner" => config.listen_hetzner = loopback(&flag, &value)?,
            "--webhook-url" => {
                if !value.starts_with("http://") {
                    return Err(format!("{flag}: only http:// URLs are supported, not {value:?}"));
                }
                config.webhook_url = Some(value);
            }
            "--webhook-secret" => config.webhook_secret = value,
            "--cloud-latency-ms" => {
                let ms = value.parse::<u64>().map_err(|e| format!("{flag} {value:?}: {e}"))?;
                config.cloud_latency = Duration::from_millis(ms);
            }
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    Ok(Some(config))
}

fn loopback(flag: &str, value: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{flag} {value:?}: the simulators listen on loopback only"));
    }
    Ok(addr)
}
