//! The answer for a signed-in user: the refusals the one access rule and the app's settings
//! make (each an event), or the signed assertion (Core §2, Profiles §4.1.4.2).

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::steps::{encode, record, record_answer, replayed};
use super::{Decision, FlowError, Idp, PostForm, Refused, SignedIn, Target};
use crate::auth::csrf::random_token;
use crate::directory::{access, User};
use crate::saml::attributes;
use crate::saml::context;
use crate::saml::encrypt::Seal;
use crate::saml::response::{self, Grant};
use crate::saml::settings::{NameIdFormat, NameIdSource};
use crate::saml::validate::Pending;
use crate::store::groups;
use crate::store::saml::{self as store, Participant};

/// The NameID the app gets for a user (Core §2.2.3), or why there is none.
pub enum NameId {
    Value {
        value: String,
        format: &'static str,
    },
    /// The user has no value in the field the app identifies people by: the sentence to show.
    Missing(String),
}

pub async fn name_id(idp: &Idp, t: &Target, user: &User) -> Result<NameId, FlowError> {
    let format = NameIdFormat::parse(&t.row.nameid_format).unwrap_or(NameIdFormat::Email);
    if format == NameIdFormat::Transient {
        return Ok(NameId::Value {
            value: format!("_{}", random_token(20)),
            format: format.urn(),
        });
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
        return Ok(NameId::Missing(format!(
            "Your account has no {} value, which {} uses to identify you. Ask your administrator to fill it in.",
            t.row.nameid_source, t.app.label
        )));
    }
    Ok(NameId::Value {
        value,
        format: format.urn(),
    })
}

/// The signed-in user's answer for the app: a signed assertion if they may use it, else a
/// page saying so. `pending` is `None` for an IdP-initiated launch.
pub(super) async fn answer(
    idp: &Idp,
    t: &Target,
    who: &SignedIn,
    pending: Option<&Pending>,
) -> Result<Decision, FlowError> {
    let (user, auth_at) = (&who.user, who.auth_at);
    // Each SP gets its own SessionIndex (Core §2.7.2.1), which its LogoutRequest names.
    let sp_index = crate::saml::logout::sp_session_index(&who.session_index, t.app.id);
    let session_index = sp_index.as_str();
    let initiated = if pending.is_some() { "sp" } else { "idp" };
    let mut conn = idp.db.read().await?;
    let allowed = access::may_use(&mut conn, user.id, t.app.id).await?;
    let mapping = attributes::decode(&t.row.attributes);
    let groups = if mapping
        .iter()
        .any(|(_, s)| s.is(attributes::Source::Groups))
    {
        groups::names_of_user(&mut conn, user.id).await?
    } else {
        Vec::new()
    };
    drop(conn);
    let base = json!({ "initiated": initiated,
        "request_id": pending.map(|p| p.request_id.as_str()),
        "binding": pending.map(|p| p.binding) });
    let refuse = |reason: &str, page: Refused| {
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
        return refuse("sso switched off", Refused::Denied(msg)).await;
    }
    if !allowed {
        let msg = format!(
            "You do not have access to {}. Ask your administrator to add you to a group that uses it.",
            t.app.label
        );
        return refuse("no access", Refused::Denied(msg)).await;
    }
    let acs_url = match pending {
        // A parked request was checked against the ACS URLs of its time; one removed
        // since (up to `PARK_MS` ago) gets nothing (SECURITY 5).
        Some(p) if !t.row.acs.iter().any(|(_, u, _)| *u == p.acs_url) => {
            let msg = format!(
                "{} no longer accepts sign-ins at the address this request named. Start again from the application.",
                t.app.label
            );
            return refuse("ACS URL no longer registered", Refused::Request(msg)).await;
        }
        Some(p) => p.acs_url.clone(),
        None => match t.row.default_acs() {
            // The same rule as the portal's tiles (`SsoRow::missing`).
            Some(u) if t.row.missing().is_empty() => u.to_string(),
            _ => {
                let msg = format!(
                    "Single sign-on for {} is not set up yet. Ask your administrator to configure it.",
                    t.app.label
                );
                return refuse("not configured", Refused::NotSetUp(msg)).await;
            }
        },
    };
    let (name_id, format) = match name_id(idp, t, user).await? {
        NameId::Value { value, format } => (value, format),
        NameId::Missing(msg) => return refuse("no NameID value", Refused::Denied(msg)).await,
    };
    let attrs = attributes::statement(&mapping, user, &groups);
    let now = Utc::now();
    let class = context::class_ref(
        pending.and_then(|p| p.requested_context.as_ref()),
        who.level,
    );
    let grant = Grant {
        authn_context: &class,
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
    let keys = idp.keys.for_app(&t.app.slug);
    // Encrypted to the SP when the app says so; a stored certificate that cannot be used
    // stops the answer rather than send the assertion readable.
    let seal = Seal::for_app(&t.row)
        .map_err(|e| FlowError::Internal(format!("SP encryption certificate {e}")))?;
    let xml = response::success_sealed(&grant, &keys.active, seal.as_ref())
        .map_err(|e| FlowError::Internal(format!("signing: {e}")))?;
    let mut detail = base;
    detail["acs_url"] = json!(acs_url);
    detail["nameid_format"] = json!(t.row.nameid_format);
    detail["authn_context"] = json!(class);
    let fresh = pending.filter(|p| !p.recorded);
    let fresh_id = fresh.map(|p| p.request_id.as_str());
    let joined = Participant {
        session_index: who.session_index.clone(),
        sp_session_index: sp_index.clone(),
        app_id: t.app.id,
        user_id: user.id,
        name_id: name_id.clone(),
        name_id_format: format.to_string(),
    };
    if !record_answer(idp, t, &user.username, detail, fresh_id, joined).await? {
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
