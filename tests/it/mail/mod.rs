//! E-mail against a real SMTP server (aiosmtpd, `tests/smtp/sink.py`): the settings and a
//! test mail through the API and the CLI (the SMTP password sealed and never returned),
//! one mail when a SCIM target halts and one when it runs again (never one per failed
//! request), password-reset links (same answer for unknown accounts, single use, expiry,
//! throttling, suspended users, sessions ended, lockout lifted) and invitations; the
//! tokens of the links never in an event or a log. Here: the settings, test mails, the CLI,
//! the digest, the console and PostgreSQL; `notify`: target notifications; `links`: reset
//! and invitation links.

mod links;
mod notify;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;
use sesame::store::Db;

use crate::process;
use crate::smtp_peer::{SmtpSink, FROM};
use crate::support::{Browser, TestDb, TestServer};
const SMTP_PASSWORD: &str = "smtp-relay-secret-9f3k";
const PW: &str = "correct-horse-battery-7";

/// An admin API client with a token of `root`.
struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn new(server: &TestServer) -> Api {
        let pw = sesame::auth::password::Password::new(PW.into()).unwrap();
        let fields = UserFields {
            email: Some("root@example.com".into()),
            is_admin: Some(true),
            ..UserFields::default()
        };
        users::add(&server.db, &Actor::system(), "root", &fields, Some(&pw))
            .await
            .unwrap();
        let token = sesame::auth::tokens::create(&server.db, &Actor::cli(), "ci", "root")
            .await
            .unwrap();
        Api {
            base: format!("http://{}", server.addr),
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.expect("API call");
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

async fn events(db: &Db) -> Vec<(String, String)> {
    let mut conn = db.read().await.unwrap();
    sqlx::query_as("SELECT name, detail FROM events ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// The database files (main and WAL) never hold `secret` in clear.
fn not_in_files(db: &TestDb, secret: &str) {
    let path = db.url.trim_start_matches("sqlite://").to_string();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret:?} in clear in {file}");
        }
    }
}

#[tokio::test]
async fn a_test_mail_arrives_through_the_api_and_the_smtp_password_stays_secret() {
    let sink = SmtpSink::start(Some(&format!("mailer:{SMTP_PASSWORD}")));
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let api = Api::new(&server).await;
    let (s, v) = api.call(Method::GET, "/api/v1/settings/smtp", None).await;
    assert_eq!((s, v["configured"].clone()), (200, json!(false)), "{v}");
    // Not configured: a test mail is refused, nothing queued.
    let (s, v) = api
        .call(
            Method::POST,
            "/api/v1/settings/smtp/test",
            Some(json!({ "to": "ops@example.com" })),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    // Plain SMTP to a host that is not loopback is refused unless allowed.
    let (s, v) = api
        .call(
            Method::PUT,
            "/api/v1/settings/smtp",
            Some(
                json!({ "host": "smtp.example.com", "port": 25, "security": "none", "from": FROM }),
            ),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (400, json!("invalid")),
        "{v}"
    );
    let body = json!({
        "host": "127.0.0.1", "port": sink.port, "security": "none",
        "username": "mailer", "password": SMTP_PASSWORD, "from": FROM,
    });
    let (s, v) = api
        .call(Method::PUT, "/api/v1/settings/smtp", Some(body))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["password_set"], true);
    assert!(!v.to_string().contains(SMTP_PASSWORD), "{v}");
    let (_, shown) = api.call(Method::GET, "/api/v1/settings/smtp", None).await;
    assert_eq!(shown["configured"], true);
    assert_eq!(shown["username"], "mailer");
    assert!(!shown.to_string().contains(SMTP_PASSWORD), "{shown}");
    assert!(shown.get("password").is_none(), "{shown}");

    let (s, v) = api
        .call(
            Method::POST,
            "/api/v1/settings/smtp/test",
            Some(json!({ "to": "ops@example.com" })),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let got = sink.wait_for("ops@example.com", 1, 20).await;
    assert_eq!(got[0].subject(), "sesame: test mail");
    assert!(
        got[0].data.contains(&format!("From: {FROM}")),
        "{}",
        got[0].data
    );
    // The sending is an event, with the recipient masked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = events(&server.db).await;
    let sent = all
        .iter()
        .find(|(n, _)| n == "mail_sent")
        .expect("mail_sent event");
    assert!(sent.1.contains("o…@example.com"), "{}", sent.1);
    assert!(all.iter().any(|(n, _)| n == "smtp_settings_update"));
    assert!(!format!("{all:?}").contains(SMTP_PASSWORD));
    server.stop().await;
    not_in_files(&db, SMTP_PASSWORD);
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_an_event_not_an_error() {
    let sink = SmtpSink::start(None);
    let port = sink.port;
    drop(sink);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let key = server.config.seal_key().unwrap();
    let c = sesame::mail::SmtpChanges {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        security: Some("none".into()),
        from: Some(FROM.into()),
        ..Default::default()
    };
    sesame::mail::settings::update(&server.db, &key, &Actor::system(), &c)
        .await
        .unwrap();
    let api = Api::new(&server).await;
    let (s, _) = api
        .call(
            Method::POST,
            "/api/v1/settings/smtp/test",
            Some(json!({ "to": "ops@example.com" })),
        )
        .await;
    assert_eq!(s, 202, "queued at once, whatever the SMTP server does");
    for _ in 0..100 {
        if events(&server.db)
            .await
            .iter()
            .any(|(n, _)| n == "mail_failed")
        {
            let (s, _) = api.call(Method::GET, "/api/v1/settings/smtp", None).await;
            assert_eq!(s, 200, "the server still answers");
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail_failed event");
}

/// The CLI (`smtp set|show|test`, `user add --invite`, `user invite`) against a real
/// `sesame serve` logging at trace level: the SMTP password and the invitation tokens never
/// reach the output or the server's log.
#[tokio::test]
async fn cli_smtp_and_invitations_without_leaking_secrets() {
    let sink = SmtpSink::start(Some(&format!("mailer:{SMTP_PASSWORD}")));
    let mut server = process::Server::new(&[("SESAME_LOG", "trace")]);
    server.start().await;
    let cli = server.cli();
    let port = sink.port.to_string();
    let out = cli.ok_stdin(
        &[
            "smtp",
            "set",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--security",
            "none",
            "--username",
            "mailer",
            "--password-stdin",
            "--from",
            FROM,
        ],
        &format!("{SMTP_PASSWORD}\n"),
    );
    assert!(
        out.contains("set (write-only)") && !out.contains(SMTP_PASSWORD),
        "{out}"
    );
    let shown = cli.json(&["smtp", "show", "--json"]);
    assert_eq!(shown["password_set"], true);
    assert!(!shown.to_string().contains(SMTP_PASSWORD));
    let out = cli.ok(&["smtp", "test", "--to", "ops@example.com"]);
    assert!(out.contains("accepted"), "{out}");
    assert_eq!(sink.to("ops@example.com").len(), 1);

    cli.ok(&[
        "user",
        "add",
        "erin",
        "--email",
        "erin@example.com",
        "--invite",
    ]);
    cli.ok(&["user", "invite", "erin"]);
    let mails = sink.wait_for("erin@example.com", 2, 30).await;
    let mut links: Vec<String> = mails
        .iter()
        .map(|m| m.link("invite").expect("a link"))
        .collect();

    // "Forgot password?" over HTTP, then the link used: the reset token is not logged either.
    cli.ok_stdin(
        &[
            "user",
            "add",
            "frank",
            "--email",
            "frank@example.com",
            "--password-stdin",
        ],
        &format!("{PW}\n"),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http
        .get(format!("{}/forgot", server.base()))
        .send()
        .await
        .unwrap();
    let cookie: String = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = crate::support::hidden(&form.text().await.unwrap(), "csrf").expect("csrf");
    let answer = http
        .post(format!("{}/forgot", server.base()))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("who", "frank")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let reset = sink.wait_for("frank@example.com", 1, 30).await[0]
        .link("reset")
        .expect("a reset link");
    let page = http
        .get(&reset)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csrf = crate::support::hidden(&page.text().await.unwrap(), "csrf").expect("csrf");
    let new_pw = "a-quiet-harbour-5531";
    let set = http
        .post(&reset)
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", new_pw),
            ("confirm", new_pw),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 303);
    links.push(reset);

    let log = std::fs::read_to_string(server.log_file()).unwrap_or_default();
    assert!(log.contains("TRACE"), "the server logs at trace level");
    assert!(
        !log.contains(SMTP_PASSWORD),
        "the SMTP password is never logged"
    );
    for link in &links {
        let token = link.rsplit('/').next().unwrap();
        assert!(
            !log.contains(token),
            "a link's token is never logged: {link}"
        );
    }
    let events = cli.ok(&["events", "--limit", "200"]);
    assert!(!events.contains(SMTP_PASSWORD));

    // The app's notification address from the CLI.
    cli.ok(&["app", "add", "wiki", "--template", "generic"]);
    cli.ok_stdin(
        &[
            "scim",
            "set",
            "wiki",
            "--url",
            "http://127.0.0.1:9/scim",
            "--token-stdin",
            "--notify-email",
            "ops@example.com",
        ],
        "a-scim-token\n",
    );
    let shown = cli.json(&["scim", "show", "wiki", "--json"]);
    assert_eq!(shown["notify_email"], "ops@example.com", "{shown}");
    let out = cli.run(&["scim", "set", "wiki", "--notify-email", "nope"], None);
    assert!(!out.status.success(), "a bad address is refused");
}

#[tokio::test]
async fn the_daily_digest_lists_failures_once_a_day_and_only_when_there_are_some() {
    use sesame::store::events::{self as ev, NewEvent};
    let sink = SmtpSink::start(None);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let key = server.config.seal_key().unwrap();
    sink.configure(&server.db, &key, None).await;
    let digest = sesame::mail::SmtpChanges {
        digest_to: Some("digest@example.com".into()),
        ..Default::default()
    };
    sesame::mail::settings::update(&server.db, &key, &Actor::system(), &digest)
        .await
        .unwrap();
    // The digest runs as if a day had passed since just before these failures.
    let day = sesame::mail::digest::EVERY_MS;
    let first = sesame::store::now_ms() - 2000 + day;
    {
        let mut conn = server.db.write().await.unwrap();
        for (slug, n) in [("crm", 2), ("wiki", 1)] {
            for i in 0..n {
                let e = NewEvent {
                    name: "scim_user_update",
                    actor: "system:scim".into(),
                    app_slug: Some(slug.into()),
                    outcome: "failure",
                    detail: json!({ "error": format!("HTTP 500 number {i}") }),
                    ..NewEvent::default()
                };
                ev::insert(&mut conn, &e).await.unwrap();
            }
        }
    }
    assert!(sesame::mail::digest::run(&server.db, first).await.unwrap());
    assert!(
        !sesame::mail::digest::run(&server.db, first + 1000)
            .await
            .unwrap(),
        "once a day"
    );
    let m = &sink.wait_for("digest@example.com", 1, 20).await[0];
    assert!(m.subject().contains("3 failed"), "{}", m.subject());
    assert!(
        m.data.contains("crm: 2 failed") && m.data.contains("HTTP 500 number 1"),
        "{}",
        m.data
    );
    assert!(m.data.contains("wiki: 1 failed"), "{}", m.data);
    // The next day had no failure: no mail.
    assert!(!sesame::mail::digest::run(&server.db, first + day)
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.to("digest@example.com").len(), 1);
    server.stop().await;
}

/// The outbox, the link tokens, the notification address and the digest's queries on
/// PostgreSQL (the rest of this file runs them on SQLite).
#[tokio::test]
async fn mail_storage_works_on_postgresql() {
    use sesame::store::{mail as outbox, user_tokens};
    let Some(testdb) = TestDb::postgres().await else {
        return;
    };
    let db = testdb.connect().await;
    let mut conn = db.write().await.unwrap();
    let id = outbox::push(&mut conn, "ops@example.com", "test", "{}")
        .await
        .unwrap();
    assert_eq!(outbox::pending(&mut conn).await.unwrap(), 1);
    let taken = outbox::take_due(&mut conn, 60_000)
        .await
        .unwrap()
        .expect("due");
    assert_eq!((taken.id, taken.attempts), (id, 1));
    assert!(
        outbox::take_due(&mut conn, 60_000).await.unwrap().is_none(),
        "leased"
    );
    outbox::retry_at(&mut conn, id, 0, "try again")
        .await
        .unwrap();
    outbox::done(&mut conn, id).await.unwrap();
    assert_eq!(outbox::pending(&mut conn).await.unwrap(), 0);
    drop(conn);

    let fields = UserFields {
        email: Some("pat@example.com".into()),
        ..UserFields::default()
    };
    let user = users::add(&db, &Actor::system(), "pat", &fields, None)
        .await
        .unwrap();
    let mut conn = db.write().await.unwrap();
    let far = sesame::store::now_ms() + 60_000;
    user_tokens::insert(&mut conn, "h1", user.id, "reset", far)
        .await
        .unwrap();
    assert_eq!(
        user_tokens::find(&mut conn, "h1", "reset").await.unwrap(),
        Some(user.id)
    );
    assert_eq!(
        user_tokens::find(&mut conn, "h1", "invite").await.unwrap(),
        None
    );
    assert_eq!(
        user_tokens::spend(&mut conn, "h1", "reset").await.unwrap(),
        Some(user.id)
    );
    assert_eq!(
        user_tokens::spend(&mut conn, "h1", "reset").await.unwrap(),
        None,
        "once"
    );
    let app = apps::add(
        &db,
        &Actor::system(),
        "crm",
        "generic",
        &AppChanges::default(),
    )
    .await
    .unwrap();
    outbox::set_notify_address(&mut conn, app.id, "ops@example.com")
        .await
        .unwrap();
    outbox::set_notify_address(&mut conn, app.id, "oncall@example.com")
        .await
        .unwrap();
    assert_eq!(
        outbox::notify_address(&mut conn, app.id)
            .await
            .unwrap()
            .as_deref(),
        Some("oncall@example.com")
    );
    drop(conn);
    let dir = tempfile::tempdir().unwrap();
    let key = sesame::scim::secret::SealKey::load(&Default::default(), dir.path()).unwrap();
    let c = sesame::mail::SmtpChanges {
        host: Some("127.0.0.1".into()),
        port: Some(2525),
        security: Some("none".into()),
        from: Some(FROM.into()),
        digest_to: Some("digest@example.com".into()),
        ..Default::default()
    };
    sesame::mail::settings::update(&db, &key, &Actor::system(), &c)
        .await
        .unwrap();
    // No failures: nothing queued, but the digest counts as done for the day.
    let now = sesame::store::now_ms();
    assert!(!sesame::mail::digest::run(&db, now).await.unwrap());
}

/// The console: Settings › E-mail (the password never shown back), "Send test mail", and a
/// new user invited instead of given a password, then invited again from their page.
#[tokio::test]
async fn the_console_sets_smtp_sends_a_test_mail_and_invites() {
    let sink = SmtpSink::start(Some(&format!("mailer:{SMTP_PASSWORD}")));
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let _api = Api::new(&server).await; // the admin `root`
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", PW).await.status, 303);
    let page = b.get("/admin/settings/email").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Not configured"));
    let csrf = page.csrf();
    let port = sink.port.to_string();
    let saved = b
        .post(
            "/admin/settings/email",
            &[
                ("csrf", &csrf),
                ("host", "127.0.0.1"),
                ("port", &port),
                ("security", "none"),
                ("username", "mailer"),
                ("password", SMTP_PASSWORD),
                ("from", FROM),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page = b.get("/admin/settings/email").await;
    assert!(
        page.body.contains("E-mail settings saved."),
        "{}",
        page.body
    );
    assert!(page.body.contains("A password is set"));
    assert!(!page.body.contains(SMTP_PASSWORD));
    // Saving again with the password field empty keeps the password.
    b.post(
        "/admin/settings/email",
        &[
            ("csrf", &csrf),
            ("host", "127.0.0.1"),
            ("port", &port),
            ("security", "none"),
            ("username", "mailer"),
            ("password", ""),
            ("from", FROM),
        ],
    )
    .await;
    let sent = b
        .post(
            "/admin/settings/email/test",
            &[("csrf", &csrf), ("to", "ops@example.com")],
        )
        .await;
    assert_eq!(sent.status, 303);
    assert_eq!(
        sink.wait_for("ops@example.com", 1, 20).await[0].subject(),
        "sesame: test mail"
    );

    let added = b
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "fay"),
                ("email", "fay@example.com"),
                ("password", ""),
                ("invite", "on"),
            ],
        )
        .await;
    assert_eq!(added.location(), Some("/admin/users/fay"), "{}", added.body);
    let user_page = b.get("/admin/users/fay").await;
    assert!(
        user_page.body.contains("invitation is on its way"),
        "{}",
        user_page.body
    );
    assert!(user_page.body.contains("id=\"send-invitation\""));
    b.post("/admin/users/fay/invite", &[("csrf", &csrf)]).await;
    let mails = sink.wait_for("fay@example.com", 2, 20).await;
    assert!(mails.iter().all(|m| m.link("invite").is_some()));

    // The app's notification address on its Identity Management tab.
    sesame::directory::apps::add(
        &server.db,
        &Actor::system(),
        "wiki",
        "generic",
        &Default::default(),
    )
    .await
    .unwrap();
    let idm = [
        ("csrf", csrf.as_str()),
        ("connector", "generic"),
        ("url", "http://127.0.0.1:9/scim"),
        ("token", "a-scim-token"),
        ("deprovision", "deactivate"),
        ("deletion_threshold", "0"),
        ("notify_email", "ops@example.com"),
    ];
    assert_eq!(b.post("/admin/apps/wiki/idm", &idm).await.status, 303);
    let tab = b.get("/admin/apps/wiki/idm").await;
    assert!(
        tab.body.contains(
            "id=\"notify_email\" name=\"notify_email\" type=\"email\" value=\"ops@example.com\""
        ),
        "{}",
        tab.body
    );
    server.stop().await;
}
