//! Money: a decimal amount with its currency.
//!
//! Never a float. Arithmetic that mixes currencies or overflows is an error;
//! rounding happens only where a caller asks for it, to cents, half away from
//! zero. On the wire an amount is a decimal string (`"192.96"`).

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The currencies we bill in. The catalog prices in euros only; the type
/// exists so a foreign amount (say, from a payment provider) cannot be added
/// to ours by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    /// Euro, two minor units.
    #[serde(rename = "EUR")]
    Eur,
}

impl Currency {
    /// ISO 4217 code.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
        }
    }

    /// Parses an ISO 4217 code (upper case).
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "EUR" => Some(Currency::Eur),
            _ => None,
        }
    }
}

/// Money arithmetic that cannot give a meaningful answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The two amounts are in different currencies.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(&'static str, &'static str),
    /// The result does not fit a decimal.
    #[error("amount overflow")]
    Overflow,
}

/// An amount of money in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount, serialized as a decimal string.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// An amount in euros.
    pub const fn eur(amount: Decimal) -> Self {
        Self {
            amount,
            currency: Currency::Eur,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self {
            // Scale 2, so it prints "0.00" like every other amount.
            amount: Decimal::from_parts(0, 0, 0, false, 2),
            currency,
        }
    }

    /// `self + other`, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_add(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// `self - other`, refusing mixed currencies and overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_sub(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// `self × factor`, unrounded.
    pub fn checked_mul(self, factor: Decimal) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(factor).ok_or(MoneyError::Overflow)?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// Rounded to cents, half away from zero: the one rounding rule we bill
    /// by. The result always has exactly two decimals, so it prints as
    /// `"81600.00"`, never `"81600"` or `"81600.0"`.
    pub fn round_to_cents(self) -> Money {
        let mut amount = self
            .amount
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        amount.rescale(2);
        Money {
            amount,
            currency: self.currency,
        }
    }

    /// The absolute difference between two amounts of one currency.
    pub fn abs_diff(self, other: Money) -> Result<Money, MoneyError> {
        let d = self.checked_sub(other)?;
        Ok(Money {
            amount: d.amount.abs(),
            currency: d.currency,
        })
    }

    /// Sums amounts of one currency; an empty sum is zero in `currency`.
    pub fn sum<I: IntoIterator<Item = Money>>(currency: Currency, items: I) -> Result<Money, MoneyError> {
        items.into_iter().try_fold(Money::zero(currency), Money::checked_add)
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(
                self.currency.code(),
                other.currency.code(),
            ))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_serialize_as_decimal_strings() {
        let json = serde_json::to_string(&Money::eur(dec!(192.96))).unwrap();
        assert_eq!(json, r#"{"amount":"192.96","currency":"EUR"}"#);
    }

    #[test]
    fn rounding_to_cents_is_half_away_from_zero() {
        assert_eq!(Money::eur(dec!(0.125)).round_to_cents().amount, dec!(0.13));
        assert_eq!(Money::eur(dec!(0.124)).round_to_cents().amount, dec!(0.12));
        assert_eq!(Money::eur(dec!(-0.125)).round_to_cents().amount, dec!(-0.13));
    }

    #[test]
    fn zero_prints_with_cents() {
        assert_eq!(
            serde_json::to_value(Money::zero(Currency::Eur)).unwrap()["amount"],
            "0.00"
        );
    }

    #[test]
    fn rounded_amounts_always_print_two_decimals() {
        assert_eq!(Money::eur(dec!(81600)).round_to_cents().amount.to_string(), "81600.00");
        assert_eq!(
            Money::eur(dec!(81600.000)).round_to_cents().amount.to_string(),
            "81600.00"
        );
        assert_eq!(Money::eur(dec!(0.5)).round_to_cents().amount.to_string(), "0.50");
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let max = Money::eur(Decimal::MAX);
        assert_eq!(max.checked_add(Money::eur(dec!(1))), Err(MoneyError::Overflow));
        assert_eq!(max.checked_mul(dec!(2)), Err(MoneyError::Overflow));
    }

    fn cents() -> impl Strategy<Value = Money> {
        (-1_000_000_000i64..1_000_000_000).prop_map(|c| Money::eur(Decimal::new(c, 2)))
    }

    proptest! {
        #[test]
        fn addition_is_commutative_and_associative(a in cents(), b in cents(), c in cents()) {
            prop_assert_eq!(a.checked_add(b), b.checked_add(a));
            let left = a.checked_add(b).unwrap().checked_add(c).unwrap();
            let right = a.checked_add(b.checked_add(c).unwrap()).unwrap();
            prop_assert_eq!(left, right);
        }

        #[test]
        fn subtraction_undoes_addition(a in cents(), b in cents()) {
            prop_assert_eq!(a.checked_add(b).unwrap().checked_sub(b).unwrap(), a);
        }

        #[test]
        fn rounding_cents_is_idempotent(a in cents(), f in 0u32..10_000) {
            let x = a.checked_mul(Decimal::new(i64::from(f), 3)).unwrap().round_to_cents();
            prop_assert_eq!(x.round_to_cents(), x);
        }
    }
}
