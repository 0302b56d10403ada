//! The front-channel logout chain (Profiles §4.4.3.3–4.4.3.4): one `LogoutRequest` to each
//! other SP in turn, its `LogoutResponse` back, then the answer to the SP that asked. The
//! chain's state waits server-side under the ID of the request that is out (as a parked
//! request does), so a response needs no cookie and is taken once.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::message::{self, Outgoing, STATUS_PARTIAL_LOGOUT, STATUS_UNKNOWN_PRINCIPAL};
use super::send::{self, SloBinding};
use super::{event, Logout};
use crate::saml::binding::{Carried, Message};
use crate::saml::flow::{self, FlowError, Idp, Target};
use crate::saml::request;
use crate::saml::response::{STATUS_REQUESTER, STATUS_SUCCESS};
use crate::saml::validate::{self, Binding};
use crate::store::saml::{self as store, Participant};
use crate::store::{apps, now_ms, sha256_hex};

/// How long the chain waits for one SP to send the browser back.
const STEP_MS: i64 = 5 * 60 * 1000;

/// The SP that asked for the logout, to be answered at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Initiator {
    pub app_id: i64,
    pub request_id: String,
    pub relay_state: Option<String>,
    /// The request named no session it may end: answered `UnknownPrincipal`.
    #[serde(default)]
    pub unknown: bool,
}

/// Where a logout stands: who, who asked, which SPs are still to be told, which did not
/// confirm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chain {
    username: String,
    initiator: Option<Initiator>,
    remaining: Vec<Participant>,
    failed: Vec<String>,
    /// The label of the SP whose answer is awaited.
    #[serde(default)]
    waiting_for: String,
}

