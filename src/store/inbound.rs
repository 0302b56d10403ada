//! The `scim_sources` and `scim_owned` tables: inbound SCIM sources (tokens kept as SHA-256
//! only) and which source owns which user or group.

use serde::Serialize;
use sqlx::FromRow;

use super::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq, utoipa::ToSchema)]
pub struct SourceRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const SELECT: &str = "SELECT id, name, created_at, last_used_at, revoked_at FROM scim_sources";

/// What a source may own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

pub async fn insert(conn: &mut Conn, name: &str, hash: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO scim_sources (name, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(hash)
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

pub async fn by_name(conn: &mut Conn, name: &str) -> Result<Option<SourceRow>, StoreError> {
    let sql = format!("{SELECT} WHERE name = $1");
    Ok(sqlx::query_as(&sql).bind(name).fetch_optional(conn).await?)
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<SourceRow>, StoreError> {
    let sql = format!("{SELECT} WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

pub async fn by_hash(conn: &mut Conn, hash: &str) -> Result<Option<SourceRow>, StoreError> {
    let sql = format!("{SELECT} WHERE token_hash = $1");
    Ok(sqlx::query_as(&sql).bind(hash).fetch_optional(conn).await?)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<SourceRow>, StoreError> {
    let sql = format!("{SELECT} ORDER BY name");
    Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
}

/// Revokes the token and releases what the source owned; returns how many it owned.
pub async fn revoke(conn: &mut Conn, id: i64) -> Result<u64, StoreError> {
    sqlx::query("UPDATE scim_sources SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let released = sqlx::query("DELETE FROM scim_owned WHERE source_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(released.rows_affected())
}

/// Records use at most once a minute per source.
pub async fn touch(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE scim_sources SET last_used_at = $1 \
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60_000)
    .execute(conn)
    .await?;
    Ok(())
}

/// Who owns a user or group: (source id, source name, externalId).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Owner {
    pub source_id: i64,
    pub source: String,
    pub external_id: String,
}

pub async fn owner(conn: &mut Conn, kind: Kind, id: i64) -> Result<Option<Owner>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT o.source_id, s.name AS source, o.external_id FROM scim_owned o \
         JOIN scim_sources s ON s.id = o.source_id WHERE o.kind = $1 AND o.local_id = $2",
    )
    .bind(kind.word())
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Every owned user or group of `kind`, by local id.
pub async fn owners(conn: &mut Conn, kind: Kind) -> Result<Vec<(i64, Owner)>, StoreError> {
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT o.local_id, o.source_id, s.name, o.external_id FROM scim_owned o \
         JOIN scim_sources s ON s.id = o.source_id WHERE o.kind = $1",
    )
    .bind(kind.word())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, source_id, source, external_id)| {
            (
                id,
                Owner {
                    source_id,
                    source,
                    external_id,
                },
            )
        })
        .collect())
}

pub async fn set_owner(
    conn: &mut Conn,
    kind: Kind,
    id: i64,
    source_id: i64,
    external_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_owned (kind, local_id, source_id, external_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(kind.word())
    .bind(id)
    .bind(source_id)
    .bind(external_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_external_id(
    conn: &mut Conn,
    kind: Kind,
    id: i64,
    external_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_owned SET external_id = $1 WHERE kind = $2 AND local_id = $3")
        .bind(external_id)
        .bind(kind.word())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn forget(conn: &mut Conn, kind: Kind, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM scim_owned WHERE kind = $1 AND local_id = $2")
        .bind(kind.word())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// (id, username) of each member of a group, by id.
pub async fn members(conn: &mut Conn, group_id: i64) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.username FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 ORDER BY u.id",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}
