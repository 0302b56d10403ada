//! The daily digest (issue 15 §2): when the SMTP settings name a `digest_to` address, once a
//! day one mail lists, per app, the provisioning requests that failed since the last digest
//! (and the last error of each), and nothing at all on a day without failures. The time of
//! the last digest is kept in `settings` (`digest_sent_at`), so a restart does not send it
//! again.

use super::{outbox, settings, Mail};
use crate::store::{mfa, Db, StoreError};

/// How often the digest goes out.
pub const EVERY_MS: i64 = 24 * 3600 * 1000;
const SENT_AT: &str = "digest_sent_at";

/// One app's line in the digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppFailures {
    pub app_slug: String,
    pub failures: i64,
    pub last_error: String,
}

/// Queues the digest if one is due at `now` and there were failures; true if it queued one.
pub async fn run(db: &Db, now: i64) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let Ok(s) = settings::get(&mut tx).await else {
        return Ok(false);
    };
    if s.digest_to.is_empty() || !s.configured() {
        return Ok(false);
    }
    let last: i64 = mfa::setting(&mut tx, SENT_AT)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if now - last < EVERY_MS {
        return Ok(false);
    }
    let since = last.max(now - EVERY_MS);
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT app_slug, COUNT(*), MAX(id) FROM events \
         WHERE actor = 'system:scim' AND outcome = 'failure' AND app_slug IS NOT NULL \
           AND at >= $1 AND at < $2 \
         GROUP BY app_slug ORDER BY app_slug",
    )
    .bind(since)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut apps = Vec::with_capacity(rows.len());
    for (app_slug, failures, last_id) in rows {
        let detail: String = sqlx::query_scalar("SELECT detail FROM events WHERE id = $1")
            .bind(last_id)
            .fetch_one(&mut *tx)
            .await?;
        apps.push(AppFailures {
            app_slug,
            failures,
            last_error: detail.chars().take(300).collect(),
        });
    }
    mfa::put_setting(&mut tx, SENT_AT, &now.to_string()).await?;
    let queued = !apps.is_empty()
        && outbox::push(&mut tx, &s.digest_to, &Mail::Digest { since, apps }).await?;
    tx.commit().await?;
    Ok(queued)
}
