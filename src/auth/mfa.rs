//! Second factors: an authenticator app (TOTP, RFC 6238) and single-use recovery codes, and
//! the MFA policy (optional, required for admins, required for everyone; an app may require
//! it on its own). The secret is sealed at rest like the SCIM credentials, a code is accepted
//! once, recovery codes are stored hashed, and failures count toward the same lockout as
//! passwords (NIST SP 800-63B §5.2.2). Every enrolment, use, failure, removal and reset is an
//! event; no secret or code is in any of them.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::throttle::{self, ThrottlePolicy};
use super::totp;
use crate::directory::{audit, users, Actor, DirectoryError, User};
use crate::scim::secret::{SealKey, Secret};
use crate::store::events::{self, NewEvent};
use crate::store::{mfa as store, sha256_hex, Conn, Db};

/// Who must have a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Optional,
    Admins,
    Everyone,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::Optional, Policy::Admins, Policy::Everyone];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Optional => "optional",
            Policy::Admins => "admins",
            Policy::Everyone => "everyone",
        }
    }

    pub fn parse(s: &str) -> Option<Policy> {
        Self::ALL.into_iter().find(|p| p.name() == s.trim())
    }

    /// Whether `user` must have a second factor under this policy.
    pub fn requires(self, user: &User) -> bool {
        match self {
            Policy::Optional => false,
            Policy::Admins => user.is_admin,
            Policy::Everyone => true,
        }
    }
}

const POLICY_KEY: &str = "mfa_policy";

pub async fn policy(db: &Db) -> Result<Policy, DirectoryError> {
    let v = store::cached_setting(db, POLICY_KEY).await?;
    Ok(v.as_deref()
        .and_then(Policy::parse)
        .unwrap_or(Policy::Optional))
}

pub async fn set_policy(db: &Db, actor: &Actor, p: Policy) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    store::put_setting(&mut tx, POLICY_KEY, p.name()).await?;
    audit(
        &mut tx,
        actor,
        "mfa_policy_update",
        None,
        None,
        json!({ "policy": p.name() }),
    )
    .await?;
    // Moves the epoch, so the policy kept in memory is read again at once.
    tx.commit_app_change().await?;
    Ok(())
}

/// A user's second factors, as pages and the API show them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Factors {
    /// An authenticator app is enrolled (and confirmed).
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: i64,
    pub recovery_codes_left: i64,
}

