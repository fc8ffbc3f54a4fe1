//! The report: a Markdown table for people (stdout) and JSON for tools.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::load::{LifecycleRun, ReadRun};
use crate::stats::Latency;
use crate::{DatabaseRun, Options};

/// The targets of issues 8 and 15 (reported, not asserted): lifecycle
/// throughput as a share of the commit limit (the goal is 50 %).
pub const TARGET_PERCENT_OF_LIMIT: f64 = 25.0;
/// Webhook → fulfilled p50 for a 3-item order with instant providers, 1 client, ms.
pub const TARGET_TO_FULFILLED_P50_MS: f64 = 10.0;
/// The payment webhook's response p99 at N clients, ms.
pub const TARGET_WEBHOOK_P99_MS: f64 = 10.0;
/// Component invocations per order (create to fulfilled, the runner's count).
pub const TARGET_INVOCATIONS_PER_ORDER: f64 = 10.0;
/// Read p99 at 16 clients, ms.
pub const TARGET_READ_P99_MS: f64 = 10.0;

fn lat(l: Latency) -> String {
    format!("{:.1} / {:.1} / {:.1}", l.p50, l.p95, l.p99)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "missed"
    }
}

/// The Markdown table: one column per database.
pub fn table(runs: &[DatabaseRun], options: &Options) -> String {
    let n = options.clients;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: String, f: &dyn Fn(&DatabaseRun) -> String| {
        rows.push((label, runs.iter().map(f).collect()));
    };
    row("raw commit rate, commits/s (the baseline)".into(), &|r| {
        format!("{:.0}", r.commit_rate.per_second())
    });
    row("commits per order, measured (runner count)".into(), &|r| {
        format!("{:.1}", r.commits_per_order)
    });
    row(
        format!("component invocations per order, runner count (target ≤ {TARGET_INVOCATIONS_PER_ORDER:.0})"),
        &|r| {
            let v = r.invocations_per_order;
            format!("{v:.1} {}", verdict(v <= TARGET_INVOCATIONS_PER_ORDER))
        },
    );
    row("… of which write transactions (PostgreSQL xids)".into(), &|r| {
        r.write_transactions_per_order
            .map_or_else(|| "= all".into(), |w| format!("{w:.1}"))
    });
    row("limit = commit rate ÷ commits per order, orders/s".into(), &|r| {
        format!("{:.1}", r.limit_orders_per_second())
    });
    row(format!("lifecycle throughput, {n} clients, orders/s"), &|r| {
        format!(
            "{:.1} ({} orders in {:.1} s)",
            r.concurrent.orders_per_second(),
            r.concurrent.samples.fulfilled,
            r.concurrent.elapsed.as_secs_f64()
        )
    });
    row(
        format!("throughput ÷ limit (target ≥ {TARGET_PERCENT_OF_LIMIT:.0} %, goal 50 %)"),
        &|r| {
            let p = r.percent_of_limit();
            format!("{p:.0} % {}", verdict(p >= TARGET_PERCENT_OF_LIMIT))
        },
    );
    row(
        format!("webhook → fulfilled, 1 client, p50/p95/p99 ms (target p50 < {TARGET_TO_FULFILLED_P50_MS:.0})"),
        &|r| {
            let l = Latency::of(&r.sequential.samples.to_fulfilled);
            format!("{} {}", lat(l), verdict(l.p50 < TARGET_TO_FULFILLED_P50_MS))
        },
    );
    row(
        "… in commits' time: commits per order × 1/commit rate, ms".into(),
        &|r| {
            let per_commit_ms = 1000.0 / r.commit_rate.per_second().max(1e-9);
            format!("{:.1}", r.limiting_commits_per_order() * per_commit_ms)
        },
    );
    row(format!("webhook → fulfilled, {n} clients, p50/p95/p99 ms"), &|r| {
        lat(Latency::of(&r.concurrent.samples.to_fulfilled))
    });
    row(format!("POST /v1/orders, {n} clients, p50/p95/p99 ms"), &|r| {
        lat(Latency::of(&r.concurrent.samples.create))
    });
    row(
        format!("POST /v1/orders/{{id}}/submit, {n} clients, p50/p95/p99 ms"),
        &|r| lat(Latency::of(&r.concurrent.samples.submit)),
    );
    row(
        format!("GET /v1/orders/{{id}} amid lifecycles, {n} clients, p50/p95/p99 ms"),
        &|r| lat(Latency::of(&r.concurrent.samples.get)),
    );
    row(
        format!(
            "POST /v1/webhooks/payments/stripe, {n} clients, p50/p95/p99 ms (target p99 < {TARGET_WEBHOOK_P99_MS:.0})"
        ),
        &|r| {
            let l = Latency::of(&r.concurrent.samples.webhook);
            format!("{} {}", lat(l), verdict(l.p99 < TARGET_WEBHOOK_P99_MS))
        },
    );
    row(
        format!("GET /v1/orders/{{id}} reads only, {n} clients, p50/p95/p99 ms (target p99 < {TARGET_READ_P99_MS:.0})"),
        &|r| {
            let l = Latency::of(&r.reads.samples);
            format!("{} {}", lat(l), verdict(l.p99 < TARGET_READ_P99_MS))
        },
    );
    row(
        format!("no-op round trip (GET /v1/openapi.json), {n} clients, p50/p95/p99 ms"),
        &|r| lat(Latency::of(&r.noop.samples)),
    );
    row("reads p50 ÷ no-op p50 (the baseline)".into(), &|r| {
        let (a, b) = (Latency::of(&r.reads.samples), Latency::of(&r.noop.samples));
        format!("{:.1} ×", a.p50 / b.p50.max(1e-9))
    });
    row(format!("reads / no-op round trips per second, {n} clients"), &|r| {
        format!("{:.0} / {:.0}", r.reads.per_second(), r.noop.per_second())
    });
    row("runner peak RSS (VmHWM), MiB".into(), &|r| {
        r.peak_rss_kib.map_or_else(
            || "n/a".into(),
            |k| format!("{:.0}", crate::baseline::u64_f64(k) / 1024.0),
        )
    });
    row("errors (lifecycle / reads / no-op)".into(), &|r| {
        format!(
            "{} / {} / {}",
            r.concurrent.samples.error_count + r.sequential.samples.error_count,
            r.reads.errors,
            r.noop.errors
        )
    });

    let mut out = String::new();
    let header: Vec<&str> = runs
        .iter()
        .map(|r| match r.database {
            crate::Database::Sqlite => "SQLite",
            crate::Database::Postgres => "PostgreSQL",
        })
        .collect();
    let _ = writeln!(out, "| figure | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(runs.len()));
    for (label, cells) in rows {
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
    for r in runs {
        for e in r.concurrent.samples.errors.iter().chain(&r.sequential.samples.errors) {
            let _ = writeln!(out, "{} error: {e}", r.database.name());
        }
    }
    out
}

fn lifecycle_json(run: &LifecycleRun) -> Value {
    let s = &run.samples;
    json!({
        "clients": run.clients,
        "fulfilled": s.fulfilled,
        "seconds": run.elapsed.as_secs_f64(),
        "orders_per_s": run.orders_per_second(),
        "errors": s.error_count,
        "first_errors": s.errors,
        "latency": {
            "create": Latency::of(&s.create).to_json(),
            "submit": Latency::of(&s.submit).to_json(),
            "get": Latency::of(&s.get).to_json(),
            "webhook": Latency::of(&s.webhook).to_json(),
            "webhook_to_fulfilled": Latency::of(&s.to_fulfilled).to_json(),
        }
    })
}

fn read_json(run: &ReadRun) -> Value {
    json!({
        "clients": run.clients,
        "requests": run.samples.len(),
        "seconds": run.elapsed.as_secs_f64(),
        "per_s": run.per_second(),
        "errors": run.errors,
        "latency": Latency::of(&run.samples).to_json(),
    })
}

/// Everything, as JSON.
pub fn json(runs: &[DatabaseRun], options: &Options, took: Duration) -> Value {
    json!({
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "took_s": took.as_secs_f64(),
        "cpus": std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1),
        "options": {
            "clients": options.clients,
            "orders": options.orders,
            "sequential": options.sequential,
            "reads": options.reads,
            "phase_limit_s": options.phase_limit.as_secs(),
            "baseline_s": options.baseline_secs,
        },
        "targets": {
            "percent_of_limit_min": TARGET_PERCENT_OF_LIMIT,
            "webhook_to_fulfilled_p50_ms_max": TARGET_TO_FULFILLED_P50_MS,
            "webhook_p99_ms_max": TARGET_WEBHOOK_P99_MS,
            "invocations_per_order_max": TARGET_INVOCATIONS_PER_ORDER,
            "read_p99_ms_max": TARGET_READ_P99_MS,
        },
        "databases": runs.iter().map(|r| json!({
            "database": r.database.name(),
            "commit_rate": r.commit_rate.to_json(),
            "commits_per_order": r.commits_per_order,
            "invocations_per_order": r.invocations_per_order,
            "write_transactions_per_order": r.write_transactions_per_order,
            "limit_orders_per_s": r.limit_orders_per_second(),
            "percent_of_limit": r.percent_of_limit(),
            "sequential": lifecycle_json(&r.sequential),
            "concurrent": lifecycle_json(&r.concurrent),
            "reads": read_json(&r.reads),
            "noop": read_json(&r.noop),
            "peak_rss_kib": r.peak_rss_kib,
        })).collect::<Vec<_>>(),
    })
}
