//! Encrypted assertions (SAML Core §2.3.4, §6; issue 13): the pysaml2 SP decrypts and
//! accepts them through the real sign-in flow, `xmlsec1 --decrypt` opens them with the SP's
//! key and the assertion inside verifies with the IdP certificate, the readable assertion
//! appears nowhere in what the browser carries, and a certificate that cannot be encrypted
//! to is refused when it is configured (API, console, CLI), not at sign-in.

use std::path::Path;
use std::process::Command;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder};
use serde_json::{json, Value};
use sesame::auth::password::Password;
use sesame::auth::tokens;
use sesame::directory::users::{self, UserFields};
use sesame::directory::{apps, groups, Actor};
use sesame::saml::encrypt::{Encryption, AES128_CBC, AES256_GCM, RSA_OAEP_MGF1P};
use sesame::saml::keys::{KeyKind, SigningKey};
use sesame::saml::settings::{self, SsoChanges};

use crate::sp::{html_unescape, xmlsec_verify, PostForm, World};
use crate::support::{test_config, Browser, TestDb, TestServer};

/// Encrypts the demo app's assertions with `encryption` to `cert_pem`.
async fn encrypt_to(w: &World, encryption: &str, cert_pem: &str) {
    w.set(SsoChanges {
        encryption: Some(encryption.into()),
        sp_encryption_cert_pem: Some(cert_pem.into()),
        ..SsoChanges::default()
    })
    .await;
}

/// The SP-initiated round as a browser makes it, up to the form it would post to the SP.
async fn sign_in(w: &World, b: &mut Browser, params: &[(&str, &str)]) -> PostForm {
    let instruction = w.sp.login(params).await;
    let first = w.send(b, &instruction).await;
    let page = w.follow(b, first, "alice").await;
    PostForm::from_page(&page)
        .unwrap_or_else(|| panic!("a Response form, got {}: {}", page.status, page.body))
}

/// What the browser carries holds nothing of the assertion but ciphertext.
fn assert_sealed(xml: &str, content: &str) {
    assert!(xml.contains("<saml:EncryptedAssertion "), "{xml}");
    assert!(
        !xml.contains("<saml:Assertion"),
        "no readable assertion: {xml}"
    );
    for secret in [
        "alice",
        "NameID",
        "AttributeValue",
        "Subject",
        "SessionIndex",
    ] {
        assert!(!xml.contains(secret), "{secret} shows: {xml}");
    }
    assert!(
        xml.contains(&format!("Algorithm=\"{content}\"")),
        "{content}: {xml}"
    );
    assert!(
        xml.contains(&format!("Algorithm=\"{RSA_OAEP_MGF1P}\"")),
        "{xml}"
    );
}

