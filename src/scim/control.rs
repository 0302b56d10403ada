//! What an admin does to a target, shared by the CLI, the console and the JSON API: the
//! status with queue depth, a dry-run plan, starting a sync, provisioning one user now,
//! and the import list (PRODUCT §3.4, §3.5).

use serde::Serialize;
use serde_json::Value;

use super::inventory::{self, Candidate};
use super::matching::Matching;
use super::secret::SealKey;
use super::sync;
use super::target::{self, Live};
use crate::directory::DirectoryError;
use crate::store::scim as store;
use crate::store::{users, Db};

/// Why an operation on a target did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Bad input, unknown app or user, or a state that does not allow it.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The target answered with an error or could not be reached.
    #[error("{0}")]
    Remote(String),
}

impl From<sqlx::Error> for ControlError {
    fn from(e: sqlx::Error) -> Self {
        ControlError::Directory(e.into())
    }
}

impl From<crate::store::StoreError> for ControlError {
    fn from(e: crate::store::StoreError) -> Self {
        ControlError::Directory(e.into())
    }
}

/// A target as the admin sees it: its app and settings, whether it was ever configured,
/// and the numbers behind the sync status.
pub struct Overview {
    pub app: crate::directory::App,
    pub row: crate::store::scim::TargetRow,
    pub configured: bool,
    pub queued: i64,
    pub linked: i64,
    pub in_scope: i64,
    /// The latest failure among the queued jobs, if any is failing.
    pub failing: Option<store::Failing>,
    /// When a request to the target last succeeded (unix ms; 0: never).
    pub last_ok_at: i64,
    /// When Test connection last passed with these settings (unix ms; 0: not since).
    pub tested_at: i64,
    /// Where failure and recovery notifications go ("": none).
    pub notify_email: String,
}

pub async fn overview(db: &Db, slug: &str) -> Result<Overview, DirectoryError> {
    let mut conn = db.read().await?;
    let (app, row, configured) = target::get(&mut conn, slug).await?;
    let queued = store::depth(&mut conn, app.id).await?;
    let linked = store::links(&mut conn, app.id).await?.len() as i64;
    let in_scope = super::scope::members(&mut conn, &row).await?.len() as i64;
    let failing = store::failing(&mut conn, app.id).await?;
    let last_ok_at = store::last_ok(&mut conn, app.id).await?;
    let tested_at = store::tested(&mut conn, app.id).await?;
    let notify_email = crate::store::mail::notify_address(&mut conn, app.id)
        .await?
        .unwrap_or_default();
    Ok(Overview {
        notify_email,
        last_ok_at,
        tested_at,
        app,
        row,
        configured,
        queued,
        linked,
        in_scope,
        failing,
    })
}

/// The settings (never the credential), state, queue depth, links and sync times.
pub async fn status(db: &Db, slug: &str) -> Result<Value, DirectoryError> {
    let o = overview(db, slug).await?;
    let mut v = target::describe(&o.row);
    v["configured"] = o.configured.into();
    v["queued"] = o.queued.into();
    v["linked"] = o.linked.into();
    v["in_scope"] = o.in_scope.into();
    v["last_sync_at"] = o.row.last_sync_at.into();
    v["last_ok_at"] = o.last_ok_at.into();
    v["tested_at"] = o.tested_at.into();
    v["paused_until"] = o.row.paused_until.into();
    v["notify_email"] = o.notify_email.into();
    v["failing"] = serde_json::to_value(&o.failing).unwrap_or_default();
    Ok(v)
}

/// Test connection: probes the target read-only (`probe`) and, when it answers like a SCIM
/// service, records that the current settings passed (Activate asks for that).
pub async fn test(db: &Db, key: &SealKey, slug: &str) -> Result<String, ControlError> {
    let t = live(db, key, slug).await?;
    let summary = super::probe::probe(db, &t)
        .await
        .map_err(ControlError::Remote)?;
    let mut conn = db.write().await?;
    store::set_tested(&mut conn, t.app.id, crate::store::now_ms()).await?;
    Ok(summary)
}

pub async fn live(db: &Db, key: &SealKey, slug: &str) -> Result<Live, DirectoryError> {
    let mut conn = db.read().await?;
    target::live(&mut conn, key, slug).await
}

/// One user's line of a dry run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanLine {
    pub user: String,
    pub plan: String,
}

