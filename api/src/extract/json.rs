//! A JSON body extractor: 415 without a JSON content type, 413 over the
//! limit, 400 for malformed JSON, 422 naming the field for invalid data.
use axum::{
    extract::{FromRequest, Request},
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected a body with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body too large".into())
            } else {
                ApiError::bad_request("malformed_body", rejection.body_text())
            }
        })?;
        parse(&bytes).map(Json)
    }
}

/// Deserializes a body, telling syntax errors (400) from data errors (422).
/// The body is read as JSON first, so a truncated or malformed body is a 400
/// whatever its beginning looks like.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("malformed JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = strip_position(&error.into_inner().to_string());
        // serde's path already ends with an unknown field, not with a missing one
        let field = match field_in_message(&message) {
            Some(f) if path == "." => f,
            Some(f) if path == f || path.ends_with(&format!(".{f}")) => path,
            Some(f) => format!("{path}.{f}"),
            None if path == "." => "body".into(),
            None => path,
        };
        ApiError::Validation(vec![FieldError::new(field, message)])
    })
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn field_in_message(message: &str) -> Option<String> {
    if !(message.starts_with("missing field") || message.starts_with("unknown field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: u8,
    }

    fn field_of(result: Result<Body, ApiError>) -> (u16, String) {
        match result {
            Err(ApiError::Validation(errors)) => (422, errors[0].field.clone()),
            Err(other) => (other.status().as_u16(), String::new()),
            Ok(_) => (200, String::new()),
        }
    }

    #[test]
    fn classifies_body_errors() {
        assert_eq!(
            field_of(parse(br#"{"email":"a@b.c","age":3}"#)),
            (200, String::new())
        );
        assert_eq!(
            field_of(parse(br#"{"email":"a@b.c""#)),
            (400, String::new())
        );
        assert_eq!(field_of(parse(br#"{"age":3}"#)), (422, "email".into()));
        assert_eq!(
            field_of(parse(br#"{"email":"x","age":"old"}"#)),
            (422, "age".into())
        );
        assert_eq!(
            field_of(parse(br#"{"email":"x","age":3,"role":"ADMIN"}"#)),
            (422, "role".into())
        );
        assert_eq!(
            field_of(parse(br#"{"email":"x","age":300}"#)),
            (422, "age".into())
        );
    }
}
