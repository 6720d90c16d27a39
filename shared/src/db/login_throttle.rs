//! Failed-login counters kept in the database, so every API replica sees the
//! same counts. A lock always expires: nobody is locked out for good.
use std::time::Duration;

use sqlx::PgConnection;

/// How many failures within `window` lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub max_failures: i32,
    pub window: Duration,
    pub lock: Duration,
}

/// Seconds until the longest current lock among `keys` ends, if any.
pub async fn locked_for(
    conn: &mut PgConnection,
    keys: &[String],
) -> Result<Option<u64>, sqlx::Error> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from max(locked_until) - now())::float8 from login_throttle \
         where key = any($1) and locked_until > now()",
    )
    .bind(keys)
    .fetch_one(conn)
    .await?;
    Ok(seconds.map(|s| s.ceil().max(1.0) as u64))
}

/// Counts a failure atomically; the counter restarts when its window is over.
pub async fn record_failure(
    conn: &mut PgConnection,
    key: &str,
    rule: Rule,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into login_throttle as t (key, failures, window_start) values ($1, 1, now()) \
         on conflict (key) do update set \
           failures = case when t.window_start < now() - $2 then 1 else t.failures + 1 end, \
           window_start = case when t.window_start < now() - $2 then now() else t.window_start end \
         ",
    )
    .bind(key)
    .bind(rule.window)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update login_throttle set locked_until = now() + $3, failures = 0, window_start = now() \
         where key = $1 and failures >= $2",
    )
    .bind(key)
    .bind(rule.max_failures)
    .bind(rule.lock)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("delete from login_throttle where key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
