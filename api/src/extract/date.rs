//! Dates in request bodies and query strings: `YYYY-MM-DD`, a real day,
//! between 1900-01-01 and 2199-12-31 (`kpix_shared::domain::period`'s rule:
//! outside it, a date is a typo or a probe and breaks the reports).
use std::borrow::Cow;

use chrono::NaiveDate;
use kpix_shared::domain::period::{FIRST_YEAR, LAST_YEAR, check_date};
use serde::{
    Deserialize, Deserializer,
    de::{self, Visitor},
};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type, schema::SchemaType},
};

/// The years FIRST_YEAR..=LAST_YEAR (1900 to 2199) as a pattern: clients
/// and schemathesis generate no date the server refuses.
const PATTERN: &str = "^(19[0-9]{2}|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$";

fn expected() -> String {
    format!("must be a date YYYY-MM-DD between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31")
}

/// A date as the API accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiDate(pub NaiveDate);

impl ApiDate {
    /// Reads `YYYY-MM-DD` exactly (no sign, no five-digit year, no time).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let shape = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape {
            return None;
        }
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
        let year = i32::try_from(number(0..4)?).ok()?;
        let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
        check_date(date).ok().map(ApiDate)
    }
}

impl<'de> Deserialize<'de> for ApiDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;

        impl<'de> Visitor<'de> for DateVisitor {
            type Value = ApiDate;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str(&expected())
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ApiDate, E> {
                ApiDate::parse(text).ok_or_else(|| E::custom(expected()))
            }

            // anything but a string gets the same words, not serde's
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ApiDate, E> {
                Err(E::custom(expected()))
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ApiDate, E> {
                Err(E::custom(expected()))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ApiDate, E> {
                Err(E::custom(expected()))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ApiDate, E> {
                Err(E::custom(expected()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<ApiDate, E> {
                Err(E::custom(expected()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<ApiDate, A::Error> {
                Err(de::Error::custom(expected()))
            }

            // numbers too: with arbitrary_precision they arrive as a map
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<ApiDate, A::Error> {
                Err(de::Error::custom(expected()))
            }
        }

        deserializer.deserialize_any(DateVisitor)
    }
}

impl PartialSchema for ApiDate {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(PATTERN))
            .description(Some(format!(
                "A day, YYYY-MM-DD, between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31."
            )))
            .into()
    }
}

impl ToSchema for ApiDate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Date")
    }
}

#[cfg(test)]
mod tests {
    use regex_automata::meta::Regex;

    use super::*;

    fn read(json: &str) -> Result<ApiDate, String> {
        serde_json::from_str::<serde_json::Value>(json)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
    }

    #[test]
    fn dates_are_days_between_1900_and_2199() {
        let day = |y, m, d| ApiDate(NaiveDate::from_ymd_opt(y, m, d).expect("a day"));
        assert_eq!(read(r#""2025-03-31""#), Ok(day(2025, 3, 31)));
        assert_eq!(read(r#""1900-01-01""#), Ok(day(1900, 1, 1)));
        assert_eq!(read(r#""2199-12-31""#), Ok(day(2199, 12, 31)));
        for json in [
            r#""1899-12-31""#,
            r#""2200-01-01""#,
            r#""9999-12-31""#,
            r#""0000-01-01""#,
            r#""+20250-01-01""#,
            r#""-0001-06-01""#,
            r#""2025-02-30""#,
            r#""2025-3-31""#,
            r#""2025-03-31T00:00:00""#,
            r#""31/03/2025""#,
            r#""""#,
            "20250331",
            "null",
            "{}",
        ] {
            assert_eq!(read(json), Err(expected()), "{json}");
        }
    }

    #[test]
    fn the_documented_pattern_is_the_year_rule() {
        let pattern = Regex::new(PATTERN).expect("valid pattern");
        for year in 0..=9999 {
            let text = format!("{year:04}-06-15");
            assert_eq!(
                pattern.is_match(&text),
                ApiDate::parse(&text).is_some(),
                "{text}"
            );
        }
    }
}
