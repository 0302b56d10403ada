//! The single sign-on flow (SAML Profiles §4.1, Web Browser SSO): receive and check a request,
//! park it while the user signs in, decide, and build the signed answer. Every outcome,
//! success or refusal, is an `sso_auth` event. The web handlers only move HTTP in and out.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::attributes;
use super::binding::Message;
use super::cache::AppCache;
use super::keys::LiveKeys;
use super::response::{self, Failure, Grant};
use super::settings::{self, NameIdFormat, NameIdSource};
use super::validate::{self, Pending, Refusal};
use crate::auth::csrf::random_token;
use crate::directory::{access, App, User};
use crate::error::AppError;
use crate::store::events::NewEvent;
use crate::store::sso::SsoRow;
use crate::store::{groups, now_ms, saml as store, sha256_hex, Db, Small};

/// How long a parked request waits for the user to sign in.
const PARK_MS: i64 = 15 * 60 * 1000;

/// What the SSO flow works with: the store, the live signing keys, our base URL and the
/// app settings kept in memory. The web layer holds one and hands it in.
#[derive(Clone)]
pub struct Idp {
    pub db: Db,
    pub keys: Arc<LiveKeys>,
    pub base_url: url::Url,
    pub apps: Arc<AppCache>,
}

impl Idp {
    pub fn new(db: Db, keys: Arc<LiveKeys>, base_url: url::Url) -> Self {
        Idp {
            db,
            keys,
            base_url,
            apps: Arc::default(),
        }
    }
}

/// An app with its SAML settings and our URLs for it.
pub struct Target {
    /// Shared with the settings cache: the SSO path copies no settings per request.
    pub app: Arc<App>,
    pub row: Arc<SsoRow>,
    pub sso_url: String,
    pub idp_entity_id: String,
}

/// The app at `slug`, from memory unless it changed. A database that does not answer is
/// "busy" (503), not "no such app".
pub async fn target(idp: &Idp, slug: &str) -> Result<Target, AppError> {
    let cached = idp.apps.get(&idp.db, slug).await.map_err(|e| match e {
        crate::directory::DirectoryError::Store(s) => AppError::from(s),
        _ => AppError::NotFound("There is no application at this address.".into()),
    })?;
    let (app, row) = cached;
    let base = &idp.base_url;
    Ok(Target {
        sso_url: settings::sso_url(base, &app.slug),
        idp_entity_id: settings::idp_entity_id(base, &app.slug, &row),
        app,
        row,
    })
}

/// The auto-submitting form that carries a Response to the ACS (Bindings §3.5.4).
#[derive(Debug, Clone)]
pub struct PostForm {
    pub acs_url: String,
    /// base64 of exactly the signed bytes.
    pub saml_response: String,
    pub relay_state: Option<String>,
}

/// What the SSO flow decided for a request; the web layer only maps each to a response.
pub enum Decision {
    /// Post this signed Response (success or an error status) to the SP's ACS.
    Post(PostForm),
    /// A page instead of a Response: refused before the ACS is trusted, or the user may not
    /// use the app (the reason is already an event).
    Refused(AppError),
    /// Nobody suitable is signed in: sign in (again, with `reauth`, for `ForceAuthn`),
    /// then come back to `resume`, where the parked request waits.
    SignIn { resume: String, reauth: bool },
    /// The signed-in user must choose a new password before any assertion.
    ChangePassword,
}

/// Who is signed in, as SSO needs it: the user, when they authenticated (unix ms) and the
/// session's `SessionIndex` (SECURITY 9).
pub struct SignedIn {
    pub user: User,
    pub auth_at: i64,
    pub session_index: String,
}

/// A parked request: where the browser resumes it, or the answer when its ID was a replay.
pub enum Parked {
    At(String),
    Answered(Decision),
}

/// Where a parked request resumes (same origin, so the session cookie comes along).
pub fn resume_url(t: &Target, handle: &str) -> String {
    format!("/saml2/{}/continue?h={handle}", t.app.slug)
}

