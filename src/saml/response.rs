//! The SAML `Response` (SAML Core §3.2.2, §2.3.3; Web Browser SSO profile, Profiles §4.1.4.2):
//! a signed Assertion with the bearer subject confirmation, conditions, authentication
//! statement and attributes (encrypted to the SP when the app says so, `super::encrypt`),
//! optionally a signed Response around it; or an error status.
//! Built only through `XmlWriter` (SECURITY 10) and signed over those exact bytes (SECURITY 8).

use chrono::{DateTime, Duration, Utc};

use super::dsig;
use super::encrypt::Seal;
use super::keys::SigningKey;
use super::ns::{ASSERTION, PROTOCOL};
use super::xml::XmlWriter;

/// How far `NotBefore` is backdated for clock skew between us and the SP.
pub const SKEW: Duration = Duration::seconds(60);
/// Lifetime of an assertion (SECURITY 9: at most 5 minutes).
pub const LIFETIME: Duration = Duration::seconds(300);

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const STATUS_REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";
pub const STATUS_NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const ATTR_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

/// A fresh identifier: 160 random bits, an NCName as `xs:ID` requires (SECURITY 9).
pub fn new_id() -> String {
    format!("_{}", crate::auth::csrf::random_token(20))
}

/// `xs:dateTime` in UTC, whole seconds (SAML Core §1.3.3).
pub fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Everything the assertion says about one sign-on.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// The verified request ID; `None` for an unsolicited (IdP-initiated) response.
    pub in_response_to: Option<&'a str>,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: &'a str,
    pub authn_instant: DateTime<Utc>,
    /// `AuthnContextClassRef`: how the user signed in (`saml::context`).
    pub authn_context: &'a str,
    /// Attribute name and values, in order; several values make a multi-valued attribute.
    pub attributes: &'a [(String, Vec<String>)],
    pub sign_response: bool,
    pub now: DateTime<Utc>,
}

fn opt<'a>(attrs: &mut Vec<(&'a str, &'a str)>, name: &'a str, v: Option<&'a str>) {
    if let Some(v) = v {
        attrs.push((name, v));
    }
}

/// The signed assertion: its canonical text with the signature after the `Issuer`.
fn assertion(g: &Grant, key: &SigningKey) -> Result<String, openssl::error::ErrorStack> {
    let id = new_id();
    let now = instant(g.now);
    let not_before = instant(g.now - SKEW);
    let not_after = instant(g.now + LIFETIME);
    let authn_instant = instant(g.authn_instant);
    let mut w = XmlWriter::new();
    w.open(
        "saml:Assertion",
        &[
            ("xmlns:saml", ASSERTION),
            ("ID", &id),
            ("IssueInstant", &now),
            ("Version", "2.0"),
        ],
    )
    .leaf("saml:Issuer", &[], g.idp_entity_id);
    let split = w.len();
    let mut confirmation = vec![
        ("NotOnOrAfter", not_after.as_str()),
        ("Recipient", g.acs_url),
    ];
    opt(&mut confirmation, "InResponseTo", g.in_response_to);
    w.open("saml:Subject", &[])
        .leaf("saml:NameID", &[("Format", g.name_id_format)], g.name_id)
        .open("saml:SubjectConfirmation", &[("Method", BEARER)])
        .leaf("saml:SubjectConfirmationData", &confirmation, "")
        .close()
        .close()
        .open(
            "saml:Conditions",
            &[("NotBefore", &not_before), ("NotOnOrAfter", &not_after)],
        )
        .open("saml:AudienceRestriction", &[])
        .leaf("saml:Audience", &[], g.sp_entity_id)
        .close()
        .close()
        .open(
            "saml:AuthnStatement",
            &[
                ("AuthnInstant", &authn_instant),
                ("SessionIndex", g.session_index),
            ],
        )
        .open("saml:AuthnContext", &[])
        .leaf("saml:AuthnContextClassRef", &[], g.authn_context)
        .close()
        .close();
    if !g.attributes.is_empty() {
        w.open("saml:AttributeStatement", &[]);
        for (name, values) in g.attributes {
            w.open(
                "saml:Attribute",
                &[("Name", name), ("NameFormat", ATTR_BASIC)],
            );
            for v in values {
                w.leaf("saml:AttributeValue", &[], v);
            }
            w.close();
        }
        w.close();
    }
    dsig::sign_enveloped(&w.finish(), split, &id, key)
}

