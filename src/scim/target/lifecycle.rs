//! What an admin does to a target's state: switch it (activate, deactivate, resume),
//! approve or reject a paused deprovisioning batch, remove it. Each asks `state`'s
//! transition table and records an `idm_integration_*` event.

use serde_json::json;

use super::state::{Refusal, Switch, TargetState, Transition};
use super::{get, invalid};
use crate::directory::{audit, Actor, App, DirectoryError};
use crate::store::scim::{self as store, TargetRow};
use crate::store::{now_ms, Conn, Db};

/// How long an approval of deprovisioning past the threshold lasts.
pub const APPROVAL_MS: i64 = 60 * 60 * 1000;

fn refused(slug: &str, r: Refusal) -> DirectoryError {
    match r {
        Refusal::NotActivated => invalid("the integration is not active: use activate"),
        Refusal::NoBatch => invalid(format!(
            "{slug} has no deprovisioning batch waiting for approval"
        )),
        Refusal::NotSending => invalid(format!("Identity Management of {slug} is not running")),
    }
}

/// Sets the state with an event; activation (and resuming) queues a full sync.
pub async fn set_state(
    db: &Db,
    actor: &Actor,
    slug: &str,
    switch: Switch,
) -> Result<TargetRow, DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, mut row, exists) = get(&mut tx, slug).await?;
    if !exists || row.secret.is_empty() {
        return Err(invalid(format!(
            "set up Identity Management first: a base URL and a credential (the console's settings form, or sesame scim set {slug} --url <base-url> --token-stdin)"
        )));
    }
    let state = row
        .state
        .after(switch.transition())
        .map_err(|r| refused(slug, r))?;
    store::set_state(&mut tx, app.id, state, "").await?;
    let why = format!("{} by {}", switch.as_str(), actor.0);
    super::notice::state_changed(&mut tx, &app, row.state, state, &why).await?;
    if state.sends_requests() {
        // This full sync counts as the latest reconciliation (the schedule starts now).
        store::enqueue_app(&mut tx, app.id).await?;
        store::release_all(&mut tx, app.id).await?;
        store::mark_synced(&mut tx, app.id).await?;
    }
    row.state = state;
    row.state_reason = String::new();
    let event = match switch {
        Switch::Activate => "idm_integration_activate",
        Switch::Deactivate | Switch::Resume => "idm_integration_update",
    };
    audit(
        &mut tx,
        actor,
        event,
        Some(slug),
        None,
        json!({ "action": switch.as_str(), "state": state }),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The app whose target is paused by the deletion threshold and the state `t` (approve or
/// reject) leads to, or why not; the notification of the change is queued.
async fn batch(
    conn: &mut Conn,
    actor: &Actor,
    slug: &str,
    t: Transition,
) -> Result<(App, TargetState), DirectoryError> {
    let (app, row, exists) = get(conn, slug).await?;
    if !exists {
        return Err(refused(slug, Refusal::NoBatch));
    }
    let next = row.state.after(t).map_err(|r| refused(slug, r))?;
    let word = if t == Transition::Approve {
        "approved"
    } else {
        "rejected"
    };
    let why = format!("the deprovisioning batch was {word} by {}", actor.0);
    super::notice::state_changed(conn, &app, row.state, next, &why).await?;
    Ok((app, next))
}

/// Approves a paused deprovisioning batch: deprovisioning may pass the threshold for an
/// hour, and the target runs again.
pub async fn approve(db: &Db, actor: &Actor, slug: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, state) = batch(&mut tx, actor, slug, Transition::Approve).await?;
    store::approve(&mut tx, app.id, state, now_ms() + APPROVAL_MS).await?;
    store::release_all(&mut tx, app.id).await?;
    audit(
        &mut tx,
        actor,
        "idm_integration_update",
        Some(slug),
        None,
        json!({ "action": "approve" }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rejects a paused batch: the queued jobs of users out of scope are dropped (their
/// accounts stay as they are) and the target runs again; the rest of the queue is kept.
pub async fn reject(db: &Db, actor: &Actor, slug: &str) -> Result<u64, DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, state) = batch(&mut tx, actor, slug, Transition::Reject).await?;
    let (_, row, _) = get(&mut tx, slug).await?;
    let in_scope = crate::scim::scope::members(&mut tx, &row).await?;
    let queued = store::queued_users(&mut tx, app.id).await?;
    let leaving: Vec<i64> = queued
        .into_iter()
        .filter(|u| !in_scope.contains(u))
        .collect();
    let n = store::drop_jobs(&mut tx, app.id, &leaving).await?;
    store::set_state(&mut tx, app.id, state, "").await?;
    audit(
        &mut tx,
        actor,
        "idm_integration_update",
        Some(slug),
        None,
        json!({ "action": "reject", "dropped": n }),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

/// Removes the integration: its settings, links and queued jobs.
pub async fn delete(db: &Db, actor: &Actor, slug: &str) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let (app, _, exists) = get(&mut tx, slug).await?;
    if !exists {
        return Err(DirectoryError::NotFound(format!(
            "{slug} has no Identity Management set up"
        )));
    }
    store::delete_target(&mut tx, app.id).await?;
    audit(
        &mut tx,
        actor,
        "idm_integration_delete",
        Some(slug),
        None,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