impl Factors {
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub async fn factors(db: &Db, user_id: i64) -> Result<Factors, DirectoryError> {
    factors_on(&mut *db.read().await?, user_id).await
}

pub async fn factors_on(conn: &mut Conn, user_id: i64) -> Result<Factors, DirectoryError> {
    let totp = store::totp(conn, user_id)
        .await?
        .is_some_and(|t| t.confirmed);
    let passkeys = store::passkeys(conn, user_id).await?.len() as i64;
    let recovery_codes_left = if totp || passkeys > 0 {
        store::recovery_left(conn, user_id).await?
    } else {
        0
    };
    Ok(Factors {
        totp,
        passkeys,
        recovery_codes_left,
    })
}

fn context(user_id: i64) -> String {
    format!("mfa:{user_id}")
}

fn unusable(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Invalid(format!("the second factor cannot be used: {e}"))
}

/// What the enrolment page shows: the secret as text, and as a QR code of its URL.
pub struct Enrolment {
    pub secret: String,
    pub url: String,
    pub qr_svg: String,
}

/// The enrolment in progress (the key the user may already have scanned), or a new one.
pub async fn enrolment(
    db: &Db,
    key: &SealKey,
    user: &User,
    issuer: &str,
) -> Result<Enrolment, DirectoryError> {
    match secret_of(db, key, user.id).await? {
        Some((secret, false)) => shown(&secret, user, issuer),
        _ => start(db, key, user, issuer).await,
    }
}

fn shown(secret: &[u8], user: &User, issuer: &str) -> Result<Enrolment, DirectoryError> {
    let account = if user.email.is_empty() {
        &user.username
    } else {
        &user.email
    };
    let url = totp::otpauth_url(secret, issuer, account);
    let qr_svg = totp::qr_svg(&url).map_err(unusable)?;
    Ok(Enrolment {
        secret: totp::base32(secret),
        url,
        qr_svg,
    })
}

/// Starts enrolling an authenticator app: a new secret, sealed, waiting for a first code.
/// Refused while one is enrolled (remove it first).
pub async fn start(
    db: &Db,
    key: &SealKey,
    user: &User,
    issuer: &str,
) -> Result<Enrolment, DirectoryError> {
    let secret = totp::new_secret();
    let sealed = key
        .seal(&Secret::new(totp::base32(&secret)), &context(user.id))
        .map_err(unusable)?;
    let started = store::start_totp(&mut *db.write().await?, user.id, &sealed).await?;
    if started {
        return shown(&secret, user, issuer);
    }
    // Another page load started one first: that is the key to show.
    match secret_of(db, key, user.id).await? {
        Some((other, false)) => shown(&other, user, issuer),
        _ => Err(DirectoryError::Invalid(
            "an authenticator app is already set up; remove it first".into(),
        )),
    }
}

/// The secret of the user's authenticator, enrolled or being enrolled.
async fn secret_of(
    db: &Db,
    key: &SealKey,
    user_id: i64,
) -> Result<Option<(Vec<u8>, bool)>, DirectoryError> {
    let mut conn = db.read().await?;
    let Some(row) = store::totp(&mut conn, user_id).await? else {
        return Ok(None);
    };
    let b32 = key.open(&row.secret, &context(user_id)).map_err(unusable)?;
    let raw = totp_rs::Secret::Encoded(b32.expose().to_string())
        .to_bytes()
        .map_err(|e| unusable(format!("{e:?}")))?;
    Ok(Some((raw, row.confirmed)))
}

fn now_secs() -> u64 {
    (crate::store::now_ms() / 1000).max(0) as u64
}

/// Confirms the enrolment with a first code. Returns the ten recovery codes, shown once;
/// `None` if the code is wrong (nothing changes).
pub async fn confirm(
    db: &Db,
    key: &SealKey,
    user: &User,
    code: &str,
) -> Result<Option<Vec<String>>, DirectoryError> {
    let Some((secret, false)) = secret_of(db, key, user.id).await? else {
        return Err(DirectoryError::Invalid(
            "there is no authenticator app being set up; start again".into(),
        ));
    };
    let Some(step) = totp::matching_step(&secret, code, now_secs()).map_err(unusable)? else {
        return Ok(None);
    };
    let mut tx = db.begin().await?;
    if !store::spend_step(&mut tx, user.id, step).await? {
        return Ok(None);
    }
    let codes = new_recovery_codes(&mut tx, user.id).await?;
    let actor = Actor::user(&user.username);
    audit(
        &mut tx,
        &actor,
        "mfa_enrol",
        None,
        Some(&user.username),
        json!({ "factor": "totp" }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(codes))
}

/// Ten fresh recovery codes (80 bits each, `xxxx-xxxx-xxxx-xxxx`); the old ones stop working.
pub(crate) async fn new_recovery_codes(
    conn: &mut Conn,
    user_id: i64,
) -> Result<Vec<String>, DirectoryError> {
    let codes: Vec<String> = (0..10)
        .map(|_| {
            let mut raw = [0u8; 10];
            openssl::rand::rand_bytes(&mut raw).unwrap_or_else(|_| {
                use rand::RngCore;
                rand::rngs::OsRng.fill_bytes(&mut raw)
            });
            let b32 = totp::base32(&raw).to_lowercase();
            b32.as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    store::put_recovery(conn, user_id, &hashes).await?;
    Ok(codes)
}

fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    sha256_hex(&normal)
}

/// A typed code is a recovery code rather than an authenticator's: it has letters, or more
/// characters than a TOTP code.
fn is_recovery_code(code: &str) -> bool {
    let n = code.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    n > totp::DIGITS || code.chars().any(|c| c.is_ascii_alphabetic())
}

/// Replaces the recovery codes (the user asked for new ones); returns them, shown once.
pub async fn regenerate_recovery(db: &Db, user: &User) -> Result<Vec<String>, DirectoryError> {
    if !factors(db, user.id).await?.any() {
        return Err(DirectoryError::Invalid(
            "recovery codes come with a second factor; set one up first".into(),
        ));
    }
    let mut tx = db.begin().await?;
    let codes = new_recovery_codes(&mut tx, user.id).await?;
    let actor = Actor::user(&user.username);
    audit(
        &mut tx,
        &actor,
        "mfa_recovery_regenerate",
        None,
        Some(&user.username),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Recovery,
}

/// The outcome of a second-factor check.
#[derive(Debug)]
pub enum Verdict {
    Passed(Method),
    /// Wrong, reused or unknown code: one answer for all.
    Refused,
    Locked(Duration),
}

/// Checks a code typed at sign-in (an authenticator's code, or a recovery code). Failures
/// count toward the account's lockout; a success clears it.
pub async fn verify(
    db: &Db,
    key: &SealKey,
    limits: &ThrottlePolicy,
    user: &User,
    code: &str,
    ip: IpAddr,
) -> Result<Verdict, DirectoryError> {
    let account = throttle::account_key(&user.username);
    // Counted before it is checked: parallel guesses cannot all slip under the limit.
    let last = match throttle::attempt(db, limits, &account, limits.max_failures).await? {
        throttle::Attempt::Locked(left) => {
            let detail = json!({ "reason": "locked", "ip": ip.to_string() });
            record(db, user, "mfa_failure", detail).await?;
            return Ok(Verdict::Locked(left));
        }
        throttle::Attempt::Go { last } => last,
    };
    let passed = if is_recovery_code(code) {
        let mut conn = db.write().await?;
        store::use_recovery(&mut conn, user.id, &recovery_hash(code))
            .await?
            .then_some(Method::Recovery)
    } else {
        match secret_of(db, key, user.id).await? {
            Some((secret, true)) => {
                match totp::matching_step(&secret, code, now_secs()).map_err(unusable)? {
                    Some(step) => {
                        let mut conn = db.write().await?;
                        store::spend_step(&mut conn, user.id, step)
                            .await?
                            .then_some(Method::Totp)
                    }
                    None => None,
                }
            }
            _ => None,
        }
    };
    if let Some(method) = passed {
        throttle::clear(db, &account).await?;
        let (name, factor) = match method {
            Method::Totp => ("mfa_success", "totp"),
            Method::Recovery => ("mfa_recovery_used", "recovery_code"),
        };
        let left = factors(db, user.id).await?.recovery_codes_left;
        let detail = json!({ "factor": factor, "ip": ip.to_string(), "recovery_codes_left": left });
        record(db, user, name, detail).await?;
        return Ok(Verdict::Passed(method));
    }
    record(
        db,
        user,
        "mfa_failure",
        json!({ "reason": "bad_code", "ip": ip.to_string() }),
    )
    .await?;
    if last {
        throttle::lock(db, limits, &account).await?;
        crate::telemetry::lockout(crate::telemetry::LockStep::SecondFactor);
        record(
            db,
            user,
            "login_lockout",
            json!({ "ip": ip.to_string(), "factor": "second" }),
        )
        .await?;
        return Ok(Verdict::Locked(limits.lockout));
    }
    Ok(Verdict::Refused)
}

pub(crate) async fn record(
    db: &Db,
    user: &User,
    name: &'static str,
    detail: serde_json::Value,
) -> Result<(), DirectoryError> {
    let mut conn = db.write().await?;
    let event = NewEvent {
        name,
        actor: format!("user:{}", user.username),
        username: Some(user.username.clone()),
        outcome: if name == "mfa_failure" || name == "login_lockout" {
            "failure"
        } else {
            "success"
        },
        detail,
        ..NewEvent::default()
    };
    events::insert(&mut conn, &event).await?;
    Ok(())
}

/// The user removes their authenticator app (their passkeys stay; with no factor left, the
/// recovery codes go too).
pub async fn remove_totp(db: &Db, user: &User) -> Result<bool, DirectoryError> {
    let mut tx = db.begin().await?;
    let removed = store::remove_totp(&mut tx, user.id).await?;
    if store::passkeys(&mut tx, user.id).await?.is_empty() {
        store::put_recovery(&mut tx, user.id, &[]).await?;
    }
    let actor = Actor::user(&user.username);
    let detail = json!({ "factor": "totp", "removed": removed });
    audit(
        &mut tx,
        &actor,
        "mfa_remove",
        None,
        Some(&user.username),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

/// An admin's reset of every second factor of a user (a lost phone). True if there was
/// anything to remove.
pub async fn remove(db: &Db, actor: &Actor, username: &str) -> Result<bool, DirectoryError> {
    let user = users::get(db, username).await?;
    let mut tx = db.begin().await?;
    let removed = store::remove_all(&mut tx, user.id).await?;
    let detail = json!({ "removed": removed });
    audit(
        &mut tx,
        actor,
        "mfa_reset",
        None,
        Some(&user.username),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_told_from_totp_codes_and_normalised() {
        assert!(!is_recovery_code("123456"));
        assert!(!is_recovery_code(" 123 456 "));
        assert!(is_recovery_code("abcd-efgh-ijkl-mnop"));
        assert!(is_recovery_code("1234567"));
        assert_eq!(
            recovery_hash("ABCD-efgh ijkl-MNOP"),
            recovery_hash("abcdefghijklmnop")
        );
    }

    #[test]
    fn policies_round_trip() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()), Some(p));
        }
        assert_eq!(Policy::parse("sometimes"), None);
    }
}
