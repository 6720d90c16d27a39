//! The authenticated caller, from `Authorization: Bearer <access token>`.
//! The user is reloaded on every request with the token's session, so
//! deactivation, role changes, logout and password changes take effect at
//! once.
use axum::{extract::FromRequestParts, http::request::Parts};
use kpix_shared::{
    auth::tokens::Claims,
    db::{self, Caller, users::UserRow},
    ids::SessionId,
};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::{error::ApiError, state::AppState};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub caller: Caller,
    pub user: UserRow,
    /// The login session the access token belongs to.
    pub session_id: SessionId,
}

impl AuthUser {
    /// A transaction acting for the caller's organization, the only one
    /// row-level security lets it reach.
    pub async fn begin(&self, pool: &PgPool) -> Result<Transaction<'static, Postgres>, ApiError> {
        Ok(db::begin(pool, self.caller.organization_id).await?)
    }

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
        // the connection goes back to the pool at once (its read-only
        // transaction rolled back on the way)
        Ok(AuthConn::from_request_parts(parts, state).await?.auth)
    }
}

/// The caller with the transaction their lookup ran in, acting for their
/// organization, for handlers without a request body: one checkout per
/// request instead of two. A handler that writes commits it; one that reads
/// drops it (the rollback is sent with the connection's next use). (A
/// handler that reads a body takes [`AuthUser`], so that no connection is
/// held while a slow client sends it.)
pub struct AuthConn {
    pub auth: AuthUser,
    pub conn: Transaction<'static, Postgres>,
}

impl FromRequestParts<AppState> for AuthConn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = access_claims(parts, state)?;
        // the signed token names the organization: the lookup already acts for it
        let mut conn = db::begin(&state.pool, claims.org).await?;
        let auth = load(&mut conn, &claims).await?;
        Ok(Self { auth, conn })
    }
}

/// The claims of a valid access token from the `Authorization` header.
fn access_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
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
    state
        .tokens
        .verify_access(token)
        .map_err(|_| ApiError::Unauthorized("invalid or expired token".into()))
}

/// The token's user, if still active in the token's organization and the
/// token's session still open.
async fn load(conn: &mut PgConnection, claims: &Claims) -> Result<AuthUser, ApiError> {
    let user = db::users::find_in_session(conn, claims.sub, claims.sid)
        .await?
        .filter(|u| u.is_active && u.organization_id == claims.org)
        .ok_or_else(|| ApiError::Unauthorized("invalid or expired token".into()))?;
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    Ok(AuthUser {
        caller: Caller {
            user_id: user.id,
            organization_id: user.organization_id,
            role: user.role,
        },
        user,
        session_id: claims.sid,
    })
}
