//! The provisioning worker inside `sesame serve`: leases due jobs from the durable queue,
//! runs them with bounded concurrency per target, and turns failures into backoff with
//! jitter (never sooner than `Retry-After`), a stopped target (401/403), or quarantine
//! after repeated failures (SECURITY 15, 16). Several replicas may run it on one database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use super::job::JobKind;
use super::secret::SealKey;
use super::sync::{self, Stop};
use super::target::{self, TargetState, Transition};
use crate::store::events::{self, NewEvent};
use crate::store::scim::{self as store, Job};
use crate::store::{now_ms, Db};

/// Failed requests in a row after which a target is quarantined.
pub const QUARANTINE_AFTER: i64 = 20;
/// A job's lease; renewed every `RENEW` while its worker lives, so a crashed worker's jobs
/// are picked up by another (or by itself after a restart) within seconds.
const LEASE_MS: i64 = 15_000;
const RENEW: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_millis(100);
const MAX_BACKOFF_MS: i64 = 10 * 60 * 1000;

#[derive(Clone)]
pub struct Engine {
    db: Db,
    key: SealKey,
    owner: String,
    per_target: usize,
    reconcile_every: Duration,
    slots: Arc<Semaphore>,
    targets: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    live: Arc<Mutex<HashMap<i64, (store::TargetVersion, target::Live)>>>,
    /// When each target's last success was written (at most once per `OK_EVERY_MS`, so a
    /// busy queue does not pay a write per job for it).
    ok_marked: Arc<Mutex<HashMap<i64, i64>>>,
}

const OK_EVERY_MS: i64 = 5_000;

/// Exponential backoff with full jitter, at least `retry_after`.
pub fn backoff_ms(attempts: i64, retry_after: Option<Duration>) -> i64 {
    let exp = 1000i64
        .saturating_mul(1 << attempts.clamp(0, 20))
        .min(MAX_BACKOFF_MS);
    let jittered = rand::thread_rng().gen_range(exp / 2..=exp);
    let floor = retry_after.map_or(0, |d| d.as_millis() as i64);
    jittered.max(floor)
}

impl Engine {
    pub fn new(db: Db, key: SealKey, per_target: usize, reconcile_every: Duration) -> Engine {
        Engine {
            db,
            key,
            owner: format!("worker-{}", crate::auth::csrf::random_token(9)),
            per_target,
            reconcile_every,
            slots: Arc::new(Semaphore::new(64)),
            targets: Arc::default(),
            live: Arc::default(),
            ok_marked: Arc::default(),
        }
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        let renewer = self.clone();
        let _renew = AbortOnDrop(tokio::spawn(async move { renewer.renew_leases().await }));
        let reconciler = self.clone();
        let _reconcile = AbortOnDrop(tokio::spawn(async move { reconciler.reconcile().await }));
        let sender = self.clone();
        let _passwords = AbortOnDrop(tokio::spawn(async move { sender.passwords().await }));
        loop {
            match self.tick().await {
                Ok(0) => tokio::time::sleep(IDLE).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "provisioning queue unavailable");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    /// Scheduled reconciliation of every active target whose last one is older than
    /// `reconcile_every`.
    async fn reconcile(&self) {
        let tick = self.reconcile_every.min(Duration::from_secs(60));
        loop {
            tokio::time::sleep(tick).await;
            let every = self.reconcile_every.as_millis() as i64;
            let due = async {
                let mut conn = self.db.read().await?;
                store::due_for_reconciliation(&mut conn, every).await
            };
            let Ok(due) = due.await else { continue };
            for app_id in due {
                if let Err(e) = self.reconcile_one(app_id).await {
                    tracing::warn!(app_id, error = %e, "scheduled reconciliation failed");
                }
            }
        }
    }

    async fn reconcile_one(&self, app_id: i64) -> Result<(), String> {
        let mut conn = self.db.read().await.map_err(|e| e.to_string())?;
        let slug = crate::store::apps::slug_of(&mut conn, app_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("app {app_id} no longer exists"))?;
        let live = target::live(&mut conn, &self.key, &slug)
            .await
            .map_err(|e| e.to_string())?;
        drop(conn);
        let queued = super::inventory::reconcile(&self.db, &live)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(app = %slug, queued, "scheduled reconciliation");
        Ok(())
    }

    /// The one-shot password sends (`password`), a few at a time, apart from the queue of
    /// users and groups so a password never waits behind a full sync.
    async fn passwords(&self) {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Err(e) = self.password_tick().await {
                tracing::warn!(error = %e, "password sync queue unavailable");
            }
        }
    }

    async fn password_tick(&self) -> Result<(), crate::store::StoreError> {
        let jobs = {
            let mut conn = self.db.write().await?;
            store::claim_passwords(&mut conn, self.db.backend, &self.owner, LEASE_MS, 8).await?
        };
        for job in jobs {
            let live = {
                let mut conn = self.db.read().await?;
                self.live(&mut conn, job.app_id).await?
            };
            match live {
                Some(Ok(l)) => {
                    let l = self.discovered(l).await?;
                    super::password::run(&self.db, &self.key, Some(&l), &job).await?;
                }
                Some(Err(e)) => {
                    tracing::warn!(app_id = job.app_id, error = %e, "password sync: target unusable");
                    let mut conn = self.db.write().await?;
                    if now_ms() > job.expires_at {
                        store::drop_password(&mut conn, &job).await?;
                    } else {
                        store::retry_password(&mut conn, &job, now_ms() + 60_000, true).await?;
                    }
                }
                None => super::password::run(&self.db, &self.key, None, &job).await?,
            }
        }
        Ok(())
    }

    /// The target with what it supports read on first contact (RFC 7643 §5).
    async fn discovered(
        &self,
        mut live: target::Live,
    ) -> Result<target::Live, crate::store::StoreError> {
        if live.row.caps.discovered_at == 0 {
            live.row.caps = super::probe::discover(&self.db, &live).await?;
        }
        Ok(live)
    }

    async fn renew_leases(&self) {
        loop {
            tokio::time::sleep(RENEW).await;
            let renewed = async {
                let mut conn = self.db.write().await?;
                store::renew(&mut conn, &self.owner, LEASE_MS).await
            };
            if let Err(e) = renewed.await {
                tracing::warn!(error = %e, "could not renew provisioning leases");
            }
        }
    }

    /// Leases as many due jobs as there are free slots and starts them.
    async fn tick(&self) -> Result<usize, crate::store::StoreError> {
        let free = self.slots.available_permits() as i64;
        if free == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(1);
        }
        let jobs = {
            let mut conn = self.db.write().await?;
            store::claim(&mut conn, self.db.backend, &self.owner, LEASE_MS, free).await?
        };
        let n = jobs.len();
        for job in jobs {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("open semaphore");
            let me = self.clone();
            tokio::spawn(async move {
                me.run_job(job).await;
                drop(permit);
            });
        }
        Ok(n)
    }

