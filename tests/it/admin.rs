//! The admin console over HTTP (PRODUCT §3.5): who gets in (admins only, on every route),
//! CSRF on every form (SECURITY 11), bad input refused with a message and no change
//! (SECURITY 17), every change audited under `admin:<username>`, write-only SCIM
//! credentials, the assertion preview, and the events page filters.

use sesame::auth::password::Password;
use sesame::directory::users::{self, UserFields};
use sesame::directory::{apps, groups, Actor};
use sesame::store::events::{self, Event, EventFilter};
use sesame::store::Db;

use crate::support::{test_config, Browser, Page, TestDb, TestServer};

const ADMIN: &str = "root";
const ADMIN_PW: &str = "admin password 12345";
const USER_PW: &str = "correct horse battery";
/// A loopback SCIM URL nothing listens on: saving settings needs no server.
const SCIM_URL: &str = "http://127.0.0.1:9/scim";
const SCIM_TOKEN: &str = "scim-token-Xq7vR2mK9pLw4tZ8";

const METADATA: &str = r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://meta.example/sp">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://meta.example/acs" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#;

type Form = Vec<(&'static str, String)>;

fn form(pairs: &[(&'static str, &str)]) -> Form {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// `form` with `key` set to `value` (replaced, or added).
fn with(mut f: Form, key: &'static str, value: &str) -> Form {
    f.retain(|(k, _)| *k != key);
    f.push((key, value.to_string()));
    f
}

/// A complete, valid SSO settings form.
fn sso_form() -> Form {
    form(&[
        ("sp_entity_id", "https://wiki.example/sp"),
        ("acs_urls", "https://wiki.example/saml/acs"),
        ("nameid_format", "email"),
        ("nameid_source", "email"),
        ("attributes", ""),
        ("relay_state", ""),
        ("idp_entity_id", ""),
        ("sp_certificate", ""),
    ])
}

fn idm_form(url: &str, token: &str) -> Form {
    form(&[
        ("connector", "generic"),
        ("url", url),
        ("token", token),
        ("basic_user", ""),
        ("basic_password", ""),
        ("deprovision", "deactivate"),
        ("deletion_threshold", "0"),
    ])
}

/// Every GET route of the console with real parameters.
const GET_ROUTES: &[&str] = &[
    "/admin",
    "/admin/apps",
    "/admin/apps?q=wiki",
    "/admin/apps/new",
    "/admin/apps/new?q=saml",
    "/admin/apps/wiki",
    "/admin/apps/wiki/groups",
    "/admin/apps/wiki/sso",
    "/admin/apps/wiki/sso?preview=alice",
    "/admin/apps/wiki/metadata.xml",
    "/admin/apps/wiki/idm",
    "/admin/apps/wiki/idm?plan=1",
    "/admin/apps/wiki/idm?import=1",
    "/admin/apps/wiki/idm/status",
    "/admin/users",
    "/admin/users?q=bob",
    "/admin/users/bob",
    "/admin/groups",
    "/admin/groups/eng",
    "/admin/events",
    "/admin/events?app=wiki&user=alice&name=app_create&outcome=success",
    "/admin/events?since=2026-01-01T00:00&until=2099-01-01",
    "/admin/events/events.csv?app=wiki",
    "/admin/events/events.json",
    "/admin/keys",
    "/admin/config",
    "/admin/config/export.toml",
    "/admin/scim-sources",
    "/admin/settings/email",
    "/admin/import/users",
];

/// Every POST route of the console, each with a form that would change something for an
/// admin (`alice` making herself an admin among them).
fn post_routes() -> Vec<(String, Form)> {
    let profile = |email: &str| {
        form(&[
            ("email", email),
            ("first_name", "Changed"),
            ("last_name", "Name"),
            ("title", "Boss"),
            ("phone", "1"),
            ("employee_id", "E1"),
            ("manager", ""),
            ("is_admin", "on"),
        ])
    };
    let mut routes: Vec<(&str, Form)> = vec![
        ("/admin/mfa-policy", form(&[("policy", "optional")])),
        (
            "/admin/apps/wiki/users",
            form(&[("username", "bob"), ("action", "add")]),
        ),
        ("/admin/scim-sources", form(&[("name", "hr")])),
        (
            "/admin/import/users",
            form(&[
                ("csv", "username,email\nimported,imported@example.com\n"),
                ("action", "import"),
            ]),
        ),
        ("/admin/scim-sources/nobody/revoke", Form::new()),
        (
            "/admin/config",
            form(&[
                ("toml", "[[group]]\nname = \"declared\"\n"),
                ("action", "apply"),
            ]),
        ),
        (
            "/admin/apps",
            form(&[
                ("template", "generic"),
                ("slug", "new-app"),
                ("label", "New"),
            ]),
        ),
        (
            "/admin/apps/wiki",
            form(&[
                ("label", "Renamed"),
                ("description", "changed"),
                ("color", "#123456"),
                ("show_in_portal", "on"),
            ]),
        ),
        ("/admin/apps/wiki/delete", form(&[("confirm", "wiki")])),
        ("/admin/apps/wiki/groups", form(&[("group", "other")])),
        (
            "/admin/apps/wiki/sso",
            with(sso_form(), "sp_entity_id", "https://attacker.example/sp"),
        ),
        ("/admin/apps/wiki/sso/metadata", form(&[("xml", METADATA)])),
        ("/admin/apps/wiki/sso/switch", form(&[("sso", "off")])),
        (
            "/admin/apps/wiki/idm",
            idm_form("http://127.0.0.1:9/elsewhere", "another-token-value"),
        ),
    ];
    routes.extend([
        (
            "/admin/apps/wiki/idm/provision",
            form(&[("username", "alice")]),
        ),
        ("/admin/apps/wiki/idm/import", form(&[("user", "zed")])),
        (
            "/admin/users",
            form(&[
                ("username", "mallory"),
                ("email", "mallory@example.com"),
                ("password", "a long enough password"),
                ("is_admin", "on"),
            ]),
        ),
        ("/admin/users/bob", profile("bob2@example.com")),
        ("/admin/users/alice", profile("alice@example.com")),
        (
            "/admin/users/bob/suspend",
            form(&[("confirm_suspend", "on")]),
        ),
        ("/admin/users/alice/activate", Form::new()),
        (
            "/admin/users/bob/password",
            form(&[("password", "a brand new password")]),
        ),
        ("/admin/users/bob/join", form(&[("group", "eng")])),
        ("/admin/users/bob/delete", form(&[("confirm", "bob")])),
        (
            "/admin/groups",
            form(&[("name", "new-group"), ("description", "")]),
        ),
        ("/admin/groups/eng/add", form(&[("username", "bob")])),
        ("/admin/groups/eng/remove", form(&[("username", "alice")])),
        ("/admin/groups/eng/delete", form(&[("confirm", "eng")])),
        ("/admin/keys/stage-next", form(&[("kind", "ec")])),
        ("/admin/keys/activate-next", Form::new()),
        (
            "/admin/settings/email",
            form(&[
                ("host", "127.0.0.1"),
                ("port", "2525"),
                ("security", "none"),
                ("from", "sesame@example.com"),
            ]),
        ),
        (
            "/admin/settings/email/test",
            form(&[("to", "ops@example.com")]),
        ),
        ("/admin/apps/wiki/keys/own", form(&[("kind", "rsa")])),
        ("/admin/apps/wiki/keys/stage-next", form(&[("kind", "ec")])),
        ("/admin/apps/wiki/keys/activate-next", Form::new()),
        ("/admin/apps/wiki/keys/shared", Form::new()),
    ]);
    let mut routes: Vec<(String, Form)> = routes
        .into_iter()
        .map(|(p, f)| (p.to_string(), f))
        .collect();
    for action in [
        "test",
        "activate",
        "deactivate",
        "resume",
        "approve",
        "reject",
        "sync",
        "delete",
    ] {
        // The target of these tests never answers: activating says so explicitly.
        let f = if action == "activate" {
            form(&[("confirm_untested", "on")])
        } else {
            Form::new()
        };
        routes.push((format!("/admin/apps/wiki/idm/{action}"), f));
    }
    routes
}

/// A plain drawing: an acceptable SVG logo.
const SVG_LOGO: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8" fill="teal"/></svg>"#;

/// A multipart POST like the logo form's, with the browser's cookies; `csrf` is sent as the
/// first field when given.
async fn post_logo(
    server: &TestServer,
    b: &Browser,
    slug: &str,
    csrf: Option<&str>,
    logo: &[u8],
) -> Page {
    let boundary = "sesame-admin-test-boundary-4f9c2e";
    let mut body = Vec::new();
    let mut part = |head: String, data: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{head}\r\n\r\n").as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    };
    if let Some(c) = csrf {
        part(
            "Content-Disposition: form-data; name=\"csrf\"".into(),
            c.as_bytes(),
        );
    }
    part(
        "Content-Disposition: form-data; name=\"logo\"; filename=\"logo.svg\"\r\n\
         Content-Type: application/octet-stream"
            .into(),
        logo,
    );
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let cookie = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(format!("http://{}/admin/apps/{slug}/logo", server.addr))
        .header("cookie", cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    Page {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

async fn post(b: &mut Browser, path: &str, f: &Form, csrf: Option<&str>) -> Page {
    let mut pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(c) = csrf {
        pairs.push(("csrf", c));
    }
    b.post(path, &pairs).await
}

/// HTML text back to plain text (askama escapes `<>&"'`, as names or numbers).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 8) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The message of a form shown again after a refusal (the first `role="alert"` error).
fn inline_error(page: &Page) -> Option<String> {
    let body = &page.body;
    let at = body
        .find("class=\"error\" id=\"err-")
        .or_else(|| body.find("id=\"sso-error\""))
        .or_else(|| body.find("id=\"flash\""))?;
    let text = &body[at..];
    let text = &text[text.find('>')? + 1..];
    Some(unescape(&text[..text.find("</p>")?]))
}

/// The one-time message of a console page: (class, text).
fn flash(page: &Page) -> Option<(String, String)> {
    let body = &page.body;
    let at = body.find("id=\"flash\"")?;
    let open = body[..at].rfind("<p ")?;
    let close = at + body[at..].find('>')?;
    let tag = &body[open..close];
    let c = tag.find("class=\"")? + "class=\"".len();
    let class = tag[c..c + tag[c..].find('"')?].to_string();
    let text = &body[close + 1..];
    let text = &text[..text.find("</p>")?];
    Some((class, unescape(text)))
}

/// The cells of the rows of the table that follows `marker`.
fn table_rows(body: &str, marker: &str) -> Vec<Vec<String>> {
    let Some(start) = body.find(marker) else {
        return Vec::new();
    };
    let table = &body[start..];
    let table = &table[..table.find("</table>").unwrap_or(table.len())];
    let Some(tbody) = table.find("<tbody>") else {
        return Vec::new();
    };
    table[tbody..]
        .split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|cell| unescape(&cell[..cell.find("</td>").unwrap_or(cell.len())]))
                .collect()
        })
        .collect()
}

/// Everything a console action could change, to compare before and after a refused one.
async fn snapshot(db: &Db) -> Vec<String> {
    let mut out = Vec::new();
    let (count, max): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM events")
            .fetch_one(db.writer_pool())
            .await
            .unwrap();
    out.push(format!("events: {count} (last id {max})"));
    for app in apps::list(db).await.unwrap() {
        let detail = apps::show(db, &app.slug).await.unwrap();
        out.push(format!("app {app:?} bound to {:?}", detail.groups));
        let (_, sso) = sesame::saml::settings::get(db, &app.slug).await.unwrap();
        out.push(format!("sso of {}: {sso:?}", app.slug));
        let mut conn = db.read().await.unwrap();
        let (_, target, configured) = sesame::scim::target::get(&mut conn, &app.slug)
            .await
            .unwrap();
        out.push(format!(
            "scim of {} (configured {configured}): {target:?}",
            app.slug
        ));
    }
    for user in users::list(db).await.unwrap() {
        out.push(format!("user {user:?}"));
    }
    let hashes: Vec<(String, String)> =
        sqlx::query_as("SELECT username, COALESCE(password_hash, '') FROM users ORDER BY id")
            .fetch_all(db.writer_pool())
            .await
            .unwrap();
    out.push(format!("password hashes {hashes:?}"));
    for g in groups::list(db).await.unwrap() {
        let d = groups::show(db, &g.name).await.unwrap();
        out.push(format!("group {g:?} members {:?}", d.member_names));
    }
    let (jobs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM scim_jobs")
        .fetch_one(db.writer_pool())
        .await
        .unwrap();
    out.push(format!("scim jobs: {jobs}"));
    out
}

fn assert_unchanged(before: &[String], after: &[String], what: &str) {
    if before != after {
        let first = before
            .iter()
            .zip(after)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("before: {a}\n after: {b}"))
            .unwrap_or_else(|| format!("{} entries before, {} after", before.len(), after.len()));
        panic!("{what} changed the directory:\n{first}");
    }
}

async fn all_events(db: &Db) -> Vec<Event> {
    let mut conn = db.read().await.unwrap();
    events::list(
        &mut conn,
        &EventFilter {
            limit: 100_000,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap()
}

/// A server with an admin (`root`), two users (`alice` in group `eng`, `bob` in no group),
/// a second group `other`, and the app `wiki` bound to `eng`.
struct Console {
    _db: TestDb,
    server: TestServer,
}

impl Console {
    async fn start() -> Console {
        Self::start_allowing("").await
    }

    /// With `metadata_fetch_allow` set: SP metadata on loopback is refused otherwise.
    async fn start_allowing(metadata_fetch_allow: &str) -> Console {
        let db = TestDb::sqlite();
        let mut config = test_config(&db.url);
        config.metadata_fetch_allow =
            sesame::saml::fetch::FetchAllow::parse(metadata_fetch_allow).unwrap();
        let server = TestServer::start_with(config).await;
        let fields = UserFields {
            email: Some("root@example.com".into()),
            is_admin: Some(true),
            ..UserFields::default()
        };
        let pw = Password::new(ADMIN_PW.into()).unwrap();
        users::add(&server.db, &Actor::system(), ADMIN, &fields, Some(&pw))
            .await
            .unwrap();
        server.user("alice", USER_PW).await;
        server.user("bob", USER_PW).await;
        let sys = Actor::system();
        groups::add(&server.db, &sys, "eng", "").await.unwrap();
        groups::add(&server.db, &sys, "other", "").await.unwrap();
        groups::set_member(&server.db, &sys, "eng", "alice", true)
            .await
            .unwrap();
        apps::add(
            &server.db,
            &sys,
            "wiki",
            "generic",
            &apps::AppChanges::default(),
        )
        .await
        .unwrap();
        apps::set_binding(&server.db, &sys, "wiki", "eng", true)
            .await
            .unwrap();
        Console { _db: db, server }
    }

    /// A browser signed in as `username`, with the session's CSRF token.
    async fn signed_in(&self, username: &str, password: &str) -> (Browser, String) {
        let mut b = Browser::new(&self.server);
        let res = b.login(username, password).await;
        assert_eq!(res.status, 303, "login of {username}: {}", res.body);
        let portal = b.get("/").await;
        assert_eq!(portal.status, 200, "{}", portal.body);
        let csrf = portal.csrf();
        (b, csrf)
    }

    async fn admin(&self) -> (Browser, String) {
        self.signed_in(ADMIN, ADMIN_PW).await
    }
}

/// Submits a console form as the admin and returns the flash of the page it lands on.
async fn submit(b: &mut Browser, csrf: &str, path: &str, f: &Form) -> (String, String) {
    let res = post(b, path, f, Some(csrf)).await;
    assert_eq!(res.status, 303, "POST {path}: {}", res.body);
    let to = res.location().expect("a redirect").to_string();
    let page = b.get(&to).await;
    assert_eq!(
        page.status, 200,
        "GET {to} after POST {path}: {}",
        page.body
    );
    flash(&page).unwrap_or_else(|| panic!("no flash on {to} after POST {path}"))
}

async fn submit_ok(b: &mut Browser, csrf: &str, path: &str, f: &Form) -> String {
    let (class, msg) = submit(b, csrf, path, f).await;
    assert_eq!(class, "notice", "POST {path}: {msg}");
    msg
}

fn login_redirect(path: &str) -> String {
    format!(
        "/login?next={}",
        url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
    )
}

/// The route patterns of the console's router, read from its source, so that a route
/// added later without a test here fails [`only_admins_get_in_on_every_route`].
fn router_patterns() -> Vec<String> {
    let src = include_str!("../../src/web/admin/mod.rs");
    src.match_indices(".route(")
        .filter_map(|(i, m)| {
            let rest = src[i + m.len()..].trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        })
        .collect()
}

fn matches_pattern(pattern: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == q.len()
        && p.iter()
            .zip(&q)
            .all(|(a, b)| a == b || (a.starts_with('{') && a.ends_with('}')))
}

#[tokio::test]
async fn only_admins_get_in_on_every_route() {
    let patterns = router_patterns();
    assert!(patterns.len() >= 15, "{patterns:?}");
    let tested: Vec<String> = GET_ROUTES
        .iter()
        .map(|p| p.to_string())
        .chain(post_routes().into_iter().map(|(p, _)| p))
        .chain(["/admin/apps/wiki/logo".to_string()])
        .collect();
    for pattern in &patterns {
        assert!(
            tested.iter().any(|p| matches_pattern(pattern, p)),
            "the console route {pattern} is not tested here"
        );
    }

    let c = Console::start().await;
    let (mut admin, admin_csrf) = c.admin().await;
    // IdM configured, so that its actions would have something to change.
    submit_ok(
        &mut admin,
        &admin_csrf,
        "/admin/apps/wiki/idm",
        &idm_form(SCIM_URL, SCIM_TOKEN),
    )
    .await;

    // The routes are real: an admin gets each page.
    for path in GET_ROUTES {
        let page = admin.get(path).await;
        if *path == "/admin" {
            assert_eq!(page.status, 303);
            assert_eq!(page.location(), Some("/admin/apps"));
        } else {
            assert_eq!(page.status, 200, "admin GET {path}: {}", page.body);
        }
    }

    // The portal shows the way to the console to admins only.
    assert!(admin.get("/").await.body.contains("id=\"admin-link\""));
    let (mut alice, alice_csrf) = c.signed_in("alice", USER_PW).await;
    let portal = alice.get("/").await;
    assert!(
        !portal.body.contains("id=\"admin-link\""),
        "{}",
        portal.body
    );
    assert!(!portal.body.contains("href=\"/admin"), "{}", portal.body);

    let before = snapshot(&c.server.db).await;

    // Anonymous: every page sends to the login page and back; every form is refused.
    let mut anon = Browser::new(&c.server);
    for path in GET_ROUTES {
        let page = anon.get(path).await;
        assert_eq!(page.status, 303, "anonymous GET {path}: {}", page.body);
        assert_eq!(
            page.location(),
            Some(login_redirect(path).as_str()),
            "anonymous GET {path}"
        );
    }
    for (path, f) in post_routes() {
        let res = post(&mut anon, &path, &f, None).await;
        assert_eq!(res.status, 403, "anonymous POST {path}: {}", res.body);
        assert!(
            res.body.contains("This form has expired"),
            "anonymous POST {path}: {}",
            res.body
        );
    }
    let res = post_logo(&c.server, &anon, "wiki", None, SVG_LOGO.as_bytes()).await;
    assert_eq!(res.status, 403, "anonymous logo upload: {}", res.body);
    assert!(res.body.contains("This form has expired"));
    // Even with the login page's (pre-auth) token: not signed in, so to the login page.
    let login_csrf = anon.get("/login").await.csrf();
    let res = post_logo(
        &c.server,
        &anon,
        "wiki",
        Some(&login_csrf),
        SVG_LOGO.as_bytes(),
    )
    .await;
    assert_eq!(res.status, 303, "anonymous logo upload: {}", res.body);
    assert_eq!(res.location(), Some(login_redirect("/admin").as_str()));
    for (path, f) in post_routes() {
        let res = post(&mut anon, &path, &f, Some(&login_csrf)).await;
        assert_eq!(res.status, 303, "anonymous POST {path}: {}", res.body);
        assert_eq!(
            res.location(),
            Some(login_redirect("/admin").as_str()),
            "anonymous POST {path}"
        );
    }
    assert_unchanged(&before, &snapshot(&c.server.db).await, "anonymous requests");

    // A signed-in user who is not an admin: 403 everywhere, even with a valid token.
    for path in GET_ROUTES {
        let page = alice.get(path).await;
        assert_eq!(page.status, 403, "non-admin GET {path}: {}", page.body);
        assert!(
            page.body.contains("for administrators only"),
            "non-admin GET {path}: {}",
            page.body
        );
        assert!(!page.body.contains(SCIM_TOKEN));
    }
    for (path, f) in post_routes() {
        let res = post(&mut alice, &path, &f, None).await;
        assert_eq!(res.status, 403, "non-admin POST {path} without csrf");
        assert!(res.body.contains("This form has expired"), "{path}");
        let res = post(&mut alice, &path, &f, Some(&alice_csrf)).await;
        assert_eq!(res.status, 403, "non-admin POST {path}: {}", res.body);
        assert!(
            res.body.contains("for administrators only"),
            "non-admin POST {path}: {}",
            res.body
        );
        assert_unchanged(
            &before,
            &snapshot(&c.server.db).await,
            &format!("non-admin POST {path}"),
        );
    }
    let res = post_logo(&c.server, &alice, "wiki", None, SVG_LOGO.as_bytes()).await;
    assert_eq!(res.status, 403, "non-admin logo upload without csrf");
    assert!(res.body.contains("This form has expired"));
    let res = post_logo(
        &c.server,
        &alice,
        "wiki",
        Some(&alice_csrf),
        SVG_LOGO.as_bytes(),
    )
    .await;
    assert_eq!(res.status, 403, "non-admin logo upload: {}", res.body);
    assert!(res.body.contains("for administrators only"), "{}", res.body);
    assert_unchanged(
        &before,
        &snapshot(&c.server.db).await,
        "non-admin logo upload",
    );
    let alice_now = users::get(&c.server.db, "alice").await.unwrap();
    assert!(!alice_now.is_admin);
    // Alice's session still works (she was refused, not signed out).
    assert_eq!(alice.get("/").await.status, 200);

    // An admin demoted while signed in loses the console at the next request.
    let sys = Actor::system();
    let second = UserFields {
        email: Some("second@example.com".into()),
        is_admin: Some(true),
        ..UserFields::default()
    };
    let pw = Password::new(ADMIN_PW.into()).unwrap();
    users::add(&c.server.db, &sys, "second", &second, Some(&pw))
        .await
        .unwrap();
    let (mut demoted, demoted_csrf) = c.signed_in("second", ADMIN_PW).await;
    assert_eq!(demoted.get("/admin/users").await.status, 200);
    let demote = UserFields {
        is_admin: Some(false),
        ..UserFields::default()
    };
    users::update(&c.server.db, &sys, "second", &demote)
        .await
        .unwrap();
    let before = snapshot(&c.server.db).await;
    let page = demoted.get("/admin/users").await;
    assert_eq!(page.status, 403, "{}", page.body);
    let group = form(&[("name", "by-demoted"), ("description", "")]);
    let res = post(&mut demoted, "/admin/groups", &group, Some(&demoted_csrf)).await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_unchanged(&before, &snapshot(&c.server.db).await, "a demoted admin");
    c.server.stop().await;
}

#[tokio::test]
async fn every_console_form_needs_the_sessions_csrf_token() {
    let c = Console::start().await;
    let (mut admin, csrf) = c.admin().await;
    submit_ok(
        &mut admin,
        &csrf,
        "/admin/apps/wiki/idm",
        &idm_form(SCIM_URL, SCIM_TOKEN),
    )
    .await;
    let (_alice, alice_csrf) = c.signed_in("alice", USER_PW).await;
    assert_ne!(alice_csrf, csrf);
    let before = snapshot(&c.server.db).await;
    let wrong = "A".repeat(csrf.len());
    let bad_tokens = [
        ("no csrf", None),
        ("an empty csrf", Some("")),
        ("a wrong csrf", Some(wrong.as_str())),
        ("another session's csrf", Some(alice_csrf.as_str())),
        ("a truncated csrf", Some(&csrf[..csrf.len() - 1])),
    ];
    for (label, token) in bad_tokens {
        let res = post_logo(&c.server, &admin, "wiki", token, SVG_LOGO.as_bytes()).await;
        assert_eq!(res.status, 403, "logo upload with {label}: {}", res.body);
        assert!(res.body.contains("This form has expired"), "{label}");
        assert_unchanged(
            &before,
            &snapshot(&c.server.db).await,
            &format!("logo upload with {label}"),
        );
    }
    for (path, f) in post_routes() {
        for (label, token) in bad_tokens {
            let res = post(&mut admin, &path, &f, token).await;
            assert_eq!(
                res.status, 403,
                "admin POST {path} with {label}: {}",
                res.body
            );
            assert!(
                res.body.contains("This form has expired"),
                "admin POST {path} with {label}: {}",
                res.body
            );
            assert_unchanged(
                &before,
                &snapshot(&c.server.db).await,
                &format!("admin POST {path} with {label}"),
            );
        }
    }
    // The token in the query string does not count either.
    let res = admin
        .post(
            &format!("/admin/groups?csrf={csrf}"),
            &[("name", "sneaky"), ("description", "")],
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_unchanged(&before, &snapshot(&c.server.db).await, "csrf in the query");
    // The refusals did not end the admin's session: the right token still works.
    submit_ok(
        &mut admin,
        &csrf,
        "/admin/groups",
        &form(&[("name", "sales"), ("description", "")]),
    )
    .await;
    assert!(groups::show(&c.server.db, "sales").await.is_ok());
    c.server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_an_error_naming_the_problem_and_changes_nothing() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    // Settings in place that a refused form must not touch.
    submit_ok(&mut b, &csrf, "/admin/apps/wiki/sso", &sso_form()).await;
    submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/wiki/idm",
        &idm_form(SCIM_URL, SCIM_TOKEN),
    )
    .await;

    let general = |color: &str| {
        form(&[
            ("label", "Wiki"),
            ("description", "the wiki"),
            ("color", color),
            ("show_in_portal", "on"),
            ("enabled", "on"),
        ])
    };
    let new_app = |template: &str, slug: &str| {
        form(&[("template", template), ("slug", slug), ("label", "New")])
    };
    let new_user = |username: &str, email: &str, password: &str| {
        form(&[
            ("username", username),
            ("email", email),
            ("first_name", "New"),
            ("last_name", "User"),
            ("password", password),
        ])
    };
    let doctype = format!(
        "<!DOCTYPE md:EntityDescriptor [<!ENTITY x \"y\">]>\n{}",
        METADATA
    );
    let cases: Vec<(&str, &str, Form, &[&str])> = vec![
        (
            "invalid slug",
            "/admin/apps",
            new_app("generic", "Bad Slug!"),
            &["slug \"Bad Slug!\"", "a-z, 0-9 and -"],
        ),
        (
            "markup in the slug",
            "/admin/apps",
            new_app("generic", "<b>x</b>"),
            &["slug \"<b>x</b>\""],
        ),
        (
            "duplicate slug",
            "/admin/apps",
            new_app("generic", "wiki"),
            &["\"wiki\"", "already exists"],
        ),
        (
            "unknown template",
            "/admin/apps",
            new_app("no-such-template", "fresh"),
            &["unknown template \"no-such-template\""],
        ),
        (
            "bad colour",
            "/admin/apps/wiki",
            general("red"),
            &["colour \"red\"", "#1a2b3c"],
        ),
        (
            "relative ACS URL",
            "/admin/apps/wiki/sso",
            with(sso_form(), "acs_urls", "/saml/acs"),
            &["ACS URL \"/saml/acs\"", "absolute"],
        ),
        (
            "RelayState with a newline",
            "/admin/apps/wiki/sso",
            with(
                sso_form(),
                "relay_state",
                "https://wiki.example/\nSet-Cookie: x=y",
            ),
            &["RelayState", "line breaks"],
        ),
        (
            "SP certificate that is not PEM",
            "/admin/apps/wiki/sso",
            with(sso_form(), "sp_certificate", "this is not a certificate"),
            &["SP certificate", "PEM"],
        ),
        (
            "SP metadata that is not XML",
            "/admin/apps/wiki/sso/metadata",
            form(&[("xml", "<md:EntityDescriptor entityID=")]),
            &["not well-formed XML"],
        ),
        (
            "SP metadata with a DOCTYPE",
            "/admin/apps/wiki/sso/metadata",
            form(&[("xml", &doctype)]),
            &["DOCTYPE"],
        ),
        (
            "SCIM URL with credentials",
            "/admin/apps/wiki/idm",
            idm_form(
                "https://scim-user:hunter2secret@scim.example/v2",
                "a-new-token-never-saved",
            ),
            &["credentials", "not in the URL"],
        ),
        (
            "non-numeric deletion threshold",
            "/admin/apps/wiki/idm",
            with(
                idm_form(SCIM_URL, "a-new-token-never-saved"),
                "deletion_threshold",
                "ten",
            ),
            &["deletion threshold", "whole number"],
        ),
        (
            "weak password",
            "/admin/users",
            new_user("carol", "carol@example.com", "short"),
            &["password", "at least"],
        ),
        (
            "duplicate username",
            "/admin/users",
            new_user("alice", "alice2@example.com", "a long enough password"),
            &["username \"alice\"", "already taken"],
        ),
        (
            "duplicate username in other case",
            "/admin/users",
            new_user("ALICE", "alice3@example.com", ""),
            &["already taken"],
        ),
        (
            "invalid email",
            "/admin/users",
            new_user("carol", "carol at example", "a long enough password"),
            &["email \"carol at example\"", "not a valid address"],
        ),
        (
            "wrong confirmation to delete an app",
            "/admin/apps/wiki/delete",
            form(&[("confirm", "wik")]),
            &["Type wiki exactly to delete the application"],
        ),
    ];
    for (what, path, f, expected) in cases {
        let before = snapshot(&c.server.db).await;
        let res = post(&mut b, path, &f, Some(&csrf)).await;
        if res.status == 400 {
            // Shown again in place: the message at the field, which is marked and focused,
            // and what was typed is still there.
            let msg = inline_error(&res).unwrap_or_else(|| panic!("{what}: no message"));
            for e in expected {
                assert!(msg.contains(e), "{what}: {msg:?} should mention {e:?}");
            }
            assert!(
                res.body.contains("aria-invalid=\"true\""),
                "{what}: field marked"
            );
            assert!(res.body.contains(" autofocus"), "{what}: field focused");
            // Everything but passwords and tokens, which are never sent back.
            let secret = |k: &str| matches!(k, "csrf" | "password" | "token" | "basic_password");
            for (k, v) in f.iter().filter(|(k, _)| !secret(k)) {
                let shown = v
                    .replace('&', "&#38;")
                    .replace('<', "&#60;")
                    .replace('"', "&#34;");
                assert!(
                    res.body.contains(&shown) || res.body.contains(v.as_str()),
                    "{what}: {k} kept as typed ({v:?})"
                );
            }
            assert_unchanged(&before, &snapshot(&c.server.db).await, what);
            continue;
        }
        assert_eq!(res.status, 303, "{what}: {}", res.body);
        let to = res.location().unwrap().to_string();
        let page = b.get(&to).await;
        assert_eq!(page.status, 200, "{what}");
        let (class, msg) = flash(&page).unwrap_or_else(|| panic!("{what}: no flash on {to}"));
        assert_eq!(class, "error", "{what}: {msg}");
        for e in expected {
            assert!(msg.contains(e), "{what}: {msg:?} should mention {e:?}");
        }
        assert!(!page.body.contains("<b>x</b>"), "{what}: input is escaped");
        assert!(!msg.contains("hunter2secret"), "{what}: {msg}");
        assert!(!page.body.contains("hunter2secret"), "{what}");
        assert_unchanged(&before, &snapshot(&c.server.db).await, what);
        // One-time: the next page has no message.
        assert!(
            flash(&b.get(&to).await).is_none(),
            "{what}: flash shown twice"
        );
    }
    let logos: [(&str, &[u8], &str); 3] = [
        (
            "SVG logo with a script",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            "must not contain <script>",
        ),
        ("GIF logo", b"GIF89a\x01\x00\x01\x00", "neither a PNG nor"),
        ("empty logo", b"", "choose a PNG or SVG file"),
    ];
    for (what, bytes, expected) in logos {
        let before = snapshot(&c.server.db).await;
        let res = post_logo(&c.server, &b, "wiki", Some(&csrf), bytes).await;
        assert_eq!(res.status, 303, "{what}: {}", res.body);
        let page = b.get(res.location().unwrap()).await;
        let (class, msg) = flash(&page).unwrap_or_else(|| panic!("{what}: no flash"));
        assert_eq!(class, "error", "{what}: {msg}");
        assert!(
            msg.contains(expected),
            "{what}: {msg:?} should mention {expected:?}"
        );
        assert_unchanged(&before, &snapshot(&c.server.db).await, what);
    }
    c.server.stop().await;
}

#[tokio::test]
async fn every_console_change_is_an_event_by_the_admin() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let db = &c.server.db;
    let actor = format!("admin:{ADMIN}");
    let steps: Vec<(&str, &str, Form, &[&str])> = vec![
        (
            "app create",
            "/admin/apps",
            form(&[("template", "generic"), ("slug", "crm"), ("label", "CRM")]),
            &["app_create"],
        ),
        (
            "general update",
            "/admin/apps/crm",
            form(&[
                ("label", "CRM 2"),
                ("description", "customers"),
                ("color", "#112233"),
                ("show_in_portal", "on"),
                ("enabled", "on"),
            ]),
            &["app_update"],
        ),
        (
            "SSO save",
            "/admin/apps/crm/sso",
            with(sso_form(), "sp_entity_id", "https://crm.example/sp"),
            &["app_sso_update"],
        ),
        (
            "user create",
            "/admin/users",
            form(&[
                ("username", "dave"),
                ("email", "dave@example.com"),
                ("first_name", "Dave"),
                ("last_name", "D"),
                ("password", "a temporary password"),
            ]),
            // One transaction, one event: the temporary password is part of the creation.
            &["user_create"],
        ),
        (
            "group create",
            "/admin/groups",
            form(&[("name", "sales"), ("description", "the sales team")]),
            &["group_create"],
        ),
        (
            "member add",
            "/admin/groups/sales/add",
            form(&[("username", "dave")]),
            &["group_member_add"],
        ),
        (
            "bind group",
            "/admin/apps/crm/groups",
            form(&[("group", "sales")]),
            &["app_group_bind"],
        ),
        (
            "user suspend",
            "/admin/users/dave/suspend",
            form(&[("confirm_suspend", "on")]),
            &["user_suspend"],
        ),
        (
            "IdM settings save",
            "/admin/apps/crm/idm",
            idm_form(SCIM_URL, SCIM_TOKEN),
            &["idm_integration_reauth"],
        ),
    ];
    for (what, path, f, names) in steps {
        let last = all_events(db).await.last().map_or(0, |e| e.id);
        submit_ok(&mut b, &csrf, path, &f).await;
        let new: Vec<Event> = all_events(db)
            .await
            .into_iter()
            .filter(|e| e.id > last)
            .collect();
        let got: Vec<&str> = new.iter().map(|e| e.name.as_str()).collect();
        for n in names {
            assert!(got.contains(n), "{what}: events {got:?} lack {n}");
        }
        for e in &new {
            assert_eq!(e.actor, actor, "{what}: {e:?}");
            assert_eq!(e.outcome, "success", "{what}: {e:?}");
        }
    }
    let last = all_events(db).await.last().map_or(0, |e| e.id);
    submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/crm/sso/switch",
        &form(&[("sso", "off")]),
    )
    .await;
    let res = post_logo(&c.server, &b, "crm", Some(&csrf), SVG_LOGO.as_bytes()).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let page = b.get(res.location().unwrap()).await;
    assert_eq!(
        flash(&page),
        Some(("notice".to_string(), "Logo saved.".to_string()))
    );
    let new: Vec<Event> = all_events(db)
        .await
        .into_iter()
        .filter(|e| e.id > last)
        .collect();
    let got: Vec<&str> = new.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(got, ["app_update", "app_logo_update"], "SSO switch, logo");
    assert!(new.iter().all(|e| e.actor == actor), "{new:?}");
    // And the changes are made.
    let crm = apps::show(db, "crm").await.unwrap();
    assert!(!crm.app.sso_enabled);
    assert_eq!(crm.app.logo_type, "image/svg+xml");
    assert_eq!(crm.app.label, "CRM 2");
    assert_eq!(crm.app.color, "#112233");
    assert_eq!(crm.groups, vec!["sales".to_string()]);
    let dave = users::get(db, "dave").await.unwrap();
    assert!(!dave.active);
    assert!(
        dave.must_change_password,
        "an admin-chosen password is temporary"
    );
    let (_, sso) = sesame::saml::settings::get(db, "crm").await.unwrap();
    assert_eq!(sso.sp_entity_id, "https://crm.example/sp");
    // The events carry the app or the user they are about.
    let evs = all_events(db).await;
    let about = |name: &str| evs.iter().rev().find(|e| e.name == name).unwrap().clone();
    assert_eq!(about("app_sso_update").app_slug.as_deref(), Some("crm"));
    assert_eq!(about("user_suspend").username.as_deref(), Some("dave"));
    assert_eq!(about("group_member_add").username.as_deref(), Some("dave"));
    c.server.stop().await;
}

#[tokio::test]
async fn scim_credentials_are_write_only() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let idm = b.get("/admin/apps/wiki/idm").await;
    assert!(idm.body.contains("Credential: not set."), "{}", idm.body);
    let msg = submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/wiki/idm",
        &idm_form(SCIM_URL, SCIM_TOKEN),
    )
    .await;
    assert_eq!(msg, "Identity Management settings saved.");
    // Basic credentials too: the password is as secret as the token.
    let jira = form(&[("template", "generic"), ("slug", "jira"), ("label", "Jira")]);
    submit_ok(&mut b, &csrf, "/admin/apps", &jira).await;
    let basic_pw = "basic-password-Zk3mQ8vN2x";
    let basic = with(
        with(idm_form(SCIM_URL, ""), "basic_user", "scim-bot"),
        "basic_password",
        basic_pw,
    );
    submit_ok(&mut b, &csrf, "/admin/apps/jira/idm", &basic).await;
    let secrets = [SCIM_TOKEN, basic_pw];

    let idm = b.get("/admin/apps/wiki/idm").await;
    assert!(
        idm.body.contains("Credential: set (bearer)"),
        "the page says a credential is set: {}",
        idm.body
    );
    assert!(idm.body.contains(SCIM_URL), "the URL is shown");
    let jira = b.get("/admin/apps/jira/idm").await;
    assert!(
        jira.body.contains("Credential: set (basic, user scim-bot)"),
        "{}",
        jira.body
    );
    // A refused save is shown again as typed, but does not echo the new token.
    let refused = post(
        &mut b,
        "/admin/apps/wiki/idm",
        &with(
            idm_form(SCIM_URL, "refused-token-Pq9wE4"),
            "url",
            "not a url",
        ),
        Some(&csrf),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let msg = inline_error(&refused).expect("the reason");
    assert!(msg.contains("is not an absolute URL"), "{msg}");
    assert!(
        refused.body.contains("value=\"not a url\""),
        "the URL as typed"
    );
    assert!(refused.body.contains("aria-describedby=\"err-url\"") || refused.body.contains("id=\"url\" name=\"url\" value=\"not a url\" placeholder=\"https://api.example.com/scim/v2\" aria-invalid=\"true\""));
    assert!(
        !refused.body.contains("refused-token-Pq9wE4"),
        "the token is not echoed"
    );

    let pages = [
        "/admin/apps/wiki/idm",
        "/admin/apps/jira/idm",
        "/admin/apps/wiki",
        "/admin/apps/wiki/sso",
        "/admin/apps/wiki/groups",
        "/admin/apps",
        "/admin/events",
        "/admin/events?app=wiki",
        "/admin/events?app=jira",
        "/admin/events?name=idm_integration_reauth",
    ];
    for path in pages {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        for s in secrets {
            assert!(!page.body.contains(s), "{path} shows a credential");
        }
    }
    let events = b.get("/admin/events?name=idm_integration_reauth").await;
    assert_eq!(
        table_rows(&events.body, "id=\"events\"").len(),
        2,
        "the credential changes are on the events page: {}",
        events.body
    );
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT name, actor, COALESCE(app_slug, ''), COALESCE(username, ''), detail FROM events",
    )
    .fetch_all(c.server.db.writer_pool())
    .await
    .unwrap();
    for row in &rows {
        let text = format!("{row:?}");
        for s in secrets {
            assert!(!text.contains(s), "an event holds a credential: {text}");
        }
    }
    let sealed: Vec<(String,)> = sqlx::query_as("SELECT secret FROM scim_targets")
        .fetch_all(c.server.db.writer_pool())
        .await
        .unwrap();
    assert_eq!(sealed.len(), 2);
    for (s,) in sealed {
        assert!(!s.is_empty());
        for secret in secrets {
            assert!(!s.contains(secret), "stored in clear");
        }
    }
    c.server.stop().await;
}

/// The checks of an assertion preview: (label, "passes" | "fails", why).
fn preview_checks(page: &Page) -> Vec<(String, String, String)> {
    table_rows(&page.body, "class=\"list checks\"")
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), 3, "{r:?}");
            (r[0].clone(), r[1].clone(), r[2].clone())
        })
        .collect()
}

