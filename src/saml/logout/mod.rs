//! Single Logout (SAML Profiles §4.4): ending a portal session and every SP session that
//! was started from it, front-channel, one SP after another.
//!
//! - An SP's `LogoutRequest` at `/saml2/{slug}/slo` ([`from_sp`]) is checked as strictly as
//!   an AuthnRequest (signature, Issuer, Destination, time window, replay); it names the user
//!   by the NameID that SP was given and the `SessionIndex`. The portal sessions it names
//!   end at once.
//! - The portal's Sign out ([`from_portal`]) starts the same chain with no SP to answer.
//! - The chain (`chain.rs`) sends a `LogoutRequest` to every other SP of those sessions
//!   that has a Single Logout URL, waits for its `LogoutResponse` (which comes back to the
//!   same endpoint and is matched by `InResponseTo`), and at the end answers the SP that
//!   asked with `Success`, or `Success`/`PartialLogout` when an SP could not be reached or
//!   did not confirm (Core §3.7.3.2).
//!
//! Every step is an event: `slo_request`, `slo_propagate`, `slo_complete`.

mod chain;
pub mod message;
mod send;

use chrono::Utc;
use serde_json::json;

use super::binding::{BindingError, Carried, Message};
use super::flow::{FlowError, Idp, Target};
use super::request::{self, RequestError};
use super::validate::{self, Binding, Refusal};
use crate::auth::session::SESSION_INDEX;
use crate::store::events::NewEvent;
use crate::store::saml::{self as store, Participant};
use crate::store::{sessions, Small};

pub use chain::Chain;
pub use send::{Send, SloBinding};

/// What Single Logout decided; the web layer only maps each to a response.
#[derive(Debug)]
pub enum Logout {
    /// Send the browser on with this message (to the next SP, or the answer to the SP that
    /// asked).
    Send(Send),
    /// Nothing more to send: the user is signed out; these apps did not confirm.
    Finished { failed: Vec<String> },
    /// A message that was not accepted: the sentence to show (already an event).
    Refused(String),
}

/// The portal session the request came with, if any (the Redirect binding carries the
/// cookie; a cross-site POST does not).
pub struct Browser {
    pub user_id: i64,
    pub session_index: String,
}

/// The `SessionIndex` an app is given for a portal session: derived from the session's own
/// index and the app, so that it cannot correlate the user across SPs (Core §2.7.2.1) and an
/// SP that knows its own cannot name the session to another app's logout endpoint.
pub fn sp_session_index(portal_index: &str, app_id: i64) -> String {
    let digest = openssl::sha::sha256(format!("{portal_index}:{app_id}").as_bytes());
    let hex: String = digest[..20].iter().map(|b| format!("{b:02x}")).collect();
    format!("_{hex}")
}

/// The Single Logout service URL of an app: where SPs send requests and responses.
pub fn slo_url(t: &Target) -> String {
    format!("{}/slo", t.sso_url)
}

/// A message that arrived at an app's Single Logout endpoint, as its binding decoded it.
/// The bool says whether `browser`'s own session was ended.
pub async fn from_sp(
    idp: &Idp,
    t: &Target,
    binding: Binding,
    decoded: Result<(Carried, Message), BindingError>,
    browser: Option<Browser>,
) -> Result<(Logout, bool), FlowError> {
    let (carried, msg) = match decoded {
        Ok(d) => d,
        Err(e) => return Ok((refuse(idp, t, None, e.to_string()).await?, false)),
    };
    match carried {
        Carried::Request => request(idp, t, binding, &msg, browser).await,
        Carried::Response => Ok((chain::response(idp, t, binding, &msg).await?, false)),
    }
}

/// IdP-initiated logout: the portal session `session_index` of `user_id` has ended; tell
/// every SP of it.
pub async fn from_portal(
    idp: &Idp,
    username: &str,
    session_index: &str,
) -> Result<Logout, FlowError> {
    let others = {
        let mut conn = idp.db.write().await?;
        let others = store::participants_of(&mut conn, session_index).await?;
        store::leave_all(&mut conn, session_index).await?;
        others
    };
    if others.is_empty() {
        return Ok(Logout::Finished { failed: Vec::new() });
    }
    chain::start(idp, Chain::new(username, None, others)).await
}

/// An event of Single Logout, about the app (if any), by the user (or anonymous).
fn slo_event(
    name: &'static str,
    t: Option<&Target>,
    user: Option<&str>,
    ok: bool,
    detail: serde_json::Value,
) -> NewEvent {
    NewEvent {
        name,
        actor: user.map_or("anonymous".into(), |u| format!("user:{u}")),
        app_slug: t.map(|t| t.app.slug.clone()),
        username: user.map(str::to_string),
        outcome: if ok { "success" } else { "failure" },
        status: None,
        detail,
    }
}

async fn event(
    idp: &Idp,
    name: &'static str,
    t: Option<&Target>,
    user: Option<&str>,
    ok: bool,
    detail: serde_json::Value,
) -> Result<(), FlowError> {
    idp.db
        .group(Small::Event(slo_event(name, t, user, ok, detail)))
        .await?;
    Ok(())
}

async fn refuse(
    idp: &Idp,
    t: &Target,
    request_id: Option<&str>,
    reason: String,
) -> Result<Logout, FlowError> {
    tracing::info!(app = %t.app.slug, %reason, "SAML LogoutRequest refused");
    let detail = json!({ "request_id": request_id, "reason": reason });
    event(idp, "slo_request", Some(t), None, false, detail).await?;
    Ok(Logout::Refused(reason))
}

