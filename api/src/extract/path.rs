//! Path parameters; an id that is not a UUID is a 400 naming the parameter.
use axum::{
    extract::{FromRequestParts, rejection::PathRejection},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::bad_request(
                "invalid_path_parameter",
                format!("invalid path parameter: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::bad_request(
                "invalid_path_parameter",
                other.body_text(),
            )),
        }
    }
}
