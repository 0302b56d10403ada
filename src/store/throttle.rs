//! The `login_throttle` table: failure counters and lockouts per account and per client
//! address, in the database so they hold across restarts and replicas.

use super::{Conn, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<Counter>, StoreError> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(failures, window_start, locked_until)| Counter {
        failures,
        window_start,
        locked_until,
    }))
}

pub async fn put(conn: &mut Conn, key: &str, c: Counter) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
         window_start = excluded.window_start, locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(c.failures)
    .bind(c.window_start)
    .bind(c.locked_until)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut Conn, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
