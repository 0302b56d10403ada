//! The JSON admin API under `/api/v1` over HTTP (PRODUCT §3.5): who may call it (admin
//! tokens and admin sessions only), every operation, refusals that change nothing, SCIM
//! credentials kept out of every answer and event, and the OpenAPI document against the
//! router.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sesame::auth::password::Password;
use sesame::auth::tokens;
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};

use crate::scim_peer::{settle, ScimPeer, TOKEN};
use crate::support::{Browser, TestDb, TestServer};

const PW: &str = "correct horse battery";
/// The admin the tests' tokens act as (the server also makes its own first admin).
const OWNER: &str = "root";
const TOKEN_NAME: &str = "ci";
const ACTOR: &str = "admin:root (token ci)";

/// One answer: status, headers and the body as JSON (`Null` when empty).
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// A client of the API with one way to authenticate, keeping every body it received.
struct Api {
    client: reqwest::Client,
    base: String,
    auth: Auth,
    seen: Mutex<Vec<String>>,
}

#[derive(Clone)]
enum Auth {
    None,
    Bearer(String),
    /// A raw `Authorization` header value.
    Header(String),
    Cookie(String),
}

impl Api {
    fn new(server: &TestServer, auth: Auth) -> Api {
        Api {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            base: format!("http://{}", server.addr),
            auth,
            seen: Mutex::new(Vec::new()),
        }
    }

    fn with(&self, auth: Auth) -> Api {
        Api {
            client: self.client.clone(),
            base: self.base.clone(),
            auth,
            seen: Mutex::new(Vec::new()),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(t),
            Auth::Header(h) => rb.header("authorization", h),
            Auth::Cookie(c) => rb.header("cookie", format!("{}={c}", sesame::app::SESSION_COOKIE)),
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Answer {
        let res = rb.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        self.seen.lock().unwrap().push(text.clone());
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    /// A request with this exact content type and body text.
    async fn raw(&self, method: Method, path: &str, content_type: &str, body: &str) -> Answer {
        let rb = self
            .request(method, path)
            .header("content-type", content_type)
            .body(body.to_string());
        self.send(rb).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }
    /// A POST without a body (actions).
    async fn act(&self, path: &str) -> Answer {
        self.call(Method::POST, path, None).await
    }
    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Option<Value>) -> Answer {
        self.call(Method::PUT, path, body).await
    }
    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    /// A GET that must answer 200; its body.
    async fn ok(&self, path: &str) -> Value {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "GET {path}: {}", a.body);
        a.body
    }

    fn all_seen(&self) -> String {
        self.seen.lock().unwrap().join("\n")
    }
}

#[track_caller]
fn expect(a: &Answer, status: u16, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
}

#[track_caller]
fn expect_error(a: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert_eq!(a.code(), code, "{what}: {}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a message for people: {}",
        a.body
    );
}

async fn add_user(server: &TestServer, name: &str, admin: bool, password: Option<&str>) {
    let fields = UserFields {
        email: Some(format!("{name}@example.com")),
        first_name: Some(format!("{name}-first")),
        is_admin: Some(admin),
        ..UserFields::default()
    };
    let pw = password.map(|p| Password::new(p.into()).unwrap());
    users::add(&server.db, &Actor::system(), name, &fields, pw.as_ref())
        .await
        .unwrap();
}

/// A server with an admin `root` (password `PW`) holding the token `ci`, and a second admin.
async fn setup() -> (TestDb, TestServer, Api) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    add_user(&server, OWNER, true, Some(PW)).await;
    // Another admin, so that the owner may be demoted or suspended.
    add_user(&server, "backup", true, None).await;
    let token = tokens::create(&server.db, &Actor::cli(), TOKEN_NAME, OWNER)
        .await
        .unwrap();
    let api = Api::new(&server, Auth::Bearer(token));
    (db, server, api)
}

/// The id of the newest event (0 when none): a refused request must not move it.
async fn last_event(server: &TestServer) -> i64 {
    let mut conn = server.db.read().await.unwrap();
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// A loopback URL nothing listens on.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/scim/v2")
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let (_db, server, api) = setup().await;
    let anon = api.with(Auth::None);
    let before = last_event(&server).await;
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api/v1/catalog", None),
        (Method::GET, "/api/v1/apps", None),
        (Method::GET, "/api/v1/users", None),
        (Method::GET, "/api/v1/events", None),
        (Method::GET, "/api/v1/no-such-endpoint", None),
        (
            Method::POST,
            "/api/v1/apps",
            Some(json!({"slug": "sneaky", "template": "generic"})),
        ),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "mallory", "email": "m@example.com", "is_admin": true})),
        ),
        (Method::POST, "/api/v1/groups", Some(json!({"name": "g"}))),
        (Method::DELETE, "/api/v1/users/root", None),
        (Method::POST, "/api/v1/users/root/suspend", None),
    ];
    for (m, path, body) in &calls {
        let a = anon.call(m.clone(), path, body.clone()).await;
        expect_error(
            &a,
            401,
            "unauthorized",
            &format!("{m} {path} without a token"),
        );
        assert_eq!(
            a.headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"sesame\""),
            "{m} {path}"
        );
    }
    // Garbage: not a token, an unknown token, another scheme, an empty one.
    for header in [
        "Bearer not-a-token",
        "Bearer ses_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Basic cm9vdDpjb3JyZWN0IGhvcnNlIGJhdHRlcnk=",
        "Bearer ",
        "ses_",
    ] {
        let bad = api.with(Auth::Header(header.into()));
        expect_error(&bad.get("/api/v1/apps").await, 401, "unauthorized", header);
        let post = bad
            .post("/api/v1/groups", json!({"name": "by-garbage"}))
            .await;
        expect_error(&post, 401, "unauthorized", header);
    }
    assert_eq!(last_event(&server).await, before, "nothing was recorded");
    assert_eq!(api.get("/api/v1/apps/sneaky").await.status, 404);
    assert_eq!(api.get("/api/v1/users/mallory").await.status, 404);
    assert_eq!(api.get("/api/v1/groups/g").await.status, 404);
    assert!(api.ok("/api/v1/users/root").await["active"]
        .as_bool()
        .unwrap());

    // The scheme is case-insensitive.
    let Auth::Bearer(token) = api.auth.clone() else {
        unreachable!()
    };
    let lower = api.with(Auth::Header(format!("bearer {token}")));
    expect(&lower.get("/api/v1/apps").await, 200, "lower-case scheme");

    // A revoked token stops working at once; so does one whose owner is suspended.
    let second = tokens::create(&server.db, &Actor::cli(), "second", OWNER)
        .await
        .unwrap();
    let api2 = api.with(Auth::Bearer(second));
    expect(&api2.get("/api/v1/apps").await, 200, "a fresh token");
    tokens::revoke(&server.db, &Actor::cli(), "second")
        .await
        .unwrap();
    expect_error(
        &api2.get("/api/v1/apps").await,
        401,
        "unauthorized",
        "revoked",
    );
    let create = api2
        .post(
            "/api/v1/apps",
            json!({"slug": "after-revoke", "template": "generic"}),
        )
        .await;
    expect_error(&create, 401, "unauthorized", "revoked, POST");
    assert_eq!(api.get("/api/v1/apps/after-revoke").await.status, 404);
    expect(
        &api.get("/api/v1/apps").await,
        200,
        "the other token still works",
    );

    users::set_active(&server.db, &Actor::system(), OWNER, false)
        .await
        .unwrap();
    expect_error(
        &api.get("/api/v1/apps").await,
        401,
        "unauthorized",
        "owner suspended",
    );
    users::set_active(&server.db, &Actor::system(), OWNER, true)
        .await
        .unwrap();
    expect(&api.get("/api/v1/apps").await, 200, "owner active again");
    server.stop().await;
}

