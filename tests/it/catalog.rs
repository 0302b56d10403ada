//! Catalog templates bring what the vendor guides document: a free slug filled in, the
//! provisioning facts on the card, the vendor's set-up steps on the SSO and Identity
//! Management tabs, and BlueJeans' attribute set (no manager) against the real SCIM target,
//! restored by "restore defaults"; Activate waits for a passed Test connection; ThousandEyes'
//! userName is the e-mail address and Jive takes basic authentication only.

use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::scim::mapping::ENTERPRISE;
use sesame::scim::target::{self, Changes};

use crate::scim_peer::{connect, settle, ScimPeer};
use crate::support::{Browser, TestDb, TestServer};

const ROOT_PW: &str = "a long admin passphrase 12345";

async fn console() -> (TestDb, TestServer, Browser) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.admin("root", ROOT_PW).await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ROOT_PW).await.status, 303);
    (db, server, b)
}

/// The value of the input with this id on the page.
fn value_of(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let tag = &body[at..at + body[at..].find('>')?];
    let v = tag.split("value=\"").nth(1)?;
    Some(v[..v.find('"')?].to_string())
}

#[tokio::test]
async fn the_catalog_fills_in_a_free_slug_and_says_what_provisioning_brings() {
    let (_db, server, mut b) = console().await;
    let page = b.get("/admin/apps/new").await;
    assert_eq!(
        value_of(&page.body, "slug-bluejeans").as_deref(),
        Some("bluejeans")
    );
    assert_eq!(value_of(&page.body, "slug-generic").as_deref(), Some("app"));
    assert!(
        page.body.contains("SCIM at https://api.bluejeans.com/v2/scim, bearer token, userNames up to 30 characters, manager not sent"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("HTTP basic authentication"),
        "Jive's card"
    );

    apps::add(
        &server.db,
        &Actor::system(),
        "bluejeans",
        "bluejeans",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    let page = b.get("/admin/apps/new").await;
    assert_eq!(
        value_of(&page.body, "slug-bluejeans").as_deref(),
        Some("bluejeans-2"),
        "a slug no app has"
    );

    // The vendor's own steps, on the tab where they are needed.
    let sso = b.get("/admin/apps/bluejeans/sso").await;
    assert!(sso.body.contains("id=\"vendor-steps\""));
    assert!(sso.body.contains("SAML Single Sign On"), "{}", sso.body);
    assert!(sso.body.contains("RelayState value BlueJeans shows"));
    let idm = b.get("/admin/apps/bluejeans/idm").await;
    assert!(idm.body.contains("Generate Token"), "{}", idm.body);
    assert!(idm.body.contains("longer than 30 characters"));
    apps::add(
        &server.db,
        &Actor::system(),
        "jive",
        "jive",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    let jive = b.get("/admin/apps/jive/idm").await;
    assert!(
        jive.body.contains("System Administrator profile"),
        "{}",
        jive.body
    );
}

#[tokio::test]
async fn bluejeans_gets_its_attribute_set_and_restore_defaults_brings_it_back() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    apps::add(
        &server.db,
        &sys,
        "meet",
        "bluejeans",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    apps::set_binding(&server.db, &sys, "meet", "staff", true)
        .await
        .unwrap();
    for (name, manager) in [("boss", None), ("worker", Some("boss"))] {
        let f = UserFields {
            email: Some(format!("{name}@example.com")),
            first_name: Some("F".into()),
            last_name: Some("L".into()),
            title: Some("Engineer".into()),
            manager: manager.map(str::to_string),
            ..UserFields::default()
        };
        users::add(&server.db, &sys, name, &f, None).await.unwrap();
        groups::set_member(&server.db, &sys, "staff", name, true)
            .await
            .unwrap();
    }
    let peer = ScimPeer::start(&["--max-username", "30"]);
    connect(
        &server.db,
        &server.config,
        "meet",
        &peer,
        Changes::default(),
    )
    .await;
    settle(&server.db, "meet", 30).await;
    let worker = peer.user("worker").await.expect("worker provisioned");
    assert_eq!(worker["title"], "Engineer", "in BlueJeans' set: {worker}");
    assert!(
        worker.get(ENTERPRISE).is_none(),
        "no manager for BlueJeans: {worker}"
    );

    // Included by the admin, the manager goes out; restore defaults takes it away again.
    let key = server.config.seal_key().unwrap();
    let include = Changes {
        include: vec!["manager".into()],
        ..Changes::default()
    };
    target::update(&server.db, &key, &sys, "meet", &include)
        .await
        .unwrap();
    settle(&server.db, "meet", 30).await;
    let worker = peer.user("worker").await.unwrap();
    assert!(
        worker[ENTERPRISE]["manager"]["value"].is_string(),
        "{worker}"
    );
    let restore = Changes {
        restore_defaults: true,
        ..Changes::default()
    };
    let row = target::update(&server.db, &key, &sys, "meet", &restore)
        .await
        .unwrap();
    assert_eq!(target::excluded(&row), ["manager"]);
    server.stop().await;
}

/// The flash message of the page a console form redirects to.
async fn flash_after(b: &mut Browser, path: &str, form: &[(&str, &str)]) -> String {
    let res = b.post(path, form).await;
    assert_eq!(res.status, 303, "POST {path}: {}", res.body);
    let page = b.get(res.location().unwrap()).await;
    let at = page.body.find("id=\"flash\"").expect("a flash message");
    let text = &page.body[at..];
    let text = &text[text.find('>').unwrap() + 1..];
    text[..text.find("</p>").unwrap()].to_string()
}

#[tokio::test]
async fn activate_waits_for_a_passed_test_connection_or_a_confirmation() {
    let (_db, server, mut b) = console().await;
    apps::add(
        &server.db,
        &Actor::system(),
        "wiki",
        "generic",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    let csrf = b.get("/admin/apps/wiki/idm").await.csrf();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/scim", l.local_addr().unwrap())
    };
    let settings = |url: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("connector", "generic".to_string()),
            ("url", url.to_string()),
            ("token", crate::scim_peer::TOKEN.to_string()),
            ("deprovision", "deactivate".to_string()),
            ("deletion_threshold", "0".to_string()),
        ]
    };
    let form = settings(&dead);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = flash_after(&mut b, "/admin/apps/wiki/idm", &pairs).await;
    assert!(saved.contains("saved"), "{saved}");
    let idm = b.get("/admin/apps/wiki/idm").await;
    assert!(idm.body.contains("not passed since the settings changed"));
    assert!(idm.body.contains("id=\"confirm-untested\""));

    let refused = flash_after(&mut b, "/admin/apps/wiki/idm/activate", &[("csrf", &csrf)]).await;
    assert!(
        refused.contains("Test connection has not passed"),
        "{refused}"
    );
    let state = |b: String| b.contains("data-state=\"inactive\"");
    assert!(
        state(b.get("/admin/apps/wiki/idm").await.body),
        "still inactive"
    );
    let failed = flash_after(&mut b, "/admin/apps/wiki/idm/test", &[("csrf", &csrf)]).await;
    assert!(failed.starts_with("Test connection failed"), "{failed}");
    let forced = flash_after(
        &mut b,
        "/admin/apps/wiki/idm/activate",
        &[("csrf", &csrf), ("confirm_untested", "on")],
    )
    .await;
    assert_eq!(forced, "Identity Management is active.");
    flash_after(
        &mut b,
        "/admin/apps/wiki/idm/deactivate",
        &[("csrf", &csrf)],
    )
    .await;

    // A passed test lets Activate through; new settings need a new test.
    let peer = ScimPeer::start(&[]);
    let form = settings(&peer.url);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    flash_after(&mut b, "/admin/apps/wiki/idm", &pairs).await;
    let works = flash_after(&mut b, "/admin/apps/wiki/idm/test", &[("csrf", &csrf)]).await;
    assert!(works.starts_with("Connection works"), "{works}");
    assert!(b
        .get("/admin/apps/wiki/idm")
        .await
        .body
        .contains("passed 20"));
    let active = flash_after(&mut b, "/admin/apps/wiki/idm/activate", &[("csrf", &csrf)]).await;
    assert_eq!(active, "Identity Management is active.");
    let form = settings(&dead);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    flash_after(&mut b, "/admin/apps/wiki/idm", &pairs).await;
    assert!(b
        .get("/admin/apps/wiki/idm")
        .await
        .body
        .contains("not passed since the settings changed"));
}

#[tokio::test]
async fn thousandeyes_and_jive_follow_their_guides() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    for (slug, template) in [
        ("te", "thousandeyes"),
        ("jive", "jive"),
        ("bj", "bluejeans"),
    ] {
        apps::add(&server.db, &sys, slug, template, &AppChanges::default())
            .await
            .unwrap();
        apps::set_binding(&server.db, &sys, slug, "staff", true)
            .await
            .unwrap();
    }
    let f = UserFields {
        email: Some("bob.smith@example.com".into()),
        first_name: Some("Bob".into()),
        last_name: Some("Smith".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &sys, "bob", &f, None).await.unwrap();
    groups::set_member(&server.db, &sys, "staff", "bob", true)
        .await
        .unwrap();

    // ThousandEyes signs users in by e-mail address: the template maps userName from it,
    // against a target that refuses anything else.
    let te = ScimPeer::start(&["--username-email"]);
    connect(&server.db, &server.config, "te", &te, Changes::default()).await;
    settle(&server.db, "te", 30).await;
    assert!(
        te.user("bob.smith@example.com").await.is_some(),
        "{:?}",
        te.requests()
    );
    assert!(
        te.requests().iter().all(|r| r["status"] != 400),
        "{:?}",
        te.requests()
    );

    // Jive takes HTTP basic authentication only; BlueJeans and ThousandEyes a token only.
    let key = server.config.seal_key().unwrap();
    let bearer = Changes {
        url: Some("https://www.example.jive.com/api/scim".into()),
        credential: Some(target::Credential::Bearer(
            sesame::scim::secret::Secret::new("t"),
        )),
        ..Changes::default()
    };
    let e = target::update(&server.db, &key, &sys, "jive", &bearer)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("takes HTTP basic authentication"), "{e}");
    let basic = Changes {
        credential: Some(target::Credential::Basic(
            "admin".into(),
            sesame::scim::secret::Secret::new("p"),
        )),
        ..Changes::default()
    };
    let e = target::update(&server.db, &key, &sys, "bj", &basic)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("takes a bearer token"), "{e}");
    let jive = ScimPeer::start(&["--basic", "admin:jive-pass"]);
    connect(
        &server.db,
        &server.config,
        "jive",
        &jive,
        Changes::default(),
    )
    .await;
    settle(&server.db, "jive", 30).await;
    assert!(jive.user("bob").await.is_some());
    server.stop().await;
}
