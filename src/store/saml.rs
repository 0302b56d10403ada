//! Run-time SSO state: seen request IDs (replay), parked requests, persistent NameIDs.

use super::{now_ms, Conn, StoreError};

/// Records that `request_id` from this app was accepted; false when it was seen before.
pub async fn first_sight(
    conn: &mut Conn,
    app_id: i64,
    request_id: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO saml_seen_requests (app_id, request_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id, request_id) DO NOTHING",
    )
    .bind(app_id)
    .bind(request_id)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn park(
    conn: &mut Conn,
    handle_hash: &str,
    app_id: i64,
    payload: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO saml_pending (handle_hash, app_id, payload, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(handle_hash)
    .bind(app_id)
    .bind(payload)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The parked request's payload, if it exists, belongs to `app_id` and has not expired.
pub async fn parked(
    conn: &mut Conn,
    handle_hash: &str,
    app_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT payload FROM saml_pending WHERE handle_hash = $1 AND app_id = $2 AND expires_at > $3",
    )
    .bind(handle_hash)
    .bind(app_id)
    .bind(now_ms())
    .fetch_optional(conn)
    .await?)
}

/// Removes the parked request; true for the one caller that removed it (single use).
pub async fn unpark(conn: &mut Conn, handle_hash: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM saml_pending WHERE handle_hash = $1")
        .bind(handle_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The stable, opaque per-app identifier of a user (NameID source `persistent-id`).
pub async fn persistent_id(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
    fresh: &str,
) -> Result<String, StoreError> {
    sqlx::query(
        "INSERT INTO saml_persistent_ids (app_id, user_id, value) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id, user_id) DO NOTHING",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(fresh)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT value FROM saml_persistent_ids WHERE app_id = $1 AND user_id = $2",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

/// The user's persistent identifier for the app, if one was made.
pub async fn known_persistent_id(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT value FROM saml_persistent_ids WHERE app_id = $1 AND user_id = $2",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

/// Drops expired replay records and parked requests.
pub async fn sweep(conn: &mut Conn) -> Result<u64, StoreError> {
    let now = now_ms();
    let a = sqlx::query("DELETE FROM saml_seen_requests WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let b = sqlx::query("DELETE FROM saml_pending WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(a.rows_affected() + b.rows_affected())
}
