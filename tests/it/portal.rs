//! The login portal driven over HTTP (PRODUCT §3.2, SECURITY 11–13).

use sesame::directory::apps::{self, AppChanges};
use sesame::directory::{groups, users, Actor};

use crate::support::{Browser, Page, TestDb, TestServer};

const PW: &str = "correct horse battery";

fn error_text(page: &Page) -> String {
    let start = page.body.find("class=\"error\"").expect("error paragraph");
    let rest = &page.body[start..];
    rest[rest.find('>').unwrap() + 1..rest.find("</p>").unwrap()].to_string()
}

fn tile_slugs(page: &Page) -> Vec<String> {
    page.body
        .match_indices("data-slug=\"")
        .map(|(i, m)| {
            let rest = &page.body[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// An app with its SSO set up (so that it can be a tile).
async fn app(server: &TestServer, slug: &str, changes: AppChanges) {
    apps::add(&server.db, &Actor::system(), slug, "generic", &changes)
        .await
        .unwrap();
    crate::support::ready_sso(&server.db, slug).await;
}

#[tokio::test]
async fn login_shows_tiles_only_for_granted_enabled_portal_apps() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "eng", "").await.unwrap();
    groups::add(&server.db, &sys, "other", "").await.unwrap();
    groups::set_member(&server.db, &sys, "eng", "alice", true)
        .await
        .unwrap();
    app(
        &server,
        "granted",
        AppChanges {
            label: Some("Granted <b>App</b>".into()),
            ..Default::default()
        },
    )
    .await;
    app(&server, "not-granted", AppChanges::default()).await;
    app(&server, "other-group", AppChanges::default()).await;
    app(
        &server,
        "disabled",
        AppChanges {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await;
    app(
        &server,
        "hidden",
        AppChanges {
            show_in_portal: Some(false),
            ..Default::default()
        },
    )
    .await;
    // Bound, but its SSO is not set up (no SP entity ID, no ACS URL): no tile (issue 14, 3).
    apps::add(
        &server.db,
        &sys,
        "unready",
        "generic",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    for slug in ["granted", "disabled", "hidden", "unready"] {
        apps::set_binding(&server.db, &sys, slug, "eng", true)
            .await
            .unwrap();
    }
    apps::set_binding(&server.db, &sys, "other-group", "other", true)
        .await
        .unwrap();

    let mut b = Browser::new(&server);
    let res = b.login("alice", PW).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.location(), Some("/"));
    let portal = b.get("/").await;
    assert_eq!(portal.status, 200);
    assert_eq!(tile_slugs(&portal), vec!["granted"]);
    let unready = b.get("/saml2/unready/launch").await;
    assert_eq!(unready.status, 404);
    assert!(unready.body.contains("not set up yet"), "{}", unready.body);
    assert!(portal.body.contains("href=\"/saml2/granted/launch\""));
    // The label is text, escaped.
    assert!(
        portal.body.contains("Granted &#60;b&#62;App&#60;/b&#62;")
            || portal.body.contains("Granted &lt;b&gt;App&lt;/b&gt;")
    );

    // Revoking the group removes the tile; a launch of an app without access is refused.
    apps::set_binding(&server.db, &sys, "granted", "eng", false)
        .await
        .unwrap();
    assert!(tile_slugs(&b.get("/").await).is_empty());
    let denied = b.get("/saml2/granted/launch").await;
    assert_eq!(denied.status, 403);
    assert!(denied.body.contains("You do not have access"));
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    let wrong = b.login("alice", "not the password").await;
    let unknown = b.login("nobody", "not the password").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, wrong.status);
    assert_eq!(error_text(&wrong), error_text(&unknown));
    assert_eq!(error_text(&wrong), "Wrong username or password.");
    assert!(
        b.session_cookie().is_some(),
        "the login page sets a pre-auth session for CSRF"
    );
    assert_eq!(b.get("/").await.status, 303, "still not signed in");
    server.stop().await;
}

#[tokio::test]
async fn account_locks_after_repeated_failures_and_unlocks_after_expiry() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await; // 3 failures, 2 s lockout
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("alice", "bad-1").await.status, 401);
    assert_eq!(b.login("alice", "bad-2").await.status, 401);
    let third = b.login("ALICE", "bad-3").await;
    assert_eq!(third.status, 429, "the limit counts case-insensitively");
    assert!(error_text(&third).starts_with("Too many failed sign-in attempts"));
    // Locked: even the right password is refused, and so is an unknown account's lock.
    assert_eq!(b.login("alice", PW).await.status, 429);
    for _ in 0..3 {
        b.login("ghost", "x").await;
    }
    assert_eq!(
        b.login("ghost", "x").await.status,
        429,
        "unknown names lock the same way"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    assert_eq!(b.login("alice", PW).await.status, 303, "lock expired");
    let mut conn = server.db.read().await.unwrap();
    let lockouts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE name = 'login_lockout'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(lockouts, 2);
    server.stop().await;
}

#[tokio::test]
async fn client_address_is_throttled_across_usernames() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await; // 8 failures per address
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(b.login(&format!("spray{i}"), "guess").await.status);
    }
    assert_eq!(&statuses[..7], &[401; 7]);
    assert_eq!(statuses[7], 429);
    assert_eq!(
        b.login("alice", PW).await.status,
        429,
        "the address is locked for every account"
    );
    server.stop().await;
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    b.get("/login").await;
    let forged = b
        .post(
            "/login",
            &[("csrf", "forged"), ("username", "alice"), ("password", PW)],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("This form has expired"));
    let missing = b
        .post("/login", &[("username", "alice"), ("password", PW)])
        .await;
    assert_eq!(
        missing.status, 400,
        "a form without the field is a bad request page"
    );
    assert!(missing.body.contains("The form could not be read"));
    // A token from another session does not work either.
    let mut other = Browser::new(&server);
    let theirs = other.get("/login").await.csrf();
    assert_eq!(
        b.post(
            "/login",
            &[("csrf", &theirs), ("username", "alice"), ("password", PW)]
        )
        .await
        .status,
        403
    );

    // Signed in: sign-out and password change need the token too.
    assert_eq!(b.login("alice", PW).await.status, 303);
    assert_eq!(b.post("/logout", &[("csrf", "x")]).await.status, 403);
    let change = b
        .post(
            "/account/password",
            &[
                ("csrf", "x"),
                ("current", PW),
                ("new", "n3w-password"),
                ("confirm", "n3w-password"),
            ],
        )
        .await;
    assert_eq!(change.status, 403);
    assert_eq!(b.get("/").await.status, 200, "still signed in");
    assert!(
        !b.login_check_password("n3w-password", &server).await,
        "password unchanged"
    );
    server.stop().await;
}