impl Chain {
    pub fn new(username: &str, initiator: Option<Initiator>, mut others: Vec<Participant>) -> Self {
        // Taken from the end: reversed, the SPs are told in the order they were joined.
        others.reverse();
        Chain {
            username: username.to_string(),
            initiator,
            remaining: others,
            failed: Vec::new(),
            waiting_for: String::new(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> FlowError {
    FlowError::Internal(e.to_string())
}

async fn target_of(idp: &Idp, app_id: i64) -> Result<Option<Target>, FlowError> {
    let slug = apps::slug_of(&mut *idp.db.read().await?, app_id).await?;
    match slug {
        Some(s) => Ok(Some(flow::target(idp, &s).await?)),
        None => Ok(None),
    }
}

/// Records one SP's outcome in the chain and as an event.
async fn outcome(
    idp: &Idp,
    chain: &mut Chain,
    t: &Target,
    ok: bool,
    reason: &str,
) -> Result<(), FlowError> {
    if !ok {
        chain.failed.push(t.app.label.clone());
    }
    let detail = json!({ "reason": reason });
    let user = Some(chain.username.as_str()).filter(|u| !u.is_empty());
    event(idp, "slo_propagate", Some(t), user, ok, detail).await
}

/// Sends the browser to the next SP that can be reached, or finishes.
pub(super) async fn start(idp: &Idp, mut chain: Chain) -> Result<Logout, FlowError> {
    while let Some(p) = chain.remaining.pop() {
        let Some(t) = target_of(idp, p.app_id).await? else {
            continue; // the app was deleted meanwhile: no session left there
        };
        let slo = &t.row.slo;
        if slo.url.is_empty() {
            outcome(idp, &mut chain, &t, false, "no Single Logout URL").await?;
            continue;
        }
        if idp.slo_reach_check && !send::reachable(&slo.url).await {
            outcome(idp, &mut chain, &t, false, "the logout URL did not answer").await?;
            continue;
        }
        let binding = SloBinding::parse(&slo.binding).unwrap_or_default();
        let keys = idp.keys.for_app(&t.app.slug);
        let key = &keys.active;
        let out = Outgoing {
            issuer: &t.idp_entity_id,
            destination: &slo.url,
            name_id: &p.name_id,
            name_id_format: &p.name_id_format,
            session_index: &p.sp_session_index,
        };
        let enveloped = (binding == SloBinding::Post).then_some(key);
        let (id, xml) = message::logout_request(&out, Utc::now(), enveloped)
            .map_err(|e| internal(format!("signing: {e}")))?;
        chain.waiting_for = t.app.label.clone();
        let payload = serde_json::to_string(&chain).map_err(internal)?;
        store::park(
            &mut *idp.db.write().await?,
            &sha256_hex(&id),
            t.app.id,
            &payload,
            now_ms() + STEP_MS,
        )
        .await?;
        let sent = send::encode(
            binding,
            Carried::Request,
            &slo.url,
            &xml,
            None,
            key,
            &t.app.label,
        )?;
        return Ok(Logout::Send(sent));
    }
    finish(idp, chain).await
}

/// The end: answer the SP that asked (`PartialLogout` below `Success` when some SP did not
/// confirm, Core §3.2.2.2), or the sign-out page for a logout from the portal.
async fn finish(idp: &Idp, chain: Chain) -> Result<Logout, FlowError> {
    let partial = !chain.failed.is_empty();
    let user = Some(chain.username.as_str()).filter(|u| !u.is_empty());
    let Some(init) = chain.initiator else {
        // From the portal's Sign out: no SP to answer.
        let detail = json!({ "initiated": "idp", "failed": chain.failed });
        event(idp, "slo_complete", None, user, !partial, detail).await?;
        return Ok(Logout::Finished {
            failed: chain.failed,
        });
    };
    let Some(t) = target_of(idp, init.app_id).await? else {
        return Ok(Logout::Finished {
            failed: chain.failed,
        });
    };
    let status = if init.unknown {
        (STATUS_REQUESTER, Some(STATUS_UNKNOWN_PRINCIPAL))
    } else {
        (STATUS_SUCCESS, partial.then_some(STATUS_PARTIAL_LOGOUT))
    };
    let detail = json!({ "initiated": "sp", "request_id": init.request_id, "failed": chain.failed,
                         "status": status.1.unwrap_or(status.0) });
    event(
        idp,
        "slo_complete",
        Some(&t),
        user,
        !partial && !init.unknown,
        detail,
    )
    .await?;
    let slo = &t.row.slo;
    let to = if slo.response_url.is_empty() {
        &slo.url
    } else {
        &slo.response_url
    };
    if to.is_empty() {
        return Ok(Logout::Finished {
            failed: chain.failed,
        });
    }
    let binding = SloBinding::parse(&slo.binding).unwrap_or_default();
    let keys = idp.keys.for_app(&t.app.slug);
    let key = &keys.active;
    let enveloped = (binding == SloBinding::Post).then_some(key);
    let xml = message::logout_response(
        &t.idp_entity_id,
        to,
        &init.request_id,
        status,
        Utc::now(),
        enveloped,
    )
    .map_err(|e| internal(format!("signing: {e}")))?;
    let relay = init.relay_state.as_deref();
    let sent = send::encode(
        binding,
        Carried::Response,
        to,
        &xml,
        relay,
        key,
        &t.app.label,
    )?;
    Ok(Logout::Send(sent))
}

/// The checks of a LogoutResponse from the SP whose answer a chain waits for, as strict as
/// those of a request: it comes from that SP, its signature verifies (and one is required
/// when the SP has a certificate registered: a forged "logged out" must not move a chain
/// on), it is addressed to us, and it is recent.
fn check_response(
    t: &Target,
    binding: Binding,
    msg: &Message,
    doc: &roxmltree::Document,
    res: &message::LogoutResponse,
) -> Result<(), String> {
    if res.issuer != t.row.sp_entity_id {
        return Err("The LogoutResponse does not come from this application's SP.".into());
    }
    let signed = validate::check_signature(msg, binding, doc, &t.row).map_err(|r| match r {
        validate::Refusal::Page(m) => m,
        validate::Refusal::Status { message, .. } => message,
    })?;
    if !signed && (t.row.require_signed_requests || !t.row.sp_certs.is_empty()) {
        return Err(
            "The LogoutResponse is not signed with the SP's registered certificate.".into(),
        );
    }
    let ours = super::slo_url(t);
    match &res.destination {
        Some(d) if *d != ours => return Err(format!("Destination is not {ours}")),
        None if signed => return Err("a signed LogoutResponse must carry Destination".into()),
        _ => {}
    }
    let now = Utc::now();
    let issued = res.issue_instant;
    if issued < now - validate::MAX_AGE - validate::SKEW || issued > now + validate::SKEW {
        return Err("IssueInstant is outside the accepted window".into());
    }
    Ok(())
}

/// An SP's LogoutResponse to our request: checked before anything else (a response that
/// fails leaves the chain waiting for the real one), its chain taken once, its status noted,
/// and on to the next SP.
pub(super) async fn response(
    idp: &Idp,
    t: &Target,
    binding: Binding,
    msg: &Message,
) -> Result<Logout, FlowError> {
    let doc = match request::parse(&msg.xml) {
        Ok(d) => d,
        Err(e) => return super::refuse(idp, t, None, e.to_string()).await,
    };
    let res = match message::read_response(&doc) {
        Ok(r) => r,
        Err(e) => return super::refuse(idp, t, None, e.to_string()).await,
    };
    let handle = sha256_hex(&res.in_response_to);
    let parked = store::parked(&mut *idp.db.read().await?, &handle, t.app.id).await?;
    let Some(mut chain) = parked.and_then(|p| serde_json::from_str::<Chain>(&p).ok()) else {
        let reason =
            "This sign-out has already finished or has expired. You are signed out of sesame.";
        return super::refuse(idp, t, Some(&res.in_response_to), reason.into()).await;
    };
    if let Err(reason) = check_response(t, binding, msg, &doc, &res) {
        return super::refuse(idp, t, Some(&res.in_response_to), reason).await;
    }
    if !store::unpark(&mut *idp.db.write().await?, &handle).await? {
        let reason = "This sign-out step was already answered.".to_string();
        return super::refuse(idp, t, Some(&res.in_response_to), reason).await;
    }
    if res.status.0 == STATUS_SUCCESS {
        outcome(idp, &mut chain, t, true, "logged out").await?;
    } else {
        outcome(
            idp,
            &mut chain,
            t,
            false,
            "the SP answered with an error status",
        )
        .await?;
    }
    start(idp, chain).await
}
