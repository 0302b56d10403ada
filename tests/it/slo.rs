//! Single Logout (SAML Profiles §4.4) with two real pysaml2 SPs in one portal session:
//! SP-initiated over both bindings reaching the other SP, PartialLogout when an SP is down,
//! IdP-initiated from the portal, and signed, forged and replayed LogoutRequests.

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use sesame::directory::{apps, Actor};
use sesame::saml::keys::{self, KeyKind};
use sesame::saml::settings::{self, SsoChanges};

use crate::sp::{Sp, World};
use crate::support::{Browser, Page};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const PARTIAL: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";

/// App `other` for alice (through group staff), with its own pysaml2 SP and Single Logout.
async fn second_app(w: &World, binding: &str) -> Sp {
    let actor = Actor::system();
    let db = &w.server.db;
    let label = apps::AppChanges {
        label: Some("Other App".into()),
        ..apps::AppChanges::default()
    };
    apps::add(db, &actor, "other", "generic", &label)
        .await
        .expect("app");
    apps::set_binding(db, &actor, "other", "staff", true)
        .await
        .expect("grant");
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let mut b = w.browser();
    let md = dir.join("idp.xml");
    std::fs::write(&md, b.get("/saml2/other/metadata").await.body).expect("metadata");
    let sp_keys = keys::generate(&dir, KeyKind::Rsa, false).expect("SP key");
    let sp = Sp::start(
        &md,
        &dir.join("idp-signing.key"),
        &dir.join("idp-signing.crt"),
        None,
    );
    let changes = SsoChanges {
        sp_entity_id: Some(sp.entity_id()),
        acs_urls: Some(vec![sp.acs()]),
        slo_url: Some(format!("{}/slo", sp.base)),
        slo_binding: Some(binding.into()),
        // With its certificate registered, its logout messages must be signed.
        sp_certs_pem: Some(sp_keys.active.cert_pem.clone()),
        ..SsoChanges::default()
    };
    settings::update(db, &actor, "other", &changes)
        .await
        .expect("sso");
    sp
}

/// `demo`'s SP takes Single Logout with this binding.
async fn with_slo(w: &World, binding: &str) {
    w.set(SsoChanges {
        slo_url: Some(format!("{}/slo", w.sp.base)),
        slo_binding: Some(binding.into()),
        ..SsoChanges::default()
    })
    .await;
}

/// Alice signs in to `demo` and then to `other` in one portal session; her NameID.
async fn sign_in_to_both(w: &World, other: &Sp, b: &mut Browser) -> String {
    let (verdict, _) = w.sso(b, &[("binding", "redirect")], "alice").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let instruction = other.login(&[("binding", "redirect")]).await;
    let page = w.send(b, &instruction).await;
    let page = w.follow(b, page, "alice").await;
    let verdict = other.deliver(&page).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let name_id = verdict["name_id"].as_str().expect("name_id").to_string();
    assert_eq!(w.sp.sessions().await, vec![name_id.clone()]);
    assert_eq!(other.sessions().await, vec![name_id.clone()]);
    name_id
}

async fn signed_out_of_sesame(b: &mut Browser) -> bool {
    b.get("/")
        .await
        .location()
        .is_some_and(|l| l.starts_with("/login"))
}

async fn events(w: &World, name: &str) -> Vec<Value> {
    let mut conn = w.server.db.read().await.expect("db");
    let filter = sesame::store::events::EventFilter {
        name: Some(name.into()),
        app_slug: None,
        username: None,
        outcome: None,
        limit: 100,
        ..Default::default()
    };
    sesame::store::events::list(&mut conn, &filter)
        .await
        .expect("events")
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "app_slug": e.app_slug,
                "outcome": e.outcome,
                "username": e.username,
                "detail": serde_json::from_str::<Value>(&e.detail).expect("detail"),
            })
        })
        .collect()
}