/// One request per route family, as (method, path, body).
fn every_family() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/catalog", None),
        (Method::GET, "/api/v1/apps", None),
        (
            Method::POST,
            "/api/v1/apps",
            Some(json!({"slug": "new-app", "template": "generic"})),
        ),
        (Method::GET, "/api/v1/apps/app", None),
        (
            Method::PATCH,
            "/api/v1/apps/app",
            Some(json!({"label": "X"})),
        ),
        (Method::DELETE, "/api/v1/apps/app", None),
        (Method::GET, "/api/v1/apps/app/sso", None),
        (
            Method::PATCH,
            "/api/v1/apps/app/sso",
            Some(json!({"sp_entity_id": "https://sp.example/"})),
        ),
        (
            Method::PUT,
            "/api/v1/apps/app/sso/metadata",
            Some(json!({"xml": "<x/>"})),
        ),
        (Method::GET, "/api/v1/apps/app/sso/preview?user=bob", None),
        (Method::PUT, "/api/v1/apps/app/groups/staff", None),
        (Method::DELETE, "/api/v1/apps/app/groups/staff", None),
        (Method::GET, "/api/v1/apps/app/scim", None),
        (
            Method::PATCH,
            "/api/v1/apps/app/scim",
            Some(json!({"url": "https://scim.example/v2", "token": "t"})),
        ),
        (Method::DELETE, "/api/v1/apps/app/scim", None),
        (Method::POST, "/api/v1/apps/app/scim/test", None),
        (Method::POST, "/api/v1/apps/app/scim/activate", None),
        (Method::POST, "/api/v1/apps/app/scim/plan", None),
        (Method::GET, "/api/v1/apps/app/scim/import", None),
        (
            Method::POST,
            "/api/v1/apps/app/scim/import",
            Some(json!({"all": true})),
        ),
        (Method::GET, "/api/v1/users", None),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "eve", "email": "eve@example.com"})),
        ),
        (Method::GET, "/api/v1/users/bob", None),
        (
            Method::PATCH,
            "/api/v1/users/bob",
            Some(json!({"is_admin": true})),
        ),
        (Method::DELETE, "/api/v1/users/bob", None),
        (Method::POST, "/api/v1/users/bob/suspend", None),
        (
            Method::POST,
            "/api/v1/users/bob/password",
            Some(json!({"password": "a new long password"})),
        ),
        (Method::GET, "/api/v1/groups", None),
        (Method::POST, "/api/v1/groups", Some(json!({"name": "new"}))),
        (Method::GET, "/api/v1/groups/staff", None),
        (
            Method::PATCH,
            "/api/v1/groups/staff",
            Some(json!({"description": "d"})),
        ),
        (Method::DELETE, "/api/v1/groups/staff", None),
        (Method::PUT, "/api/v1/groups/staff/members/bob", None),
        (Method::DELETE, "/api/v1/groups/staff/members/bob", None),
        (Method::GET, "/api/v1/events", None),
        (Method::GET, "/api/v1/config", None),
        (
            Method::POST,
            "/api/v1/import/users",
            Some(json!("username,email\nx,x@example.com\n")),
        ),
        (
            Method::POST,
            "/api/v1/config/plan",
            Some(json!({"toml": "[[group]]\nname = \"declared\"\n"})),
        ),
        (
            Method::POST,
            "/api/v1/config/apply",
            Some(json!({"toml": "[[group]]\nname = \"declared\"\n"})),
        ),
        (Method::GET, "/api/v1/no-such-endpoint", None),
    ]
}

#[tokio::test]
async fn non_admins_are_forbidden_with_a_token_or_a_session() {
    let (_db, server, api) = setup().await;
    add_user(&server, "bob", false, Some(PW)).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    groups::set_member(&server.db, &sys, "staff", "bob", true)
        .await
        .unwrap();
    expect(
        &api.post(
            "/api/v1/apps",
            json!({"slug": "app", "template": "generic"}),
        )
        .await,
        201,
        "create app",
    );
    expect(
        &api.put("/api/v1/apps/app/groups/staff", None).await,
        200,
        "bind",
    );
    let snapshot = (
        api.ok("/api/v1/apps/app").await,
        api.ok("/api/v1/users/bob").await,
        api.ok("/api/v1/groups/staff").await,
    );

    // The token's owner is demoted: the token acts as them, so it is refused (403).
    let demote = UserFields {
        is_admin: Some(false),
        ..UserFields::default()
    };
    users::update(&server.db, &sys, OWNER, &demote)
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    assert_eq!(b.login("bob", PW).await.status, 303, "bob signs in");
    let cookie = b.session_cookie().expect("session cookie");
    let before = last_event(&server).await;
    for (m, path, body) in every_family() {
        let a = api.call(m.clone(), path, body).await;
        expect_error(&a, 403, "forbidden", &format!("demoted owner: {m} {path}"));
    }

    // A non-admin's portal session: 403 under /api/v1 too.
    let session = api.with(Auth::Cookie(cookie));
    for (m, path, body) in every_family() {
        let a = session.call(m.clone(), path, body).await;
        expect_error(&a, 403, "forbidden", &format!("bob's session: {m} {path}"));
    }
    assert_eq!(last_event(&server).await, before, "nothing was recorded");

    // Promoted again, the same token works and shows nothing changed.
    let promote = UserFields {
        is_admin: Some(true),
        ..UserFields::default()
    };
    users::update(&server.db, &sys, OWNER, &promote)
        .await
        .unwrap();
    assert_eq!(api.ok("/api/v1/apps/app").await, snapshot.0);
    let mut bob = api.ok("/api/v1/users/bob").await;
    assert_eq!(bob["is_admin"], false);
    assert_eq!(bob["active"], true);
    bob["updated_at"] = snapshot.1["updated_at"].clone();
    // Bob signed in for the session above: that is all that moved.
    assert!(bob["last_sign_in"].is_i64(), "{bob}");
    bob["last_sign_in"] = snapshot.1["last_sign_in"].clone();
    assert_eq!(bob, snapshot.1);
    assert_eq!(api.ok("/api/v1/groups/staff").await, snapshot.2);
    for missing in [
        "/api/v1/apps/new-app",
        "/api/v1/users/eve",
        "/api/v1/groups/new",
    ] {
        assert_eq!(api.get(missing).await.status, 404, "{missing}");
    }

    // The HTML console is for admins too.
    let mut statuses = Vec::new();
    for path in ["/admin", "/admin/apps", "/admin/users"] {
        statuses.push((path, b.get(path).await.status));
    }
    assert_eq!(
        statuses,
        [("/admin", 403), ("/admin/apps", 403), ("/admin/users", 403)],
        "the console for a non-admin session"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_admin_session_works_but_not_for_changes_from_another_site() {
    let (_db, server, api) = setup().await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login(OWNER, PW).await.status, 303, "root signs in");
    let session = api.with(Auth::Cookie(b.session_cookie().unwrap()));
    expect(&session.get("/api/v1/apps").await, 200, "admin session GET");
    let made = session
        .post(
            "/api/v1/groups",
            json!({"name": "by-session", "description": "d"}),
        )
        .await;
    expect(&made, 201, "admin session POST");
    let ev = api.ok("/api/v1/events?name=group_create&limit=1000").await;
    let ev = ev.as_array().unwrap().last().unwrap().clone();
    assert_eq!(ev["actor"], "admin:root", "{ev}");

    // A change carried by the cookie from another site is refused; a GET is not.
    let before = last_event(&server).await;
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let rb = session
            .request(Method::POST, "/api/v1/groups")
            .header(header, value)
            .json(&json!({"name": "cross-site"}));
        let a = session.send(rb).await;
        expect_error(&a, 403, "forbidden", &format!("{header}: {value}"));
        let rb = session
            .request(Method::PUT, "/api/v1/groups/by-session/members/root")
            .header(header, value);
        expect_error(
            &session.send(rb).await,
            403,
            "forbidden",
            &format!("PUT {header}: {value}"),
        );
        let rb = session
            .request(Method::POST, "/api/v1/users/root/suspend")
            .header(header, value);
        expect_error(
            &session.send(rb).await,
            403,
            "forbidden",
            &format!("suspend {header}: {value}"),
        );
        let rb = session
            .request(Method::GET, "/api/v1/groups/by-session")
            .header(header, value);
        expect(&session.send(rb).await, 200, "a cross-site GET reads");
    }
    assert_eq!(last_event(&server).await, before);
    assert_eq!(api.ok("/api/v1/groups/by-session").await["members"], 0);
    assert_eq!(api.get("/api/v1/groups/cross-site").await.status, 404);
    assert!(api.ok("/api/v1/users/root").await["active"]
        .as_bool()
        .unwrap());
    let rb = session
        .request(Method::PUT, "/api/v1/groups/by-session/members/root")
        .header("sec-fetch-site", "same-origin");
    expect(&session.send(rb).await, 200, "same-origin change");
    // A token is not an ambient credential: its requests are not checked for origin.
    let rb = api
        .request(Method::DELETE, "/api/v1/groups/by-session/members/root")
        .header("origin", "https://elsewhere.example");
    expect(&api.send(rb).await, 200, "token from anywhere");
    server.stop().await;
}

