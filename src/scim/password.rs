//! Password synchronization (per app, opt-in, off by default; "Bluejeans supports password
//! synchronization"): a password a user sets in sesame — account page, forced change at
//! first sign-in, reset or invitation link, and an admin's reset (as Entra and JumpCloud
//! do: an admin resetting a leaked password means the target must not keep the old one) —
//! is sent once to each target with `password_sync` on where the user has an account: a
//! PATCH `replace` of `password` (RFC 7644 §3.5.2), or in the PUT of the whole resource
//! (§3.5.1) for a target without PATCH.
//!
//! Never stored reversibly beyond the send, never logged. The password change writes, in its
//! own transaction (SECURITY 15: a crash cannot lose it between commit and send), one job per
//! target with the password sealed by `secret` (AES-256-GCM, the key outside the database,
//! bound to the app and user); the worker opens it, sends it and deletes the job. A send
//! that fails is tried `ATTEMPTS` times within `LIFETIME_MS`, then deleted and reported as a
//! failed `password_sync` event. Events carry the request with the value redacted
//! (`client::redacted`); no `Debug` or log line holds it.

use serde_json::json;

use super::client::Verdict;
use super::replace::{modify, Change};
use super::secret::{SealKey, Secret};
use super::sync::{Run, Stop};
use super::target::Live;
use crate::auth::password::Password;
use crate::directory::{access, DirectoryError};
use crate::store::scim::{self as store, PasswordJob};
use crate::store::{now_ms, users, Conn, Db, StoreError};

/// Sends tried before a password is given up (and deleted).
pub const ATTEMPTS: i64 = 5;
/// A password not sent within this long is deleted unsent.
pub const LIFETIME_MS: i64 = 15 * 60 * 1000;
const EVENT: &str = "password_sync";

fn context(app_id: i64, user_id: i64) -> String {
    format!("scim-password:{app_id}:{user_id}")
}

/// Queues the new password of `user_id` for each target that syncs passwords and where the
/// user has an account or is in scope; inside the transaction that sets it. Returns how many.
pub async fn queue(
    conn: &mut Conn,
    key: &SealKey,
    user_id: i64,
    password: &Password,
) -> Result<usize, DirectoryError> {
    let mut queued = 0;
    for app_id in store::password_targets(conn).await? {
        let linked = store::link(conn, app_id, user_id).await?.is_some();
        if !linked && !access::may_use(conn, user_id, app_id).await? {
            continue;
        }
        let secret = Secret::new(password.expose());
        let sealed = key
            .seal(&secret, &context(app_id, user_id))
            .map_err(|e| DirectoryError::Invalid(e.to_string()))?;
        store::queue_password(conn, app_id, user_id, &sealed, now_ms() + LIFETIME_MS).await?;
        queued += 1;
    }
    Ok(queued)
}

/// What became of one attempt.
enum Outcome {
    Sent,
    /// In scope but no account yet (its create is queued): look again shortly.
    NotYet,
    /// Nothing to send to (no account, out of scope, user deleted).
    Nobody,
    Failed(String),
}

/// One attempt at one queued send, with `t` the target (None: gone) ready to talk to; the
/// job is deleted, put back, or given up with an event.
pub async fn run(
    db: &Db,
    key: &SealKey,
    t: Option<&Live>,
    job: &PasswordJob,
) -> Result<(), StoreError> {
    let Some(t) = t else {
        let mut conn = db.write().await?;
        return store::drop_password(&mut conn, job).await;
    };
    let outcome = if now_ms() > job.expires_at {
        Outcome::Failed("not sent in time".into())
    } else {
        match key.open(&job.sealed, &context(job.app_id, job.user_id)) {
            Ok(password) => attempt(db, t, job, &password).await?,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    };
    let mut conn = db.write().await?;
    match outcome {
        Outcome::Sent | Outcome::Nobody => store::drop_password(&mut conn, job).await,
        Outcome::NotYet if job.attempts + 1 < ATTEMPTS * 4 => {
            store::retry_password(&mut conn, job, now_ms() + 2_000, true).await
        }
        Outcome::Failed(why) if job.attempts + 1 < ATTEMPTS && now_ms() < job.expires_at => {
            let delay = super::engine::backoff_ms(job.attempts + 1, None);
            tracing::info!(app_id = job.app_id, attempt = job.attempts + 1, reason = %why, "password sync will retry");
            store::retry_password(&mut conn, job, now_ms() + delay, true).await
        }
        Outcome::NotYet => give_up(&mut conn, t, job, "the account was not created in time").await,
        Outcome::Failed(why) => give_up(&mut conn, t, job, &why).await,
    }
}

async fn give_up(
    conn: &mut Conn,
    t: &Live,
    job: &PasswordJob,
    why: &str,
) -> Result<(), StoreError> {
    store::drop_password(conn, job).await?;
    let username = users::by_id(conn, job.user_id).await?.map(|u| u.username);
    let e = crate::store::events::NewEvent {
        name: EVENT,
        actor: "system:scim".into(),
        app_slug: Some(t.app.slug.clone()),
        username,
        outcome: "failure",
        status: None,
        detail: json!({
            "reason": format!("given up after {} attempt(s): {why}; the password is not kept", job.attempts + 1),
        }),
    };
    crate::store::events::insert(conn, &e).await?;
    tracing::warn!(app = %t.app.slug, "password sync given up; the password is not kept");
    Ok(())
}

async fn attempt(
    db: &Db,
    t: &Live,
    job: &PasswordJob,
    password: &Secret,
) -> Result<Outcome, StoreError> {
    let mut conn = db.read().await?;
    let Some(user) = users::by_id(&mut conn, job.user_id).await? else {
        return Ok(Outcome::Nobody);
    };
    let link = store::link(&mut conn, t.app.id, job.user_id).await?;
    let in_scope = access::may_use(&mut conn, job.user_id, t.app.id)
        .await
        .unwrap_or(false);
    drop(conn);
    let link = match link {
        Some(l) if l.active != 0 => l,
        _ if in_scope => return Ok(Outcome::NotYet),
        _ => return Ok(Outcome::Nobody),
    };
    let op = json!({ "op": "replace", "path": "password", "value": password.expose() });
    let change = Change {
        patch: vec![op.clone()],
        put: vec![op],
    };
    let mut run = Run::new(db, t, user.username);
    let sent = modify(&mut run, EVENT, "Users", &link.remote_id, &change).await;
    Ok(match sent {
        Ok(ex) if ex.verdict() == Verdict::Ok => Outcome::Sent,
        Ok(ex) => Outcome::Failed(ex.detail()),
        Err(Stop::Store(e)) => return Err(e),
        Err(stop) => Outcome::Failed(stop.to_string()),
    })
}
