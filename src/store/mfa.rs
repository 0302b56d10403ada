//! Second factors and the settings table: `mfa_totp` (one sealed authenticator-app secret per
//! user, with the last time step accepted), `mfa_recovery` (hashed single-use codes) and
//! `settings` (key → value, for the MFA policy).

use super::{flag, now_ms, Conn, StoreError};

/// A user's authenticator app.
#[derive(Debug, Clone)]
pub struct TotpRow {
    /// The secret, sealed.
    pub secret: String,
    /// Enrolment was confirmed with a first code.
    pub confirmed: bool,
    /// The last RFC 6238 time step accepted (codes of this step and earlier are spent).
    pub last_step: i64,
}

pub async fn totp(conn: &mut Conn, user_id: i64) -> Result<Option<TotpRow>, StoreError> {
    let row: Option<(String, i64, i64)> =
        sqlx::query_as("SELECT secret, confirmed, last_step FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(secret, confirmed, last_step)| TotpRow {
        secret,
        confirmed: confirmed != 0,
        last_step,
    }))
}

/// Starts an enrolment with this secret, unless one is enrolled or being enrolled already
/// (false): a second page load must not replace the key the user may have scanned.
pub async fn start_totp(conn: &mut Conn, user_id: i64, sealed: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO mfa_totp (user_id, secret, confirmed, last_step, created_at) \
         VALUES ($1, $2, 0, 0, $3) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Spends time step `step` (and confirms the enrolment): only if no code of that step or a
/// later one was accepted before, so that two requests racing with one code cannot both win.
pub async fn spend_step(conn: &mut Conn, user_id: i64, step: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mfa_totp SET last_step = $2, confirmed = $3 WHERE user_id = $1 AND last_step < $2",
    )
    .bind(user_id)
    .bind(step)
    .bind(flag(true))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes every second factor: the authenticator app, the passkeys and the recovery codes;
/// true if there was anything.
pub async fn remove_all(conn: &mut Conn, user_id: i64) -> Result<bool, StoreError> {
    let mut removed = 0;
    for table in ["mfa_totp", "mfa_passkeys", "mfa_recovery"] {
        removed += sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(removed > 0)
}

/// Removes the authenticator app only.
pub async fn remove_totp(conn: &mut Conn, user_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the user's recovery codes with these hashes.
pub async fn put_recovery(
    conn: &mut Conn,
    user_id: i64,
    hashes: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM mfa_recovery WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query("INSERT INTO mfa_recovery (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(h)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Uses the recovery code with this hash, once: false if it is unknown or spent.
pub async fn use_recovery(conn: &mut Conn, user_id: i64, hash: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mfa_recovery SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(hash)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many unused recovery codes the user has.
pub async fn recovery_left(conn: &mut Conn, user_id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM mfa_recovery WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

pub async fn setting(conn: &mut Conn, key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?,
    )
}

/// A setting, from memory unless something changed since it was read (the change counter:
/// this process's commits at once, the CLI's and other replicas' within a second). The SSO
/// path asks for the MFA policy on every answer; this keeps that off the database.
pub async fn cached_setting(db: &super::Db, key: &str) -> Result<Option<String>, StoreError> {
    if let Some(v) = db.remembered_setting(key) {
        return Ok(v);
    }
    let epoch = db.epoch();
    let v = setting(&mut *db.read().await?, key).await?;
    db.remember_setting(epoch, key, v.clone());
    Ok(v)
}

pub async fn put_setting(conn: &mut Conn, key: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's WebAuthn user handle, made on first use.
pub async fn user_handle(conn: &mut Conn, user_id: i64, fresh: &str) -> Result<String, StoreError> {
    sqlx::query(
        "INSERT INTO mfa_user_handles (user_id, handle) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(fresh)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT handle FROM mfa_user_handles WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(conn)
            .await?,
    )
}

/// The user a WebAuthn user handle belongs to.
pub async fn user_of_handle(conn: &mut Conn, handle: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT user_id FROM mfa_user_handles WHERE handle = $1")
            .bind(handle)
            .fetch_optional(conn)
            .await?,
    )
}

/// A registered passkey.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: i64,
    pub user_id: i64,
    pub cred_id: String,
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON.
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const PASSKEY_COLUMNS: &str =
    "id, user_id, cred_id, name, credential, created_at, last_used_at FROM mfa_passkeys";

pub async fn passkeys(conn: &mut Conn, user_id: i64) -> Result<Vec<PasskeyRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PASSKEY_COLUMNS} WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

pub async fn passkey_by_cred(
    conn: &mut Conn,
    cred_id: &str,
) -> Result<Option<PasskeyRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {PASSKEY_COLUMNS} WHERE cred_id = $1"))
            .bind(cred_id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn add_passkey(
    conn: &mut Conn,
    user_id: i64,
    cred_id: &str,
    name: &str,
    credential: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mfa_passkeys (user_id, cred_id, name, credential, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(cred_id)
    .bind(name)
    .bind(credential)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// After a use: the credential's new counter and flags, and when.
pub async fn used_passkey(conn: &mut Conn, id: i64, credential: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE mfa_passkeys SET credential = $2, last_used_at = $3 WHERE id = $1")
        .bind(id)
        .bind(credential)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn rename_passkey(
    conn: &mut Conn,
    user_id: i64,
    id: i64,
    name: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE mfa_passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove_passkey(conn: &mut Conn, user_id: i64, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM mfa_passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
