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

/// Starts (or restarts) an enrolment: an unconfirmed secret replaces any unconfirmed one.
/// A confirmed authenticator is left alone (false): it must be removed first.
pub async fn start_totp(conn: &mut Conn, user_id: i64, sealed: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO mfa_totp (user_id, secret, confirmed, last_step, created_at) \
         VALUES ($1, $2, 0, 0, $3) ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
         created_at = excluded.created_at WHERE mfa_totp.confirmed = 0",
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

/// Removes the authenticator and the recovery codes; true if there was anything.
pub async fn remove_all(conn: &mut Conn, user_id: i64) -> Result<bool, StoreError> {
    let a = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let b = sqlx::query("DELETE FROM mfa_recovery WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(a + b > 0)
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