/// `xmlsec1 --decrypt` with the SP's private key: the Response with the assertion in clear.
fn xmlsec_decrypt(xml: &str, key: &Path) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("response.xml");
    std::fs::write(&file, xml).expect("write response");
    let out = Command::new("xmlsec1")
        .arg("--decrypt")
        .arg("--privkey-pem")
        .arg(key)
        .arg(&file)
        .output()
        .expect("xmlsec1 must be installed (make test installs it)");
    assert!(
        out.status.success(),
        "xmlsec1 --decrypt failed: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// `xmlsec1 --verify` of the decrypted assertion's own signature, with the IdP certificate
/// only (keys in the document are not trusted) and the Assertion's `ID` as the id attribute.
/// (A Response signature, when there is one, covers the encrypted form and is checked there.)
fn xmlsec_verify_assertion(clear: &str, cert: &Path) {
    assert!(clear.contains("<saml:Assertion "), "{clear}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("decrypted.xml");
    std::fs::write(&file, clear).expect("write");
    let out = Command::new("xmlsec1")
        .args([
            "--verify",
            "--enabled-key-data",
            "key-name,x509",
            "--pubkey-cert-pem",
        ])
        .arg(cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--node-xpath",
            "//*[local-name()='Assertion']/*[local-name()='Signature']",
        ])
        .arg(&file)
        .output()
        .expect("xmlsec1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("OK"),
        "xmlsec1 --verify of the decrypted assertion failed: {err}\n{clear}"
    );
}

#[tokio::test]
async fn pysaml2_decrypts_an_aes256_gcm_assertion_and_xmlsec1_verifies_it() {
    let w = World::encrypting().await;
    let enc = w.sp_enc.as_ref().expect("the SP's encryption key");
    encrypt_to(&w, "aes256-gcm", &enc.cert_pem).await;
    let mut b = w.browser();

    let form = sign_in(&w, &mut b, &[("binding", "redirect")]).await;
    let xml = form.xml();
    assert_sealed(&xml, AES256_GCM);
    let clear = xmlsec_decrypt(&xml, &enc.key);
    assert!(
        clear.contains(">alice@example.com</saml:NameID>"),
        "{clear}"
    );
    xmlsec_verify_assertion(&clear, &w.cert);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["encrypted"], true, "{verdict}");
    assert_eq!(verdict["name_id"], "alice@example.com");
    assert_eq!(verdict["attributes"]["email"][0], "alice@example.com");
    assert_eq!(verdict["attributes"]["groups"][0], "staff");

    // A signed Response around it: its signature covers the EncryptedAssertion.
    w.set(SsoChanges {
        sign_response: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let form = sign_in(&w, &mut b, &[("binding", "post")]).await;
    let xml = form.xml();
    assert_sealed(&xml, AES256_GCM);
    xmlsec_verify(&xml, &w.cert);
    xmlsec_verify_assertion(&xmlsec_decrypt(&xml, &enc.key), &w.cert);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["encrypted"], true, "{verdict}");

    // Encrypted to a key the SP does not hold, the assertion is of no use to it.
    let stranger = SigningKey::generate(KeyKind::Rsa).unwrap();
    encrypt_to(&w, "aes256-gcm", &stranger.cert_pem).await;
    let form = sign_in(&w, &mut b, &[("binding", "redirect")]).await;
    assert_sealed(&form.xml(), AES256_GCM);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
}

#[tokio::test]
async fn the_legacy_choice_is_aes128_cbc_and_an_idp_initiated_launch_is_encrypted_too() {
    let w = World::encrypting().await;
    let enc = w.sp_enc.as_ref().expect("the SP's encryption key");
    encrypt_to(&w, "legacy", &enc.cert_pem).await;
    let mut b = w.browser();
    let first = b.get("/saml2/demo/launch").await;
    let page = w.follow(&mut b, first, "alice").await;
    let form = PostForm::from_page(&page).expect("form");
    let xml = form.xml();
    assert_sealed(&xml, AES128_CBC);
    xmlsec_verify_assertion(&xmlsec_decrypt(&xml, &enc.key), &w.cert);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["encrypted"], true, "{verdict}");
    assert_eq!(verdict["name_id"], "alice@example.com");

    // Switched off, the assertion is readable again.
    w.set(SsoChanges {
        encryption: Some("off".into()),
        ..SsoChanges::default()
    })
    .await;
    let (verdict, form) = w.sso(&mut b, &[("binding", "redirect")], "alice").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["encrypted"], false, "{verdict}");
    assert!(form.xml().contains("<saml:Assertion "));
}

/// An RSA certificate that ran out yesterday.
fn expired_cert() -> String {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "old.sp.example").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let now = chrono::Utc::now().timestamp();
    b.set_not_before(&Asn1Time::from_unix(now - 30 * 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now - 86_400).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().to_pem().unwrap()).unwrap()
}

const ADMIN_PW: &str = "correct horse battery";

/// A server with an admin `root` (and its API token), and the app `demo`.
async fn admin_server() -> (TestDb, TestServer, String) {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(test_config(&db.url)).await;
    let fields = UserFields {
        email: Some("root@example.com".into()),
        is_admin: Some(true),
        ..UserFields::default()
    };
    let pw = Password::new(ADMIN_PW.into()).unwrap();
    users::add(&server.db, &Actor::system(), "root", &fields, Some(&pw))
        .await
        .unwrap();
    apps::add(
        &server.db,
        &Actor::system(),
        "demo",
        "generic",
        &apps::AppChanges::default(),
    )
    .await
    .unwrap();
    let token = tokens::create(&server.db, &Actor::cli(), "ci", "root")
        .await
        .unwrap();
    (db, server, token)
}

/// The console's one-time message on the page a form lands on.
fn flash(body: &str) -> String {
    let at = body.find("id=\"flash\"").expect("a flash message");
    let text = &body[at + body[at..].find('>').unwrap() + 1..];
    html_unescape(&text[..text.find("</p>").unwrap()])
}

