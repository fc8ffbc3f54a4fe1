//! `scripts/bench`: the figures we claim, measured side by side in one run.
//!
//! For SQLite (Spin's default store) and then PostgreSQL (a throwaway
//! cluster from the end-to-end harness), with the simulated providers
//! answering at once:
//!
//! 1. the limit: the database's raw commit rate on this machine with the
//!    app's durability settings ([`baseline`]);
//! 2. commits and component invocations per order in our code, counted by
//!    the runner (`SIGUSR1` → `spin-local: stats invocations=N` and
//!    `… commits=N`) over sequential lifecycles, and on PostgreSQL also as
//!    write transactions (transaction ids handed out);
//! 3. lifecycle throughput with N concurrent clients (create → submit →
//!    signed webhook → `fulfilled`), as a percentage of commit rate ÷
//!    commits per order, with the latency of each request kind and of
//!    webhook → `fulfilled` (alone, and under load);
//! 4. read latency at N clients (`GET /v1/orders/{id}`) beside a no-op
//!    component round trip (`GET /v1/openapi.json`) at the same concurrency;
//! 5. the runner's peak resident memory (`VmHWM`).
//!
//! Progress goes to stderr; the table to stdout; JSON and a PNG chart to
//! `target/bench/` (paths printed). Every phase is bounded in count and time.

#![allow(clippy::float_arithmetic)] // rates, ratios and milliseconds, not money

mod baseline;
mod chart;
mod fleet;
mod load;
mod report;
mod stats;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::pg_cluster;
use e2e::sims::Sims;
use e2e::App;
use orderflow_http::Role;

use crate::baseline::CommitRate;
use crate::load::{LifecycleRun, ReadRun, Target, Watcher};

/// The payment webhook's secret for the run.
pub(crate) const SECRET: &str = "whsec_bench_padded_to_32_bytes_or_more";

/// The app's components: every package under `components/` (built for
/// wasm32-wasip2 before the runner starts).
fn packages() -> Vec<String> {
    let dir = e2e::workspace_root().join("components");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("Cargo.toml")).ok())
        .filter_map(|toml| {
            toml.lines()
                .find_map(|l| l.trim().strip_prefix("name = ").map(|n| n.trim_matches('"').to_owned()))
        })
        .collect();
    names.sort();
    names
}

/// What to run; every figure is bounded by a count and a time.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent clients for the lifecycle and read scenarios.
    pub clients: usize,
    /// Orders in the concurrent lifecycle scenario (at most).
    pub orders: usize,
    /// Orders taken one at a time (commits per order, webhook → fulfilled alone).
    pub sequential: usize,
    /// Requests in the read scenario (at most).
    pub reads: usize,
    /// No load phase runs longer than this.
    pub phase_limit: Duration,
    /// How long each commit-rate baseline runs.
    pub baseline_secs: u64,
    /// Which databases.
    pub databases: Vec<Database>,
    /// Where the JSON and the PNG go.
    pub out_dir: PathBuf,
    /// `--fleet N`: instead of the per-database runs, lifecycle throughput
    /// with 1..=N runner instances on one PostgreSQL and one Redis.
    pub fleet: Option<usize>,
}

/// A database the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// Spin's SQLite (the default store).
    Sqlite,
    /// PostgreSQL (a throwaway cluster).
    Postgres,
}

impl Database {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
        }
    }
}

