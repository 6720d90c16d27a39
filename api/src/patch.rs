//! PATCH bodies: an absent field is unchanged, an explicit null clears it.
use serde::{Deserialize, Deserializer};

/// Use with `#[serde(default, deserialize_with = "double_option")]` on an
/// `Option<Option<T>>`: absent → `None`, null → `Some(None)`, value → `Some(Some(v))`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
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