#[tokio::test]
async fn a_wrong_certificate_is_refused_when_configured_in_api_console_and_cli() {
    let (db, server, token) = admin_server().await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/apps/demo/sso", server.addr);
    let patch = |body: Value| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let res = http
                .patch(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let ec = SigningKey::generate(KeyKind::EcP256).unwrap();
    let small = {
        let key = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        String::from_utf8(b.build().to_pem().unwrap()).unwrap()
    };
    let expired = expired_cert();
    let wrong = [
        ("not a certificate", "is not a PEM certificate"),
        (ec.cert_pem.as_str(), "has an EC key"),
        (small.as_str(), "1024-bit RSA key"),
        (expired.as_str(), "expired on"),
    ];
    for (pem, why) in wrong {
        let (status, body) = patch(json!({
            "encryption": "aes256-gcm",
            "sp_encryption_certificate": pem,
        }))
        .await;
        assert_eq!(status, 400, "{why}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("The SP encryption certificate") && msg.contains(why),
            "{why}: {msg}"
        );
    }
    let (status, body) = patch(json!({ "encryption": "aes256-gcm" })).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("need the SP encryption certificate"),
        "{body}"
    );
    let (status, body) = patch(json!({ "encryption": "rsa-1_5" })).await;
    assert_eq!(status, 400, "{body}");
    // Nothing changed.
    let (_, row) = settings::get(&server.db, "demo").await.unwrap();
    assert_eq!(row.encryption.as_str(), "off");
    assert_eq!(row.sp_encryption_cert, "");

    // A good one is kept, and shown.
    let good = SigningKey::generate(KeyKind::Rsa).unwrap();
    let (status, body) = patch(json!({
        "encryption": "aes256-gcm",
        "sp_encryption_certificate": good.cert_pem,
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["encryption"], "aes256-gcm");
    assert_eq!(
        body["sp_encryption_certificate"]["sha256_fingerprint"],
        good.fingerprint
    );

    // The console says the same, and changes nothing either.
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ADMIN_PW).await.status, 303);
    let page = b.get("/admin/apps/demo/sso").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&good.fingerprint), "the registered one");
    let csrf = page.csrf();
    let form = |encryption: &'static str, pem: String| {
        vec![
            ("sp_entity_id", "https://sp.example/"),
            ("acs_urls", "https://sp.example/acs"),
            ("nameid_format", "email"),
            ("nameid_source", "email"),
            ("attributes", ""),
            ("relay_state", ""),
            ("idp_entity_id", ""),
            ("sp_certificate", ""),
            ("encryption", encryption),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .chain([("sp_encryption_certificate", pem), ("csrf", csrf.clone())])
        .collect::<Vec<_>>()
    };
    for (pem, why) in wrong {
        let f = form("aes256-gcm", pem.to_string());
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = b.post("/admin/apps/demo/sso", &pairs).await;
        // Shown again in place, the certificate field marked, the text kept.
        assert_eq!(res.status, 400, "{}", res.body);
        let at = res
            .body
            .find("id=\"err-sp_encryption_certificate\"")
            .expect("the message at the certificate field");
        let msg = flash(&res.body[at - 30..].replacen("err-sp_encryption_certificate", "flash", 1));
        assert!(
            msg.contains("The SP encryption certificate") && msg.contains(why),
            "{why}: {msg}"
        );
        assert!(res
            .body
            .contains("aria-describedby=\"err-sp_encryption_certificate\""));
    }
    let (_, row) = settings::get(&server.db, "demo").await.unwrap();
    assert_eq!(row.sp_encryption_cert, good.cert_pem, "unchanged");
    assert_eq!(row.sp_entity_id, "", "nothing else either");
    // Legacy, chosen in the console, is shown with its warning.
    let f = form("legacy", String::new());
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = b.post("/admin/apps/demo/sso", &pairs).await;
    let page = b.get(res.location().unwrap()).await;
    assert_eq!(flash(&page.body), "SSO settings saved.");
    assert!(
        page.body.contains("id=\"encryption-legacy\""),
        "{}",
        page.body
    );

    // And the CLI: a one-line reason, a non-zero exit, nothing changed.
    let dir = tempfile::tempdir().unwrap();
    for (i, (pem, why)) in wrong.iter().enumerate() {
        let file = dir.path().join(format!("cert{i}.pem"));
        std::fs::write(&file, pem).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(["app", "sso", "demo", "--encryption", "aes256-gcm"])
            .arg("--encryption-cert")
            .arg(&file)
            .env("SESAME_DATABASE_URL", &db.url)
            .env("SESAME_CERTS_DIR", &server.config.certs_dir)
            .env_remove("SESAME_CONFIG")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run sesame");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{why}");
        assert!(
            err.contains("The SP encryption certificate") && err.contains(why),
            "{why}: {err}"
        );
    }
    let (_, row) = settings::get(&server.db, "demo").await.unwrap();
    assert_eq!(row.sp_encryption_cert, good.cert_pem, "unchanged");
    assert_eq!(row.encryption.as_str(), "legacy");
    server.stop().await;
}

