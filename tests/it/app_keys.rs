//! A signing key per app (JumpCloud's per-app certificate.pem): two apps with different keys,
//! each SP accepting only the key it was given, a rollover of one app leaving the other
//! alone, an ECDSA app verified by xmlsec1, and a key written by another process (as
//! `sesame cert ... --app` does) signing the very next answer.

use sesame::directory::{apps, Actor};
use sesame::saml::keys::{self, KeyKind, KeyScope};
use sesame::saml::rollover;
use sesame::saml::settings::{self, SsoChanges};

use crate::sp::{xmlsec_check, xmlsec_verify, PostForm, Sp, World};
use crate::support::Browser;

/// App `other` for alice, with its own key (of `kind`) made before its SP loads its metadata.
async fn app_with_own_key(w: &World, kind: KeyKind) -> (Sp, std::path::PathBuf) {
    let actor = Actor::system();
    let db = &w.server.db;
    apps::add(db, &actor, "other", "generic", &apps::AppChanges::default())
        .await
        .expect("app");
    apps::set_binding(db, &actor, "other", "staff", true)
        .await
        .expect("grant");
    rollover::own_key(db, &w.server.config.certs_dir, &actor, "other", kind)
        .await
        .expect("own key");
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let mut b = w.browser();
    std::fs::write(
        dir.join("idp.xml"),
        b.get("/saml2/other/metadata").await.body,
    )
    .unwrap();
    let cert = dir.join("other.pem");
    std::fs::write(&cert, b.get("/saml2/other/certificate.pem").await.body).unwrap();
    keys::generate(&dir, KeyKind::Rsa, false).expect("SP key");
    let sp = Sp::start(
        &dir.join("idp.xml"),
        &dir.join("idp-signing.key"),
        &dir.join("idp-signing.crt"),
        None,
    );
    let changes = SsoChanges {
        sp_entity_id: Some(sp.entity_id()),
        acs_urls: Some(vec![sp.acs()]),
        ..SsoChanges::default()
    };
    settings::update(db, &actor, "other", &changes)
        .await
        .expect("sso");
    (sp, cert)
}

/// Alice signs in to `other` through its SP; the Response form and the SP's verdict.
async fn sso_other(w: &World, sp: &Sp, b: &mut Browser) -> (PostForm, serde_json::Value) {
    let instruction = sp.login(&[("binding", "redirect")]).await;
    let page = w.send(b, &instruction).await;
    let page = w.follow(b, page, "alice").await;
    let form = PostForm::from_page(&page).expect("a Response form");
    let verdict = sp.post_acs(&form).await;
    (form, verdict)
}

fn certificates(metadata: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(metadata).expect("metadata");
    doc.descendants()
        .filter(|n| n.has_tag_name("X509Certificate") || n.tag_name().name() == "X509Certificate")
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn two_apps_with_different_keys_each_verified_only_with_its_own() {
    let w = World::new().await;
    let (other, other_cert) = app_with_own_key(&w, KeyKind::Rsa).await;
    let mut b = w.browser();
    let shared = std::fs::read_to_string(&w.cert).unwrap();
    assert_ne!(std::fs::read_to_string(&other_cert).unwrap(), shared);

    let (form, verdict) = sso_other(&w, &other, &mut b).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    xmlsec_verify(&form.xml(), &other_cert);
    assert!(
        xmlsec_check(&form.xml(), &w.cert).is_err(),
        "the shared certificate does not verify the app's own key's signature"
    );
    // demo still signs with the shared key, which its SP accepts.
    let (verdict, form) = w.sso(&mut b, &[("binding", "redirect")], "alice").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert!(xmlsec_check(&form.xml(), &other_cert).is_err());

    // demo's SP knows only the shared key: once demo has a key of its own, which nobody gave
    // that SP, it refuses demo's assertions.
    rollover::own_key(
        &w.server.db,
        &w.server.config.certs_dir,
        &Actor::system(),
        "demo",
        KeyKind::Rsa,
    )
    .await
    .expect("own key");
    let instruction = w.sp.login(&[("binding", "redirect")]).await;
    let page = w.send(&mut b, &instruction).await;
    let form = PostForm::from_page(&w.follow(&mut b, page, "alice").await).expect("form");
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], false, "{verdict}");
}

#[tokio::test]
async fn a_rollover_of_one_app_leaves_the_other_untouched() {
    let w = World::new().await;
    let (_other, _) = app_with_own_key(&w, KeyKind::Rsa).await;
    let mut b = w.browser();
    let demo_before = certificates(&b.get("/saml2/demo/metadata").await.body);
    let other_before = certificates(&b.get("/saml2/other/metadata").await.body);
    assert_eq!((demo_before.len(), other_before.len()), (1, 1));
    assert_ne!(demo_before, other_before);

    let scope = KeyScope::App("other".into());
    let certs_dir = &w.server.config.certs_dir;
    rollover::stage_next(
        &w.server.db,
        certs_dir,
        &Actor::system(),
        &scope,
        KeyKind::Rsa,
    )
    .await
    .expect("stage");
    let other_staged = certificates(&b.get("/saml2/other/metadata").await.body);
    assert_eq!(other_staged.len(), 2, "the app's next key is published");
    assert_eq!(other_staged[0], other_before[0]);
    assert_eq!(
        certificates(&b.get("/saml2/demo/metadata").await.body),
        demo_before
    );
    rollover::activate_next(&w.server.db, certs_dir, &Actor::system(), &scope)
        .await
        .expect("activate");
    let other_after = certificates(&b.get("/saml2/other/metadata").await.body);
    assert_eq!(other_after, vec![other_staged[1].clone()]);
    assert_eq!(
        certificates(&b.get("/saml2/demo/metadata").await.body),
        demo_before
    );
    // The shared key has no next key: the app's rollover was its own.
    assert!(
        rollover::activate_next(&w.server.db, certs_dir, &Actor::system(), &KeyScope::Shared)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_ecdsa_app_is_verified_by_xmlsec1_and_signed_metadata_too() {
    let w = World::new().await;
    let (other, other_cert) = app_with_own_key(&w, KeyKind::EcP256).await;
    let mut b = w.browser();
    let (form, _) = sso_other(&w, &other, &mut b).await;
    assert!(form.xml().contains("ecdsa-sha256"), "signed with ECDSA");
    xmlsec_verify(&form.xml(), &other_cert);

    let signed = b.get("/saml2/other/metadata?signed=1").await.body;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("md.xml");
    std::fs::write(&file, &signed).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args([
            "--verify",
            "--enabled-key-data",
            "key-name,x509",
            "--pubkey-cert-pem",
        ])
        .arg(&other_cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(&file)
        .output()
        .expect("xmlsec1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_key_written_by_another_process_signs_the_next_answer() {
    let w = World::new().await;
    let (other, _) = app_with_own_key(&w, KeyKind::Rsa).await;
    let mut b = w.browser();
    // As `sesame cert generate --app other --force` would not: replace the app's key files
    // under the running server, telling it nothing.
    let dir = KeyScope::App("other".into()).dir(&w.server.config.certs_dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let fresh = keys::generate(&dir, KeyKind::EcP256, false).unwrap();
    let cert = dir.join("fresh.pem");
    std::fs::write(&cert, &fresh.active.cert_pem).unwrap();
    let (form, _) = sso_other(&w, &other, &mut b).await;
    xmlsec_verify(&form.xml(), &cert);
}
