//! What the portal keeps in a browser session: the user id, when they authenticated (for
//! `ForceAuthn` later) and the CSRF token. The user is reloaded on every request, so a
//! suspension or deletion ends their sessions at once.

use tower_sessions::Session;

use super::csrf;
use crate::directory::User;
use crate::store::{users, Db, StoreError};

const USER_ID: &str = "uid";
const AUTH_AT: &str = "auth_at";
const CSRF: &str = "csrf";
/// The session's SAML `SessionIndex` (Single Logout finds a session by it).
pub const SESSION_INDEX: &str = "sidx";
const SEEN: &str = "seen";
/// The session proved a second factor (with its `AUTH_AT`).
const MFA: &str = "mfa";
/// A password was right and a second factor is awaited: the user id, and where to go after.
/// (`store::sessions` reads `uid` and `pending_uid` as the row's owner, so that ending a
/// user's sessions ends a half-finished sign-in too.)
const PENDING_UID: &str = "pending_uid";
const PENDING_NEXT: &str = "pending_next";
const PENDING_AT: &str = "pending_at";
/// How long a right password waits for its second factor.
const PENDING_MS: i64 = 10 * 60 * 1000;
/// When the user proved their first factor (the password, or a passkey that signs in on its
/// own): `ForceAuthn` asks for this to be newer than the request, so that a step-up with a
/// second factor alone does not answer it.
const FIRST_AT: &str = "first_at";
/// How recent the second factor must be for changing second factors.
pub const RECENT_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

impl SessionError {
    /// The session store could not reach the database in time (see `store::sessions::BUSY`).
    pub fn is_busy(&self) -> bool {
        match self {
            SessionError::Store(s) => s.is_busy(),
            SessionError::Session(e) => e.to_string().contains(crate::store::sessions::BUSY),
            SessionError::Other(_) => false,
        }
    }
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, SessionError> {
    if let Some(t) = session.get::<String>(CSRF).await? {
        return Ok(t);
    }
    let t = csrf::new_token();
    session.insert(CSRF, &t).await?;
    Ok(t)
}

pub async fn csrf_ok(session: &Session, given: &str) -> Result<bool, SessionError> {
    let expected = session.get::<String>(CSRF).await?;
    Ok(csrf::matches(expected.as_deref(), given))
}

/// How the session's user authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    Password,
    /// A password and a second factor.
    MultiFactor,
}

/// Logs `user` in: a new session id (SECURITY 11), a new CSRF token.
pub async fn establish(
    session: &Session,
    user: &User,
    strength: Strength,
) -> Result<(), SessionError> {
    // Nothing from before the sign-in carries over (another user's half-done ceremony, say).
    session.clear().await;
    session.cycle_id().await?;
    let now = crate::store::now_ms();
    session.insert(USER_ID, user.id).await?;
    session.insert(AUTH_AT, now).await?;
    session.insert(FIRST_AT, now).await?;
    session
        .insert(MFA, strength == Strength::MultiFactor)
        .await?;
    session.insert(CSRF, csrf::new_token()).await?;
    session
        .insert(SESSION_INDEX, format!("_{}", csrf::random_token(18)))
        .await?;
    Ok(())
}

/// The signed-in user proved a second factor now (a step-up): the session becomes
/// multi-factor, and its authentication instant is now (SAML's `AuthnInstant` is the time of
/// the last factor).
pub async fn raise(session: &Session) -> Result<(), SessionError> {
    session.cycle_id().await?;
    session.insert(MFA, true).await?;
    session.insert(AUTH_AT, crate::store::now_ms()).await?;
    Ok(())
}

/// The signed-in user proved every factor again now with a passkey (possession and user
/// verification: both factors in one): a fresh sign-in as far as `ForceAuthn` is concerned.
pub async fn reauthenticated(session: &Session) -> Result<(), SessionError> {
    raise(session).await?;
    session.insert(FIRST_AT, crate::store::now_ms()).await?;
    Ok(())
}

/// The password was right; the second factor comes next. Nobody is signed in until then.
pub async fn await_second_factor(
    session: &Session,
    user: &User,
    next: &str,
) -> Result<(), SessionError> {
    session.clear().await;
    session.cycle_id().await?;
    session.insert(PENDING_UID, user.id).await?;
    session.insert(PENDING_NEXT, next).await?;
    session.insert(PENDING_AT, crate::store::now_ms()).await?;
    session.insert(CSRF, csrf::new_token()).await?;
    Ok(())
}

