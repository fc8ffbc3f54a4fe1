//! Identifiers. Parsed once at the boundary; raw strings never reach the domain.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An identifier that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// Not a UUID in its canonical hyphenated form.
    #[error("expected a UUID such as 0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a")]
    NotUuid,
    /// A tenant id must be 1–64 characters of `a-z`, `0-9`, `-` and `_`.
    #[error("expected 1-64 characters of a-z, 0-9, '-' and '_'")]
    BadTenant,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID the caller generated (the domain makes none itself).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated form, so one id has one spelling.
                if s.len() != 36 {
                    return Err(ParseIdError::NotUuid);
                }
                Uuid::parse_str(s).map(Self).map_err(|_| ParseIdError::NotUuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// An order's identity; also the Kafka key of its events, so one order's
    /// events stay in order.
    OrderId
);
uuid_id!(
    /// One line of an order.
    ItemId
);

/// The tenant an authenticated caller belongs to. It only ever comes from a
/// verified credential, never from a request body or path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// The id as stored and signed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseIdError::BadTenant)
        }
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_id_round_trips_through_its_display_form() {
        let id: OrderId = "0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a".parse().unwrap();
        assert_eq!(id.to_string(), "0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a");
    }

    #[test]
    fn a_braced_or_simple_uuid_is_not_an_order_id() {
        assert!("0190f5c47b1e7cc09a7e3c2b1f0e4d5a".parse::<OrderId>().is_err());
        assert!("{0190f5c4-7b1e-7cc0-9a7e-3c2b1f0e4d5a}".parse::<OrderId>().is_err());
    }

    #[test]
    fn tenant_ids_are_lowercase_slugs() {
        assert!("acme-cloud_1".parse::<TenantId>().is_ok());
        assert_eq!("Acme".parse::<TenantId>(), Err(ParseIdError::BadTenant));
        assert_eq!("".parse::<TenantId>(), Err(ParseIdError::BadTenant));
        assert!("a".repeat(65).parse::<TenantId>().is_err());
    }
}
