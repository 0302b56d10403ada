//! Run-time SSO state: seen request IDs (replay), parked requests, persistent NameIDs, and
//! the SPs each portal session signed in to (for Single Logout).

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
        .execute(&mut *conn)
        .await?;
    let c = sqlx::query("DELETE FROM saml_participants WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(a.rows_affected() + b.rows_affected() + c.rows_affected())
}

/// An SP that was sent an assertion in a portal session, as a LogoutRequest must name the
/// user to it (Core §3.7.1): the portal session's index, the NameID and the `SessionIndex`
/// that SP was given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Participant {
    pub session_index: String,
    pub app_id: i64,
    pub user_id: i64,
    pub name_id: String,
    pub name_id_format: String,
    pub sp_session_index: String,
}

/// Records (or refreshes: a transient NameID changes each time) a session participant.
pub async fn join(conn: &mut Conn, p: &Participant, expires_at: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO saml_participants (session_index, app_id, user_id, name_id, name_id_format, \
         sp_session_index, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (session_index, app_id) DO UPDATE \
         SET user_id = excluded.user_id, name_id = excluded.name_id, \
         name_id_format = excluded.name_id_format, sp_session_index = excluded.sp_session_index, \
         expires_at = excluded.expires_at",
    )
    .bind(&p.session_index)
    .bind(p.app_id)
    .bind(p.user_id)
    .bind(&p.name_id)
    .bind(&p.name_id_format)
    .bind(&p.sp_session_index)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

type ParticipantRow = (String, i64, i64, String, String, String);

fn participants(rows: Vec<ParticipantRow>) -> Vec<Participant> {
    rows.into_iter()
        .map(
            |(session_index, app_id, user_id, name_id, name_id_format, sp_session_index)| {
                Participant {
                    session_index,
                    app_id,
                    user_id,
                    name_id,
                    name_id_format,
                    sp_session_index,
                }
            },
        )
        .collect()
}

const PARTICIPANT_COLUMNS: &str =
    "session_index, app_id, user_id, name_id, name_id_format, sp_session_index";

/// At most this many sessions one LogoutRequest can name (the work it can cause is bounded).
pub const MAX_NAMED: i64 = 32;

/// The SPs of one portal session. Rows are not filtered by age: a portal session lives as
/// long as it is used, and its SPs with it (`expires_at` only lets the sweep drop rows
/// nobody will ask for).
pub async fn participants_of(
    conn: &mut Conn,
    session_index: &str,
) -> Result<Vec<Participant>, StoreError> {
    let rows = sqlx::query_as(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM saml_participants \
         WHERE session_index = $1 ORDER BY app_id"
    ))
    .bind(session_index)
    .fetch_all(conn)
    .await?;
    Ok(participants(rows))
}

/// The sessions in which this app was given this NameID (at most `MAX_NAMED`).
pub async fn sessions_named(
    conn: &mut Conn,
    app_id: i64,
    name_id: &str,
) -> Result<Vec<Participant>, StoreError> {
    let rows = sqlx::query_as(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM saml_participants \
         WHERE app_id = $1 AND name_id = $2 ORDER BY expires_at DESC LIMIT {MAX_NAMED}"
    ))
    .bind(app_id)
    .bind(name_id)
    .fetch_all(conn)
    .await?;
    Ok(participants(rows))
}

/// Forgets every participant of a portal session (it ended).
pub async fn leave_all(conn: &mut Conn, session_index: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM saml_participants WHERE session_index = $1")
        .bind(session_index)
        .execute(conn)
        .await?;
    Ok(())
}
