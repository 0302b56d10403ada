//! Direct assignment of a user to an app, beside group bindings: the one access rule
//! decides for SSO, the portal and provisioning alike; the console (several at once), the
//! API and the CLI assign and unassign, and the user page says why a user has the app.

use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{access, Actor};
use sesame::scim::target::Changes;

use crate::scim_peer::{connect, settle, ScimPeer};
use crate::support::{Browser, TestDb, TestServer};

const ROOT_PW: &str = "a long admin passphrase 12345";

async fn person(server: &TestServer, name: &str, admin: bool) {
    let f = UserFields {
        email: Some(format!("{name}@example.com")),
        first_name: Some("F".into()),
        last_name: Some("L".into()),
        is_admin: Some(admin),
        ..UserFields::default()
    };
    let pw = admin.then(|| sesame::auth::password::Password::new(ROOT_PW.into()).unwrap());
    users::add(&server.db, &Actor::system(), name, &f, pw.as_ref())
        .await
        .unwrap();
}

async fn may_use(server: &TestServer, user: &str, slug: &str) -> bool {
    let u = users::get(&server.db, user).await.unwrap();
    let a = apps::get(&server.db, slug).await.unwrap();
    let mut conn = server.db.read().await.unwrap();
    access::may_use(&mut conn, u.id, a.id).await.unwrap()
}

#[tokio::test]
async fn an_assigned_user_gets_the_app_and_its_account_by_the_same_rule() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    apps::add(&server.db, &sys, "wiki", "generic", &AppChanges::default())
        .await
        .unwrap();
    person(&server, "dana", false).await;
    person(&server, "erin", false).await;
    let peer = ScimPeer::start(&[]);
    connect(
        &server.db,
        &server.config,
        "wiki",
        &peer,
        Changes::default(),
    )
    .await;
    assert!(
        !may_use(&server, "dana", "wiki").await,
        "no group, no assignment"
    );

    assert!(apps::set_assignment(&server.db, &sys, "wiki", "DANA", true)
        .await
        .unwrap());
    assert!(
        !apps::set_assignment(&server.db, &sys, "wiki", "dana", true)
            .await
            .unwrap()
    );
    assert!(may_use(&server, "dana", "wiki").await);
    assert!(!may_use(&server, "erin", "wiki").await);
    settle(&server.db, "wiki", 30).await;
    assert_eq!(
        peer.user("dana").await.expect("provisioned")["active"],
        true
    );
    assert!(peer.user("erin").await.is_none());

    // Suspended, or the app disabled: the assignment gives nothing.
    users::set_active(&server.db, &sys, "dana", false)
        .await
        .unwrap();
    assert!(!may_use(&server, "dana", "wiki").await);
    users::set_active(&server.db, &sys, "dana", true)
        .await
        .unwrap();
    assert!(may_use(&server, "dana", "wiki").await);

    // Unassigned: deprovisioned (deactivated at the target).
    apps::set_assignment(&server.db, &sys, "wiki", "dana", false)
        .await
        .unwrap();
    assert!(!may_use(&server, "dana", "wiki").await);
    settle(&server.db, "wiki", 30).await;
    assert_eq!(peer.user("dana").await.unwrap()["active"], false);
    let detail = apps::show(&server.db, "wiki").await.unwrap();
    assert!(detail.users.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_console_api_and_cli_assign_and_the_user_page_says_why() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    person(&server, "root", true).await;
    person(&server, "dana", false).await;
    person(&server, "erin", false).await;
    person(&server, "finn", false).await;
    apps::add(&server.db, &sys, "wiki", "generic", &AppChanges::default())
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ROOT_PW).await.status, 303);
    let tab = b.get("/admin/apps/wiki/groups").await;
    assert!(
        tab.body.contains("<option value=\"dana\">"),
        "type-ahead of usernames"
    );
    let csrf = tab.csrf();
    let res = b
        .post(
            "/admin/apps/wiki/users",
            &[
                ("csrf", &csrf),
                ("username", "dana, erin nobody"),
                ("action", "add"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let tab = b.get("/admin/apps/wiki/groups").await;
    assert!(
        tab.body
            .contains("Assigned: dana, erin. Not found: no user named"),
        "{}",
        tab.body
    );
    assert_eq!(
        apps::show(&server.db, "wiki").await.unwrap().users,
        ["dana", "erin"]
    );
    let page = b.get("/admin/users/dana").await;
    assert!(page.body.contains("assigned directly"), "{}", page.body);
    b.post(
        "/admin/apps/wiki/users",
        &[("csrf", &csrf), ("username", "erin"), ("action", "remove")],
    )
    .await;
    assert_eq!(
        apps::show(&server.db, "wiki").await.unwrap().users,
        ["dana"]
    );

    // The API.
    let token = sesame::auth::tokens::create(&server.db, &sys, "ci", "root")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/apps/wiki/users/finn", server.addr);
    let put: serde_json::Value = http
        .put(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(put["assigned"], true);
    assert_eq!(put["changed"], true);
    let shown: serde_json::Value = http
        .get(format!("http://{}/api/v1/apps/wiki", server.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["users"], serde_json::json!(["dana", "finn"]));
    let missing = http
        .put(format!(
            "http://{}/api/v1/apps/wiki/users/ghost",
            server.addr
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    http.delete(&url).bearer_auth(&token).send().await.unwrap();

    // The CLI, on the same database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["app", "assign", "wiki", "finn", "erin"])
        .env("SESAME_DATABASE_URL", &db.url)
        .env("SESAME_CERTS_DIR", &server.config.certs_dir)
        .env_remove("SESAME_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        apps::show(&server.db, "wiki").await.unwrap().users,
        ["dana", "erin", "finn"]
    );
    server.stop().await;
}
