//! Browser sessions in the database (tower-sessions `SessionStore`), so they survive a
//! restart and are shared by replicas. Rows are keyed by a SHA-256 of the session id: a
//! copy of the database does not hand out live sessions.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::{now_ms, Conn, Db, Small, StoreError};

#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        DbSessionStore { db }
    }

    /// Removes expired rows; run periodically by `serve`.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now_ms())
            .execute(&mut *self.db.write().await?)
            .await?;
        Ok(done.rows_affected())
    }
}

/// The row key of a session: the SHA-256 of its id. It names a session to its own user (on
/// the account page) without giving the id away.
pub fn key(id: &Id) -> String {
    super::sha256_hex(&id.to_string())
}

/// The user a record belongs to: signed in (`uid`), or between password and second factor
/// (`pending_uid`), as `auth::session` keeps them.
fn owner(record: &Record) -> Option<i64> {
    ["uid", "pending_uid"]
        .iter()
        .find_map(|k| record.data.get(*k).and_then(|v| v.as_i64()))
}

/// A live session of a user: its key, its data (as `auth::session` wrote it) and expiry.
pub async fn of_user(
    conn: &mut Conn,
    user_id: i64,
) -> Result<Vec<(String, serde_json::Value, i64)>, StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT id_hash, data, expires_at FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY expires_at DESC",
    )
    .bind(user_id)
    .bind(now_ms())
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(k, d, e)| (k, serde_json::from_str(&d).unwrap_or_default(), e))
        .collect())
}

/// Ends a user's session by key (only theirs); true if there was one.
pub async fn end_one(conn: &mut Conn, user_id: i64, key: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash = $2")
        .bind(user_id)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of a user but `keep`; how many.
pub async fn end_all(conn: &mut Conn, user_id: i64, keep: Option<&str>) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// The message a session-store error carries when the database was busy, so that the
/// web layer can answer 503 rather than 500 (`auth::session::SessionError::is_busy`).
pub const BUSY: &str = "database busy";

fn backend(e: impl Into<StoreError>) -> session_store::Error {
    let e = e.into();
    if e.is_busy() {
        session_store::Error::Backend(format!("{BUSY}: {e}"))
    } else {
        session_store::Error::Backend(e.to_string())
    }
}

/// Updates a session record (the group commit's `Small::Session`). Only an existing row:
/// a save queued by one request must not bring back a session that another request ended
/// meanwhile (sign-out, a new id at sign-in). New sessions go through `create`.
pub async fn update(
    conn: &mut Conn,
    id_hash: &str,
    data: &str,
    expires_at: i64,
    user_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET data = $2, expires_at = $3, user_id = $4 WHERE id_hash = $1")
        .bind(id_hash)
        .bind(data)
        .bind(expires_at)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

fn expiry_ms(record: &Record) -> i64 {
    (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // A fresh id on the (astronomically unlikely) collision, never an overwrite.
        let mut conn = self.db.write().await.map_err(backend)?;
        loop {
            let done = sqlx::query(
                "INSERT INTO sessions (id_hash, data, expires_at, user_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(key(&record.id))
            .bind(&data)
            .bind(expiry_ms(record))
            .bind(owner(record))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// A save is a small write: it joins the next group commit (a touch of every active
    /// session each minute would otherwise be a commit each). It comes after the request
    /// did its work (an SSO answer already recorded, a form already applied), so a busy
    /// database does not turn that work into an error page: the save is logged and
    /// skipped, and the session keeps its stored state (a touch comes again next request).
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let saved = self
            .db
            .group(Small::Session {
                id_hash: key(&record.id),
                data,
                expires_at: expiry_ms(record),
                user_id: owner(record),
            })
            .await;
        match saved {
            Err(e) if e.is_busy() => {
                tracing::warn!(error = %e, "session not saved: the database is busy");
                Ok(())
            }
            other => other.map(|_| ()).map_err(backend),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(key(id))
        .bind(now_ms())
        .fetch_optional(&mut *self.db.read().await.map_err(backend)?)
        .await
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(key(id))
            .execute(&mut *self.db.write().await.map_err(backend)?)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
