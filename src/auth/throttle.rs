//! Login throttling (SECURITY 12): failures are counted per account and per client address
//! inside a window; reaching the limit locks that key for a while. Counters live in the
//! database, so a restart or another replica does not reset them. Unknown usernames are
//! counted like known ones, so a lockout reveals nothing about which accounts exist.

use std::time::Duration;

use crate::store::throttle::{self, Counter};
use crate::store::{now_ms, Db, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThrottlePolicy {
    /// Failures per account within `window` before it is locked.
    pub max_failures: i64,
    /// Failures per client address within `window` before it is locked.
    pub ip_max_failures: i64,
    pub window: Duration,
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 5,
            ip_max_failures: 50,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

pub fn account_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

pub fn address_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

/// How long the longest lock among `keys` still runs, if any.
pub async fn locked_for(db: &Db, keys: &[&str]) -> Result<Option<Duration>, StoreError> {
    let mut conn = db.read().await?;
    let now = now_ms();
    let mut longest = 0;
    for key in keys {
        if let Some(c) = throttle::get(&mut conn, key).await? {
            longest = longest.max(c.locked_until - now);
        }
    }
    Ok((longest > 0).then(|| Duration::from_millis(longest as u64)))
}

/// Counts one failure against `key`; returns true when this failure locked it.
pub async fn record_failure(
    db: &Db,
    policy: &ThrottlePolicy,
    key: &str,
    max: i64,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let window = policy.window.as_millis() as i64;
    let mut c = throttle::get(&mut tx, key).await?.unwrap_or(Counter {
        failures: 0,
        window_start: now,
        locked_until: 0,
    });
    if now - c.window_start > window || c.locked_until != 0 && c.locked_until <= now {
        c = Counter {
            failures: 0,
            window_start: now,
            locked_until: 0,
        };
    }
    c.failures += 1;
    let locks = c.failures >= max && c.locked_until <= now;
    if locks {
        c.locked_until = now + policy.lockout.as_millis() as i64;
    }
    throttle::put(&mut tx, key, c).await?;
    tx.commit().await?;
    Ok(locks)
}

pub async fn clear(db: &Db, key: &str) -> Result<(), StoreError> {
    let mut conn = db.write().await?;
    throttle::clear(&mut conn, key).await
}
