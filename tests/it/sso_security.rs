//! SECURITY 1–10, each driven through the running server with hand-made requests: DTDs and
//! bombs, size caps, exact ACS matching, signature wrapping, Redirect signature rules, keys in
//! KeyInfo, replay, time window, Destination, RelayState escaping and attribute escaping.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{Duration, Utc};
use flate2::write::DeflateEncoder;
use openssl::hash::MessageDigest;
use openssl::sign::Signer;
use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;
use sesame::saml::dsig;
use sesame::saml::keys::{self, KeyKind, SigningKey};
use sesame::saml::response::instant;
use sesame::saml::settings::SsoChanges;
use sesame::saml::xml::XmlWriter;

use crate::sp::{xmlsec_verify, PostForm, World};
use crate::support::{Browser, Page};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A canonical AuthnRequest (so it can be signed as written); `head` ends after the Issuer.
struct Req {
    id: String,
    acs: String,
    destination: Option<String>,
    issued: chrono::DateTime<Utc>,
}

impl Req {
    fn new(w: &World) -> Req {
        Req {
            id: format!("_{}", sesame::auth::csrf::random_token(12)),
            acs: w.sp.acs(),
            destination: Some(format!("http://{}/saml2/demo", w.server.addr)),
            issued: Utc::now(),
        }
    }

    /// The XML and the offset after the Issuer (where an enveloped signature goes).
    fn xml(&self, issuer: &str) -> (String, usize) {
        let issued = instant(self.issued);
        let mut attrs = vec![
            ("xmlns:samlp", PROTOCOL),
            ("AssertionConsumerServiceURL", self.acs.as_str()),
            ("ID", self.id.as_str()),
            ("IssueInstant", issued.as_str()),
            ("Version", "2.0"),
        ];
        if let Some(d) = &self.destination {
            attrs.push(("Destination", d));
        }
        let mut x = XmlWriter::new();
        x.open("samlp:AuthnRequest", &attrs).leaf(
            "saml:Issuer",
            &[("xmlns:saml", ASSERTION)],
            issuer,
        );
        let split = x.len();
        x.leaf("samlp:NameIDPolicy", &[("AllowCreate", "true")], "");
        (x.finish(), split)
    }

    fn unsigned(&self, w: &World) -> String {
        self.xml(&w.sp.entity_id()).0
    }

    fn signed(&self, w: &World, key: &SigningKey) -> String {
        let (xml, split) = self.xml(&w.sp.entity_id());
        dsig::sign_enveloped(&xml, split, &self.id, key).expect("sign")
    }
}

fn deflate_b64(xml: &[u8]) -> String {
    let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml).unwrap();
    STANDARD.encode(e.finish().unwrap())
}

fn redirect_query(xml: &str, relay: Option<&str>) -> String {
    let mut q = format!("SAMLRequest={}", enc(&deflate_b64(xml.as_bytes())));
    if let Some(r) = relay {
        q.push_str(&format!("&RelayState={}", enc(r)));
    }
    q
}

/// Signs a Redirect query per Bindings §3.4.4.1 with `md` and the RSA key.
fn sign_query(q: &str, alg_uri: &str, key: &SigningKey, md: MessageDigest) -> String {
    let signed = format!("{q}&SigAlg={}", enc(alg_uri));
    let mut s = Signer::new(md, &key.key).unwrap();
    s.update(signed.as_bytes()).unwrap();
    let sig = STANDARD.encode(s.sign_to_vec().unwrap());
    format!("{signed}&Signature={}", enc(&sig))
}

async fn signed_in(w: &World) -> Browser {
    let mut b = w.browser();
    let page = b.login("alice", crate::sp::PASSWORD).await;
    assert_eq!(page.status, 303);
    b
}

async fn get(b: &mut Browser, query: &str) -> Page {
    b.get(&format!("/saml2/demo?{query}")).await
}

async fn post(w: &World, b: &mut Browser, xml: &str, relay: Option<&str>) -> Page {
    let b64 = STANDARD.encode(xml);
    let mut fields = vec![("SAMLRequest", b64.as_str())];
    if let Some(r) = relay {
        fields.push(("RelayState", r));
    }
    let page = b.post("/saml2/demo", &fields).await;
    if page.status == 303 {
        let to = page.location().unwrap().to_string();
        let next = b.get(&to).await;
        return w.follow(b, next, "alice").await;
    }
    page
}

