//! The authenticated caller, from `Authorization: Bearer <access token>`.
//! The user is reloaded on every request, so deactivation and role changes
//! take effect at once.
use axum::{extract::FromRequestParts, http::request::Parts};
use kpix_shared::db::{self, Caller, users::UserRow};

use crate::{error::ApiError, state::AppState};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub caller: Caller,
    pub user: UserRow,
}

impl AuthUser {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.caller.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this action needs the ADMIN role"))
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let claims = state
            .tokens
            .verify_access(token)
            .map_err(|_| ApiError::Unauthorized("invalid or expired token".into()))?;
        let mut conn = state.pool.acquire().await?;
        let user = db::users::find_by_id(&mut conn, claims.sub)
            .await?
            .filter(|u| u.is_active && u.organization_id == claims.org)
            .ok_or_else(|| ApiError::Unauthorized("invalid or expired token".into()))?;
        Ok(Self {
            caller: Caller {
                user_id: user.id,
                organization_id: user.organization_id,
                role: user.role,
            },
            user,
        })
    }
}
