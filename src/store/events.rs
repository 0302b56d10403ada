//! The `events` table: the audit trail of directory changes, logins, and (later) every SSO
//! and provisioning decision. Details are JSON and never hold secrets.

use serde::Serialize;
use sqlx::FromRow;

use super::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub name: String,
    pub actor: String,
    pub app_slug: Option<String>,
    pub username: Option<String>,
    pub outcome: String,
    pub status: Option<i64>,
    pub detail: String,
}

/// An event about to be written.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub name: &'static str,
    pub actor: String,
    pub app_slug: Option<String>,
    pub username: Option<String>,
    pub outcome: &'static str,
    pub status: Option<i64>,
    pub detail: serde_json::Value,
}

pub async fn insert(conn: &mut Conn, e: &NewEvent) -> Result<i64, StoreError> {
    let detail = if e.detail.is_null() {
        "{}".to_string()
    } else {
        e.detail.to_string()
    };
    Ok(sqlx::query_scalar(
        "INSERT INTO events (at, name, actor, app_slug, username, outcome, status, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(now_ms())
    .bind(e.name)
    .bind(&e.actor)
    .bind(&e.app_slug)
    .bind(&e.username)
    .bind(e.outcome)
    .bind(e.status)
    .bind(detail)
    .fetch_one(conn)
    .await?)
}

/// Filters for listing events. `after` pages forward (oldest first: `--follow`, "newer"),
/// `before` backward (the newest before that id: "older"); `since`/`until` bound the time
/// (unix ms, `until` excluded).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub app_slug: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub outcome: Option<String>,
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
}

/// When the user last signed in (a completed sign-in: password alone, or the second factor).
pub async fn last_sign_in(conn: &mut Conn, username: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(at) FROM events WHERE name IN ('login_success', 'mfa_success') \
         AND username = $1",
    )
    .bind(username)
    .fetch_one(conn)
    .await?)
}

/// The event names recorded so far, sorted (the console's filter list).
pub async fn names(conn: &mut Conn) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT DISTINCT name FROM events ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

/// Newest-last list of the events matching the filter (the last `limit` of them, or the
/// first `limit` after `after`).
pub async fn list(conn: &mut Conn, f: &EventFilter) -> Result<Vec<Event>, StoreError> {
    let order = if f.after.is_some() { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT id, at, name, actor, app_slug, username, outcome, status, detail FROM events \
         WHERE ($1 IS NULL OR app_slug = $1) AND ($2 IS NULL OR username = $2) \
           AND ($3 IS NULL OR name = $3) AND ($4 IS NULL OR outcome = $4) AND id > $5 \
         AND id < $6 AND at >= $7 AND at < $8 ORDER BY id {order} LIMIT $9"
    );
    let mut rows: Vec<Event> = sqlx::query_as(&sql)
        .bind(&f.app_slug)
        .bind(&f.username)
        .bind(&f.name)
        .bind(&f.outcome)
        .bind(f.after.unwrap_or(0))
        .bind(f.before.unwrap_or(i64::MAX))
        .bind(f.since.unwrap_or(0))
        .bind(f.until.unwrap_or(i64::MAX))
        .bind(f.limit)
        .fetch_all(conn)
        .await?;
    if f.after.is_none() {
        rows.reverse();
    }
    Ok(rows)
}