/// The `Response` envelope around `inner` (an assertion, or nothing for an error), signed
/// when `sign` is set. `xmlns:saml` is declared on the `Issuer` rather than the root so the
/// embedded assertion's own declaration stays canonical in the Response's digest too.
#[allow(clippy::too_many_arguments)]
fn envelope(
    idp_entity_id: &str,
    acs_url: &str,
    in_response_to: Option<&str>,
    status: (&str, Option<&str>, Option<&str>),
    inner: &str,
    sign: bool,
    now: DateTime<Utc>,
    key: &SigningKey,
) -> Result<String, openssl::error::ErrorStack> {
    let id = new_id();
    let issued = instant(now);
    let mut attrs = vec![
        ("xmlns:samlp", PROTOCOL),
        ("Destination", acs_url),
        ("ID", id.as_str()),
        ("IssueInstant", issued.as_str()),
        ("Version", "2.0"),
    ];
    opt(&mut attrs, "InResponseTo", in_response_to);
    let mut w = XmlWriter::new();
    w.open("samlp:Response", &attrs).leaf(
        "saml:Issuer",
        &[("xmlns:saml", ASSERTION)],
        idp_entity_id,
    );
    let split = w.len();
    let (top, sub, message) = status;
    w.open("samlp:Status", &[])
        .open("samlp:StatusCode", &[("Value", top)]);
    if let Some(sub) = sub {
        w.leaf("samlp:StatusCode", &[("Value", sub)], "");
    }
    w.close();
    if let Some(m) = message {
        w.leaf("samlp:StatusMessage", &[], m);
    }
    w.close().raw(inner);
    let xml = w.finish();
    if sign {
        dsig::sign_enveloped(&xml, split, &id, key)
    } else {
        Ok(xml)
    }
}

/// A successful Response with a signed Assertion (and signed Response when asked).
pub fn success(g: &Grant, key: &SigningKey) -> Result<String, openssl::error::ErrorStack> {
    success_sealed(g, key, None)
}

/// The same, with the signed Assertion sent as an `EncryptedAssertion` when `seal` is given
/// (SAML Core §2.3.4, §6.2: signed first, then encrypted, so the SP verifies what it decrypts).
pub fn success_sealed(
    g: &Grant,
    key: &SigningKey,
    seal: Option<&Seal>,
) -> Result<String, openssl::error::ErrorStack> {
    let mut assertion = assertion(g, key)?;
    if let Some(seal) = seal {
        assertion = seal.encrypted_assertion(&assertion)?;
    }
    envelope(
        g.idp_entity_id,
        g.acs_url,
        g.in_response_to,
        (STATUS_SUCCESS, None, None),
        &assertion,
        g.sign_response,
        g.now,
        key,
    )
}

/// An error Response (no assertion), always signed so the SP can trust the status.
pub struct Failure<'a> {
    pub idp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub in_response_to: Option<&'a str>,
    pub status: &'a str,
    pub sub_status: Option<&'a str>,
    pub message: &'a str,
}

