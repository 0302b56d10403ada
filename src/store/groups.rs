//! The `groups` and `memberships` tables.

use serde::Serialize;
use sqlx::FromRow;

use super::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub members: i64,
}

const SELECT: &str = "SELECT g.id, g.name, g.description, \
     (SELECT COUNT(*) FROM memberships m WHERE m.group_id = g.id) AS members FROM groups g";

pub async fn by_key(conn: &mut Conn, name_key: &str) -> Result<Option<Group>, StoreError> {
    let sql = format!("{SELECT} WHERE g.name_key = $1");
    Ok(sqlx::query_as(&sql)
        .bind(name_key)
        .fetch_optional(conn)
        .await?)
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<Group>, StoreError> {
    let sql = format!("{SELECT} WHERE g.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Group>, StoreError> {
    let sql = format!("{SELECT} ORDER BY g.name_key");
    Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
}

pub async fn insert(
    conn: &mut Conn,
    name: &str,
    key: &str,
    description: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO groups (name, name_key, description, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(key)
    .bind(description)
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

pub async fn set_description(
    conn: &mut Conn,
    id: i64,
    description: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE groups SET description = $1 WHERE id = $2")
        .bind(description)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM groups WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds a member; returns false when the user already was one.
pub async fn add_member(conn: &mut Conn, group_id: i64, user_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO memberships (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(group_id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a member; returns false when the user was not one.
pub async fn remove_member(
    conn: &mut Conn,
    group_id: i64,
    user_id: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn member_names(conn: &mut Conn, group_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 ORDER BY u.username_key",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

pub async fn names_of_user(conn: &mut Conn, user_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT g.name FROM memberships m JOIN groups g ON g.id = m.group_id \
         WHERE m.user_id = $1 ORDER BY g.name_key",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

/// (user id, group name) for every membership: the scoping filters' `member_of` over the
/// whole directory in one query.
pub async fn memberships_by_name(conn: &mut Conn) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT m.user_id, g.name FROM memberships m JOIN groups g ON g.id = m.group_id \
         ORDER BY m.user_id",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn rename(conn: &mut Conn, id: i64, name: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE groups SET name = $1, name_key = $2 WHERE id = $3")
        .bind(name)
        .bind(key)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
