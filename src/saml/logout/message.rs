//! The two Single Logout messages (SAML Core §3.7): reading a `LogoutRequest` or a
//! `LogoutResponse` from untrusted XML (the same DTD, depth and node limits as an
//! AuthnRequest, and each single child of the root read at most once), and writing ours
//! with `XmlWriter`, signed enveloped for HTTP-POST or left for the detached query signature
//! of HTTP-Redirect (Bindings §3.4.4.1).

use chrono::{DateTime, Duration, Utc};
use roxmltree::{Document, Node};

use crate::saml::dsig;
use crate::saml::keys::SigningKey;
use crate::saml::ns::{ASSERTION, DS, PROTOCOL};
use crate::saml::request::{child, RequestError};
use crate::saml::response::{instant, new_id};
use crate::saml::xml::{self, XmlWriter};

pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";
pub const STATUS_UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";
/// How long a LogoutRequest we send is valid (`NotOnOrAfter`, Core §3.7.1).
pub const VALID_FOR: Duration = Duration::seconds(300);

/// The fields of a `LogoutRequest` (Core §3.7.1) sesame acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub issuer: String,
    pub destination: Option<String>,
    pub not_on_or_after: Option<DateTime<Utc>>,
    pub name_id: String,
    /// Zero or more; none means every session of the principal at this SP.
    pub session_indexes: Vec<String>,
}

/// The fields of a `LogoutResponse` (Core §3.7.2, a `StatusResponseType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub id: String,
    pub in_response_to: String,
    pub issue_instant: DateTime<Utc>,
    pub issuer: String,
    pub destination: Option<String>,
    /// The top-level status code, and the second-level one if any.
    pub status: (String, Option<String>),
}

/// ID, Version 2.0 and IssueInstant: what every protocol message has (Core §3.2.1).
fn header(root: Node, want: &'static str) -> Result<(String, DateTime<Utc>), RequestError> {
    let name = root.tag_name();
    if name.namespace() != Some(PROTOCOL) || name.name() != want {
        let got = name.name().chars().take(64).collect();
        return Err(RequestError::Unexpected(got, want));
    }
    if root.attribute("Version") != Some("2.0") {
        let v = root.attribute("Version").unwrap_or_default();
        return Err(RequestError::Version(v.chars().take(16).collect()));
    }
    let id = root
        .attribute("ID")
        .ok_or(RequestError::MissingField("ID"))?;
    if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RequestError::BadField("ID"));
    }
    let issued = time(root.attribute("IssueInstant"), "IssueInstant")?
        .ok_or(RequestError::MissingField("IssueInstant"))?;
    Ok((id.to_string(), issued))
}

fn time(v: Option<&str>, field: &'static str) -> Result<Option<DateTime<Utc>>, RequestError> {
    v.map(|v| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| RequestError::BadField(field))
    })
    .transpose()
}

/// The whole text of an element that holds only text (Core §2.2.5 Issuer, §2.2.3 NameID).
fn text(node: Option<Node>, field: &'static str) -> Result<String, RequestError> {
    let node = node.ok_or(RequestError::MissingField(field))?;
    let t = xml::simple_text(node).ok_or(RequestError::BadField(field))?;
    let t = t.trim();
    if t.is_empty() || t.len() > 1024 {
        return Err(RequestError::BadField(field));
    }
    Ok(t.to_string())
}