pub fn failure(
    f: &Failure,
    now: DateTime<Utc>,
    key: &SigningKey,
) -> Result<String, openssl::error::ErrorStack> {
    envelope(
        f.idp_entity_id,
        f.acs_url,
        f.in_response_to,
        (f.status, f.sub_status, Some(f.message)),
        "",
        true,
        now,
        key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::keys::KeyKind;
    use roxmltree::Document;

    #[test]
    fn response_and_assertion_signatures_verify_and_values_stay_text() {
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let attrs = vec![
            ("email".to_string(), vec!["a@example.com".to_string()]),
            (
                "groups".to_string(),
                vec!["</saml:AttributeValue><x>".into(), "<!---->\"]]>".into()],
            ),
        ];
        let g = Grant {
            idp_entity_id: "https://idp/saml2/app",
            sp_entity_id: "https://sp",
            acs_url: "https://sp/acs?a=1&b=2",
            in_response_to: Some("id-\"<1"),
            name_id: "a@example.com",
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            session_index: "_s",
            authn_instant: Utc::now(),
            authn_context: crate::saml::context::PASSWORD_PROTECTED,
            attributes: &attrs,
            sign_response: false,
            now: Utc::now(),
        };
        let xml = success(&g, &key).unwrap();
        let doc = Document::parse(&xml).unwrap();
        assert_eq!(
            crate::saml::c14n::canonicalize(doc.root_element(), None, &[]),
            xml,
            "sent bytes are canonical"
        );
        let values: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name((ASSERTION, "AttributeValue")))
            .map(|n| n.text().unwrap_or(""))
            .collect();
        assert_eq!(
            values,
            ["a@example.com", "</saml:AttributeValue><x>", "<!---->\"]]>"]
        );
        assert!(!xml.contains("<!--"), "no comments are ever emitted");
        let a = doc
            .descendants()
            .find(|n| n.has_tag_name((ASSERTION, "Assertion")))
            .unwrap();
        // The assertion on its own (as an SP extracts it) verifies too.
        let alone = crate::saml::c14n::canonicalize(a, None, &[]);
        let adoc = Document::parse(&alone).unwrap();
        dsig::verify_enveloped(&adoc, std::slice::from_ref(&key.cert), false)
            .expect("assertion signature");
    }

    #[test]
    fn an_encrypted_assertion_replaces_the_assertion_inside_a_signed_response() {
        use crate::saml::encrypt::{Encryption, Seal, SpEncryptionCert};
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let sp = SigningKey::generate(KeyKind::Rsa).unwrap();
        let to = SpEncryptionCert::check(&sp.cert_pem, Utc::now()).unwrap();
        let seal = Seal::new(Encryption::Aes256Gcm, to, "https://sp").unwrap();
        let attrs = vec![("email".to_string(), vec!["a@example.com".to_string()])];
        let g = Grant {
            idp_entity_id: "https://idp/saml2/app",
            sp_entity_id: "https://sp",
            acs_url: "https://sp/acs",
            in_response_to: Some("_req"),
            name_id: "a@example.com",
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            session_index: "_s",
            authn_instant: Utc::now(),
            authn_context: crate::saml::context::PASSWORD_PROTECTED,
            attributes: &attrs,
            sign_response: true,
            now: Utc::now(),
        };
        let xml = success_sealed(&g, &key, Some(&seal)).unwrap();
        assert!(!xml.contains("a@example.com"), "{xml}");
        let doc = Document::parse(&xml).unwrap();
        assert_eq!(
            crate::saml::c14n::canonicalize(doc.root_element(), None, &[]),
            xml,
            "sent bytes are canonical"
        );
        let kids: Vec<_> = doc
            .root_element()
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        assert_eq!(
            kids,
            ["Issuer", "Signature", "Status", "EncryptedAssertion"]
        );
        assert!(!doc
            .descendants()
            .any(|n| n.has_tag_name((ASSERTION, "Assertion"))));
        dsig::verify_enveloped(&doc, std::slice::from_ref(&key.cert), false)
            .expect("the Response signature covers the encrypted assertion");
        assert!(success_sealed(&g, &key, None)
            .unwrap()
            .contains(">a@example.com</saml:NameID>"));
    }
}