/// Authentication (Profiles §4.1.4.1) for a checked request: reuse the session unless
/// `ForceAuthn` asks for a sign-in newer than the request, never show a page for
/// `IsPassive`, otherwise park the request (if it is not parked yet, under `handle`) and
/// send the browser to sign in.
pub async fn decide(
    idp: &Idp,
    t: &Target,
    who: Option<SignedIn>,
    pending: Pending,
    handle: Option<String>,
) -> Result<Decision, AppError> {
    let must_change = who.as_ref().is_some_and(|w| w.user.must_change_password);
    if must_change && !pending.is_passive {
        return Ok(Decision::ChangePassword);
    }
    let signed_in = who.is_some();
    if let Some(w) = who.filter(|w| !w.user.must_change_password) {
        if !pending.force_authn || w.auth_at >= pending.received_at {
            if let Some(h) = &handle {
                if !unpark(idp, h).await? {
                    return Err(AppError::SamlRequest(
                        "This sign-in request was already answered.".into(),
                    ));
                }
            }
            let at = (w.auth_at, w.session_index.as_str());
            return answer(idp, t, &w.user, at, Some(&pending)).await;
        }
    }
    if pending.is_passive {
        if let Some(h) = &handle {
            unpark(idp, h).await?;
        }
        return no_passive(idp, t, &pending).await;
    }
    let handle = match handle {
        Some(h) => h,
        None => match park(idp, t, &pending).await? {
            Parked::At(h) => h,
            Parked::Answered(d) => return Ok(d),
        },
    };
    Ok(Decision::SignIn {
        resume: resume_url(t, &handle),
        reauth: signed_in,
    })
}

async fn record(
    idp: &Idp,
    t: &Target,
    user: Option<&str>,
    ok: bool,
    detail: Value,
) -> Result<(), AppError> {
    record_once(idp, t, user, ok, detail, None)
        .await
        .map(|_| ())
}

/// Until when a request ID is remembered: past the end of the `IssueInstant` window.
fn replay_horizon() -> i64 {
    (Utc::now() + validate::MAX_AGE + validate::SKEW * 2).timestamp_millis()
}

/// Writes the event, and with `request_id` first records that ID as used (SECURITY 6),
/// both in the next group commit, waiting until they are durable. False (and nothing
/// written) when the ID was used before: a unique insert, so it holds across replicas.
async fn record_once(
    idp: &Idp,
    t: &Target,
    user: Option<&str>,
    ok: bool,
    detail: Value,
    request_id: Option<&str>,
) -> Result<bool, AppError> {
    let event = NewEvent {
        name: "sso_auth",
        actor: user.map_or("anonymous".into(), |u| format!("user:{u}")),
        app_slug: Some(t.app.slug.clone()),
        username: user.map(str::to_string),
        outcome: if ok { "success" } else { "failure" },
        status: None,
        detail,
    };
    let small = match request_id {
        Some(id) => Small::FirstSight {
            app_id: t.app.id,
            request_id: id.to_string(),
            expires_at: replay_horizon(),
            event,
        },
        None => Small::Event(event),
    };
    Ok(idp.db.group(small).await?)
}

/// The answer to a request whose ID was already used.
async fn replayed(idp: &Idp, t: &Target, p: &Pending) -> Result<Decision, AppError> {
    let denied = (
        response::STATUS_REQUESTER,
        Some(response::STATUS_REQUEST_DENIED),
    );
    error_status(
        idp,
        t,
        p,
        None,
        denied,
        "this request ID was already used (replay)",
    )
    .await
}

/// A refusal before the ACS is trusted: an event and a page.
pub async fn refuse_page(
    idp: &Idp,
    t: &Target,
    binding: &str,
    reason: String,
) -> Result<AppError, AppError> {
    tracing::info!(app = %t.app.slug, %reason, "SAML request refused");
    record(
        idp,
        t,
        None,
        false,
        json!({ "initiated": "sp", "binding": binding, "reason": reason }),
    )
    .await?;
    Ok(AppError::SamlRequest(reason))
}

