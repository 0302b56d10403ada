//! The steps of the flow around a request: checking it, parking it while the user signs in,
//! recording its ID and its outcome, and the signed error statuses (Core §3.2.2.2).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};

use super::{Decision, FlowError, Idp, PostForm, Refused, Target};
use crate::auth::csrf::random_token;
use crate::saml::binding::Message;
use crate::saml::response::{self, Failure};
use crate::saml::validate::{self, Pending, Refusal};
use crate::store::events::NewEvent;
use crate::store::saml::{self as store, Participant};
use crate::store::{now_ms, sha256_hex, Small};

/// How long an SP is remembered as part of a portal session (at least).
const PARTICIPANT_KEEP: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// How long a parked request waits for the user to sign in.
const PARK_MS: i64 = 15 * 60 * 1000;

/// A parked request: its handle, or the answer when its ID was a replay.
pub(super) enum Parked {
    At(String),
    Answered(Decision),
}

/// A received request: checked and waiting for a decision, or already answered (refused
/// with a page, or with an error status to its ACS).
pub(super) enum Received {
    Checked(Pending),
    Answered(Decision),
}

/// An `sso_auth` event for the app, by the user (or anonymous).
fn sso_event(t: &Target, user: Option<&str>, ok: bool, detail: Value) -> NewEvent {
    NewEvent {
        name: "sso_auth",
        actor: user.map_or("anonymous".into(), |u| format!("user:{u}")),
        app_slug: Some(t.app.slug.clone()),
        username: user.map(str::to_string),
        outcome: if ok { "success" } else { "failure" },
        status: None,
        detail,
    }
}

/// Writes an `sso_auth` event (in the next group commit, waiting until it is durable).
pub(super) async fn record(
    idp: &Idp,
    t: &Target,
    user: Option<&str>,
    ok: bool,
    detail: Value,
) -> Result<(), FlowError> {
    idp.db
        .group(Small::Event(sso_event(t, user, ok, detail)))
        .await?;
    crate::telemetry::sso_answer(&t.app.slug, ok);
    Ok(())
}

/// Until when a request ID is remembered: past the end of the `IssueInstant` window.
pub(crate) fn replay_horizon() -> i64 {
    (Utc::now() + validate::MAX_AGE + validate::SKEW * 2).timestamp_millis()
}

/// Records a successful answer: its event, the request ID when fresh (false, and nothing
/// written, when it was used before), and the SP as a participant of the portal session
/// for as long as a session lives (Single Logout).
pub(super) async fn record_answer(
    idp: &Idp,
    t: &Target,
    user: &str,
    detail: Value,
    request_id: Option<&str>,
    participant: Participant,
) -> Result<bool, FlowError> {
    let event = sso_event(t, Some(user), true, detail);
    // Refreshed at most daily while in use (`joined`); a portal session in use for longer
    // than this without signing in to the SP again is the one case where it is forgotten.
    let keep = idp.session_lifetime.max(PARTICIPANT_KEEP);
    let lifetime = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    let first_sight = request_id.map(|id| (id.to_string(), replay_horizon()));
    let join = !idp.joined.recent(&participant, now);
    let small = match (join, first_sight) {
        (true, first_sight) => Small::Answer {
            first_sight,
            participant: participant.clone(),
            until: now.saturating_add(lifetime),
            event,
        },
        // Already recorded for this session: only the event (and the request ID).
        (false, Some((request_id, expires_at))) => Small::FirstSight {
            app_id: t.app.id,
            request_id,
            expires_at,
            event,
        },
        (false, None) => Small::Event(event),
    };
    let written = idp.db.group(small).await?;
    if written {
        if join {
            idp.joined.remember(&participant, now);
        }
        crate::telemetry::sso_answer(&t.app.slug, true);
    }
    Ok(written)
}

/// The answer to a request whose ID was already used.
pub(super) async fn replayed(idp: &Idp, t: &Target, p: &Pending) -> Result<Decision, FlowError> {
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
pub(super) async fn refuse(
    idp: &Idp,
    t: &Target,
    binding: validate::Binding,
    reason: String,
) -> Result<Decision, FlowError> {
    tracing::info!(app = %t.app.slug, %reason, "SAML request refused");
    record(
        idp,
        t,
        None,
        false,
        json!({ "initiated": "sp", "binding": binding_name(binding), "reason": reason }),
    )
    .await?;
    Ok(Decision::Refused(Refused::Request(reason)))
}

fn binding_name(b: validate::Binding) -> &'static str {
    match b {
        validate::Binding::Redirect => "redirect",
        validate::Binding::Post => "post",
    }
}

pub(super) fn encode(xml: &str) -> String {
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
) -> Result<Decision, FlowError> {
    let keys = idp.keys.for_app(&t.app.slug);
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
    .map_err(|e| FlowError::Internal(format!("signing: {e}")))?;
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
pub(super) async fn receive(
    idp: &Idp,
    t: &Target,
    binding: validate::Binding,
    msg: &Message,
) -> Result<Received, FlowError> {
    let answered = match validate::check(msg, binding, &t.row, &t.sso_url, Utc::now()) {
        Ok(p) => return Ok(Received::Checked(p)),
        Err(Refusal::Page(reason)) => refuse(idp, t, binding, reason).await?,
        Err(Refusal::Status {
            pending,
            status,
            sub_status,
            message,
        }) => error_status(idp, t, &pending, None, (status, sub_status), &message).await?,
    };
    Ok(Received::Answered(answered))
}

/// Parks a checked request under a new single-use handle (for the browser's URL).
/// Its ID is recorded as used in the same commit; a replayed one gets its status answer.
pub(super) async fn park(idp: &Idp, t: &Target, p: &Pending) -> Result<Parked, FlowError> {
    let handle = random_token(24);
    let mut parked = p.clone();
    parked.recorded = true;
    let payload = serde_json::to_string(&parked).map_err(|e| FlowError::Internal(e.to_string()))?;
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

/// The request parked under `handle` for this app; `None` when it was already answered,
/// has expired, or never was.
pub(super) async fn parked(
    idp: &Idp,
    t: &Target,
    handle: &str,
) -> Result<Option<Pending>, FlowError> {
    let mut conn = idp.db.read().await?;
    let payload = store::parked(&mut conn, &sha256_hex(handle), t.app.id).await?;
    Ok(payload.and_then(|p| serde_json::from_str(&p).ok()))
}

/// Takes the parked request out; false if another tab already did (single use).
pub(super) async fn unpark(idp: &Idp, handle: &str) -> Result<bool, FlowError> {
    let mut conn = idp.db.write().await?;
    Ok(store::unpark(&mut conn, &sha256_hex(handle)).await?)
}

/// `IsPassive` and nobody (suitably) signed in: the NoPassive status (Core §3.2.2.2).
pub(super) async fn no_passive(idp: &Idp, t: &Target, p: &Pending) -> Result<Decision, FlowError> {
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

/// The SP asked for an authentication context this user cannot give: the `NoAuthnContext`
/// status (Core §3.2.2.2), signed, to its registered ACS.
pub(super) async fn no_authn_context(
    idp: &Idp,
    t: &Target,
    p: &Pending,
    username: Option<&str>,
) -> Result<Decision, FlowError> {
    let status = (
        response::STATUS_RESPONDER,
        Some(response::STATUS_NO_AUTHN_CONTEXT),
    );
    error_status(
        idp,
        t,
        p,
        username,
        status,
        "the requested authentication context cannot be satisfied for this user",
    )
    .await
}
