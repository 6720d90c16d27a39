//! Organizations: created by signup, one per customer.
use crate::ids::OrganizationId;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganizationRow {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Inserts an organization whose id the caller chose: a signup's
/// transaction acts for it (row-level security) before it exists.
pub async fn insert(
    conn: &mut PgConnection,
    id: OrganizationId,
    name: &str,
) -> Result<OrganizationRow, sqlx::Error> {
    sqlx::query_as!(
        OrganizationRow,
        "insert into organization (id, name) values ($1, $2) returning id, name, created_at",
        id as OrganizationId,
        name,
    )
    .fetch_one(conn)
    .await
}

pub async fn find(
    conn: &mut PgConnection,
    id: OrganizationId,
) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as!(
        OrganizationRow,
        "select id, name, created_at from organization where id = $1",
        id as OrganizationId,
    )
    .fetch_optional(conn)
    .await
}
