//! `scripts/bench --fleet`: lifecycle throughput with 1, 2 and 3 runner
//! instances serving the app together on one PostgreSQL and one Redis (the
//! key-value store `default`), beside the database's raw commit rate
//! measured in the same run. Requests go to the instances in turn and each
//! order's webhook to the next one; every instance ticks the saga worker.

use e2e::pg_cluster;
use e2e::shared::{migrated_database, SharedKeyValue};
use e2e::sims::Sims;
use e2e::App;

use crate::baseline::{self, CommitRate};
use crate::load::{self, LifecycleRun, Target, Watcher};
use crate::{app_builder, progress, Options, SECRET};

/// What one fleet size achieved.
#[derive(Debug, Clone)]
pub struct FleetRun {
    /// Instances serving the app.
    pub instances: usize,
    /// The concurrent lifecycles.
    pub run: LifecycleRun,
    /// Write transactions (PostgreSQL transaction ids) per fulfilled order.
    pub write_transactions_per_order: f64,
}

/// Runs the fleet scenario for 1..=`max` instances; returns the commit rate
/// and one run per fleet size.
pub fn run(options: &Options, sims: &Sims, max: usize) -> (CommitRate, Vec<FleetRun>) {
    progress("fleet: a throwaway PostgreSQL database, migrated by its owner, and a redis-server");
    let tdb = migrated_database("bench_fleet");
    pg_cluster::cluster().psql(
        &tdb.name,
        "CREATE TABLE bench_commit (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, payload TEXT NOT NULL)",
    );
    let rate = baseline::pgbench_commit_rate(
        &tdb.host_port,
        "postgres",
        &tdb.name,
        options.clients,
        options.baseline_secs,
    );
    progress(&format!(
        "fleet: {:.0} commits/s (pgbench, {} clients)",
        rate.per_second(),
        options.clients
    ));
    // Every fulfilled item keeps its pool's capacity: room for the whole run.
    pg_cluster::cluster().psql(&tdb.name, "UPDATE region_capacity SET capacity = 100000000");
    let key_value = SharedKeyValue::start();
    let runtime_config = key_value.runtime_config();
    let mut xids = postgres::Client::connect(&tdb.superuser_url, postgres::NoTls).expect("connect as the superuser");
    let mut next_xid = || -> i64 {
        xids.query_one("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint", &[])
            .expect("next transaction id")
            .get(0)
    };
    let watcher = Watcher::start(load::postgres_states(&tdb.superuser_url));
    let mut runs = Vec::new();
    for size in 1..=max {
        progress(&format!("fleet: starting {size} instance(s)"));
        let instances: Vec<App> = (0..size)
            .map(|_| {
                app_builder(sims)
                    .env("SPIN_VARIABLE_DATABASE_URL", &tdb.app_url)
                    .arg("--runtime-config-file", runtime_config.display().to_string())
                    .arg("--instances", size.to_string())
                    .spawn()
            })
            .collect();
        let target = Target {
            bases: instances.iter().map(|a| a.url("")).collect(),
            secret: SECRET.to_owned(),
            tenant_prefix: format!("fleet-{size}"),
        };
        let quiet = |_: usize| {};
        let warm = load::lifecycles(&target, &watcher, 1, 3, options.phase_limit, &quiet);
        assert_eq!(warm.samples.fulfilled, 3, "warm-up failed: {:?}", warm.samples.errors);
        let before = next_xid();
        let total = options.orders;
        let tick = |done: usize| progress(&format!("fleet {size}:   {done}/{total} orders"));
        let run = load::lifecycles(
            &target,
            &watcher,
            options.clients,
            options.orders,
            options.phase_limit,
            &tick,
        );
        let after = next_xid();
        let fulfilled = run.samples.fulfilled.max(1) as u64;
        let write_transactions_per_order =
            baseline::u64_f64((after - before).unsigned_abs()) / baseline::u64_f64(fulfilled);
        progress(&format!(
            "fleet {size}: {} orders in {:.1} s = {:.1} orders/s, {write_transactions_per_order:.1} write transactions each ({} errors)",
            run.samples.fulfilled,
            run.elapsed.as_secs_f64(),
            run.orders_per_second(),
            run.samples.error_count
        ));
        runs.push(FleetRun {
            instances: size,
            run,
            write_transactions_per_order,
        });
    }
    drop(watcher);
    (rate, runs)
}

/// The fleet table: throughput per fleet size, as a share of what the
/// commit rate allows at the write transactions each order took, and as a
/// multiple of one instance.
pub fn table(rate: &CommitRate, runs: &[FleetRun], clients: usize) -> String {
    let mut out = format!(
        "| instances | orders/s ({clients} clients) | × one instance | webhook → fulfilled p50 / p99 ms | write tx per order | limit = commit rate ÷ tx per order | throughput ÷ limit |\n|---|---|---|---|---|---|---|\n"
    );
    let one = runs.first().map_or(0.0, |r| r.run.orders_per_second());
    for r in runs {
        let ops = r.run.orders_per_second();
        let limit = if r.write_transactions_per_order > 0.0 {
            rate.per_second() / r.write_transactions_per_order
        } else {
            0.0
        };
        let to_fulfilled = crate::stats::Latency::of(&r.run.samples.to_fulfilled);
        out.push_str(&format!(
            "| {} | {ops:.1} ({} orders in {:.1} s, {} errors) | {:.2} | {:.1} / {:.1} | {:.1} | {limit:.0} | {:.1} % |\n",
            r.instances,
            r.run.samples.fulfilled,
            r.run.elapsed.as_secs_f64(),
            r.run.samples.error_count,
            if one > 0.0 { ops / one } else { 0.0 },
            to_fulfilled.p50,
            to_fulfilled.p99,
            r.write_transactions_per_order,
            if limit > 0.0 { 100.0 * ops / limit } else { 0.0 },
        ));
    }
    out.push_str(&format!(
        "\nraw commit rate (pgbench, {clients} clients, the baseline): {:.0} commits/s\n",
        rate.per_second()
    ));
    out
}
