//! Issue 12: second factors over HTTP. An authenticator app (TOTP) is set up with a code the
//! test computes from the key the page shows; a code is accepted once; wrong codes count
//! toward the lockout; recovery codes work once; an SP's `RequestedAuthnContext` makes a
//! password session step up, or gets `NoAuthnContext`; an app that requires MFA and the
//! policy lead a user through enrolment and on to where they were going. The SP is the real
//! pysaml2 one, and each Response is verified by xmlsec1.

use sesame::auth::mfa;
use sesame::auth::totp;
use sesame::directory::{users, Actor};
use sesame::saml::context::REFEDS_MFA;
use sesame::saml::settings::SsoChanges;
use sesame::store::events::{self, EventFilter};
use sesame::store::Db;

use crate::sp::{html_unescape, xmlsec_verify, PostForm, World, PASSWORD};
use crate::support::{Browser, Page, TestDb, TestServer};

const PW: &str = "mfa-test-password-8r2z";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = body.find(start)? + start.len();
    let j = body[i..].find(end)? + i;
    Some(&body[i..j])
}

/// The raw key behind the base32 text the enrolment page shows.
fn key_of(page: &Page) -> Vec<u8> {
    let b32 = between(&page.body, "id=\"totp-secret\">", "<").expect("the key as text");
    totp_rs::Secret::Encoded(b32.to_string())
        .to_bytes()
        .expect("base32")
}

/// The code for `steps` time steps from now.
fn code(key: &[u8], steps: i64) -> String {
    let t = now() as i64 + steps * totp::STEP_SECS as i64;
    totp::code_at(key, t as u64).unwrap()
}