/// Minimal SP metadata with one HTTP-POST ACS (and a Redirect one that must be ignored).
fn sp_metadata(entity: &str, acs: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://ignored.example/acs" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="3" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

#[tokio::test]
async fn apps_catalog_sso_preview_bindings_and_events() {
    let (_db, server, api) = setup().await;
    add_user(&server, "alice", false, None).await;

    // Catalog search.
    let all = api.ok("/api/v1/catalog").await;
    assert_eq!(
        names(&all, "name"),
        ["generic", "bluejeans", "thousandeyes", "jive"]
    );
    assert_eq!(
        names(&api.ok("/api/v1/catalog?q=BLUE").await, "name"),
        ["bluejeans"]
    );
    assert_eq!(
        names(&api.ok("/api/v1/catalog?q=network").await, "name"),
        ["thousandeyes"],
        "the description is searched"
    );
    assert!(api
        .ok("/api/v1/catalog?q=zzz")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    // Create from a template, read, change, list with a search.
    let made = api
        .post(
            "/api/v1/apps",
            json!({"slug": "meet", "template": "bluejeans"}),
        )
        .await;
    expect(&made, 201, "create");
    assert_eq!(made.body["slug"], "meet");
    assert_eq!(made.body["template"], "bluejeans");
    assert_eq!(made.body["label"], "BlueJeans");
    assert_eq!(made.body["enabled"], true);
    assert_eq!(made.body["sso_enabled"], true);
    let other = api
        .post(
            "/api/v1/apps",
            json!({"slug": "wiki", "template": "generic", "label": "Team wiki",
                   "color": "#ABCDEF", "show_in_portal": false}),
        )
        .await;
    expect(&other, 201, "create with settings");
    assert_eq!(other.body["color"], "#abcdef");
    assert_eq!(other.body["show_in_portal"], false);
    let shown = api.ok("/api/v1/apps/meet").await;
    assert_eq!(shown["label"], "BlueJeans");
    assert_eq!(shown["groups"], json!([]));
    let changed = api
        .patch(
            "/api/v1/apps/meet",
            json!({"label": "Meetings", "description": "Video calls", "color": "#112233"}),
        )
        .await;
    expect(&changed, 200, "patch");
    assert_eq!(changed.body["label"], "Meetings");
    let shown = api.ok("/api/v1/apps/meet").await;
    assert_eq!(
        (&shown["label"], &shown["description"], &shown["color"]),
        (&json!("Meetings"), &json!("Video calls"), &json!("#112233"))
    );
    assert_eq!(
        names(&api.ok("/api/v1/apps").await, "slug"),
        ["meet", "wiki"]
    );
    let off = api
        .patch("/api/v1/apps/wiki", json!({"sso_enabled": false}))
        .await;
    expect(&off, 200, "sso off");
    assert_eq!(api.ok("/api/v1/apps/wiki").await["sso_enabled"], false);
    assert_eq!(
        names(&api.ok("/api/v1/apps?q=video").await, "slug"),
        ["meet"]
    );
    assert_eq!(
        names(&api.ok("/api/v1/apps?q=WIKI").await, "slug"),
        ["wiki"]
    );
    assert!(api
        .ok("/api/v1/apps?q=nothing-like-it")
        .await
        .as_array()
        .unwrap()
        .is_empty());

    // SAML settings.
    let sso = api
        .patch(
            "/api/v1/apps/meet/sso",
            json!({
                "sp_entity_id": "https://sp.example/meet",
                "acs_urls": ["https://sp.example/acs", "https://sp.example/acs2?x=1"],
                "attributes": ["mail=email", "memberOf=groups", "uid=username"],
            }),
        )
        .await;
    expect(&sso, 200, "sso patch");
    let sso = api.ok("/api/v1/apps/meet/sso").await;
    assert_eq!(sso["sp_entity_id"], "https://sp.example/meet");
    assert_eq!(
        sso["acs_urls"],
        json!([
            {"index": 0, "url": "https://sp.example/acs", "default": true},
            {"index": 1, "url": "https://sp.example/acs2?x=1", "default": false},
        ])
    );
    assert_eq!(
        sso["attributes"],
        json!(["mail=email", "memberOf=groups", "uid=username"])
    );
    assert!(sso["idp_url"].as_str().unwrap().ends_with("/saml2/meet"));
    assert_eq!(sso["idp_entity_id"], sso["idp_url"]);
    assert_eq!(
        sso["metadata_url"],
        format!("{}/metadata", sso["idp_url"].as_str().unwrap())
    );

    // Metadata import.
    let xml = sp_metadata("https://wiki.example/sp", "https://wiki.example/saml/acs");
    let imported = api
        .put(
            "/api/v1/apps/wiki/sso/metadata",
            Some(json!({ "xml": xml })),
        )
        .await;
    expect(&imported, 200, "metadata import");
    let wiki = api.ok("/api/v1/apps/wiki/sso").await;
    assert_eq!(wiki["sp_entity_id"], "https://wiki.example/sp");
    assert_eq!(
        wiki["acs_urls"],
        json!([{"index": 3, "url": "https://wiki.example/saml/acs", "default": true}])
    );

    // Bindings and the preview of a user who gets access through a group.
    let staff = api.post("/api/v1/groups", json!({"name": "staff"})).await;
    expect(&staff, 201, "group");
    expect(
        &api.put("/api/v1/groups/staff/members/alice", None).await,
        200,
        "member",
    );
    let bound = api.put("/api/v1/apps/meet/groups/staff", None).await;
    expect(&bound, 200, "bind");
    assert_eq!(
        bound.body,
        json!({"app": "meet", "group": "staff", "bound": true, "changed": true})
    );
    let again = api.put("/api/v1/apps/meet/groups/STAFF", None).await;
    assert_eq!(
        again.body["changed"], false,
        "already bound: {}",
        again.body
    );
    assert_eq!(
        api.ok("/api/v1/apps/meet").await["groups"],
        json!(["staff"])
    );
    let preview = api.ok("/api/v1/apps/meet/sso/preview?user=alice").await;
    assert_eq!(preview["username"], "alice");
    assert_eq!(preview["name_id"], "alice@example.com");
    assert_eq!(preview["acs_url"], "https://sp.example/acs");
    let checks = preview["checks"].as_array().unwrap();
    assert!(checks.len() >= 5, "{preview}");
    for c in checks {
        assert_eq!(c["ok"], true, "{c}");
    }
    let access = checks
        .iter()
        .find(|c| c["label"] == "Access to the app")
        .unwrap();
    assert!(
        access["detail"].as_str().unwrap().contains("staff"),
        "{access}"
    );
    let signed = preview["xml"].as_str().expect("a signed response");
    assert!(signed.contains("NameID"), "{signed}");
    assert!(signed.contains(">alice@example.com</"), "{signed}");
    assert!(signed.contains("SignatureValue"), "{signed}");
    assert!(
        signed.contains("https://sp.example/meet"),
        "audience: {signed}"
    );
    assert!(
        preview["attributes"]
            .as_array()
            .unwrap()
            .contains(&json!(["memberOf", ["staff"]])),
        "{preview}"
    );
    let unknown = api.get("/api/v1/apps/meet/sso/preview?user=nobody").await;
    expect_error(&unknown, 404, "not_found", "preview of an unknown user");

    let unbound = api.delete("/api/v1/apps/meet/groups/staff").await;
    expect(&unbound, 200, "unbind");
    assert_eq!(
        unbound.body,
        json!({"app": "meet", "group": "staff", "bound": false, "changed": true})
    );
    assert_eq!(api.ok("/api/v1/apps/meet").await["groups"], json!([]));
    let denied = api.ok("/api/v1/apps/meet/sso/preview?user=alice").await;
    let access = denied["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "Access to the app")
        .unwrap()
        .clone();
    assert_eq!(access["ok"], false, "{denied}");

    // Events: filtered by app, name and outcome, each with the admin and token as actor.
    let meet = api.ok("/api/v1/events?app=meet&limit=1000").await;
    let meet_names = names(&meet, "name");
    assert_eq!(
        meet_names,
        [
            "app_create",
            "app_update",
            "app_sso_update",
            "app_group_bind",
            "app_group_unbind"
        ]
    );
    for e in meet.as_array().unwrap() {
        assert_eq!(e["actor"], ACTOR, "{e}");
        assert_eq!(e["app_slug"], "meet", "{e}");
        assert_eq!(e["outcome"], "success", "{e}");
        serde_json::from_str::<Value>(e["detail"].as_str().unwrap()).expect("detail is JSON");
    }
    let creates = api.ok("/api/v1/events?name=app_create").await;
    assert_eq!(names(&creates, "app_slug"), ["meet", "wiki"]);
    let binds = api
        .ok("/api/v1/events?app=meet&name=app_group_bind&outcome=success")
        .await;
    assert_eq!(binds.as_array().unwrap().len(), 1, "{binds}");
    assert!(api
        .ok("/api/v1/events?app=meet&outcome=failure")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    let first_two = api.ok("/api/v1/events?app=meet&limit=2").await;
    assert_eq!(
        names(&first_two, "name"),
        ["app_group_bind", "app_group_unbind"]
    );
    let after = meet[2]["id"].as_i64().unwrap();
    let next = api
        .ok(&format!("/api/v1/events?app=meet&after={after}&limit=1"))
        .await;
    assert_eq!(names(&next, "name"), ["app_group_bind"]);

    // Delete.
    let gone = api.delete("/api/v1/apps/wiki").await;
    expect(&gone, 204, "delete");
    assert_eq!(gone.body, Value::Null);
    expect_error(
        &api.get("/api/v1/apps/wiki").await,
        404,
        "not_found",
        "deleted",
    );
    expect_error(
        &api.delete("/api/v1/apps/wiki").await,
        404,
        "not_found",
        "deleted twice",
    );
    assert_eq!(names(&api.ok("/api/v1/apps").await, "slug"), ["meet"]);
    let deleted = api.ok("/api/v1/events?app=wiki&name=app_delete").await;
    assert_eq!(deleted[0]["actor"], ACTOR);
    server.stop().await;
}

#[tokio::test]
async fn users_and_groups_operations() {
    let (_db, server, api) = setup().await;

    let made = api
        .post(
            "/api/v1/users",
            json!({"username": "Carol", "email": "carol@example.com", "first_name": "Carol",
                   "last_name": "Jones", "title": "Engineer", "password": PW}),
        )
        .await;
    expect(&made, 201, "create user");
    assert_eq!(made.body["username"], "Carol");
    assert_eq!(made.body["active"], true);
    assert_eq!(made.body["is_admin"], false);
    assert!(made.body.get("password").is_none() && made.body.get("password_hash").is_none());
    let dup = api
        .post(
            "/api/v1/users",
            json!({"username": "carol", "email": "other@example.com"}),
        )
        .await;
    expect_error(&dup, 409, "conflict", "duplicate username");
    expect(
        &api.post(
            "/api/v1/users",
            json!({"username": "dave", "email": "dave@example.com"}),
        )
        .await,
        201,
        "second user",
    );
    let shown = api.ok("/api/v1/users/carol").await;
    assert_eq!(shown["email"], "carol@example.com");
    assert_eq!(shown["groups"], json!([]));
    assert_eq!(shown["apps"], json!([]));
    assert_eq!(
        names(&api.ok("/api/v1/users?q=JONES").await, "username"),
        ["Carol"]
    );

    let patched = api
        .patch(
            "/api/v1/users/carol",
            json!({"title": "Lead", "manager": "dave", "phone": "+1 555"}),
        )
        .await;
    expect(&patched, 200, "patch user");
    let shown = api.ok("/api/v1/users/carol").await;
    assert_eq!(
        (&shown["title"], &shown["manager"], &shown["phone"]),
        (&json!("Lead"), &json!("dave"), &json!("+1 555"))
    );
    expect(
        &api.patch("/api/v1/users/carol", json!({"manager": ""}))
            .await,
        200,
        "clear manager",
    );
    assert_eq!(api.ok("/api/v1/users/carol").await["manager"], Value::Null);

    let suspended = api.act("/api/v1/users/carol/suspend").await;
    expect(&suspended, 200, "suspend");
    assert_eq!(suspended.body["active"], false);
    assert_eq!(api.ok("/api/v1/users/carol").await["active"], false);
    let activated = api.post("/api/v1/users/carol/activate", json!({})).await;
    expect(&activated, 200, "activate with {}");
    assert_eq!(activated.body["active"], true);
    let odd = api
        .post("/api/v1/users/carol/suspend", json!({"now": true}))
        .await;
    expect_error(&odd, 422, "bad_request", "suspend with a body");
    assert_eq!(api.ok("/api/v1/users/carol").await["active"], true);
    expect_error(
        &api.act("/api/v1/users/carol/frobnicate").await,
        404,
        "not_found",
        "unknown action",
    );

    let pw = api
        .post(
            "/api/v1/users/carol/password",
            json!({"password": "a brand new password", "must_change": false}),
        )
        .await;
    expect(&pw, 200, "set password");
    assert_eq!(pw.body, json!({"username": "carol", "password_set": true}));
    assert!(!api.all_seen().contains("a brand new password"));
    let mut b = Browser::new(&server);
    assert_eq!(b.login("carol", PW).await.status, 401, "old password");
    assert_eq!(
        b.login("carol", "a brand new password").await.status,
        303,
        "new password"
    );
    expect_error(
        &api.act("/api/v1/users/carol/password").await,
        400,
        "bad_request",
        "password without a body",
    );

    // Groups.
    let g = api
        .post(
            "/api/v1/groups",
            json!({"name": "Engineering", "description": "Builders"}),
        )
        .await;
    expect(&g, 201, "create group");
    assert_eq!(g.body["name"], "Engineering");
    assert_eq!(g.body["members"], 0);
    expect_error(
        &api.post("/api/v1/groups", json!({"name": "engineering"}))
            .await,
        409,
        "conflict",
        "duplicate group",
    );
    let added = api
        .put("/api/v1/groups/engineering/members/carol", None)
        .await;
    expect(&added, 200, "add member");
    assert_eq!(
        added.body,
        json!({"group": "engineering", "username": "carol", "member": true, "changed": true})
    );
    let shown = api.ok("/api/v1/groups/Engineering").await;
    assert_eq!(shown["member_names"], json!(["Carol"]));
    assert_eq!(shown["members"], 1);
    assert_eq!(
        api.ok("/api/v1/users/carol").await["groups"],
        json!(["Engineering"])
    );
    assert_eq!(
        names(&api.ok("/api/v1/groups?q=build").await, "name"),
        ["Engineering"]
    );
    expect_error(
        &api.put("/api/v1/groups/engineering/members/nobody", None)
            .await,
        404,
        "not_found",
        "unknown member",
    );
    let removed = api.delete("/api/v1/groups/engineering/members/carol").await;
    expect(&removed, 200, "remove member");
    assert_eq!(removed.body["member"], false);
    assert_eq!(removed.body["changed"], true);
    assert_eq!(
        api.ok("/api/v1/groups/engineering").await["member_names"],
        json!([])
    );
    expect(
        &api.delete("/api/v1/groups/engineering").await,
        204,
        "delete group",
    );
    expect_error(
        &api.get("/api/v1/groups/engineering").await,
        404,
        "not_found",
        "deleted group",
    );

    expect(&api.delete("/api/v1/users/carol").await, 204, "delete user");
    expect_error(
        &api.get("/api/v1/users/carol").await,
        404,
        "not_found",
        "deleted user",
    );

    // Every change is recorded under the token's owner, per user.
    let carol = api.ok("/api/v1/events?user=Carol&limit=1000").await;
    let by_admin: Vec<&Value> = carol
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["name"].as_str().unwrap().starts_with("login"))
        .collect();
    for e in &by_admin {
        assert_eq!(e["actor"], ACTOR, "{e}");
    }
    let by_admin: Vec<&str> = by_admin
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        by_admin,
        [
            "user_create",
            "user_update",
            "user_update",
            "user_suspend",
            "user_activate",
            "user_password_change",
            "group_member_add",
            "group_member_remove",
            "user_delete"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn scim_settings_actions_and_the_token_kept_secret() {
    let (_db, server, api) = setup().await;
    add_user(&server, "alice", false, None).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    groups::set_member(&server.db, &sys, "staff", "alice", true)
        .await
        .unwrap();
    expect(
        &api.post(
            "/api/v1/apps",
            json!({"slug": "app", "template": "generic"}),
        )
        .await,
        201,
        "app",
    );
    expect(
        &api.put("/api/v1/apps/app/groups/staff", None).await,
        200,
        "bind",
    );
    let secret = "scim-SECRET-token-9d1e0c77";

    let fresh = api.ok("/api/v1/apps/app/scim").await;
    assert_eq!(fresh["configured"], false);
    assert_eq!(fresh["credential"], "not set");
    expect_error(
        &api.act("/api/v1/apps/app/scim/activate").await,
        400,
        "invalid",
        "activate before set-up",
    );
    expect_error(
        &api.act("/api/v1/apps/app/scim/test").await,
        404,
        "not_found",
        "test before set-up",
    );

    let url = closed_port_url();
    let set = api
        .patch(
            "/api/v1/apps/app/scim",
            json!({"url": url, "token": secret, "deprovision": "delete",
                   "exclude": ["title"], "deletion_threshold": 5}),
        )
        .await;
    expect(&set, 200, "scim set");
    assert_eq!(set.body["credential"], "set (write-only)");
    let shown = api.ok("/api/v1/apps/app/scim").await;
    assert_eq!(shown["configured"], true);
    assert_eq!(shown["credential"], "set (write-only)");
    assert_eq!(shown["url"], url);
    assert_eq!(shown["auth"], "bearer");
    assert_eq!(shown["deprovision"], "delete");
    assert_eq!(shown["excluded"], json!(["title"]));
    assert_eq!(shown["deletion_threshold"], 5);
    assert_eq!(shown["state"], "inactive");
    assert_eq!(shown["in_scope"], 1);

    let test = api.act("/api/v1/apps/app/scim/test").await;
    expect_error(&test, 502, "target_error", "test against a closed port");
    expect_error(
        &api.get("/api/v1/apps/app/scim/import").await,
        502,
        "target_error",
        "import list against a closed port",
    );
    expect_error(
        &api.act("/api/v1/apps/app/scim/sync").await,
        400,
        "invalid",
        "sync while inactive",
    );

    let plan = api.act("/api/v1/apps/app/scim/plan").await;
    expect(&plan, 200, "plan");
    let lines = plan.body.as_array().unwrap();
    assert_eq!(lines.len(), 1, "{}", plan.body);
    assert_eq!(lines[0]["user"], "alice");
    assert!(!lines[0]["plan"].as_str().unwrap().is_empty());

    let on = api.act("/api/v1/apps/app/scim/activate").await;
    expect(&on, 200, "activate");
    assert_eq!(on.body["state"], "active");
    let off = api
        .post("/api/v1/apps/app/scim/deactivate", json!({}))
        .await;
    expect(&off, 200, "deactivate");
    assert_eq!(off.body["state"], "inactive");
    assert_eq!(api.ok("/api/v1/apps/app/scim").await["state"], "inactive");
    expect_error(
        &api.act("/api/v1/apps/app/scim/approve").await,
        400,
        "invalid",
        "approve with nothing paused",
    );
    expect_error(
        &api.act("/api/v1/apps/app/scim/provision").await,
        400,
        "bad_request",
        "provision without a username",
    );
    expect_error(
        &api.act("/api/v1/apps/app/scim/explode").await,
        404,
        "not_found",
        "unknown action",
    );

    // A new credential (basic) is a hot swap; both at once is refused.
    let both = api
        .patch(
            "/api/v1/apps/app/scim",
            json!({"token": "x", "basic_user": "u", "basic_password": "p"}),
        )
        .await;
    expect_error(&both, 400, "invalid", "token and basic");
    let basic = api
        .patch(
            "/api/v1/apps/app/scim",
            json!({"basic_user": "svc", "basic_password": format!("{secret}-basic")}),
        )
        .await;
    expect(&basic, 200, "basic credentials");
    assert_eq!(basic.body["auth"], "basic");
    assert_eq!(basic.body["basic_user"], "svc");

    // The secrets appear in no answer and nowhere in the events table.
    let events = api.ok("/api/v1/events?app=app&limit=1000").await;
    let names = names(&events, "name");
    assert!(
        names.contains(&"idm_integration_update".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"idm_integration_reauth".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"idm_integration_activate".to_string()),
        "{names:?}"
    );
    for e in events.as_array().unwrap() {
        if e["name"].as_str().unwrap().starts_with("idm_integration") {
            assert_eq!(e["actor"], ACTOR, "{e}");
        }
    }
    assert!(
        !api.all_seen().contains(secret),
        "a response held the token"
    );
    let mut conn = server.db.read().await.unwrap();
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT name, actor, COALESCE(app_slug, ''), COALESCE(username, ''), detail FROM events",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        let text = format!("{row:?}");
        assert!(!text.contains(secret), "an event holds the token: {text}");
    }
    let stored: String = sqlx::query_scalar("SELECT secret FROM scim_targets")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(!stored.contains(secret), "stored sealed");
    drop(conn);

    expect(&api.delete("/api/v1/apps/app/scim").await, 204, "remove");
    assert_eq!(api.ok("/api/v1/apps/app/scim").await["configured"], false);
    expect_error(
        &api.delete("/api/v1/apps/app/scim").await,
        404,
        "not_found",
        "remove twice",
    );
    server.stop().await;
}

/// Everything a refused request could have touched, read through the API.
async fn state(api: &Api) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/apps",
        "/api/v1/apps/keep",
        "/api/v1/apps/keep/sso",
        "/api/v1/apps/keep/scim",
        "/api/v1/users",
        "/api/v1/users/alice",
        "/api/v1/groups",
    ] {
        out.push(api.ok(path).await);
    }
    out
}

#[tokio::test]
async fn bad_input_is_refused_with_json_and_changes_nothing() {
    let (_db, server, api) = setup().await;
    add_user(&server, "alice", false, Some(PW)).await;
    expect(
        &api.post(
            "/api/v1/apps",
            json!({"slug": "keep", "template": "generic", "label": "Keep", "color": "#010203"}),
        )
        .await,
        201,
        "app",
    );
    expect(
        &api.patch(
            "/api/v1/apps/keep/sso",
            json!({"sp_entity_id": "https://keep.example/sp", "acs_urls": ["https://keep.example/acs"]}),
        )
        .await,
        200,
        "sso",
    );
    expect(
        &api.patch(
            "/api/v1/apps/keep/scim",
            json!({"url": "https://scim.keep.example/v2", "token": "keep-token"}),
        )
        .await,
        200,
        "scim",
    );
    let before = state(&api).await;
    let last = last_event(&server).await;

    let json_ct = "application/json";
    let cases: Vec<(Method, &str, &str, String, u16, &str)> = vec![
        // Unknown fields.
        (Method::POST, "/api/v1/apps", json_ct,
         json!({"slug": "fresh", "template": "generic", "colour": "#000000"}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep", json_ct, json!({"label": "X", "slug": "other"}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct,
         json!({"sp_entity_id": "https://x.example/", "acs_url": "https://x.example/acs"}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep/scim", json_ct, json!({"url": "https://x.example/v2", "secret": "s"}).to_string(), 422, "bad_request"),
        (Method::POST, "/api/v1/users", json_ct,
         json!({"username": "zed", "email": "zed@example.com", "admin": true}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/users/alice", json_ct, json!({"title": "T", "status": "x"}).to_string(), 422, "bad_request"),
        (Method::POST, "/api/v1/groups", json_ct, json!({"name": "g", "members": ["alice"]}).to_string(), 422, "bad_request"),
        // Wrong types.
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "fresh", "template": "generic", "enabled": "yes"}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep", json_ct, json!({"label": 5}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct, json!({"acs_urls": "https://x.example/acs"}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/users/alice", json_ct, json!({"is_admin": "true"}).to_string(), 422, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep/scim", json_ct, json!({"deletion_threshold": "5"}).to_string(), 422, "bad_request"),
        (Method::POST, "/api/v1/apps", json_ct, "[]".to_string(), 422, "bad_request"),
        // Not JSON, or not sent as JSON.
        (Method::POST, "/api/v1/apps", "text/plain", json!({"slug": "fresh", "template": "generic"}).to_string(), 415, "bad_request"),
        (Method::POST, "/api/v1/apps", "application/x-www-form-urlencoded", "slug=new&template=generic".to_string(), 415, "bad_request"),
        (Method::PATCH, "/api/v1/apps/keep", "multipart/form-data; boundary=x", "--x--".to_string(), 415, "bad_request"),
        (Method::POST, "/api/v1/users/alice/password", "text/plain", "{\"password\": \"long enough pw\"}".to_string(), 415, "bad_request"),
        (Method::POST, "/api/v1/users/alice/suspend", "application/x-www-form-urlencoded", "now=1".to_string(), 415, "bad_request"),
        (Method::POST, "/api/v1/apps", json_ct, "{\"slug\": \"new\",".to_string(), 400, "bad_request"),
        // Values that break a rule.
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "Not A Slug!", "template": "generic"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "a_b", "template": "generic"}).to_string(), 400, "invalid"),
        // A reserved word (a route beside {slug}) and a slug ending in "-" (issue 14, item 8).
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "new", "template": "generic"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "wiki-", "template": "generic"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "fresh", "template": "no-such-template"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "keep", "template": "bluejeans"}).to_string(), 409, "conflict"),
        (Method::POST, "/api/v1/apps", json_ct, json!({"slug": "fresh", "template": "generic", "color": "blue"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep", json_ct, json!({"color": "#12345"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep", json_ct, json!({"label": "New", "color": "#gggggg"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep", json_ct, json!({"label": ""}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct, json!({"acs_urls": ["ftp://keep.example/acs"]}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct,
         json!({"sp_entity_id": "https://changed.example/", "acs_urls": ["https://ok.example/acs", "/relative"]}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct, json!({"acs_urls": ["https://keep.example/acs#frag"]}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct, json!({"attributes": ["mail=nosuchsource"]}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct, json!({"nameid_format": "x509"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/sso", json_ct, json!({"require_signed_requests": true}).to_string(), 400, "invalid"),
        (Method::PUT, "/api/v1/apps/keep/sso/metadata", json_ct, json!({"xml": "<not xml"}).to_string(), 400, "invalid"),
        (Method::PUT, "/api/v1/apps/keep/sso/metadata", json_ct,
         json!({"xml": sp_metadata("https://x.example/", "https://x.example/acs").replace("HTTP-POST", "HTTP-Artifact")}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/scim", json_ct, json!({"url": "ftp://scim.example/v2"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/scim", json_ct, json!({"deprovision": "shred"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/apps/keep/scim", json_ct, json!({"exclude": ["userName"]}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/users", json_ct, json!({"username": "zed", "email": "not-an-email"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/users", json_ct, json!({"username": "zed"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/users", json_ct, json!({"email": "zed@example.com"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/users", json_ct, json!({"username": "ALICE", "email": "zed@example.com"}).to_string(), 409, "conflict"),
        (Method::POST, "/api/v1/users", json_ct, json!({"username": "zed", "email": "alice@example.com"}).to_string(), 409, "conflict"),
        (Method::POST, "/api/v1/users", json_ct, json!({"username": "zed", "email": "zed@example.com", "password": "short"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/users/alice", json_ct, json!({"username": "alicia"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/users/alice", json_ct, json!({"password": "a long new password"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/users/alice", json_ct, json!({"manager": "alice"}).to_string(), 400, "invalid"),
        (Method::PATCH, "/api/v1/users/alice", json_ct, json!({"email": "root@example.com"}).to_string(), 409, "conflict"),
        (Method::POST, "/api/v1/users/alice/password", json_ct, json!({"password": "short"}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/users/alice/password", json_ct, json!({"pasword": "long enough pw"}).to_string(), 422, "bad_request"),
        (Method::POST, "/api/v1/groups", json_ct, json!({"name": " padded "}).to_string(), 400, "invalid"),
        (Method::POST, "/api/v1/groups", json_ct, json!({"description": "no name"}).to_string(), 422, "bad_request"),
        (Method::POST, "/api/v1/apps/keep/scim/import", json_ct, json!({}).to_string(), 400, "invalid"),
        (Method::PUT, "/api/v1/apps/keep/groups/no-such-group", json_ct, String::new(), 404, "not_found"),
        // Bad queries are JSON errors too.
        (Method::GET, "/api/v1/apps/keep/sso/preview", json_ct, String::new(), 400, "bad_request"),
        (Method::GET, "/api/v1/events?limit=many", json_ct, String::new(), 400, "bad_request"),
        (Method::GET, "/api/v1/events?bogus=1", json_ct, String::new(), 400, "bad_request"),
        // Unknown endpoints and methods.
        (Method::GET, "/api/v1/nothing-here", json_ct, String::new(), 404, "not_found"),
        (Method::GET, "/api/v1/apps/keep/sso/preview/extra", json_ct, String::new(), 404, "not_found"),
        (Method::POST, "/api/v1/users/alice/frobnicate", json_ct, json!({}).to_string(), 404, "not_found"),
        (Method::DELETE, "/api/v1/catalog", json_ct, String::new(), 405, "method_not_allowed"),
        (Method::POST, "/api/v1/apps/keep", json_ct, json!({"label": "X"}).to_string(), 405, "method_not_allowed"),
        (Method::GET, "/api/v1/apps/keep/scim/activate", json_ct, String::new(), 405, "method_not_allowed"),
    ];
    for (m, path, ct, body, status, code) in cases {
        let what = format!("{m} {path} ({ct}) {body}");
        let a = if body.is_empty() && m == Method::GET {
            api.call(m.clone(), path, None).await
        } else {
            api.raw(m.clone(), path, ct, &body).await
        };
        expect_error(&a, status, code, &what);
        if status == 405 {
            assert!(a.headers.contains_key("allow"), "{what}: Allow header");
        }
        assert_eq!(
            last_event(&server).await,
            last,
            "{what}: an event was written"
        );
        assert_eq!(state(&api).await, before, "{what}: the state changed");
    }
    assert!(!api.all_seen().contains("keep-token"));
    server.stop().await;
}

/// The API's routes as the router is built from them (`sesame::api::endpoints`): path →
/// methods, with `any` for the JSON 404 catch-alls.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let mut routes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in sesame::api::endpoints() {
        routes
            .entry(e.path.to_string())
            .or_default()
            .insert(e.verb.name().to_string());
    }
    for p in sesame::api::CATCH_ALL {
        routes
            .entry(p.to_string())
            .or_default()
            .insert("any".into());
    }
    routes
}

fn segments(p: &str) -> Vec<&str> {
    p.trim_start_matches('/').split('/').collect()
}

fn is_param(s: &str) -> bool {
    s.starts_with('{') && s.ends_with('}')
}

/// The router path that serves `doc_path`, as axum picks it: same length, each segment
/// equal or a parameter, static segments preferred left to right.
fn serving_route<'a>(
    routes: &'a BTreeMap<String, BTreeSet<String>>,
    doc_path: &str,
) -> Option<&'a str> {
    let d = segments(doc_path);
    routes
        .keys()
        .filter(|r| !routes[*r].contains("any"))
        .filter(|r| {
            let s = segments(r);
            s.len() == d.len()
                && s.iter().zip(&d).all(|(r, d)| {
                    is_param(r) || (!is_param(d) && r == d) || (is_param(d) && is_param(r))
                })
        })
        .max_by_key(|r| {
            segments(r)
                .iter()
                .map(|s| if is_param(s) { '0' } else { '1' })
                .collect::<String>()
        })
        .map(String::as_str)
}

/// Every `$ref` in the document points at something.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let pointer = r.strip_prefix('#').expect("local $ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            m.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(a) => a.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

/// The property names of a schema (through `$ref` and `allOf`).
fn properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, schema);
    let mut out: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(properties(doc, part));
    }
    out
}

/// A response object has exactly the fields its documented schema lists.
#[track_caller]
fn assert_shape(doc: &Value, schema: &str, v: &Value) {
    let documented = properties(
        doc,
        &json!({ "$ref": format!("#/components/schemas/{schema}") }),
    );
    assert!(!documented.is_empty(), "schema {schema}");
    let actual: BTreeSet<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("{schema}: an object: {v}"))
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        actual, documented,
        "{schema} fields differ from the document: {v}"
    );
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap(),
        None => v,
    }
}

#[tokio::test]
async fn openapi_document_covers_the_router_and_every_documented_route_answers() {
    let (db, server, api) = setup().await;
    // The document is public.
    let anon = api.with(Auth::None);
    let served = anon.get("/api/v1/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.headers.get("content-type").unwrap(),
        "application/json"
    );
    let doc = served.body;
    assert_eq!(doc["openapi"], "3.1.0");
    check_refs(&doc, &doc);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
    let doc_paths = doc["paths"].as_object().unwrap();

    // Router and document agree both ways.
    let routes = router_routes();
    let verbs = ["get", "post", "put", "patch", "delete"];
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, item) in doc_paths {
        let route = serving_route(&routes, path)
            .unwrap_or_else(|| panic!("{path} is documented but no route serves it"));
        let item = item.as_object().unwrap();
        let path_params: BTreeSet<String> = segments(path)
            .iter()
            .filter(|s| is_param(s))
            .map(|s| s.trim_matches(['{', '}']).to_string())
            .collect();
        for (verb, operation) in item.iter().filter(|(k, _)| verbs.contains(&k.as_str())) {
            assert!(
                routes[route].contains(verb.as_str()),
                "{verb} {path} is documented but {route} has no {verb}"
            );
            covered.insert((route.to_string(), verb.clone()));
            let declared: BTreeSet<String> = item
                .get("parameters")
                .into_iter()
                .chain(operation.get("parameters"))
                .flat_map(|p| p.as_array().unwrap())
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(declared, path_params, "{verb} {path}: path parameters");
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{verb} {path}: responses"
            );
            if verb != "get" && path != "/api/v1/openapi.json" {
                assert!(
                    operation["responses"].get("401").is_some(),
                    "{verb} {path}: 401 documented"
                );
            }
            if let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema")
            {
                // An optional body is `oneOf` null and the body.
                let bodies: Vec<&Value> = match schema["oneOf"].as_array() {
                    Some(alternatives) => alternatives
                        .iter()
                        .filter(|s| s["type"] != "null")
                        .collect(),
                    None => vec![schema],
                };
                assert!(!bodies.is_empty(), "{verb} {path}: a body schema");
                for body in bodies {
                    assert_eq!(
                        resolve(&doc, body)["additionalProperties"],
                        false,
                        "{verb} {path}: request body closed"
                    );
                }
            }
        }
    }
    for (route, methods) in &routes {
        if methods.contains("any") {
            continue; // the JSON 404 for unknown paths
        }
        for m in methods {
            assert!(
                covered.contains(&(route.clone(), m.clone())),
                "{m} {route} is routed but not documented"
            );
        }
    }
    // A route with an {action} is documented action by action.
    let action_routes: Vec<_> = sesame::api::endpoints()
        .into_iter()
        .filter(|e| e.path.ends_with("/{action}"))
        .collect();
    assert_eq!(action_routes.len(), 2, "the SCIM and the user actions");
    for e in action_routes {
        assert!(!e.actions.is_empty(), "{} lists its actions", e.path);
        for a in &e.actions {
            let path = e.path.replace("{action}", a);
            assert!(
                doc_paths
                    .get(&path)
                    .is_some_and(|p| p.get(e.verb.name()).is_some()),
                "{} {path} (action {a:?}) is not documented",
                e.verb.name()
            );
        }
        // And the documented actions are the ones served.
        let prefix = e.path.trim_end_matches("{action}");
        for documented in doc_paths.keys().filter_map(|p| p.strip_prefix(prefix)) {
            let fixed_route = routes.contains_key(&format!("{prefix}{documented}"));
            assert!(
                fixed_route || e.actions.contains(&documented),
                "{prefix}{documented} is documented but is no action of {}",
                e.path
            );
        }
    }
    for p in ["/api/v1", "/api/v1/", "/api/v1/{*rest}"] {
        assert!(
            routes.get(p).is_some_and(|m| m.contains("any")),
            "catch-all {p}"
        );
    }

    // Every documented operation answers (not 404/405), with real parameters; a token made
    // by the CLI, as an operator would.
    let sys = Actor::system();
    add_user(&server, "docuser", false, Some(PW)).await;
    groups::add(&server.db, &sys, "docgroup", "").await.unwrap();
    // `{name}` is filled with "docgroup" everywhere: a SCIM source of that name too.
    sesame::inbound::sources::create(&server.db, &sys, "docgroup")
        .await
        .unwrap();
    groups::set_member(&server.db, &sys, "docgroup", "docuser", true)
        .await
        .unwrap();
    sesame::directory::apps::add(&server.db, &sys, "docapp", "generic", &Default::default())
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["admin-token", "create", "doc", "--user", OWNER])
        .env("SESAME_DATABASE_URL", &db.url)
        .env("SESAME_CERTS_DIR", &server.config.certs_dir)
        .env_remove("SESAME_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run sesame admin-token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("ses_"), "{token}");
    let cli_api = api.with(Auth::Bearer(token));
    expect(
        &cli_api
            .patch(
                "/api/v1/apps/docapp/scim",
                json!({"url": closed_port_url(), "token": "doc-token"}),
            )
            .await,
        200,
        "scim set",
    );
    expect(
        &cli_api
            .patch(
                "/api/v1/apps/docapp/sso",
                json!({"sp_entity_id": "https://doc.example/", "acs_urls": ["https://doc.example/acs"]}),
            )
            .await,
        200,
        "sso set",
    );
    expect(
        &cli_api
            .put("/api/v1/apps/docapp/groups/docgroup", None)
            .await,
        200,
        "bind",
    );

    // The main objects are shaped as documented.
    let shapes = [
        ("/api/v1/catalog", "CatalogTemplate", true),
        ("/api/v1/apps", "App", true),
        ("/api/v1/apps/docapp", "AppDetail", false),
        ("/api/v1/apps/docapp/sso", "Sso", false),
        (
            "/api/v1/apps/docapp/sso/preview?user=docuser",
            "Preview",
            false,
        ),
        ("/api/v1/apps/docapp/scim", "ScimStatus", false),
        ("/api/v1/users", "User", true),
        ("/api/v1/users/docuser", "UserDetail", false),
        ("/api/v1/groups", "Group", true),
        ("/api/v1/groups/docgroup", "GroupDetail", false),
        ("/api/v1/events", "Event", true),
    ];
    for (path, schema, list) in shapes {
        let v = cli_api.ok(path).await;
        if list {
            let items = v.as_array().unwrap();
            assert!(!items.is_empty(), "{path}");
            items.iter().for_each(|i| assert_shape(&doc, schema, i));
        } else {
            assert_shape(&doc, schema, &v);
        }
    }
    let preview = cli_api
        .ok("/api/v1/apps/docapp/sso/preview?user=docuser")
        .await;
    preview["checks"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(|c| assert_eq!(c.as_object().unwrap().len(), 3, "{c}"));

    let values: BTreeMap<&str, &str> = [
        ("slug", "docapp"),
        ("group", "docgroup"),
        ("name", "docgroup"),
        ("username", "docuser"),
        ("user", "docuser"),
    ]
    .into_iter()
    .collect();
    let mut ops: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in doc_paths {
        for (verb, operation) in item.as_object().unwrap() {
            if verbs.contains(&verb.as_str()) {
                ops.push((path.clone(), verb.clone(), operation.clone()));
            }
        }
    }
    // Deletions last, the most specific first, so each finds what it deletes.
    ops.sort_by_key(|(p, v, _)| (v == "delete", std::cmp::Reverse(segments(p).len())));
    for (path, verb, operation) in ops {
        let mut url = path.clone();
        for (k, v) in &values {
            url = url.replace(&format!("{{{k}}}"), v);
        }
        assert!(!url.contains('{'), "unfilled parameter in {url}");
        let required_query: Vec<String> = operation
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .map(|p| {
                let n = p["name"].as_str().unwrap();
                format!("{n}={}", values[n])
            })
            .collect();
        if !required_query.is_empty() {
            url = format!("{url}?{}", required_query.join("&"));
        }
        let method = Method::from_bytes(verb.to_uppercase().as_bytes()).unwrap();
        let a = cli_api.call(method, &url, None).await;
        assert!(
            a.status != 404 && a.status != 405,
            "{verb} {url} answered {}: {}",
            a.status,
            a.body
        );
        let documented = operation["responses"].get(a.status.to_string()).is_some();
        assert!(
            documented,
            "{verb} {url} answered {} which {path} does not document: {}",
            a.status, a.body
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn scim_against_a_live_target() {
    let (_db, server, api) = setup().await;
    add_user(&server, "alice", false, None).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    groups::set_member(&server.db, &sys, "staff", "alice", true)
        .await
        .unwrap();
    expect(
        &api.post(
            "/api/v1/apps",
            json!({"slug": "app", "template": "generic"}),
        )
        .await,
        201,
        "app",
    );
    expect(
        &api.put("/api/v1/apps/app/groups/staff", None).await,
        200,
        "bind",
    );
    let peer = ScimPeer::start(&[]);
    peer.create("remote.one").await;
    let set = api
        .patch(
            "/api/v1/apps/app/scim",
            json!({"url": peer.url, "token": TOKEN}),
        )
        .await;
    expect(&set, 200, "scim set");

    let test = api.act("/api/v1/apps/app/scim/test").await;
    expect(&test, 200, "test");
    assert_eq!(test.body["ok"], true);
    assert!(
        test.body["summary"].as_str().unwrap().contains("1 user(s)"),
        "{}",
        test.body
    );

    let found = api.ok("/api/v1/apps/app/scim/import").await;
    assert_eq!(
        found,
        json!([{"username": "remote.one", "email": "remote.one@example.com", "status": "new"}])
    );
    let imported = api
        .post(
            "/api/v1/apps/app/scim/import",
            json!({"usernames": ["remote.one"]}),
        )
        .await;
    expect(&imported, 200, "import");
    let report = imported.body["report"].as_array().unwrap();
    assert_eq!(report.len(), 1, "{}", imported.body);
    assert!(
        report[0].as_str().unwrap().contains("imported"),
        "{report:?}"
    );
    assert_eq!(
        api.ok("/api/v1/users/remote.one").await["email"],
        "remote.one@example.com"
    );
    let created = api
        .ok("/api/v1/events?name=user_create&user=remote.one")
        .await;
    assert_eq!(created[0]["actor"], ACTOR);

    let provisioned = api
        .post(
            "/api/v1/apps/app/scim/provision",
            json!({"username": "alice"}),
        )
        .await;
    expect(&provisioned, 200, "provision");
    assert_eq!(provisioned.body["username"], "alice");
    assert_eq!(provisioned.body["stopped"], Value::Null);
    let exchanges = provisioned.body["exchanges"].as_array().unwrap();
    assert!(
        exchanges
            .iter()
            .any(|e| e["request"]["method"] == "POST" && e["response"]["status"] == 201),
        "{}",
        provisioned.body
    );
    assert!(peer.user("alice").await.is_some(), "alice is in the target");
    assert_eq!(api.ok("/api/v1/apps/app/scim").await["linked"], 1);

    expect(
        &api.act("/api/v1/apps/app/scim/activate").await,
        200,
        "activate",
    );
    let sync = api.act("/api/v1/apps/app/scim/sync").await;
    expect(&sync, 202, "sync");
    assert!(sync.body["queued"].as_u64().unwrap() >= 1, "{}", sync.body);
    settle(&server.db, "app", 20).await;
    assert!(!api.all_seen().contains(TOKEN), "a response held the token");
    server.stop().await;
}

/// The logo and the signing-key rollover through the API: each changes what the portal
/// and metadata serve, and bad input changes nothing.
#[tokio::test]
async fn logo_and_key_rollover() {
    let (_db, server, c) = setup().await;
    let created = c
        .post(
            "/api/v1/apps",
            json!({"slug": "wiki", "template": "generic"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>"#;
    let put = c
        .raw(Method::PUT, "/api/v1/apps/wiki/logo", "image/svg+xml", svg)
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["logo_type"], "image/svg+xml");
    let served = reqwest::get(format!("http://{}/logos/wiki", server.addr))
        .await
        .unwrap();
    assert_eq!(served.text().await.unwrap(), svg);
    let bad = c
        .raw(
            Method::PUT,
            "/api/v1/apps/wiki/logo",
            "image/svg+xml",
            r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#,
        )
        .await;
    expect_error(&bad, 400, "invalid", "an SVG with an event handler");
    let served = reqwest::get(format!("http://{}/logos/wiki", server.addr))
        .await
        .unwrap();
    assert_eq!(
        served.text().await.unwrap(),
        svg,
        "a refused logo changes nothing"
    );
    let removed = c.delete("/api/v1/apps/wiki/logo").await;
    assert_eq!(removed.status, 200);
    assert_eq!(removed.body["logo_type"], "");
    let gone = reqwest::get(format!("http://{}/logos/wiki", server.addr))
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);

    let keys = c.ok("/api/v1/keys").await;
    let first = keys["active"]["sha256_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(keys["next"].is_null());
    expect_error(
        &c.act("/api/v1/keys/activate-next").await,
        409,
        "conflict",
        "nothing staged",
    );
    let staged = c.post("/api/v1/keys/stage-next", json!({"ec": true})).await;
    assert_eq!(staged.status, 200, "{}", staged.body);
    let next = staged.body["next"]["sha256_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(staged.body["next"]["kind"], "ECDSA-P256");
    expect_error(
        &c.post("/api/v1/keys/stage-next", json!({})).await,
        409,
        "conflict",
        "staged twice",
    );
    let metadata = reqwest::get(format!("http://{}/saml2/wiki/metadata", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pem = staged.body["next"]["certificate_pem"].as_str().unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        metadata.contains(&b64),
        "the staged key is published before it signs"
    );
    // An app's own key: it signs and publishes its own, the shared key is untouched.
    let app_keys = c.ok("/api/v1/apps/wiki/keys").await;
    assert_eq!(app_keys["own"], false);
    assert_eq!(app_keys["active"]["sha256_fingerprint"], first.as_str());
    expect_error(
        &c.act("/api/v1/apps/wiki/keys/stage-next").await,
        409,
        "conflict",
        "no own key to roll over",
    );
    let own = c
        .put("/api/v1/apps/wiki/keys", Some(json!({"ec": true})))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["own"], true);
    assert_eq!(own.body["active"]["kind"], "ECDSA-P256");
    let own_fp = own.body["active"]["sha256_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(own_fp, first);
    let cert = reqwest::get(format!("http://{}/saml2/wiki/certificate.pem", server.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        cert,
        own.body["active"]["certificate_pem"].as_str().unwrap()
    );
    let staged_own = c.act("/api/v1/apps/wiki/keys/stage-next").await;
    assert_eq!(staged_own.status, 200, "{}", staged_own.body);
    assert!(staged_own.body["next"].is_object());
    let activated_own = c.act("/api/v1/apps/wiki/keys/activate-next").await;
    assert_ne!(
        activated_own.body["active"]["sha256_fingerprint"],
        own_fp.as_str()
    );
    assert_eq!(
        c.ok("/api/v1/keys").await["next"]["sha256_fingerprint"],
        next.as_str()
    );
    let back = c.delete("/api/v1/apps/wiki/keys").await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.body["own"], false);
    expect_error(
        &c.delete("/api/v1/apps/wiki/keys").await,
        409,
        "conflict",
        "already on the shared key",
    );
    expect_error(
        &c.put("/api/v1/apps/nosuch/keys", None).await,
        404,
        "not_found",
        "no such app",
    );
    let activated = c.act("/api/v1/keys/activate-next").await;
    assert_eq!(activated.status, 200);
    assert_eq!(
        activated.body["active"]["sha256_fingerprint"],
        next.as_str()
    );
    assert_ne!(first, next);
    let mut conn = server.db.read().await.unwrap();
    let evs = sesame::store::events::list(
        &mut conn,
        &sesame::store::events::EventFilter {
            name: Some("key_activate_next".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The app's rollover, then the shared one: each an event, the app's under its slug.
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].app_slug.as_deref(), Some("wiki"));
    assert_eq!(evs[1].app_slug, None);
    assert!(evs[1].actor.starts_with("admin:"), "{}", evs[1].actor);
    drop(conn);
    server.stop().await;
}

#[tokio::test]
async fn a_group_is_renamed_and_described_with_patch() {
    let (_db, server, api) = setup().await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    groups::add(&server.db, &sys, "other", "").await.unwrap();
    let a = api
        .patch(
            "/api/v1/groups/staff",
            json!({"name": "crew", "description": "everyone"}),
        )
        .await;
    expect(&a, 200, "rename");
    assert_eq!(a.body["name"], "crew");
    assert_eq!(a.body["description"], "everyone");
    assert_eq!(api.get("/api/v1/groups/staff").await.status, 404);
    let only = api
        .patch("/api/v1/groups/crew", json!({"description": "all of us"}))
        .await;
    expect(&only, 200, "description only");
    assert_eq!(only.body["name"], "crew");
    let clash = api
        .patch("/api/v1/groups/crew", json!({"name": "other"}))
        .await;
    assert_eq!(clash.status, 409, "{}", clash.body);
    expect_error(
        &api.patch("/api/v1/groups/crew", json!({"nmae": "x"})).await,
        422,
        "bad_request",
        "an unknown field",
    );
    assert_eq!(
        api.ok("/api/v1/groups/crew").await["description"],
        "all of us"
    );
    server.stop().await;
}
