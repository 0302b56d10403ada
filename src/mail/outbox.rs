//! The outbox: [`push`] writes a mail in the caller's transaction (bounded: past
//! `MAX_PENDING` waiting mails a new one is dropped with an event rather than growing the
//! table without end); [`Worker`] runs inside `sesame serve`, sends what is due, and
//! retries with growing delays before giving up. Each outcome is an event (`mail_sent`,
//! `mail_failed`, `mail_dropped`) naming the kind and a masked recipient, never a link.

use std::time::Duration;

use serde_json::json;
use url::Url;

use super::message::Mail;
use super::{masked, settings, smtp, MailError};
use crate::scim::secret::SealKey;
use crate::store::events::{self, NewEvent};
use crate::store::{mail as store, now_ms, Conn, Db, StoreError};

/// Mails waiting at most; more are dropped (with an event).
pub const MAX_PENDING: i64 = 500;
/// Tries per mail before it is given up.
pub const MAX_ATTEMPTS: i64 = 5;
/// How long a taken mail is held before another worker may try it.
const LEASE_MS: i64 = 60_000;
const IDLE: Duration = Duration::from_millis(250);
/// How often the worker looks whether the daily digest is due.
const DIGEST_CHECK: Duration = Duration::from_secs(60);

/// Queues `mail` for `to` in `conn`'s transaction. Returns false (and writes a
/// `mail_dropped` event) when the outbox is full.
pub async fn push(conn: &mut Conn, to: &str, mail: &Mail) -> Result<bool, StoreError> {
    if store::pending(conn).await? >= MAX_PENDING {
        event(
            conn,
            "mail_dropped",
            "failure",
            mail.kind(),
            to,
            json!({ "reason": "the outbox is full" }),
        )
        .await?;
        return Ok(false);
    }
    let payload = serde_json::to_string(mail).unwrap_or_default();
    store::push(conn, to, mail.kind(), &payload).await?;
    Ok(true)
}

async fn event(
    conn: &mut Conn,
    name: &'static str,
    outcome: &'static str,
    kind: &str,
    to: &str,
    extra: serde_json::Value,
) -> Result<(), StoreError> {
    let mut detail = json!({ "kind": kind, "to": masked(to) });
    if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    events::insert(
        conn,
        &NewEvent {
            name,
            actor: "system:mail".into(),
            outcome,
            detail,
            ..NewEvent::default()
        },
    )
    .await?;
    Ok(())
}

/// The delay before try `attempts + 1`: 10 s, 40 s, 160 s, 640 s.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    10_000i64.saturating_mul(1 << (2 * attempts.clamp(1, 5) - 2))
}

/// Sends the outbox's mails; one per server (replicas share the table safely).
#[derive(Clone)]
pub struct Worker {
    pub db: Db,
    pub key: SealKey,
    pub base_url: Url,
}