#[tokio::test]
async fn sp_initiated_logout_over_both_bindings_reaches_the_other_sp() {
    for binding in ["redirect", "post"] {
        let w = World::new().await;
        with_slo(&w, binding).await;
        let other = second_app(&w, binding).await;
        let mut b = w.browser();
        let name_id = sign_in_to_both(&w, &other, &mut b).await;

        // demo's SP asks sesame; sesame sends the browser on to the other SP...
        let ask = w.sp.logout(&name_id, binding, false).await;
        assert_eq!(
            ask["method"],
            if binding == "post" { "POST" } else { "GET" }
        );
        let to_other = w.send(&mut b, &ask).await;
        assert!(
            signed_out_of_sesame(&mut b).await,
            "{binding}: the portal session ended"
        );
        let answer = other.deliver(&to_other).await;
        assert_eq!(answer["kind"], "request", "{binding}: {answer}");
        assert_eq!(answer["logged_out"], name_id.as_str());
        assert!(
            other.sessions().await.is_empty(),
            "{binding}: the other SP's session ended"
        );

        // ...whose LogoutResponse brings it back, and the asking SP gets Success.
        let to_demo = w.send(&mut b, &answer).await;
        let done = w.sp.deliver(&to_demo).await;
        assert_eq!(done["kind"], "response", "{binding}: {done}");
        assert_eq!(done["status"], SUCCESS, "{binding}: {done}");
        assert_eq!(
            done["sub_status"],
            Value::Null,
            "{binding}: no PartialLogout"
        );
        assert!(
            w.sp.sessions().await.is_empty(),
            "{binding}: demo's SP logged out"
        );

        let complete = events(&w, "slo_complete").await;
        assert_eq!(complete.len(), 1, "{binding}: {complete:?}");
        assert_eq!(complete[0]["outcome"], "success");
        let propagated = events(&w, "slo_propagate").await;
        assert_eq!(propagated.len(), 1);
        assert_eq!(propagated[0]["app_slug"], "other");
        assert_eq!(propagated[0]["outcome"], "success");
    }
}

#[tokio::test]
async fn an_sp_that_is_down_makes_a_partial_logout_without_stopping_the_chain() {
    let w = World::new().await;
    with_slo(&w, "redirect").await;
    let other = second_app(&w, "redirect").await;
    let mut b = w.browser();
    let name_id = sign_in_to_both(&w, &other, &mut b).await;
    drop(other); // the other SP goes down

    let ask = w.sp.logout(&name_id, "redirect", false).await;
    let to_demo = w.send(&mut b, &ask).await;
    let done = w.sp.deliver(&to_demo).await;
    assert_eq!(done["status"], SUCCESS, "{done}");
    assert_eq!(done["sub_status"], PARTIAL, "{done}");
    assert!(signed_out_of_sesame(&mut b).await);
    let propagated = events(&w, "slo_propagate").await;
    assert_eq!(propagated.len(), 1);
    assert_eq!(propagated[0]["outcome"], "failure");
    assert_eq!(
        propagated[0]["detail"]["reason"],
        "the logout URL did not answer"
    );
}

#[tokio::test]
async fn the_portal_sign_out_logs_out_of_every_sp() {
    let w = World::new().await;
    with_slo(&w, "redirect").await;
    let other = second_app(&w, "post").await;
    let mut b = w.browser();
    let name_id = sign_in_to_both(&w, &other, &mut b).await;

    let confirm = b.get("/logout").await;
    let mut page: Page = b.post("/logout", &[("csrf", &confirm.csrf())]).await;
    // One SP after another, in the order they were signed in to; then the login page.
    for sp in [&w.sp, &other] {
        let answer = sp.deliver(&page).await;
        assert_eq!(answer["kind"], "request", "{answer}");
        assert_eq!(answer["logged_out"], name_id.as_str());
        assert!(sp.sessions().await.is_empty());
        page = w.send(&mut b, &answer).await;
    }
    assert_eq!(page.location(), Some("/login?logged_out=1"));
    assert!(signed_out_of_sesame(&mut b).await);
    let complete = events(&w, "slo_complete").await;
    assert_eq!(complete.len(), 1, "{complete:?}");
    assert_eq!(complete[0]["outcome"], "success");
    assert_eq!(complete[0]["detail"]["initiated"], "idp");
    assert_eq!(events(&w, "slo_propagate").await.len(), 2);
}

