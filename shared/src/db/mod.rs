//! Database access: one module per aggregate, free async functions taking an
//! executor so the API and the worker share them. A missing row is `None`;
//! the caller decides it is a 404.

/// Pastes the SQL fragments shared by several queries into a query macro's
/// SQL, so that each is written once and still checked at compile time:
/// `shared_sql!(sqlx::query_as!(Row, "select ... where " + DASHBOARD_VISIBLE, ...))`.
/// sqlx's macros take string literals joined by `+`, not constants, and see
/// their input before other macros expand: the name is replaced by the
/// literal here, token by token.
macro_rules! shared_sql {
    ($($mac:ident)::+ ! ( $($body:tt)* )) => {
        shared_sql!(@munch [$($mac)::+] [] $($body)*)
    };
    // dashboard `d` is visible to the caller bound as `$1` (organization),
    // `$2` (user), `$3` (is admin): an ADMIN sees every dashboard; a USER
    // those shared with everyone, their own, and those of their teams. A
    // private dashboard (its team was deleted) is its owner's.
    (@munch $mac:tt [$($done:tt)*] DASHBOARD_VISIBLE $($rest:tt)*) => {
        shared_sql!(@munch $mac [$($done)*
            "d.organization_id = $1 and ($3 or d.owner_id = $2 \
             or (d.team_id is null and not d.is_private) \
             or exists (select 1 from team_member tm where tm.team_id = d.team_id and tm.user_id = $2))"
        ] $($rest)*)
    };
    // an import job is visible to the caller bound as above: an ADMIN sees
    // every job of the organization, a USER their own
    (@munch $mac:tt [$($done:tt)*] JOB_VISIBLE $($rest:tt)*) => {
        shared_sql!(@munch $mac [$($done)*
            "organization_id = $1 and ($3 or created_by = $2)"
        ] $($rest)*)
    };
    (@munch $mac:tt [$($done:tt)*] $token:tt $($rest:tt)*) => {
        shared_sql!(@munch $mac [$($done)* $token] $($rest)*)
    };
    (@munch [$($mac:ident)::+] [$($done:tt)*]) => {
        $($mac)::+!($($done)*)
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

use crate::{
    domain::kpi::Role,
    ids::{OrganizationId, UserId},
};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction, postgres::PgPoolOptions};

/// The application's migrations (the queue's own come from apalis-postgres).
/// A database one release ahead has applied migrations this binary does not
/// know: they are additive, so it runs on it (a rollback after an upgrade
/// must not crash-loop on "previously applied but is missing").
pub static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| {
        let mut migrator = sqlx::migrate!("../migrations");
        migrator.set_ignore_missing(true);
        migrator
    });

/// The pool the processes query through: every connection acts as the role
/// `kpix_app`, under row-level security (migration `..._row_level_security`),
/// whatever user `url` names; each transaction then sets its organization
/// ([`begin`]).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    pool_options(max_connections)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query!(
                    "select set_config('role', 'kpix_app', false) where current_user <> 'kpix_app'"
                )
                .fetch_optional(conn)
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// A pool acting as `url`'s own user, the owner of the schema, whom the
/// policies do not apply to: for the migrations and for kpix-demo, which
/// writes many organizations at once.
pub async fn connect_as_owner(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    pool_options(max_connections).connect(url).await
}

fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // no ping at every checkout (a round trip per checkout): a connection
        // the server dropped fails its next query, sqlx discards it, and that
        // one request gets a 503
        .test_before_acquire(false)
}

/// A transaction acting for `organization_id`: the only organization whose
/// rows row-level security lets it see or change (DESIGN §8). The setting is
/// sent with the BEGIN, in one round trip, and ends with the transaction.
pub async fn begin(
    pool: &PgPool,
    organization_id: OrganizationId,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    // sqlx does not tell how many wait for a connection: counted here
    let waiting = metrics::gauge!("kpix_db_pool_connections", "state" => "waiting");
    waiting.increment(1.0);
    let begun = pool.begin_with(begin_for(organization_id)).await;
    waiting.decrement(1.0);
    begun
}

/// [`begin`] on a connection already held.
pub async fn begin_on(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
    conn.begin_with(begin_for(organization_id)).await
}

/// `BEGIN` with the organization set for the transaction. Built from a UUID,
/// never from client text, and at run time: a `BEGIN` statement takes no
/// bound parameters, so no query macro can carry it.
fn begin_for(organization_id: OrganizationId) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "begin; select set_config('kpix.organization_id', '{organization_id}', true)"
    ))
}

/// Switches the transaction to another organization (a task that works
/// across organizations, such as the upload sweeper).
pub async fn act_for(
    conn: &mut PgConnection,
    organization_id: OrganizationId,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "select set_config('kpix.organization_id', $1::uuid::text, true)",
        organization_id as OrganizationId,
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot connect to migrate: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("application migrations failed: {0}")]
    App(#[from] sqlx::migrate::MigrateError),
    #[error("queue migrations failed: {0}")]
    Queue(#[from] apalis_postgres::Error),
}

/// Applies pending migrations as `url`'s user, the owner of the schema. Both
/// migrators hold a Postgres advisory lock while they run, so replicas
/// starting together apply each one once. The queue's tables are then opened
/// to `kpix_app`, which the processes act as.
pub async fn migrate(url: &str) -> Result<(), MigrateError> {
    let pool = connect_as_owner(url, 1).await?;
    MIGRATOR.run(&pool).await?;
    apalis_postgres::PostgresStorage::setup(&pool).await?;
    // statements on the schema, several in one: nothing to check at compile time
    sqlx::raw_sql(
        "grant usage on schema apalis to kpix_app; \
         grant select, insert, update, delete on all tables in schema apalis to kpix_app; \
         grant usage, select on all sequences in schema apalis to kpix_app; \
         grant execute on all functions in schema apalis to kpix_app",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

/// One round trip: the readiness probes' check that the database answers.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("select 1 as one").fetch_one(pool).await?;
    Ok(())
}

/// The worker does not migrate: it checks that the API has, as `url`'s own
/// user (`kpix_app` may not exist yet).
pub async fn schema_is_ready(url: &str) -> Result<bool, sqlx::Error> {
    let pool = connect_as_owner(url, 1).await?;
    let ready = latest_migration_applied(&pool).await;
    pool.close().await;
    ready
}

async fn latest_migration_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    // not checked at compile time: it reads the migrators' own tables, which
    // need not exist (that is what it tells), not the application's schema
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
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// SQL condition: dashboard `d` is visible to the caller bound as
/// `$1` (organization), `$2` (user), `$3` (is admin), for the statements
/// built at run time (reports); the checked ones paste it with
/// `shared_sql!`, which holds its text.
pub const DASHBOARD_VISIBLE: &str = shared_sql!(concat!(DASHBOARD_VISIBLE));

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
