//! Attribute mapping with expressions (issue 16 item 3) against the real SCIM target and a
//! real SAML SP: mapped values (Join, ToLower, Switch, an enterprise department from the new
//! profile field) arrive; a create-only mapping is sent in the POST and never after; the
//! console previews the mapped SCIM user; a bad expression is refused with its field named in
//! the console, the API and the CLI; declarations round-trip; a SAML attribute from an
//! expression reaches the SP.

use serde_json::{json, Value};
use sesame::auth::tokens;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::saml::settings::SsoChanges;
use sesame::scim::target::Changes;

use crate::cli::Cli;
use crate::scim_peer::{connect, settle, ScimPeer};
use crate::sp::World;
use crate::support::{Browser, TestDb, TestServer};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const MAPPINGS: &str = "displayName = Join(\" \", [first_name], [last_name])\n\
     urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department = [department]\n\
     nickName = ToLower([username]) [create]\n\
     title = Switch([department], \"Staff\", \"Research\", \"Scientist\")";

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
    let f = UserFields {
        email: Some("alice@example.com".into()),
        first_name: Some("Alice".into()),
        last_name: Some("Liddell".into()),
        department: Some("Research".into()),
        cost_center: Some("CC-1".into()),
        location: Some("Oxford".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &actor, "Alice.L", &f, None)
        .await
        .unwrap();
    groups::set_member(&server.db, &actor, "staff", "Alice.L", true)
        .await
        .unwrap();
    (db, server)
}

#[tokio::test]
async fn mapped_values_arrive_and_create_only_is_sent_once() {
    let (_db, server) = setup().await;
    let peer = ScimPeer::start(&[]);
    let extra = Changes {
        mappings: Some(MAPPINGS.into()),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &peer, extra).await;
    settle(&server.db, "app", 20).await;
    let u = peer.user("Alice.L").await.expect("provisioned");
    assert_eq!(u["displayName"], "Alice Liddell", "{u}");
    assert_eq!(u["nickName"], "alice.l", "{u}");
    assert_eq!(u["title"], "Scientist", "{u}");
    assert_eq!(u[ENTERPRISE]["department"], "Research", "{u}");
    let posts: Vec<Value> = peer
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/Users")
        .collect();
    assert_eq!(posts.len(), 1);
    assert!(posts[0]["body"].to_string().contains("nickName"));

    // A change: the mapped values follow; the create-only nickName is never sent again.
    let seen = peer.requests().len();
    let change = UserFields {
        first_name: Some("Alicia".into()),
        department: Some("Sales".into()),
        ..UserFields::default()
    };
    users::update(&server.db, &Actor::system(), "Alice.L", &change)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    let u = peer.user("Alice.L").await.unwrap();
    assert_eq!(u["displayName"], "Alicia Liddell", "{u}");
    assert_eq!(u["title"], "Staff", "Switch's default: {u}");
    assert_eq!(u[ENTERPRISE]["department"], "Sales", "{u}");
    assert_eq!(u["nickName"], "alice.l", "{u}");
    let later: Vec<Value> = peer.requests().into_iter().skip(seen).collect();
    assert!(
        later.iter().any(|r| r["method"] == "PATCH"),
        "an update was sent: {later:#?}"
    );
    for r in &later {
        assert!(
            !r["body"].to_string().contains("nickName"),
            "create-only sent again: {r}"
        );
    }

    // A new mapping for nickName as "always": now it is compared and sent.
    let key = server.config.seal_key().unwrap();
    let always = Changes {
        mappings: Some(
            MAPPINGS
                .replace(" [create]", "")
                .replace("ToLower", "ToUpper"),
        ),
        ..Changes::default()
    };
    sesame::scim::target::update(&server.db, &key, &Actor::system(), "app", &always)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(peer.user("Alice.L").await.unwrap()["nickName"], "ALICE.L");
}