/// A 6-digit code that is wrong for every step a check accepts now.
fn wrong_code(key: &[u8]) -> String {
    let near: Vec<String> = (-2..=2).map(|s| code(key, s)).collect();
    (0..1000)
        .map(|n| format!("{:06}", 100_000 + n * 7))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Sets up an authenticator on the account page of a signed-in browser: a wrong first code
/// is refused (the same key stays), the right one turns it on and shows ten recovery codes.
async fn enrol(b: &mut Browser, path: &str) -> (Vec<u8>, Vec<String>, Page) {
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code drawn on the server");
    let key = key_of(&page);
    let csrf = page.csrf();
    let next = html_unescape(&crate::support::hidden(&page.body, "next").unwrap_or_default());
    let bad = b
        .post(
            "/account/mfa/confirm",
            &[
                ("csrf", &csrf),
                ("code", &wrong_code(&key)),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(key_of(&bad), key, "the same key is shown again");
    let ok = b
        .post(
            "/account/mfa/confirm",
            &[
                ("csrf", &bad.csrf()),
                ("code", &code(&key, 0)),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let codes: Vec<String> = between(&ok.body, "id=\"recovery-codes\">", "</ul>")
        .expect("recovery codes")
        .split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 19), "{codes:?}");
    (key, codes, ok)
}

/// Where the "Continue" link after enrolment goes.
fn continue_link(page: &Page) -> String {
    let end = page.body.find("\" id=\"mfa-continue\"").expect("a way on");
    let start = page.body[..end].rfind("href=\"").expect("href") + "href=\"".len();
    html_unescape(&page.body[start..end])
}

async fn second_step(b: &mut Browser, code: &str) -> Page {
    second_step_at(b, "/login/mfa", code).await
}

/// The code form at `path` (`/login/mfa?next=...` for a step-up), answered with `code`.
async fn second_step_at(b: &mut Browser, path: &str, code: &str) -> Page {
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let next = html_unescape(&crate::support::hidden(&page.body, "next").unwrap_or_default());
    b.post(
        "/login/mfa",
        &[("csrf", &page.csrf()), ("code", code), ("next", &next)],
    )
    .await
}

async fn event_names(db: &Db, user: &str) -> Vec<String> {
    let mut conn = db.read().await.unwrap();
    let f = EventFilter {
        username: Some(user.into()),
        limit: 200,
        ..EventFilter::default()
    };
    events::list(&mut conn, &f)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[tokio::test]
async fn totp_enrolment_sign_in_replay_lockout_and_recovery_codes() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("alice", PW).await.status, 303);
    let (key, recovery, _) = enrol(&mut b, "/account/mfa").await;

    // Signing in now takes the code after the password; nobody is signed in in between.
    let mut b = Browser::new(&server);
    let after_password = b.login("alice", PW).await;
    assert_eq!(after_password.location(), Some("/login/mfa"));
    assert_eq!(b.get("/").await.location(), Some("/login?next=%2F"));
    // The code of the step used at enrolment is spent: a replay is refused.
    let replay = second_step(&mut b, &code(&key, 0)).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
    let next_step = second_step(&mut b, &code(&key, 1)).await;
    assert_eq!(next_step.status, 303, "{}", next_step.body);
    assert_eq!(next_step.location(), Some("/"));
    assert_eq!(b.get("/").await.status, 200, "signed in");

    // Wrong codes count toward the same lockout as passwords (3 in the test config), and a
    // right password does not reset the count.
    let mut b = Browser::new(&server);
    b.login("alice", PW).await;
    assert_eq!(second_step(&mut b, &wrong_code(&key)).await.status, 401);
    let mut b = Browser::new(&server);
    b.login("alice", PW).await;
    assert_eq!(second_step(&mut b, &wrong_code(&key)).await.status, 401);
    let locked = second_step(&mut b, &wrong_code(&key)).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    users::unlock(&server.db, &Actor::system(), "alice")
        .await
        .unwrap();

    // A recovery code works once, in any case and with or without dashes.
    let mut b = Browser::new(&server);
    b.login("alice", PW).await;
    let used = second_step(&mut b, &recovery[0].to_uppercase()).await;
    assert_eq!(used.status, 303, "{}", used.body);
    let mut b = Browser::new(&server);
    b.login("alice", PW).await;
    assert_eq!(second_step(&mut b, &recovery[0]).await.status, 401);
    let factors = mfa::factors(&server.db, 1).await.unwrap();
    assert!(factors.totp);

    let names = event_names(&server.db, "alice").await;
    for expected in [
        "mfa_enrol",
        "mfa_success",
        "mfa_failure",
        "mfa_recovery_used",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // No code or key in any event.
    let mut conn = server.db.read().await.unwrap();
    let all = events::list(
        &mut conn,
        &EventFilter {
            limit: 500,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(&recovery[0]) && !text.contains(&recovery[1]));
    assert!(!text.contains(&totp::base32(&key)));
}

/// A password session for `user`, then an authenticator set up outside the browser (so the
/// session itself stays password-only).
async fn password_session_with_totp(w: &World, user: &str) -> (Browser, Vec<u8>) {
    let mut b = w.browser();
    assert_eq!(b.login(user, PASSWORD).await.status, 303);
    let u = users::get(&w.server.db, user).await.unwrap();
    let key = w.server.config.seal_key().unwrap();
    let e = mfa::start(&w.server.db, &key, &u, "test").await.unwrap();
    let raw = totp_rs::Secret::Encoded(e.secret).to_bytes().unwrap();
    let codes = mfa::confirm(&w.server.db, &key, &u, &code(&raw, 0))
        .await
        .unwrap();
    assert!(codes.is_some());
    (b, raw)
}

#[tokio::test]
async fn requested_authn_context_steps_up_or_answers_no_authn_context() {
    let w = World::new().await;
    let actor = Actor::system();
    sesame::directory::groups::set_member(&w.server.db, &actor, "staff", "bob", true)
        .await
        .unwrap();
    let (mut b, key) = password_session_with_totp(&w, "alice").await;

    // A password session and an SP that asks for at least MFA: the second factor is asked
    // for, then the parked request is answered with the class the SP named.
    let ms = "http://schemas.microsoft.com/claims/multipleauthn";
    let instruction =
        w.sp.login(&[
            ("binding", "redirect"),
            ("context", ms),
            ("comparison", "minimum"),
        ])
        .await;
    let first = w.send(&mut b, &instruction).await;
    let to = first.location().expect("a redirect").to_string();
    assert!(
        to.starts_with("/login/mfa?next=%2Fsaml2%2Fdemo%2Fcontinue"),
        "{to}"
    );
    let stepped = second_step_at(&mut b, &to, &code(&key, 1)).await;
    assert_eq!(stepped.status, 303, "{}", stepped.body);
    let page = b.get(stepped.location().unwrap()).await;
    let form = PostForm::from_page(&page).unwrap_or_else(|| panic!("{}", page.body));
    xmlsec_verify(&form.xml(), &w.cert);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    // `minimum`: sesame states its own MFA class.
    assert_eq!(verdict["authn_context"], REFEDS_MFA);

    // `exact` with Entra's class: named back.
    let (verdict, _) = w
        .sso(&mut b, &[("binding", "post"), ("context", ms)], "alice")
        .await;
    assert_eq!(verdict["authn_context"], ms, "{verdict}");

    // Without a request, the session's own class.
    let (verdict, _) = w.sso(&mut b, &[("binding", "redirect")], "alice").await;
    assert_eq!(verdict["authn_context"], REFEDS_MFA, "{verdict}");

    // bob has no second factor and the app does not require one: NoAuthnContext, signed, to
    // the registered ACS.
    let mut bob = w.browser();
    assert_eq!(bob.login("bob", PASSWORD).await.status, 303);
    for context in [
        REFEDS_MFA,
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos",
    ] {
        let instruction =
            w.sp.login(&[("binding", "redirect"), ("context", context)])
                .await;
        let page = w.send(&mut bob, &instruction).await;
        let form = PostForm::from_page(&page).unwrap_or_else(|| panic!("{}", page.body));
        assert!(
            form.xml()
                .contains("urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"),
            "{}",
            form.xml()
        );
        xmlsec_verify(&form.xml(), &w.cert);
        let verdict = w.sp.post_acs(&form).await;
        assert_eq!(verdict["ok"], false);
        assert!(
            verdict["status_error"]
                .as_str()
                .is_some_and(|s| s.contains("NoAuthnContext")),
            "{verdict}"
        );
    }
    // A password-class request is satisfied by bob's password session.
    let pwd = sesame::saml::context::PASSWORD_PROTECTED;
    let (verdict, _) = w
        .sso(
            &mut bob,
            &[("binding", "redirect"), ("context", pwd)],
            "bob",
        )
        .await;
    assert_eq!(verdict["authn_context"], pwd, "{verdict}");
}

#[tokio::test]
async fn an_app_that_requires_mfa_leads_through_enrolment_and_on_to_the_sp() {
    let w = World::new().await;
    w.set(SsoChanges {
        require_mfa: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let mut b = w.browser();
    let instruction = w.sp.login(&[("binding", "redirect")]).await;
    let first = w.send(&mut b, &instruction).await;
    // Sign in (password), then the app's requirement sends alice to set up a factor.
    let page = w.follow(&mut b, first, "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Set up an authenticator app"),
        "{}",
        between(&page.body, "<main", "</main>").unwrap_or(&page.body)
    );
    let next = html_unescape(&crate::support::hidden(&page.body, "next").expect("next"));
    assert!(next.starts_with("/saml2/demo/continue?h="), "{next}");
    let at: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &next)
        .finish();
    let (_, _, done) = enrol(&mut b, &format!("/account/mfa?{at}")).await;
    let next = continue_link(&done);
    assert!(next.starts_with("/saml2/demo/continue?h="), "{next}");
    let page = b.get(&next).await;
    let form = PostForm::from_page(&page).unwrap_or_else(|| panic!("{}", page.body));
    xmlsec_verify(&form.xml(), &w.cert);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["authn_context"], REFEDS_MFA);

    // A tile launch for a password-only session of a user with a factor asks for the code.
    let (mut b2, _) = password_session_with_totp(&w, "bob").await;
    sesame::directory::groups::set_member(&w.server.db, &Actor::system(), "staff", "bob", true)
        .await
        .unwrap();
    let launch = b2.get("/saml2/demo/launch").await;
    assert_eq!(
        launch.location(),
        Some("/login/mfa?next=%2Fsaml2%2Fdemo%2Flaunch")
    );
}

#[tokio::test]
async fn the_policy_makes_an_admin_enrol_before_the_console_and_admins_reset_factors() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("root", PW).await;
    let admin = sesame::directory::users::UserFields {
        is_admin: Some(true),
        ..Default::default()
    };
    users::update(&server.db, &Actor::system(), "root", &admin)
        .await
        .unwrap();
    server.user("alice", PW).await;
    mfa::set_policy(&server.db, &Actor::system(), mfa::Policy::Admins)
        .await
        .unwrap();
    // alice is no admin: the portal opens.
    let mut a = Browser::new(&server);
    a.login("alice", PW).await;
    assert_eq!(a.get("/").await.status, 200);
    // root must enrol first, and is then taken to the console.
    let mut b = Browser::new(&server);
    b.login("root", PW).await;
    let to = b.get("/admin/users").await.location().unwrap().to_string();
    assert_eq!(to, "/account/mfa?next=%2Fadmin%2Fusers");
    let (_, _, done) = enrol(&mut b, &to).await;
    assert_eq!(continue_link(&done), "/admin/users");
    let console = b.get("/admin/users").await;
    assert_eq!(console.status, 200);
    assert!(console.body.contains("value=\"admins\" selected"));

    // The API: the policy, the factors on the user, and a reset.
    let token = sesame::auth::tokens::create(&server.db, &Actor::system(), "t", "root")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}/api/v1", server.addr);
    let get = |p: &str| http.get(format!("{base}{p}")).bearer_auth(&token).send();
    let policy: serde_json::Value = get("/settings/mfa").await.unwrap().json().await.unwrap();
    assert_eq!(policy["policy"], "admins");
    let root: serde_json::Value = get("/users/root").await.unwrap().json().await.unwrap();
    assert_eq!(root["mfa"]["totp"], true);
    assert_eq!(root["mfa"]["recovery_codes_left"], 10);
    let set = http
        .put(format!("{base}/settings/mfa"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "policy": "everyone" }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(
        mfa::policy(&server.db).await.unwrap(),
        mfa::Policy::Everyone
    );
    let bad = http
        .put(format!("{base}/settings/mfa"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "policy": "sometimes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let reset = http
        .post(format!("{base}/users/root/reset-mfa"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let reset: serde_json::Value = reset.json().await.unwrap();
    assert_eq!(reset["removed"], true);
    assert!(!mfa::factors(&server.db, 1).await.unwrap().totp);
    let names = event_names(&server.db, "root").await;
    assert!(names.iter().any(|n| n == "mfa_reset"), "{names:?}");
    // With "everyone", alice's next page asks her to enrol too.
    assert_eq!(a.get("/").await.location(), Some("/account/mfa?next=%2F"));
}

/// The adversarial review's findings on issue 12: second factors are changed only by a
/// session that proved one recently; parallel guesses cannot beat the lockout; a password
/// change ends a half-finished sign-in; an SP asking for the impossible is told at once.
#[tokio::test]
async fn factor_changes_need_a_recent_second_factor_and_guesses_cannot_race_the_lockout() {
    let w = World::new().await;
    let (mut b, key) = password_session_with_totp(&w, "alice").await;
    // A password-only session of a user with a factor cannot add, renew or remove factors.
    let page = b.get("/account").await;
    let csrf = page.csrf();
    assert_eq!(
        b.get("/account/mfa").await.location(),
        Some("/login/mfa?next=%2Faccount%2Fmfa")
    );
    let renew = b.post("/account/mfa/recovery", &[("csrf", &csrf)]).await;
    assert_eq!(renew.location(), Some("/login/mfa?next=%2Faccount%2Fmfa"));
    let http = reqwest::Client::new();
    let begin = http
        .post(format!("http://{}/account/passkeys/begin", w.server.addr))
        .header(
            "cookie",
            format!("sesame_session={}", b.session_cookie().unwrap()),
        )
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(begin.status(), 403);
    // After a step-up with a code, it can.
    let stepped = second_step_at(&mut b, "/login/mfa?next=%2Faccount%2Fmfa", &code(&key, 1)).await;
    assert_eq!(stepped.location(), Some("/account/mfa"));
    assert_eq!(b.get("/account/mfa").await.status, 200);

    // Twenty wrong codes at once: at most the limit (3) are checked, then the account is
    // locked and even the right code is refused.
    let mut p = w.browser();
    assert_eq!(
        p.login("alice", PASSWORD).await.location(),
        Some("/login/mfa")
    );
    let form = p.get("/login/mfa").await;
    let cookie = p.session_cookie().unwrap();
    let csrf = form.csrf();
    let wrong = wrong_code(&key);
    let sends = (0..20).map(|_| {
        let http = http.clone();
        let url = format!("http://{}/login/mfa", w.server.addr);
        let (cookie, csrf, wrong) = (cookie.clone(), csrf.clone(), wrong.clone());
        async move {
            http.post(url)
                .header("cookie", format!("sesame_session={cookie}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("code", wrong.as_str()),
                    ("next", "/"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_join(sends).await;
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let mut conn = w.server.db.read().await.unwrap();
    let checked = events::list(
        &mut conn,
        &EventFilter {
            username: Some("alice".into()),
            name: Some("mfa_failure".into()),
            limit: 100,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|e| e.detail.contains("bad_code"))
    .count();
    drop(conn);
    assert!(checked <= 3, "{checked} guesses were checked");
    let right = second_step(&mut p, &code(&key, 2)).await;
    assert_eq!(right.status, 429, "{}", right.body);
    users::unlock(&w.server.db, &Actor::system(), "alice")
        .await
        .unwrap();

    // A half-finished sign-in does not survive a password change.
    let mut half = w.browser();
    assert_eq!(
        half.login("alice", PASSWORD).await.location(),
        Some("/login/mfa")
    );
    let pw = sesame::auth::password::Password::new("a-brand-new-phrase-5".into()).unwrap();
    users::set_password(
        &w.server.db,
        &w.server.config.seal_key().unwrap(),
        &Actor::system(),
        "alice",
        &pw,
        false,
    )
    .await
    .unwrap();
    let after = half.get("/login/mfa").await;
    assert_eq!(after.location(), Some("/login"), "{}", after.body);

    // Not signed in, and a class nobody here can give: NoAuthnContext at once, no sign-in.
    let mut anon = w.browser();
    let kerberos = "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos";
    let instruction =
        w.sp.login(&[("binding", "redirect"), ("context", kerberos)])
            .await;
    let page = w.send(&mut anon, &instruction).await;
    let form =
        PostForm::from_page(&page).unwrap_or_else(|| panic!("{}: {}", page.status, page.body));
    assert!(form.xml().contains("status:NoAuthnContext"));
    xmlsec_verify(&form.xml(), &w.cert);
}

/// Runs the futures at once and collects their outputs in order.
async fn futures_join<F: std::future::Future<Output = u16> + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
