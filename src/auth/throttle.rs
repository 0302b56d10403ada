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

/// What counting an attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Locked: do not check the attempt at all.
    Locked(Duration),
    /// Check it; `last` when a failure now must lock the key.
    Go { last: bool },
}

/// Counts an attempt at `key` *before* it is checked, so that attempts sent in parallel
/// cannot all pass a check made before any of their failures is written: the attempt past
/// `max` in the window locks the key and is not checked. A success clears the count
/// ([`clear`]); a failed `last` attempt locks the key ([`lock`]).
pub async fn attempt(
    db: &Db,
    policy: &ThrottlePolicy,
    key: &str,
    max: i64,
) -> Result<Attempt, StoreError> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let window = policy.window.as_millis() as i64;
    let mut c = throttle::get(&mut tx, key).await?.unwrap_or(Counter {
        failures: 0,
        window_start: now,
        locked_until: 0,
    });
    if c.locked_until > now {
        return Ok(Attempt::Locked(Duration::from_millis(
            (c.locked_until - now) as u64,
        )));
    }
    if now - c.window_start > window || c.locked_until != 0 {
        c = Counter {
            failures: 0,
            window_start: now,
            locked_until: 0,
        };
    }
    c.failures += 1;
    let verdict = if c.failures > max {
        c.locked_until = now + policy.lockout.as_millis() as i64;
        Attempt::Locked(policy.lockout)
    } else {
        Attempt::Go {
            last: c.failures == max,
        }
    };
    throttle::put(&mut tx, key, c).await?;
    tx.commit().await?;
    Ok(verdict)
}

/// Locks `key` for the lockout time from now.
pub async fn lock(db: &Db, policy: &ThrottlePolicy, key: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let now = now_ms();
    let mut c = throttle::get(&mut tx, key).await?.unwrap_or(Counter {
        failures: 0,
        window_start: now,
        locked_until: 0,
    });
    c.locked_until = now + policy.lockout.as_millis() as i64;
    throttle::put(&mut tx, key, c).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn clear(db: &Db, key: &str) -> Result<(), StoreError> {
    let mut conn = db.write().await?;
    throttle::clear(&mut conn, key).await
}
