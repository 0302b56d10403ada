//! Invitations (issue 15 §2): instead of a temporary password, a user created with an
//! e-mail address gets a link to set their own (`reset::Purpose::Invite`, single use,
//! [`reset::INVITE_DAYS`] days, stored hashed). Sending again replaces the earlier link.

use serde_json::json;
use url::Url;

use super::reset::{self, Purpose};
use crate::directory::{audit, Actor, DirectoryError};
use crate::mail::settings as smtp;
use crate::scim::secret::SealKey;
use crate::store::{users, Db};

/// Sends (or sends again) the invitation of `username`; an `user_invite_sent` event.
pub async fn send(
    db: &Db,
    key: &SealKey,
    base_url: &Url,
    actor: &Actor,
    username: &str,
) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    let user = users::by_key(&mut tx, &username.to_ascii_lowercase())
        .await?
        .ok_or_else(|| DirectoryError::NotFound(format!("no user {username}")))?;
    if !user.active {
        return Err(DirectoryError::Invalid(format!(
            "{} is suspended: reactivate the account before inviting",
            user.username
        )));
    }
    if user.email.is_empty() {
        return Err(DirectoryError::Invalid(format!(
            "{} has no e-mail address to send the invitation to",
            user.username
        )));
    }
    if !smtp::get(&mut tx).await?.configured() {
        return Err(DirectoryError::Invalid(
            "SMTP is not configured: set it up under Settings › E-mail or with `sesame smtp set` before inviting".into(),
        ));
    }
    reset::issue(&mut tx, key, base_url, &user, Purpose::Invite).await?;
    audit(
        &mut tx,
        actor,
        "user_invite_sent",
        None,
        Some(&user.username),
        json!({ "to": crate::mail::masked(&user.email), "days": reset::INVITE_DAYS }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates a user without a password and sends the invitation: refused before anything is
/// created when the user has no e-mail address or SMTP is not configured.
pub async fn create(
    db: &Db,
    key: &SealKey,
    base_url: &Url,
    actor: &Actor,
    username: &str,
    fields: &crate::directory::users::UserFields,
) -> Result<crate::directory::User, DirectoryError> {
    if fields.email.as_deref().unwrap_or("").trim().is_empty() {
        return Err(DirectoryError::Invalid(
            "an invitation needs the user's e-mail address".into(),
        ));
    }
    if !smtp::load(db).await?.configured() {
        return Err(DirectoryError::Invalid(
            "SMTP is not configured: set it up under Settings › E-mail or with `sesame smtp set` before inviting".into(),
        ));
    }
    let user = crate::directory::users::add_with(db, actor, username, fields, None, false).await?;
    send(db, key, base_url, actor, &user.username).await?;
    Ok(user)
}
