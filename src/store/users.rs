//! The `users` table. Password hashes never leave this module except through
//! [`credentials`], so a `User` can be printed, serialised and logged safely.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{flag, now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub phone: String,
    pub employee_id: String,
    pub manager: Option<String>,
    pub department: String,
    pub cost_center: String,
    pub location: String,
    pub active: bool,
    pub is_admin: bool,
    pub must_change_password: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl<'r> FromRow<'r, AnyRow> for User {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            email: row.try_get("email")?,
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            title: row.try_get("title")?,
            phone: row.try_get("phone")?,
            employee_id: row.try_get("employee_id")?,
            manager: row.try_get("manager")?,
            department: row.try_get("department")?,
            cost_center: row.try_get("cost_center")?,
            location: row.try_get("location")?,
            active: row.try_get::<String, _>("status")? == "active",
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The profile fields an admin edits; the same struct carries a create and an update.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Profile {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub phone: String,
    pub employee_id: String,
    pub manager_id: Option<i64>,
    pub department: String,
    pub cost_center: String,
    pub location: String,
}

const SELECT: &str = "SELECT u.id, u.username, u.email, u.first_name, u.last_name, u.title, \
     u.phone, u.employee_id, m.username AS manager, u.department, u.cost_center, u.location, u.status, u.is_admin, \
     u.must_change_password, u.created_at, u.updated_at \
     FROM users u LEFT JOIN users m ON m.id = u.manager_id";

pub async fn by_key(conn: &mut Conn, username_key: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("{SELECT} WHERE u.username_key = $1");
    Ok(sqlx::query_as(&sql)
        .bind(username_key)
        .fetch_optional(conn)
        .await?)
}

/// The user with this e-mail address (its case-folded key).
pub async fn by_email_key(conn: &mut Conn, email_key: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("{SELECT} WHERE u.email_key = $1");
    Ok(sqlx::query_as(&sql)
        .bind(email_key)
        .fetch_optional(conn)
        .await?)
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("{SELECT} WHERE u.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

pub async fn email_taken(
    conn: &mut Conn,
    email_key: &str,
    except: i64,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email_key = $1 AND id <> $2")
        .bind(email_key)
        .bind(except)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

pub async fn list(conn: &mut Conn) -> Result<Vec<User>, StoreError> {
    let sql = format!("{SELECT} ORDER BY u.username_key");
    Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
}

pub async fn count_admins(conn: &mut Conn) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin = 1")
            .fetch_one(conn)
            .await?,
    )
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    pub profile: &'a Profile,
    pub is_admin: bool,
    pub password_hash: Option<&'a str>,
    pub must_change_password: bool,
}

pub async fn insert(conn: &mut Conn, u: NewUser<'_>) -> Result<i64, StoreError> {
    let now = now_ms();
    let p = u.profile;
    let id = sqlx::query_scalar(
        "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, \
         title, phone, employee_id, manager_id, status, is_admin, password_hash, \
         must_change_password, created_at, updated_at, department, cost_center, location) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $13, $14, $14, \
         $15, $16, $17) \
         RETURNING id",
    )
    .bind(u.username)
    .bind(u.username_key)
    .bind(&p.email)
    .bind(p.email.to_lowercase())
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.title)
    .bind(&p.phone)
    .bind(&p.employee_id)
    .bind(p.manager_id)
    .bind(flag(u.is_admin))
    .bind(u.password_hash)
    .bind(flag(u.must_change_password))
    .bind(now)
    .bind(&p.department)
    .bind(&p.cost_center)
    .bind(&p.location)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn update_profile(conn: &mut Conn, id: i64, p: &Profile) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET email = $1, email_key = $2, first_name = $3, last_name = $4, \
         title = $5, phone = $6, employee_id = $7, manager_id = $8, updated_at = $9, \
         department = $11, cost_center = $12, location = $13 WHERE id = $10",
    )
    .bind(&p.email)
    .bind(p.email.to_lowercase())
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.title)
    .bind(&p.phone)
    .bind(&p.employee_id)
    .bind(p.manager_id)
    .bind(now_ms())
    .bind(id)
    .bind(&p.department)
    .bind(&p.cost_center)
    .bind(&p.location)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn manager_id(conn: &mut Conn, id: i64) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT manager_id FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

pub async fn set_status(conn: &mut Conn, id: i64, active: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(if active { "active" } else { "suspended" })
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password(
    conn: &mut Conn,
    id: i64,
    hash: &str,
    must_change: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(hash)
    .bind(flag(must_change))
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// What the login check needs: the user (if any) and the stored hash.
pub async fn credentials(
    conn: &mut Conn,
    username_key: &str,
) -> Result<Option<(User, Option<String>)>, StoreError> {
    let Some(user) = by_key(&mut *conn, username_key).await? else {
        return Ok(None);
    };
    let hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(conn)
        .await?;
    Ok(Some((user, hash)))
}

/// Whether the user has a password (without one, they cannot sign in with a password).
pub async fn has_password(conn: &mut Conn, id: i64) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

pub async fn set_admin(conn: &mut Conn, id: i64, admin: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET is_admin = $1, updated_at = $2 WHERE id = $3")
        .bind(flag(admin))
        .bind(now_ms())
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active admins other than `id`: guards against removing the last way in.
pub async fn other_active_admins(conn: &mut Conn, id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE is_admin = 1 AND status = 'active' AND id <> $1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?)
}

pub async fn require_password_change(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET must_change_password = 1 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
