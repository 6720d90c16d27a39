//! The numbers kpix stores (KPI values and thresholds): exact decimals
//! between -10^18 and 10^18 with at most 10 decimals. Every such number
//! fits a `Decimal` exactly (18 + 10 digits), so none is ever rounded; the
//! text of a number is read exactly, digit by digit, never through a float.

use rust_decimal::Decimal;

/// Most digits after the decimal point (trailing zeros aside).
pub const MAX_DECIMALS: u32 = 10;
/// Largest magnitude: 10^18.
pub const MAX_ABS: i64 = 1_000_000_000_000_000_000;

/// A number kpix does not store, and what to send instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("must be a number such as 12.5")]
    NotANumber,
    #[error("must be a number between -10^18 and 10^18")]
    OutOfRange,
    #[error("must be a number with at most 10 decimals")]
    TooManyDecimals,
}

/// `value` when kpix can store it.
pub fn check_number(value: Decimal) -> Result<Decimal, NumberError> {
    if value.abs() > Decimal::from(MAX_ABS) {
        Err(NumberError::OutOfRange)
    } else if value.normalize().scale() > MAX_DECIMALS {
        Err(NumberError::TooManyDecimals)
    } else {
        Ok(value)
    }
}

/// Reads the text of a JSON number (`12.5`, `-0.25`, `1.5e3`) exactly. The
/// decimals written are kept (`12.50` stays `12.50`) up to [`MAX_DECIMALS`].
pub fn parse_number(text: &str) -> Result<Decimal, NumberError> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, parse_exponent(exponent)?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(NumberError::NotANumber);
    }
    if mantissa.ends_with('.') {
        return Err(NumberError::NotANumber);
    }
    // the number is `digits` × 10^-written_scale
    let digits = format!("{whole}{fraction}");
    let written_scale = i64::try_from(fraction.len())
        .unwrap_or(i64::MAX)
        .saturating_sub(exponent);
    // keep the decimals as written when they fit
    let shown = u32::try_from(written_scale.clamp(0, i64::from(MAX_DECIMALS))).unwrap_or(0);
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Ok(Decimal::new(0, shown));
    }
    let kept = significant.trim_end_matches('0');
    let trailing_zeros = i64::try_from(significant.len() - kept.len()).unwrap_or(i64::MAX);
    // decimals that are not trailing zeros
    let scale = written_scale.saturating_sub(trailing_zeros);
    if scale > i64::from(MAX_DECIMALS) {
        return Err(NumberError::TooManyDecimals);
    }
    // digits before the decimal point: more than 19 is beyond 10^18
    let whole_digits = i64::try_from(kept.len())
        .unwrap_or(i64::MAX)
        .saturating_sub(scale);
    if whole_digits > 19 {
        return Err(NumberError::OutOfRange);
    }
    // kept × 10^-scale, as an integer count of 10^-MAX_DECIMALS: at most
    // 29 digits, well inside an i128
    let mut units: i128 = kept.parse().map_err(|_| NumberError::NotANumber)?;
    for _ in scale..i64::from(MAX_DECIMALS) {
        units *= 10;
    }
    let limit = i128::from(MAX_ABS) * 10_i128.pow(MAX_DECIMALS);
    if units > limit {
        return Err(NumberError::OutOfRange);
    }
    if negative {
        units = -units;
    }
    let mut value = Decimal::from_i128_with_scale(units, MAX_DECIMALS);
    value.rescale(shown);
    Ok(value)
}