/// Where a sign-in came from, kept with the session for the user's list of sessions.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub user_agent: String,
    pub ip: String,
}

const CLIENT_UA: &str = "ua";
const CLIENT_IP: &str = "ip";

/// Notes where the session's sign-in came from (after [`establish`]).
pub async fn note_client(session: &Session, client: &Client) -> Result<(), SessionError> {
    let ua: String = client.user_agent.chars().take(256).collect();
    session.insert(CLIENT_UA, ua).await?;
    session.insert(CLIENT_IP, &client.ip).await?;
    Ok(())
}

/// One of a user's sessions, as their account page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    /// Names the session to its user (the SHA-256 of its id, not the id).
    pub key: String,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
    pub multi_factor: bool,
    pub user_agent: String,
    pub ip: String,
    /// The session this list is shown in.
    pub current: bool,
}

/// The user's live sessions, newest first; `current` marks this one.
pub async fn list(
    session: &Session,
    db: &Db,
    user_id: i64,
) -> Result<Vec<SessionInfo>, SessionError> {
    let current = session.id().map(|id| crate::store::sessions::key(&id));
    let mut conn = db.read().await?;
    let rows = crate::store::sessions::of_user(&mut conn, user_id).await?;
    let mut out: Vec<SessionInfo> = rows
        .into_iter()
        .map(|(key, data, _)| {
            let num = |k: &str| data.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
            let text = |k: &str| {
                data.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let signed_in_at = num(AUTH_AT);
            SessionInfo {
                current: current.as_deref() == Some(key.as_str()),
                key,
                signed_in_at,
                last_seen_at: num(SEEN).max(signed_in_at),
                multi_factor: data.get(MFA).and_then(|v| v.as_bool()).unwrap_or(false),
                user_agent: text(CLIENT_UA),
                ip: text(CLIENT_IP),
            }
        })
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.last_seen_at));
    Ok(out)
}

/// Ends one of the user's sessions (by its key); true if it was live.
pub async fn end_one(db: &Db, user_id: i64, key: &str) -> Result<bool, SessionError> {
    let mut conn = db.write().await?;
    Ok(crate::store::sessions::end_one(&mut conn, user_id, key).await?)
}

/// Ends every session of the user but this one (`session`), or all of them (`None`).
pub async fn end_others(
    session: Option<&Session>,
    db: &Db,
    user_id: i64,
) -> Result<u64, SessionError> {
    let keep = session
        .and_then(|s| s.id())
        .map(|id| crate::store::sessions::key(&id));
    let mut conn = db.write().await?;
    Ok(crate::store::sessions::end_all(&mut conn, user_id, keep.as_deref()).await?)
}

/// Whether this session may change the user's second factors: a user with none may add the
/// first; a user with some must have proven one in this session, recently ("sudo mode"), so
/// that a password alone, or a session left open, cannot add, replace or remove them.
pub async fn may_change_factors(
    session: &Session,
    db: &Db,
    user: &User,
) -> Result<bool, SessionError> {
    let factors = super::mfa::factors(db, user.id)
        .await
        .map_err(directory_error)?;
    if !factors.any() {
        return Ok(true);
    }
    let s = sso_state(session).await?;
    Ok(s.strength == Strength::MultiFactor && crate::store::now_ms() - s.auth_at < RECENT_MS)
}

/// The user whose second factor is awaited, and where they were going.
pub async fn awaiting_second_factor(
    session: &Session,
    db: &Db,
) -> Result<Option<(User, String)>, SessionError> {
    let Some(id) = session.get::<i64>(PENDING_UID).await? else {
        return Ok(None);
    };
    let at = session.get::<i64>(PENDING_AT).await?.unwrap_or(0);
    if crate::store::now_ms() - at > PENDING_MS {
        return Ok(None);
    }
    let next = session
        .get::<String>(PENDING_NEXT)
        .await?
        .unwrap_or_default();
    let mut conn = db.read().await?;
    Ok(users::by_id(&mut conn, id)
        .await?
        .filter(|u| u.active)
        .map(|u| (u, next)))
}

