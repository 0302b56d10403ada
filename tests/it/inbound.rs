//! Inbound SCIM (sesame as a SCIM server at /scim/v2): a client provisions a user and a
//! group into sesame and the outbound bridge carries them to an app's real SCIM target
//! (scim2-server); deactivation by PATCH reaches both; tokens are scoped; a source changes
//! only what it created; hostile input is refused; and scim2-tester's compliance checks.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame::auth::tokens;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{Actor, DirectoryError};
use sesame::inbound::sources;
use sesame::scim::target::Changes;
use sesame::store::events::{self, EventFilter};

use crate::scim_peer::{connect, settle, ScimPeer};
use crate::support::{Browser, TestDb, TestServer};

const ADMIN: &str = "root";
const ADMIN_PW: &str = "admin password 12345";
const SCIM_TYPE: &str = "application/scim+json";

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(server: &TestServer, token: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{}/scim/v2", server.addr),
            token: token.to_string(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header("content-type", SCIM_TYPE).body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        if status != 204 {
            let ct = res.headers()["content-type"].to_str().unwrap().to_string();
            assert_eq!(ct, SCIM_TYPE, "{path}");
        }
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }
    async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        self.send(reqwest::Method::PATCH, path, Some(&body)).await
    }
}

fn user_body(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": format!("hr-{name}"),
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}],
        "title": "Engineer",
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E-1"},
    })
}

async fn start() -> (TestDb, TestServer, String) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.admin(ADMIN, ADMIN_PW).await;
    let token = sources::create(&server.db, &Actor::cli(), "hr")
        .await
        .unwrap();
    (db, server, token)
}

#[tokio::test]
async fn provisioned_into_sesame_and_on_to_the_app() {
    let (_db, server, token) = start().await;
    let sys = Actor::system();
    apps::add(&server.db, &sys, "app", "generic", &AppChanges::default())
        .await
        .unwrap();
    let peer = ScimPeer::start(&[]);
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    let c = Client::new(&server, &token);

    let (status, alice) = c.post("/Users", user_body("alice")).await;
    assert_eq!(status, 201, "{alice}");
    let id = alice["id"].as_str().unwrap().to_string();
    assert_eq!(alice["externalId"], "hr-alice");
    let (status, group) = c
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "staff", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    assert_eq!(group["members"][0]["value"], id.as_str());
    apps::set_binding(&server.db, &sys, "app", "staff", true)
        .await
        .unwrap();

    // The bridge carries the user to the app within seconds.
    let started = Instant::now();
    settle(&server.db, "app", 20).await;
    let remote = peer.user("alice").await.expect("alice reached the app");
    assert_eq!(remote["active"], true);
    assert!(started.elapsed() < Duration::from_secs(20));

    // A filter finds them; paths and operators are case-insensitive.
    let (status, found) = c.get("/Users?filter=USERNAME%20Eq%20%22alice%22").await;
    assert_eq!(status, 200);
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["id"], id.as_str());

    // Entra's form of deactivation: capitalised op, a string boolean.
    let (status, after) = c
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["active"], false);
    assert!(!users::get(&server.db, "alice").await.unwrap().active);
    settle(&server.db, "app", 20).await;
    let gone = peer.user("alice").await;
    assert!(gone.is_none() || gone.unwrap()["active"] == false);

    // Every change is recorded under the source.
    let mut conn = server.db.read().await.unwrap();
    let evs = events::list(
        &mut conn,
        &EventFilter {
            username: Some("alice".into()),
            limit: 100,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    for name in ["user_create", "group_member_add", "user_suspend"] {
        let e = evs
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(e.actor, "scim:hr");
    }
}

#[tokio::test]
async fn tokens_are_scoped_to_their_surface() {
    let (_db, server, token) = start().await;
    let admin_token = tokens::create(&server.db, &Actor::cli(), "ops", ADMIN)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let res = http
        .get(format!("http://{}/scim/v2/Users", server.addr))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(res.headers()["content-type"], SCIM_TYPE);
    let res = http
        .get(format!("http://{}/api/v1/users", server.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    // A revoked source is refused.
    sources::revoke(&server.db, &Actor::cli(), "hr")
        .await
        .unwrap();
    let (status, _) = Client::new(&server, &token).get("/Users").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_source_changes_only_what_it_created() {
    let (_db, server, token) = start().await;
    let c = Client::new(&server, &token);
    let f = UserFields {
        email: Some("bob@example.com".into()),
        ..UserFields::default()
    };
    let bob = users::add(&server.db, &Actor::system(), "bob", &f, None)
        .await
        .unwrap();

    // A hand-made user: the source may read it but not change it.
    let (status, err) = c
        .patch(
            &format!("/Users/{}", bob.id),
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["scimType"], "mutability");
    assert!(err["detail"]
        .as_str()
        .unwrap()
        .contains("not created by SCIM source"));
    let (status, err) = c.post("/Users", user_body("bob")).await;
    assert_eq!(status, 409);
    assert_eq!(err["scimType"], "uniqueness");
    let (status, _) = c
        .send(reqwest::Method::DELETE, &format!("/Users/{}", bob.id), None)
        .await;
    assert_eq!(status, 409);

    // A source-made user: admins may not edit it (409 through the API), but may suspend it.
    let (status, alice) = c.post("/Users", user_body("alice")).await;
    assert_eq!(status, 201);
    let fields = UserFields {
        title: Some("Boss".into()),
        ..UserFields::default()
    };
    let refused = users::update(&server.db, &Actor::admin(ADMIN, None), "alice", &fields).await;
    assert!(
        matches!(refused, Err(DirectoryError::Managed(m)) if m.contains("managed by SCIM source \"hr\""))
    );
    let admin_token = tokens::create(&server.db, &Actor::cli(), "ops", ADMIN)
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .patch(format!("http://{}/api/v1/users/alice", server.addr))
        .bearer_auth(&admin_token)
        .json(&json!({"title": "Boss"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "managed");
    users::set_active(&server.db, &Actor::admin(ADMIN, None), "alice", false)
        .await
        .unwrap();
    // A PATCH of another attribute leaves the admin's suspension alone.
    let id = alice["id"].as_str().unwrap();
    let (status, after) = c
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "add", "value": {"title": "Lead", "name.givenName": "Al"}}]),
        )
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["title"], "Lead");
    assert_eq!(after["name"]["givenName"], "Al");
    assert_eq!(after["active"], false);

    // The console says who manages the user and disables the forms.
    let mut b = Browser::new(&server);
    assert_eq!(b.login(ADMIN, ADMIN_PW).await.status, 303);
    let page = b.get("/admin/users/alice").await;
    assert!(
        page.body
            .contains("Managed by SCIM source <strong>hr</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<fieldset disabled>"));
    let page = b.get("/admin/scim-sources").await;
    assert!(page.body.contains("<td>hr</td>"), "{}", page.body);
}

#[tokio::test]
async fn hostile_input_is_refused_not_served() {
    let (_db, server, token) = start().await;
    let c = Client::new(&server, &token);
    let long = format!("userName eq \"{}\"", "a".repeat(10_000));
    let started = Instant::now();
    let (status, err) = c
        .get(&format!("/Users?filter={}", percent_encode(&long)))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["scimType"], "invalidFilter");
    let nested = format!("{}userName pr{}", "(".repeat(2000), ")".repeat(2000));
    let (status, err) = c
        .get(&format!("/Users?filter={}", percent_encode(&nested)))
        .await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = c.get("/Users?filter=userName%20eq").await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (400, Some("invalidFilter"))
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let res = reqwest::Client::new()
        .post(format!("{}/Users", c.base))
        .bearer_auth(&token)
        .header("content-type", SCIM_TYPE)
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let big = json!({"userName": "x", "title": "t".repeat(400_000)});
    let (status, err) = c.post("/Users", big).await;
    assert_eq!(status, 413, "{err}");
    let (status, list) = c.get("/Users?count=100000&startIndex=-5").await;
    assert_eq!(status, 200);
    assert_eq!(list["startIndex"], 1);
    let (status, _) = c.get("/Nope").await;
    assert_eq!(status, 404);
    // Still serving.
    let (status, _) = c.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
}