fn preview_xml(page: &Page) -> Option<String> {
    let marker = "<pre class=\"xml\" tabindex=\"0\">";
    let start = page.body.find(marker)? + marker.len();
    let end = start + page.body[start..].find("</pre>")?;
    Some(unescape(&page.body[start..end]))
}

#[tokio::test]
async fn assertion_preview_explains_the_checks_and_shows_the_response() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let acs = "https://wiki.example/saml/acs";
    submit_ok(&mut b, &csrf, "/admin/apps/wiki/sso", &sso_form()).await;
    let events_before = all_events(&c.server.db).await.len();

    // alice is in eng, which is bound to wiki.
    let page = b.get("/admin/apps/wiki/sso?preview=alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The preview form brings the admin to its result, which is focusable; the tab's
    // sections are linked from its top, import first; the values to copy have buttons.
    assert!(page
        .body
        .contains("action=\"/admin/apps/wiki/sso#preview-result\""));
    assert!(page.body.contains("id=\"preview-result\" tabindex=\"-1\""));
    let order: Vec<usize> = [
        "id=\"import\"",
        "id=\"give-sp\"",
        "id=\"sp-settings\"",
        "id=\"preview-card\"",
    ]
    .iter()
    .map(|id| page.body.find(id).unwrap_or_else(|| panic!("{id}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    for target in ["idp-url", "idp-entity-id", "idp-slo-url"] {
        assert!(
            page.body.contains(&format!("data-copy=\"{target}\"")),
            "{target}"
        );
    }
    assert!(page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    let checks = preview_checks(&page);
    let labels: Vec<&str> = checks.iter().map(|c| c.0.as_str()).collect();
    for l in [
        "Account active",
        "Access to the app",
        "Audience (SP entity id)",
        "Recipient (ACS URL)",
        "NameID",
        "Signature",
    ] {
        assert!(labels.contains(&l), "{l} missing from {labels:?}");
    }
    for (label, result, why) in &checks {
        assert_eq!(result, "passes", "{label}: {why}");
    }
    let detail = |label: &str| checks.iter().find(|c| c.0 == label).unwrap().2.clone();
    assert!(detail("Access to the app").contains("eng"));
    assert!(detail("NameID").contains("alice@example.com"));
    assert!(detail("Recipient (ACS URL)").contains(acs));
    assert!(!page.body.contains("<tr class=\"bad\">"));

    let xml = preview_xml(&page).expect("the decoded Response is shown");
    let doc = roxmltree::Document::parse(&xml).expect("the shown Response is XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    assert_eq!(root.attribute("Destination"), Some(acs));
    let text_of = |name: &str| {
        doc.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(str::to_string)
    };
    assert_eq!(text_of("NameID").as_deref(), Some("alice@example.com"));
    assert_eq!(
        text_of("Audience").as_deref(),
        Some("https://wiki.example/sp")
    );
    assert!(
        doc.descendants()
            .any(|n| n.is_element() && n.tag_name().name() == "Signature"),
        "the assertion is signed"
    );

    // bob is in no group bound to wiki: the access check fails, and there is no XML.
    let page = b.get("/admin/apps/wiki/sso?preview=bob").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let checks = preview_checks(&page);
    let access = checks
        .iter()
        .find(|c| c.0 == "Access to the app")
        .expect("access check");
    assert_eq!(access.1, "fails", "{access:?}");
    assert!(
        access.2.contains("eng"),
        "names the bound groups: {access:?}"
    );
    assert!(
        preview_xml(&page).is_none(),
        "no Response for a user without access: {}",
        page.body
    );
    assert!(!page.body.contains("samlp:Response"));
    assert!(!page.body.contains("bob@example.com</saml:NameID"));

    // A preview is not a sign-in: nothing is recorded.
    assert_eq!(all_events(&c.server.db).await.len(), events_before);
    c.server.stop().await;
}

#[tokio::test]
async fn events_page_filters_by_app_user_name_and_outcome() {
    let c = Console::start().await;
    let db = &c.server.db;
    let sys = Actor::system();
    apps::add(db, &sys, "crm", "generic", &apps::AppChanges::default())
        .await
        .unwrap();
    groups::set_member(db, &sys, "other", "bob", true)
        .await
        .unwrap();
    // A failed login for bob and for someone unknown.
    let mut stranger = Browser::new(&c.server);
    assert_eq!(
        stranger.login("bob", "not bob's password").await.status,
        401
    );
    assert_eq!(stranger.login("nobody", "whatever it is").await.status, 401);
    let (mut b, _) = c.admin().await;

    let rows = |page: &Page| -> Vec<Vec<String>> {
        assert_eq!(page.status, 200, "{}", page.body);
        let rows = table_rows(&page.body, "id=\"events\"");
        for r in &rows {
            assert!(r.len() >= 6, "{r:?}");
        }
        rows
    };
    // Columns: when, event, outcome, actor, app, user.
    let all = rows(&b.get("/admin/events").await);
    let total = all_events(db).await.len();
    assert_eq!(all.len(), total, "unfiltered, every event is listed");

    let by_app = rows(&b.get("/admin/events?app=wiki").await);
    assert!(!by_app.is_empty());
    assert!(by_app.iter().all(|r| r[4] == "wiki"), "{by_app:?}");
    assert!(by_app.iter().any(|r| r[1] == "app_create"));
    assert!(by_app.iter().any(|r| r[1] == "app_group_bind"));
    assert!(by_app.len() < all.len());
    let crm = rows(&b.get("/admin/events?app=crm").await);
    assert_eq!(crm.len(), 1, "{crm:?}");

    let by_user = rows(&b.get("/admin/events?user=bob").await);
    let names: Vec<&str> = by_user.iter().map(|r| r[1].as_str()).collect();
    assert!(by_user.iter().all(|r| r[5] == "bob"), "{by_user:?}");
    for n in ["user_create", "group_member_add", "login_failure"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    assert!(!names.contains(&"login_success"), "{names:?}");

    let by_name = rows(&b.get("/admin/events?name=app_create").await);
    assert_eq!(by_name.len(), 2, "{by_name:?}");
    assert!(by_name.iter().all(|r| r[1] == "app_create"));
    let mut slugs: Vec<&str> = by_name.iter().map(|r| r[4].as_str()).collect();
    slugs.sort();
    assert_eq!(slugs, ["crm", "wiki"]);

    let failures = rows(&b.get("/admin/events?outcome=failure").await);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures
        .iter()
        .all(|r| r[1] == "login_failure" && r[2].starts_with("failure")));
    let successes = rows(&b.get("/admin/events?outcome=success").await);
    assert!(successes.iter().all(|r| r[2].starts_with("success")));
    assert_eq!(successes.len() + failures.len(), all.len());

    // Filters combine; surrounding spaces are ignored; no match shows the empty state.
    let both = rows(&b.get("/admin/events?user=bob&outcome=failure").await);
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(both[0][1], "login_failure");
    let spaced = rows(&b.get("/admin/events?app=+wiki+").await);
    assert_eq!(spaced.len(), by_app.len());
    let none = b.get("/admin/events?user=nobody-at-all").await;
    assert!(rows(&none).is_empty());
    assert!(none.body.contains("No events match."));
    // The form shows the filter in use.
    let shown = b.get("/admin/events?app=wiki&outcome=failure").await;
    assert!(shown.body.contains("<option value=\"wiki\" selected>"));
    assert!(shown.body.contains("<option value=\"failure\" selected>"));
    c.server.stop().await;
}

/// The forms of [`post_routes`] are real: with the admin's token each reaches its handler
/// (a message follows) and, where it can without a reachable SCIM target, changes
/// something — so "nothing changed" above means the refusal worked.
#[tokio::test]
async fn the_forms_refused_above_work_for_an_admin() {
    let inert = [
        "/admin/apps/wiki/idm/test",
        "/admin/apps/wiki/idm/resume",
        "/admin/apps/wiki/idm/approve",
        "/admin/apps/wiki/idm/reject",
        "/admin/apps/wiki/idm/sync",
        "/admin/apps/wiki/idm/import",
        "/admin/users/alice/activate",
        // Nothing is staged on a fresh server, and no app has its own key.
        "/admin/keys/activate-next",
        "/admin/apps/wiki/keys/stage-next",
        "/admin/apps/wiki/keys/activate-next",
        "/admin/apps/wiki/keys/shared",
        // No SMTP server is set up on a fresh server: the test mail is refused.
        "/admin/settings/email/test",
        // No source of that name.
        "/admin/scim-sources/nobody/revoke",
    ];
    for (path, f) in post_routes() {
        let c = Console::start().await;
        let (mut b, csrf) = c.admin().await;
        let idm = idm_form(SCIM_URL, SCIM_TOKEN);
        submit_ok(&mut b, &csrf, "/admin/apps/wiki/idm", &idm).await;
        let before = snapshot(&c.server.db).await;
        // These answer in place: the plan applied, the new source's token shown once.
        let in_place = [
            ("/admin/config", "Applied 1 steps."),
            ("/admin/scim-sources", "id=\"new-token\""),
            ("/admin/import/users", "1 created"),
        ];
        let msg = if let Some((_, marker)) = in_place.iter().find(|(p, _)| *p == path) {
            let res = post(&mut b, &path, &f, Some(&csrf)).await;
            assert_eq!(res.status, 200, "{}", res.body);
            assert!(res.body.contains(marker), "{path}: {}", res.body);
            marker.to_string()
        } else {
            submit(&mut b, &csrf, &path, &f).await.1
        };
        assert!(!msg.is_empty(), "{path}");
        let changed = before != snapshot(&c.server.db).await;
        assert_eq!(
            changed,
            !inert.contains(&path.as_str()),
            "POST {path}: {msg}"
        );
        c.server.stop().await;
    }
    // The logo form too.
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let res = post_logo(&c.server, &b, "wiki", Some(&csrf), SVG_LOGO.as_bytes()).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let page = b.get(res.location().unwrap()).await;
    assert_eq!(flash(&page).map(|f| f.0).as_deref(), Some("notice"));
    assert_eq!(
        apps::get(&c.server.db, "wiki").await.unwrap().logo_type,
        "image/svg+xml"
    );
    c.server.stop().await;
}

/// Provisioning one user to a target that cannot be reached says so in words.
#[tokio::test]
async fn provision_one_user_failure_is_explained_in_words() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let idm = idm_form(SCIM_URL, SCIM_TOKEN);
    submit_ok(&mut b, &csrf, "/admin/apps/wiki/idm", &idm).await;
    let (class, msg) = submit(
        &mut b,
        &csrf,
        "/admin/apps/wiki/idm/provision",
        &form(&[("username", "alice")]),
    )
    .await;
    assert_eq!(class, "error", "{msg}");
    assert!(
        msg.contains("Nothing answered at") && msg.contains("Check the URL and port"),
        "{msg}"
    );
    assert!(
        !msg.contains("Retry(") && !msg.contains("None"),
        "the message shows Rust debug output: {msg:?}"
    );
    assert!(
        !msg.contains("alice:  "),
        "the decision is missing: {msg:?}"
    );
    c.server.stop().await;
}

/// The preview of a suspended member of a bound group: the account check fails, no
/// Response is shown, and the access check does not blame the group bindings.
#[tokio::test]
async fn preview_of_a_suspended_member_blames_the_suspension() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    submit_ok(&mut b, &csrf, "/admin/apps/wiki/sso", &sso_form()).await;
    users::set_active(&c.server.db, &Actor::system(), "alice", false)
        .await
        .unwrap();
    let page = b.get("/admin/apps/wiki/sso?preview=alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let checks = preview_checks(&page);
    let check = |label: &str| checks.iter().find(|c| c.0 == label).unwrap().clone();
    assert_eq!(check("Account active").1, "fails");
    assert!(
        preview_xml(&page).is_none(),
        "no Response for a suspended user"
    );
    let access = check("Access to the app");
    assert!(
        !access.2.contains("none of the user's groups is bound"),
        "alice is in eng, which is bound to wiki: {access:?}"
    );
    c.server.stop().await;
}

/// The href of the link whose text is `text`, as a browser would follow it.
fn link_to(page: &Page, text: &str) -> Option<String> {
    let end = page.body.find(&format!(">{text}</a>"))?;
    let start = page.body[..end].rfind("href=\"")? + "href=\"".len();
    let href = &page.body[start..end];
    Some(unescape(&href[..href.find('"')?]))
}

/// Group names may hold any printable character and usernames a `+`: the console's own
/// links must still lead to them.
#[tokio::test]
async fn console_links_work_for_names_with_url_special_characters() {
    let c = Console::start().await;
    let sys = Actor::system();
    for name in ["ops/eu", "who?"] {
        groups::add(&c.server.db, &sys, name, "").await.unwrap();
    }
    let fields = UserFields {
        email: Some("plus@example.com".into()),
        ..UserFields::default()
    };
    users::add(&c.server.db, &sys, "a+b", &fields, None)
        .await
        .unwrap();
    let (mut b, _) = c.admin().await;

    let list = b.get("/admin/groups").await;
    let mut broken = Vec::new();
    for name in ["ops/eu", "who?"] {
        let href = link_to(&list, name).expect("the group is listed");
        let page = b.get(&href).await;
        if page.status != 200 || !page.body.contains(&format!("<h1>{name}</h1>")) {
            broken.push(format!("{name}: {href} -> {}", page.status));
        }
    }
    let users = b.get("/admin/users").await;
    let href = link_to(&users, "a+b").expect("the user is listed");
    let user = b.get(&href).await;
    assert_eq!(user.status, 200, "{href}");
    let href = link_to(&user, "Events about a+b").expect("events link");
    let events = b.get(&href).await;
    let rows = table_rows(&events.body, "id=\"events\"");
    if !rows.iter().any(|r| r[1] == "user_create" && r[5] == "a+b") {
        broken.push(format!("events of a+b: {href} lists {} rows", rows.len()));
    }
    assert!(broken.is_empty(), "links that do not work: {broken:#?}");
    c.server.stop().await;
}

/// SP metadata by URL: fetched (size-capped) from the SP, then imported like a paste; a URL
/// that answers an error changes nothing and says so in the one message every failed fetch
/// gets (issue 11: loopback needs `metadata_fetch_allow`; tests/it/ssrf.rs has the rest).
#[tokio::test]
async fn sp_metadata_is_imported_from_its_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sp = axum::Router::new().route("/metadata", axum::routing::get(|| async { METADATA }));
    let serving = tokio::spawn(async move { axum::serve(listener, sp).await });
    let url = format!("http://{addr}/metadata");
    let uniform = "could not fetch SP metadata from that URL (it must be a public http(s) address; see metadata_fetch_allow)";
    let closed = Console::start().await;
    let (mut b, csrf) = closed.admin().await;
    let (class, msg) = submit(
        &mut b,
        &csrf,
        "/admin/apps/wiki/sso/metadata",
        &form(&[("url", &url)]),
    )
    .await;
    assert_eq!((class.as_str(), msg.as_str()), ("error", uniform));
    closed.server.stop().await;

    let c = Console::start_allowing("127.0.0.1").await;
    let (mut b, csrf) = c.admin().await;
    let msg = submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/wiki/sso/metadata",
        &form(&[("url", &url)]),
    )
    .await;
    assert!(msg.contains("entity id https://meta.example/sp"), "{msg}");
    let (_, row) = sesame::saml::settings::get(&c.server.db, "wiki")
        .await
        .unwrap();
    assert_eq!(row.sp_entity_id, "https://meta.example/sp");
    let before = snapshot(&c.server.db).await;
    let missing = format!("http://{addr}/nothing-here");
    let (class, msg) = submit(
        &mut b,
        &csrf,
        "/admin/apps/wiki/sso/metadata",
        &form(&[("url", &missing)]),
    )
    .await;
    assert_eq!((class.as_str(), msg.as_str()), ("error", uniform));
    assert!(before == snapshot(&c.server.db).await, "nothing changed");
    serving.abort();
    c.server.stop().await;
}

/// One rule for creating a user, whatever the surface: the same user made in the console,
/// through the API and with the CLI (each asking for a temporary password, the console's
/// and the API's default) comes out the same, and must choose a new password at first
/// sign-in.
#[tokio::test]
async fn a_user_created_in_the_console_the_api_and_the_cli_comes_out_the_same() {
    let c = Console::start().await;
    let pw = "a temporary password 1";
    // Console.
    let (mut b, csrf) = c.admin().await;
    let made = post(
        &mut b,
        "/admin/users",
        &form(&[
            ("username", "via-console"),
            ("email", "via-console@example.com"),
            ("first_name", "Sam"),
            ("last_name", "Same"),
            ("password", pw),
        ]),
        Some(&csrf),
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    // API (an admin token of root).
    let token = sesame::auth::tokens::create(&c.server.db, &Actor::cli(), "three", ADMIN)
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .post(format!("http://{}/api/v1/users", c.server.addr))
        .bearer_auth(token)
        .json(
            &serde_json::json!({"username": "via-api", "email": "via-api@example.com",
            "first_name": "Sam", "last_name": "Same", "password": pw}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    // CLI, on the server's database, as a second process.
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args([
            "user",
            "add",
            "via-cli",
            "--email",
            "via-cli@example.com",
            "--first-name",
            "Sam",
            "--last-name",
            "Same",
            "--password-stdin",
            "--temporary",
        ])
        .env("SESAME_DATABASE_URL", &c.server.config.database_url)
        .env("SESAME_CERTS_DIR", &c.server.config.certs_dir)
        .env_remove("SESAME_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = cli.stdin.take().unwrap();
        writeln!(stdin, "{pw}").unwrap();
    }
    let out = cli.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let shown = |name: &'static str| {
        let db = c.server.db.clone();
        async move {
            let d = users::show(&db, name).await.unwrap();
            let mut v = serde_json::to_value(&d).unwrap();
            assert_eq!(v["email"], format!("{name}@example.com"));
            for volatile in ["id", "username", "email", "created_at", "updated_at"] {
                v.as_object_mut().unwrap().remove(volatile);
            }
            v
        }
    };
    let console = shown("via-console").await;
    assert_eq!(console["must_change_password"], true, "{console}");
    assert_eq!(console["first_name"], "Sam", "{console}");
    assert_eq!(shown("via-api").await, console, "API and console agree");
    assert_eq!(shown("via-cli").await, console, "CLI and console agree");
    for name in ["via-console", "via-api", "via-cli"] {
        let mut b = Browser::new(&c.server);
        assert_eq!(b.login(name, pw).await.status, 303, "{name} signs in");
        let portal = b.get("/").await;
        assert_eq!(
            portal.location(),
            Some("/account?next=%2F"),
            "{name} is asked for a new password first"
        );
    }
    // Each creation is one event, whichever surface made it.
    let mut conn = c.server.db.read().await.unwrap();
    let made: Vec<Event> = events::list(
        &mut conn,
        &EventFilter {
            name: Some("user_create".into()),
            limit: 100,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|e| e.username.as_deref().is_some_and(|u| u.starts_with("via-")))
    .collect();
    assert_eq!(made.len(), 3, "{made:?}");
}

/// An account locked by failed sign-ins shows the lock, and an admin lifts it from the
/// console, the API or the CLI, each an event.
#[tokio::test]
async fn an_admin_unlocks_a_locked_account_from_any_surface() {
    let c = Console::start().await;
    let lock = |who: &'static str| {
        let server = &c.server;
        async move {
            let mut b = Browser::new(server);
            // The test configuration locks after 3 failures.
            for _ in 0..3 {
                b.login(who, "not the password at all").await;
            }
            assert_ne!(b.login(who, USER_PW).await.status, 303, "{who} is locked");
        }
    };
    // Console.
    lock("alice").await;
    let refused = all_events(&c.server.db).await.into_iter().any(|e| {
        e.name == "login_failure"
            && e.username.as_deref() == Some("alice")
            && e.detail.contains("\"locked\"")
    });
    assert!(
        refused,
        "an attempt on the locked account is recorded under it"
    );
    let (mut b, csrf) = c.admin().await;
    let page = b.get("/admin/users/alice").await;
    assert!(page.body.contains("id=\"unlock\""), "{}", page.body);
    assert!(page.body.contains("Sign-in is locked"), "{}", page.body);
    let done = post(
        &mut b,
        "/admin/users/alice/unlock",
        &Form::new(),
        Some(&csrf),
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(!b
        .get("/admin/users/alice")
        .await
        .body
        .contains("id=\"unlock\""));
    assert_eq!(
        Browser::new(&c.server).login("alice", USER_PW).await.status,
        303
    );
    // API.
    lock("bob").await;
    let token = sesame::auth::tokens::create(&c.server.db, &Actor::cli(), "unlock", ADMIN)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let shown: serde_json::Value = http
        .get(format!("http://{}/api/v1/users/bob", c.server.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(shown["locked_until"].is_i64(), "{shown}");
    let res: serde_json::Value = http
        .post(format!("http://{}/api/v1/users/bob/unlock", c.server.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["was_locked"], true, "{res}");
    assert_eq!(
        Browser::new(&c.server).login("bob", USER_PW).await.status,
        303
    );
    // CLI, as a second process on the server's database. A fresh server: this client
    // address has used up its own failure allowance by now.
    let unlocks_before = all_events(&c.server.db)
        .await
        .into_iter()
        .filter(|e| e.name == "user_unlock")
        .count();
    assert_eq!(unlocks_before, 2);
    let c = Console::start().await;
    let lock = |who: &'static str| {
        let server = &c.server;
        async move {
            let mut b = Browser::new(server);
            for _ in 0..3 {
                b.login(who, "not the password at all").await;
            }
            assert_ne!(b.login(who, USER_PW).await.status, 303, "{who} is locked");
        }
    };
    lock("alice").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["user", "unlock", "alice"])
        .env("SESAME_DATABASE_URL", &c.server.config.database_url)
        .env("SESAME_CERTS_DIR", &c.server.config.certs_dir)
        .env_remove("SESAME_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "unlocked alice"
    );
    assert_eq!(
        Browser::new(&c.server).login("alice", USER_PW).await.status,
        303
    );
    let unlocks = all_events(&c.server.db)
        .await
        .into_iter()
        .filter(|e| e.name == "user_unlock")
        .count();
    assert_eq!(unlocks, 1);
}

/// An app's key forms take the slug from the URL: one that decodes to `x/../..` must not reach
/// the key directory (it would be `certs_dir` itself), and a deleted app's own key is gone
/// with it, so a new app with its slug does not sign with the old private key.
#[tokio::test]
async fn app_key_forms_refuse_a_slug_that_is_a_path_and_deleting_an_app_forgets_its_key() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let certs = c.server.config.certs_dir.clone();
    let shared = certs.join("idp-signing.key");
    assert!(shared.exists());
    for path in ["shared", "stage-next", "activate-next", "own"] {
        let res = post(
            &mut b,
            &format!("/admin/apps/x%2F..%2F../keys/{path}"),
            &form(&[("kind", "rsa")]),
            Some(&csrf),
        )
        .await;
        assert_eq!(res.status, 404, "{path}: {}", res.body);
        assert!(shared.exists(), "{path}: the shared key is still there");
    }
    submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/wiki/keys/own",
        &form(&[("kind", "rsa")]),
    )
    .await;
    let own = certs.join("apps/wiki/idp-signing.key");
    assert!(own.exists());
    submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/wiki/delete",
        &form(&[("confirm", "wiki")]),
    )
    .await;
    assert!(!own.exists(), "the deleted app's key is removed");
    assert!(shared.exists());
    c.server.stop().await;
}

/// Suspending deprovisions the user from every app: the console asks for a confirmation,
/// and without it nothing changes.
#[tokio::test]
async fn suspending_a_user_in_the_console_needs_a_confirmation() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let page = b.get("/admin/users/bob").await;
    assert!(
        page.body.contains("name=\"confirm_suspend\""),
        "{}",
        page.body
    );
    let (class, msg) = submit(&mut b, &csrf, "/admin/users/bob/suspend", &Form::new()).await;
    assert_eq!(class, "error", "{msg}");
    assert!(msg.contains("confirm"), "{msg}");
    let bob = sesame::directory::users::get(&c.server.db, "bob")
        .await
        .unwrap();
    assert!(bob.active, "not suspended without the confirmation");
    let msg = submit_ok(
        &mut b,
        &csrf,
        "/admin/users/bob/suspend",
        &form(&[("confirm_suspend", "on")]),
    )
    .await;
    assert!(msg.contains("suspended"), "{msg}");
    c.server.stop().await;
}

/// Two apps with one label are allowed (two tenants of one vendor), but the console says so.
#[tokio::test]
async fn a_label_already_in_use_is_accepted_with_a_warning() {
    let c = Console::start().await;
    let (mut b, csrf) = c.admin().await;
    let wiki = sesame::directory::apps::get(&c.server.db, "wiki")
        .await
        .unwrap();
    let msg = submit_ok(
        &mut b,
        &csrf,
        "/admin/apps",
        &form(&[
            ("template", "generic"),
            ("slug", "wiki-two"),
            ("label", &wiki.label.to_uppercase()),
        ]),
    )
    .await;
    assert!(msg.contains("Note: app wiki is also labelled"), "{msg}");
    let msg = submit_ok(
        &mut b,
        &csrf,
        "/admin/apps/wiki-two",
        &form(&[
            ("label", "Something else"),
            ("description", ""),
            ("color", "#123456"),
        ]),
    )
    .await;
    assert!(!msg.contains("Note:"), "{msg}");
    c.server.stop().await;
}

#[tokio::test]
async fn the_idm_tab_sets_password_sync_and_the_group_page_renames() {
    let c = Console::start().await;
    let (mut admin, csrf) = c.admin().await;
    let synced = |on: bool| {
        let f = idm_form(SCIM_URL, SCIM_TOKEN);
        if on {
            with(f, "password_sync", "on")
        } else {
            f
        }
    };
    for on in [true, false, true] {
        submit_ok(&mut admin, &csrf, "/admin/apps/wiki/idm", &synced(on)).await;
        let mut conn = c.server.db.read().await.unwrap();
        let row = sesame::scim::target::get(&mut conn, "wiki")
            .await
            .unwrap()
            .1;
        assert_eq!(row.password_sync, on);
        drop(conn);
        let page = admin.get("/admin/apps/wiki/idm").await;
        let checked = page.body.contains("name=\"password_sync\" checked");
        assert_eq!(checked, on, "the checkbox shows the setting");
    }

    // The group page: a new name and description, and the page moves with the name.
    let edit = form(&[
        ("new_name", "engineering"),
        ("description", "builds things"),
    ]);
    let res = post(&mut admin, "/admin/groups/eng/edit", &edit, Some(&csrf)).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/admin/groups/engineering"));
    let g = groups::show(&c.server.db, "engineering").await.unwrap();
    assert_eq!(g.group.description, "builds things");
    assert_eq!(g.member_names, vec!["alice".to_string()]);
    let page = admin.get("/admin/groups/engineering").await;
    assert!(page.body.contains("id=\"group-edit\""), "{}", page.body);
    // A taken name is refused, and nothing changes.
    let clash = form(&[("new_name", "other"), ("description", "x")]);
    post(
        &mut admin,
        "/admin/groups/engineering/edit",
        &clash,
        Some(&csrf),
    )
    .await;
    assert!(groups::show(&c.server.db, "engineering").await.is_ok());
}
