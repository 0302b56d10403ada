//! Issue 11, findings 1 and 2, through the running server: anonymous requests built to crash a
//! worker or the process (a signed request nested thousands of levels deep, a DigestValue of
//! the wrong length) are refused with a page, and the server goes on answering normally.

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use flate2::write::DeflateEncoder;
use sesame::directory::{apps, Actor};
use sesame::saml::dsig;
use sesame::saml::keys::{KeyKind, SigningKey};
use sesame::saml::response::instant;
use sesame::saml::settings::{self, SsoChanges};
use sesame::saml::xml::XmlWriter;

use crate::support::{Browser, Page, TestDb, TestServer};

const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const ENTITY: &str = "https://sp.example/meta";
const ACS: &str = "https://sp.example/acs";

/// A server with app `demo` whose SP has a registered certificate (the path that verifies
/// embedded signatures), and nobody signed in.
struct Hostile {
    server: TestServer,
    sp: SigningKey,
    _db: TestDb,
}

impl Hostile {
    async fn start() -> Hostile {
        let db = TestDb::sqlite();
        let server = TestServer::start(&db).await;
        let actor = Actor::system();
        apps::add(
            &server.db,
            &actor,
            "demo",
            "generic",
            &apps::AppChanges::default(),
        )
        .await
        .expect("app");
        let sp = SigningKey::generate(KeyKind::Rsa).expect("SP key");
        let changes = SsoChanges {
            sp_entity_id: Some(ENTITY.into()),
            acs_urls: Some(vec![ACS.into()]),
            sp_certs_pem: Some(sp.cert_pem.clone()),
            ..SsoChanges::default()
        };
        settings::update(&server.db, &actor, "demo", &changes)
            .await
            .expect("sso settings");
        Hostile {
            server,
            sp,
            _db: db,
        }
    }

    /// A canonical AuthnRequest with `extensions` inside `samlp:Extensions`, signed with
    /// `key` (a structurally valid enveloped signature, Reference to the root's ID).
    fn signed(&self, extensions: &str, key: &SigningKey) -> String {
        let id = format!("_{}", sesame::auth::csrf::random_token(12));
        let now = instant(Utc::now());
        let destination = format!("http://{}/saml2/demo", self.server.addr);
        let mut w = XmlWriter::new();
        w.open(
            "samlp:AuthnRequest",
            &[
                ("xmlns:samlp", PROTOCOL),
                ("AssertionConsumerServiceURL", ACS),
                ("Destination", &destination),
                ("ID", &id),
                ("IssueInstant", &now),
                ("Version", "2.0"),
            ],
        )
        .leaf("saml:Issuer", &[("xmlns:saml", ASSERTION)], ENTITY);
        let split = w.len();
        w.open("samlp:Extensions", &[]).raw(extensions);
        dsig::sign_enveloped(&w.finish(), split, &id, key).expect("sign")
    }

    async fn post(&self, xml: &str) -> Page {
        let b64 = STANDARD.encode(xml);
        Browser::new(&self.server)
            .post("/saml2/demo", &[("SAMLRequest", b64.as_str())])
            .await
    }

    async fn redirect(&self, xml: &str) -> Page {
        let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(xml.as_bytes()).expect("deflate");
        let b64 = STANDARD.encode(e.finish().expect("deflate"));
        let q: String = url::form_urlencoded::byte_serialize(b64.as_bytes()).collect();
        Browser::new(&self.server)
            .get(&format!("/saml2/demo?SAMLRequest={q}"))
            .await
    }

    /// The process is alive and still serves SSO: health, and an ordinary signed request
    /// from the SP is checked and parked (303 to the same-origin continue URL).
    async fn still_answers(&self) {
        let health = Browser::new(&self.server).get("/healthz").await;
        assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
        let good = self.post(&self.signed("", &self.sp)).await;
        assert_eq!(good.status, 303, "{}", good.body);
        assert!(good
            .location()
            .is_some_and(|l| l.starts_with("/saml2/demo/continue?h=")));
    }
}

fn refused(page: &Page, reason: &str) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains(reason),
        "expected {reason:?} in {}",
        page.body
    );
    assert!(!page.body.contains("SAMLResponse"), "nothing is posted");
}

#[tokio::test]
async fn a_deeply_nested_signed_request_is_refused_and_the_server_lives() {
    let h = Hostile::start().await;
    h.still_answers().await;
    let attacker = SigningKey::generate(KeyKind::EcP256).expect("key");
    // 9,000 levels inside Extensions: about 62 KiB, under the node and size caps. Before the
    // fix, c14n recursed once per level and the stack overflow aborted the process.
    let levels = 9_000;
    let nest = format!("{}{}", "<e>".repeat(levels), "</e>".repeat(levels));
    for key in [&attacker, &h.sp] {
        let hostile = h.signed(&nest, key);
        refused(&h.post(&hostile).await, "levels deep");
        refused(&h.redirect(&hostile).await, "levels deep");
        h.still_answers().await;
    }
    h.server.stop().await;
}

#[tokio::test]
async fn a_digest_value_of_the_wrong_length_is_refused_and_the_server_lives() {
    let h = Hostile::start().await;
    let attacker = SigningKey::generate(KeyKind::Rsa).expect("key");
    for key in [&attacker, &h.sp] {
        let xml = h.signed("", key);
        let start = xml.find("<ds:DigestValue>").expect("digest") + "<ds:DigestValue>".len();
        let end = xml.find("</ds:DigestValue>").expect("digest");
        // Before the fix, each of these reached openssl::memcmp::eq, which panics on
        // unequal lengths: the worker died and the connection closed without an answer.
        for bad in [
            "AAAA",
            "",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let hostile = format!("{}{bad}{}", &xml[..start], &xml[end..]);
            refused(&h.post(&hostile).await, "DigestValue");
        }
        h.still_answers().await;
    }
    h.server.stop().await;
}