fn percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Checks scim2-tester reports as failing (`title`, or `title@ResourceType`), each with the
/// reason it is left so. Anything else that fails fails this test.
const KNOWN_FAILURES: &[(&str, &str)] = &[
    (
        "search_with_attributes",
        "POST /.search (RFC 7644 §3.4.3) is not served; GET with filter is",
    ),
    (
        "object_replacement",
        "the checker changes userName, which sesame keeps (mutability, 400)",
    ),
    (
        "check_replace_attribute",
        "userName cannot change; sesame's one email is always primary",
    ),
    (
        "check_remove_attribute",
        "removing active leaves the state as it is (absent is not false)",
    ),
    (
        "check_add_attribute@Group",
        "members.display (readOnly) is returned; the checker compares it with what it sent",
    ),
];

#[tokio::test]
async fn scim2_tester_compliance() {
    let available = std::process::Command::new("python3")
        .args(["-c", "import scim2_tester, httpx2"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "scim2-tester is missing (scripts/setup.sh test installs it)"
        );
        eprintln!("skipped: scim2-tester is not installed (scripts/setup.sh test)");
        return;
    }
    let (_db, server, token) = start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scim_client/check.py");
    let base = format!("http://{}/scim/v2", server.addr);
    // Off the runtime's thread: the server answers the checker from this runtime.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &base, &token])
            .output()
    })
    .await
    .unwrap()
    .expect("run scim2-tester");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON results");
    let ok = ["SUCCESS", "COMPLIANT", "ACCEPTABLE", "SKIPPED"];
    let mut failed = Vec::new();
    let mut passed = 0;
    for r in &results {
        let status = r["status"].as_str().unwrap_or("");
        if ok.contains(&status) {
            passed += 1;
        } else {
            let title = r["title"].as_str().unwrap_or("").to_string();
            let scoped = format!("{title}@{}", r["resource_type"].as_str().unwrap_or(""));
            if !KNOWN_FAILURES
                .iter()
                .any(|(t, _)| *t == title || *t == scoped)
            {
                failed.push(format!(
                    "{} [{}] {status}: {}",
                    title, r["resource_type"], r["reason"]
                ));
            }
        }
    }
    eprintln!("scim2-tester: {passed} of {} checks passed", results.len());
    assert!(failed.is_empty(), "failing checks:\n{}", failed.join("\n"));
    assert!(passed >= 20, "{passed} passed");
}