pub fn read_request(doc: &Document) -> Result<LogoutRequest, RequestError> {
    let root = doc.root_element();
    let (id, issue_instant) = header(root, "LogoutRequest")?;
    for (ns, name) in [
        (ASSERTION, "Issuer"),
        (DS, "Signature"),
        (PROTOCOL, "Extensions"),
        (ASSERTION, "NameID"),
        (ASSERTION, "BaseID"),
        (ASSERTION, "EncryptedID"),
    ] {
        child(root, ns, name)?;
    }
    if child(root, ASSERTION, "NameID")?.is_none() {
        // BaseID and EncryptedID name nobody sesame gave out.
        return Err(RequestError::MissingField("NameID"));
    }
    let session_indexes = root
        .children()
        .filter(|c| c.has_tag_name((PROTOCOL, "SessionIndex")))
        .take(16)
        .map(|c| text(Some(c), "SessionIndex"))
        .collect::<Result<_, _>>()?;
    Ok(LogoutRequest {
        id,
        issue_instant,
        issuer: text(child(root, ASSERTION, "Issuer")?, "Issuer")?,
        destination: root.attribute("Destination").map(str::to_string),
        not_on_or_after: time(root.attribute("NotOnOrAfter"), "NotOnOrAfter")?,
        name_id: text(child(root, ASSERTION, "NameID")?, "NameID")?,
        session_indexes,
    })
}

pub fn read_response(doc: &Document) -> Result<LogoutResponse, RequestError> {
    let root = doc.root_element();
    let (id, issue_instant) = header(root, "LogoutResponse")?;
    for (ns, name) in [
        (ASSERTION, "Issuer"),
        (DS, "Signature"),
        (PROTOCOL, "Extensions"),
        (PROTOCOL, "Status"),
    ] {
        child(root, ns, name)?;
    }
    let status = child(root, PROTOCOL, "Status")?.ok_or(RequestError::MissingField("Status"))?;
    let code = status
        .children()
        .find(|c| c.has_tag_name((PROTOCOL, "StatusCode")))
        .ok_or(RequestError::MissingField("StatusCode"))?;
    let value = |n: Node| {
        n.attribute("Value")
            .map(|v| v.chars().take(256).collect::<String>())
            .ok_or(RequestError::MissingField("StatusCode Value"))
    };
    let sub = code
        .children()
        .find(|c| c.has_tag_name((PROTOCOL, "StatusCode")))
        .map(value)
        .transpose()?;
    Ok(LogoutResponse {
        id,
        in_response_to: root
            .attribute("InResponseTo")
            .ok_or(RequestError::MissingField("InResponseTo"))?
            .to_string(),
        issue_instant,
        issuer: text(child(root, ASSERTION, "Issuer")?, "Issuer")?,
        destination: root.attribute("Destination").map(str::to_string),
        status: (value(code)?, sub),
    })
}

/// A LogoutRequest from us to an SP: who (the NameID it was given) and which session.
pub struct Outgoing<'a> {
    pub issuer: &'a str,
    pub destination: &'a str,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: &'a str,
}

/// Our LogoutRequest (Core §3.7.1) and its ID; signed enveloped when `key` is given (the
/// HTTP-POST binding), else unsigned for the detached Redirect signature.
pub fn logout_request(
    r: &Outgoing,
    now: DateTime<Utc>,
    key: Option<&SigningKey>,
) -> Result<(String, String), openssl::error::ErrorStack> {
    let id = new_id();
    let issued = instant(now);
    let until = instant(now + VALID_FOR);
    let mut w = XmlWriter::new();
    w.open(
        "samlp:LogoutRequest",
        &[
            ("xmlns:samlp", PROTOCOL),
            ("Destination", r.destination),
            ("ID", &id),
            ("IssueInstant", &issued),
            ("NotOnOrAfter", &until),
            ("Version", "2.0"),
        ],
    )
    .leaf("saml:Issuer", &[("xmlns:saml", ASSERTION)], r.issuer);
    let split = w.len();
    w.leaf(
        "saml:NameID",
        &[("xmlns:saml", ASSERTION), ("Format", r.name_id_format)],
        r.name_id,
    )
    .leaf("samlp:SessionIndex", &[], r.session_index);
    let xml = w.finish();
    let xml = match key {
        Some(k) => dsig::sign_enveloped(&xml, split, &id, k)?,
        None => xml,
    };
    Ok((id, xml))
}

