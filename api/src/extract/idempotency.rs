//! The `Idempotency-Key` header: a client that retries a request with the
//! same key gets the first request's result rather than a second one.
use axum::{extract::FromRequestParts, http::request::Parts};

use crate::error::ApiError;

/// The longest key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The key, trimmed; `None` when the header is absent. A present key that is
/// empty, too long or not visible ASCII is a 422.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
            .ok_or_else(|| {
                ApiError::invalid(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible characters"),
                )
            })?;
        Ok(Self(Some(key.to_owned())))
    }
}