fn encode(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

/// An error status to a registered ACS, signed, with the request's RelayState.
async fn error_status(
    idp: &Idp,
    t: &Target,
    p: &Pending,
    user: Option<&str>,
    (status, sub_status): (&str, Option<&str>),
    message: &str,
) -> Result<Decision, AppError> {
    let keys = idp.keys.get();
    let xml = response::failure(
        &Failure {
            idp_entity_id: &t.idp_entity_id,
            acs_url: &p.acs_url,
            in_response_to: Some(&p.request_id),
            status,
            sub_status,
            message,
        },
        Utc::now(),
        &keys.active,
    )
    .map_err(|e| AppError::Internal(format!("signing: {e}")))?;
    record(
        idp,
        t,
        user,
        false,
        json!({ "initiated": "sp", "binding": p.binding, "request_id": p.request_id,
                "acs_url": p.acs_url, "status": sub_status.unwrap_or(status), "reason": message }),
    )
    .await?;
    Ok(Decision::Post(PostForm {
        acs_url: p.acs_url.clone(),
        saml_response: encode(&xml),
        relay_state: p.relay_state.clone(),
    }))
}

/// Checks a decoded request. Its ID is recorded as used when it is parked or answered.
pub async fn receive(
    idp: &Idp,
    t: &Target,
    binding: validate::Binding,
    msg: &Message,
) -> Result<Pending, Decision> {
    let now = Utc::now();
    let failed = |e: AppError| Decision::Refused(e);
    let binding_name = match binding {
        validate::Binding::Redirect => "redirect",
        validate::Binding::Post => "post",
    };
    let pending = match validate::check(msg, binding, &t.row, &t.sso_url, now) {
        Ok(p) => p,
        Err(Refusal::Page(reason)) => {
            return Err(match refuse_page(idp, t, binding_name, reason).await {
                Ok(e) | Err(e) => failed(e),
            })
        }
        Err(Refusal::Status {
            pending,
            status,
            sub_status,
            message,
        }) => {
            return Err(
                match error_status(idp, t, &pending, None, (status, sub_status), &message).await {
                    Ok(a) => a,
                    Err(e) => failed(e),
                },
            )
        }
    };
    Ok(pending)
}

/// Parks a checked request under a new single-use handle (for the browser's URL).
/// Its ID is recorded as used in the same commit; a replayed one gets its status answer.
pub async fn park(idp: &Idp, t: &Target, p: &Pending) -> Result<Parked, AppError> {
    let handle = random_token(24);
    let mut parked = p.clone();
    parked.recorded = true;
    let payload = serde_json::to_string(&parked).map_err(|e| AppError::Internal(e.to_string()))?;
    let first_sight = (!p.recorded).then(|| (p.request_id.clone(), replay_horizon()));
    let fresh = idp
        .db
        .group(Small::Park {
            app_id: t.app.id,
            first_sight,
            handle_hash: sha256_hex(&handle),
            payload,
            expires_at: now_ms() + PARK_MS,
        })
        .await?;
    if !fresh {
        return Ok(Parked::Answered(replayed(idp, t, p).await?));
    }
    Ok(Parked::At(handle))
}

pub async fn parked(idp: &Idp, t: &Target, handle: &str) -> Result<Pending, AppError> {
    let mut conn = idp.db.read().await?;
    let gone = || {
        AppError::SamlRequest("This sign-in request was already answered or has expired.".into())
    };
    let payload = store::parked(&mut conn, &sha256_hex(handle), t.app.id)
        .await?
        .ok_or_else(gone)?;
    serde_json::from_str(&payload).map_err(|_| gone())
}

/// Takes the parked request out; false if another tab already did (single use).
pub async fn unpark(idp: &Idp, handle: &str) -> Result<bool, AppError> {
    let mut conn = idp.db.write().await?;
    Ok(store::unpark(&mut conn, &sha256_hex(handle)).await?)
}

/// `IsPassive` and nobody (suitably) signed in: the NoPassive status (Core §3.2.2.2).
pub async fn no_passive(idp: &Idp, t: &Target, p: &Pending) -> Result<Decision, AppError> {
    let status = (
        response::STATUS_RESPONDER,
        Some(response::STATUS_NO_PASSIVE),
    );
    error_status(
        idp,
        t,
        p,
        None,
        status,
        "the user is not signed in and the request is passive",
    )
    .await
}

pub(crate) async fn name_id(
    idp: &Idp,
    t: &Target,
    user: &User,
) -> Result<Result<(String, &'static str), String>, AppError> {
    let format = NameIdFormat::parse(&t.row.nameid_format).unwrap_or(NameIdFormat::Email);
    if format == NameIdFormat::Transient {
        return Ok(Ok((format!("_{}", random_token(20)), format.urn())));
    }
    let source = NameIdSource::parse(&t.row.nameid_source).unwrap_or(NameIdSource::Email);
    let value = match source {
        NameIdSource::Email => user.email.clone(),
        NameIdSource::Username => user.username.clone(),
        NameIdSource::EmployeeId => user.employee_id.clone(),
        NameIdSource::PersistentId => {
            // Read first: only a user's first sign-on to the app writes.
            let known =
                store::known_persistent_id(&mut *idp.db.read().await?, t.app.id, user.id).await?;
            match known {
                Some(v) => v,
                None => {
                    let mut conn = idp.db.write().await?;
                    store::persistent_id(&mut conn, t.app.id, user.id, &random_token(24)).await?
                }
            }
        }
    };
    if value.is_empty() {
        return Ok(Err(format!(
            "Your account has no {} value, which {} uses to identify you. Ask your administrator to fill it in.",
            t.row.nameid_source, t.app.label
        )));
    }
    Ok(Ok((value, format.urn())))
}

/// The signed-in user's answer for the app: a signed assertion if they may use it, else a
/// page saying so. `pending` is `None` for an IdP-initiated launch.
pub async fn answer(
    idp: &Idp,
    t: &Target,
    user: &User,
    (auth_at, session_index): (i64, &str),
    pending: Option<&Pending>,
) -> Result<Decision, AppError> {
    let initiated = if pending.is_some() { "sp" } else { "idp" };
    let mut conn = idp.db.read().await?;
    let allowed = access::may_use(&mut conn, user.id, t.app.id).await?;
    let mapping = attributes::decode(&t.row.attributes);
    let groups = if mapping
        .iter()
        .any(|(_, s)| *s == attributes::Source::Groups)
    {
        groups::names_of_user(&mut conn, user.id).await?
    } else {
        Vec::new()
    };
    drop(conn);
    let base = json!({ "initiated": initiated,
        "request_id": pending.map(|p| p.request_id.as_str()),
        "binding": pending.map(|p| p.binding) });
    let refuse = |reason: &str, page: AppError| {
        let mut detail = base.clone();
        detail["reason"] = json!(reason);
        async move {
            record(idp, t, Some(&user.username), false, detail).await?;
            Ok(Decision::Refused(page))
        }
    };
    if !t.app.sso_enabled {
        let msg = format!(
            "Single sign-on to {} is switched off. Ask your administrator.",
            t.app.label
        );
        return refuse("sso switched off", AppError::Forbidden(msg)).await;
    }
    if !allowed {
        let msg = format!(
            "You do not have access to {}. Ask your administrator to add you to a group that uses it.",
            t.app.label
        );
        return refuse("no access", AppError::Forbidden(msg)).await;
    }
    let acs_url = match pending {
        // A parked request was checked against the ACS URLs of its time; one removed
        // since (up to `PARK_MS` ago) gets nothing (SECURITY 5).
        Some(p) if !t.row.acs.iter().any(|(_, u, _)| *u == p.acs_url) => {
            let msg = format!(
                "{} no longer accepts sign-ins at the address this request named. Start again from the application.",
                t.app.label
            );
            return refuse("ACS URL no longer registered", AppError::SamlRequest(msg)).await;
        }
        Some(p) => p.acs_url.clone(),
        None => match t.row.default_acs() {
            Some(u) if !t.row.sp_entity_id.is_empty() => u.to_string(),
            _ => {
                let msg = format!(
                    "Single sign-on for {} is not set up yet. Ask your administrator to configure it.",
                    t.app.label
                );
                return refuse("not configured", AppError::NotFound(msg)).await;
            }
        },
    };
    let (name_id, format) = match name_id(idp, t, user).await? {
        Ok(v) => v,
        Err(msg) => return refuse("no NameID value", AppError::Forbidden(msg)).await,
    };
    let attrs = attributes::statement(&mapping, user, &groups);
    let now = Utc::now();
    let grant = Grant {
        idp_entity_id: &t.idp_entity_id,
        sp_entity_id: &t.row.sp_entity_id,
        acs_url: &acs_url,
        in_response_to: pending.map(|p| p.request_id.as_str()),
        name_id: &name_id,
        name_id_format: format,
        session_index,
        authn_instant: Utc.timestamp_millis_opt(auth_at).single().unwrap_or(now),
        attributes: &attrs,
        sign_response: t.row.sign_response,
        now,
    };
    let keys = idp.keys.get();
    let xml = response::success(&grant, &keys.active)
        .map_err(|e| AppError::Internal(format!("signing: {e}")))?;
    let mut detail = base;
    detail["acs_url"] = json!(acs_url);
    detail["nameid_format"] = json!(t.row.nameid_format);
    let fresh = pending.filter(|p| !p.recorded);
    let fresh_id = fresh.map(|p| p.request_id.as_str());
    if !record_once(idp, t, Some(&user.username), true, detail, fresh_id).await? {
        // Only a fresh request ID can have been seen before.
        if let Some(p) = fresh {
            return replayed(idp, t, p).await;
        }
    }
    let relay_state = match pending {
        Some(p) => p.relay_state.clone(),
        None => Some(t.row.relay_state.clone()).filter(|r| !r.is_empty()),
    };
    Ok(Decision::Post(PostForm {
        acs_url,
        saml_response: encode(&xml),
        relay_state,
    }))
}
