//! Configuration as code: `sesame apply` against a running server and a real SCIM target
//! (the declared app's bound group arrives there), the plan and `--dry-run`, idempotency
//! (a second apply and an apply of `sesame export` plan nothing), changes and `--prune`,
//! the audit actor, and bad files refused with the reason and nothing changed.

use std::path::Path;
use std::process::{Command, Output};

use sesame::directory::users::{self, UserFields};
use sesame::directory::{apps, Actor};
use sesame::store::events::{self, EventFilter};

use crate::scim_peer::{settle, ScimPeer, TOKEN};
use crate::support::{TestDb, TestServer};

/// Runs the CLI on the server's database and certs_dir (so it opens the same sealed secrets).
fn sesame(server: &TestServer, db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .env("SESAME_DATABASE_URL", &db.url)
        .env("SESAME_CERTS_DIR", &server.config.certs_dir)
        .env("SESAME_BASE_URL", "https://idp.example/")
        .env("WIKI_TOKEN", TOKEN)
        .env_remove("SESAME_CONFIG")
        .output()
        .expect("run sesame")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refused(out: Output, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should fail: {err}");
    assert!(err.contains(reason), "{err:?} should say {reason:?}");
}

async fn person(server: &TestServer, name: &str) {
    let f = UserFields {
        email: Some(format!("{name}@example.com")),
        first_name: Some(name.to_uppercase()),
        last_name: Some("Tester".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &Actor::system(), name, &f, None)
        .await
        .unwrap();
}

fn declaration(peer: &ScimPeer, members: &[&str]) -> String {
    let members = members
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[[admin]]
username = "ops"
email = "ops@example.com"

[[group]]
name = "engineering"
description = "Builds things"
members = [{members}]

[[app]]
slug = "wiki"
label = "Team wiki"
groups = ["engineering"]

[app.sso]
sp_entity_id = "https://wiki.example.com/saml"
acs_urls = ["https://wiki.example.com/saml/acs"]
attributes = ["email=email", "name=display-name"]

[app.scim]
url = "{}"
token = {{ env = "WIKI_TOKEN" }}
deletion_threshold = 50
active = true
"#,
        peer.url
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

async fn active_users(peer: &ScimPeer) -> Vec<String> {
    let mut names: Vec<String> = peer
        .users()
        .await
        .into_iter()
        .filter(|u| u["active"] != false)
        .map(|u| u["userName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn apply_provisions_what_it_declares_and_a_second_apply_plans_nothing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let peer = ScimPeer::start(&[]);
    person(&server, "alice").await;
    person(&server, "bob").await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "sesame.toml",
        &declaration(&peer, &["alice", "bob"]),
    );

    let plan = ok(sesame(&server, &db, &["apply", &file, "--dry-run"]));
    for line in [
        "+ admin ops",
        "+ group engineering",
        "+ group engineering: add member alice",
        "+ app wiki: from the generic template",
        "~ app wiki sso:",
        "~ app wiki scim:",
        "+ app wiki: bind group engineering",
        "~ app wiki scim: activate",
    ] {
        assert!(plan.contains(line), "{line:?} in the plan:\n{plan}");
    }
    assert!(
        plan.contains("Plan: 6 to create, 3 to change, 0 to delete."),
        "{plan}"
    );
    assert!(
        apps::get(&server.db, "wiki").await.is_err(),
        "--dry-run changed nothing"
    );

    let out = ok(sesame(&server, &db, &["apply", &file]));
    assert!(out.contains("Applied 9 steps."), "{out}");
    settle(&server.db, "wiki", 30).await;
    assert_eq!(active_users(&peer).await, ["alice", "bob"]);
    let (_, sso) = sesame::saml::settings::get(&server.db, "wiki")
        .await
        .unwrap();
    assert_eq!(sso.sp_entity_id, "https://wiki.example.com/saml");

    // Every change is an audit event of the file; the token is in none of them.
    let mut conn = server.db.read().await.unwrap();
    let all = events::list(
        &mut conn,
        &EventFilter {
            limit: 10_000,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    drop(conn);
    let actor = format!("apply:{file}");
    let by_file: Vec<&str> = all
        .iter()
        .filter(|e| e.actor == actor)
        .map(|e| e.name.as_str())
        .collect();
    for name in [
        "user_create",
        "group_create",
        "group_member_add",
        "app_create",
        "app_sso_update",
        "idm_integration_reauth",
        "app_group_bind",
        "idm_integration_activate",
    ] {
        assert!(by_file.contains(&name), "{name} by {actor}: {by_file:?}");
    }
    assert!(
        !serde_json::to_string(&all.iter().map(|e| &e.detail).collect::<Vec<_>>())
            .unwrap()
            .contains(TOKEN)
    );

    let again = ok(sesame(&server, &db, &["apply", &file]));
    assert!(again.contains("Nothing to do"), "{again}");

    // The export is a declaration that applies to the same directory as nothing.
    let exported = ok(sesame(&server, &db, &["export"]));
    assert!(!exported.contains(TOKEN), "no secret in the export");
    assert!(exported.contains("slug = \"wiki\""), "{exported}");
    let back = write(dir.path(), "exported.toml", &exported);
    let replan = ok(sesame(&server, &db, &["apply", &back, "--dry-run"]));
    assert!(replan.contains("Nothing to do"), "{replan}");
}

#[tokio::test]
async fn a_changed_file_is_planned_and_applied_and_prune_deletes_the_undeclared() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let peer = ScimPeer::start(&[]);
    person(&server, "alice").await;
    person(&server, "bob").await;
    apps::add(
        &server.db,
        &Actor::system(),
        "legacy",
        "generic",
        &apps::AppChanges::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.toml", &declaration(&peer, &["alice", "bob"]));
    ok(sesame(&server, &db, &["apply", &file]));
    settle(&server.db, "wiki", 30).await;

    // Bob leaves the group in the file: one removal, and his account is deactivated.
    let text = declaration(&peer, &["alice"]).replace("Team wiki", "Wiki");
    let file = write(dir.path(), "a.toml", &text);
    let plan = ok(sesame(&server, &db, &["apply", &file, "--dry-run"]));
    assert!(
        plan.contains("~ app wiki: label: \"Team wiki\" -> \"Wiki\""),
        "{plan}"
    );
    assert!(
        plan.contains("- group engineering: remove member bob"),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to create, 1 to change, 1 to delete."),
        "{plan}"
    );
    ok(sesame(&server, &db, &["apply", &file]));
    settle(&server.db, "wiki", 30).await;
    assert_eq!(active_users(&peer).await, ["alice"]);
    assert_eq!(apps::get(&server.db, "wiki").await.unwrap().label, "Wiki");

    // Without --prune the undeclared app stays; with it, it goes.
    assert!(apps::get(&server.db, "legacy").await.is_ok());
    let pruned = ok(sesame(&server, &db, &["apply", &file, "--prune"]));
    assert!(pruned.contains("- app legacy: not declared"), "{pruned}");
    assert!(apps::get(&server.db, "legacy").await.is_err());
    assert!(apps::get(&server.db, "wiki").await.is_ok());
}

#[tokio::test]
async fn bad_declarations_are_refused_with_the_reason_and_change_nothing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let peer = ScimPeer::start(&[]);
    person(&server, "alice").await;
    let dir = tempfile::tempdir().unwrap();
    let good = declaration(&peer, &["alice"]);
    let cases = [
        (
            good.replace("{ env = \"WIKI_TOKEN\" }", "\"inline-token\""),
            "never written inline",
        ),
        (good.replace("label =", "labl ="), "labl"),
        (
            good.replace("groups = [\"engineering\"]", "groups = [\"nobody\"]"),
            "group \"nobody\", which neither exists nor is declared",
        ),
        (
            good.replace("members = [\"alice\"]", "members = [\"zed\"]"),
            "\"zed\", who is not a user",
        ),
        (
            good.replace("name=display-name", "name=display_name"),
            "app \"wiki\": attribute source \"display_name\"",
        ),
        (
            good.replace("WIKI_TOKEN", "SESAME_TEST_UNSET_TOKEN"),
            "SESAME_TEST_UNSET_TOKEN",
        ),
    ];
    for (text, reason) in cases {
        let file = write(dir.path(), "bad.toml", &text);
        refused(sesame(&server, &db, &["apply", &file]), reason);
    }
    refused(
        sesame(
            &server,
            &db,
            &[
                "apply",
                &write(dir.path(), "p.toml", "[[group]]\nname = \"x\"\n"),
                "--prune",
            ],
        ),
        "declare at least one [[admin]]",
    );
    assert!(
        apps::get(&server.db, "wiki").await.is_err(),
        "nothing applied"
    );
    assert!(
        sesame::directory::groups::show(&server.db, "engineering")
            .await
            .is_err(),
        "nothing applied"
    );
}

/// An admin `root` with an API token, for the API and console tests.
async fn admin_server() -> (TestDb, TestServer, String) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.admin("root", ROOT_PW).await;
    let token = sesame::auth::tokens::create(&server.db, &Actor::system(), "ci", "root")
        .await
        .unwrap();
    (db, server, token)
}

const ROOT_PW: &str = "a long admin passphrase 12345";
const GROUP_ONLY: &str = "[[group]]\nname = \"declared\"\ndescription = \"from a file\"\n";

async fn actors_of(server: &TestServer, name: &str) -> Vec<String> {
    let mut conn = server.db.read().await.unwrap();
    let filter = EventFilter {
        name: Some(name.into()),
        limit: 100,
        ..EventFilter::default()
    };
    let list = events::list(&mut conn, &filter).await.unwrap();
    list.into_iter().map(|e| e.actor).collect()
}

#[tokio::test]
async fn the_api_exports_plans_and_applies_without_secret_references() {
    let (_db, server, token) = admin_server().await;
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://{}{p}", server.addr);
    let call = |path: &str, body: serde_json::Value| {
        client
            .post(url(path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    let plan: serde_json::Value = call(
        "/api/v1/config/plan",
        serde_json::json!({ "toml": GROUP_ONLY }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(plan["create"], 1, "{plan}");
    assert_eq!(plan["steps"][0]["what"], "group declared", "{plan}");
    assert_eq!(plan["applied"], 0);
    assert!(sesame::directory::groups::show(&server.db, "declared")
        .await
        .is_err());

    let res = call(
        "/api/v1/config/apply",
        serde_json::json!({ "toml": GROUP_ONLY }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let applied: serde_json::Value = res.json().await.unwrap();
    assert_eq!(applied["applied"], 1, "{applied}");
    let g = sesame::directory::groups::show(&server.db, "declared")
        .await
        .unwrap();
    assert_eq!(g.group.description, "from a file");
    assert_eq!(
        actors_of(&server, "group_create").await,
        ["apply:api (admin:root (token ci))"]
    );
    let again: serde_json::Value = call(
        "/api/v1/config/apply",
        serde_json::json!({ "toml": GROUP_ONLY }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(again["applied"], 0, "a second apply does nothing: {again}");
    assert_eq!(again["steps"], serde_json::json!([]));

    // A reference would make the server read its own environment for the caller.
    let with_secret =
        "[[admin]]\nusername = \"x\"\nemail = \"x@example.com\"\npassword = { env = \"HOME\" }\n";
    let res = call(
        "/api/v1/config/apply",
        serde_json::json!({ "toml": with_secret }),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("secret references"));
    assert!(users::get(&server.db, "x").await.is_err());

    let exported: serde_json::Value = client
        .get(url("/api/v1/config"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = exported["toml"].as_str().unwrap();
    assert!(text.contains("name = \"declared\""), "{text}");
    assert!(text.contains("username = \"root\""), "{text}");
}

#[tokio::test]
async fn the_console_plans_and_applies_and_keeps_what_was_typed_on_an_error() {
    let (_db, server, _) = admin_server().await;
    let mut b = crate::support::Browser::new(&server);
    assert_eq!(b.login("root", ROOT_PW).await.status, 303);
    let page = b.get("/admin/config").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();

    let planned = b
        .post(
            "/admin/config",
            &[("csrf", &csrf), ("toml", GROUP_ONLY), ("action", "plan")],
        )
        .await;
    assert_eq!(planned.status, 200, "{}", planned.body);
    assert!(
        planned.body.contains("+ group declared"),
        "{}",
        planned.body
    );
    assert!(sesame::directory::groups::show(&server.db, "declared")
        .await
        .is_err());

    let applied = b
        .post(
            "/admin/config",
            &[("csrf", &csrf), ("toml", GROUP_ONLY), ("action", "apply")],
        )
        .await;
    assert!(
        applied.body.contains("Applied 1 steps."),
        "{}",
        applied.body
    );
    assert!(sesame::directory::groups::show(&server.db, "declared")
        .await
        .is_ok());
    assert_eq!(
        actors_of(&server, "group_create").await,
        ["apply:console (admin:root)"]
    );

    let typo = "[[group]]\nnmae = \"kept as typed\"\n";
    let refused = b
        .post(
            "/admin/config",
            &[("csrf", &csrf), ("toml", typo), ("action", "apply")],
        )
        .await;
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("id=\"config-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("nmae"), "the error names the key");
    assert!(refused.body.contains("aria-invalid=\"true\""));
    assert!(
        refused.body.contains("nmae = &quot;kept as typed&quot;")
            || refused.body.contains("nmae = &#34;kept as typed&#34;"),
        "the declaration is kept: {}",
        refused.body
    );

    let download = b.get("/admin/config/export.toml").await;
    assert_eq!(download.status, 200);
    assert!(download.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("sesame-config.toml"));
    assert!(download.body.contains("name = \"declared\""));
}
