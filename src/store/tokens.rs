//! The `admin_tokens` table: admin API tokens, kept as SHA-256 hashes only.

use serde::Serialize;
use sqlx::FromRow;

use super::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub owner_id: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const SELECT: &str = "SELECT t.id, t.name, u.username AS owner, t.owner_id, t.created_at, \
     t.last_used_at, t.revoked_at FROM admin_tokens t JOIN users u ON u.id = t.owner_id";

pub async fn insert(
    conn: &mut Conn,
    name: &str,
    hash: &str,
    owner_id: i64,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO admin_tokens (name, token_hash, owner_id, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(hash)
    .bind(owner_id)
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

pub async fn by_name(conn: &mut Conn, name: &str) -> Result<Option<TokenRow>, StoreError> {
    let sql = format!("{SELECT} WHERE t.name = $1");
    Ok(sqlx::query_as(&sql).bind(name).fetch_optional(conn).await?)
}

pub async fn by_hash(conn: &mut Conn, hash: &str) -> Result<Option<TokenRow>, StoreError> {
    let sql = format!("{SELECT} WHERE t.token_hash = $1");
    Ok(sqlx::query_as(&sql).bind(hash).fetch_optional(conn).await?)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<TokenRow>, StoreError> {
    let sql = format!("{SELECT} ORDER BY t.name");
    Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
}

pub async fn revoke(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records use at most once a minute per token, so API calls are not all writes.
pub async fn touch(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE admin_tokens SET last_used_at = $1 \
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60_000)
    .execute(conn)
    .await?;
    Ok(())
}
