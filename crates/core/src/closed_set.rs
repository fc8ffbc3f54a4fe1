//! Closed sets of names: enums with one stable wire name per variant.
//!
//! One macro, so every closed set parses, prints and serializes the same way,
//! and `ALL` lets tests and database `CHECK`s enumerate the members.

/// A name that is not a member of the set being parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownName {
    /// Which set was being parsed ("order state", "region", ...).
    pub kind: &'static str,
    /// The text that did not parse.
    pub value: String,
}

/// What every closed set offers, so parsers can treat them alike.
pub trait ClosedSet: Sized + Copy + std::str::FromStr + 'static {
    /// The set's name in messages ("region").
    const KIND: &'static str;
    /// Every member's wire name.
    fn wire_names() -> Vec<&'static str>;
    /// Parses a wire name.
    fn parse_name(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable wire and database name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// Every member's wire name, for error messages that list what is accepted.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl $crate::closed_set::ClosedSet for $name {
            const KIND: &'static str = $kind;

            fn wire_names() -> Vec<&'static str> {
                Self::names()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::closed_set::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err($crate::closed_set::UnknownName { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use closed_set;