#[tokio::test]
async fn metadata_import_fills_the_encryption_certificate_and_the_preview_says_so() {
    let (_db, server, token) = admin_server().await;
    let signing = SigningKey::generate(KeyKind::Rsa).unwrap();
    let enc = SigningKey::generate(KeyKind::Rsa).unwrap();
    let descriptor = |usage: &str, key: &SigningKey| {
        format!(
            "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
             <ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data>\
             </ds:KeyInfo></md:KeyDescriptor>",
            key.cert_b64
        )
    };
    let metadata = format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://sp.example/\">\
         <md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{}{}\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" \
         Location=\"https://sp.example/acs\" index=\"0\"/></md:SPSSODescriptor></md:EntityDescriptor>",
        descriptor("signing", &signing),
        descriptor("encryption", &enc),
    );
    let res = reqwest::Client::new()
        .put(format!(
            "http://{}/api/v1/apps/demo/sso/metadata",
            server.addr
        ))
        .bearer_auth(&token)
        .json(&json!({ "xml": metadata }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(
        view["sp_encryption_certificate"]["sha256_fingerprint"], enc.fingerprint,
        "{view}"
    );
    assert_eq!(view["sp_certificates"], 1, "the signing one only");
    assert_eq!(view["encryption"], "off", "importing does not switch it on");

    // Switched on, the preview shows the assertion readable, and says the SP gets it
    // encrypted.
    settings::update(
        &server.db,
        &Actor::system(),
        "demo",
        &SsoChanges {
            encryption: Some("aes256-gcm".into()),
            ..SsoChanges::default()
        },
    )
    .await
    .unwrap();
    server.user("alice", ADMIN_PW).await;
    groups::add(&server.db, &Actor::system(), "staff", "")
        .await
        .unwrap();
    groups::set_member(&server.db, &Actor::system(), "staff", "alice", true)
        .await
        .unwrap();
    apps::set_binding(&server.db, &Actor::system(), "demo", "staff", true)
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ADMIN_PW).await.status, 303);
    let page = b.get("/admin/apps/demo/sso?preview=alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("id=\"preview-encrypted\""),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("receives this assertion encrypted (AES-256-GCM"));
    let shown = page
        .body
        .split("<pre class=\"xml\" tabindex=\"0\">")
        .nth(1)
        .expect("the XML");
    assert!(
        html_unescape(&shown[..shown.find("</pre>").unwrap()])
            .contains(">alice@example.com</saml:NameID>"),
        "shown before encryption: {shown}"
    );
    let preview: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/apps/demo/sso/preview?user=alice",
            server.addr
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let check = preview["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "Encryption")
        .expect("an Encryption check");
    assert_eq!(check["ok"], true);
    assert!(
        check["detail"].as_str().unwrap().contains(&enc.fingerprint),
        "{check}"
    );
    server.stop().await;
}

/// The setting is a word in the database and an `Encryption` in the code, on both backends
/// (migration 0014); an unknown word in the column is an error, never "off".
#[tokio::test]
async fn the_settings_round_trip_through_the_store_on_both_backends() {
    let sqlite = TestDb::sqlite();
    let pg = TestDb::postgres().await;
    let good = SigningKey::generate(KeyKind::Rsa).unwrap();
    for testdb in std::iter::once(&sqlite).chain(pg.as_ref()) {
        let db = testdb.connect().await;
        let sys = Actor::system();
        apps::add(&db, &sys, "demo", "generic", &apps::AppChanges::default())
            .await
            .unwrap();
        let (_, fresh) = settings::get(&db, "demo").await.unwrap();
        assert_eq!(fresh.encryption, Encryption::Off);
        for choice in [Encryption::Legacy, Encryption::Aes256Gcm] {
            let changes = SsoChanges {
                sp_entity_id: Some("https://sp.example/".into()),
                encryption: Some(choice.as_str().into()),
                sp_encryption_cert_pem: Some(good.cert_pem.clone()),
                ..SsoChanges::default()
            };
            let saved = settings::update(&db, &sys, "demo", &changes).await.unwrap();
            let (_, read) = settings::get(&db, "demo").await.unwrap();
            assert_eq!(read, saved);
            assert_eq!(read.encryption, choice);
            assert_eq!(read.sp_encryption_cert, good.cert_pem);
        }
        let mut conn = db.write().await.unwrap();
        sqlx::query("UPDATE app_sso SET encryption = 'rot13'")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert!(settings::get(&db, "demo").await.is_err());
    }
}
