//! Targets: one row per app with Identity Management set up — its settings, its state and
//! the counters the worker keeps (failures, throttling pause, deprovisioning window).

use serde::Serialize;
use sqlx::FromRow;

use crate::store::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, FromRow, PartialEq, Eq)]
pub struct TargetRow {
    pub app_id: i64,
    pub connector: String,
    pub base_url: String,
    pub auth: String,
    pub basic_user: String,
    /// Sealed; see `scim::secret`.
    #[serde(skip)]
    pub secret: String,
    pub excluded: String,
    pub deprovision: String,
    pub push_groups: i64,
    pub deletion_threshold: i64,
    pub state: String,
    pub state_reason: String,
    pub failures: i64,
    pub last_sync_at: i64,
    pub updated_at: i64,
    /// Deprovisioning over the threshold is allowed until this time (an admin approved it).
    pub approved_until: i64,
    /// Throttled (429/503): nothing is sent before this time.
    pub paused_until: i64,
}

const TARGET_COLS: &str = "app_id, connector, base_url, auth, basic_user, secret, excluded, \
     deprovision, push_groups, deletion_threshold, state, state_reason, failures, last_sync_at, updated_at, \
     approved_until, paused_until";

pub async fn target(conn: &mut Conn, app_id: i64) -> Result<Option<TargetRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TARGET_COLS} FROM scim_targets WHERE app_id = $1"
    ))
    .bind(app_id)
    .fetch_optional(conn)
    .await?)
}

/// What changes whenever a target's settings or state do (see `scim::engine`'s cache).
pub type TargetVersion = (i64, i64, String, i64);

pub async fn version(conn: &mut Conn, app_id: i64) -> Result<Option<TargetVersion>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT updated_at, paused_until, state, failures FROM scim_targets WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn put_target(conn: &mut Conn, t: &TargetRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_targets (app_id, connector, base_url, auth, basic_user, secret, excluded, \
         deprovision, push_groups, deletion_threshold, state, state_reason, failures, last_sync_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (app_id) DO UPDATE SET connector = excluded.connector, \
         base_url = excluded.base_url, auth = excluded.auth, basic_user = excluded.basic_user, \
         secret = excluded.secret, excluded = excluded.excluded, deprovision = excluded.deprovision, \
         push_groups = excluded.push_groups, deletion_threshold = excluded.deletion_threshold, \
         state = excluded.state, state_reason = excluded.state_reason, failures = excluded.failures, \
         last_sync_at = excluded.last_sync_at, \
         updated_at = CASE WHEN excluded.updated_at > scim_targets.updated_at \
           THEN excluded.updated_at ELSE scim_targets.updated_at + 1 END",
    )
    .bind(t.app_id)
    .bind(&t.connector)
    .bind(&t.base_url)
    .bind(&t.auth)
    .bind(&t.basic_user)
    .bind(&t.secret)
    .bind(&t.excluded)
    .bind(&t.deprovision)
    .bind(t.push_groups)
    .bind(t.deletion_threshold)
    .bind(&t.state)
    .bind(&t.state_reason)
    .bind(t.failures)
    .bind(t.last_sync_at)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the state (and reason); `failures` resets unless quarantining.
pub async fn set_state(
    conn: &mut Conn,
    app_id: i64,
    state: &str,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_targets SET state = $2, state_reason = $3, failures = 0, \
         updated_at = CASE WHEN $4 > updated_at THEN $4 ELSE updated_at + 1 END \
         WHERE app_id = $1",
    )
    .bind(app_id)
    .bind(state)
    .bind(reason)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a failed request; returns the count of failures in a row.
pub async fn count_failure(conn: &mut Conn, app_id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE scim_targets SET failures = failures + 1 WHERE app_id = $1 RETURNING failures",
    )
    .bind(app_id)
    .fetch_optional(conn)
    .await?
    .unwrap_or(0))
}

pub async fn reset_failures(conn: &mut Conn, app_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_targets SET failures = 0 WHERE app_id = $1 AND failures <> 0")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Pauses a throttled target for every worker until `until` (unix ms).
pub async fn pause(conn: &mut Conn, app_id: i64, until: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_targets SET paused_until = $2 WHERE app_id = $1 AND paused_until < $2",
    )
    .bind(app_id)
    .bind(until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Allows deprovisioning past the threshold until `until`, and resumes the target.
pub async fn approve(conn: &mut Conn, app_id: i64, until: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_targets SET approved_until = $2, state = 'active', state_reason = '', \
         failures = 0, deprov_used = 0, \
         updated_at = CASE WHEN $3 > updated_at THEN $3 ELSE updated_at + 1 END WHERE app_id = $1",
    )
    .bind(app_id)
    .bind(until)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one deprovisioning against the target's window (`window_ms` long) and returns
/// how many the window now holds; atomic, so concurrent workers cannot all slip under.
pub async fn count_deprovision(
    conn: &mut Conn,
    app_id: i64,
    window_ms: i64,
) -> Result<i64, StoreError> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "UPDATE scim_targets SET \
           deprov_used = CASE WHEN deprov_since < $2 THEN 1 ELSE deprov_used + 1 END, \
           deprov_since = CASE WHEN deprov_since < $2 THEN $3 ELSE deprov_since END \
         WHERE app_id = $1 RETURNING deprov_used",
    )
    .bind(app_id)
    .bind(now - window_ms)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// Active targets whose last full sync is older than `every_ms`.
pub async fn due_for_reconciliation(
    conn: &mut Conn,
    every_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT app_id FROM scim_targets WHERE state = 'active' AND last_sync_at < $1",
    )
    .bind(now_ms() - every_ms)
    .fetch_all(conn)
    .await?)
}

/// Records a full sync (activation or reconciliation) as of now: the schedule starts again.
pub async fn mark_synced(conn: &mut Conn, app_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_targets SET last_sync_at = $2 WHERE app_id = $1")
        .bind(app_id)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the target: its queued jobs, its user links and its settings.
pub async fn delete_target(conn: &mut Conn, app_id: i64) -> Result<(), StoreError> {
    for table in ["scim_jobs", "scim_links", "scim_targets"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
            .bind(app_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
