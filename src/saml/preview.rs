//! The assertion preview of the admin console and API: what an SP would receive for a
//! chosen user right now (an IdP-initiated Response, built and signed as in a real sign-on,
//! but not sent or recorded), with each check the IdP and the SP make explained.

use chrono::Utc;
use serde::Serialize;

use super::attributes;
use super::encrypt::{Encryption, SpEncryptionCert};
use super::flow::{self, FlowError, Idp, NameId, Target};
use super::response::{self, Grant};
use crate::directory::{access, users};
use crate::store::groups;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub label: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub username: String,
    pub name_id: Option<String>,
    pub name_id_format: String,
    pub acs_url: Option<String>,
    pub attributes: Vec<(String, Vec<String>)>,
    pub checks: Vec<Check>,
    /// The signed Response, decoded (what the SP gets base64-encoded in `SAMLResponse`),
    /// with the assertion readable even when the SP gets it encrypted.
    pub xml: Option<String>,
    /// How the SP gets the assertion encrypted, for the note beside `xml` in the console (the
    /// API says it in the Encryption check).
    #[serde(skip)]
    pub encrypted: Option<String>,
}

fn check(label: &'static str, ok: bool, detail: String) -> Check {
    Check { label, ok, detail }
}

pub async fn preview(idp: &Idp, slug: &str, username: &str) -> Result<Preview, FlowError> {
    let t: Target = flow::target(idp, slug).await?;
    let user = users::get(&idp.db, username).await?;
    let mut conn = idp.db.read().await?;
    let user_groups = groups::names_of_user(&mut conn, user.id).await?;
    let allowed = access::may_use(&mut conn, user.id, t.app.id).await?;
    let bound = crate::store::apps::bound_group_names(&mut conn, t.app.id).await?;
    drop(conn);
    let via: Vec<&String> = user_groups.iter().filter(|g| bound.contains(g)).collect();
    let acs = t.row.default_acs();
    let mut checks = vec![
        check(
            "SSO switched on",
            t.app.sso_enabled,
            if t.app.sso_enabled {
                "sign-ins are answered".into()
            } else {
                "SSO is deactivated for this app: every sign-in is refused".into()
            },
        ),
        check(
            "Account active",
            user.active,
            if user.active {
                "the user can sign in".into()
            } else {
                "suspended users get no assertion".into()
            },
        ),
        check(
            "Access to the app",
            allowed,
            if allowed {
                format!("through group(s): {}", join(&via))
            } else if !user.active {
                "the user is suspended: suspended users may use no app".into()
            } else if !t.app.enabled {
                "the app is disabled: nobody gets an assertion".into()
            } else {
                format!(
                    "none of the user's groups is bound to the app (bound: {})",
                    join(&bound.iter().collect::<Vec<_>>())
                )
            },
        ),
        check(
            "Audience (SP entity id)",
            !t.row.sp_entity_id.is_empty(),
            if t.row.sp_entity_id.is_empty() {
                "not set: fill in the SP entity id".into()
            } else {
                format!(
                    "the SP accepts the assertion only if it is its own entity id: {}",
                    t.row.sp_entity_id
                )
            },
        ),
        check(
            "Recipient (ACS URL)",
            acs.is_some(),
            match acs {
                Some(u) => {
                    format!("posted to {u}; the SP checks Destination and Recipient")
                }
                None => "no ACS URL registered".into(),
            },
        ),
    ];
    let (name_id, format) = match flow::name_id(idp, &t, &user).await? {
        NameId::Value { value, format } => (Some(value), format.to_string()),
        NameId::Missing(why) => (None, why),
    };
    checks.push(check(
        "NameID",
        name_id.is_some(),
        match &name_id {
            Some(v) => format!("{v} from {} ({})", t.row.nameid_source, t.row.nameid_format),
            None => format.clone(),
        },
    ));
    let key = idp.keys.for_app(&t.app.slug);
    checks.push(check(
        "Signature",
        true,
        format!(
            "the assertion{} is signed (SHA-256) with the key whose certificate has SHA-256 fingerprint {}; the SP checks it with certificate.pem",
            if t.row.sign_response { " and the Response are" } else { "" },
            key.active.fingerprint
        ),
    ));
    checks.push(encryption_check(&t.row));
    checks.push(check(
        "Lifetime",
        true,
        "NotBefore now, NotOnOrAfter in 5 minutes; bearer confirmation for the ACS URL".into(),
    ));
    let mapping = attributes::decode(&t.row.attributes);
    let attrs = attributes::statement(&mapping, &user, &user_groups);
    let xml = match (&name_id, acs) {
        (Some(n), Some(acs_url))
            if !t.row.sp_entity_id.is_empty() && allowed && t.app.sso_enabled =>
        {
            let now = Utc::now();
            let grant = Grant {
                idp_entity_id: &t.idp_entity_id,
                sp_entity_id: &t.row.sp_entity_id,
                acs_url,
                in_response_to: None,
                name_id: n,
                name_id_format: &format,
                session_index: "_preview",
                authn_instant: now,
                authn_context: if t.row.require_mfa {
                    crate::saml::context::REFEDS_MFA
                } else {
                    crate::saml::context::PASSWORD_PROTECTED
                },
                attributes: &attrs,
                sign_response: t.row.sign_response,
                now,
            };
            Some(
                response::success(&grant, &key.active)
                    .map_err(|e| FlowError::Internal(format!("signing: {e}")))?,
            )
        }
        _ => None,
    };
    let encrypted = (t.row.encryption != Encryption::Off).then(|| {
        format!(
            "{} receives this assertion encrypted ({}) in a saml:EncryptedAssertion; it is shown here before encryption.",
            t.app.label,
            t.row.encryption.describe()
        )
    });
    Ok(Preview {
        encrypted,
        username: user.username,
        name_id_format: if name_id.is_some() {
            format
        } else {
            t.row.nameid_format.clone()
        },
        name_id,
        acs_url: acs.map(str::to_string),
        attributes: attrs,
        checks,
        xml,
    })
}

/// Whether the assertion is encrypted, with what and to which certificate (SAML Core §2.3.4).
fn encryption_check(row: &crate::store::sso::SsoRow) -> Check {
    if row.encryption == Encryption::Off {
        return check(
            "Encryption",
            true,
            "off: the assertion is signed but readable in the user's browser".into(),
        );
    }
    match SpEncryptionCert::load(&row.sp_encryption_cert) {
        Ok(c) => {
            let expired = if c.expired(Utc::now()) {
                format!(
                    " (its certificate expired on {}; ask the SP for its new one)",
                    c.not_after()
                )
            } else {
                String::new()
            };
            check(
                "Encryption",
                true,
                format!(
                    "the assertion is encrypted ({}) to the SP's key whose certificate has SHA-256 fingerprint {}{expired}",
                    row.encryption.describe(),
                    c.fingerprint()
                ),
            )
        }
        Err(e) => check(
            "Encryption",
            false,
            format!(
                "on, but the SP encryption certificate {e}: sign-ins fail until it is replaced"
            ),
        ),
    }
}

fn join(v: &[&String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}
