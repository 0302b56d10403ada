//! Checking an incoming `AuthnRequest` against the app's settings (SECURITY 1–7), in the
//! order that decides where a refusal may go: until the ACS URL is matched against a
//! registered one, a refusal is a local page; after it, a SAML error status to that ACS.

use chrono::{DateTime, Duration, Utc};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};

use super::binding::Message;
use super::dsig::{self, DsigError, SigAlg};
use super::ns::BINDING_POST;
use super::request::{self, AuthnRequest};
use super::response::{STATUS_REQUESTER, STATUS_REQUEST_DENIED};
use crate::store::sso::SsoRow;

/// How old a request may be (its `IssueInstant`), plus `SKEW` either way.
pub const MAX_AGE: Duration = Duration::seconds(300);
pub const SKEW: Duration = Duration::seconds(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    Redirect,
    Post,
}

/// A request that passed every check: what the answer needs, kept while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub request_id: String,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub binding: Binding,
    /// Unix ms when we received it (a `ForceAuthn` login must be newer).
    pub received_at: i64,
    pub signed: bool,
    /// Its ID is already recorded as used (it was parked).
    #[serde(default)]
    pub recorded: bool,
    /// What the SP asked about how the user signs in (Core §3.3.2.2.1).
    #[serde(default)]
    pub requested_context: Option<super::context::Requested>,
}

/// Why a request is refused, and where that may be said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Before the ACS is trusted: a page for the person, nothing sent anywhere.
    Page(String),
    /// The ACS is a registered one: a SAML error Response to it.
    Status {
        pending: Box<Pending>,
        status: &'static str,
        sub_status: Option<&'static str>,
        message: String,
    },
}

fn page(m: impl std::fmt::Display) -> Refusal {
    Refusal::Page(m.to_string())
}

/// The SP's registered certificates (several during its key rollover).
fn sp_certs(row: &SsoRow) -> Vec<X509> {
    X509::stack_from_pem(row.sp_certs.as_bytes()).unwrap_or_default()
}

/// SECURITY 3/4: whether the request carries a signature that verifies with the registered
/// certificate. A signature is only checked against a registered certificate; without one it
/// is not evidence of anything and the request counts as unsigned.
///
/// One exception: an HTTP-Redirect message must not carry its own `ds:Signature` at all (SAML
/// Bindings §3.4.4.1: it is removed before encoding; the signature travels in the query). One
/// that does is accepted only if that embedded signature verifies with a registered
/// certificate too, so no signature from an unknown key rides along with a request sesame
/// answers.
pub(crate) fn check_signature(
    msg: &Message,
    binding: Binding,
    doc: &roxmltree::Document,
    row: &SsoRow,
) -> Result<bool, Refusal> {
    let embedded = doc
        .descendants()
        .any(|n| n.has_tag_name((super::ns::DS, "Signature")));
    // Unsigned requests (the common case) skip parsing the certificates.
    if msg.signature.is_none() && !embedded {
        return Ok(false);
    }
    let certs = if row.sp_certs.is_empty() {
        Vec::new()
    } else {
        sp_certs(row)
    };
    if binding == Binding::Redirect && embedded {
        dsig::verify_enveloped(doc, &certs, row.allow_sha1).map_err(|e| {
            page(format!(
                "An HTTP-Redirect request carries its signature in the query, not in the XML; \
                 this one also has an embedded signature, refused because {e}."
            ))
        })?;
        if msg.signature.is_none() {
            return Ok(true);
        }
    }
    if certs.is_empty() {
        return Ok(false);
    }
    if let Some(sig) = &msg.signature {
        let alg = SigAlg::from_uri(&sig.alg)
            .ok_or_else(|| page(DsigError::Algorithm(sig.alg.chars().take(100).collect())))?;
        if alg.is_sha1() && !row.allow_sha1 {
            return Err(page(DsigError::Sha1));
        }
        return if dsig::verify_bytes(&certs, alg, &sig.signed, &sig.value) {
            Ok(true)
        } else {
            Err(page(DsigError::BadSignature))
        };
    }
    match dsig::verify_enveloped(doc, &certs, row.allow_sha1) {
        Ok(()) => Ok(true),
        Err(DsigError::Unsigned) => Ok(false),
        Err(e) => Err(page(e)),
    }
}

/// The registered ACS URL the answer goes to (SECURITY 5: byte-for-byte, no patterns).
fn resolve_acs(req: &AuthnRequest, row: &SsoRow) -> Result<String, Refusal> {
    let unknown = |what: String| {
        page(format!(
            "The application asked for the response to go to {what}, which is not registered for it. \
             An administrator must add the exact ACS URL to the application's SSO settings."
        ))
    };
    match (&req.acs_url, req.acs_index) {
        (Some(_), Some(_)) => Err(page(
            "The request names both an ACS URL and an ACS index; SAML allows only one.",
        )),
        (Some(url), None) => row
            .acs
            .iter()
            .find(|(_, u, _)| u == url)
            .map(|(_, u, _)| u.clone())
            .ok_or_else(|| unknown(format!("{url:?}"))),
        (None, Some(i)) => row
            .acs
            .iter()
            .find(|(idx, _, _)| *idx == i)
            .map(|(_, u, _)| u.clone())
            .ok_or_else(|| unknown(format!("ACS index {i}"))),
        (None, None) => row
            .default_acs()
            .map(str::to_string)
            .ok_or_else(|| page("The application has no ACS URL registered yet.")),
    }
}

