//! JSON forms of dates, timestamps and decimals for the rows the lists send
//! by the hundred. The text is exactly what the crates' own serde impls write
//! (the tests below compare them); those impls format through `collect_str`,
//! which escapes `Display` output one fragment at a time, or parse their own
//! output back: on a page of 100 values that was a sixth of the API's time.
//! Use with `#[serde(serialize_with = "crate::json_format::…")]`.
use std::fmt::{Display, Write};

use arrayvec::ArrayString;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer, ser::Error};

/// `YYYY-MM-DD` (a sign and more digits outside years 0–9999).
pub fn date<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&displayed::<S::Error, 16>(date)?)
}

/// RFC 3339 in UTC with `Z`, with as many fractional digits as needed (0, 3,
/// 6 or 9).
pub fn timestamp<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A JSON number with the decimal's digits and scale (`12.50` stays `12.50`):
/// the workspace builds serde_json with `arbitrary_precision`, so a
/// `serde_json::Number` keeps the digits it is parsed from.
pub fn decimal<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    let digits = displayed::<S::Error, 48>(value)?;
    let number: serde_json::Number = digits
        .parse()
        .map_err(|e| S::Error::custom(format!("decimal {digits} is not a JSON number: {e}")))?;
    number.serialize(serializer)
}

pub fn optional_date<S: Serializer>(
    value: &Option<NaiveDate>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => date(value, serializer),
        None => serializer.serialize_none(),
    }
}

pub fn optional_timestamp<S: Serializer>(
    value: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => timestamp(value, serializer),
        None => serializer.serialize_none(),
    }
}

pub fn optional_decimal<S: Serializer>(
    value: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => decimal(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// `value`'s `Display` text, on the stack.
fn displayed<E: Error, const N: usize>(value: &impl Display) -> Result<ArrayString<N>, E> {
    let mut text = ArrayString::new();
    write!(text, "{value}").map_err(|_| E::custom("value too long to format"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Fast {
        #[serde(serialize_with = "date")]
        date: NaiveDate,
        #[serde(serialize_with = "timestamp")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "decimal")]
        value: Decimal,
        #[serde(serialize_with = "optional_date")]
        no_date: Option<NaiveDate>,
        #[serde(serialize_with = "optional_timestamp")]
        no_at: Option<DateTime<Utc>>,
        #[serde(serialize_with = "optional_decimal")]
        no_value: Option<Decimal>,
    }

    /// The same fields through the crates' own serde impls.
    #[derive(Serialize)]
    struct Reference {
        date: NaiveDate,
        at: DateTime<Utc>,
        value: Decimal,
        no_date: Option<NaiveDate>,
        no_at: Option<DateTime<Utc>>,
        no_value: Option<Decimal>,
    }

    fn both(date: NaiveDate, at: DateTime<Utc>, value: Decimal, some: bool) -> (String, String) {
        let fast = Fast {
            date,
            at,
            value,
            no_date: some.then_some(date),
            no_at: some.then_some(at),
            no_value: some.then_some(value),
        };
        let reference = Reference {
            date,
            at,
            value,
            no_date: fast.no_date,
            no_at: fast.no_at,
            no_value: fast.no_value,
        };
        (
            serde_json::to_string(&fast).expect("fast form"),
            serde_json::to_string(&reference).expect("reference form"),
        )
    }

    #[test]
    fn typical_values_are_written_as_the_crates_write_them() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).expect("a leap day");
        let at = DateTime::from_timestamp(1_732_560_000, 123_456_000).expect("a timestamp");
        let value: Decimal = "-12.50".parse().expect("a decimal");
        let (fast, reference) = both(date, at, value, true);
        assert_eq!(
            fast,
            r#"{"date":"2024-02-29","at":"2024-11-25T18:40:00.123456Z","value":-12.50,"no_date":"2024-02-29","no_at":"2024-11-25T18:40:00.123456Z","no_value":-12.50}"#
        );
        assert_eq!(fast, reference);
        let (fast, reference) = both(date, at, value, false);
        assert!(
            fast.ends_with(r#""no_date":null,"no_at":null,"no_value":null}"#),
            "{fast}"
        );
        assert_eq!(fast, reference);
    }

    proptest! {
        #[test]
        fn every_value_is_written_as_the_crates_write_it(
            // every date chrono can hold, years -262143 to 262142
            days in -95_746_000_i32..95_746_000,
            seconds in -8_210_298_412_800_i64..8_210_298_412_800,
            // whole seconds, milli-, micro- and nanoseconds
            nanos in prop_oneof![Just(0_u32), (0_u32..1000).prop_map(|n| n * 1_000_000),
                                 (0_u32..1_000_000).prop_map(|n| n * 1000), 0_u32..1_000_000_000],
            mantissa in -(1_i128 << 96) + 1..(1_i128 << 96),
            scale in 0_u32..=28,
            some: bool,
        ) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).expect("in chrono's range");
            let at = DateTime::from_timestamp(seconds, nanos).expect("in chrono's range");
            let value = Decimal::from_i128_with_scale(mantissa, scale);
            let (fast, reference) = both(date, at, value, some);
            prop_assert_eq!(fast, reference);
        }
    }
}
