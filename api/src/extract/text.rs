//! Text fields of request bodies. Each type carries its rule, which is both
//! what the OpenAPI document says of the field and what `check` enforces
//! (through `kpix_shared::validate`): any JSON string is read, then `check`
//! trims it and pushes what is wrong, so that the handler answers one 422
//! with the errors of every field.
use std::{borrow::Cow, ops::Deref};

use kpix_shared::validate;
use serde::Deserialize;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type, schema::SchemaType},
};

use crate::error::FieldError;

/// Control characters other than tab and line breaks.
const CONTROL: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";
/// What `str::trim` removes (White_Space), controls aside.
const SPACE: &str = r"\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// No control character but tab and line breaks.
fn optional_pattern() -> String {
    format!("^[^{CONTROL}]*$")
}

/// The same, with at least one character that is neither space nor control.
fn required_pattern() -> String {
    format!(r"^[{SPACE}]*[^{CONTROL}{SPACE}\u0085][^{CONTROL}]*$")
}

fn string_schema(
    min_length: Option<usize>,
    max_length: usize,
    pattern: String,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .min_length(min_length)
        .max_length(Some(max_length))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// A required text of at most `MAX` characters: trimmed, not empty, no
/// control character but tab and line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(pub String);

impl<const MAX: usize> Text<MAX> {
    /// The most characters, as sent.
    pub const MAX: usize = MAX;

    /// The trimmed text; an empty string and an error for `field` when invalid.
    pub fn check(&self, field: &str, errors: &mut Vec<FieldError>) -> String {
        match validate::required_text(&self.0, MAX) {
            Ok(text) => text,
            Err(message) => {
                errors.push(FieldError::new(field, message));
                String::new()
            }
        }
    }
}

impl<const MAX: usize> Deref for Text<MAX> {
    type Target = str;

    /// The text as sent, not yet checked.
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> From<Text<MAX>> for String {
    /// The text as sent, not yet checked.
    fn from(text: Text<MAX>) -> String {
        text.0
    }
}

impl<const MAX: usize> PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(
            Some(1),
            MAX,
            required_pattern(),
            "Trimmed; not blank; no control character but tab and line breaks.",
        )
    }
}

impl<const MAX: usize> ToSchema for Text<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{MAX}"))
    }
}

/// An optional text of at most `MAX` characters: trimmed, blank is none, no
/// control character but tab and line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct OptionalText<const MAX: usize>(pub String);

impl<const MAX: usize> OptionalText<MAX> {
    /// The most characters, as sent.
    pub const MAX: usize = MAX;

    /// The trimmed text, `None` when blank or invalid (with an error for `field`).
    pub fn check(&self, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        match validate::optional_text(&self.0, MAX) {
            Ok(text) => text,
            Err(message) => {
                errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// [`Self::check`] of an optional field.
    pub fn check_option(
        value: Option<&Self>,
        field: &str,
        errors: &mut Vec<FieldError>,
    ) -> Option<String> {
        value.and_then(|text| text.check(field, errors))
    }
}

impl<const MAX: usize> Deref for OptionalText<MAX> {
    type Target = str;

    /// The text as sent, not yet checked.
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> From<OptionalText<MAX>> for String {
    /// The text as sent, not yet checked.
    fn from(text: OptionalText<MAX>) -> String {
        text.0
    }
}

impl<const MAX: usize> PartialSchema for OptionalText<MAX> {
    fn schema() -> RefOr<Schema> {
        string_schema(
            None,
            MAX,
            optional_pattern(),
            "Trimmed; blank is none; no control character but tab and line breaks.",
        )
    }
}

impl<const MAX: usize> ToSchema for OptionalText<MAX> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("OptionalText{MAX}"))
    }
}

/// Longest e-mail address (`validate::email`'s bound).
const EMAIL_MAX: usize = 254;

/// An e-mail address: trimmed, compared case-insensitively.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Email(pub String);

impl Email {
    pub fn check(&self, field: &str, errors: &mut Vec<FieldError>) -> String {
        match validate::email(&self.0) {
            Ok(email) => email,
            Err(message) => {
                errors.push(FieldError::new(field, message));
                String::new()
            }
        }
    }
}

impl PartialSchema for Email {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(EMAIL_MAX))
            .into()
    }
}

impl ToSchema for Email {}

/// A new password: 8 to 1024 characters, no NUL.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl Password {
    pub fn check(&self, field: &str, errors: &mut Vec<FieldError>) {
        if let Err(message) = validate::password(&self.0) {
            errors.push(FieldError::new(field, message));
        }
    }
}

impl Deref for Password {
    type Target = str;

    /// The password as sent, not yet checked.
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialSchema for Password {
    fn schema() -> RefOr<Schema> {
        string_schema(
            Some(validate::MIN_PASSWORD_CHARS),
            validate::MAX_PASSWORD_CHARS,
            r"^[^\u0000]*$".to_owned(),
            "8 to 1024 characters; no NUL; not one of the most common passwords.",
        )
    }
}

impl ToSchema for Password {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex_automata::meta::Regex;

    use super::*;

    #[test]
    fn checks_trim_bound_and_name_the_field() {
        let mut errors = Vec::new();
        assert_eq!(Text::<5>(" abc ".into()).check("title", &mut errors), "abc");
        assert!(errors.is_empty());
        Text::<5>("   ".into()).check("title", &mut errors);
        Text::<5>(" abcde ".into()).check("name", &mut errors);
        Text::<5>("a\u{0}b".into()).check("code", &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "name", "code"]);
        assert_eq!(errors[1].message, "must be at most 5 characters");

        let mut errors = Vec::new();
        assert_eq!(
            OptionalText::<5>("  ".into()).check("unit", &mut errors),
            None
        );
        assert_eq!(
            OptionalText::<5>("\tx\n".into()).check("unit", &mut errors),
            Some("x".into())
        );
        assert!(errors.is_empty());
    }

    /// Characters around every boundary of the rules: controls, the spaces
    /// `trim` removes, and ordinary letters.
    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                '\u{0}', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1f}', ' ', '\u{7f}', '\u{85}',
                '\u{9f}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{200b}', '\u{2028}',
                '\u{202f}', '\u{205f}', '\u{3000}', '\u{feff}', 'a', 'é', '€', '😀',
            ]),
            any::<char>(),
        ]
    }

    proptest! {
        /// The patterns the document publishes accept exactly what the checks accept.
        #[test]
        fn the_documented_patterns_are_the_rules(text in prop::collection::vec(tricky_char(), 0..6)) {
            let text: String = text.into_iter().collect();
            let required = Regex::new(&required_pattern()).expect("valid pattern");
            let optional = Regex::new(&optional_pattern()).expect("valid pattern");
            let mut errors = Vec::new();
            Text::<10>(text.clone()).check("f", &mut errors);
            prop_assert_eq!(required.is_match(&text), errors.is_empty(), "required {:?}", text);
            let mut errors = Vec::new();
            OptionalText::<10>(text.clone()).check("f", &mut errors);
            prop_assert_eq!(optional.is_match(&text), errors.is_empty(), "optional {:?}", text);
        }
    }
}
