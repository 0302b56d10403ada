//! Password-reset and invitation links (issue 15 §2). A link carries a random 256-bit token;
//! only its SHA-256 is stored (`user_tokens`), the token itself is only in the mail (sealed
//! in the outbox) and never in an event or a log. A token works once ([`complete`] spends
//! it in the transaction that sets the password) and only before it expires.
//!
//! Using a link: sets the password (today's policy), ends every session of the user, and
//! lifts the account's sign-in lockout (whoever holds the mailbox has proved more than a
//! password guess would; the client address's own lock stays). A suspended user neither
//! gets a link nor can use one sent before.
//!
//! [`request`] ("Forgot password?") answers the same whether or not the account exists, and
//! takes at least [`MIN_ANSWER`] so the time does not tell either; requests are throttled
//! per typed name and per client address with the sign-in throttle's counters.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use url::Url;

use super::password::{self, Password};
use super::throttle::{self, Attempt, ThrottlePolicy};
use crate::directory::{audit, Actor, DirectoryError, User};
use crate::mail::{outbox, settings as smtp, Mail};
use crate::scim::secret::SealKey;
use crate::store::{now_ms, sha256_hex, user_tokens, users, Conn, Db};

/// How long a reset link works.
pub const RESET_MINUTES: i64 = 30;
/// How long an invitation link works.
pub const INVITE_DAYS: i64 = 7;
/// The "Forgot password?" answer takes at least this long, found or not.
pub const MIN_ANSWER: Duration = Duration::from_millis(300);
/// Reset requests per typed name, and per client address, within an hour.
pub const PER_ACCOUNT: i64 = 3;
pub const PER_ADDRESS: i64 = 20;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Reset,
    Invite,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Invite => "invite",
        }
    }

    fn lifetime_ms(self) -> i64 {
        match self {
            Purpose::Reset => RESET_MINUTES * 60_000,
            Purpose::Invite => INVITE_DAYS * 86_400_000,
        }
    }
}

/// What a "Forgot password?" request led to; the page is the same for every `Sent` and
/// `Nothing` (the person is never told which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// A link was queued (or nothing was, for an unknown, suspended or mail-less account).
    Answered,
    /// Too many requests for this name or from this address: try again later.
    Throttled,
}

fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        window: Duration::from_secs(3600),
        lockout: Duration::from_secs(3600),
        ..ThrottlePolicy::default()
    }
}

/// "Forgot password?": `who` is a username or an e-mail address.
pub async fn request(
    db: &Db,
    key: &SealKey,
    base_url: &Url,
    who: &str,
    ip: IpAddr,
) -> Result<Requested, DirectoryError> {
    let started = Instant::now();
    let r = request_inner(db, key, base_url, who, ip).await;
    tokio::time::sleep(MIN_ANSWER.saturating_sub(started.elapsed())).await;
    r
}

async fn request_inner(
    db: &Db,
    key: &SealKey,
    base_url: &Url,
    who: &str,
    ip: IpAddr,
) -> Result<Requested, DirectoryError> {
    let who = who.trim().to_lowercase();
    let p = policy();
    let by_address = format!("reset-ip:{ip}");
    let by_name = format!("reset-user:{who}");
    for (k, max) in [(&by_address, PER_ADDRESS), (&by_name, PER_ACCOUNT)] {
        if let Attempt::Locked(_) = throttle::attempt(db, &p, k, max).await? {
            let mut conn = db.write().await?;
            let e = crate::store::events::NewEvent {
                name: "password_reset_throttled",
                actor: format!("ip:{ip}"),
                outcome: "failure",
                ..Default::default()
            };
            crate::store::events::insert(&mut conn, &e).await?;
            return Ok(Requested::Throttled);
        }
    }
    if who.is_empty() || who.len() > 320 {
        return Ok(Requested::Answered);
    }
    let mut tx = db.begin().await?;
    let user = if who.contains('@') {
        users::by_email_key(&mut tx, &who).await?
    } else {
        users::by_key(&mut tx, &who).await?
    };
    let actor = Actor(format!("ip:{ip}"));
    let why_not = match &user {
        None => Some("unknown account"),
        Some(u) if !u.active => Some("suspended"),
        Some(u) if u.email.is_empty() => Some("no e-mail address"),
        Some(_) if !smtp::get(&mut tx).await?.configured() => Some("SMTP is not configured"),
        Some(_) => None,
    };
    match (user, why_not) {
        (Some(u), None) => match issue(&mut tx, key, base_url, &u, Purpose::Reset).await {
            Ok(()) => {
                let sent = "password_reset_sent";
                audit(&mut tx, &actor, sent, None, Some(&u.username), json!({})).await?;
            }
            // The outbox is full (a `mail_dropped` event says so): the same answer still.
            Err(DirectoryError::Invalid(_)) => {}
            Err(e) => return Err(e),
        },
        (u, why) => {
            let name = u.map(|u| u.username);
            let e = crate::store::events::NewEvent {
                name: "password_reset_refused",
                actor: actor.0.clone(),
                username: name,
                outcome: "failure",
                detail: json!({ "reason": why.unwrap_or_default() }),
                ..Default::default()
            };
            crate::store::events::insert(&mut tx, &e).await?;
        }
    }
    tx.commit().await?;
    Ok(Requested::Answered)
}

