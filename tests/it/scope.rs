//! Provisioning scope, scoping filters and matching (issue 16) against the real SCIM target:
//! scope "all" with a filter provisions exactly whom the filter keeps, a user leaving the
//! filter is deactivated, matching by externalId links instead of duplicating, filter
//! values are escaped (RFC 7644 §3.4.2.2), the dry run names the rule; and the settings
//! round-trip through the console, the API, the CLI and declarations, a bad filter refused
//! with its line named.

use serde_json::{json, Value};
use sesame::auth::tokens;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{access, groups, Actor};
use sesame::scim::control;
use sesame::scim::secret::Secret;
use sesame::scim::target::{self, Changes, Credential};

use crate::cli::Cli;
use crate::scim_peer::{connect, settle, ScimPeer, TOKEN};
use crate::support::{Browser, TestDb, TestServer};

async fn setup() -> (TestDb, TestServer) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let actor = Actor::system();
    groups::add(&server.db, &actor, "staff", "").await.unwrap();
    apps::add(&server.db, &actor, "app", "generic", &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&server.db, &actor, "app", "staff", true)
        .await
        .unwrap();
    (db, server)
}

async fn person(server: &TestServer, name: &str, title: &str, employee_id: &str, staff: bool) {
    let f = UserFields {
        email: Some(format!("{name}@example.com")),
        first_name: Some("First".into()),
        last_name: Some("Last".into()),
        title: Some(title.into()),
        employee_id: Some(employee_id.into()),
        ..UserFields::default()
    };
    users::add(&server.db, &Actor::system(), name, &f, None)
        .await
        .unwrap();
    if staff {
        groups::set_member(&server.db, &Actor::system(), "staff", name, true)
            .await
            .unwrap();
    }
}