#[tokio::test]
async fn signed_logout_requests_are_verified_and_forged_or_replayed_ones_refused() {
    let w = World::new().await;
    with_slo(&w, "redirect").await;
    w.set(SsoChanges {
        require_signed_requests: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let mut b = w.browser();
    let (verdict, _) = w
        .sso(&mut b, &[("binding", "redirect"), ("sign", "1")], "alice")
        .await;
    let name_id = verdict["name_id"].as_str().expect("name_id").to_string();

    // Unsigned: refused, and nothing ends.
    let unsigned = w.sp.logout(&name_id, "redirect", false).await;
    let page = w.send(&mut b, &unsigned).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("not signed"), "{}", page.body);
    assert!(!signed_out_of_sesame(&mut b).await);

    // Forged: the signature no longer matches the query.
    let signed = w.sp.logout(&name_id, "redirect", true).await;
    let url = signed["url"].as_str().expect("url");
    let forged = url.replacen("Signature=", "Signature=AAAA", 1);
    let page = w
        .send(&mut b, &serde_json::json!({"method": "GET", "url": forged}))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!signed_out_of_sesame(&mut b).await);

    // Signed: accepted, and the answer is Success.
    let page = w.send(&mut b, &signed).await;
    let done = w.sp.deliver(&page).await;
    assert_eq!(done["status"], SUCCESS, "{done}");
    assert!(signed_out_of_sesame(&mut b).await);

    // Replayed: refused.
    let page = w.send(&mut b, &signed).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("already used"), "{}", page.body);
    let refused = events(&w, "slo_request").await;
    assert_eq!(
        refused.iter().filter(|e| e["outcome"] == "failure").count(),
        3,
        "{refused:?}"
    );
}

#[tokio::test]
async fn idp_metadata_publishes_single_logout_and_sp_metadata_brings_it() {
    let w = World::new().await;
    let mut b = w.browser();
    let md = b.get("/saml2/demo/metadata").await.body;
    let slo = format!("Location=\"http://{}/saml2/demo/slo\"", w.server.addr);
    assert_eq!(md.matches(&slo).count(), 2, "both bindings: {md}");
    let sp_md = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example/meta">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/slo-post"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example/slo" ResponseLocation="https://sp.example/slo-done"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;
    let changes = sesame::saml::metadata::parse_sp_metadata(sp_md).expect("metadata");
    let row = settings::update(&w.server.db, &Actor::system(), "demo", &changes)
        .await
        .expect("import");
    assert_eq!(row.slo.url, "https://sp.example/slo");
    assert_eq!(row.slo.response_url, "https://sp.example/slo-done");
    assert_eq!(row.slo.binding, "redirect");
}

/// The XML of the SAMLRequest or SAMLResponse in a Redirect-binding URL.
fn redirect_xml(url: &str) -> String {
    let (_, query) = url.split_once('?').expect("query");
    let value = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "SAMLRequest" || k == "SAMLResponse")
        .expect("a SAML message")
        .1;
    let raw = STANDARD.decode(value.as_bytes()).expect("base64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&raw[..])
        .read_to_string(&mut xml)
        .expect("DEFLATE");
    xml
}

