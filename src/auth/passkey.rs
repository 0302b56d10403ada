//! Passkeys (W3C WebAuthn Level 2) through `webauthn-rs`: registration from the account page,
//! use as the second step after a password, and "Sign in with a passkey" with no password at
//! all (a discoverable credential; user verification is required, so the passkey is itself
//! two factors: the device, and the PIN or biometric that unlocks it).
//!
//! The relying party is `base_url`: its host is the RP ID and its origin the only origin
//! accepted. An IP address cannot be an RP ID (WebAuthn §5.1.3 and every browser), so with an
//! IP `base_url` passkeys are off and the pages say why. Counters and backup flags are
//! checked by webauthn-rs and stored after every use; a counter that goes back is refused as
//! a possibly cloned authenticator.

use serde_json::{json, Value};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Webauthn, WebauthnBuilder,
};

use super::mfa;
use crate::directory::{audit, Actor, DirectoryError, User};
use crate::store::{mfa as store, users, Db};

/// The relying party, or why there is none.
pub enum RelyingParty {
    On(Box<Webauthn>),
    Off(String),
}

impl RelyingParty {
    pub fn new(base_url: &url::Url) -> RelyingParty {
        let origin = match url::Url::parse(&base_url.origin().ascii_serialization()) {
            Ok(o) => o,
            Err(e) => return RelyingParty::Off(format!("base_url has no origin: {e}")),
        };
        let host = match base_url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(_) => return RelyingParty::Off(
                "passkeys need sesame to be reached by a domain name (base_url), not an IP address"
                    .into(),
            ),
            None => return RelyingParty::Off("base_url has no host".into()),
        };
        let built = WebauthnBuilder::new(&host, &origin)
            .map(|b| b.rp_name("sesame"))
            .and_then(|b| b.build());
        match built {
            Ok(w) => RelyingParty::On(Box::new(w)),
            Err(e) => RelyingParty::Off(format!("passkeys are off: {e}")),
        }
    }

    fn get(&self) -> Result<&Webauthn, DirectoryError> {
        match self {
            RelyingParty::On(w) => Ok(w),
            RelyingParty::Off(why) => Err(DirectoryError::Invalid(why.clone())),
        }
    }

    pub fn available(&self) -> bool {
        matches!(self, RelyingParty::On(_))
    }
}

fn refused(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Invalid(format!("the passkey was not accepted: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, DirectoryError> {
    serde_json::to_string(v).map_err(|e| DirectoryError::Invalid(e.to_string()))
}

async fn user_handle(db: &Db, user_id: i64) -> Result<Uuid, DirectoryError> {
    let mut conn = db.write().await?;
    let handle = store::user_handle(&mut conn, user_id, &Uuid::new_v4().to_string()).await?;
    Uuid::parse_str(&handle).map_err(|e| DirectoryError::Invalid(e.to_string()))
}

async fn stored(
    db: &Db,
    user_id: i64,
) -> Result<Vec<(store::PasskeyRow, Passkey)>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(store::passkeys(&mut conn, user_id)
        .await?
        .into_iter()
        .filter_map(|row| {
            let key = serde_json::from_str(&row.credential).ok()?;
            Some((row, key))
        })
        .collect())
}

/// A passkey as the account page and the API show it (never the key itself).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn list(db: &Db, user_id: i64) -> Result<Vec<PasskeyInfo>, DirectoryError> {
    let mut conn = db.read().await?;
    Ok(store::passkeys(&mut conn, user_id)
        .await?
        .into_iter()
        .map(|r| PasskeyInfo {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        })
        .collect())
}

/// Starts registering a passkey: the options for `navigator.credentials.create()`, and the
/// state to keep (server-side) until it comes back. The user's other passkeys are excluded,
/// and a discoverable credential is preferred so that it can sign in without a password.
pub async fn register_start(
    rp: &RelyingParty,
    db: &Db,
    user: &User,
) -> Result<(Value, PasskeyRegistration), DirectoryError> {
    let wa = rp.get()?;
    let handle = user_handle(db, user.id).await?;
    let exclude: Vec<_> = stored(db, user.id)
        .await?
        .into_iter()
        .map(|(_, k)| k.cred_id().clone())
        .collect();
    let display = format!("{} {}", user.first_name, user.last_name);
    let display = if display.trim().is_empty() {
        user.username.clone()
    } else {
        display.trim().to_string()
    };
    let (ccr, state) = wa
        .start_passkey_registration(handle, &user.username, &display, Some(exclude))
        .map_err(refused)?;
    let mut options = serde_json::to_value(&ccr).map_err(refused)?;
    // webauthn-rs asks for a non-discoverable credential; prefer a discoverable one (the
    // state does not depend on it).
    if let Some(sel) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
        sel.insert("residentKey".into(), json!("preferred"));
    }
    Ok((options, state))
}

