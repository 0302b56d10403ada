//! Targets: one row per app with Identity Management set up — its settings, its state and
//! the counters the worker keeps (failures, throttling pause, deprovisioning window).

use std::sync::LazyLock;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{decode, states_where};
use crate::scim::filter::Filters;
use crate::scim::maps::Maps;
use crate::scim::matching::Matching;
use crate::scim::target::{AuthKind, Deprovision, Scope, TargetState};
use crate::store::{now_ms, Conn, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TargetRow {
    pub app_id: i64,
    pub connector: String,
    pub base_url: String,
    pub auth: AuthKind,
    pub basic_user: String,
    /// Sealed; see `scim::secret`.
    #[serde(skip)]
    pub secret: String,
    pub excluded: String,
    pub deprovision: Deprovision,
    pub push_groups: bool,
    /// Send a password a user sets in sesame to this target (once, `scim::password`).
    pub password_sync: bool,
    pub deletion_threshold: i64,
    /// Whom it provisions before the filters.
    pub scope: Scope,
    /// Scoping filters (stored as their canonical text).
    pub filters: Filters,
    /// Matching precedence (stored comma-separated).
    pub matching: Matching,
    /// The target's own attribute mappings (stored as their text, one a line).
    pub mappings: Maps,
    pub state: TargetState,
    pub state_reason: String,
    pub failures: i64,
    pub last_sync_at: i64,
    pub updated_at: i64,
    /// Deprovisioning over the threshold is allowed until this time (an admin approved it).
    pub approved_until: i64,
    /// Throttled (429/503): nothing is sent before this time.
    pub paused_until: i64,
    /// What the target's /ServiceProviderConfig says (RFC 7643 §5), as of `discovered_at`
    /// (0: not read yet; PATCH assumed, no ETags).
    pub caps: Capabilities,
}

/// The target's capabilities sesame acts on: PATCH (else PUT, RFC 7644 §3.5.1) and ETags
/// (`If-Match`, §3.14).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    pub etag: bool,
    pub discovered_at: i64,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            patch: true,
            etag: false,
            discovered_at: 0,
        }
    }
}

/// The columns `put_target` writes, in the order it binds them: `app_id` first (the key),
/// `updated_at` last (it only grows).
const WRITTEN: [&str; 20] = [
    "app_id",
    "connector",
    "base_url",
    "auth",
    "basic_user",
    "secret",
    "excluded",
    "deprovision",
    "push_groups",
    "password_sync",
    "deletion_threshold",
    "scope",
    "filters",
    "matching",
    "mappings",
    "state",
    "state_reason",
    "failures",
    "last_sync_at",
    "updated_at",
];

/// Columns read with the rest but written only by their own statements (`approve`, `pause`).
const KEPT: [&str; 5] = [
    "approved_until",
    "paused_until",
    "patch_supported",
    "etag_supported",
    "discovered_at",
];

static SELECT: LazyLock<String> = LazyLock::new(|| {
    let cols = [WRITTEN.as_slice(), KEPT.as_slice()].concat().join(", ");
    format!("SELECT {cols} FROM scim_targets WHERE app_id = $1")
});

static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (1..=WRITTEN.len()).map(|i| format!("${i}")).collect();
    let settings: Vec<String> = WRITTEN[1..WRITTEN.len() - 1]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO scim_targets ({}) VALUES ({}) ON CONFLICT (app_id) DO UPDATE SET {}, \
         updated_at = CASE WHEN excluded.updated_at > scim_targets.updated_at \
           THEN excluded.updated_at ELSE scim_targets.updated_at + 1 END",
        WRITTEN.join(", "),
        params.join(", "),
        settings.join(", ")
    )
});

fn target_row(r: &AnyRow) -> Result<TargetRow, StoreError> {
    let word = |c: &str| r.try_get::<String, _>(c);
    Ok(TargetRow {
        app_id: r.try_get("app_id")?,
        connector: r.try_get("connector")?,
        base_url: r.try_get("base_url")?,
        auth: decode("scim_targets.auth", &word("auth")?, AuthKind::parse)?,
        basic_user: r.try_get("basic_user")?,
        secret: r.try_get("secret")?,
        excluded: r.try_get("excluded")?,
        deprovision: decode(
            "scim_targets.deprovision",
            &word("deprovision")?,
            Deprovision::parse,
        )?,
        push_groups: r.try_get::<i64, _>("push_groups")? != 0,
        password_sync: r.try_get::<i64, _>("password_sync")? != 0,
        deletion_threshold: r.try_get("deletion_threshold")?,
        scope: decode("scim_targets.scope", &word("scope")?, Scope::parse)?,
        filters: decode("scim_targets.filters", &word("filters")?, |t| {
            Filters::parse(t).ok()
        })?,
        matching: decode("scim_targets.matching", &word("matching")?, |t| {
            Matching::parse(t).ok()
        })?,
        mappings: decode("scim_targets.mappings", &word("mappings")?, |t| {
            Maps::parse(t).ok()
        })?,
        state: decode("scim_targets.state", &word("state")?, TargetState::parse)?,
        state_reason: r.try_get("state_reason")?,
        failures: r.try_get("failures")?,
        last_sync_at: r.try_get("last_sync_at")?,
        updated_at: r.try_get("updated_at")?,
        approved_until: r.try_get("approved_until")?,
        paused_until: r.try_get("paused_until")?,
        caps: Capabilities {
            patch: r.try_get::<i64, _>("patch_supported")? != 0,
            etag: r.try_get::<i64, _>("etag_supported")? != 0,
            discovered_at: r.try_get("discovered_at")?,
        },
    })
}