fn attribute(xml: &str, name: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("xml");
    doc.root_element().attribute(name).expect(name).to_string()
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn post_form(param: &str, xml: &str) -> Value {
    let mut fields = serde_json::Map::new();
    fields.insert(param.into(), STANDARD.encode(xml).into());
    serde_json::json!({ "method": "POST", "fields": fields })
}

#[tokio::test]
async fn a_forged_logout_response_does_not_move_the_chain_on() {
    let w = World::new().await;
    with_slo(&w, "redirect").await;
    let other = second_app(&w, "redirect").await;
    let mut b = w.browser();
    let name_id = sign_in_to_both(&w, &other, &mut b).await;
    let ask = w.sp.logout(&name_id, "redirect", false).await;
    let to_other = w.send(&mut b, &ask).await;
    let our_request = redirect_xml(to_other.location().expect("to the other SP"));
    let id = attribute(&our_request, "ID");

    // Anyone who saw that URL forges "logged out" in the other SP's name, unsigned.
    let forged = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_forged" Version="2.0" IssueInstant="{}" InResponseTo="{id}" Destination="http://{}/saml2/other/slo"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status></samlp:LogoutResponse>"#,
        now(),
        w.server.addr,
        other.entity_id()
    );
    let mut instruction = post_form("SAMLResponse", &forged);
    instruction["url"] = format!("http://{}/saml2/other/slo", w.server.addr).into();
    let refused = w.send(&mut w.browser(), &instruction).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("not signed"), "{}", refused.body);
    assert_eq!(
        other.sessions().await,
        vec![name_id.clone()],
        "nobody told it"
    );

    // The real, signed answer still finds the chain waiting, and it completes.
    let answer = other.deliver(&to_other).await;
    let done = w.sp.deliver(&w.send(&mut b, &answer).await).await;
    assert_eq!(done["status"], SUCCESS, "{done}");
    assert_eq!(done["sub_status"], Value::Null);
}

#[tokio::test]
async fn an_unsigned_request_without_a_session_index_ends_only_the_browsers_own_session() {
    let w = World::new().await;
    with_slo(&w, "redirect").await;
    let mut b = w.browser();
    let (verdict, _) = w.sso(&mut b, &[("binding", "redirect")], "alice").await;
    let name_id = verdict["name_id"].as_str().expect("name_id").to_string();
    let request = |id: &str| {
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="{id}" Version="2.0" IssueInstant="{}" Destination="http://{}/saml2/demo/slo"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{}</saml:Issuer><saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{name_id}</saml:NameID></samlp:LogoutRequest>"#,
            now(),
            w.server.addr,
            w.sp.entity_id()
        )
    };
    let mut instruction = post_form("SAMLRequest", &request("_csrf1"));
    instruction["url"] = format!("http://{}/saml2/demo/slo", w.server.addr).into();
    // From another browser (a page that knows alice's e-mail): nothing ends, and the SP is
    // told UnknownPrincipal.
    let answer = w.send(&mut w.browser(), &instruction).await;
    let told = w.sp.deliver(&answer).await;
    // pysaml2 reads a status other than Success as an error, naming it.
    let error = told["status_error"].as_str().unwrap_or_default();
    assert!(error.contains("status:Requester"), "{told}");
    assert!(error.contains("status:UnknownPrincipal"), "{told}");
    assert!(
        !signed_out_of_sesame(&mut b).await,
        "alice is still signed in"
    );
    // Over the Redirect binding from alice's own browser: her session ends.
    let xml = request("_own1");
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut deflate, xml.as_bytes()).unwrap();
    let q: String =
        url::form_urlencoded::byte_serialize(STANDARD.encode(deflate.finish().unwrap()).as_bytes())
            .collect();
    let page = b.get(&format!("/saml2/demo/slo?SAMLRequest={q}")).await;
    let done = w.sp.deliver(&page).await;
    assert_eq!(done["status"], SUCCESS, "{done}");
    assert!(signed_out_of_sesame(&mut b).await);
}

#[tokio::test]
async fn without_the_reach_check_the_browser_is_sent_to_an_sp_even_if_it_is_down() {
    let db = crate::support::TestDb::sqlite();
    let mut config = crate::support::test_config(&db.url);
    config.slo_reach_check = false;
    let w = World::with(db, config).await;
    with_slo(&w, "redirect").await;
    let other = second_app(&w, "redirect").await;
    let mut b = w.browser();
    let name_id = sign_in_to_both(&w, &other, &mut b).await;
    let dead = other.base.clone();
    drop(other);
    let ask = w.sp.logout(&name_id, "redirect", false).await;
    let page = w.send(&mut b, &ask).await;
    let to = page.location().expect("a redirect");
    assert!(to.starts_with(&format!("{dead}/slo?SAMLRequest=")), "{to}");
    assert!(
        events(&w, "slo_propagate").await.is_empty(),
        "nothing decided yet"
    );
}
