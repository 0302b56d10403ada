//! Reading an `AuthnRequest` (SAML Core §3.4.1) from XML we have not trusted yet: any DTD is
//! refused before the parser runs (SECURITY 1), the parser has no DTD support and a node
//! cap, and only the root element's own children are read (never a copy elsewhere).

use chrono::{DateTime, Utc};
use roxmltree::{Document, Node, ParsingOptions};

use super::ns::{ASSERTION, PROTOCOL};

/// At most this many nodes in a request; real ones have a few dozen.
const MAX_NODES: u32 = 10_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the request contains a DOCTYPE declaration, which is refused")]
    Doctype,
    #[error("the request is not well-formed XML: {0}")]
    Xml(String),
    #[error("the message is a {0}, not an AuthnRequest")]
    NotAuthnRequest(String),
    #[error("the request has no {0}")]
    MissingField(&'static str),
    #[error("the request's {0} is malformed")]
    BadField(&'static str),
    #[error("the request has SAML version {0:?}; only 2.0 is supported")]
    Version(String),
}

/// The fields of an `AuthnRequest` sesame acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: DateTime<Utc>,
    pub issuer: String,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<i64>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
}

/// Refuses `<!DOCTYPE` in any letter case before anything parses the text.
pub fn refuse_doctype(xml: &str) -> Result<(), RequestError> {
    let bytes = xml.as_bytes();
    let found = bytes
        .windows(9)
        .any(|w| w[0] == b'<' && w[1] == b'!' && w[2..].eq_ignore_ascii_case(b"DOCTYPE"));
    if found {
        Err(RequestError::Doctype)
    } else {
        Ok(())
    }
}

pub fn parse(xml: &str) -> Result<Document<'_>, RequestError> {
    refuse_doctype(xml)?;
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(xml, opts).map_err(|e| RequestError::Xml(e.to_string()))
}

fn child<'a, 'i>(root: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    root.children().find(|c| {
        c.is_element() && c.tag_name().namespace() == Some(ns) && c.tag_name().name() == name
    })
}

fn boolean(v: Option<&str>, field: &'static str) -> Result<bool, RequestError> {
    match v {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(RequestError::BadField(field)),
    }
}

/// Reads the request from the document's root element.
pub fn read(doc: &Document) -> Result<AuthnRequest, RequestError> {
    let root = doc.root_element();
    let name = root.tag_name();
    if name.namespace() != Some(PROTOCOL) || name.name() != "AuthnRequest" {
        return Err(RequestError::NotAuthnRequest(
            name.name().chars().take(64).collect(),
        ));
    }
    let version = root
        .attribute("Version")
        .ok_or(RequestError::MissingField("Version"))?;
    if version != "2.0" {
        return Err(RequestError::Version(version.chars().take(16).collect()));
    }
    let id = root
        .attribute("ID")
        .ok_or(RequestError::MissingField("ID"))?;
    if id.is_empty() || id.len() > 256 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RequestError::BadField("ID"));
    }
    let instant = root
        .attribute("IssueInstant")
        .ok_or(RequestError::MissingField("IssueInstant"))?;
    let issue_instant = DateTime::parse_from_rfc3339(instant)
        .map_err(|_| RequestError::BadField("IssueInstant"))?
        .with_timezone(&Utc);
    let issuer = child(root, ASSERTION, "Issuer")
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(RequestError::MissingField("Issuer"))?;
    let acs_index = root
        .attribute("AssertionConsumerServiceIndex")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| RequestError::BadField("AssertionConsumerServiceIndex"))
        })
        .transpose()?;
    Ok(AuthnRequest {
        id: id.to_string(),
        issue_instant,
        issuer: issuer.to_string(),
        destination: root.attribute("Destination").map(str::to_string),
        acs_url: root
            .attribute("AssertionConsumerServiceURL")
            .map(str::to_string),
        acs_index,
        protocol_binding: root.attribute("ProtocolBinding").map(str::to_string),
        force_authn: boolean(root.attribute("ForceAuthn"), "ForceAuthn")?,
        is_passive: boolean(root.attribute("IsPassive"), "IsPassive")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="id-1" Version="2.0" IssueInstant="2026-01-02T03:04:05.678Z" AssertionConsumerServiceURL="https://sp/acs" ForceAuthn="true"><saml:Issuer> https://sp/meta </saml:Issuer></samlp:AuthnRequest>"#;

    #[test]
    fn reads_fields() {
        let doc = parse(REQ).unwrap();
        let r = read(&doc).unwrap();
        assert_eq!(r.id, "id-1");
        assert_eq!(r.issuer, "https://sp/meta");
        assert_eq!(r.acs_url.as_deref(), Some("https://sp/acs"));
        assert!(r.force_authn && !r.is_passive);
        assert_eq!(r.issue_instant.timestamp(), 1767323045);
    }

    #[test]
    fn refuses_dtds_and_other_messages() {
        let bomb = "<?xml version=\"1.0\"?><!doctype x [<!ENTITY a \"aaaa\">]><x>&a;</x>";
        assert!(matches!(parse(bomb), Err(RequestError::Doctype)));
        let doc = parse("<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>")
            .unwrap();
        assert!(matches!(read(&doc), Err(RequestError::NotAuthnRequest(_))));
        let v1 = REQ.replace("Version=\"2.0\"", "Version=\"1.1\"");
        assert!(matches!(
            read(&parse(&v1).unwrap()),
            Err(RequestError::Version(_))
        ));
    }
}
