//! Test databases: each test gets its own, cloned from a template that holds
//! the migrated schema, so no test pays for the migrations.
//!
//! The template is built once per schema on each PostgreSQL server: its name
//! carries a hash of the migrations (the application's and the queue's), so
//! a changed schema gets a template of its own. Test processes run in
//! parallel (nextest starts one per test): the first to miss the template
//! builds it under an advisory lock, under a temporary name renamed when
//! complete, and the others wait for the lock and then clone it.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::DEFAULT_ADMIN_URL;

/// The admin URL: `KPIX_TEST_ADMIN_URL` or [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var("KPIX_TEST_ADMIN_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its database name replaced by `database` (query kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{prefix}/{database}?{query}"),
        None => format!("{prefix}/{database}"),
    }
}

async fn admin_connection(admin_url: &str) -> PgConnection {
    PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {admin_url} (KPIX_TEST_ADMIN_URL): {e}"))
}

async fn execute(conn: &mut PgConnection, sql: String) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Creates a database with a unique name holding the migrated schema (a
/// clone of the template); returns its name.
pub(crate) async fn create_database(admin_url: &str) -> String {
    let template = migrated_template(admin_url).await;
    let name = format!("kpix_test_{}", Uuid::now_v7().simple());
    let mut conn = admin_connection(admin_url).await;
    execute(
        &mut conn,
        format!(r#"create database "{name}" template "{template}""#),
    )
    .await;
    let _ = conn.close().await;
    name
}

/// The hash of every migration the template applies, in the order applied:
/// a changed or added migration changes it.
fn schema_hash() -> String {
    let queue = apalis_postgres::PostgresStorage::<()>::migrations();
    let mut hash = Sha256::new();
    for migration in kpix_shared::db::MIGRATOR.iter().chain(queue.iter()) {
        hash.update(migration.version.to_be_bytes());
        hash.update(&migration.checksum[..]);
    }
    hash.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The name of the template of the current schema on the server of
/// `admin_url`, built first if missing.
async fn migrated_template(admin_url: &str) -> String {
    let hash = schema_hash();
    let template = format!("kpix_template_{hash}");
    let mut conn = admin_connection(admin_url).await;
    if !database_exists(&mut conn, &template).await {
        // one builder per schema; the lock ends with the connection if this
        // process dies, and whoever takes it next finds the leftover below
        let lock_key = i64::from_str_radix(&hash[..15], 16).expect("hex digits");
        sqlx::query("select pg_advisory_lock($1)")
            .bind(lock_key)
            .execute(&mut conn)
            .await
            .expect("take the template lock");
        if !database_exists(&mut conn, &template).await {
            build_template(&mut conn, admin_url, &template).await;
        }
        sqlx::query("select pg_advisory_unlock($1)")
            .bind(lock_key)
            .execute(&mut conn)
            .await
            .expect("release the template lock");
    }
    let _ = conn.close().await;
    template
}

async fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("select exists (select from pg_database where datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .expect("read pg_database")
}

/// Migrates a database as the API does at start-up (`db::migrate`: the
/// application's migrations, the queue's, the grants to `kpix_app`), then
/// publishes it as `template`: a template nobody may connect to (a session
/// on it would make every clone fail), renamed only once complete.
async fn build_template(conn: &mut PgConnection, admin_url: &str, template: &str) {
    let partial = format!("{template}_partial");
    // left by a builder that died (none other runs: the lock is held)
    execute(
        conn,
        format!(r#"drop database if exists "{partial}" with (force)"#),
    )
    .await;
    execute(conn, format!(r#"create database "{partial}""#)).await;
    kpix_shared::db::migrate(&with_database(admin_url, &partial))
        .await
        .unwrap_or_else(|e| panic!("cannot migrate the template database {partial}: {e}"));
    execute(
        conn,
        format!(r#"alter database "{partial}" with is_template true allow_connections false"#),
    )
    .await;
    execute(
        conn,
        format!(r#"alter database "{partial}" rename to "{template}""#),
    )
    .await;
}

/// How long a test waits for the server to drop its database before it
/// leaves the server to finish alone.
const DROP_WAIT: Duration = Duration::from_millis(250);

/// Drops a test database from synchronous code (a `Drop`), on a thread of its
/// own so it works inside and outside a runtime. Best effort.
///
/// It does not wait for the end of the command: a DROP DATABASE waits for a
/// checkpoint, more than a second of every test when many run. The command
/// is sent at once, and the server carries it through even when this process
/// has exited meanwhile (PostgreSQL does not watch for a client leaving in
/// the middle of a command).
pub(crate) fn drop_database_blocking(admin_url: String, name: String) {
    if std::env::var_os("KPIX_TEST_KEEP_DB").is_some() {
        eprintln!("KPIX_TEST_KEEP_DB: keeping database {name}");
        return;
    }
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut conn = PgConnection::connect(&admin_url).await?;
            let drop = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                r#"drop database if exists "{name}" with (force)"#
            )))
            .execute(&mut conn);
            // the first poll sends the command; a timeout leaves it running
            if let Ok(dropped) = tokio::time::timeout(DROP_WAIT, drop).await {
                dropped?;
                conn.close().await?;
            }
            anyhow::Ok(())
        })
    });
    match worker.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("could not drop test database: {e:#}"),
        Err(_) => eprintln!("could not drop test database: the dropping thread panicked"),
    }
}