#[tokio::test]
async fn console_and_api_preview_and_refuse_with_the_field_named() {
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
    let items: Vec<&str> = MAPPINGS.lines().collect();
    let res = patch(json!({ "url": "https://scim.example/v2", "token": "t", "mappings": items }))
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
    assert_eq!(shown["mappings"], json!(items));
    let bad = patch(json!({ "mappings": ["title = [title]", "displayName = Left([first_name])"] }))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("line 2: mapping for \"displayName\": Left expects 2 arguments"),
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
    assert!(doc["components"]["schemas"]["ScimPatch"]["properties"]
        .get("mappings")
        .is_some());

    // The console previews the mapped SCIM user.
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", "correct horse battery").await.status, 303);
    let page = b.get("/admin/apps/app/idm?preview=Alice.L").await;
    assert_eq!(page.status, 200);
    for part in [
        "id=\"scim-preview-json\"",
        "Alice Liddell",
        "Scientist",
        "Research",
        "alice.l",
        "sent on create only: <code>nickName</code>",
        "ToLower([username]) [create]",
    ] {
        assert!(page.body.contains(part), "{part}: {}", page.body);
    }

    // A refused form keeps the text, names the line and the field.
    let csrf = page.csrf();
    let typed = "title = [title]\r\ndisplayName = Left([first_name])";
    let pairs = [
        ("csrf", csrf.as_str()),
        ("connector", "generic"),
        ("url", "https://scim.example/v2"),
        ("deprovision", "deactivate"),
        ("deletion_threshold", "0"),
        ("scope", "assigned"),
        ("filters", ""),
        ("matching", "userName"),
        ("mappings", typed),
    ];
    let refused = b.post("/admin/apps/app/idm", &pairs).await;
    assert_eq!(refused.status, 400, "shown again, refused");
    assert!(
        refused
            .body
            .contains("attribute mapping line 2: mapping for")
            && refused.body.contains("Left expects 2 arguments"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("displayName = Left([first_name])"));
    assert!(refused.body.contains("aria-invalid=\"true\""));
}

#[test]
fn cli_and_declarations_round_trip_the_mappings() {
    let cli = Cli::new();
    cli.ok(&["app", "add", "crm", "--template", "generic"]);
    cli.ok(&[
        "user",
        "add",
        "bob",
        "--email",
        "bob@example.com",
        "--department",
        "Ops",
        "--cost-center",
        "CC-9",
        "--location",
        "Zürich",
    ]);
    let shown = cli.ok(&["user", "show", "bob"]);
    assert!(
        shown.contains("Zürich") && shown.contains("CC-9"),
        "{shown}"
    );
    let out = cli.run_with(
        &[
            "scim",
            "set",
            "crm",
            "--url",
            "https://scim.example/v2",
            "--token-stdin",
            "--map",
            "displayName=Join(\" \", [first_name], [last_name])",
            "--map",
            "nickName=NormalizeDiacritics([location]) [create]",
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
    assert_eq!(
        shown["mappings"],
        json!([
            "displayName = Join(\" \", [first_name], [last_name])",
            "nickName = NormalizeDiacritics([location]) [create]"
        ])
    );
    cli.refused(
        &[
            "scim",
            "set",
            "crm",
            "--map",
            "displayName=Left([first_name])",
        ],
        "mapping for \"displayName\": Left expects 2 arguments",
    );
    cli.refused(
        &["scim", "set", "crm", "--map", "shoeSize=[location]"],
        "mapping for \"shoeSize\"",
    );

    let exported = cli.ok(&["export"]);
    assert!(
        exported.contains("nickName = NormalizeDiacritics([location]) [create]"),
        "{exported}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sesame.toml");
    let decl = "[[app]]\nslug = \"wiki\"\n[app.scim]\nurl = \"https://scim.example/v2\"\n\
                mappings = ['title = Coalesce([title], \"Staff\")', 'nickName = Left([username])']\n";
    std::fs::write(&file, decl).unwrap();
    cli.refused(
        &["apply", file.to_str().unwrap()],
        "mapping for \"nickName\": Left expects 2 arguments",
    );
    std::fs::write(
        &file,
        decl.replace("Left([username])", "Left([username], 3)"),
    )
    .unwrap();
    cli.ok(&["apply", file.to_str().unwrap()]);
    let shown = cli.json(&["scim", "show", "wiki", "--json"]);
    assert_eq!(
        shown["mappings"],
        json!([
            "title = Coalesce([title], \"Staff\")",
            "nickName = Left([username], 3)"
        ])
    );
    cli.ok(&["scim", "set", "wiki", "--no-maps"]);
    assert_eq!(
        cli.json(&["scim", "show", "wiki", "--json"])["mappings"],
        json!([])
    );
}

#[tokio::test]
async fn a_saml_attribute_from_an_expression_reaches_the_sp() {
    let w = World::new().await;
    w.set(SsoChanges {
        attributes: Some(vec![
            "email=email".into(),
            "displayName=Join(\" \", [username], \"at\", ToUpper([email]))".into(),
            "dept=Coalesce([department], \"none\")".into(),
        ]),
        ..SsoChanges::default()
    })
    .await;
    let mut b = w.browser();
    let (verdict, _) = w.sso(&mut b, &[("binding", "redirect")], "alice").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(
        verdict["attributes"]["displayName"][0], "alice at ALICE@EXAMPLE.COM",
        "{verdict}"
    );
    assert_eq!(verdict["attributes"]["dept"][0], "none");
    let refused = sesame::saml::settings::update(
        &w.server.db,
        &Actor::system(),
        "demo",
        &SsoChanges {
            attributes: Some(vec!["displayName=Left([first_name])".into()]),
            ..SsoChanges::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("mapping for attribute \"displayName\": Left expects 2 arguments"),
        "{refused}"
    );
}