/// Runs every check that needs no database; the caller then records the ID (replay).
pub fn check(
    msg: &Message,
    binding: Binding,
    row: &SsoRow,
    sso_url: &str,
    now: DateTime<Utc>,
) -> Result<Pending, Refusal> {
    if row.sp_entity_id.is_empty() || row.acs.is_empty() {
        return Err(page(
            "Single sign-on is not set up for this application yet (no SP entity id or ACS URL).",
        ));
    }
    let doc = request::parse(&msg.xml).map_err(page)?;
    let signed = check_signature(msg, binding, &doc, row)?;
    // Only now read the fields: from the root, the element the signature covers.
    let req = request::read(&doc).map_err(page)?;
    if row.require_signed_requests && !signed {
        return Err(page(
            "This application requires signed requests, and the request is not signed.",
        ));
    }
    if req.issuer != row.sp_entity_id {
        return Err(page(format!(
            "The request comes from {:?}, which is not this application's SP entity id.",
            req.issuer.chars().take(200).collect::<String>()
        )));
    }
    let acs_url = resolve_acs(&req, row)?;
    if let Some(b) = &req.protocol_binding {
        if b != BINDING_POST {
            return Err(page(
                "The application asked for a response binding other than HTTP-POST, which sesame does not send.",
            ));
        }
    }
    let pending = Pending {
        request_id: req.id.clone(),
        acs_url,
        relay_state: msg.relay_state.clone(),
        force_authn: req.force_authn,
        is_passive: req.is_passive,
        binding,
        received_at: now.timestamp_millis(),
        signed,
        recorded: false,
        requested_context: req.requested_context.clone(),
    };
    let denied = |message: String| Refusal::Status {
        pending: Box::new(pending.clone()),
        status: STATUS_REQUESTER,
        sub_status: Some(STATUS_REQUEST_DENIED),
        message,
    };
    match &req.destination {
        Some(d) if d != sso_url => {
            return Err(denied(format!("Destination is not {sso_url}")));
        }
        None if signed => {
            return Err(denied("a signed request must carry Destination".into()));
        }
        _ => {}
    }
    if req.issue_instant < now - MAX_AGE - SKEW || req.issue_instant > now + SKEW {
        return Err(denied("IssueInstant is outside the accepted window".into()));
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::binding::DetachedSignature;
    use crate::saml::keys::{KeyKind, SigningKey};
    use crate::saml::ns::{ASSERTION, PROTOCOL};
    use crate::saml::response::instant;
    use crate::saml::xml::{on_small_stack, XmlWriter};

    const SSO_URL: &str = "https://idp.example/saml2/demo";
    const ACS: &str = "https://sp.example/acs";

    fn row(entity: &str, key: Option<&SigningKey>) -> SsoRow {
        SsoRow {
            sp_entity_id: entity.into(),
            sp_certs: key.map(|k| k.cert_pem.clone()).unwrap_or_default(),
            acs: vec![(0, ACS.into(), true)],
            ..SsoRow::default()
        }
    }

    /// A canonical request from `issuer` with `extra` inside Extensions, and where an
    /// enveloped signature goes.
    fn request(issuer: &str, id: &str, extra: &str) -> (String, usize) {
        let now = instant(Utc::now());
        let mut w = XmlWriter::new();
        w.open(
            "samlp:AuthnRequest",
            &[
                ("xmlns:samlp", PROTOCOL),
                ("AssertionConsumerServiceURL", ACS),
                ("Destination", SSO_URL),
                ("ID", id),
                ("IssueInstant", &now),
                ("Version", "2.0"),
            ],
        )
        .leaf("saml:Issuer", &[("xmlns:saml", ASSERTION)], issuer);
        let split = w.len();
        w.open("samlp:Extensions", &[]).raw(extra);
        (w.finish(), split)
    }

    fn signed(issuer: &str, extra: &str, key: &SigningKey) -> String {
        let (xml, split) = request(issuer, "_req1", extra);
        dsig::sign_enveloped(&xml, split, "_req1", key).unwrap()
    }

    fn post(xml: &str) -> Message {
        Message {
            xml: xml.into(),
            relay_state: None,
            signature: None,
        }
    }

    /// A Redirect message whose query signature (here over fixed octets) is the SP's.
    fn redirect(xml: &str, key: &SigningKey) -> Message {
        let signed = b"SAMLRequest=x&SigAlg=y".to_vec();
        Message {
            xml: xml.into(),
            relay_state: None,
            signature: Some(DetachedSignature {
                alg: SigAlg::RsaSha256.uri().into(),
                value: dsig::sign_bytes(key, &signed).unwrap(),
                signed,
            }),
        }
    }

    fn refusal(r: Result<Pending, Refusal>) -> String {
        match r {
            Err(Refusal::Page(m)) => m,
            other => panic!("expected a refusal page, got {other:?}"),
        }
    }

    #[test]
    fn a_redirect_request_with_an_embedded_signature_from_another_key_is_refused() {
        // Issue 11, finding 6.
        let sp = SigningKey::generate(KeyKind::Rsa).unwrap();
        let stranger = SigningKey::generate(KeyKind::Rsa).unwrap();
        let entity = "https://sp.example/meta";
        let registered = row(entity, Some(&sp));
        let foreign = signed(entity, "", &stranger);
        let msg = redirect(&foreign, &sp);
        let m = refusal(check(
            &msg,
            Binding::Redirect,
            &registered,
            SSO_URL,
            Utc::now(),
        ));
        assert!(m.contains("embedded signature"), "{m}");
        // With no certificate registered, no embedded signature can be vouched for either.
        let m = refusal(check(
            &post(&foreign),
            Binding::Redirect,
            &row(entity, None),
            SSO_URL,
            Utc::now(),
        ));
        assert!(m.contains("embedded signature"), "{m}");
        // The SP's own key in both places is accepted, as is a detached signature alone.
        let own = signed(entity, "", &sp);
        let p = check(
            &redirect(&own, &sp),
            Binding::Redirect,
            &registered,
            SSO_URL,
            Utc::now(),
        );
        assert!(p.is_ok_and(|p| p.signed));
        let (plain, _) = request(entity, "_req2", "");
        let p = check(
            &redirect(&plain, &sp),
            Binding::Redirect,
            &registered,
            SSO_URL,
            Utc::now(),
        );
        assert!(p.is_ok_and(|p| p.signed));
    }

    #[test]
    fn a_comment_inside_a_signed_issuer_does_not_change_who_sent_it() {
        // Issue 11, finding 4: signed as `…/signedX`, which c14n cannot tell from the
        // commented form; it must not be read as `…/signed`.
        let sp = SigningKey::generate(KeyKind::EcP256).unwrap();
        let xml =
            signed("https://sp.example/signedX", "", &sp).replace("/signedX<", "/signed<!---->X<");
        assert!(xml.contains("/signed<!---->X"));
        let registered = row("https://sp.example/signed", Some(&sp));
        let m = refusal(check(
            &post(&xml),
            Binding::Post,
            &registered,
            SSO_URL,
            Utc::now(),
        ));
        assert!(m.contains("signedX"), "{m}");
        let right = row("https://sp.example/signedX", Some(&sp));
        let p = check(&post(&xml), Binding::Post, &right, SSO_URL, Utc::now());
        assert!(p.is_ok_and(|p| p.signed));
    }

    #[test]
    fn a_request_with_two_issuers_is_refused() {
        // Issue 11, finding 6.
        let (xml, _) = request("https://sp.example/meta", "_req3", "");
        let two = xml.replace(
            "</saml:Issuer>",
            "</saml:Issuer><saml:Issuer xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">x</saml:Issuer>",
        );
        let registered = row("https://sp.example/meta", None);
        for binding in [Binding::Post, Binding::Redirect] {
            let m = refusal(check(
                &post(&two),
                binding,
                &registered,
                SSO_URL,
                Utc::now(),
            ));
            assert!(m.contains("more than one Issuer"), "{m}");
        }
    }

    /// The whole class of finding 1: a deeply nested request, signed (by any key) with a
    /// Reference to its root, through both bindings and with and without a registered
    /// certificate, is refused on a small stack without walking the tree.
    #[test]
    fn deeply_nested_requests_are_refused_through_every_path() {
        let sp = SigningKey::generate(KeyKind::Rsa).unwrap();
        let stranger = SigningKey::generate(KeyKind::Rsa).unwrap();
        let entity = "https://sp.example/meta";
        let levels = 9_000;
        let nest = format!("{}{}", "<e>".repeat(levels), "</e>".repeat(levels));
        let hostile = signed(entity, &nest, &stranger);
        let rows = [row(entity, Some(&sp)), row(entity, None)];
        on_small_stack(|| {
            for r in &rows {
                for (msg, binding) in [
                    (post(&hostile), Binding::Post),
                    (post(&hostile), Binding::Redirect),
                    (redirect(&hostile, &sp), Binding::Redirect),
                ] {
                    let m = refusal(check(&msg, binding, r, SSO_URL, Utc::now()));
                    assert!(m.contains("levels deep"), "{m}");
                }
            }
        });
    }
}
