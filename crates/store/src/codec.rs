//! Row ↔ domain conversions: times as RFC 3339 text, money as decimal text,
//! closed sets by their wire names, snapshots as JSON.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::error::StoreError;

/// A time as stored: RFC 3339 UTC with microseconds, so text order is time order.
pub fn fmt_time(t: DateTime<Utc>) -> String {
    crate::db::fmt_time(t)
}

/// Parses a stored time.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time `{s}`: {e}")))
}

/// Parses a stored decimal amount.
pub fn parse_decimal(s: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|e| StoreError::Corrupt(format!("amount `{s}`: {e}")))
}

/// Parses a stored closed-set or id value.
pub fn parse<T: FromStr>(what: &str, s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("{what} `{s}`")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_times_sort_as_text_in_time_order() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert!(fmt_time(a) < fmt_time(b));
        assert_eq!(fmt_time(a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(parse_time(&fmt_time(b)).unwrap(), b);
    }
}
