//! One-shot password sends (`scim::password`): one row per (app, user) holding the new
//! password sealed, written with the password change and deleted once sent or given up.

use super::states_where;
use crate::scim::target::TargetState;
use crate::store::{now_ms, Backend, Conn, StoreError};

/// A queued password send; `sealed` is opened only by the worker that sends it.
#[derive(Clone, sqlx::FromRow)]
pub struct PasswordJob {
    pub app_id: i64,
    pub user_id: i64,
    pub sealed: String,
    pub attempts: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for PasswordJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PasswordJob(app {}, user {}, attempt {})",
            self.app_id, self.user_id, self.attempts
        )
    }
}

/// The apps whose target syncs passwords and queues changes.
pub async fn password_targets(conn: &mut Conn) -> Result<Vec<i64>, StoreError> {
    let queueing = states_where(TargetState::queues_changes);
    Ok(sqlx::query_scalar(&format!(
        "SELECT app_id FROM scim_targets WHERE password_sync = 1 AND state IN {queueing} \
         ORDER BY app_id"
    ))
    .fetch_all(conn)
    .await?)
}

/// Queues a send; a newer password replaces one not sent yet.
pub async fn queue_password(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
    sealed: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_password_jobs (app_id, user_id, sealed, not_before, expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, user_id) DO UPDATE SET \
         sealed = excluded.sealed, attempts = 0, not_before = excluded.not_before, \
         expires_at = excluded.expires_at, lease_until = 0, lease_owner = ''",
    )
    .bind(app_id)
    .bind(user_id)
    .bind(sealed)
    .bind(now_ms())
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Leases up to `limit` due sends of targets that send requests.
pub async fn claim_passwords(
    conn: &mut Conn,
    backend: Backend,
    owner: &str,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<PasswordJob>, StoreError> {
    let now = now_ms();
    let lock = if backend == Backend::Postgres {
        "FOR UPDATE OF j SKIP LOCKED"
    } else {
        ""
    };
    let sending = states_where(TargetState::sends_requests);
    Ok(sqlx::query_as(&format!(
        "UPDATE scim_password_jobs SET lease_owner = $1, lease_until = $2 \
         WHERE lease_until < $3 AND (app_id, user_id) IN (SELECT j.app_id, j.user_id \
           FROM scim_password_jobs j JOIN scim_targets t ON t.app_id = j.app_id \
             AND t.state IN {sending} AND t.paused_until <= $3 \
           WHERE j.not_before <= $3 AND j.lease_until < $3 LIMIT $4 {lock}) \
         RETURNING app_id, user_id, sealed, attempts, expires_at"
    ))
    .bind(owner)
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Deletes a send (done or given up) unless a newer password replaced it meanwhile.
pub async fn drop_password(conn: &mut Conn, job: &PasswordJob) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM scim_password_jobs WHERE app_id = $1 AND user_id = $2 AND sealed = $3",
    )
    .bind(job.app_id)
    .bind(job.user_id)
    .bind(&job.sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// Puts a send back for `at`, counting an attempt when `counted`.
pub async fn retry_password(
    conn: &mut Conn,
    job: &PasswordJob,
    at: i64,
    counted: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_password_jobs SET not_before = $4, lease_until = 0, lease_owner = '', \
         attempts = attempts + $5 WHERE app_id = $1 AND user_id = $2 AND sealed = $3",
    )
    .bind(job.app_id)
    .bind(job.user_id)
    .bind(&job.sealed)
    .bind(at)
    .bind(i64::from(counted))
    .execute(conn)
    .await?;
    Ok(())
}