pub async fn target(conn: &mut Conn, app_id: i64) -> Result<Option<TargetRow>, StoreError> {
    let row = sqlx::query(SELECT.as_str())
        .bind(app_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(target_row).transpose()
}

/// What changes whenever a target's settings or state do: `scim::engine` keeps a target's
/// decrypted client while this stays the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetVersion {
    pub updated_at: i64,
    pub paused_until: i64,
    pub state: TargetState,
    pub failures: i64,
}

pub async fn version(conn: &mut Conn, app_id: i64) -> Result<Option<TargetVersion>, StoreError> {
    let row: Option<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT updated_at, paused_until, state, failures FROM scim_targets WHERE app_id = $1",
    )
    .bind(app_id)
    .fetch_optional(conn)
    .await?;
    row.map(|(updated_at, paused_until, state, failures)| {
        Ok(TargetVersion {
            updated_at,
            paused_until,
            state: decode("scim_targets.state", &state, TargetState::parse)?,
            failures,
        })
    })
    .transpose()
}

pub async fn put_target(conn: &mut Conn, t: &TargetRow) -> Result<(), StoreError> {
    // In the order of `WRITTEN`.
    sqlx::query(UPSERT.as_str())
        .bind(t.app_id)
        .bind(&t.connector)
        .bind(&t.base_url)
        .bind(t.auth.as_str())
        .bind(&t.basic_user)
        .bind(&t.secret)
        .bind(&t.excluded)
        .bind(t.deprovision.as_str())
        .bind(i64::from(t.push_groups))
        .bind(i64::from(t.password_sync))
        .bind(t.deletion_threshold)
        .bind(t.scope.as_str())
        .bind(t.filters.to_string())
        .bind(t.matching.to_string())
        .bind(t.mappings.to_string())
        .bind(t.state.as_str())
        .bind(&t.state_reason)
        .bind(t.failures)
        .bind(t.last_sync_at)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

/// Records what the target's /ServiceProviderConfig says (`discovered_at` 0 forgets it: the
/// next contact reads it again). A new version, so every worker picks it up.
pub async fn set_capabilities(
    conn: &mut Conn,
    app_id: i64,
    caps: &Capabilities,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_targets SET patch_supported = $2, etag_supported = $3, discovered_at = $4, \
         updated_at = CASE WHEN $5 > updated_at THEN $5 ELSE updated_at + 1 END \
         WHERE app_id = $1",
    )
    .bind(app_id)
    .bind(i64::from(caps.patch))
    .bind(i64::from(caps.etag))
    .bind(caps.discovered_at)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Sets the state (and reason); `failures` resets unless quarantining.
pub async fn set_state(
    conn: &mut Conn,
    app_id: i64,
    state: TargetState,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_targets SET state = $2, state_reason = $3, failures = 0, \
         updated_at = CASE WHEN $4 > updated_at THEN $4 ELSE updated_at + 1 END \
         WHERE app_id = $1",
    )
    .bind(app_id)
    .bind(state.as_str())
    .bind(reason)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the state from `from` to `to` (and sets the reason; `failures` resets) unless
/// someone moved it first: true when this call changed it.
pub async fn change_state(
    conn: &mut Conn,
    app_id: i64,
    from: TargetState,
    to: TargetState,
    reason: &str,
) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE scim_targets SET state = $2, state_reason = $3, failures = 0, \
         updated_at = CASE WHEN $4 > updated_at THEN $4 ELSE updated_at + 1 END \
         WHERE app_id = $1 AND state = $5",
    )
    .bind(app_id)
    .bind(to.as_str())
    .bind(reason)
    .bind(now_ms())
    .bind(from.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
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

/// Allows deprovisioning past the threshold until `until`, and moves the target to `state`
/// (the approval's, from `scim::target`).
pub async fn approve(
    conn: &mut Conn,
    app_id: i64,
    state: TargetState,
    until: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE scim_targets SET approved_until = $2, state = $4, state_reason = '', \
         failures = 0, deprov_used = 0, \
         updated_at = CASE WHEN $3 > updated_at THEN $3 ELSE updated_at + 1 END WHERE app_id = $1",
    )
    .bind(app_id)
    .bind(until)
    .bind(now_ms())
    .bind(state.as_str())
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

/// Targets that send requests and whose last full sync is older than `every_ms`.
pub async fn due_for_reconciliation(
    conn: &mut Conn,
    every_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let sending = states_where(TargetState::sends_requests);
    Ok(sqlx::query_scalar(&format!(
        "SELECT app_id FROM scim_targets WHERE state IN {sending} AND last_sync_at < $1"
    ))
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
    for table in [
        "scim_jobs",
        "scim_password_jobs",
        "scim_links",
        "scim_targets",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE app_id = $1"))
            .bind(app_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_column_list_for_reading_and_writing() {
        assert_eq!(WRITTEN[0], "app_id");
        assert_eq!(WRITTEN[WRITTEN.len() - 1], "updated_at");
        let select = SELECT.as_str();
        for c in WRITTEN.iter().chain(KEPT.iter()) {
            assert!(select.contains(c), "{c}");
        }
        let upsert = UPSERT.as_str();
        assert!(upsert.contains(&format!("({})", WRITTEN.join(", "))));
        assert!(upsert.contains(&format!("${}) ON CONFLICT", WRITTEN.len())));
        assert!(upsert.contains("state = excluded.state, "));
        assert!(!upsert.contains("app_id = excluded"));
        assert!(!upsert.contains("updated_at = excluded"));
        for c in KEPT {
            assert!(!upsert.contains(c), "{c} is written by its own statement");
        }
    }
}
