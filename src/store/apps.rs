//! The `apps` and `app_groups` tables, and the one query that answers who may use what.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{flag, now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct App {
    pub id: i64,
    pub slug: String,
    pub template: String,
    pub label: String,
    pub description: String,
    pub color: String,
    pub show_in_portal: bool,
    pub enabled: bool,
    /// SSO switched on (off: no tile, SSO refused; provisioning goes on).
    pub sso_enabled: bool,
    /// `image/png` or `image/svg+xml` when the app has an uploaded logo, else empty.
    pub logo_type: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl<'r> FromRow<'r, AnyRow> for App {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(App {
            id: row.try_get("id")?,
            slug: row.try_get("slug")?,
            template: row.try_get("template")?,
            label: row.try_get("label")?,
            description: row.try_get("description")?,
            color: row.try_get("color")?,
            show_in_portal: row.try_get::<i64, _>("show_in_portal")? != 0,
            enabled: row.try_get::<i64, _>("enabled")? != 0,
            sso_enabled: row.try_get::<i64, _>("sso_enabled")? != 0,
            logo_type: row.try_get("logo_type")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The fields an admin may change after creation (the slug and template are fixed).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AppSettings {
    pub label: String,
    pub description: String,
    pub color: String,
    pub show_in_portal: bool,
    pub enabled: bool,
    pub sso_enabled: bool,
}

const COLUMNS: &str = "a.id, a.slug, a.template, a.label, a.description, a.color, \
     a.show_in_portal, a.enabled, a.sso_enabled, a.logo_type, a.created_at, a.updated_at";

pub async fn by_slug(conn: &mut Conn, slug: &str) -> Result<Option<App>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM apps a WHERE a.slug = $1");
    Ok(sqlx::query_as(&sql).bind(slug).fetch_optional(conn).await?)
}

/// The slug of the app with this id, if it still exists.
pub async fn slug_of(conn: &mut Conn, id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT slug FROM apps WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<App>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM apps a ORDER BY a.slug");
    Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
}

pub async fn insert(
    conn: &mut Conn,
    slug: &str,
    template: &str,
    s: &AppSettings,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO apps (slug, template, label, description, color, show_in_portal, enabled, \
         sso_enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         RETURNING id",
    )
    .bind(slug)
    .bind(template)
    .bind(&s.label)
    .bind(&s.description)
    .bind(&s.color)
    .bind(flag(s.show_in_portal))
    .bind(flag(s.enabled))
    .bind(flag(s.sso_enabled))
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

pub async fn update(conn: &mut Conn, id: i64, s: &AppSettings) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE apps SET label = $1, description = $2, color = $3, show_in_portal = $4, \
         enabled = $5, sso_enabled = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&s.label)
    .bind(&s.description)
    .bind(&s.color)
    .bind(flag(s.show_in_portal))
    .bind(flag(s.enabled))
    .bind(flag(s.sso_enabled))
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets (or with an empty type, removes) the app's logo.
pub async fn set_logo(
    conn: &mut Conn,
    id: i64,
    kind: &str,
    bytes: Option<&[u8]>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE apps SET logo_type = $1, logo = $2, updated_at = $3 WHERE id = $4")
        .bind(kind)
        .bind(bytes.map(<[u8]>::to_vec))
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The app's logo: its type and bytes.
pub async fn logo(conn: &mut Conn, slug: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT logo_type, logo FROM apps WHERE slug = $1 AND logo_type <> '' AND logo IS NOT NULL",
    )
    .bind(slug)
    .fetch_optional(conn)
    .await?)
}

pub async fn delete(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM apps WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Binds a group; returns false when it already was bound.
pub async fn bind(conn: &mut Conn, app_id: i64, group_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO app_groups (app_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(app_id)
    .bind(group_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Unbinds a group; returns false when it was not bound.
pub async fn unbind(conn: &mut Conn, app_id: i64, group_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM app_groups WHERE app_id = $1 AND group_id = $2")
        .bind(app_id)
        .bind(group_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn bound_group_names(conn: &mut Conn, app_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT g.name FROM app_groups ag JOIN groups g ON g.id = ag.group_id \
         WHERE ag.app_id = $1 ORDER BY g.name_key",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await?)
}

pub async fn bound_app_slugs(conn: &mut Conn, group_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT a.slug FROM app_groups ag JOIN apps a ON a.id = ag.app_id \
         WHERE ag.group_id = $1 ORDER BY a.slug",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

/// The assignment rule (PRODUCT §2), written once: the (user id, app id) pairs where the
/// user is active, the app enabled, and the user a member of a group bound to the app or
/// assigned to it directly. `directory::access` is the only caller; `grants` narrows both
/// halves with plain equality predicates, so each lookup uses the indexes (a
/// `$1 IS NULL OR ...` form would scan every membership on every check).
const BY_GROUP: &str = "SELECT u.id AS uid, a.id AS aid FROM users u \
     JOIN memberships m ON m.user_id = u.id \
     JOIN app_groups ag ON ag.group_id = m.group_id \
     JOIN apps a ON a.id = ag.app_id \
     WHERE u.status = 'active' AND a.enabled = 1";
const DIRECT: &str = "SELECT u.id AS uid, a.id AS aid FROM users u \
     JOIN app_users au ON au.user_id = u.id \
     JOIN apps a ON a.id = au.app_id \
     WHERE u.status = 'active' AND a.enabled = 1";

pub async fn grants(
    conn: &mut Conn,
    user_id: Option<i64>,
    app_id: Option<i64>,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let (narrow, order) = match (user_id, app_id) {
        (Some(_), Some(_)) => ("AND u.id = $1 AND a.id = $2", ""),
        (Some(_), None) => ("AND u.id = $1", "ORDER BY aid"),
        (None, Some(_)) => ("AND a.id = $1", "ORDER BY uid"),
        (None, None) => ("", "ORDER BY uid, aid"),
    };
    // UNION drops the pairs granted both ways.
    let sql =
        format!("SELECT uid, aid FROM ({BY_GROUP} {narrow} UNION {DIRECT} {narrow}) g {order}");
    let mut q = sqlx::query_as(&sql);
    for id in [user_id, app_id].into_iter().flatten() {
        q = q.bind(id);
    }
    Ok(q.fetch_all(conn).await?)
}

/// The active users (all, or `user_id` alone) while `app_id` is enabled, by id: the "all
/// users" provisioning scope; `directory::access` is the only caller.
pub async fn everyone(
    conn: &mut Conn,
    app_id: i64,
    user_id: Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    let narrow = if user_id.is_some() {
        "AND u.id = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT u.id FROM users u, apps a WHERE a.id = $1 AND a.enabled = 1 \
         AND u.status = 'active' {narrow} ORDER BY u.id"
    );
    let mut q = sqlx::query_scalar(&sql).bind(app_id);
    if let Some(id) = user_id {
        q = q.bind(id);
    }
    Ok(q.fetch_all(conn).await?)
}

/// Assigns (`true`) or unassigns a user directly; whether anything changed.
pub async fn assign(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
    on: bool,
) -> Result<bool, StoreError> {
    let sql = if on {
        "INSERT INTO app_users (app_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM app_users WHERE app_id = $1 AND user_id = $2"
    };
    let done = sqlx::query(sql)
        .bind(app_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The usernames assigned to the app directly, sorted.
pub async fn assigned_usernames(conn: &mut Conn, app_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT u.username FROM app_users au JOIN users u ON u.id = au.user_id \
         WHERE au.app_id = $1 ORDER BY u.username",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await?)
}

/// The slugs of the apps a user is assigned to directly, sorted.
pub async fn assigned_app_slugs(conn: &mut Conn, user_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT a.slug FROM app_users au JOIN apps a ON a.id = au.app_id \
         WHERE au.user_id = $1 ORDER BY a.slug",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

pub async fn by_ids(conn: &mut Conn, ids: &[i64]) -> Result<Vec<App>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    let sql = format!("SELECT {COLUMNS} FROM apps a WHERE a.id = $1");
    for id in ids {
        if let Some(app) = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        {
            out.push(app);
        }
    }
    out.sort_by_key(|a: &App| a.label.to_lowercase());
    Ok(out)
}
