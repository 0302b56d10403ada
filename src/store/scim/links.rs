//! User links: our user ↔ the target's user, with what was last sent.

use sqlx::FromRow;

use crate::store::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Link {
    pub app_id: i64,
    pub user_id: i64,
    pub username: String,
    pub remote_id: String,
    /// JSON object: SCIM path → the value last sent.
    pub synced: String,
    pub active: i64,
}

pub async fn link(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<Option<Link>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT app_id, user_id, username, remote_id, synced, active FROM scim_links \
         WHERE app_id = $1 AND user_id = $2",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn links(conn: &mut Conn, app_id: i64) -> Result<Vec<Link>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT app_id, user_id, username, remote_id, synced, active FROM scim_links \
         WHERE app_id = $1 ORDER BY user_id",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await?)
}

pub async fn put_link(conn: &mut Conn, l: &Link) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_links (app_id, user_id, username, remote_id, synced, active, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, user_id) DO UPDATE SET \
         username = excluded.username, remote_id = excluded.remote_id, synced = excluded.synced, \
         active = excluded.active, updated_at = excluded.updated_at",
    )
    .bind(l.app_id)
    .bind(l.user_id)
    .bind(&l.username)
    .bind(&l.remote_id)
    .bind(&l.synced)
    .bind(l.active)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_link(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM scim_links WHERE app_id = $1 AND user_id = $2")
        .bind(app_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The remote id of a linked user (for `manager`), if linked.
pub async fn remote_id(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT remote_id FROM scim_links WHERE app_id = $1 AND user_id = $2")
            .bind(app_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}
