//! The PNG chart: throughput beside its limit, and latency per scenario,
//! per database. Text is drawn with a system TrueType font loaded at run
//! time (Debian's `fonts-dejavu-core`, which `scripts/bench` installs), so no
//! font file lives in the repository.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::stats::Latency;
use crate::{Database, DatabaseRun, Options};

/// Where a sans-serif font is looked for (the first that exists is used).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn register_font() -> Result<PathBuf, String> {
    let path = std::env::var_os("BENCH_FONT")
        .map(PathBuf::from)
        .or_else(|| FONTS.iter().map(PathBuf::from).find(|p| p.exists()))
        .ok_or("no TrueType font found (install fonts-dejavu-core, or set BENCH_FONT)")?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    // The font registry keeps `'static` bytes; one font per process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("{} is not a usable font", path.display()))?;
    Ok(path)
}

fn colours(db: Database) -> (RGBColor, RGBColor) {
    match db {
        Database::Sqlite => (RGBColor(120, 170, 220), RGBColor(25, 80, 160)),
        Database::Postgres => (RGBColor(245, 170, 100), RGBColor(190, 70, 30)),
    }
}

fn label(db: Database) -> &'static str {
    match db {
        Database::Sqlite => "SQLite",
        Database::Postgres => "PostgreSQL",
    }
}

/// Picks one scenario's latency out of a database's run.
type Pick = Box<dyn Fn(&DatabaseRun) -> Latency>;

/// Draws the chart to `path`.
///
/// # Errors
/// When no font can be loaded or drawing fails.
pub fn draw(runs: &[DatabaseRun], options: &Options, path: &Path) -> Result<(), String> {
    register_font()?;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (1500, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (left, right) = root.split_horizontally(480);

    // Throughput beside its limit.
    let n = runs.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let groups = n as f64;
    let top = runs
        .iter()
        .flat_map(|r| [r.concurrent.orders_per_second(), r.limit_orders_per_second()])
        .fold(1.0_f64, f64::max)
        * 1.4;
    let names: Vec<&str> = runs.iter().map(|r| label(r.database)).collect();
    let formatter = |x: &f64| category(&names, *x);
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!("Lifecycle throughput, {} clients", options.clients),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..groups - 0.5, 0.0..top)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&formatter)
        .y_desc("orders per second")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|x| e(&x))?;
    for (i, r) in runs.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = i as f64;
        let (light, dark) = colours(r.database);
        let bars = [
            (x - 0.38, x - 0.02, r.concurrent.orders_per_second(), dark),
            (x + 0.02, x + 0.38, r.limit_orders_per_second(), light),
        ];
        for (x0, x1, v, colour) in bars {
            chart
                .draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x1, v)], colour.filled())))
                .map_err(|x| e(&x))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{v:.1}"),
                    ((x0 + x1) / 2.0 - 0.08, v + top * 0.01),
                    ("sans-serif", 14),
                )))
                .map_err(|x| e(&x))?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{:.0} % of limit", r.percent_of_limit()),
                (x - 0.3, top * 0.97),
                ("sans-serif", 15),
            )))
            .map_err(|x| e(&x))?;
    }
    chart
        .draw_series(std::iter::once(Text::new(
            "dark: measured; light: commit rate ÷ commits per order",
            (-0.45, top * 0.91),
            ("sans-serif", 13),
        )))
        .map_err(|x| e(&x))?;

    // Latency per scenario: p50 (light) and p99 (dark) per database.
    let scenarios: Vec<(&str, Pick)> = vec![
        ("create", Box::new(|r| Latency::of(&r.concurrent.samples.create))),
        ("submit", Box::new(|r| Latency::of(&r.concurrent.samples.submit))),
        ("GET (load)", Box::new(|r| Latency::of(&r.concurrent.samples.get))),
        ("webhook", Box::new(|r| Latency::of(&r.concurrent.samples.webhook))),
        (
            "→fulfilled, 1",
            Box::new(|r| Latency::of(&r.sequential.samples.to_fulfilled)),
        ),
        (
            "→fulfilled, N",
            Box::new(|r| Latency::of(&r.concurrent.samples.to_fulfilled)),
        ),
        ("GET (reads)", Box::new(|r| Latency::of(&r.reads.samples))),
        ("no-op", Box::new(|r| Latency::of(&r.noop.samples))),
    ];
    let labels: Vec<&str> = scenarios.iter().map(|(l, _)| *l).collect();
    let highest = runs
        .iter()
        .flat_map(|r| scenarios.iter().map(move |(_, f)| f(r).p99))
        .fold(1.0_f64, f64::max);
    let lowest = runs
        .iter()
        .flat_map(|r| scenarios.iter().map(move |(_, f)| f(r).p50))
        .filter(|v| *v > 0.0)
        .fold(highest, f64::min);
    let (ymin, ymax) = ((lowest / 2.0).max(0.01), highest * 3.0);
    #[allow(clippy::cast_precision_loss)]
    let count = scenarios.len() as f64;
    let formatter = |x: &f64| category(&labels, *x);
    let mut chart = ChartBuilder::on(&right)
        .caption(
            format!(
                "Latency (ms, log): p50 light, p99 dark; N = {} clients",
                options.clients
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..count - 0.5, (ymin..ymax).log_scale())
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(scenarios.len())
        .x_label_formatter(&formatter)
        .y_desc("milliseconds")
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|x| e(&x))?;
    #[allow(clippy::cast_precision_loss)]
    let width = 0.8 / (2 * n) as f64;
    for (d, r) in runs.iter().enumerate() {
        let (light, dark) = colours(r.database);
        for (s, (_, f)) in scenarios.iter().enumerate() {
            let l = f(r);
            #[allow(clippy::cast_precision_loss)]
            let x0 = s as f64 - 0.4 + (2 * d) as f64 * width;
            for (k, (v, colour)) in [(l.p50, light), (l.p99, dark)].into_iter().enumerate() {
                #[allow(clippy::cast_precision_loss)]
                let a = x0 + k as f64 * width;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, ymin), (a + width * 0.9, v.max(ymin))],
                        colour.filled(),
                    )))
                    .map_err(|x| e(&x))?;
            }
        }
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [
                    (-0.45 + 1.6 * d as f64, ymax / 1.6),
                    (-0.35 + 1.6 * d as f64, ymax / 1.3),
                ],
                dark.filled(),
            )))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(std::iter::once(Text::new(
                label(r.database),
                (-0.3 + 1.6 * d as f64, ymax / 1.3),
                ("sans-serif", 15),
            )))
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// The category name at a tick, for ticks on whole numbers.
fn category(names: &[&str], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    names.get(i as usize).map_or_else(String::new, |s| (*s).to_owned())
}
