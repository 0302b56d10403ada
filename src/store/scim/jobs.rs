//! The durable job queue: one row per (app, user or group) to look at, fed by directory
//! changes in their own transactions and leased by the worker (`scim::engine`).

use super::{decode, states_where};
use crate::scim::job::JobKind;
use crate::scim::target::TargetState;
use crate::store::{now_ms, Backend, Conn, StoreError};

/// `state IN (...)`: the states whose targets queue directory changes.
fn queueing() -> String {
    states_where(TargetState::queues_changes)
}

/// `'user'`, `'group'`: a kind as an SQL literal (our own constant words).
fn kind(k: JobKind) -> String {
    format!("'{}'", k.as_str())
}

/// The app `$1` has a target that queues changes.
fn live() -> String {
    format!(
        "EXISTS (SELECT 1 FROM scim_targets t WHERE t.app_id = $1 AND t.state IN {})",
        queueing()
    )
}

const UPSERT: &str =
    "ON CONFLICT (app_id, kind, subject_id) DO UPDATE SET generation = scim_jobs.generation + 1";

/// Inserts the (app, kind, subject, due, created) rows `select` yields as due jobs, bumping
/// the generation of those already queued. In `select`, `$1` is `first`, `$2` is now and
/// `$3` (when used) is `third`.
async fn queue(
    conn: &mut Conn,
    select: &str,
    first: i64,
    third: Option<i64>,
) -> Result<u64, StoreError> {
    let sql = format!(
        "INSERT INTO scim_jobs (app_id, kind, subject_id, not_before, created_at) {select} {UPSERT}"
    );
    let mut q = sqlx::query(&sql).bind(first).bind(now_ms());
    if select.contains("$3") {
        q = q.bind(third);
    }
    Ok(q.execute(conn).await?.rows_affected())
}

/// Queues (app, user) for every target that queues changes.
pub async fn enqueue_user(conn: &mut Conn, user_id: i64) -> Result<(), StoreError> {
    let (user, queueing) = (kind(JobKind::User), queueing());
    queue(
        conn,
        &format!("SELECT app_id, {user}, $1, $2, $2 FROM scim_targets WHERE state IN {queueing}"),
        user_id,
        None,
    )
    .await?;
    Ok(())
}

/// Queues a new user for every target that provisions everyone (scope `all`): elsewhere a
/// new user is in no group and assigned to nothing yet.
pub async fn enqueue_new_user(conn: &mut Conn, user_id: i64) -> Result<(), StoreError> {
    let (user, queueing) = (kind(JobKind::User), queueing());
    queue(
        conn,
        &format!(
            "SELECT app_id, {user}, $1, $2, $2 FROM scim_targets \
             WHERE state IN {queueing} AND scope = 'all'"
        ),
        user_id,
        None,
    )
    .await?;
    Ok(())
}

/// Queues every member of a group for one app (a binding changed) or for every target.
pub async fn enqueue_group(
    conn: &mut Conn,
    group_id: i64,
    app_id: Option<i64>,
) -> Result<(), StoreError> {
    let (user, queueing) = (kind(JobKind::User), queueing());
    queue(
        conn,
        &format!(
            "SELECT t.app_id, {user}, m.user_id, $2, $2 FROM scim_targets t, memberships m \
             WHERE t.state IN {queueing} AND m.group_id = $1 AND ($3 IS NULL OR t.app_id = $3)"
        ),
        group_id,
        app_id,
    )
    .await?;
    Ok(())
}

/// Queues everyone the app may concern: members of its bound groups, users assigned to it
/// directly, every active user when its scope is `all`, and linked users, and
/// the groups pushed to it: bound ones (when push_groups is on) and linked ones.
pub async fn enqueue_app(conn: &mut Conn, app_id: i64) -> Result<u64, StoreError> {
    let (user, group, live) = (kind(JobKind::User), kind(JobKind::Group), live());
    let selects = [
        format!(
            "SELECT DISTINCT $1, {user}, m.user_id, $2, $2 FROM app_groups b JOIN memberships m \
             ON m.group_id = b.group_id WHERE b.app_id = $1 AND {live}"
        ),
        format!("SELECT $1, {user}, user_id, $2, $2 FROM app_users WHERE app_id = $1 AND {live}"),
        format!(
            "SELECT $1, {user}, u.id, $2, $2 FROM users u WHERE u.status = 'active' AND {live} \
             AND EXISTS (SELECT 1 FROM scim_targets t WHERE t.app_id = $1 AND t.scope = 'all')"
        ),
        format!("SELECT $1, {user}, user_id, $2, $2 FROM scim_links WHERE app_id = $1 AND {live}"),
        format!(
            "SELECT $1, {group}, b.group_id, $2, $2 FROM app_groups b \
             WHERE b.app_id = $1 AND {live} AND EXISTS (SELECT 1 FROM scim_targets t \
               WHERE t.app_id = $1 AND t.push_groups = 1)"
        ),
        format!(
            "SELECT $1, {group}, group_id, $2, $2 FROM scim_group_links WHERE app_id = $1 AND {live}"
        ),
    ];
    let mut n = 0;
    for select in &selects {
        n += queue(&mut *conn, select, app_id, None).await?;
    }
    Ok(n)
}

