//! Issue 12: passkeys in the real headless Chromium, with the WebDriver virtual authenticator
//! (an internal CTAP2 authenticator with resident keys and user verification). A user adds a
//! passkey on the account page, signs in with it as the second step after the password and
//! with no password at all, and removes it; an app that requires MFA is reached from a real
//! pysaml2 SP with the passkey, and the assertion's `AuthnContextClassRef` says so.
//!
//! WebAuthn refuses an IP address as relying party, so these servers run with
//! `base_url = http://localhost:<port>/` (a secure context, like 127.0.0.1).

use reqwest::Method;
use serde_json::{json, Value};
use sesame::auth::mfa;
use sesame::directory::users;
use sesame::saml::context::REFEDS_MFA;
use sesame::saml::settings::SsoChanges;
use sesame::store::events::{self, EventFilter};

use crate::sp::{World, PASSWORD};
use crate::support::{test_config, TestDb};
use crate::webdriver::Chrome;

/// A configuration whose `base_url` is `localhost` on the port the server binds.
fn on_localhost(db: &TestDb) -> sesame::config::Config {
    let mut config = test_config(&db.url);
    config.base_url = url::Url::parse("http://localhost:0/").unwrap();
    config
}

async fn add_authenticator(chrome: &Chrome) -> String {
    let made = chrome
        .cmd(
            Method::POST,
            "/webauthn/authenticator",
            Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
                "automaticPresenceSimulation": true,
            })),
        )
        .await
        .unwrap_or_else(|e| panic!("virtual authenticator: {e:?}"));
    made.as_str().expect("authenticator id").to_string()
}

async fn credentials(chrome: &Chrome, authenticator: &str) -> Vec<Value> {
    let v = chrome
        .cmd(
            Method::GET,
            &format!("/webauthn/authenticator/{authenticator}/credentials"),
            None,
        )
        .await
        .expect("credentials");
    v.as_array().cloned().unwrap_or_default()
}

async fn sign_out(chrome: &Chrome) {
    chrome
        .cmd(Method::DELETE, "/cookie", None)
        .await
        .expect("delete cookies");
}

async fn password_sign_in(chrome: &Chrome, base: &str, user: &str) {
    chrome.goto(&format!("{base}/login")).await;
    chrome.fill("input[name='username']", user).await;
    chrome.fill("input[name='password']", PASSWORD).await;
    chrome
        .click_and_load("form[action='/login'] button[type='submit']")
        .await;
}

#[tokio::test]
async fn a_passkey_is_added_used_as_second_step_and_passwordless_and_removed() {
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    let db = TestDb::sqlite();
    let config = on_localhost(&db);
    let w = World::with(db, config).await;
    w.set(SsoChanges {
        require_mfa: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let base = format!("http://localhost:{}", w.server.addr.port());
    let authenticator = add_authenticator(&chrome).await;

    // Add a passkey from the account page: recovery codes come with the first factor.
    password_sign_in(&chrome, &base, "alice").await;
    chrome.goto(&format!("{base}/account/mfa")).await;
    chrome.fill("#passkey-name", "work laptop").await;
    chrome.click("#passkey-register").await;
    chrome.find("#recovery-codes").await;
    assert_eq!(credentials(&chrome, &authenticator).await.len(), 1);
    let alice = users::get(&w.server.db, "alice").await.unwrap();
    let factors = mfa::factors(&w.server.db, alice.id).await.unwrap();
    assert_eq!((factors.passkeys, factors.recovery_codes_left), (1, 10));
    chrome.goto(&format!("{base}/account/mfa")).await;
    let listed = chrome.text("#passkeys").await;
    assert!(listed.contains("never"), "{listed}");

    // The second step after the password.
    sign_out(&chrome).await;
    password_sign_in(&chrome, &base, "alice").await;
    assert!(chrome.current_url().await.ends_with("/login/mfa"));
    chrome.click("#passkey-signin").await;
    chrome.find("a[href='/account']").await;
    assert_eq!(chrome.current_url().await, format!("{base}/"));

    // No password at all: the discoverable passkey names its user.
    sign_out(&chrome).await;
    chrome.goto(&format!("{base}/login")).await;
    chrome.click("#passkey-signin").await;
    chrome.find("a[href='/account']").await;
    assert_eq!(chrome.current_url().await, format!("{base}/"));
    assert!(chrome.page_source().await.contains("alice"));

    // SP-initiated SSO to the app that requires MFA, signing in with the passkey only: the
    // pysaml2 SP accepts the assertion, whose context is the REFEDS MFA profile.
    sign_out(&chrome).await;
    let instruction = w.sp.login(&[("binding", "redirect")]).await;
    chrome
        .goto(instruction["url"].as_str().expect("redirect URL"))
        .await;
    chrome.click("#passkey-signin").await;
    let verdict = loop_for_verdict(&chrome).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["authn_context"], REFEDS_MFA, "{verdict}");

    // Remove it: gone from the account page and refused at sign-in.
    chrome.goto(&format!("{base}/account/mfa")).await;
    chrome.click_and_load("#passkeys button.danger").await;
    assert_eq!(chrome.count("#passkeys").await, 0);
    assert_eq!(
        mfa::factors(&w.server.db, alice.id).await.unwrap().passkeys,
        0
    );
    sign_out(&chrome).await;
    chrome.goto(&format!("{base}/login")).await;
    chrome.click("#passkey-signin").await;
    let shown = chrome.text("[data-passkey-error]:not([hidden])").await;
    assert!(shown.contains("did not work"), "{shown}");
    assert!(chrome.current_url().await.ends_with("/login"));

    let mut conn = w.server.db.read().await.unwrap();
    let names: Vec<String> = events::list(
        &mut conn,
        &EventFilter {
            username: Some("alice".into()),
            limit: 200,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.name)
    .collect();
    for expected in ["mfa_enrol", "mfa_success", "mfa_remove"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // The removed passkey's attempt is a failure nobody is named in.
    let failures = events::list(
        &mut conn,
        &EventFilter {
            name: Some("mfa_failure".into()),
            limit: 10,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    assert!(
        failures
            .iter()
            .any(|e| e.username.is_none() && e.detail.contains("unknown passkey")),
        "{failures:?}"
    );
    chrome.close().await;
}

/// The SP's JSON verdict, once the browser has posted the Response to its ACS.
async fn loop_for_verdict(chrome: &Chrome) -> Value {
    for _ in 0..100 {
        let text = chrome.text("body").await;
        if let Ok(v) = serde_json::from_str::<Value>(text.trim()) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no verdict from the SP: {}", chrome.page_source().await);
}
