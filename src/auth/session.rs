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
const SESSION_INDEX: &str = "sidx";
const SEEN: &str = "seen";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SessionError {
    /// The session store could not reach the database in time (see `store::sessions::BUSY`).
    pub fn is_busy(&self) -> bool {
        match self {
            SessionError::Store(s) => s.is_busy(),
            SessionError::Session(e) => e.to_string().contains(crate::store::sessions::BUSY),
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

/// Logs `user` in: a new session id (SECURITY 11), a new CSRF token.
pub async fn establish(session: &Session, user: &User) -> Result<(), SessionError> {
    session.cycle_id().await?;
    session.insert(USER_ID, user.id).await?;
    session.insert(AUTH_AT, crate::store::now_ms()).await?;
    session.insert(CSRF, csrf::new_token()).await?;
    session
        .insert(SESSION_INDEX, format!("_{}", csrf::random_token(18)))
        .await?;
    Ok(())
}

/// What single sign-on needs from the session: when the user authenticated (unix ms) and
/// the `SessionIndex` the assertions carry (SECURITY 9), stable for the session.
pub async fn sso_state(session: &Session) -> Result<(i64, String), SessionError> {
    let auth_at = session.get::<i64>(AUTH_AT).await?.unwrap_or(0);
    let index = match session.get::<String>(SESSION_INDEX).await? {
        Some(i) => i,
        None => {
            let i = format!("_{}", csrf::random_token(18));
            session.insert(SESSION_INDEX, &i).await?;
            i
        }
    };
    Ok((auth_at, index))
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
/// the portal, the account page, the console and a tile's launch.
pub enum Gate {
    Open(Box<User>),
    /// Nobody (active) is signed in.
    SignIn,
    /// A new password is due first; only the account page opens.
    ChangePassword,
}

/// The [`Gate`] for a page; `account_page` is true for the page where a password is changed.
pub async fn gate(session: &Session, db: &Db, account_page: bool) -> Result<Gate, SessionError> {
    Ok(match current_user(session, db).await? {
        Some(u) if u.must_change_password && !account_page => Gate::ChangePassword,
        Some(u) => Gate::Open(Box::new(u)),
        None => Gate::SignIn,
    })
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
