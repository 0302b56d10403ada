//! The single sign-on flow (SAML Profiles §4.1, Web Browser SSO): receive and check a request,
//! park it while the user signs in, decide, and build the signed answer. Every outcome,
//! success or refusal, is an `sso_auth` event.
//!
//! The three ways in — an SP's request ([`sp_request`]), the return of a parked one
//! ([`resume`]) and a portal tile ([`launch`]) — each end in one [`Decision`], which the web
//! layer only maps to HTTP. A step added to sign-in (a second factor, say) is a variant here
//! and the code that handles it.
//!
//! - `steps.rs`: checking, parking and recording requests; the error statuses.
//! - `answer.rs`: the signed assertion for a user, and the refusals before it.

mod answer;
mod joined;
mod steps;

use std::sync::Arc;

use super::binding::{BindingError, Message};
use super::cache::AppCache;
use super::context::{Level, Need};
use super::keys::LiveKeys;
use super::settings;
use super::validate::{self, Pending};
use crate::directory::{App, DirectoryError, User};
use crate::store::sso::SsoRow;
use crate::store::{Db, StoreError};

use crate::auth::mfa;
pub use answer::{name_id, NameId};
pub(crate) use steps::replay_horizon;
use steps::{no_authn_context, no_passive, park, parked, receive, refuse, unpark};

/// What the SSO flow works with: the store, the live signing keys, our base URL and the
/// app settings kept in memory. The web layer holds one and hands it in.
#[derive(Clone)]
pub struct Idp {
    pub db: Db,
    pub keys: Arc<LiveKeys>,
    pub base_url: url::Url,
    pub apps: Arc<AppCache>,
    /// How long a portal session lives: its SPs are remembered as long (Single Logout).
    pub session_lifetime: std::time::Duration,
    /// The SPs recently recorded per portal session (written again at most once a day).
    pub joined: Arc<joined::Joined>,
    /// Whether Single Logout checks that an SP's logout URL answers before sending the
    /// browser there (config `slo_reach_check`).
    pub slo_reach_check: bool,
}

impl Idp {
    pub fn new(
        db: Db,
        keys: Arc<LiveKeys>,
        base_url: url::Url,
        session_lifetime: std::time::Duration,
    ) -> Self {
        Idp {
            db,
            keys,
            base_url,
            apps: Arc::default(),
            session_lifetime,
            joined: Arc::default(),
            slo_reach_check: true,
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

/// Why the flow could not decide at all. Refusals are not errors: they are
/// [`Decision::Refused`].
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No app (or user, for the preview) by that name.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database did not answer in time: the client is asked to retry.
    #[error("busy: {0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        if e.is_busy() {
            FlowError::Busy(e.to_string())
        } else {
            FlowError::Internal(e.to_string())
        }
    }
}

impl From<DirectoryError> for FlowError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Store(s) => s.into(),
            DirectoryError::NotFound(m) => FlowError::NotFound(m),
            other => FlowError::Internal(other.to_string()),
        }
    }
}