fn parse_exponent(text: &str) -> Result<i64, NumberError> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotANumber);
    }
    let significant = digits.trim_start_matches('0');
    // an exponent beyond an i64 makes any non-zero number out of range or
    // too precise: a large stand-in says as much without overflowing
    let magnitude = match significant.parse::<i64>() {
        _ if significant.is_empty() => 0,
        Ok(n) => n.min(i64::MAX / 4),
        Err(_) => i64::MAX / 4,
    };
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parsed(text: &str) -> Result<String, NumberError> {
        parse_number(text).map(|d| d.to_string())
    }

    #[test]
    fn numbers_are_read_exactly_with_their_decimals() {
        assert_eq!(parsed("12.5"), Ok("12.5".into()));
        assert_eq!(parsed("12.50"), Ok("12.50".into()));
        assert_eq!(parsed("-0.25"), Ok("-0.25".into()));
        assert_eq!(parsed("0"), Ok("0".into()));
        assert_eq!(parsed("-0"), Ok("0".into()));
        assert_eq!(parsed("0.00"), Ok("0.00".into()));
        assert_eq!(parsed("1e3"), Ok("1000".into()));
        assert_eq!(parsed("1.5E+2"), Ok("150".into()));
        assert_eq!(parsed("15e-1"), Ok("1.5".into()));
        assert_eq!(parsed("0.0000000001"), Ok("0.0000000001".into()));
        assert_eq!(
            parsed("1000000000000000000"),
            Ok("1000000000000000000".into())
        );
        assert_eq!(
            parsed("-999999999999999999.9999999999"),
            Ok("-999999999999999999.9999999999".into())
        );
        // zeros beyond the tenth decimal change nothing
        assert_eq!(parsed("1.000000000000"), Ok("1.0000000000".into()));
        assert_eq!(parsed("0e99999999999999999999"), Ok("0".into()));
    }

    #[test]
    fn out_of_range_too_precise_and_malformed_numbers_are_refused() {
        use NumberError::*;
        for (text, error) in [
            ("1000000000000000000.0000000001", OutOfRange),
            ("1e19", OutOfRange),
            ("-1e40", OutOfRange),
            ("79228162514264337593543950336", OutOfRange),
            ("1e99999999999999999999", OutOfRange),
            ("0.30000000000000004", TooManyDecimals),
            ("0.00000000001", TooManyDecimals),
            ("1e-11", TooManyDecimals),
            ("1.5e-300", TooManyDecimals),
            ("1e-99999999999999999999", TooManyDecimals),
            ("", NotANumber),
            ("-", NotANumber),
            ("12,5", NotANumber),
            ("1.", NotANumber),
            (".5", NotANumber),
            ("1e", NotANumber),
            ("NaN", NotANumber),
            ("Infinity", NotANumber),
            (" 1", NotANumber),
        ] {
            assert_eq!(parse_number(text), Err(error), "{text}");
        }
    }

    #[test]
    fn stored_decimals_are_checked_the_same_way() {
        assert_eq!(check_number(Decimal::new(125, 1)), Ok(Decimal::new(125, 1)));
        assert_eq!(
            check_number(Decimal::new(1, 11)),
            Err(NumberError::TooManyDecimals)
        );
        assert_eq!(
            check_number(Decimal::from(MAX_ABS) + Decimal::ONE),
            Err(NumberError::OutOfRange)
        );
    }

    proptest! {
        #[test]
        fn every_storable_number_reads_back_as_written(
            units in -(i128::from(MAX_ABS) * 10_i128.pow(MAX_DECIMALS))..=(i128::from(MAX_ABS) * 10_i128.pow(MAX_DECIMALS)),
            scale in 0_u32..=MAX_DECIMALS,
        ) {
            let mut value = Decimal::from_i128_with_scale(units, MAX_DECIMALS);
            value.rescale(scale);
            let text = value.to_string();
            let read = parse_number(&text);
            // a rescale that dropped digits wrote a different, still storable, number
            prop_assert_eq!(read.map(|d| d.to_string()), Ok(text.clone()));
            prop_assert_eq!(check_number(value), Ok(value));
        }

        #[test]
        fn scientific_forms_read_as_their_plain_forms(
            mantissa in -999_999_999_i64..999_999_999,
            exponent in -14_i32..9,
        ) {
            let text = format!("{mantissa}e{exponent}");
            let power = Decimal::from_i128_with_scale(10_i128.pow(exponent.unsigned_abs()), 0);
            let plain = if exponent >= 0 {
                Decimal::from(mantissa) * power
            } else {
                Decimal::from(mantissa) / power
            };
            match parse_number(&text) {
                Ok(read) => prop_assert_eq!(read.normalize(), plain.normalize()),
                Err(NumberError::TooManyDecimals) => prop_assert!(plain.normalize().scale() > MAX_DECIMALS),
                Err(other) => prop_assert!(false, "{text}: {other}"),
            }
        }
    }
}