impl Browser {
    /// Whether `password` signs alice in, from a fresh browser.
    async fn login_check_password(&self, password: &str, server: &TestServer) -> bool {
        Browser::new(server).login("alice", password).await.status == 303
    }
}

#[tokio::test]
async fn suspended_user_cannot_log_in_and_loses_the_session() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("alice", PW).await.status, 303);
    users::set_active(&server.db, &Actor::system(), "alice", false)
        .await
        .unwrap();
    let portal = b.get("/").await;
    assert_eq!(
        portal.status, 303,
        "the live session ends with the suspension"
    );
    assert!(portal.location().unwrap().starts_with("/login"));
    let again = b.login("alice", PW).await;
    assert_eq!(again.status, 401);
    assert_eq!(error_text(&again), "Wrong username or password.");
    users::set_active(&server.db, &Actor::system(), "alice", true)
        .await
        .unwrap();
    assert_eq!(b.login("alice", PW).await.status, 303);
    server.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session_for_good() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("alice", PW).await.status, 303);
    let stolen = b.session_cookie().unwrap();
    let confirm = b.get("/logout").await;
    assert_eq!(confirm.status, 200);
    let out = b.post("/logout", &[("csrf", &confirm.csrf())]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/login?logged_out=1"));
    assert_eq!(b.get("/").await.status, 303);
    // Replaying the old cookie does not bring the session back.
    let mut replay = Browser::new(&server);
    replay
        .cookies
        .insert(sesame::app::SESSION_COOKIE.into(), stolen);
    assert_eq!(replay.get("/").await.status, 303);
    server.stop().await;
}