/// The app at `slug`, from memory unless it changed. A database that does not answer is
/// "busy", not "no such app".
pub async fn target(idp: &Idp, slug: &str) -> Result<Target, FlowError> {
    let (app, row) = idp.apps.get(&idp.db, slug).await.map_err(|e| match e {
        DirectoryError::Store(s) => FlowError::from(s),
        _ => FlowError::NotFound("There is no application at this address.".into()),
    })?;
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

/// What the SSO flow decided; the web layer only maps each to a response.
pub enum Decision {
    /// Post this signed Response (success or an error status) to the SP's ACS.
    Post(PostForm),
    /// A page instead of a Response (the reason is already an event).
    Refused(Refused),
    /// Go on at this same-origin URL, where the parked request waits (the POST binding:
    /// its cross-site POST carries no Lax session cookie, the GET that follows does).
    Continue(String),
    /// Nobody suitable is signed in: sign in (again, with `reauth`, for `ForceAuthn`),
    /// then come back to `resume`, where the parked request waits.
    SignIn { resume: String, reauth: bool },
    /// The signed-in user must choose a new password before any assertion, then come back
    /// to `resume`, where the request waits.
    ChangePassword { resume: String },
    /// The app, the MFA policy or the SP asks for a second factor this session has not
    /// proven: prove it (the user has one), then come back to `resume`.
    SecondFactor { resume: String },
    /// A second factor is required and the user has none yet: set one up, then come back.
    EnrolMfa { resume: String },
}

/// Why a page is shown instead of a Response, with the sentence the person reads.
#[derive(Debug)]
pub enum Refused {
    /// The request was refused before its ACS URL was trusted (SECURITY 5), or it was
    /// already answered or has expired.
    Request(String),
    /// The user may not use the app: SSO switched off, no access, no NameID value.
    Denied(String),
    /// The app cannot sign anyone in yet (no SP entity ID or ACS URL).
    NotSetUp(String),
}

/// Who is signed in, as SSO needs it: the user, when they authenticated (unix ms) and the
/// session's `SessionIndex` (SECURITY 9).
pub struct SignedIn {
    pub user: User,
    /// When the last factor was proven (`AuthnInstant`).
    pub auth_at: i64,
    /// When the first factor was proven: `ForceAuthn` asks for it to be newer than the
    /// request (a step-up with a second factor alone is not a fresh sign-in).
    pub first_at: i64,
    pub level: Level,
    pub session_index: String,
}

/// Where a parked request resumes (same origin, so the session cookie comes along).
fn resume_url(t: &Target, handle: &str) -> String {
    format!("/saml2/{}/continue?h={handle}", t.app.slug)
}

/// An SP's AuthnRequest as its binding decoded it (Bindings §3.4 Redirect, §3.5 POST).
/// `who` is the signed-in user for the Redirect binding; the POST binding's cross-site
/// request carries no session, so it is parked and continued with [`Decision::Continue`].
pub async fn sp_request(
    idp: &Idp,
    t: &Target,
    binding: validate::Binding,
    decoded: Result<Message, BindingError>,
    who: Option<SignedIn>,
) -> Result<Decision, FlowError> {
    let msg = match decoded {
        Ok(m) => m,
        Err(e) => return refuse(idp, t, binding, e.to_string()).await,
    };
    let pending = match receive(idp, t, binding, &msg).await? {
        steps::Received::Checked(p) => p,
        steps::Received::Answered(d) => return Ok(d),
    };
    match binding {
        validate::Binding::Redirect => decide(idp, t, who, pending, None).await,
        validate::Binding::Post => Ok(match park(idp, t, &pending).await? {
            steps::Parked::At(handle) => Decision::Continue(resume_url(t, &handle)),
            steps::Parked::Answered(d) => d,
        }),
    }
}

/// A parked request, back under its single-use `handle` (after the POST binding's 303, or
/// after signing in).
pub async fn resume(
    idp: &Idp,
    t: &Target,
    who: Option<SignedIn>,
    handle: &str,
) -> Result<Decision, FlowError> {
    match parked(idp, t, handle).await? {
        Some(pending) => decide(idp, t, who, pending, Some(handle.to_string())).await,
        None => Ok(Decision::Refused(Refused::Request(
            "This sign-in request was already answered or has expired.".into(),
        ))),
    }
}

/// IdP-initiated SSO from a portal tile, with the app's configured RelayState only.
pub async fn launch(idp: &Idp, t: &Target, who: &SignedIn) -> Result<Decision, FlowError> {
    let resume = format!("/saml2/{}/launch", t.app.slug);
    Ok(match step(idp, t, who, None).await? {
        Step::Ready => return answer::answer(idp, t, who, None).await,
        Step::Prove => Decision::SecondFactor { resume },
        Step::Enrol => Decision::EnrolMfa { resume },
        Step::Cannot => Decision::Refused(Refused::Denied(format!(
            "{} asks for a second factor. Set one up on your account page.",
            t.app.label
        ))),
    })
}

/// What stands between a signed-in user and an answer.
enum Step {
    /// Nothing: the session is strong enough.
    Ready,
    /// A second factor the user has.
    Prove,
    /// A second factor is required and the user has none: set one up.
    Enrol,
    /// The SP asked for what this user cannot give.
    Cannot,
}

/// The step before an answer (Core §3.3.2.2.1 for the SP's part): the app's own "require
/// MFA", the MFA policy for this user, and the request's `RequestedAuthnContext`.
async fn step(
    idp: &Idp,
    t: &Target,
    who: &SignedIn,
    pending: Option<&Pending>,
) -> Result<Step, FlowError> {
    let requested = pending
        .and_then(|p| p.requested_context.as_ref())
        .map_or(Need::Any, |r| r.need());
    let required = t.row.require_mfa || mfa::policy(&idp.db).await?.requires(&who.user);
    let need = match requested {
        Need::Impossible => return Ok(Step::Cannot),
        _ if required => Need::MultiFactor,
        n => n,
    };
    if need == Need::Any || who.level >= Level::MultiFactor {
        return Ok(Step::Ready);
    }
    Ok(if mfa::factors(&idp.db, who.user.id).await?.any() {
        Step::Prove
    } else if required {
        Step::Enrol
    } else {
        Step::Cannot
    })
}

/// Authentication (Profiles §4.1.4.1) for a checked request: reuse the session unless
/// `ForceAuthn` asks for a sign-in newer than the request, never show a page for
/// `IsPassive`, otherwise park the request (if it is not parked yet, under `handle`) and
/// send the browser to sign in.
async fn decide(
    idp: &Idp,
    t: &Target,
    who: Option<SignedIn>,
    pending: Pending,
    handle: Option<String>,
) -> Result<Decision, FlowError> {
    let must_change = who.as_ref().is_some_and(|w| w.user.must_change_password);
    if must_change && !pending.is_passive {
        let handle = match handle {
            Some(h) => h,
            None => match park(idp, t, &pending).await? {
                steps::Parked::At(h) => h,
                steps::Parked::Answered(d) => return Ok(d),
            },
        };
        return Ok(Decision::ChangePassword {
            resume: resume_url(t, &handle),
        });
    }
    let signed_in = who.is_some();
    if let Some(w) = who.filter(|w| !w.user.must_change_password) {
        if !pending.force_authn || w.first_at >= pending.received_at {
            return answer_or_step_up(idp, t, &w, pending, handle).await;
        }
    }
    if pending.is_passive {
        if let Some(h) = &handle {
            unpark(idp, h).await?;
        }
        return no_passive(idp, t, &pending).await;
    }
    // Asked for what nobody here can give: say so now rather than after a sign-in.
    let impossible = pending.requested_context.as_ref().map(|r| r.need());
    if impossible == Some(Need::Impossible) {
        if let Some(h) = &handle {
            unpark(idp, h).await?;
        }
        return no_authn_context(idp, t, &pending, None).await;
    }
    let handle = match handle {
        Some(h) => h,
        None => match park(idp, t, &pending).await? {
            steps::Parked::At(h) => h,
            steps::Parked::Answered(d) => return Ok(d),
        },
    };
    Ok(Decision::SignIn {
        resume: resume_url(t, &handle),
        reauth: signed_in,
    })
}

/// A signed-in user and a checked request: the answer, or first the second factor the app,
/// the policy or the SP asks for (the request stays parked), or `NoAuthnContext` when the
/// user cannot give what the SP asked for (Core §3.2.2.2).
async fn answer_or_step_up(
    idp: &Idp,
    t: &Target,
    w: &SignedIn,
    pending: Pending,
    handle: Option<String>,
) -> Result<Decision, FlowError> {
    let step = step(idp, t, w, Some(&pending)).await?;
    if let (Step::Prove | Step::Enrol, false) = (&step, pending.is_passive) {
        let h = match handle {
            Some(h) => h,
            None => match park(idp, t, &pending).await? {
                steps::Parked::At(h) => h,
                steps::Parked::Answered(d) => return Ok(d),
            },
        };
        let resume = resume_url(t, &h);
        return Ok(match step {
            Step::Enrol => Decision::EnrolMfa { resume },
            _ => Decision::SecondFactor { resume },
        });
    }
    if let Some(h) = &handle {
        if !unpark(idp, h).await? {
            return Ok(Decision::Refused(Refused::Request(
                "This sign-in request was already answered.".into(),
            )));
        }
    }
    match step {
        Step::Ready => answer::answer(idp, t, w, Some(&pending)).await,
        Step::Cannot => no_authn_context(idp, t, &pending, Some(&w.user.username)).await,
        // IsPassive: no page may be shown (Core §3.4.1).
        Step::Prove | Step::Enrol => no_passive(idp, t, &pending).await,
    }
}