async fn names(peer: &ScimPeer, active: bool) -> Vec<String> {
    let mut v: Vec<String> = peer
        .users()
        .await
        .iter()
        .filter(|u| u["active"].as_bool().unwrap_or(true) == active)
        .map(|u| u["userName"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn scope_all_with_a_filter_provisions_exactly_whom_the_filter_keeps() {
    let (_db, server) = setup().await;
    let peer = ScimPeer::start(&[]);
    person(&server, "alice", "Engineer", "", true).await;
    person(&server, "bob", "engineer", "", false).await; // in no group
    person(&server, "carol", "Sales", "", false).await;
    person(&server, "dave", "Sales", "", true).await;
    let extra = Changes {
        scope: Some("all".into()),
        filters: Some("title equals Engineer".into()),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &peer, extra).await;
    settle(&server.db, "app", 20).await;
    assert_eq!(names(&peer, true).await, ["alice", "bob"]);
    assert_eq!(
        control::overview(&server.db, "app").await.unwrap().in_scope,
        2
    );
    // Provisioned is not assigned: bob still may not sign in to the app.
    let mut conn = server.db.read().await.unwrap();
    let bob = sesame::store::users::by_key(&mut conn, "bob")
        .await
        .unwrap()
        .unwrap();
    let app = sesame::store::apps::by_slug(&mut conn, "app")
        .await
        .unwrap()
        .unwrap();
    assert!(!access::may_use(&mut conn, bob.id, app.id).await.unwrap());
    drop(conn);

    // bob's title changes: he leaves the filter and is deactivated at the target.
    let title = UserFields {
        title: Some("Manager".into()),
        ..UserFields::default()
    };
    users::update(&server.db, &Actor::system(), "bob", &title)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(names(&peer, false).await, ["bob"]);
    assert_eq!(names(&peer, true).await, ["alice"]);

    // A new filter group (OR): the staff come in through the same queue.
    let key = server.config.seal_key().unwrap();
    let more = Changes {
        filters: Some("group 1: title equals Engineer\ngroup 2: member_of equals staff".into()),
        ..Changes::default()
    };
    target::update(&server.db, &key, &Actor::system(), "app", &more)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(names(&peer, true).await, ["alice", "dave"]);
    assert!(peer.user("carol").await.is_none(), "carol never matched");

    // A user created now, in no group, who matches: provisioned at once, no sync needed.
    person(&server, "erin", "Engineer", "", false).await;
    settle(&server.db, "app", 20).await;
    assert_eq!(names(&peer, true).await, ["alice", "dave", "erin"]);
}

#[tokio::test]
async fn matching_by_external_id_links_the_existing_account_and_escapes_values() {
    let (_db, server) = setup().await;
    let peer = ScimPeer::start(&[]);
    let existing = peer
        .create_body(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "e.smith",
            "externalId": "E-7",
            "emails": [{"value": "old@example.com", "type": "work"}],
            "active": true,
        }))
        .await;
    person(&server, "erin", "", "E-7", true).await;
    person(&server, "quinn", "", "Q\"1\\2", true).await;
    let key = server.config.seal_key().unwrap();
    let settings = Changes {
        url: Some(peer.url.clone()),
        credential: Some(Credential::Bearer(Secret::new(TOKEN))),
        matching: Some("externalId,userName".into()),
        ..Changes::default()
    };
    target::update(&server.db, &key, &Actor::system(), "app", &settings)
        .await
        .unwrap();

    // The dry run reads the inventory and names the rule; it writes nothing.
    let live = control::live(&server.db, &key, "app").await.unwrap();
    let plan = control::plan(&server.db, &live).await.unwrap();
    let line = |u: &str| plan.iter().find(|l| l.user == u).unwrap().plan.clone();
    assert!(line("erin").contains("matched by externalId"), "{plan:?}");
    assert!(line("erin").contains("e.smith"), "{plan:?}");
    assert!(line("quinn").starts_with("would create"), "{plan:?}");
    assert!(peer.requests().iter().all(|r| r["method"] == "GET"));

    target::set_state(
        &server.db,
        &Actor::system(),
        "app",
        target::Switch::Activate,
    )
    .await
    .unwrap();
    settle(&server.db, "app", 20).await;
    let reqs = peer.requests();
    let posts: Vec<&Value> = reqs.iter().filter(|r| r["method"] == "POST").collect();
    assert_eq!(posts.len(), 1, "only quinn is created: {reqs:#?}");
    assert_eq!(posts[0]["body"]["userName"], "quinn");
    let all = peer.users().await;
    assert_eq!(all.len(), 2, "no duplicate for erin: {all:#?}");
    let erin = all.iter().find(|u| u["externalId"] == "E-7").unwrap();
    assert_eq!(erin["id"], existing["id"]);
    assert_eq!(
        erin["userName"], "erin",
        "the linked account is brought up to date"
    );

    // The quote and the backslash are escaped inside the filter's JSON string.
    let queries: Vec<&str> = reqs.iter().filter_map(|r| r["query"].as_str()).collect();
    assert!(
        queries.contains(&"filter=externalId+eq+%22Q%5C%221%5C%5C2%22"),
        "{queries:#?}"
    );
    assert!(
        queries.contains(&"filter=externalId+eq+%22E-7%22"),
        "{queries:#?}"
    );
}

#[tokio::test]
async fn api_and_console_round_trip_the_settings_and_name_a_bad_line() {
    let (_db, server) = setup().await;
    server.admin("root", "correct horse battery").await;
    let token = tokens::create(&server.db, &Actor::cli(), "ci", "root")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let patch = |body: Value| {
        http.patch(format!("{base}/api/v1/apps/app/scim"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let res = patch(json!({
        "url": "https://scim.example/v2", "token": "t",
        "scope": "all",
        "filters": "member_of in Sales, Support\ngroup 2: email matches @x\\.example$",
        "matching": ["externalId", "userName"],
    }))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let shown: Value = http
        .get(format!("{base}/api/v1/apps/app/scim"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["scope"], "all");
    assert_eq!(
        shown["filters"],
        "group 1: member_of in Sales, Support\ngroup 2: email matches @x\\.example$"
    );
    assert_eq!(shown["matching"], json!(["externalId", "userName"]));
    let bad = patch(json!({"filters": "title equals a\ndepartment equals Sales"}))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("line 2") && msg.contains("department"),
        "{msg}"
    );
    let doc: Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let props = &doc["components"]["schemas"]["ScimPatch"]["properties"];
    for field in ["scope", "filters", "matching"] {
        assert!(props.get(field).is_some(), "ScimPatch.{field} documented");
    }

    // The console: the form shows the settings; a refused form keeps what was typed.
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", "correct horse battery").await.status, 303);
    let page = b.get("/admin/apps/app/idm").await;
    assert!(
        page.body.contains("group 2: email matches @x\\.example$"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="all" id="scope-all" checked"#));
    let csrf = page.csrf();
    let form = |filters: &'static str, scope: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("connector", "generic".to_string()),
            ("url", "https://scim.example/v2".to_string()),
            ("deprovision", "deactivate".to_string()),
            ("deletion_threshold", "0".to_string()),
            ("scope", scope.to_string()),
            ("filters", filters.to_string()),
            ("matching", "userName, email".to_string()),
        ]
    };
    let owned = form("title equals A\r\ntitle contains B", "assigned");
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post("/admin/apps/app/idm", &pairs).await;
    assert_eq!(refused.status, 400, "shown again, refused");
    assert!(
        refused.body.contains("scoping filter line 2"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("title contains B"), "kept as typed");
    assert!(refused
        .body
        .contains(r#"value="assigned" id="scope-assigned" checked"#));
    assert!(refused.body.contains("aria-invalid=\"true\""));
    let owned = form("title equals A", "assigned");
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(b.post("/admin/apps/app/idm", &pairs).await.status, 303);
    let shown: Value = http
        .get(format!("{base}/api/v1/apps/app/scim"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["scope"], "assigned");
    assert_eq!(shown["filters"], "group 1: title equals A");
    assert_eq!(
        shown["matching"],
        json!(["userName", "emails[type eq \"work\"].value"])
    );
}

#[test]
fn cli_and_declarations_round_trip_the_settings() {
    let cli = Cli::new();
    cli.ok(&["app", "add", "crm", "--template", "generic"]);
    let out = cli.run_with(
        &[
            "scim",
            "set",
            "crm",
            "--url",
            "https://scim.example/v2",
            "--token-stdin",
            "--scope",
            "all",
            "--filter",
            "title equals Engineer",
            "--filter",
            "group 2: manager is not empty",
            "--match",
            "userName,externalId",
        ],
        Some("t0ken\n"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = cli.json(&["scim", "show", "crm", "--json"]);
    assert_eq!(shown["scope"], "all");
    assert_eq!(
        shown["filters"],
        "group 1: title equals Engineer\ngroup 2: manager is not empty"
    );
    assert_eq!(shown["matching"], json!(["userName", "externalId"]));
    cli.refused(
        &[
            "scim",
            "set",
            "crm",
            "--filter",
            "title equals a",
            "--filter",
            "title contains b",
        ],
        "scoping filter line 2",
    );
    cli.refused(
        &["scim", "set", "crm", "--scope", "everyone"],
        "assigned or all",
    );
    cli.refused(
        &["scim", "set", "crm", "--match", "userName,phone"],
        "phone",
    );

    // Exported, then applied elsewhere: the same settings.
    let exported = cli.ok(&["export"]);
    assert!(exported.contains("scope = \"all\""), "{exported}");
    assert!(
        exported.contains("match = [\"userName\", \"externalId\"]"),
        "{exported}"
    );
    assert!(
        exported.contains("group 2: manager is not empty"),
        "{exported}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sesame.toml");
    let decl = "[[app]]\nslug = \"wiki\"\n[app.scim]\nurl = \"https://scim.example/v2\"\n\
                scope = \"all\"\nfilters = [\"email is not empty\", \"bad clause here\"]\n\
                match = [\"externalId\"]\n";
    std::fs::write(&file, decl).unwrap();
    cli.refused(&["apply", file.to_str().unwrap()], "line 2");
    let decl = decl.replace(", \"bad clause here\"", "");
    std::fs::write(&file, decl).unwrap();
    cli.ok(&["apply", file.to_str().unwrap()]);
    let shown = cli.json(&["scim", "show", "wiki", "--json"]);
    assert_eq!(shown["scope"], "all");
    assert_eq!(shown["filters"], "group 1: email is not empty");
    assert_eq!(shown["matching"], json!(["externalId"]));
}