#[tokio::test]
async fn session_id_changes_at_login_and_survives_a_restart() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    b.get("/login").await;
    let before = b.session_cookie().unwrap();
    assert_eq!(b.login("alice", PW).await.status, 303);
    let after = b.session_cookie().unwrap();
    assert_ne!(before, after, "SECURITY 11: a new session id at login");
    // The pre-login id is dead.
    let mut old = Browser::new(&server);
    old.cookies
        .insert(sesame::app::SESSION_COOKIE.into(), before);
    assert_eq!(old.get("/").await.status, 303);

    let config = server.config.clone();
    server.stop().await;
    let server = TestServer::start_with(config).await;
    b.retarget(&server);
    let portal = b.get("/").await;
    assert_eq!(portal.status, 200, "the session is in the database");
    assert!(portal.body.contains("alice"));
    server.stop().await;
}

#[tokio::test]
async fn every_page_carries_security_headers_and_safe_cookies() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    let login = b.get("/login").await;
    let cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("sesame_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    b.login("alice", PW).await;
    let mut pages = Vec::new();
    for path in [
        "/login",
        "/",
        "/account",
        "/logout",
        "/no-such-page",
        "/saml2/nope/launch",
        "/healthz",
    ] {
        pages.push((path, b.get(path).await));
    }
    pages.push(("bad csrf", b.post("/logout", &[("csrf", "x")]).await));
    for (path, page) in &pages {
        let h = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("cache-control"), "no-store", "{path}");
        let csp = h("content-security-policy");
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"),
            "{path}: {csp}"
        );
    }
    assert_eq!(pages[4].1.status, 404);
    assert!(pages[4].1.body.contains("There is no page at this address"));
    server.stop().await;
}

#[tokio::test]
async fn first_admin_must_choose_a_new_password() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let temp = sesame::auth::password::Password::new("temporary-pass".into()).unwrap();
    let name = users::ensure_admin(&server.db, &temp, true).await.unwrap();
    assert_eq!(name.as_deref(), Some("admin"));
    assert_eq!(
        users::ensure_admin(&server.db, &temp, true).await.unwrap(),
        None,
        "only once"
    );
    let mut b = Browser::new(&server);
    let res = b.login("admin", "temporary-pass").await;
    assert_eq!(res.location(), Some("/"));
    assert_eq!(
        b.get("/").await.location(),
        Some("/account?next=%2F"),
        "the portal waits for the change, and remembers where the user was going"
    );
    let account = b.get("/account").await;
    assert!(account.body.contains("Choose a new password"));
    let csrf = account.csrf();
    let short = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "temporary-pass"),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("at least 12 characters"));
    let csrf = short.csrf();
    let wrong = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "nope-nope"),
                ("new", "brand-new-pass"),
                ("confirm", "brand-new-pass"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    // NIST SP 800-63B: not the current password again, not the username inside it.
    let csrf = wrong.csrf();
    let same = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "temporary-pass"),
                ("new", "temporary-pass"),
                ("confirm", "temporary-pass"),
            ],
        )
        .await;
    assert_eq!(same.status, 400);
    assert!(
        same.body.contains("not the one you have now"),
        "{}",
        same.body
    );
    let csrf = same.csrf();
    let named = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "temporary-pass"),
                ("new", "my-Admin-password"),
                ("confirm", "my-Admin-password"),
            ],
        )
        .await;
    assert_eq!(named.status, 400);
    assert!(
        named.body.contains("must not contain the username"),
        "{}",
        named.body
    );
    let csrf = named.csrf();
    // Nor one of the most common (leaked) passwords, whatever its case.
    let common = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "temporary-pass"),
                ("new", "QWERTYUIOP123"),
                ("confirm", "QWERTYUIOP123"),
            ],
        )
        .await;
    assert_eq!(common.status, 400);
    assert!(
        common.body.contains("most commonly used"),
        "{}",
        common.body
    );
    let csrf = common.csrf();
    let ok = b
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "temporary-pass"),
                ("new", "brand-new-pass"),
                ("confirm", "brand-new-pass"),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("Your password has been changed"));
    assert_eq!(b.get("/").await.status, 200);
    assert_eq!(
        Browser::new(&server)
            .login("admin", "temporary-pass")
            .await
            .status,
        401
    );
    assert_eq!(
        Browser::new(&server)
            .login("admin", "brand-new-pass")
            .await
            .status,
        303
    );
    server.stop().await;
}