/// What a sync would do for each user in scope or linked, from the links we hold. Nothing
/// is written anywhere; when someone in scope is not linked yet, the target's inventory is
/// read (GET only) to say which matching rule would find their account.
pub async fn plan(db: &Db, t: &Live) -> Result<Vec<PlanLine>, ControlError> {
    let mut conn = db.read().await?;
    let mut ids = super::scope::members(&mut conn, &t.row).await?;
    ids.extend(
        store::links(&mut conn, t.app.id)
            .await?
            .iter()
            .map(|l| l.user_id),
    );
    ids.sort_unstable();
    ids.dedup();
    drop(conn);
    let mut lines = Vec::with_capacity(ids.len());
    // Read once, at the first user who needs it; None: not read yet; Some(Err): unreadable.
    let mut inventory: Option<Result<Vec<Value>, String>> = None;
    for id in ids {
        let r = sync::user(db, t, id, true)
            .await
            .map_err(|e| ControlError::Remote(format!("planning stopped: {e}")))?;
        let mut conn = db.read().await?;
        let found = users::by_id(&mut conn, id).await?;
        let user = match &found {
            Some(u) => u.username.clone(),
            None => store::link(&mut conn, t.app.id, id)
                .await?
                .map(|l| l.username)
                .unwrap_or_default(),
        };
        drop(conn);
        let mut plan = r.decision;
        if let (true, Some(u)) = (r.needs_match, &found) {
            if inventory.is_none() {
                inventory = Some(inventory::remote_users(t).await);
            }
            if let Some(Ok(accounts)) = &inventory {
                plan = matched(&t.row.matching, u, accounts);
            }
        }
        lines.push(PlanLine { user, plan });
    }
    Ok(lines)
}

/// A user's dry-run line from the target's accounts: the first rule that finds one.
fn matched(m: &Matching, u: &crate::directory::User, accounts: &[Value]) -> String {
    for rule in m.rules() {
        let hit = accounts.iter().find(|a| Matching::finds(*rule, u, a));
        if let Some(a) = hit {
            let name = a["userName"].as_str().unwrap_or("");
            return format!(
                "would link the existing account {name:?} (matched by {})",
                rule.as_str()
            );
        }
    }
    format!("would create (no account matched by {m})")
}

/// Starts a sync: reads the target's users, corrects the links and queues everyone in
/// scope or linked for the server's worker. Returns how many were queued.
pub async fn start_sync(db: &Db, key: &SealKey, slug: &str) -> Result<u64, ControlError> {
    let mut conn = db.read().await?;
    let (_, row, exists) = target::get(&mut conn, slug).await?;
    drop(conn);
    if !exists || !row.state.accepts_sync() {
        let state = if exists {
            row.state.as_str()
        } else {
            "not set up"
        };
        return Err(DirectoryError::Invalid(format!(
            "Identity Management of {slug} is {state}: activate it first"
        ))
        .into());
    }
    let t = live(db, key, slug).await?;
    inventory::reconcile(db, &t).await
}

/// Provisions one user now, whatever the target's state; every exchange is returned
/// (credentials left out) and recorded as an event, with why it stopped short, if it did.
pub async fn provision(
    db: &Db,
    t: &Live,
    username: &str,
) -> Result<(sync::Report, Option<String>), ControlError> {
    let user = crate::directory::users::get(db, username).await?;
    let (report, stop) = sync::user_report(db, t, user.id, false).await;
    Ok((report, stop.map(|s| s.to_string())))
}

/// The target's users, each marked new, linked or already in sesame.
pub async fn import_list(
    db: &Db,
    key: &SealKey,
    slug: &str,
) -> Result<Vec<Candidate>, ControlError> {
    let t = live(db, key, slug).await?;
    inventory::list(db, &t).await
}

/// Creates in sesame the listed target users named in `names` (or all of them): those new
/// to sesame are created, the rest reported.
pub async fn import(
    db: &Db,
    actor: &crate::directory::Actor,
    found: Vec<Candidate>,
    names: &[String],
    all: bool,
) -> Result<Vec<String>, ControlError> {
    let chosen: Vec<_> = found
        .into_iter()
        .filter(|c| all || names.contains(&c.username))
        .collect();
    Ok(inventory::import(db, actor, &chosen).await?)
}