/// Our LogoutResponse (Core §3.7.2) to the SP that asked, with its status.
pub fn logout_response(
    issuer: &str,
    destination: &str,
    in_response_to: &str,
    status: (&str, Option<&str>),
    now: DateTime<Utc>,
    key: Option<&SigningKey>,
) -> Result<String, openssl::error::ErrorStack> {
    let id = new_id();
    let issued = instant(now);
    let mut w = XmlWriter::new();
    w.open(
        "samlp:LogoutResponse",
        &[
            ("xmlns:samlp", PROTOCOL),
            ("Destination", destination),
            ("ID", &id),
            ("InResponseTo", in_response_to),
            ("IssueInstant", &issued),
            ("Version", "2.0"),
        ],
    )
    .leaf("saml:Issuer", &[("xmlns:saml", ASSERTION)], issuer);
    let split = w.len();
    w.open("samlp:Status", &[])
        .open("samlp:StatusCode", &[("Value", status.0)]);
    if let Some(sub) = status.1 {
        w.leaf("samlp:StatusCode", &[("Value", sub)], "");
    }
    let xml = w.finish();
    match key {
        Some(k) => dsig::sign_enveloped(&xml, split, &id, k),
        None => Ok(xml),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::keys::KeyKind;
    use crate::saml::request::parse;
    use crate::saml::response::STATUS_SUCCESS;

    #[test]
    fn our_request_reads_back_and_its_signature_verifies() {
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let out = Outgoing {
            issuer: "https://idp/saml2/a",
            destination: "https://sp/slo",
            name_id: "ann@example.com",
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            session_index: "_s1",
        };
        let (id, xml) = logout_request(&out, Utc::now(), Some(&key)).unwrap();
        let doc = parse(&xml).unwrap();
        dsig::verify_enveloped(&doc, std::slice::from_ref(&key.cert), false).unwrap();
        let r = read_request(&doc).unwrap();
        assert_eq!(r.id, id);
        assert_eq!(r.name_id, "ann@example.com");
        assert_eq!(r.session_indexes, vec!["_s1".to_string()]);
        assert_eq!(r.destination.as_deref(), Some("https://sp/slo"));
        assert!(r.not_on_or_after.is_some());
    }

    #[test]
    fn our_response_reads_back_with_both_status_levels() {
        let xml = logout_response(
            "https://idp/saml2/a",
            "https://sp/slo",
            "_r1",
            (STATUS_SUCCESS, Some(STATUS_PARTIAL_LOGOUT)),
            Utc::now(),
            None,
        )
        .unwrap();
        let r = read_response(&parse(&xml).unwrap()).unwrap();
        assert_eq!(r.in_response_to, "_r1");
        assert_eq!(r.status.0, STATUS_SUCCESS);
        assert_eq!(r.status.1.as_deref(), Some(STATUS_PARTIAL_LOGOUT));
    }

    #[test]
    fn refusals() {
        let key = SigningKey::generate(KeyKind::Rsa).unwrap();
        let out = Outgoing {
            issuer: "https://sp/meta",
            destination: "https://idp/slo",
            name_id: "ann",
            name_id_format: "f",
            session_index: "_s",
        };
        let (_, xml) = logout_request(&out, Utc::now(), Some(&key)).unwrap();
        let two = xml.replace(
            "<samlp:SessionIndex>",
            "<saml:NameID xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">bob</saml:NameID><samlp:SessionIndex>",
        );
        assert_eq!(
            read_request(&parse(&two).unwrap()),
            Err(RequestError::Duplicate("NameID"))
        );
        let none = xml.replace("ann</saml:NameID>", "</saml:NameID>");
        assert_eq!(
            read_request(&parse(&none).unwrap()),
            Err(RequestError::BadField("NameID"))
        );
        // An AuthnRequest is not a LogoutRequest, nor a request a response.
        assert!(matches!(
            read_response(&parse(&xml).unwrap()),
            Err(RequestError::Unexpected(_, "LogoutResponse"))
        ));
    }
}
