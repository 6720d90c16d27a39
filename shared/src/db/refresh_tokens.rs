//! Refresh tokens: stored hashed, rotated on each use; reuse of a rotated
//! token revokes its whole family.
use crate::ids::{OrganizationId, SessionId, UserId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn insert(
    conn: &mut PgConnection,
    user_id: UserId,
    family_id: SessionId,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into refresh_token (id, user_id, family_id, token_hash, expires_at) \
         values ($1, $2, $3, $4, $5)",
        Uuid::now_v7(),
        user_id as UserId,
        family_id as SessionId,
        token_hash,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What presenting a refresh token leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live and is now rotated: issue a successor in this family.
    Rotated {
        user_id: UserId,
        family_id: SessionId,
    },
    /// The token had already been rotated: its family is now revoked.
    Reused {
        user_id: UserId,
        family_id: SessionId,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Marks the token rotated in one statement, so of concurrent presentations
/// exactly one wins; a loser finds it rotated and is treated as a reuse.
pub async fn rotate(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Rotation, sqlx::Error> {
    let won = sqlx::query!(
        "update refresh_token set rotated_at = now() \
         where token_hash = $1 and rotated_at is null and revoked_at is null and expires_at > now() \
         returning user_id as \"user_id: UserId\", family_id as \"family_id: SessionId\"",
        token_hash,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(won) = won {
        return Ok(Rotation::Rotated {
            user_id: won.user_id,
            family_id: won.family_id,
        });
    }
    let rotated = sqlx::query!(
        r#"select user_id as "user_id: UserId", family_id as "family_id: SessionId" from refresh_token where token_hash = $1 and rotated_at is not null"#,
        token_hash,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match rotated.map(|r| (r.user_id, r.family_id)) {
        Some((user_id, family_id)) => {
            revoke_family(conn, family_id).await?;
            Ok(Rotation::Reused { user_id, family_id })
        }
        None => Ok(Rotation::Invalid),
    }
}

pub async fn revoke_family(
    conn: &mut PgConnection,
    family_id: SessionId,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "update refresh_token set revoked_at = now() where family_id = $1 and revoked_at is null",
        family_id as SessionId,
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// The organization of a refresh token's user, found before any organization
/// is set (row-level security): a refresh or a logout then acts for it.
pub async fn organization_of(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select kpix_session_organization($1) as "organization: OrganizationId""#,
        token_hash,
    )
    .fetch_one(conn)
    .await
}

/// The family of a live token, for logout.
pub async fn family_of(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<(UserId, SessionId)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select user_id as "user_id: UserId", family_id as "family_id: SessionId" from refresh_token where token_hash = $1"#,
        token_hash,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.user_id, r.family_id)))
}

/// Ends every session of a user but `keep` (after a password change).
pub async fn revoke_other_sessions(
    conn: &mut PgConnection,
    user_id: UserId,
    keep: SessionId,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "update refresh_token set revoked_at = now() \
         where user_id = $1 and family_id <> $2 and revoked_at is null",
        user_id as UserId,
        keep as SessionId,
    )
    .execute(conn)
    .await?
    .rows_affected())
}

pub async fn revoke_all_of_user(
    conn: &mut PgConnection,
    user_id: UserId,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "update refresh_token set revoked_at = now() where user_id = $1 and revoked_at is null",
        user_id as UserId,
    )
    .execute(conn)
    .await?
    .rows_affected())
}
