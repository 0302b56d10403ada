//! Password-reset and invitation links: the same answer for unknown and suspended
//! accounts, single use, expiry, throttling, sessions ended and lockout lifted, and the
//! tokens in no event and stored hashed only.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sesame::directory::users;
use sesame::directory::Actor;

use super::{events, not_in_files, Api, PW};
use crate::smtp_peer::SmtpSink;
use crate::support::{Browser, TestDb, TestServer};

fn error_text(body: &str) -> String {
    body.split("role=\"alert\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .to_string()
}

async fn forgot(b: &mut Browser, who: &str) -> crate::support::Page {
    let page = b.get("/forgot").await;
    assert_eq!(page.status, 200);
    let csrf = page.csrf();
    b.post("/forgot", &[("csrf", &csrf), ("who", who)]).await
}

/// The path of a link (`/reset/<token>`).
fn path_of(link: &str) -> String {
    let at = link
        .find("/reset/")
        .or_else(|| link.find("/invite/"))
        .unwrap();
    link[at..].to_string()
}

async fn set_password(b: &mut Browser, path: &str, pw: &str, again: &str) -> crate::support::Page {
    let form = b.get(path).await;
    if form.status != 200 {
        return form;
    }
    let csrf = form.csrf();
    b.post(
        path,
        &[("csrf", &csrf), ("password", pw), ("confirm", again)],
    )
    .await
}

#[tokio::test]
async fn password_reset_by_mail() {
    let sink = SmtpSink::start(None);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let key = server.config.seal_key().unwrap();
    sink.configure(&server.db, &key, None).await;
    server.user("alice", PW).await;
    server.user("carol", PW).await;
    users::set_active(&server.db, &Actor::system(), "carol", false)
        .await
        .unwrap();

    // Alice is signed in somewhere; and someone locked her account guessing.
    let mut elsewhere = Browser::new(&server);
    assert_eq!(elsewhere.login("alice", PW).await.status, 303);
    let mut guesser = Browser::new(&server);
    for _ in 0..4 {
        guesser.login("alice", "wrong guess").await;
    }
    assert_eq!(guesser.login("alice", PW).await.status, 429, "locked");

    let mut b = Browser::new(&server);
    let login = b.get("/login").await;
    assert!(
        login.body.contains("href=\"/forgot\""),
        "a Forgot password? link"
    );
    let started = std::time::Instant::now();
    let known = forgot(&mut b, "alice").await;
    let known_took = started.elapsed();
    let started = std::time::Instant::now();
    let unknown = forgot(&mut b, "nobody").await;
    let unknown_took = started.elapsed();
    // Both answers take at least the floor, so the time does not tell them apart.
    assert!(
        known_took >= sesame::auth::reset::MIN_ANSWER,
        "{known_took:?}"
    );
    assert!(
        unknown_took >= sesame::auth::reset::MIN_ANSWER,
        "{unknown_took:?}"
    );
    let suspended = forgot(&mut b, "carol").await;
    assert_eq!(known.status, 200);
    assert_eq!(
        known.body, unknown.body,
        "the same answer for an unknown account"
    );
    assert_eq!(known.body, suspended.body, "and for a suspended one");
    assert!(known.body.contains("Check your mail"));
    let mails = sink.wait_for("alice@example.com", 1, 20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sink.messages().len(),
        1,
        "no mail for the unknown or suspended account"
    );
    let link = mails[0].link("reset").expect("a reset link");
    assert!(
        link.starts_with(&format!("http://{}/reset/", server.addr)),
        "{link}"
    );
    let token = link.rsplit('/').next().unwrap().to_string();
    assert_eq!(token.len(), 43);

    // The link's page; a bad password keeps the link usable.
    let path = path_of(&link);
    let weak = set_password(&mut b, &path, "short", "short").await;
    assert_eq!(weak.status, 422, "{}", weak.body);
    let differ = set_password(&mut b, &path, "a-new-password-42", "another-one-4242").await;
    assert_eq!(differ.status, 422);
    assert!(error_text(&differ.body).contains("differ"));
    let done = set_password(&mut b, &path, "a-new-password-42", "a-new-password-42").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), Some("/login?password_set=1"));

    // The other session ended; the lockout is lifted; the new password works, the old not.
    let account = elsewhere.get("/account").await;
    assert_eq!(account.status, 303, "signed out elsewhere");
    let mut fresh = Browser::new(&server);
    assert_eq!(fresh.login("alice", PW).await.status, 401);
    let mut fresh = Browser::new(&server);
    assert_eq!(fresh.login("alice", "a-new-password-42").await.status, 303);

    // Once only.
    assert_eq!(b.get(&path).await.status, 410);
    let again = set_password(&mut b, &path, "yet-another-pass-43", "yet-another-pass-43").await;
    assert_eq!(again.status, 410);

    // By e-mail address too; an expired link fails.
    let by_mail = forgot(&mut b, "ALICE@example.com").await;
    assert_eq!(by_mail.body, known.body);
    let mails = sink.wait_for("alice@example.com", 2, 20).await;
    let second = path_of(&mails[1].link("reset").unwrap());
    {
        let mut conn = server.db.write().await.unwrap();
        sqlx::query("UPDATE user_tokens SET expires_at = 1")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    assert_eq!(b.get(&second).await.status, 410, "expired");

    // The tokens are stored hashed and are in no event.
    let all = format!("{:?}", events(&server.db).await);
    assert!(!all.contains(&token));
    assert!(all.contains("password_reset_sent") && all.contains("password_reset_used"));
    server.stop().await;
    not_in_files(&db, &token);
}

