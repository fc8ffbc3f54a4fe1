//! Wall-clock time as providers report it (Unix seconds and milliseconds).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    i64::try_from(since_epoch().as_secs()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

fn since_epoch() -> std::time::Duration {
    // A clock before 1970 is not a case worth failing over in a simulator.
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
