//! The `user_tokens` table: single-use password-reset and invitation tokens, by SHA-256
//! hash only (the token itself is only ever in the mail).

use super::{now_ms, Conn, StoreError};

pub async fn insert(
    conn: &mut Conn,
    hash: &str,
    user_id: i64,
    purpose: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO user_tokens (hash, user_id, purpose, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(purpose)
    .bind(expires_at)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// The user of an unexpired token of this purpose.
pub async fn find(conn: &mut Conn, hash: &str, purpose: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM user_tokens WHERE hash = $1 AND purpose = $2 AND expires_at > $3",
    )
    .bind(hash)
    .bind(purpose)
    .bind(now_ms())
    .fetch_optional(conn)
    .await?)
}

/// Spends a token: deletes it and returns its user, if it was there and unexpired. Only
/// one caller can get the user back, so a token works once.
pub async fn spend(conn: &mut Conn, hash: &str, purpose: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "DELETE FROM user_tokens WHERE hash = $1 AND purpose = $2 AND expires_at > $3 \
         RETURNING user_id",
    )
    .bind(hash)
    .bind(purpose)
    .bind(now_ms())
    .fetch_optional(conn)
    .await?)
}

/// Drops every token of this purpose for a user (a new one replaces the old).
pub async fn drop_for(conn: &mut Conn, user_id: i64, purpose: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1 AND purpose = $2")
        .bind(user_id)
        .bind(purpose)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes expired tokens (housekeeping).
pub async fn sweep(conn: &mut Conn) -> Result<u64, StoreError> {
    Ok(
        sqlx::query("DELETE FROM user_tokens WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