#[tokio::test]
async fn next_is_followed_on_site_only() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    let redirect = b.get("/account").await;
    assert_eq!(redirect.location(), Some("/login?next=%2Faccount"));
    let page = b.get("/login?next=/account").await;
    assert_eq!(
        crate::support::hidden(&page.body, "next").as_deref(),
        Some("/account")
    );
    let res = b
        .post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", PW),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(res.location(), Some("/account"));
    let mut evil = Browser::new(&server);
    let page = evil.get("/login").await;
    let res = evil
        .post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("username", "alice"),
                ("password", PW),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(res.location(), Some("/"));
    server.stop().await;
}

#[tokio::test]
async fn portal_works_on_postgresql_too() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    groups::add(&server.db, &Actor::system(), "eng", "")
        .await
        .unwrap();
    groups::set_member(&server.db, &Actor::system(), "eng", "alice", true)
        .await
        .unwrap();
    app(&server, "wiki", AppChanges::default()).await;
    apps::set_binding(&server.db, &Actor::system(), "wiki", "eng", true)
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    assert_eq!(b.login("alice", "wrong-one").await.status, 401);
    assert_eq!(b.login("alice", PW).await.status, 303);
    assert_eq!(tile_slugs(&b.get("/").await), vec!["wiki"]);
    let config = server.config.clone();
    server.stop().await;
    let server = TestServer::start_with(config).await;
    b.retarget(&server);
    assert_eq!(
        b.get("/").await.status,
        200,
        "session kept in PostgreSQL across a restart"
    );
    server.stop().await;
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_not_while_in_use() {
    let db = TestDb::sqlite();
    let mut config = crate::support::test_config(&db.url);
    config.session_lifetime = std::time::Duration::from_secs(4);
    let server = TestServer::start_with(config).await;
    server.user("ida", "correct horse battery").await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("ida", "correct horse battery").await.status, 303);
    // In use: every 2.5 s for 7.5 s, longer than the 4 s timeout counted from sign-in.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        assert_eq!(
            b.get("/").await.status,
            200,
            "an active session stays alive"
        );
    }
    // Idle for longer than the timeout: signed out.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let page = b.get("/").await;
    assert_eq!(page.status, 303);
    assert!(page.location().unwrap().starts_with("/login"));
    server.stop().await;
}