/// Queues a group for every live target it is pushed to (bound with push_groups on, or
/// already linked): its name or members changed, it was bound, unbound or deleted.
pub async fn enqueue_group_push(conn: &mut Conn, group_id: i64) -> Result<(), StoreError> {
    let (group, queueing) = (kind(JobKind::Group), queueing());
    queue(
        conn,
        &format!(
            "SELECT t.app_id, {group}, $1, $2, $2 FROM scim_targets t WHERE t.state IN {queueing} \
               AND ((t.push_groups = 1 AND EXISTS (SELECT 1 FROM app_groups b \
                      WHERE b.app_id = t.app_id AND b.group_id = $1)) \
                 OR EXISTS (SELECT 1 FROM scim_group_links g \
                      WHERE g.app_id = t.app_id AND g.group_id = $1))"
        ),
        group_id,
        None,
    )
    .await?;
    Ok(())
}

/// Queues, for one app, the pushed groups `user_id` belongs to (their member lists follow
/// the user's account: linked, deactivated, deleted).
pub async fn enqueue_groups_of_user(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
) -> Result<(), StoreError> {
    let group = kind(JobKind::Group);
    queue(
        conn,
        &format!(
            "SELECT $1, {group}, m.group_id, $2, $2 FROM memberships m \
             WHERE m.user_id = $3 AND (EXISTS (SELECT 1 FROM scim_group_links g \
                 WHERE g.app_id = $1 AND g.group_id = m.group_id) \
               OR EXISTS (SELECT 1 FROM app_groups b JOIN scim_targets t ON t.app_id = b.app_id \
                 WHERE b.app_id = $1 AND b.group_id = m.group_id AND t.push_groups = 1))"
        ),
        app_id,
        Some(user_id),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub app_id: i64,
    pub kind: JobKind,
    pub subject_id: i64,
    pub generation: i64,
    pub attempts: i64,
}

/// Leases up to `limit` due jobs of targets that send requests to `owner`. Each job goes to one owner
/// only, also across replicas sharing PostgreSQL (SKIP LOCKED, and the lease is re-checked
/// on the row being updated).
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    owner: &str,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    let now = now_ms();
    let lock = if backend == Backend::Postgres {
        "FOR UPDATE OF j SKIP LOCKED"
    } else {
        ""
    };
    let sending = states_where(TargetState::sends_requests);
    let rows: Vec<(i64, i64, String, i64, i64, i64)> = sqlx::query_as(&format!(
        "UPDATE scim_jobs SET lease_owner = $1, lease_until = $2 \
         WHERE lease_until < $3 AND id IN (SELECT j.id FROM scim_jobs j \
           JOIN scim_targets t ON t.app_id = j.app_id AND t.state IN {sending} \
             AND t.paused_until <= $3 \
           WHERE j.not_before <= $3 AND j.lease_until < $3 ORDER BY j.id LIMIT $4 {lock}) \
         RETURNING id, app_id, kind, subject_id, generation, attempts"
    ))
    .bind(owner)
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, app_id, kind, subject_id, generation, attempts)| {
            Ok(Job {
                id,
                app_id,
                kind: decode("scim_jobs.kind", &kind, JobKind::parse)?,
                subject_id,
                generation,
                attempts,
            })
        })
        .collect()
}