/// The checks of a LogoutRequest, in the order of `validate::check`: set-up, parse (DTD
/// and depth limits), signature, then the fields the signature covers.
fn check(
    msg: &Message,
    binding: Binding,
    t: &Target,
) -> Result<(message::LogoutRequest, bool), String> {
    if t.row.sp_entity_id.is_empty() {
        return Err("Single sign-on is not set up for this application.".into());
    }
    let doc = request::parse(&msg.xml).map_err(|e| e.to_string())?;
    let signed = match validate::check_signature(msg, binding, &doc, &t.row) {
        Ok(s) => s,
        Err(Refusal::Page(m)) => return Err(m),
        Err(Refusal::Status { message, .. }) => return Err(message),
    };
    let req = message::read_request(&doc).map_err(|e: RequestError| e.to_string())?;
    if t.row.require_signed_requests && !signed {
        return Err(
            "This application requires signed requests, and the LogoutRequest is not signed."
                .into(),
        );
    }
    if req.issuer != t.row.sp_entity_id {
        return Err(format!(
            "The LogoutRequest comes from {:?}, which is not this application's SP entity id.",
            req.issuer.chars().take(200).collect::<String>()
        ));
    }
    let ours = slo_url(t);
    match &req.destination {
        Some(d) if *d != ours => return Err(format!("Destination is not {ours}")),
        None if signed => return Err("a signed LogoutRequest must carry Destination".into()),
        _ => {}
    }
    let now = Utc::now();
    let issued = req.issue_instant;
    if issued < now - validate::MAX_AGE - validate::SKEW || issued > now + validate::SKEW {
        return Err("IssueInstant is outside the accepted window".into());
    }
    if req
        .not_on_or_after
        .is_some_and(|t| t <= now - validate::SKEW)
    {
        return Err("the LogoutRequest has expired (NotOnOrAfter)".into());
    }
    Ok((req, signed))
}

/// An SP's LogoutRequest: checked, its ID spent (SECURITY 6), the portal sessions it names
/// ended, then the chain to the other SPs.
async fn request(
    idp: &Idp,
    t: &Target,
    binding: Binding,
    msg: &Message,
    browser: Option<Browser>,
) -> Result<(Logout, bool), FlowError> {
    let (req, signed) = match check(msg, binding, t) {
        Ok(r) => r,
        Err(reason) => return Ok((refuse(idp, t, None, reason).await?, false)),
    };
    let named = {
        let mut conn = idp.db.read().await?;
        store::sessions_named(&mut conn, t.app.id, &req.name_id).await?
    };
    // Which sessions the request may end (Core §3.7.3.2). A SessionIndex names one session
    // and only this SP holds it (each SP gets its own). Without one, a signed request means
    // every session of that NameID here; an unsigned one, which anybody could send with a
    // known NameID (an e-mail address), only the session of the browser it came with.
    let own_browser = |p: &Participant| {
        browser
            .as_ref()
            .is_some_and(|b| b.session_index == p.session_index)
    };
    let matched: Vec<Participant> = named
        .into_iter()
        .filter(|p| match (signed, req.session_indexes.is_empty()) {
            (_, false) => req.session_indexes.contains(&p.sp_session_index),
            (true, true) => true,
            (false, true) => own_browser(p),
        })
        .collect();
    let username = match matched.first() {
        Some(p) => crate::store::users::by_id(&mut *idp.db.read().await?, p.user_id)
            .await?
            .map(|u| u.username),
        None => None,
    };
    let detail = json!({ "binding": binding, "request_id": req.id, "signed": signed,
                         "sessions": matched.len() });
    let first = idp
        .db
        .group(Small::FirstSight {
            app_id: t.app.id,
            request_id: req.id.clone(),
            expires_at: super::flow::replay_horizon(),
            event: slo_event("slo_request", Some(t), username.as_deref(), true, detail),
        })
        .await?;
    if !first {
        let reason = "this LogoutRequest was already used (replay)".to_string();
        return Ok((refuse(idp, t, Some(&req.id), reason).await?, false));
    }
    let others = end_sessions(idp, t, &matched).await?;
    let ended_browser = matched.iter().any(own_browser);
    let initiator = chain::Initiator {
        app_id: t.app.id,
        request_id: req.id,
        relay_state: msg.relay_state.clone(),
        // Nothing of the kind here: signed, it is already so (Success); unsigned, the sender
        // learns nothing more than that (Core §3.7.3.2 UnknownPrincipal).
        unknown: matched.is_empty() && !signed,
    };
    let who = username.unwrap_or_default();
    let logout = chain::start(idp, Chain::new(&who, Some(initiator), others)).await?;
    Ok((logout, ended_browser))
}

/// Ends the portal sessions of `matched` (and forgets their SPs), in one transaction;
/// returns the other SPs of those sessions, to be told.
async fn end_sessions(
    idp: &Idp,
    t: &Target,
    matched: &[Participant],
) -> Result<Vec<Participant>, FlowError> {
    let mut others: Vec<Participant> = Vec::new();
    if matched.is_empty() {
        return Ok(others);
    }
    let mut tx = idp.db.begin().await?;
    for p in matched {
        for o in store::participants_of(&mut tx, &p.session_index).await? {
            if o.app_id != t.app.id && !others.contains(&o) {
                others.push(o);
            }
        }
        store::leave_all(&mut tx, &p.session_index).await?;
        for (key, data, _) in sessions::of_user(&mut tx, p.user_id).await? {
            if data.get(SESSION_INDEX).and_then(|v| v.as_str()) == Some(&p.session_index) {
                sessions::end_one(&mut tx, p.user_id, &key).await?;
            }
        }
    }
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(others)
}
