//! Money to and from a payment provider's integer minor units, exactly.
//!
//! How many decimals a currency's minor unit has is data (ISO 4217, as
//! Stripe applies it): most have two, the zero-decimal ones none, a few
//! three. A new currency is a row here, not new code. An amount finer than
//! its currency's minor unit is refused, never rounded: rounding happens
//! where prices are computed, not on the way to the provider.

use orderflow_core::{Currency, Money};
use rust_decimal::Decimal;

/// Currencies whose amounts are whole units (Stripe's zero-decimal list).
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
];

/// Currencies with three decimals.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// How many decimals the minor unit of the ISO code `code` (any case) has.
pub fn minor_exponent(code: &str) -> u32 {
    let code = code.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    }
}

/// `amount` as an integer count of its currency's minor unit (€192.96 →
/// 19296). Errors when the amount has more decimals than the minor unit,
/// or does not fit an `i64`.
pub fn to_minor_units(amount: &Money) -> Result<i64, String> {
    let exponent = minor_exponent(amount.currency.code());
    let mut scaled = amount.amount.normalize();
    if scaled.scale() > exponent {
        return Err(format!(
            "{} {} is finer than the currency's minor unit",
            amount.amount,
            amount.currency.code()
        ));
    }
    scaled.rescale(exponent);
    i64::try_from(scaled.mantissa()).map_err(|_| format!("{} is too large to charge", amount.amount))
}

/// `minor` minor units of the ISO code `code` (any case) as money; errors
/// for a currency we do not bill in.
pub fn from_minor_units(minor: i64, code: &str) -> Result<Money, String> {
    let upper = code.to_ascii_uppercase();
    let currency =
        Currency::from_code(&upper).ok_or_else(|| format!("paid in `{upper}`, not in a currency we bill in"))?;
    Ok(Money {
        amount: Decimal::new(minor, minor_exponent(&upper)),
        currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn euros_are_cents_both_ways_exactly() {
        for (amount, minor) in [
            (dec!(192.96), 19296),
            (dec!(10), 1000),
            (dec!(0.5), 50),
            (dec!(81600.00), 8_160_000),
        ] {
            assert_eq!(to_minor_units(&Money::eur(amount)), Ok(minor), "{amount}");
            let back = from_minor_units(minor, "eur").unwrap();
            assert_eq!(back.amount, amount, "{minor}");
            assert_eq!(back.currency, Currency::Eur);
        }
    }

    #[test]
    fn an_amount_finer_than_a_cent_is_refused_not_rounded() {
        assert!(to_minor_units(&Money::eur(dec!(1.005))).is_err());
        // Trailing zeros are not finer.
        assert_eq!(to_minor_units(&Money::eur(dec!(1.0500))), Ok(105));
    }

    #[test]
    fn the_minor_unit_is_data_per_currency() {
        assert_eq!(minor_exponent("jpy"), 0);
        assert_eq!(minor_exponent("KRW"), 0);
        assert_eq!(minor_exponent("kwd"), 3);
        assert_eq!(minor_exponent("eur"), 2);
        assert_eq!(minor_exponent("usd"), 2);
    }

    #[test]
    fn a_currency_we_do_not_bill_in_is_named() {
        let err = from_minor_units(100, "usd").unwrap_err();
        assert!(err.contains("USD"), "{err}");
    }
}