#[tokio::test]
async fn reset_requests_are_throttled_per_account() {
    let sink = SmtpSink::start(None);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let key = server.config.seal_key().unwrap();
    sink.configure(&server.db, &key, None).await;
    server.user("bob", PW).await;
    let mut b = Browser::new(&server);
    for i in 0..sesame::auth::reset::PER_ACCOUNT {
        assert_eq!(forgot(&mut b, "bob").await.status, 200, "request {i}");
    }
    let over = forgot(&mut b, "bob").await;
    assert_eq!(over.status, 429, "{}", over.body);
    // Unknown names are throttled alike (a 429 tells nothing about the account).
    for _ in 0..sesame::auth::reset::PER_ACCOUNT {
        forgot(&mut b, "ghost").await;
    }
    assert_eq!(forgot(&mut b, "ghost").await.status, 429);
    // Per client address: the 20th request from it, whatever the names, is the last.
    let mut answered = 2 * (sesame::auth::reset::PER_ACCOUNT + 1);
    while answered < sesame::auth::reset::PER_ADDRESS {
        let page = forgot(&mut b, &format!("someone{answered}")).await;
        assert_eq!(page.status, 200, "request {answered} from the address");
        answered += 1;
    }
    assert_eq!(
        forgot(&mut b, "someone-else").await.status,
        429,
        "per address"
    );
    sink.wait_for("bob@example.com", 3, 20).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.to("bob@example.com").len(), 3);
    let all = events(&server.db).await;
    assert!(all.iter().any(|(n, _)| n == "password_reset_throttled"));
    server.stop().await;
}

#[tokio::test]
async fn an_invited_user_sets_a_password_through_the_link_and_signs_in() {
    let sink = SmtpSink::start(None);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let api = Api::new(&server).await;
    // Without SMTP the invitation is refused and nobody is created.
    let body = json!({ "username": "dave", "email": "dave@example.com", "invite": true });
    let (s, v) = api
        .call(Method::POST, "/api/v1/users", Some(body.clone()))
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = api.call(Method::GET, "/api/v1/users/dave", None).await;
    assert_eq!(s, 404);
    // No mail can be sent yet: the sign-in page offers no "Forgot password?".
    let mut b = Browser::new(&server);
    assert!(!b.get("/login").await.body.contains("/forgot"));
    let key = server.config.seal_key().unwrap();
    sink.configure(&server.db, &key, None).await;
    let (s, v) = api.call(Method::POST, "/api/v1/users", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let first = sink.wait_for("dave@example.com", 1, 20).await[0]
        .link("invite")
        .expect("an invitation link");
    // Sent again: a new link, and the first one stops working.
    let (s, v) = api
        .call(Method::POST, "/api/v1/users/dave/invite", None)
        .await;
    assert_eq!(s, 200, "{v}");
    let second = sink.wait_for("dave@example.com", 2, 20).await[1]
        .link("invite")
        .unwrap();
    assert_ne!(first, second);
    let mut b = Browser::new(&server);
    assert_eq!(b.get(&path_of(&first)).await.status, 410);
    let done = set_password(
        &mut b,
        &path_of(&second),
        "a-sunny-meadow-4812",
        "a-sunny-meadow-4812",
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.login("dave", "a-sunny-meadow-4812").await.status, 303);
    assert_eq!(b.get(&path_of(&second)).await.status, 410, "used");
    let all = events(&server.db).await;
    assert!(all.iter().any(|(n, _)| n == "invitation_accepted"));
    assert!(all.iter().any(|(n, _)| n == "user_invite_sent"));
    server.stop().await;
}