/// A refusal page: 400, the reason shown, and no Response anywhere in it.
fn refused(page: &Page, reason: &str) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains(reason),
        "expected {reason:?} in {}",
        page.body
    );
    assert!(!page.body.contains("SAMLResponse"), "nothing is posted");
}

/// A Response form, its signatures checked by xmlsec1 with certificate.pem.
fn answered(page: &Page, w: &World) -> PostForm {
    let form =
        PostForm::from_page(page).unwrap_or_else(|| panic!("a Response form: {}", page.body));
    xmlsec_verify(&form.xml(), &w.cert);
    form
}

/// A SAML error status posted to the registered ACS.
fn status_error(page: &Page, w: &World, status: &str) -> String {
    let form = PostForm::from_page(page).unwrap_or_else(|| panic!("a status form: {}", page.body));
    assert_eq!(form.action, w.sp.acs());
    let xml = form.xml();
    assert!(xml.contains(status), "{xml}");
    assert!(!xml.contains("<saml:Assertion"), "no assertion in an error");
    xmlsec_verify(&xml, &w.cert);
    xml
}

#[tokio::test]
async fn doctype_entities_and_bombs_are_refused_on_both_bindings() {
    let w = World::new().await;
    let mut b = signed_in(&w).await;
    let (xml, _) = Req::new(&w).xml(&w.sp.entity_id());
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        xml.replace("</saml:Issuer>", "&x;</saml:Issuer>")
    );
    let laughs = format!(
        "<!doctype r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>{xml}"
    );
    for bad in [&xxe, &laughs] {
        refused(&get(&mut b, &redirect_query(bad, None)).await, "DOCTYPE");
        refused(&post(&w, &mut b, bad, None).await, "DOCTYPE");
    }
    // A DEFLATE bomb: 20 MiB of spaces is a few KiB on the wire.
    let bomb = deflate_b64(&vec![b' '; 20 << 20]);
    refused(
        &get(&mut b, &format!("SAMLRequest={}", enc(&bomb))).await,
        "too large",
    );
    // Oversized POST: past the XML cap, and past the body cap.
    let big = xml.replace(
        "</saml:Issuer>",
        &format!("{}</saml:Issuer>", "x".repeat(140 << 10)),
    );
    refused(&post(&w, &mut b, &big, None).await, "too large");
    let huge = "A".repeat(300 << 10);
    let page = b
        .post("/saml2/demo", &[("SAMLRequest", huge.as_str())])
        .await;
    // Over the body limit: 413, answered before any handler reads it.
    assert_eq!(page.status, 413, "{}", page.body);
    assert!(page.body.contains("too large"), "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"), "nothing is posted");
}

#[tokio::test]
async fn only_an_exactly_registered_acs_url_is_answered() {
    let w = World::new().await;
    let mut b = signed_in(&w).await;
    let acs = w.sp.acs();
    let port = w.sp.base.rsplit(':').next().unwrap().to_string();
    let near_misses = [
        acs.replace("/acs", "/ACS"),
        format!("{acs}/"),
        acs.replace(&port, "1"),
        acs.replace("http://", "https://"),
        format!("{acs}?next=x"),
        "https://evil.example/acs".to_string(),
    ];
    for bad in near_misses {
        let mut r = Req::new(&w);
        r.acs = bad.clone();
        let xml = r.unsigned(&w);
        refused(
            &get(&mut b, &redirect_query(&xml, None)).await,
            "not registered",
        );
        let mut r = Req::new(&w);
        r.acs = bad;
        refused(
            &post(&w, &mut b, &r.unsigned(&w), None).await,
            "not registered",
        );
    }
    // An index must be a registered one too; the registered index 0 is the SP's ACS.
    let xml = Req::new(&w).unsigned(&w);
    let by_index = |i: &str| {
        xml.replace(
            &format!("AssertionConsumerServiceURL=\"{acs}\""),
            &format!("AssertionConsumerServiceIndex=\"{i}\""),
        )
    };
    refused(
        &get(&mut b, &redirect_query(&by_index("5"), None)).await,
        "not registered",
    );
    // (The refused request was never recorded, so its ID is still fresh.)
    let page = get(&mut b, &redirect_query(&by_index("0"), None)).await;
    assert_eq!(answered(&page, &w).action, acs);
    // The exact URL works.
    let page = get(&mut b, &redirect_query(&Req::new(&w).unsigned(&w), None)).await;
    assert_eq!(answered(&page, &w).action, acs);
}