/// What single sign-on needs from the session: when the user last authenticated (unix ms),
/// how, and the `SessionIndex` the assertions carry (SECURITY 9), stable for the session.
pub struct SsoState {
    pub auth_at: i64,
    /// When the first factor was proven (`ForceAuthn`).
    pub first_at: i64,
    pub strength: Strength,
    pub session_index: String,
}

pub async fn sso_state(session: &Session) -> Result<SsoState, SessionError> {
    let auth_at = session.get::<i64>(AUTH_AT).await?.unwrap_or(0);
    let first_at = session.get::<i64>(FIRST_AT).await?.unwrap_or(auth_at);
    let strength = if session.get::<bool>(MFA).await?.unwrap_or(false) {
        Strength::MultiFactor
    } else {
        Strength::Password
    };
    let session_index = match session.get::<String>(SESSION_INDEX).await? {
        Some(i) => i,
        None => {
            let i = format!("_{}", csrf::random_token(18));
            session.insert(SESSION_INDEX, &i).await?;
            i
        }
    };
    Ok(SsoState {
        auth_at,
        first_at,
        strength,
        session_index,
    })
}

/// The logged-in, active user of this session, if any.
pub async fn current_user(session: &Session, db: &Db) -> Result<Option<User>, SessionError> {
    let Some(id) = session.get::<i64>(USER_ID).await? else {
        return Ok(None);
    };
    let mut conn = db.read().await?;
    match users::by_id(&mut conn, id).await? {
        Some(u) if u.active => {
            touch(session).await?;
            Ok(Some(u))
        }
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// Whether a page for signed-in people may open for this session: decided once, here, for
/// the portal, the account pages, the console and a tile's launch.
pub enum Gate {
    Open(Box<User>),
    /// Nobody (active) is signed in.
    SignIn,
    /// A new password is due first; only the account page opens.
    ChangePassword,
    /// The MFA policy asks this user for a second factor they have not set up: only the
    /// account pages open, where they set one up.
    EnrolMfa,
}

/// The [`Gate`] for a page; `account_page` is true for the pages where a password is changed
/// and second factors are set up.
pub async fn gate(session: &Session, db: &Db, account_page: bool) -> Result<Gate, SessionError> {
    let Some(u) = current_user(session, db).await? else {
        return Ok(Gate::SignIn);
    };
    if account_page {
        return Ok(Gate::Open(Box::new(u)));
    }
    if u.must_change_password {
        return Ok(Gate::ChangePassword);
    }
    if must_enrol(session, db, &u).await? {
        return Ok(Gate::EnrolMfa);
    }
    Ok(Gate::Open(Box::new(u)))
}

/// The policy asks `user` for a second factor and this session has none (nor the user).
pub async fn must_enrol(session: &Session, db: &Db, user: &User) -> Result<bool, SessionError> {
    if session.get::<bool>(MFA).await?.unwrap_or(false) {
        return Ok(false);
    }
    let policy = super::mfa::policy(db).await.map_err(directory_error)?;
    if !policy.requires(user) {
        return Ok(false);
    }
    let factors = super::mfa::factors(db, user.id)
        .await
        .map_err(directory_error)?;
    Ok(!factors.any())
}

fn directory_error(e: crate::directory::DirectoryError) -> SessionError {
    match e {
        crate::directory::DirectoryError::Store(s) => SessionError::Store(s),
        other => SessionError::Other(other.to_string()),
    }
}

/// Keeps an active session alive: the idle timeout (`Expiry::OnInactivity`) only moves when
/// the session is saved, and reads do not save it, so a timestamp is refreshed now and then
/// (a quarter of the timeout, at most every minute): one write per active user per minute.
async fn touch(session: &Session) -> Result<(), SessionError> {
    let Some(tower_sessions::Expiry::OnInactivity(idle)) = session.expiry() else {
        return Ok(());
    };
    let every = (idle.whole_milliseconds() as i64 / 4).min(60_000);
    let now = crate::store::now_ms();
    let seen = session.get::<i64>(SEEN).await?.unwrap_or(0);
    if now - seen >= every {
        session.insert(SEEN, now).await?;
    }
    Ok(())
}

pub async fn end(session: &Session) -> Result<(), SessionError> {
    session.flush().await?;
    Ok(())
}
