//! PATCH bodies: an absent field is unchanged, an explicit null clears a
//! nullable field and is a 422 "cannot be null" for the others: one rule for
//! every PATCH.
use serde::{Deserialize, Deserializer, de::Error};

/// Use with `#[serde(default, deserialize_with = "double_option")]` on an
/// `Option<Option<T>>`: absent → `None`, null → `Some(None)`, value → `Some(Some(v))`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Use with `#[serde(default, deserialize_with = "non_null")]` and
/// `#[schema(nullable = false)]` on an `Option<T>` that cannot be cleared:
/// absent → `None`, value → `Some(v)`, null → a 422 naming the field.
pub fn non_null<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(D::Error::custom("cannot be null")),
    }
}

/// Applies a nullable patch field to the current value.
pub fn merge<T>(current: Option<T>, patch: Option<Option<T>>) -> Option<T> {
    match patch {
        None => current,
        Some(new) => new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "double_option")]
        note: Option<Option<String>>,
    }

    #[derive(Debug, Deserialize)]
    struct Named {
        #[serde(default, deserialize_with = "non_null")]
        name: Option<String>,
    }

    #[test]
    fn a_non_nullable_field_refuses_null_naming_it() {
        let parse = |s: &[u8]| crate::extract::json::parse::<Named>(s).map(|b| b.name);
        assert_eq!(parse(b"{}").ok(), Some(None));
        assert_eq!(parse(br#"{"name":"x"}"#).ok(), Some(Some("x".to_owned())));
        match parse(br#"{"name":null}"#) {
            Err(crate::error::ApiError::Validation(errors)) => {
                assert_eq!(errors[0].field, "name");
                assert_eq!(errors[0].message, "cannot be null");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absent_null_and_value_differ() {
        let parse = |s: &str| serde_json::from_str::<Body>(s).map(|b| b.note).ok();
        assert_eq!(parse("{}"), Some(None));
        assert_eq!(parse(r#"{"note":null}"#), Some(Some(None)));
        assert_eq!(parse(r#"{"note":"x"}"#), Some(Some(Some("x".to_owned()))));
        assert_eq!(merge(Some(1), None), Some(1));
        assert_eq!(merge(Some(1), Some(None)), None);
        assert_eq!(merge(Some(1), Some(Some(2))), Some(2));
    }
}
