//! The one error type of the API, rendered as RFC 9457 problem+json with a
//! stable `code`. Internal errors are logged here and never sent to clients.
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The problem+json body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `kpi_not_found`.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    #[error("request timed out")]
    Timeout,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> String {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => (*code).to_owned(),
            Self::Unauthorized(_) => "unauthorized".into(),
            Self::Forbidden(_) => "forbidden".into(),
            Self::MethodNotAllowed => "method_not_allowed".into(),
            Self::NotFound(resource) => format!("{}_not_found", resource.replace(' ', "_")),
            Self::PayloadTooLarge(_) => "payload_too_large".into(),
            Self::UnsupportedMediaType(_) => "unsupported_media_type".into(),
            Self::Validation(_) => "validation_failed".into(),
            Self::TooManyRequests { .. } => "too_many_requests".into(),
            Self::Timeout => "timeout".into(),
            Self::Unavailable(_) => "unavailable".into(),
            Self::Internal(_) => "internal".into(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            Self::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            Self::TooManyRequests {
                retry_after_secs,
                detail,
            } => format!("{detail}; retry in {retry_after_secs} s"),
            other => other.to_string(),
        };
        let code = self.code();
        Problem {
            problem_type: format!("https://kpix.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code,
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if matches!(error, sqlx::Error::PoolTimedOut) {
            Self::Unavailable("database busy".into())
        } else if connection_lost(&error) {
            tracing::warn!(error = %error, "database connection lost");
            Self::Unavailable("database unavailable".into())
        } else {
            Self::Internal(anyhow::Error::new(error).context("database"))
        }
    }
}

/// A connection the server dropped or ended (restart, failover, terminated
/// session): the pool replaces it, and the request may be retried.
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        // the server ended the session (57P…) or the connection failed (08…)
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error")
            }
            // refusals are logged (the request span names the route and, when
            // known, the user), never with the token
            Self::Unauthorized(reason) => {
                tracing::warn!(status = 401, reason = %reason, "request refused: not authenticated")
            }
            Self::Forbidden(reason) => {
                tracing::warn!(status = 403, reason = %reason, "request refused: not allowed")
            }
            _ => {}
        }
        let problem = self.problem();
        let mut response = (self.status(), axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