/// Finishes a registration: the passkey is stored under `name`. The first second factor a
/// user sets up brings ten recovery codes, returned to be shown once.
pub async fn register_finish(
    rp: &RelyingParty,
    db: &Db,
    user: &User,
    name: &str,
    credential: &RegisterPublicKeyCredential,
    state: &PasskeyRegistration,
) -> Result<Option<Vec<String>>, DirectoryError> {
    let wa = rp.get()?;
    let key = wa
        .finish_passkey_registration(credential, state)
        .map_err(refused)?;
    let name = clean_name(name)?;
    let first = !mfa::factors(db, user.id).await?.any();
    let mut tx = db.begin().await?;
    let cred_id = base64url(key.cred_id().as_ref());
    store::add_passkey(&mut tx, user.id, &cred_id, &name, &to_json(&key)?).await?;
    let codes = if first {
        Some(mfa::new_recovery_codes(&mut tx, user.id).await?)
    } else {
        None
    };
    let actor = Actor::user(&user.username);
    let detail = json!({ "factor": "passkey", "name": name });
    audit(
        &mut tx,
        &actor,
        "mfa_enrol",
        None,
        Some(&user.username),
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

fn clean_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    let name = if name.is_empty() { "Passkey" } else { name };
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(
            "a passkey's name is at most 64 characters, on one line".into(),
        ));
    }
    Ok(name.to_string())
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn rename(db: &Db, user: &User, id: i64, name: &str) -> Result<(), DirectoryError> {
    let name = clean_name(name)?;
    let mut conn = db.write().await?;
    if !store::rename_passkey(&mut conn, user.id, id, &name).await? {
        return Err(DirectoryError::NotFound("no such passkey".into()));
    }
    Ok(())
}

pub async fn remove(db: &Db, user: &User, id: i64) -> Result<(), DirectoryError> {
    let mut tx = db.begin().await?;
    if !store::remove_passkey(&mut tx, user.id, id).await? {
        return Err(DirectoryError::NotFound("no such passkey".into()));
    }
    let none_left = store::passkeys(&mut tx, user.id).await?.is_empty()
        && !store::totp(&mut tx, user.id)
            .await?
            .is_some_and(|t| t.confirmed);
    if none_left {
        store::put_recovery(&mut tx, user.id, &[]).await?;
    }
    let actor = Actor::user(&user.username);
    let detail = json!({ "factor": "passkey", "id": id });
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
    Ok(())
}

/// What a passkey sign-in is for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Challenge {
    /// The second step for this user (after the password, or a step-up).
    User(PasskeyAuthentication),
    /// Any user's discoverable passkey, no password.
    Anyone(DiscoverableAuthentication),
}

/// Starts a passkey sign-in for `user` (their passkeys only), or for anyone.
pub async fn auth_start(
    rp: &RelyingParty,
    db: &Db,
    user: Option<&User>,
) -> Result<(RequestChallengeResponse, Challenge), DirectoryError> {
    let wa = rp.get()?;
    match user {
        Some(u) => {
            let keys: Vec<Passkey> = stored(db, u.id)
                .await?
                .into_iter()
                .map(|(_, k)| k)
                .collect();
            if keys.is_empty() {
                return Err(DirectoryError::Invalid("you have no passkey".into()));
            }
            let (rcr, state) = wa.start_passkey_authentication(&keys).map_err(refused)?;
            Ok((rcr, Challenge::User(state)))
        }
        None => {
            let (mut rcr, state) = wa.start_discoverable_authentication().map_err(refused)?;
            // A button, not the autofill ("conditional") prompt.
            rcr.mediation = None;
            Ok((rcr, Challenge::Anyone(state)))
        }
    }
}

/// Checks a passkey assertion: the user it proves (for the user it was asked of, or the
/// passkey's owner), with its counter and flags stored. `None` when it does not verify
/// (an event either way).
pub async fn auth_finish(
    rp: &RelyingParty,
    db: &Db,
    credential: &PublicKeyCredential,
    challenge: Challenge,
) -> Result<Option<User>, DirectoryError> {
    let wa = rp.get()?;
    let cred_id = base64url(credential.get_credential_id());
    let row = {
        let mut conn = db.read().await?;
        store::passkey_by_cred(&mut conn, &cred_id).await?
    };
    let Some(row) = row else {
        // A passkey sesame does not know (removed, or another site's): nobody to blame.
        let mut conn = db.write().await?;
        let event = crate::store::events::NewEvent {
            name: "mfa_failure",
            actor: "anonymous".into(),
            outcome: "failure",
            detail: json!({ "factor": "passkey", "reason": "unknown passkey" }),
            ..Default::default()
        };
        crate::store::events::insert(&mut conn, &event).await?;
        return Ok(None);
    };
    let owner = {
        let mut conn = db.read().await?;
        users::by_id(&mut conn, row.user_id).await?
    };
    let Some(owner) = owner.filter(|u| u.active) else {
        return Ok(None);
    };
    let Ok(mut key) = serde_json::from_str::<Passkey>(&row.credential) else {
        return Ok(None);
    };
    let result = match challenge {
        Challenge::User(state) => wa.finish_passkey_authentication(credential, &state),
        Challenge::Anyone(state) => {
            // The user handle the authenticator returned must be the owner's.
            let handle = wa.identify_discoverable_authentication(credential).ok();
            let mut conn = db.read().await?;
            let by_handle = match handle {
                Some((uuid, _)) => store::user_of_handle(&mut conn, &uuid.to_string()).await?,
                None => None,
            };
            if by_handle != Some(owner.id) {
                return fail(db, &owner, "user handle does not match").await;
            }
            let keys = [DiscoverableKey::from(&key)];
            wa.finish_discoverable_authentication(credential, state, &keys)
        }
    };
    match result {
        Ok(res) => {
            key.update_credential(&res);
            let mut conn = db.write().await?;
            store::used_passkey(&mut conn, row.id, &to_json(&key)?).await?;
            drop(conn);
            let detail = json!({ "factor": "passkey", "name": row.name,
                                 "backup_state": res.backup_state() });
            mfa::record(db, &owner, "mfa_success", detail).await?;
            Ok(Some(owner))
        }
        Err(e) => fail(db, &owner, &e.to_string()).await,
    }
}

async fn fail(db: &Db, user: &User, why: &str) -> Result<Option<User>, DirectoryError> {
    let detail: Value = json!({ "factor": "passkey", "reason": why });
    mfa::record(db, user, "mfa_failure", detail).await?;
    Ok(None)
}
