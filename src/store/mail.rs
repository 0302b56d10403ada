//! The `mail_outbox` table (mail waiting for the server's mail worker) and `app_notify`
//! (where an app's provisioning notifications go).

use sqlx::FromRow;

use super::{now_ms, Conn, StoreError};

/// A mail waiting to be sent; `payload` is the kind's JSON (sealed where it holds a link).
#[derive(Debug, Clone, FromRow)]
pub struct Queued {
    pub id: i64,
    pub to_addr: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
}

/// How many mails are waiting.
pub async fn pending(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox")
        .fetch_one(conn)
        .await?)
}

pub async fn push(conn: &mut Conn, to: &str, kind: &str, payload: &str) -> Result<i64, StoreError> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "INSERT INTO mail_outbox (to_addr, kind, payload, attempts, next_at, created_at) \
         VALUES ($1, $2, $3, 0, $4, $4) RETURNING id",
    )
    .bind(to)
    .bind(kind)
    .bind(payload)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Takes the oldest due mail and moves its next try `lease_ms` ahead, so that another
/// worker (a replica) does not send it meanwhile.
/// Whether a mail is due (a read: the idle worker asks this, not the writer).
pub async fn any_due(conn: &mut Conn) -> Result<bool, StoreError> {
    let due: Option<i64> =
        sqlx::query_scalar("SELECT id FROM mail_outbox WHERE next_at <= $1 LIMIT 1")
            .bind(now_ms())
            .fetch_optional(conn)
            .await?;
    Ok(due.is_some())
}

pub async fn take_due(conn: &mut Conn, lease_ms: i64) -> Result<Option<Queued>, StoreError> {
    let now = now_ms();
    let row: Option<Queued> = sqlx::query_as(
        "SELECT id, to_addr, kind, payload, attempts FROM mail_outbox \
         WHERE next_at <= $1 ORDER BY next_at, id LIMIT 1",
    )
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let taken = sqlx::query(
        "UPDATE mail_outbox SET next_at = $2, attempts = attempts + 1 \
         WHERE id = $1 AND next_at <= $3",
    )
    .bind(row.id)
    .bind(now + lease_ms)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok((taken == 1).then_some(Queued {
        attempts: row.attempts + 1,
        ..row
    }))
}

pub async fn done(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn retry_at(conn: &mut Conn, id: i64, at: i64, error: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE mail_outbox SET next_at = $2, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(at)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// The address an app's provisioning notifications go to, if any.
pub async fn notify_address(conn: &mut Conn, app_id: i64) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT email FROM app_notify WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Sets (or, with an empty address, removes) an app's notification address.
pub async fn set_notify_address(
    conn: &mut Conn,
    app_id: i64,
    email: &str,
) -> Result<(), StoreError> {
    if email.is_empty() {
        sqlx::query("DELETE FROM app_notify WHERE app_id = $1")
            .bind(app_id)
            .execute(conn)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO app_notify (app_id, email) VALUES ($1, $2) \
             ON CONFLICT (app_id) DO UPDATE SET email = excluded.email",
        )
        .bind(app_id)
        .bind(email)
        .execute(conn)
        .await?;
    }
    Ok(())
}
