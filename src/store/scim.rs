//! The SCIM bridge's tables: targets (per-app configuration and state), links (our user ↔
//! the target's user) and the durable job queue, one row per (app, user) to look at.

use serde::Serialize;
use sqlx::FromRow;

use super::{now_ms, Backend, Conn, StoreError};

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

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Link {
    pub app_id: i64,
    pub user_id: i64,
    pub username: String,
    pub remote_id: String,
    /// JSON object: SCIM path → the value last sent.
    pub synced: String,
    pub active: i64,
}

pub async fn link(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<Option<Link>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT app_id, user_id, username, remote_id, synced, active FROM scim_links \
         WHERE app_id = $1 AND user_id = $2",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn links(conn: &mut Conn, app_id: i64) -> Result<Vec<Link>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT app_id, user_id, username, remote_id, synced, active FROM scim_links \
         WHERE app_id = $1 ORDER BY user_id",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await?)
}

pub async fn put_link(conn: &mut Conn, l: &Link) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_links (app_id, user_id, username, remote_id, synced, active, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, user_id) DO UPDATE SET \
         username = excluded.username, remote_id = excluded.remote_id, synced = excluded.synced, \
         active = excluded.active, updated_at = excluded.updated_at",
    )
    .bind(l.app_id)
    .bind(l.user_id)
    .bind(&l.username)
    .bind(&l.remote_id)
    .bind(&l.synced)
    .bind(l.active)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_link(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM scim_links WHERE app_id = $1 AND user_id = $2")
        .bind(app_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The remote id of a linked user (for `manager`), if linked.
pub async fn remote_id(
    conn: &mut Conn,
    app_id: i64,
    user_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT remote_id FROM scim_links WHERE app_id = $1 AND user_id = $2")
            .bind(app_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}

// --- The queue -------------------------------------------------------------------------

/// The app has a target that is not switched off.
const LIVE: &str =
    "EXISTS (SELECT 1 FROM scim_targets t WHERE t.app_id = $1 AND t.state <> 'inactive')";

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

/// Queues (app, user) for every target that is not inactive.
pub async fn enqueue_user(conn: &mut Conn, user_id: i64) -> Result<(), StoreError> {
    queue(
        conn,
        "SELECT app_id, 'user', $1, $2, $2 FROM scim_targets WHERE state <> 'inactive'",
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
    queue(
        conn,
        "SELECT t.app_id, 'user', m.user_id, $2, $2 FROM scim_targets t, memberships m \
         WHERE t.state <> 'inactive' AND m.group_id = $1 AND ($3 IS NULL OR t.app_id = $3)",
        group_id,
        app_id,
    )
    .await?;
    Ok(())
}

/// Queues everyone the app may concern: members of its bound groups and linked users, and
/// the groups pushed to it: bound ones (when push_groups is on) and linked ones.
pub async fn enqueue_app(conn: &mut Conn, app_id: i64) -> Result<u64, StoreError> {
    let selects = [
        format!(
            "SELECT DISTINCT $1, 'user', m.user_id, $2, $2 FROM app_groups b JOIN memberships m \
             ON m.group_id = b.group_id WHERE b.app_id = $1 AND {LIVE}"
        ),
        format!("SELECT $1, 'user', user_id, $2, $2 FROM scim_links WHERE app_id = $1 AND {LIVE}"),
        format!(
            "SELECT $1, 'group', b.group_id, $2, $2 FROM app_groups b \
             WHERE b.app_id = $1 AND {LIVE} AND EXISTS (SELECT 1 FROM scim_targets t \
               WHERE t.app_id = $1 AND t.push_groups = 1)"
        ),
        format!(
            "SELECT $1, 'group', group_id, $2, $2 FROM scim_group_links WHERE app_id = $1 AND {LIVE}"
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
    queue(
        conn,
        "SELECT t.app_id, 'group', $1, $2, $2 FROM scim_targets t WHERE t.state <> 'inactive' \
           AND ((t.push_groups = 1 AND EXISTS (SELECT 1 FROM app_groups b \
                  WHERE b.app_id = t.app_id AND b.group_id = $1)) \
             OR EXISTS (SELECT 1 FROM scim_group_links g WHERE g.app_id = t.app_id AND g.group_id = $1))",
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
    queue(
        conn,
        "SELECT $1, 'group', m.group_id, $2, $2 FROM memberships m \
         WHERE m.user_id = $3 AND (EXISTS (SELECT 1 FROM scim_group_links g \
             WHERE g.app_id = $1 AND g.group_id = m.group_id) \
           OR EXISTS (SELECT 1 FROM app_groups b JOIN scim_targets t ON t.app_id = b.app_id \
             WHERE b.app_id = $1 AND b.group_id = m.group_id AND t.push_groups = 1))",
        app_id,
        Some(user_id),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct Job {
    pub id: i64,
    pub app_id: i64,
    /// `user` or `group`.
    pub kind: String,
    pub subject_id: i64,
    pub generation: i64,
    pub attempts: i64,
}

/// Leases up to `limit` due jobs of active targets to `owner`. Each job goes to one owner
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
    Ok(sqlx::query_as(&format!(
        "UPDATE scim_jobs SET lease_owner = $1, lease_until = $2 \
         WHERE lease_until < $3 AND id IN (SELECT j.id FROM scim_jobs j \
           JOIN scim_targets t ON t.app_id = j.app_id AND t.state = 'active' \
             AND t.paused_until <= $3 \
           WHERE j.not_before <= $3 AND j.lease_until < $3 ORDER BY j.id LIMIT $4 {lock}) \
         RETURNING id, app_id, kind, subject_id, generation, attempts"
    ))
    .bind(owner)
    .bind(now + lease_ms)
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
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

/// Removes the queued jobs of `user_ids` (a rejected deprovisioning batch).
pub async fn drop_jobs(conn: &mut Conn, app_id: i64, user_ids: &[i64]) -> Result<u64, StoreError> {
    let mut n = 0;
    for id in user_ids {
        n += sqlx::query(
            "DELETE FROM scim_jobs WHERE app_id = $1 AND kind = 'user' AND subject_id = $2",
        )
        .bind(app_id)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// The users with a queued job for an app.
pub async fn queued_users(conn: &mut Conn, app_id: i64) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT subject_id FROM scim_jobs WHERE app_id = $1 AND kind = 'user' ORDER BY id",
    )
    .bind(app_id)
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
         last_error = $5 WHERE id = $1 AND lease_owner = $2",
    )
    .bind(job.id)
    .bind(owner)
    .bind(not_before)
    .bind(if counted { 1i64 } else { 0 })
    .bind(error)
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

/// Makes every queued job of an app due now (resume, sync now).
pub async fn release_all(conn: &mut Conn, app_id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_jobs SET not_before = 0, attempts = 0 WHERE app_id = $1")
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

// --- Pushed groups -----------------------------------------------------------------------

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct GroupLink {
    pub app_id: i64,
    pub group_id: i64,
    pub name: String,
    pub remote_id: String,
    /// JSON array of the remote user ids last sent as members.
    pub members: String,
}

pub async fn group_link(
    conn: &mut Conn,
    app_id: i64,
    group_id: i64,
) -> Result<Option<GroupLink>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT app_id, group_id, name, remote_id, members FROM scim_group_links \
         WHERE app_id = $1 AND group_id = $2",
    )
    .bind(app_id)
    .bind(group_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn put_group_link(conn: &mut Conn, l: &GroupLink) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_group_links (app_id, group_id, name, remote_id, members, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (app_id, group_id) DO UPDATE SET \
         name = excluded.name, remote_id = excluded.remote_id, members = excluded.members, \
         updated_at = excluded.updated_at",
    )
    .bind(l.app_id)
    .bind(l.group_id)
    .bind(&l.name)
    .bind(&l.remote_id)
    .bind(&l.members)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_group_link(
    conn: &mut Conn,
    app_id: i64,
    group_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM scim_group_links WHERE app_id = $1 AND group_id = $2")
        .bind(app_id)
        .bind(group_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The remote ids of the group's members that have an active account in the target.
pub async fn member_remote_ids(
    conn: &mut Conn,
    app_id: i64,
    group_id: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT l.remote_id FROM memberships m JOIN scim_links l \
         ON l.user_id = m.user_id AND l.app_id = $1 \
         WHERE m.group_id = $2 AND l.active = 1 ORDER BY l.remote_id",
    )
    .bind(app_id)
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

/// Whether the group is bound to the app.
pub async fn is_bound(conn: &mut Conn, app_id: i64, group_id: i64) -> Result<bool, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM app_groups WHERE app_id = $1 AND group_id = $2")
            .bind(app_id)
            .bind(group_id)
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}