    /// The target, decrypted and ready: the cached copy while the row's version (settings,
    /// state, pause, failures) is unchanged, which one small query tells. `None`: app deleted.
    async fn live(
        &self,
        conn: &mut crate::store::Conn,
        app_id: i64,
    ) -> Result<Option<Result<target::Live, String>>, crate::store::StoreError> {
        let version = store::version(conn, app_id).await?;
        if let Some((v, l)) = self.live.lock().await.get(&app_id) {
            if Some(v) == version.as_ref() {
                return Ok(Some(Ok(l.clone())));
            }
        }
        let slug = crate::store::apps::slug_of(conn, app_id).await?;
        let Some(slug) = slug else { return Ok(None) };
        Ok(Some(match target::live(conn, &self.key, &slug).await {
            Ok(l) => {
                if let Some(v) = version {
                    self.live.lock().await.insert(app_id, (v, l.clone()));
                }
                Ok(l)
            }
            Err(e) => Err(e.to_string()),
        }))
    }

    async fn target_slot(&self, app_id: i64) -> Arc<Semaphore> {
        let mut map = self.targets.lock().await;
        map.entry(app_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_target)))
            .clone()
    }

    async fn run_job(&self, job: Job) {
        if let Err(e) = self.try_job(&job).await {
            tracing::warn!(error = %e, job = job.id, "provisioning job failed to record");
        }
    }

    async fn try_job(&self, job: &Job) -> Result<(), crate::store::StoreError> {
        let slot = self.target_slot(job.app_id).await;
        let _permit = slot.acquire().await.expect("open semaphore");
        let live = {
            let mut conn = self.db.read().await?;
            self.live(&mut conn, job.app_id).await?
        };
        let live = match live {
            Some(Ok(l)) => l,
            Some(Err(e)) => return self.retry(job, now_ms() + 60_000, &e).await,
            None => return Ok(()),
        };
        let slug = live.app.slug.clone();
        if live.row.paused_until > now_ms() {
            // Throttled since this job was leased: wait with everyone else.
            return self
                .retry(job, live.row.paused_until, "target throttled")
                .await;
        }
        if !live.row.state.sends_requests() {
            // Stopped or quarantined since this job was leased: send nothing.
            return self.retry(job, now_ms(), "target not active").await;
        }
        let live = self.discovered(live).await?;
        let outcome = match job.kind {
            JobKind::Group => super::groups::sync(&self.db, &live, job.subject_id, false).await,
            JobKind::User => sync::user(&self.db, &live, job.subject_id, false).await,
        };
        let mut conn = self.db.write().await?;
        match outcome {
            Ok(_) => {
                if live.row.failures != 0 {
                    store::reset_failures(&mut conn, job.app_id).await?;
                }
                let now = now_ms();
                let due = {
                    let mut marked = self.ok_marked.lock().await;
                    let last = marked.entry(job.app_id).or_insert(0);
                    let due = now - *last >= OK_EVERY_MS;
                    if due {
                        *last = now;
                    }
                    due
                };
                if due {
                    store::mark_ok(&mut conn, job.app_id, now).await?;
                }
                store::finish(&mut conn, job, &self.owner).await
            }
            // Look again at once (409 → find and link, 404 → find or re-create), a few
            // times; a target that keeps answering so falls through to the backoff below.
            Err(Stop::Retry(Some(d), why)) if d.is_zero() && job.attempts < 3 => {
                store::retry(&mut conn, job, &self.owner, now_ms(), true, &why).await
            }
            Err(Stop::Retry(Some(d), why)) if d.is_zero() => {
                let delay = backoff_ms(job.attempts, None);
                store::retry(&mut conn, job, &self.owner, now_ms() + delay, true, &why).await
            }
            Err(Stop::Retry(Some(after), why)) => {
                // Throttled: the whole target waits out Retry-After (not a failure, no
                // exponential growth), then this job goes again with a little jitter.
                let until = now_ms().saturating_add(after.as_millis().min(i64::MAX as u128) as i64);
                if !live.client.paced() {
                    // Not paced yet: everyone waits this once; from now on sesame paces
                    // itself and only the throttled request waits.
                    store::pause(&mut conn, job.app_id, until).await?;
                }
                let jitter = rand::thread_rng().gen_range(0..100);
                store::retry(&mut conn, job, &self.owner, until + jitter, false, &why).await
            }
            Err(Stop::Retry(None, why)) => {
                let delay = backoff_ms(job.attempts, None);
                let failures = store::count_failure(&mut conn, job.app_id).await?;
                if failures >= QUARANTINE_AFTER {
                    let reason = format!("{failures} failed requests in a row; last: {why}");
                    // The writer is free for `enter`'s transaction (one connection on SQLite).
                    drop(conn);
                    enter(&self.db, &live, Transition::Quarantine, &reason).await?;
                    conn = self.db.write().await?;
                }
                store::retry(&mut conn, job, &self.owner, now_ms() + delay, true, &why).await
            }
            Err(Stop::Unauthorized(why)) => {
                let reason = format!("the target refused the credentials ({why}); update them with `sesame scim set {slug} --token-stdin`, then `sesame scim resume {slug}`");
                drop(conn);
                enter(&self.db, &live, Transition::Stop, &reason).await?;
                let mut conn = self.db.write().await?;
                store::retry(&mut conn, job, &self.owner, now_ms(), false, &why).await
            }
            Err(Stop::Threshold(why)) => {
                drop(conn);
                enter(&self.db, &live, Transition::Pause, &why).await?;
                let mut conn = self.db.write().await?;
                store::retry(&mut conn, job, &self.owner, now_ms(), false, &why).await
            }
            Err(Stop::Store(e)) => {
                store::retry(
                    &mut conn,
                    job,
                    &self.owner,
                    now_ms() + 5_000,
                    false,
                    &e.to_string(),
                )
                .await
            }
        }
    }
}