const USAGE: &str = "usage: bench [--clients N (16)] [--orders N (300)] [--sequential N (30)] [--reads N (20000)]
             [--phase-secs S (60)] [--baseline-secs S (5)] [--only sqlite|postgres] [--out DIR (target/bench)]
             [--fleet N (instances, 1..=N on PostgreSQL and Redis, instead of the per-database runs)]";

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        clients: 16,
        orders: 300,
        sequential: 30,
        reads: 20_000,
        phase_limit: Duration::from_secs(60),
        baseline_secs: 5,
        databases: vec![Database::Sqlite, Database::Postgres],
        out_dir: e2e::workspace_root().join("target").join("bench"),
        fleet: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> Result<usize, String> {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag} takes a positive whole number, not `{value}`"))
        };
        match flag.as_str() {
            "--clients" => o.clients = number()?,
            "--orders" => o.orders = number()?,
            "--sequential" => o.sequential = number()?,
            "--reads" => o.reads = number()?,
            "--phase-secs" => o.phase_limit = Duration::from_secs(number()? as u64),
            "--baseline-secs" => o.baseline_secs = number()? as u64,
            "--only" => {
                o.databases = match value.as_str() {
                    "sqlite" => vec![Database::Sqlite],
                    "postgres" => vec![Database::Postgres],
                    _ => return Err(format!("--only takes sqlite or postgres, not `{value}`")),
                }
            }
            "--out" => o.out_dir = PathBuf::from(&value),
            "--fleet" => o.fleet = Some(number()?),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Everything measured on one database.
#[derive(Debug, Clone)]
pub struct DatabaseRun {
    /// Which.
    pub database: Database,
    /// Its raw commit rate.
    pub commit_rate: CommitRate,
    /// Commits one order took (the runner's count of committed transactions).
    pub commits_per_order: f64,
    /// Component invocations one order took (the runner's count: every
    /// request a component handled, chained and scheduled ones included).
    pub invocations_per_order: f64,
    /// PostgreSQL only: transaction ids handed out per order (write transactions).
    pub write_transactions_per_order: Option<f64>,
    /// Orders taken one at a time.
    pub sequential: LifecycleRun,
    /// Orders with N clients.
    pub concurrent: LifecycleRun,
    /// Reads of orders.
    pub reads: ReadRun,
    /// No-op component round trips at the same concurrency.
    pub noop: ReadRun,
    /// The runner's peak resident set, KiB.
    pub peak_rss_kib: Option<u64>,
}

impl DatabaseRun {
    /// The commits that bound us: write transactions where we can tell them
    /// from reads (PostgreSQL), else every commit (SQLite's reads commit nothing).
    pub fn limiting_commits_per_order(&self) -> f64 {
        self.write_transactions_per_order.unwrap_or(self.commits_per_order)
    }

    /// Commit rate ÷ commits per order: the most orders per second this
    /// database could take if committing were all we did.
    pub fn limit_orders_per_second(&self) -> f64 {
        let per_order = self.limiting_commits_per_order();
        if per_order > 0.0 {
            self.commit_rate.per_second() / per_order
        } else {
            0.0
        }
    }

    /// Our throughput as a share of the limit, in percent.
    pub fn percent_of_limit(&self) -> f64 {
        let limit = self.limit_orders_per_second();
        if limit > 0.0 {
            100.0 * self.concurrent.orders_per_second() / limit
        } else {
            0.0
        }
    }
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    progress(&format!(
        "{} clients, up to {} orders and {} reads per database, phases ≤ {:?}",
        options.clients, options.orders, options.reads, options.phase_limit
    ));
    progress("building and starting the simulated providers (instant answers)");
    let sims = Sims::spawn(None, SECRET);
    if let Some(max) = options.fleet {
        let (rate, runs) = fleet::run(&options, &sims, max);
        progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
        println!("{}", fleet::table(&rate, &runs, options.clients));
        return;
    }
    let mut runs = Vec::new();
    for db in &options.databases {
        runs.push(run_database(*db, &options, &sims));
    }
    progress(&format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    let table = report::table(&runs, &options);
    println!("{table}");
    std::fs::create_dir_all(&options.out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", options.out_dir.display()));
    let json_path = options.out_dir.join("bench.json");
    let json = report::json(&runs, &options, started.elapsed());
    std::fs::write(&json_path, serde_json::to_string_pretty(&json).unwrap_or_default())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", json_path.display()));
    println!("JSON:  {}", json_path.display());
    let png_path = options.out_dir.join("bench.png");
    match chart::draw(&runs, &options, &png_path) {
        Ok(()) => println!("chart: {}", png_path.display()),
        Err(e) => println!("chart: not drawn: {e}"),
    }
}

/// One line of progress on stderr, with the time since start.
pub(crate) fn progress(what: &str) {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[bench {t:6.1}s] {what}");
}

fn run_database(db: Database, options: &Options, sims: &Sims) -> DatabaseRun {
    let name = db.name();
    let builder = app_builder(sims);
    let (commit_rate, app, pg) = match db {
        Database::Sqlite => {
            progress(&format!(
                "{name}: raw commit rate ({} s tight loop, WAL, synchronous=FULL)",
                options.baseline_secs
            ));
            let rate = baseline::sqlite_commit_rate(Duration::from_secs(options.baseline_secs), 1_000_000);
            progress(&format!("{name}: {:.0} commits/s; starting the app", rate.per_second()));
            (rate, builder.spawn(), None)
        }
        Database::Postgres => {
            progress(&format!(
                "{name}: starting a throwaway cluster and migrating a database"
            ));
            let tdb = e2e::shared::migrated_database("bench");
            pg_cluster::cluster().psql(
                &tdb.name,
                "CREATE TABLE bench_commit (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, payload TEXT NOT NULL)",
            );
            progress(&format!(
                "{name}: raw commit rate (pgbench, {} clients, {} s)",
                options.clients, options.baseline_secs
            ));
            let rate = baseline::pgbench_commit_rate(
                &tdb.host_port,
                "postgres",
                &tdb.name,
                options.clients,
                options.baseline_secs,
            );
            progress(&format!("{name}: {:.0} commits/s; starting the app", rate.per_second()));
            let app = builder.env("SPIN_VARIABLE_DATABASE_URL", &tdb.app_url).spawn();
            (rate, app, Some(tdb))
        }
    };
    let target = Target {
        bases: vec![app.url("")],
        secret: SECRET.to_owned(),
        tenant_prefix: format!("bench-{name}"),
    };
    let watcher = Watcher::start(match &pg {
        None => load::sqlite_states(&app.state_dir().join("sqlite_db.db")),
        Some(tdb) => load::postgres_states(&tdb.superuser_url),
    });
    let mut xids = pg
        .as_ref()
        .map(|tdb| postgres::Client::connect(&tdb.superuser_url, postgres::NoTls).expect("connect as the superuser"));
    let mut next_xid = || {
        xids.as_mut().map(|c| {
            c.query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", &[])
                .expect("next transaction id")
                .get::<_, i64>(0)
        })
    };
    let quiet = |_: usize| {};

    progress(&format!("{name}: warm-up (3 orders)"));
    let warm = load::lifecycles(&target, &watcher, 1, 3, options.phase_limit, &quiet);
    assert_eq!(warm.samples.fulfilled, 3, "warm-up failed: {:?}", warm.samples.errors);

    // Every fulfilled item keeps its region's capacity: give the pools room
    // for the whole run, so validation never turns orders away.
    let room = "UPDATE region_capacity SET capacity = 100000000";
    match &pg {
        None => {
            let conn =
                rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).expect("open the app's database");
            conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
            conn.execute_batch(room).expect("room in every pool");
        }
        Some(tdb) => {
            pg_cluster::cluster().psql(&tdb.name, room);
        }
    }
    progress(&format!(
        "{name}: {} orders one at a time (commits per order, webhook → fulfilled alone)",
        options.sequential
    ));
    let (before, xid_before) = (runner_stats(&app), next_xid());
    let sequential = load::lifecycles(&target, &watcher, 1, options.sequential, options.phase_limit, &quiet);
    let (after, xid_after) = (runner_stats(&app), next_xid());
    let fulfilled = sequential.samples.fulfilled.max(1) as u64;
    let commits_per_order = baseline::u64_f64(after.commits - before.commits) / baseline::u64_f64(fulfilled);
    let invocations_per_order =
        baseline::u64_f64(after.invocations - before.invocations) / baseline::u64_f64(fulfilled);
    // The xid query itself takes no transaction id: a snapshot's xmax is read-only.
    let write_transactions_per_order = match (xid_before, xid_after) {
        (Some(a), Some(b)) => Some(baseline::u64_f64((b - a).unsigned_abs()) / baseline::u64_f64(fulfilled)),
        _ => None,
    };
    progress(&format!(
        "{name}: {commits_per_order:.1} commits and {invocations_per_order:.1} invocations per order{}; webhook → fulfilled p50 {:.1} ms",
        write_transactions_per_order.map_or_else(String::new, |w| format!(" ({w:.1} write transactions)")),
        stats::Latency::of(&sequential.samples.to_fulfilled).p50
    ));

    progress(&format!(
        "{name}: lifecycle throughput, {} clients, up to {} orders or {:?}",
        options.clients, options.orders, options.phase_limit
    ));
    let total = options.orders;
    let tick = |done: usize| progress(&format!("{name}:   {done}/{total} orders"));
    let concurrent = load::lifecycles(
        &target,
        &watcher,
        options.clients,
        options.orders,
        options.phase_limit,
        &tick,
    );
    progress(&format!(
        "{name}: {} orders fulfilled in {:.1} s = {:.1} orders/s ({} errors)",
        concurrent.samples.fulfilled,
        concurrent.elapsed.as_secs_f64(),
        concurrent.orders_per_second(),
        concurrent.samples.error_count
    ));

    progress(&format!(
        "{name}: reads, {} clients, up to {} GET /v1/orders/{{id}} or {:?}",
        options.clients, options.reads, options.phase_limit
    ));
    let orders = concurrent.samples.orders.clone();
    let reads = load::reads(
        &target,
        &load::order_paths(&orders),
        options.clients,
        options.reads,
        options.phase_limit,
    );
    progress(&format!("{name}: and as many no-op round trips (GET /v1/openapi.json)"));
    let noop = load::reads(
        &target,
        &load::noop_paths(),
        options.clients,
        options.reads,
        options.phase_limit,
    );
    let peak_rss_kib = app.pid().and_then(peak_rss_kib);
    drop(watcher);
    drop(app);
    DatabaseRun {
        database: db,
        commit_rate,
        commits_per_order,
        invocations_per_order,
        write_transactions_per_order,
        sequential,
        concurrent,
        reads,
        noop,
        peak_rss_kib,
    }
}

/// The app wired to the simulators (answering at once), ticking the saga
/// worker every second with a service token: one instance of every run.
pub(crate) fn app_builder(sims: &Sims) -> e2e::AppBuilder {
    let service = load::token("platform", Role::Service);
    let packages = packages();
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    App::builder(e2e::workspace_root().join("spin.toml"))
        .build_packages(&packages)
        .dev_secrets()
        .simulated_providers(sims, SECRET)
        // Instant providers: a resource is asked about again at once.
        .env("SPIN_VARIABLE_PROVIDER_POLL_MS", "0")
        .arg("--schedule", "1s=/v1/internal/tick")
        .arg("--schedule-header", format!("authorization: Bearer {service}"))
}

/// What the runner has counted since it started.
#[derive(Debug, Clone, Copy)]
struct RunnerStats {
    /// Committed transactions.
    commits: u64,
    /// Component invocations.
    invocations: u64,
}

/// The runner's counts: sends SIGUSR1 and reads the lines it prints
/// (`spin-local: stats invocations=N`, then `spin-local: stats commits=N`).
fn runner_stats(app: &App) -> RunnerStats {
    const COMMITS: &str = "spin-local: stats commits=";
    const INVOCATIONS: &str = "spin-local: stats invocations=";
    let before = app.logs().count(COMMITS);
    let pid = app.pid().expect("the runner is running");
    let status = Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(status.success(), "kill -USR1 {pid} failed");
    e2e::eventually("the runner's stats line", Duration::from_secs(10), || {
        (app.logs().count(COMMITS) > before).then_some(())
    });
    let text = app.logs().text();
    let last = |needle: &str| -> u64 {
        text.lines()
            .rev()
            .find_map(|l| l.split(needle).nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{needle}` in the runner's stats lines"))
    };
    RunnerStats {
        commits: last(COMMITS),
        invocations: last(INVOCATIONS),
    }
}

/// `VmHWM` (peak resident set) of process `pid`, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
