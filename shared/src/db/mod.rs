//! Database access: one module per aggregate, free async functions taking an
//! executor so the API and the worker share them. A missing row is `None`;
//! the caller decides it is a 404.

/// SQL assembled from constant fragments of this crate (column lists,
/// visibility conditions), never from input; values are always bound.
macro_rules! sql {
    ($($arg:tt)*) => {
        sqlx::AssertSqlSafe(format!($($arg)*))
    };
}
pub mod action_plans;
pub mod comments;
pub mod dashboards;
pub mod import_jobs;
pub mod kpi_values;
pub mod kpis;
pub mod login_throttle;
pub mod organizations;
pub mod refresh_tokens;
pub mod reports;
pub mod teams;
pub mod users;

use std::time::Duration;

use sqlx::{PgPool, postgres::PgPoolOptions};
use uuid::Uuid;

use crate::domain::kpi::Role;

/// The application's migrations (the queue's own come from apalis-postgres).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // no ping at every checkout (a round trip per checkout): a connection
        // the server dropped fails its next query, sqlx discards it, and that
        // one request gets a 503
        .test_before_acquire(false)
        .connect(url)
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("application migrations failed: {0}")]
    App(#[from] sqlx::migrate::MigrateError),
    #[error("queue migrations failed: {0}")]
    Queue(#[from] apalis_postgres::Error),
}

/// Applies pending migrations. Both migrators hold a Postgres advisory lock
/// while they run, so replicas starting together apply each one once.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await?;
    apalis_postgres::PostgresStorage::setup(pool).await?;
    Ok(())
}

/// The worker does not migrate: it checks that the API has.
pub async fn schema_is_ready(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar(
        "select max(version) from _sqlx_migrations where success and to_regclass('apalis.jobs') is not null",
    )
    .fetch_one(pool)
    .await
    .or_else(|e| match &e {
        // the table does not exist yet: nothing has been migrated
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
        _ => Err(e),
    })?;
    Ok(applied.is_some_and(|v| v >= latest))
}

/// Who is asking: every query filters on `organization_id`, and visibility
/// of dashboards depends on the role and team memberships (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// SQL condition: dashboard `d` is visible to the caller bound as
/// `$1` (organization), `$2` (user), `$3` (is admin): an ADMIN sees every
/// dashboard; a USER those shared with everyone, their own, and those of
/// their teams. A private dashboard (its team was deleted) is its owner's.
pub const DASHBOARD_VISIBLE: &str = "d.organization_id = $1 and ($3 or d.owner_id = $2 \
     or (d.team_id is null and not d.is_private) \
     or exists (select 1 from team_member tm where tm.team_id = d.team_id and tm.user_id = $2))";

/// True when the error is the violation of the named unique constraint or index.
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// One page of a list: `limit` rows after the opaque `cursor` of the last
/// row of the previous page.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<C> {
    pub limit: i64,
    pub after: Option<C>,
}
