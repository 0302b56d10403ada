//! Reading an `AuthnRequest` (SAML Core §3.4.1) from XML we have not trusted yet: any DTD is
//! refused before the parser runs (SECURITY 1), the nesting depth is bounded before a tree
//! exists and the parser has a node cap (SECURITY 18), and only the root element's own
//! children are read (never a copy elsewhere), each at most once.

use chrono::{DateTime, Utc};
use roxmltree::{Document, Node};

use super::context::{Comparison, Requested};
use super::ns::{ASSERTION, DS, PROTOCOL};
use super::xml::{self, ParseError};

/// At most this many nodes in a request; real ones have a few dozen.
const MAX_NODES: u32 = 10_000;

/// The root's children the schema allows at most once (SAML Core §3.2.1 `RequestAbstractType`,
/// §3.4.1 `AuthnRequest`). A second one is refused rather than ignored: a reader that takes
/// the first and another that takes the last would disagree on who sent the request.
const SINGLE_CHILDREN: [(&str, &str); 8] = [
    (ASSERTION, "Issuer"),
    (DS, "Signature"),
    (PROTOCOL, "Extensions"),
    (ASSERTION, "Subject"),
    (PROTOCOL, "NameIDPolicy"),
    (ASSERTION, "Conditions"),
    (PROTOCOL, "RequestedAuthnContext"),
    (PROTOCOL, "Scoping"),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the request contains a DOCTYPE declaration, which is refused")]
    Doctype,
    #[error("the request's elements nest more than {} levels deep", xml::MAX_DEPTH)]
    TooDeep,
    #[error("the request is not well-formed XML: {0}")]
    Xml(String),
    #[error("the message is a {0}, not an AuthnRequest")]
    NotAuthnRequest(String),
    #[error("the message is a {0}, not a {1}")]
    Unexpected(String, &'static str),
    #[error("the request has no {0}")]
    MissingField(&'static str),
    #[error("the request's {0} is malformed")]
    BadField(&'static str),
    #[error("the request has more than one {0}")]
    Duplicate(&'static str),
    #[error("the request has SAML version {0:?}; only 2.0 is supported")]
    Version(String),
}

impl From<ParseError> for RequestError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Doctype => Self::Doctype,
            ParseError::TooDeep => Self::TooDeep,
            ParseError::Xml(m) => Self::Xml(m),
        }
    }
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
    /// `RequestedAuthnContext` (Core §3.3.2.2.1), if the SP sent one.
    pub requested_context: Option<Requested>,
}

pub fn parse(text: &str) -> Result<Document<'_>, RequestError> {
    Ok(xml::parse_untrusted(text, MAX_NODES)?)
}

