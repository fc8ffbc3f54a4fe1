//! The application's clock: domain time (when an order was created, when a
//! job is due, when a subscription period ends) comes from here, never from
//! `Utc::now()` directly.
//!
//! In production it is the system clock. When the `clock` variable is
//! `adjustable` (tests and demonstrations only), it is the system clock plus
//! an offset that `POST /v1/internal/clock` moves forward and every component
//! reads from the key-value store at the start of a request, so a test can
//! let a month pass in a second. Bearer tokens are always checked against the
//! system clock: moving the app's time never extends a credential.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// The key under which the offset (whole milliseconds) is kept.
pub const OFFSET_KEY: &str = "clock/offset_ms";

/// The offset of this request's clock from the system clock, in milliseconds.
/// Spin instantiates a component per request, so this is per request.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The application's current time.
pub fn now() -> DateTime<Utc> {
    Utc::now() + offset()
}

/// How far the application's clock is ahead of the system clock.
pub fn offset() -> Duration {
    Duration::milliseconds(OFFSET_MS.load(Ordering::Relaxed))
}

/// Sets the offset for the rest of this request.
pub fn set_offset(offset: Duration) {
    OFFSET_MS.store(offset.num_milliseconds(), Ordering::Relaxed);
}

/// Which clock the `clock` variable selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// The system clock (the default, and the only choice in production).
    System,
    /// The system clock plus an offset kept in the key-value store.
    Adjustable,
}

impl std::str::FromStr for ClockSource {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "" | "system" => Ok(Self::System),
            "adjustable" => Ok(Self::Adjustable),
            other => Err(format!(
                "variable `clock` must be `system` or `adjustable`, not `{other}`"
            )),
        }
    }
}

/// Decodes a stored offset (absent: zero).
///
/// # Errors
/// When the stored bytes are not a whole number of milliseconds.
pub fn decode_offset(stored: Option<&[u8]>) -> Result<Duration, String> {
    let Some(bytes) = stored else {
        return Ok(Duration::zero());
    };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(Duration::milliseconds)
        .ok_or_else(|| format!("`{OFFSET_KEY}` holds no whole number of milliseconds"))
}

/// Encodes an offset for the key-value store.
pub fn encode_offset(offset: Duration) -> Vec<u8> {
    offset.num_milliseconds().to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_the_system_clock_until_an_offset_is_set() {
        set_offset(Duration::zero());
        let before = Utc::now();
        let now = now();
        assert!(now >= before && now <= Utc::now());

        set_offset(Duration::days(31));
        let ahead = self::now() - Utc::now();
        assert!(ahead > Duration::days(30) && ahead <= Duration::days(31));
        set_offset(Duration::zero());
    }

    #[test]
    fn the_clock_variable_accepts_system_or_adjustable_only() {
        assert_eq!("".parse(), Ok(ClockSource::System));
        assert_eq!("system".parse(), Ok(ClockSource::System));
        assert_eq!("adjustable".parse(), Ok(ClockSource::Adjustable));
        assert!("fast"
            .parse::<ClockSource>()
            .unwrap_err()
            .contains("`system` or `adjustable`"));
    }

    #[test]
    fn offsets_round_trip_through_the_store_encoding() {
        assert_eq!(decode_offset(None), Ok(Duration::zero()));
        let offset = Duration::seconds(86_400 * 40) + Duration::milliseconds(7);
        assert_eq!(decode_offset(Some(&encode_offset(offset))), Ok(offset));
        assert!(decode_offset(Some(b"soon")).is_err());
    }
}
