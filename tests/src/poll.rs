//! Polling with a deadline: the only waiting the tests do.

use std::time::{Duration, Instant};

/// Calls `check` until it returns `Some`, or panics with `what` after
/// `timeout`. The pause between attempts is short and is not a
/// synchronisation point: the condition itself is what the test waits for.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