impl Engine {
    /// Puts a job back for `at` without counting an attempt.
    async fn retry(&self, job: &Job, at: i64, why: &str) -> Result<(), crate::store::StoreError> {
        let mut conn = self.db.write().await?;
        store::retry(&mut conn, job, &self.owner, at, false, why).await
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves a target that was sending (the job ran) to the state `t` leads to, with an event
/// and the notification mail, in one transaction.
async fn enter(
    db: &Db,
    live: &target::Live,
    t: Transition,
    reason: &str,
) -> Result<(), crate::store::StoreError> {
    // The job ran, so the state it read sends requests and the engine's transitions apply.
    let from = live.row.state;
    let Ok(state) = from.after(t) else {
        return Ok(());
    };
    // Several jobs of the target may fail at once: only the one that moves the state
    // writes the event and queues the notification.
    let mut tx = db.begin().await?;
    if !store::change_state(&mut tx, live.app.id, from, state, reason).await? {
        return Ok(());
    }
    state_event(&mut tx, &live.app.slug, state, reason).await?;
    target::notice::state_changed(&mut tx, &live.app, from, state, reason).await?;
    tx.commit().await?;
    Ok(())
}

async fn state_event(
    conn: &mut crate::store::Conn,
    slug: &str,
    state: TargetState,
    reason: &str,
) -> Result<(), crate::store::StoreError> {
    tracing::warn!(
        app = slug,
        state = state.as_str(),
        reason,
        "SCIM target stopped"
    );
    let e = NewEvent {
        name: "idm_integration_update",
        actor: "system:scim".into(),
        app_slug: Some(slug.to_string()),
        username: None,
        outcome: "failure",
        status: None,
        detail: json!({ "state": state, "reason": reason }),
    };
    events::insert(conn, &e).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        for attempts in 0..6 {
            let d = backoff_ms(attempts, None);
            let exp = 1000 * (1 << attempts);
            assert!(d >= exp / 2 && d <= exp, "{attempts}: {d}");
        }
        assert!(backoff_ms(30, None) <= MAX_BACKOFF_MS);
        assert!(backoff_ms(0, Some(Duration::from_secs(7))) >= 7000);
    }
}