/// Issue 12, item 7: a user sees where they are signed in and signs out one session or all
/// others; a new password signs out the others; an admin signs a user out everywhere.
#[tokio::test]
async fn users_list_and_end_their_sessions_and_admins_sign_them_out() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", "amber-long-password").await;
    let mut a = Browser::new(&server);
    let mut b = Browser::new(&server);
    let mut c = Browser::new(&server);
    for br in [&mut a, &mut b, &mut c] {
        assert_eq!(br.login("alice", "amber-long-password").await.status, 303);
    }
    let page = a.get("/account").await;
    assert_eq!(page.status, 200);
    let rows = page.body.matches("<tr").count() - 1;
    assert_eq!(rows, 3, "three sessions listed");
    assert_eq!(page.body.matches("this session").count(), 1);
    // End one of the others: its key is on the page, never its id.
    let b_cookie = b.session_cookie().unwrap();
    assert!(
        !page.body.contains(&b_cookie),
        "a session id never leaves its browser"
    );
    let key = page
        .body
        .split("name=\"key\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let ended = a
        .post(
            "/account/sessions/end",
            &[("csrf", &page.csrf()), ("key", &key)],
        )
        .await;
    assert_eq!(ended.location(), Some("/account"));
    let signed_in = |p: &Page| p.status == 200;
    let (bs, cs) = (b.get("/").await, c.get("/").await);
    assert_eq!(
        [signed_in(&bs), signed_in(&cs)]
            .iter()
            .filter(|x| **x)
            .count(),
        1,
        "exactly one of the other two was signed out"
    );
    // "Everywhere else".
    let page = a.get("/account").await;
    a.post("/account/sessions/end-others", &[("csrf", &page.csrf())])
        .await;
    assert_ne!(b.get("/").await.status, 200);
    assert_ne!(c.get("/").await.status, 200);
    assert_eq!(a.get("/").await.status, 200, "this one stays");
    // A new password signs the others out.
    let mut d = Browser::new(&server);
    d.login("alice", "amber-long-password").await;
    let page = a.get("/account").await;
    let changed = a
        .post(
            "/account/password",
            &[
                ("csrf", &page.csrf()),
                ("current", "amber-long-password"),
                ("new", "another-long-phrase-7"),
                ("confirm", "another-long-phrase-7"),
            ],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_ne!(d.get("/").await.status, 200);
    assert_eq!(a.get("/").await.status, 200);
    // An admin's "sign out everywhere" ends this one too.
    let n = sesame::directory::users::sign_out_everywhere(
        &server.db,
        &sesame::directory::Actor::system(),
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_ne!(a.get("/").await.status, 200);
}

#[tokio::test]
async fn the_portal_searches_many_tiles_and_an_empty_one_says_where_to_add_apps() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let sys = Actor::system();
    // An admin with no app yet is told where to add one; a user is told whom to ask.
    let fields = users::UserFields {
        is_admin: Some(true),
        ..users::UserFields::default()
    };
    users::update(&server.db, &sys, "alice", &fields)
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    b.login("alice", PW).await;
    let empty = b.get("/").await;
    assert!(empty.body.contains("id=\"portal-empty\""), "{}", empty.body);
    assert!(empty.body.contains("href=\"/admin/apps\""));
    assert!(
        !empty.body.contains("id=\"tile-q\""),
        "no search for no tiles"
    );

    groups::add(&server.db, &sys, "eng", "").await.unwrap();
    groups::set_member(&server.db, &sys, "eng", "alice", true)
        .await
        .unwrap();
    for (slug, label, desc) in [
        ("wiki", "Wiki", "team pages"),
        ("chat", "Chat", "talk"),
        ("mail", "Mail", "email"),
        ("crm", "CRM", "customers"),
        ("hr", "People", "holidays and payslips"),
        ("ci", "Builds", "continuous integration"),
        ("docs", "Docs", "shared documents"),
    ] {
        let changes = AppChanges {
            label: Some(label.into()),
            description: Some(desc.into()),
            ..AppChanges::default()
        };
        app(&server, slug, changes).await;
        apps::set_binding(&server.db, &sys, slug, "eng", true)
            .await
            .unwrap();
    }
    let all = b.get("/").await;
    assert!(
        all.body.contains("id=\"tile-q\""),
        "seven tiles get a search"
    );
    assert_eq!(tile_slugs(&all).len(), 7);
    // By label or description, whatever the case.
    assert_eq!(tile_slugs(&b.get("/?q=PAYSLIP").await), vec!["hr"]);
    assert_eq!(tile_slugs(&b.get("/?q=docs").await), vec!["docs"]);
    let none = b.get("/?q=nothing-like-it").await;
    assert!(tile_slugs(&none).is_empty());
    assert!(
        none.body.contains("id=\"portal-no-match\""),
        "{}",
        none.body
    );
    server.stop().await;
}
