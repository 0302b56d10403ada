//! The admin console in a real browser (headless Chromium over WebDriver): the JumpCloud
//! guide's admin journey — add BlueJeans from the catalog, set SSO, download
//! certificate.pem and metadata, create a user and a group, bind the group, connect
//! Identity Management to a real SCIM target, Test connection, Activate, Sync now, see the
//! user arrive — then the end user signs in and sees exactly the granted tiles. Screenshots
//! of the main pages go to target/artifacts/screenshots/.

use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;

use crate::scim_peer::{ScimPeer, TOKEN};
use crate::support::{TestDb, TestServer};
use crate::webdriver::Chrome;

const ADMIN_PW: &str = "admin password 12345";
const TEMP_PW: &str = "temporary password 1";
const ALICE_PW: &str = "my own chosen secret";
const JIVE_METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://jive.example/sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://jive.example/saml/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#;
const LOGO: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="navy"/></svg>"#;

async fn flash(chrome: &Chrome) -> String {
    chrome.text("#flash").await
}

#[tokio::test]
async fn admin_journey_from_catalog_to_provisioned_user_and_tiles() {
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    let peer = ScimPeer::start(&[]);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = UserFields {
        email: Some("root@example.com".into()),
        is_admin: Some(true),
        ..UserFields::default()
    };
    let pw = sesame::auth::password::Password::new(ADMIN_PW.into()).unwrap();
    users::add(&server.db, &Actor::system(), "root", &admin, Some(&pw))
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);

    // Sign in; the portal shows admins the way to the console.
    chrome.goto(&format!("{base}/login")).await;
    chrome.fill("input[name='username']", "root").await;
    chrome.fill("input[name='password']", ADMIN_PW).await;
    chrome
        .click_and_load("form[action='/login'] button[type='submit']")
        .await;
    chrome.click_and_load("#admin-link").await;
    chrome.find("#add-app").await;
    assert_eq!(chrome.current_url().await, format!("{base}/admin/apps"));
    chrome.screenshot("admin-apps-empty").await;

    // The catalog, searched by name; BlueJeans with its defaults, slug chosen here.
    chrome.click_and_load("#add-app").await;
    chrome.fill("#q", "blue").await;
    chrome.click_and_load("form.search button").await;
    chrome.find("li[data-template='bluejeans']").await;
    assert_eq!(chrome.count("li[data-template]").await, 1);
    assert_eq!(
        chrome.attr("#label-bluejeans", "value").await.as_deref(),
        Some("BlueJeans")
    );
    chrome.screenshot("admin-catalog").await;
    chrome.fill("#slug-bluejeans", "bluejeans").await;
    chrome
        .click_and_load("li[data-template='bluejeans'] button")
        .await;
    assert!(flash(&chrome).await.contains("BlueJeans added"));
    assert_eq!(
        chrome.text("#idp-url").await,
        format!("{base}/saml2/bluejeans")
    );

    // SSO settings as the BlueJeans guide asks for them.
    chrome.fill("#sp_entity_id", "https://bluejeans.com").await;
    chrome
        .fill("#acs_urls", "https://bluejeans.com/saml/acs")
        .await;
    chrome
        .fill("#relay_state", "https://bluejeans.com/home")
        .await;
    chrome.click_and_load("#save-sso").await;
    assert_eq!(flash(&chrome).await, "SSO settings saved.");
    let (_, row) = sesame::saml::settings::get(&server.db, "bluejeans")
        .await
        .unwrap();
    assert_eq!(row.sp_entity_id, "https://bluejeans.com");
    assert_eq!(row.acs[0].1, "https://bluejeans.com/saml/acs");
    assert_eq!(row.relay_state, "https://bluejeans.com/home");
    chrome.screenshot("admin-app-sso").await;

    // The downloaded certificate is what the public URL serves; the metadata names us.
    chrome.click("#download-cert").await;
    let downloaded = chrome.wait_download("certificate.pem").await;
    let served = reqwest::get(format!("{base}/saml2/bluejeans/certificate.pem"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(downloaded, served.to_vec());
    assert!(String::from_utf8_lossy(&downloaded).starts_with("-----BEGIN CERTIFICATE-----"));
    chrome.click("#download-metadata").await;
    let metadata = chrome.wait_download("bluejeans-metadata.xml").await;
    let metadata = String::from_utf8(metadata).unwrap();
    assert!(metadata.contains(&format!("entityID=\"{base}/saml2/bluejeans\"")));

    // A logo for the tile (SVG), shown in the console and later in alice's portal.
    chrome.goto(&format!("{base}/admin/apps/bluejeans")).await;
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("bluejeans.svg");
    std::fs::write(&svg, LOGO).unwrap();
    chrome.attach("#logo", &svg).await;
    chrome.click_and_load("#upload-logo").await;
    assert_eq!(flash(&chrome).await, "Logo saved.");
    let logo = reqwest::get(format!("{base}/logos/bluejeans"))
        .await
        .unwrap();
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert!(logo.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(logo.text().await.unwrap(), LOGO);
    chrome.screenshot("admin-app-general").await;

    // A second app from the catalog, bound to nobody: its tile must not show.
    chrome.goto(&format!("{base}/admin/apps/new?q=jive")).await;
    chrome.fill("#slug-jive", "jive").await;
    chrome
        .click_and_load("li[data-template='jive'] button")
        .await;
    assert!(flash(&chrome).await.contains("Jive added"));
    // Jive's SP metadata as a file upload.
    let md = dir.path().join("jive-sp.xml");
    std::fs::write(&md, JIVE_METADATA).unwrap();
    chrome.attach("#xml_file", &md).await;
    chrome.click_and_load("#import-metadata").await;
    assert_eq!(
        flash(&chrome).await,
        "Imported the SP metadata: entity id https://jive.example/sp, 1 ACS URL(s)."
    );
    let (_, jive) = sesame::saml::settings::get(&server.db, "jive")
        .await
        .unwrap();
    assert_eq!(jive.acs[0].1, "https://jive.example/saml/acs");

    // A user with a temporary password, a group, the user in it.
    chrome.goto(&format!("{base}/admin/users")).await;
    chrome.fill("#new-username", "alice").await;
    chrome.fill("#new-email", "alice@example.com").await;
    chrome.fill("#new-first", "Alice").await;
    chrome.fill("#new-last", "Liddell").await;
    chrome.fill("#new-password", TEMP_PW).await;
    chrome.click_and_load("#create-user").await;
    assert_eq!(flash(&chrome).await, "Added alice.");
    chrome.goto(&format!("{base}/admin/groups")).await;
    chrome.fill("#name", "engineering").await;
    chrome.click_and_load("#create-group").await;
    chrome.fill("#add-member", "alice").await;
    chrome.click_and_load("#add-member-button").await;
    assert!(flash(&chrome).await.contains("alice added to engineering"));
    chrome.screenshot("admin-group").await;

    // Bind the group on the app's User Groups tab.
    chrome
        .goto(&format!("{base}/admin/apps/bluejeans/groups"))
        .await;
    chrome
        .click("input[name='group'][value='engineering']")
        .await;
    chrome.click_and_load("#save-groups").await;
    assert_eq!(flash(&chrome).await, "Saved: 1 change(s).");
    assert_eq!(
        chrome
            .attr("input[name='group'][value='engineering']", "checked")
            .await
            .as_deref(),
        Some("true")
    );

    // Identity Management against the real SCIM target; the token is write-only.
    chrome
        .goto(&format!("{base}/admin/apps/bluejeans/idm"))
        .await;
    chrome.fill("#url", &peer.url).await;
    chrome.fill("#token", TOKEN).await;
    chrome.click_and_load("#save-idm").await;
    assert_eq!(flash(&chrome).await, "Identity Management settings saved.");
    assert!(!chrome.page_source().await.contains(TOKEN));
    chrome.click_and_load("#idm-test").await;
    let tested = flash(&chrome).await;
    assert!(tested.starts_with("Connection works"), "{tested}");
    chrome.click_and_load("#idm-activate").await;
    assert_eq!(flash(&chrome).await, "Identity Management is active.");
    chrome.click_and_load("#idm-sync").await;
    assert!(flash(&chrome).await.starts_with("Sync started"));
    let mut arrived = None;
    for _ in 0..100 {
        arrived = peer.user("alice").await;
        if arrived.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let arrived = arrived.expect("alice arrives in the SCIM target");
    assert_eq!(arrived["name"]["givenName"], "Alice");
    assert_eq!(arrived["active"], true);
    // The console shows the queue drained and the link.
    for _ in 0..50 {
        chrome
            .goto(&format!("{base}/admin/apps/bluejeans/idm"))
            .await;
        if chrome.text("#idm-queue").await.starts_with("0 queued") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let queue = chrome.text("#idm-queue").await;
    assert!(queue.starts_with("0 queued · 1 linked"), "{queue}");
    assert_eq!(
        chrome.attr("#idm-state", "data-state").await.as_deref(),
        Some("active")
    );
    chrome.screenshot("admin-app-idm").await;

    // The provisioning event, with its request, on the Events page.
    chrome
        .goto(&format!(
            "{base}/admin/events?app=bluejeans&user=alice&name=user_create_provision&outcome=success"
        ))
        .await;
    let events = chrome.text("#events").await;
    assert!(events.contains("user_create_provision"), "{events}");
    let source = chrome.page_source().await;
    assert!(source.contains("/Users"), "the request is shown");
    assert!(!source.contains(TOKEN), "the token is never shown");
    chrome.screenshot("admin-events").await;
    chrome.goto(&format!("{base}/admin/users/alice")).await;
    assert!(chrome
        .text("#user-apps")
        .await
        .contains("member of engineering"));
    chrome.screenshot("admin-user").await;

    // The end user: temporary password, a new one, then exactly the granted tile.
    chrome
        .click_and_load("nav form[action='/logout'] button")
        .await;
    chrome.goto(&format!("{base}/login")).await;
    chrome.fill("input[name='username']", "alice").await;
    chrome.fill("input[name='password']", TEMP_PW).await;
    chrome
        .click_and_load("form[action='/login'] button[type='submit']")
        .await;
    chrome.fill("#current", TEMP_PW).await;
    chrome.fill("#new", ALICE_PW).await;
    chrome.fill("#confirm", ALICE_PW).await;
    chrome
        .click_and_load("form[action='/account/password'] button")
        .await;
    chrome.goto(&format!("{base}/")).await;
    chrome.find("a.tile[data-slug='bluejeans']").await;
    assert_eq!(chrome.count("a.tile").await, 1);
    assert_eq!(chrome.count("a.tile[data-slug='jive']").await, 0);
    assert_eq!(
        chrome.count("#admin-link").await,
        0,
        "no admin link for users"
    );
    chrome.screenshot("portal-alice").await;
    chrome.goto(&format!("{base}/admin/apps")).await;
    assert!(chrome
        .page_source()
        .await
        .contains("for administrators only"));

    chrome.close().await;
    server.stop().await;
}

/// Issue 14, item 1: while jobs wait on a target that does not answer, the Identity
/// Management tab keeps its status current without reloading, so what an admin types into
/// the form is never wiped.
#[tokio::test]
async fn the_idm_tab_updates_its_status_without_wiping_a_form_being_edited() {
    use sesame::scim::secret::Secret;
    use sesame::scim::target::{self, Changes, Credential, Switch};
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    let admin = UserFields {
        email: Some("root@example.com".into()),
        is_admin: Some(true),
        ..UserFields::default()
    };
    let pw = sesame::auth::password::Password::new(ADMIN_PW.into()).unwrap();
    users::add(&server.db, &sys, "root", &admin, Some(&pw))
        .await
        .unwrap();
    let alice = UserFields {
        email: Some("alice@example.com".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &sys, "alice", &alice, None)
        .await
        .unwrap();
    sesame::directory::groups::add(&server.db, &sys, "staff", "")
        .await
        .unwrap();
    sesame::directory::groups::set_member(&server.db, &sys, "staff", "alice", true)
        .await
        .unwrap();
    sesame::directory::apps::add(&server.db, &sys, "crm", "generic", &Default::default())
        .await
        .unwrap();
    sesame::directory::apps::set_binding(&server.db, &sys, "crm", "staff", true)
        .await
        .unwrap();
    // A target where nothing listens: the jobs stay queued, retried.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/scim/v2", dead.local_addr().unwrap());
    drop(dead);
    let key = server.config.seal_key().unwrap();
    let changes = Changes {
        url: Some(dead_url),
        credential: Some(Credential::Bearer(Secret::new("t"))),
        ..Changes::default()
    };
    target::update(&server.db, &key, &sys, "crm", &changes)
        .await
        .unwrap();
    target::set_state(&server.db, &sys, "crm", Switch::Activate)
        .await
        .unwrap();

    let base = format!("http://{}", server.addr);
    chrome.goto(&format!("{base}/login")).await;
    chrome.fill("input[name='username']", "root").await;
    chrome.fill("input[name='password']", ADMIN_PW).await;
    chrome
        .click_and_load("form[action='/login'] button[type='submit']")
        .await;
    chrome.goto(&format!("{base}/admin/apps/crm/idm")).await;
    let source = chrome.page_source().await;
    assert!(
        !source.contains("http-equiv=\"refresh\""),
        "no page reloads"
    );
    assert!(
        chrome.text("#idm-queue").await.starts_with('1'),
        "{}",
        chrome.text("#idm-queue").await
    );
    chrome.fill("#url", "https://typed.example/scim/v2").await;
    // Several polls later the value is still there, and the panel has been asked anew.
    let before = chrome.attr("#idm-status", "data-watch").await;
    assert_eq!(before.as_deref(), Some("1"));
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let typed = chrome
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(serde_json::json!({
                "script": "return document.getElementById('url').value;",
                "args": []
            })),
        )
        .await
        .expect("read the field");
    assert_eq!(typed, "https://typed.example/scim/v2");
    // The panel says what fails, without a reload.
    let failing = chrome.text("#idm-failing").await;
    assert!(failing.contains("attempt(s)"), "{failing}");
    let polled = chrome
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(serde_json::json!({
                "script": "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/idm/status')).length;",
                "args": []
            })),
        )
        .await
        .expect("run a script");
    assert!(
        polled.as_u64().unwrap_or(0) >= 2,
        "status asked {polled} times"
    );
    chrome.close().await;
    server.stop().await;
}