/// Removes the queued jobs of `user_ids` (a rejected deprovisioning batch).
pub async fn drop_jobs(conn: &mut Conn, app_id: i64, user_ids: &[i64]) -> Result<u64, StoreError> {
    let mut n = 0;
    for id in user_ids {
        n += sqlx::query(
            "DELETE FROM scim_jobs WHERE app_id = $1 AND kind = $3 AND subject_id = $2",
        )
        .bind(app_id)
        .bind(id)
        .bind(JobKind::User.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// The users with a queued job for an app.
pub async fn queued_users(conn: &mut Conn, app_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT subject_id FROM scim_jobs WHERE app_id = $1 AND kind = $2 ORDER BY id",
    )
    .bind(app_id)
    .bind(JobKind::User.as_str())
    .fetch_all(conn)
    .await?)
}

/// Extends the leases `owner` holds (its worker is alive).
pub async fn renew(conn: &mut Conn, owner: &str, lease_ms: i64) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "UPDATE scim_jobs SET lease_until = $2 WHERE lease_owner = $1 AND lease_until > $3",
    )
    .bind(owner)
    .bind(now + lease_ms)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The job is done, unless a newer change arrived meanwhile (then it runs again).
pub async fn finish(conn: &mut Conn, job: &Job, owner: &str) -> Result<(), StoreError> {
    let done =
        sqlx::query("DELETE FROM scim_jobs WHERE id = $1 AND generation = $2 AND lease_owner = $3")
            .bind(job.id)
            .bind(job.generation)
            .bind(owner)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() == 0 {
        sqlx::query(
            "UPDATE scim_jobs SET lease_until = 0, attempts = 0, last_error = '' \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(job.id)
        .bind(owner)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Notes that a request to the app's target succeeded at `at` (the console's "last success").
pub async fn mark_ok(conn: &mut Conn, app_id: i64, at: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_targets SET last_ok_at = $2 WHERE app_id = $1 AND last_ok_at < $2")
        .bind(app_id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Notes when Test connection passed (`at`), or that it must pass again (0: the URL,
/// connector or credential changed).
pub async fn set_tested(conn: &mut Conn, app_id: i64, at: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_targets SET tested_at = $2 WHERE app_id = $1")
        .bind(app_id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// When Test connection last passed with the current settings (unix ms; 0: not since).
pub async fn tested(conn: &mut Conn, app_id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT tested_at FROM scim_targets WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(conn)
            .await?
            .unwrap_or(0),
    )
}

/// When a request to the app's target last succeeded (unix ms; 0: never).
pub async fn last_ok(conn: &mut Conn, app_id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT last_ok_at FROM scim_targets WHERE app_id = $1")
            .bind(app_id)
            .fetch_optional(conn)
            .await?
            .unwrap_or(0),
    )
}

/// Gives the job back to run at `not_before` (a retry, or a target that is not active).
pub async fn retry(
    conn: &mut Conn,
    job: &Job,
    owner: &str,
    not_before: i64,
    counted: bool,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_jobs SET lease_until = 0, not_before = $3, attempts = attempts + $4, \
         last_error = $5, last_error_at = $6 WHERE id = $1 AND lease_owner = $2",
    )
    .bind(job.id)
    .bind(owner)
    .bind(not_before)
    .bind(if counted { 1i64 } else { 0 })
    .bind(error)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Jobs still queued for an app (the sync progress and the console's queue depth).
pub async fn depth(conn: &mut Conn, app_id: i64) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM scim_jobs WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(conn)
            .await?,
    )
}

/// The most recent failure among an app's queued jobs: what it was, when, after how many
/// attempts, and when the job is tried next.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Failing {
    pub error: String,
    pub at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// Queued jobs that have failed at least once.
    pub failing_jobs: i64,
}

pub async fn failing(conn: &mut Conn, app_id: i64) -> Result<Option<Failing>, StoreError> {
    let last: Option<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT last_error, last_error_at, attempts, not_before FROM scim_jobs \
         WHERE app_id = $1 AND last_error <> '' ORDER BY last_error_at DESC LIMIT 1",
    )
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((error, at, attempts, next_attempt_at)) = last else {
        return Ok(None);
    };
    let failing_jobs =
        sqlx::query_scalar("SELECT COUNT(*) FROM scim_jobs WHERE app_id = $1 AND last_error <> ''")
            .bind(app_id)
            .fetch_one(conn)
            .await?;
    Ok(Some(Failing {
        error,
        at,
        attempts,
        next_attempt_at,
        failing_jobs,
    }))
}

/// Makes every queued job of an app due now (resume, sync now).
pub async fn release_all(conn: &mut Conn, app_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_jobs SET not_before = 0, attempts = 0 WHERE app_id = $1")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}
