//! Group links: a sesame group pushed to the target, with the members last sent.

use sqlx::FromRow;

use crate::store::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct GroupLink {
    pub app_id: i64,
    pub group_id: i64,
    pub name: String,
    pub remote_id: String,
    /// JSON array of the remote user ids last sent as members.
    pub members: String,
}

pub async fn group_link(
    conn: &mut Conn,
    app_id: i64,
    group_id: i64,
) -> Result<Option<GroupLink>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT app_id, group_id, name, remote_id, members FROM scim_group_links \
         WHERE app_id = $1 AND group_id = $2",
    )
    .bind(app_id)
    .bind(group_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn put_group_link(conn: &mut Conn, l: &GroupLink) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_group_links (app_id, group_id, name, remote_id, members, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, group_id) DO UPDATE SET \
         name = excluded.name, remote_id = excluded.remote_id, members = excluded.members, \
         updated_at = excluded.updated_at",
    )
    .bind(l.app_id)
    .bind(l.group_id)
    .bind(&l.name)
    .bind(&l.remote_id)
    .bind(&l.members)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_group_link(
    conn: &mut Conn,
    app_id: i64,
    group_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM scim_group_links WHERE app_id = $1 AND group_id = $2")
        .bind(app_id)
        .bind(group_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The remote ids of the group's members that have an active account in the target.
pub async fn member_remote_ids(
    conn: &mut Conn,
    app_id: i64,
    group_id: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT l.remote_id FROM memberships m JOIN scim_links l \
         ON l.user_id = m.user_id AND l.app_id = $1 \
         WHERE m.group_id = $2 AND l.active = 1 ORDER BY l.remote_id",
    )
    .bind(app_id)
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

/// Whether the group is bound to the app.
pub async fn is_bound(conn: &mut Conn, app_id: i64, group_id: i64) -> Result<bool, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM app_groups WHERE app_id = $1 AND group_id = $2")
            .bind(app_id)
            .bind(group_id)
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}