/// Makes a token for `user`, replacing any earlier one of the same purpose, and queues the
/// mail with its link. The caller checked the user is active, has an address and that SMTP
/// is configured.
pub(crate) async fn issue(
    conn: &mut Conn,
    key: &SealKey,
    base_url: &Url,
    user: &User,
    purpose: Purpose,
) -> Result<(), DirectoryError> {
    let token = super::csrf::random_token(32);
    user_tokens::drop_for(conn, user.id, purpose.as_str()).await?;
    let expires = now_ms() + purpose.lifetime_ms();
    user_tokens::insert(
        conn,
        &sha256_hex(&token),
        user.id,
        purpose.as_str(),
        expires,
    )
    .await?;
    let link = base_url
        .join(&format!("{}/{token}", purpose.as_str()))
        .map_err(|e| DirectoryError::Invalid(e.to_string()))?;
    let sealed =
        Mail::seal_link(key, link.as_str()).map_err(|e| DirectoryError::Invalid(e.to_string()))?;
    let mail = match purpose {
        Purpose::Reset => Mail::Reset {
            username: user.username.clone(),
            link: sealed,
            minutes: RESET_MINUTES,
        },
        Purpose::Invite => Mail::Invite {
            username: user.username.clone(),
            link: sealed,
            days: INVITE_DAYS,
        },
    };
    if !outbox::push(conn, &user.email, &mail).await? {
        return Err(DirectoryError::Invalid(
            "too many mails are waiting to be sent; try again later".into(),
        ));
    }
    Ok(())
}

/// A token in a link, checked for shape before any lookup.
fn hash_of(token: &str) -> Option<String> {
    let ok = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| sha256_hex(token))
}

/// The active user a link is for, while it works (the set-password page).
pub async fn open(db: &Db, token: &str, purpose: Purpose) -> Result<Option<User>, DirectoryError> {
    let Some(hash) = hash_of(token) else {
        return Ok(None);
    };
    let mut conn = db.read().await?;
    let Some(id) = user_tokens::find(&mut conn, &hash, purpose.as_str()).await? else {
        return Ok(None);
    };
    Ok(users::by_id(&mut conn, id).await?.filter(|u| u.active))
}

/// Why a link did not set a password.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(
        "This link is not valid: it was used already, has expired, or was replaced by a newer one."
    )]
    Gone,
    /// The new password breaks the policy (the message says which rule); the link still works.
    #[error("{0}")]
    Password(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl From<crate::store::StoreError> for LinkError {
    fn from(e: crate::store::StoreError) -> Self {
        LinkError::Directory(e.into())
    }
}

impl From<sqlx::Error> for LinkError {
    fn from(e: sqlx::Error) -> Self {
        LinkError::Directory(e.into())
    }
}

/// Sets the password through a link and spends it; returns the username.
pub async fn complete(
    db: &Db,
    key: &SealKey,
    token: &str,
    purpose: Purpose,
    new_password: String,
) -> Result<String, LinkError> {
    let user = open(db, token, purpose).await?.ok_or(LinkError::Gone)?;
    let pw = Password::new(new_password).map_err(|e| LinkError::Password(e.to_string()))?;
    password::check_for(&pw, &user.username).map_err(|e| LinkError::Password(e.to_string()))?;
    let hash = password::hash(&pw).await?;
    let token_hash = hash_of(token).ok_or(LinkError::Gone)?;
    let mut tx = db.begin().await?;
    // Spent here, in the transaction that sets the password: of two uses at once, one wins.
    match user_tokens::spend(&mut tx, &token_hash, purpose.as_str()).await? {
        Some(id) if id == user.id => {}
        _ => return Err(LinkError::Gone),
    }
    let still = users::by_id(&mut tx, user.id).await?.filter(|u| u.active);
    if still.is_none() {
        return Err(LinkError::Gone);
    }
    users::set_password(&mut tx, user.id, &hash, false).await?;
    let synced = crate::scim::password::queue(&mut tx, key, user.id, &pw)
        .await
        .map_err(LinkError::Directory)?;
    let ended = crate::store::sessions::end_all(&mut tx, user.id, None).await?;
    crate::store::throttle::clear(&mut tx, &throttle::account_key(&user.username)).await?;
    user_tokens::drop_for(&mut tx, user.id, Purpose::Reset.as_str()).await?;
    let name = match purpose {
        Purpose::Reset => "password_reset_used",
        Purpose::Invite => "invitation_accepted",
    };
    let actor = Actor(format!("user:{}", user.username));
    audit(
        &mut tx,
        &actor,
        name,
        None,
        Some(&user.username),
        json!({ "sessions_ended": ended, "password_sync_targets": synced }),
    )
    .await?;
    tx.commit().await?;
    Ok(user.username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        let t = crate::auth::csrf::random_token(32);
        assert_eq!(t.len(), 43);
        assert_eq!(hash_of(&t), Some(sha256_hex(&t)));
        for bad in ["", "short", &format!("{t}x"), &t.replace(&t[..1], "%")] {
            assert_eq!(hash_of(bad), None, "{bad:?}");
        }
    }
}
