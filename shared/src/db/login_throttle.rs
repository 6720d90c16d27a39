//! Login attempts counted in the database, so every API replica sees the same
//! counts. An attempt is counted *before* its password is checked: concurrent
//! attempts cannot pass the limit, and a success gives its attempt back. A
//! lock always expires: nobody is locked out for good.
use std::time::Duration;

use sqlx::PgConnection;

/// How many attempts within `window` lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub max_attempts: i32,
    pub window: Duration,
    pub lock: Duration,
}

/// Counts an attempt on each key, in the order given (the same order for
/// every login, so that concurrent ones queue instead of deadlocking).
/// `Some(seconds)` when a key is locked, now or by this attempt; the caller
/// then refuses the login without checking its password.
pub async fn admit(
    conn: &mut PgConnection,
    keys: &[(String, Rule)],
) -> Result<Option<u64>, sqlx::Error> {
    let mut locked_for: Option<f64> = None;
    for (key, rule) in keys {
        // attempts during a lock are not counted: the lock does not grow
        // the durations are bound as intervals (sqlx encodes std's Duration
        // so); `as Duration` skips the macro's check, which wants PgInterval
        let counted = sqlx::query!(
            r#"insert into login_throttle as t (key, failures, window_start) values ($1, 1, now())
             on conflict (key) do update set
               failures = case when t.locked_until > now() then t.failures
                               when t.window_start < now() - $2::interval then 1 else t.failures + 1 end,
               window_start = case when t.locked_until > now() then t.window_start
                                   when t.window_start < now() - $2::interval then now() else t.window_start end
             returning failures, extract(epoch from t.locked_until - now())::float8 as remaining"#,
            key,
            rule.window as Duration,
        )
        .fetch_one(&mut *conn)
        .await?;
        let remaining = match counted.remaining.filter(|seconds| *seconds > 0.0) {
            Some(seconds) => Some(seconds),
            None if counted.failures > rule.max_attempts => Some(
                sqlx::query_scalar!(
                    r#"update login_throttle set locked_until = now() + $2::interval, failures = 0,
                     window_start = now() where key = $1
                     returning extract(epoch from locked_until - now())::float8 as "remaining!""#,
                    key,
                    rule.lock as Duration,
                )
                .fetch_one(&mut *conn)
                .await?,
            ),
            None => None,
        };
        locked_for = match (locked_for, remaining) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(locked_for.map(|seconds| seconds.ceil().max(1.0) as u64))
}

/// A successful login: the first key (the account at this address) starts
/// afresh, and the others get this attempt back, so that an office signing
/// in all day from one address never fills its counter.
pub async fn succeeded(conn: &mut PgConnection, keys: &[String]) -> Result<(), sqlx::Error> {
    let Some((first, others)) = keys.split_first() else {
        return Ok(());
    };
    sqlx::query!("delete from login_throttle where key = $1", first)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "update login_throttle set failures = greatest(failures - 1, 0) where key = any($1)",
        others,
    )
    .execute(conn)
    .await?;
    Ok(())
}