impl Worker {
    /// Runs until the task is dropped; errors are logged and the loop goes on.
    pub async fn run(self) {
        let mut digest_checked = std::time::Instant::now() - DIGEST_CHECK;
        loop {
            if digest_checked.elapsed() >= DIGEST_CHECK {
                digest_checked = std::time::Instant::now();
                if let Err(e) = super::digest::run(&self.db, now_ms()).await {
                    tracing::warn!(error = %e, "daily digest");
                }
            }
            match self.tick().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "mail worker"),
            }
            tokio::time::sleep(IDLE).await;
        }
    }

    /// Sends one due mail; true if there was one.
    pub async fn tick(&self) -> Result<bool, StoreError> {
        // Idle most of the time: ask a reader, so the single SQLite writer (which SSO
        // answers and sessions share) is not taken four times a second for nothing.
        if !store::any_due(&mut *self.db.read().await?).await? {
            return Ok(false);
        }
        let taken = {
            let mut conn = self.db.write().await?;
            store::take_due(&mut conn, LEASE_MS).await?
        };
        let Some(q) = taken else { return Ok(false) };
        let result = self.deliver(&q).await;
        let mut conn = self.db.write().await?;
        match result {
            Ok(()) => {
                store::done(&mut conn, q.id).await?;
                event(
                    &mut conn,
                    "mail_sent",
                    "success",
                    &q.kind,
                    &q.to_addr,
                    json!({}),
                )
                .await?;
            }
            Err(e) => {
                // A test mail is tried once: the admin who asked wants the answer now.
                let give_up = q.attempts >= MAX_ATTEMPTS
                    || q.kind == "test"
                    || matches!(
                        e,
                        MailError::NotConfigured | MailError::Invalid(_) | MailError::Sealed
                    );
                if give_up {
                    store::done(&mut conn, q.id).await?;
                } else {
                    let at = now_ms() + retry_delay_ms(q.attempts);
                    store::retry_at(&mut conn, q.id, at, &e.to_string()).await?;
                }
                tracing::warn!(kind = %q.kind, attempt = q.attempts, give_up, error = %e, "mail not sent");
                let detail =
                    json!({ "attempt": q.attempts, "error": e.to_string(), "given_up": give_up });
                event(
                    &mut conn,
                    "mail_failed",
                    "failure",
                    &q.kind,
                    &q.to_addr,
                    detail,
                )
                .await?;
            }
        }
        Ok(true)
    }

    async fn deliver(&self, q: &store::Queued) -> Result<(), MailError> {
        let mail: Mail = serde_json::from_str(&q.payload)
            .map_err(|_| MailError::Invalid(format!("unreadable {} mail", q.kind)))?;
        let s = settings::load(&self.db)
            .await
            .map_err(|e| MailError::Invalid(e.to_string()))?;
        let out = mail.render(&self.key, &self.base_url, &q.to_addr)?;
        smtp::send(&s, &self.key, hello_name(&self.base_url), &out).await
    }
}

/// The name sesame gives in EHLO: its public host.
pub fn hello_name(base_url: &Url) -> &str {
    base_url.host_str().unwrap_or("localhost")
}

/// Sends a test mail now (the CLI's `sesame smtp test`), with its event.
pub async fn send_test_now(
    db: &Db,
    key: &SealKey,
    base_url: &Url,
    to: &str,
    requested_by: &str,
) -> Result<(), MailError> {
    let s = settings::load(db)
        .await
        .map_err(|e| MailError::Invalid(e.to_string()))?;
    let mail = Mail::Test {
        requested_by: requested_by.to_string(),
    };
    let out = mail.render(key, base_url, to)?;
    let r = smtp::send(&s, key, hello_name(base_url), &out).await;
    let mut conn = db.write().await?;
    match &r {
        Ok(()) => event(&mut conn, "mail_sent", "success", "test", to, json!({})).await?,
        Err(e) => {
            let detail = json!({ "attempt": 1, "error": e.to_string(), "given_up": true });
            event(&mut conn, "mail_failed", "failure", "test", to, detail).await?
        }
    }
    r
}

/// Queues a test mail for the server's worker (the console and the API: off the request
/// path). Refused when SMTP is not configured.
pub async fn queue_test(db: &Db, to: &str, requested_by: &str) -> Result<(), MailError> {
    let to = super::check_address(to).map_err(|e| MailError::Invalid(e.to_string()))?;
    let mut tx = db.begin().await?;
    let s = settings::get(&mut tx)
        .await
        .map_err(|e| MailError::Invalid(e.to_string()))?;
    if !s.configured() {
        return Err(MailError::NotConfigured);
    }
    let mail = Mail::Test {
        requested_by: requested_by.to_string(),
    };
    if !push(&mut tx, &to, &mail).await? {
        tx.commit().await?;
        return Err(MailError::Invalid(
            "the outbox is full; try again later".into(),
        ));
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn retries_back_off() {
        let d: Vec<i64> = (1..=4).map(super::retry_delay_ms).collect();
        assert_eq!(d, [10_000, 40_000, 160_000, 640_000]);
    }
}
