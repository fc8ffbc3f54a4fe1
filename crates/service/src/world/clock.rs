//! The world's clock: the thread's own, starting at [`START`] and moved only
//! by the test ([`advance`]), so retries, leases, payment windows and
//! subscription periods pass in no time.

use std::cell::Cell;

use chrono::{DateTime, Duration, TimeZone, Utc};

/// When every world starts: 2026-11-22 12:00 UTC.
pub const START: i64 = 1_795_348_800;

thread_local! {
    static NOW: Cell<DateTime<Utc>> = Cell::new(start());
}

fn start() -> DateTime<Utc> {
    Utc.timestamp_opt(START, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The world's now.
pub fn now() -> DateTime<Utc> {
    NOW.with(Cell::get)
}

/// Moves the world's clock on by `by`.
pub fn advance(by: Duration) {
    NOW.with(|c| c.set(c.get() + by));
}

/// Back to [`START`].
pub(crate) fn reset() {
    NOW.with(|c| c.set(start()));
}

/// Sets the world's clock to `at`.
pub fn set_now(at: DateTime<Utc>) {
    NOW.with(|c| c.set(at));
}