#[tokio::test]
async fn wrapped_and_foreign_signatures_are_refused() {
    let w = World::new().await;
    w.set(SsoChanges {
        require_signed_requests: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let mut b = signed_in(&w).await;
    let key = &w.sp_keys.active;
    // Baseline: a properly signed POST request is answered.
    let good = Req::new(&w).signed(&w, key);
    answered(&post(&w, &mut b, &good, None).await, &w);

    let original = Req::new(&w).signed(&w, key);
    let outer = Req::new(&w);
    let (outer_xml, _) = outer.xml(&w.sp.entity_id());
    // 1. The signed original hidden in Extensions of an unsigned request.
    let in_extensions = outer_xml.replace(
        "<samlp:NameIDPolicy",
        &format!("<samlp:Extensions>{original}</samlp:Extensions><samlp:NameIDPolicy"),
    );
    refused(
        &post(&w, &mut b, &in_extensions, None).await,
        "not a direct child",
    );
    // 2. The original inside ds:Object of a signature moved onto a new root.
    let sig_start = original.find("<ds:Signature ").unwrap();
    let sig_end = original.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &original[sig_start..sig_end];
    let stripped = format!("{}{}", &original[..sig_start], &original[sig_end..]);
    let with_object = sig.replace(
        "</ds:Signature>",
        &format!("<ds:Object>{stripped}</ds:Object></ds:Signature>"),
    );
    let (outer_xml, split) = outer.xml(&w.sp.entity_id());
    let in_object = format!(
        "{}{with_object}{}",
        &outer_xml[..split],
        &outer_xml[split..]
    );
    refused(
        &post(&w, &mut b, &in_object, None).await,
        "does not reference",
    );
    let with_signed_copy = in_object.replace(&stripped, &original);
    refused(
        &post(&w, &mut b, &with_signed_copy, None).await,
        "more than one signature",
    );
    // 3. Two signatures.
    let fresh = Req::new(&w).signed(&w, key);
    let s0 = fresh.find("<ds:Signature ").unwrap();
    let s1 = fresh.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let twice = format!("{}{}{}", &fresh[..s1], &fresh[s0..s1], &fresh[s1..]);
    refused(
        &post(&w, &mut b, &twice, None).await,
        "more than one signature",
    );
    // 4. Signed by an attacker's key that travels in KeyInfo: only the registered cert counts.
    let dir = tempfile::tempdir().unwrap();
    let attacker = keys::generate(dir.path(), KeyKind::Rsa, false).unwrap();
    let forged = Req::new(&w).signed(&w, &attacker.active);
    refused(
        &post(&w, &mut b, &forged, None).await,
        "registered certificate",
    );
    // 5. A field changed after signing.
    let tampered = Req::new(&w)
        .signed(&w, key)
        .replace("AllowCreate=\"true\"", "AllowCreate=\"false\"");
    refused(&post(&w, &mut b, &tampered, None).await, "digest mismatch");
}

#[tokio::test]
async fn redirect_signatures_follow_the_binding_rules() {
    let w = World::new().await;
    w.set(SsoChanges {
        require_signed_requests: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let mut b = signed_in(&w).await;
    let key = &w.sp_keys.active;
    let sha256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    let sha1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
    let fresh = |relay: Option<&str>| redirect_query(&Req::new(&w).unsigned(&w), relay);

    let ok = sign_query(&fresh(Some("r")), sha256, key, MessageDigest::sha256());
    answered(&get(&mut b, &ok).await, &w);
    let signed = sign_query(&fresh(None), sha256, key, MessageDigest::sha256());
    refused(
        &get(&mut b, &format!("{signed}&SigAlg={}", enc(sha256))).await,
        "more than once",
    );
    let no_alg = signed.replace(&format!("&SigAlg={}", enc(sha256)), "");
    refused(&get(&mut b, &no_alg).await, "no SigAlg");
    let unknown = sign_query(&fresh(None), "urn:x", key, MessageDigest::sha256());
    refused(&get(&mut b, &unknown).await, "not accepted");
    let relay_changed = sign_query(&fresh(Some("a")), sha256, key, MessageDigest::sha256())
        .replace("RelayState=a", "RelayState=b");
    refused(&get(&mut b, &relay_changed).await, "registered certificate");
    let old = sign_query(&fresh(None), sha1, key, MessageDigest::sha1());
    refused(&get(&mut b, &old).await, "SHA-1");
    // An app may opt in to SHA-1 for a legacy SP.
    w.set(SsoChanges {
        allow_sha1: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let old = sign_query(&fresh(None), sha1, key, MessageDigest::sha1());
    answered(&get(&mut b, &old).await, &w);
}

#[tokio::test]
async fn replay_time_window_and_destination_get_a_status_at_the_acs() {
    let w = World::new().await;
    let mut b = signed_in(&w).await;
    let req = Req::new(&w);
    let q = redirect_query(&req.unsigned(&w), None);
    let first = answered(&get(&mut b, &q).await, &w);
    assert!(first
        .xml()
        .contains(&format!("InResponseTo=\"{}\"", req.id)));
    status_error(&get(&mut b, &q).await, &w, "RequestDenied");
    // The same ID over the other binding is a replay too.
    status_error(
        &post(&w, &mut b, &req.unsigned(&w), None).await,
        &w,
        "RequestDenied",
    );

    let mut stale = Req::new(&w);
    stale.issued = Utc::now() - Duration::minutes(30);
    let xml = status_error(
        &get(&mut b, &redirect_query(&stale.unsigned(&w), None)).await,
        &w,
        "RequestDenied",
    );
    assert!(xml.contains("IssueInstant"));
    let mut future = Req::new(&w);
    future.issued = Utc::now() + Duration::minutes(30);
    status_error(
        &get(&mut b, &redirect_query(&future.unsigned(&w), None)).await,
        &w,
        "RequestDenied",
    );
    let mut elsewhere = Req::new(&w);
    elsewhere.destination = Some("https://other-idp.example/sso".into());
    let xml = status_error(
        &get(&mut b, &redirect_query(&elsewhere.unsigned(&w), None)).await,
        &w,
        "RequestDenied",
    );
    assert!(xml.contains("Destination"));
}

#[tokio::test]
async fn relay_state_is_echoed_exactly_escaped_and_never_carried_over() {
    let w = World::new().await;
    let mut b = signed_in(&w).await;
    let relay = "\"><script>alert(1)</script>{\"a\":\"b'c\"}&x=<y>";
    let page = get(
        &mut b,
        &redirect_query(&Req::new(&w).unsigned(&w), Some(relay)),
    )
    .await;
    assert!(!page.body.contains("<script>alert"), "escaped in the page");
    assert!(!page.body.contains("\"><script>"));
    let form = answered(&page, &w);
    assert_eq!(form.relay_state.as_deref(), Some(relay));
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["relay_state"], relay, "{verdict}");
    let next = get(&mut b, &redirect_query(&Req::new(&w).unsigned(&w), None)).await;
    assert_eq!(answered(&next, &w).relay_state, None);
    // CR/LF and over-long RelayState are refused.
    refused(
        &get(
            &mut b,
            &redirect_query(&Req::new(&w).unsigned(&w), Some("a\r\nb")),
        )
        .await,
        "RelayState",
    );
    let long = "x".repeat(1025);
    refused(
        &get(
            &mut b,
            &redirect_query(&Req::new(&w).unsigned(&w), Some(&long)),
        )
        .await,
        "RelayState",
    );
}

#[tokio::test]
async fn attribute_values_with_markup_arrive_as_text() {
    let w = World::new().await;
    let hostile = "</saml:AttributeValue><!----><x a=\"1\">]]>";
    let fields = UserFields {
        first_name: Some(hostile.into()),
        ..UserFields::default()
    };
    users::update(&w.server.db, &Actor::system(), "alice", &fields)
        .await
        .expect("update alice");
    let mut b = w.browser();
    let (verdict, form) = w.sso(&mut b, &[], "alice").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["attributes"]["firstName"][0], hostile);
    assert!(!form.xml().contains("<!--"), "no comment is ever emitted");
}