/// The root's only child with this name, if any.
pub(super) fn child<'a, 'i>(
    root: Node<'a, 'i>,
    ns: &str,
    name: &'static str,
) -> Result<Option<Node<'a, 'i>>, RequestError> {
    let mut found = root
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(ns))
        .filter(|c| c.tag_name().name() == name);
    match (found.next(), found.next()) {
        (first, None) => Ok(first),
        _ => Err(RequestError::Duplicate(name)),
    }
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
    for (ns, name) in SINGLE_CHILDREN {
        child(root, ns, name)?;
    }
    // SAML Core §2.2.5: the Issuer is a string; read all of its text, as the canonical form
    // that was signed carries it (a comment inside must not cut it short).
    let issuer = child(root, ASSERTION, "Issuer")?.ok_or(RequestError::MissingField("Issuer"))?;
    let issuer = xml::simple_text(issuer).ok_or(RequestError::BadField("Issuer"))?;
    let issuer = issuer.trim();
    if issuer.is_empty() {
        return Err(RequestError::MissingField("Issuer"));
    }
    let acs_index = root
        .attribute("AssertionConsumerServiceIndex")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| RequestError::BadField("AssertionConsumerServiceIndex"))
        })
        .transpose()?;
    let requested_context = match child(root, PROTOCOL, "RequestedAuthnContext")? {
        Some(n) => Some(requested(n)?),
        None => None,
    };
    Ok(AuthnRequest {
        requested_context,
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

/// `RequestedAuthnContext`: its `Comparison` and its class references, in order (at most
/// 32; a `AuthnContextDeclRef` counts as a class nobody knows).
fn requested(n: Node) -> Result<Requested, RequestError> {
    let comparison = Comparison::parse(n.attribute("Comparison"))
        .ok_or(RequestError::BadField("RequestedAuthnContext Comparison"))?;
    let mut classes = Vec::new();
    for c in n.children().filter(|c| c.is_element()).take(32) {
        let text = xml::simple_text(c).ok_or(RequestError::BadField("RequestedAuthnContext"))?;
        let text = text.trim();
        match (c.tag_name().namespace(), c.tag_name().name()) {
            (Some(ASSERTION), "AuthnContextClassRef") => classes.push(text.to_string()),
            _ => classes.push(format!("unsupported:{}", c.tag_name().name())),
        }
    }
    Ok(Requested {
        comparison,
        classes,
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
    fn reads_the_requested_authn_context() {
        let with = REQ.replace(
            "</samlp:AuthnRequest>",
            "<samlp:RequestedAuthnContext Comparison=\"minimum\"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>",
        );
        let r = read(&parse(&with).unwrap()).unwrap();
        assert_eq!(
            r.requested_context,
            Some(Requested {
                comparison: Comparison::Minimum,
                classes: vec!["https://refeds.org/profile/mfa".into()]
            })
        );
        assert_eq!(read(&parse(REQ).unwrap()).unwrap().requested_context, None);
        let bad = with.replace("minimum", "sometimes");
        assert!(read(&parse(&bad).unwrap()).is_err());
    }

    #[test]
    fn the_issuer_is_read_whole_around_comments() {
        // Issue 11, finding 4: c14n drops the comment, so this is what a signature covers.
        let split = REQ.replace(" https://sp/meta ", "https://sp/signed<!---->X");
        assert_eq!(
            read(&parse(&split).unwrap()).unwrap().issuer,
            "https://sp/signedX"
        );
        let cdata = REQ.replace(" https://sp/meta ", "https://sp/<![CDATA[a]]><?pi x?>b");
        assert_eq!(
            read(&parse(&cdata).unwrap()).unwrap().issuer,
            "https://sp/ab"
        );
        let nested = REQ.replace(" https://sp/meta ", "https://sp/<x>y</x>");
        assert_eq!(
            read(&parse(&nested).unwrap()),
            Err(RequestError::BadField("Issuer"))
        );
    }

    #[test]
    fn a_second_issuer_or_other_single_child_is_refused() {
        // Issue 11, finding 6.
        let two = REQ.replace(
            "</saml:Issuer>",
            "</saml:Issuer><saml:Issuer>https://other/meta</saml:Issuer>",
        );
        assert_eq!(
            read(&parse(&two).unwrap()),
            Err(RequestError::Duplicate("Issuer"))
        );
        let policies = REQ.replace(
            "</saml:Issuer>",
            "</saml:Issuer><samlp:NameIDPolicy/><samlp:NameIDPolicy AllowCreate=\"true\"/>",
        );
        assert_eq!(
            read(&parse(&policies).unwrap()),
            Err(RequestError::Duplicate("NameIDPolicy"))
        );
        // An Issuer elsewhere (not the root's child) is not the request's.
        let inner = REQ.replace(
            "</saml:Issuer>",
            "</saml:Issuer><samlp:Extensions><saml:Issuer>x</saml:Issuer></samlp:Extensions>",
        );
        assert_eq!(
            read(&parse(&inner).unwrap()).unwrap().issuer,
            "https://sp/meta"
        );
    }

    #[test]
    fn nesting_is_bounded_before_a_tree_exists() {
        // Issue 11, finding 1: 9,000 levels in Extensions, about 62 KiB.
        let deep = |levels: usize| {
            REQ.replace(
                "</saml:Issuer>",
                &format!(
                    "</saml:Issuer><samlp:Extensions>{}{}</samlp:Extensions>",
                    "<e>".repeat(levels),
                    "</e>".repeat(levels)
                ),
            )
        };
        let hostile = deep(9_000);
        assert!(hostile.len() > 60 * 1024);
        assert_eq!(parse(&hostile).err(), Some(RequestError::TooDeep));
        // Root, Extensions and 62 more: exactly the cap, accepted.
        assert!(read(&parse(&deep(xml::MAX_DEPTH - 2)).unwrap()).is_ok());
        assert_eq!(
            parse(&deep(xml::MAX_DEPTH - 1)).err(),
            Some(RequestError::TooDeep)
        );
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
