//! Numbers in request bodies: JSON numbers only (`"12.5"` is refused, so
//! NaN and infinities cannot be sent), read exactly from their digits.
//! Decimals follow the storage rule of `kpix_shared::domain::number`;
//! integers accept any integral JSON number (`66` or `66.0`, as JSON Schema
//! counts integers).
use std::borrow::Cow;

use kpix_shared::domain::number::{MAX_ABS, MAX_DECIMALS, check_number, parse_number};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, RefOr, Schema, Type, schema::SchemaType},
};

/// The text of a JSON number, or what to send instead.
fn number_text(value: Value, expected: &str) -> Result<String, String> {
    match value {
        // the workspace builds serde_json with arbitrary_precision: the digits as sent
        Value::Number(number) => Ok(number.to_string()),
        Value::String(_) => Err(format!("{expected}, not a string")),
        _ => Err(expected.to_owned()),
    }
}

/// A KPI value or threshold: a JSON number between -10^18 and 10^18 with at
/// most 10 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiDecimal(pub Decimal);

impl<'de> Deserialize<'de> for ApiDecimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = number_text(
            Value::deserialize(deserializer)?,
            "must be a JSON number such as 12.5",
        )
        .map_err(D::Error::custom)?;
        parse_number(&text)
            .and_then(check_number)
            .map(ApiDecimal)
            .map_err(D::Error::custom)
    }
}

impl PartialSchema for ApiDecimal {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Number))
            .minimum(Some(-MAX_ABS))
            .maximum(Some(MAX_ABS))
            // 1e-10 as JSON writes it (a power of 0.1 computed in floats is not)
            .multiple_of(format!("1e-{MAX_DECIMALS}").parse::<f64>().ok())
            .description(Some(
                "A JSON number (not a string) between -10^18 and 10^18 with at most 10 decimals.",
            ))
            .into()
    }
}

impl ToSchema for ApiDecimal {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Decimal")
    }
}

/// An integer from `MIN` to `MAX`: any integral JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundedInt<const MIN: i32, const MAX: i32>(pub i32);

impl<'de, const MIN: i32, const MAX: i32> Deserialize<'de> for BoundedInt<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let expected = format!("must be an integer from {MIN} to {MAX}");
        let text =
            number_text(Value::deserialize(deserializer)?, &expected).map_err(D::Error::custom)?;
        parse_number(&text)
            .ok()
            .filter(|n| n.fract().is_zero())
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| (MIN..=MAX).contains(n))
            .map(BoundedInt)
            .ok_or_else(|| D::Error::custom(expected))
    }
}

impl<const MIN: i32, const MAX: i32> PartialSchema for BoundedInt<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Integer))
            .minimum(Some(MIN))
            .maximum(Some(MAX))
            .into()
    }
}

impl<const MIN: i32, const MAX: i32> ToSchema for BoundedInt<MIN, MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Integer{MIN}To{MAX}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        serde_json::from_str::<Value>(json)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
    }

    #[test]
    fn decimals_are_json_numbers_read_exactly() {
        assert_eq!(
            read::<ApiDecimal>("12.50").map(|d| d.0.to_string()),
            Ok("12.50".into())
        );
        assert_eq!(
            read::<ApiDecimal>("-1e18").map(|d| d.0.to_string()),
            Ok("-1000000000000000000".into())
        );
        for (json, message) in [
            (
                r#""12.5""#,
                "must be a JSON number such as 12.5, not a string",
            ),
            (
                r#""NaN""#,
                "must be a JSON number such as 12.5, not a string",
            ),
            ("true", "must be a JSON number such as 12.5"),
            ("null", "must be a JSON number such as 12.5"),
            ("1e19", "must be a number between -10^18 and 10^18"),
            (
                "0.30000000000000004",
                "must be a number with at most 10 decimals",
            ),
        ] {
            assert_eq!(read::<ApiDecimal>(json), Err(message.to_owned()), "{json}");
        }
    }

    #[test]
    fn integers_are_any_integral_number_in_bounds() {
        type Progress = BoundedInt<0, 100>;
        assert_eq!(read::<Progress>("66"), Ok(BoundedInt(66)));
        assert_eq!(read::<Progress>("66.0"), Ok(BoundedInt(66)));
        assert_eq!(read::<Progress>("1e2"), Ok(BoundedInt(100)));
        assert_eq!(
            read::<Progress>(r#""50""#),
            Err("must be an integer from 0 to 100, not a string".to_owned())
        );
        for json in ["66.5", "101", "-1", "1e40", "null"] {
            assert_eq!(
                read::<Progress>(json),
                Err("must be an integer from 0 to 100".to_owned()),
                "{json}"
            );
        }
    }
}
