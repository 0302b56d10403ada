//! The portal in a real browser: headless Chromium over WebDriver (tests/it/webdriver.rs)
//! against the server on plain http://127.0.0.1, whose session cookie is `Secure`.

use sesame::app::SESSION_COOKIE;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::{groups, Actor};

use crate::support::{TestDb, TestServer};
use crate::webdriver::Chrome;

const PW: &str = "correct horse battery";

#[tokio::test]
async fn signs_in_and_sees_only_granted_tiles_across_a_reload() {
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.user("alice", PW).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "eng", "").await.unwrap();
    groups::set_member(&server.db, &sys, "eng", "alice", true)
        .await
        .unwrap();
    for (slug, label) in [("wiki", "Team Wiki"), ("payroll", "Payroll")] {
        let changes = AppChanges {
            label: Some(label.into()),
            ..AppChanges::default()
        };
        apps::add(&server.db, &sys, slug, "generic", &changes)
            .await
            .unwrap();
        crate::support::ready_sso(&server.db, slug).await;
    }
    apps::set_binding(&server.db, &sys, "wiki", "eng", true)
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);

    // Not signed in: the portal sends the browser to the login form.
    chrome.goto(&format!("{base}/")).await;
    chrome
        .find("form[action='/login'] input[name='username']")
        .await;
    assert!(
        chrome
            .current_url()
            .await
            .starts_with(&format!("{base}/login")),
        "{}",
        chrome.current_url().await
    );

    chrome.fill("input[name='username']", "someone else").await;
    chrome.fill("input[name='username']", "alice").await;
    chrome.fill("input[name='password']", PW).await;
    chrome
        .click("form[action='/login'] button[type='submit']")
        .await;

    chrome.find("a.tile[data-slug='wiki']").await;
    assert_eq!(chrome.current_url().await, format!("{base}/"));
    assert_eq!(
        chrome.count("a.tile").await,
        1,
        "{}",
        chrome.page_source().await
    );
    assert_eq!(chrome.count("a.tile[data-slug='payroll']").await, 0);
    assert_eq!(
        chrome
            .attr("a.tile[data-slug='wiki']", "href")
            .await
            .as_deref(),
        Some("/saml2/wiki/launch")
    );
    let tile = chrome.text("a.tile[data-slug='wiki']").await;
    assert!(tile.contains("Team Wiki"), "{tile:?}");
    chrome.screenshot("portal").await;

    // Chromium keeps the Secure cookie on http://127.0.0.1 (a secure context), so the
    // session survives a reload and a fresh navigation.
    let cookie = chrome.cookie(SESSION_COOKIE).await.expect("session cookie");
    assert_eq!(cookie["secure"], true, "{cookie}");
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    chrome.refresh().await;
    chrome.find("a.tile[data-slug='wiki']").await;
    chrome.goto(&format!("{base}/")).await;
    chrome.find("a.tile[data-slug='wiki']").await;
    assert_eq!(chrome.current_url().await, format!("{base}/"));
    assert_eq!(chrome.count("a.tile").await, 1);

    chrome.close().await;
    server.stop().await;
}

#[tokio::test]
async fn downloads_land_in_the_download_dir_without_a_prompt() {
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    chrome
        .goto("data:text/html,<a id=dl download=hello.txt href='data:text/plain,hello%20browser'>get</a>")
        .await;
    chrome.click("#dl").await;
    assert_eq!(chrome.wait_download("hello.txt").await, b"hello browser");
    assert!(chrome.download_dir().join("hello.txt").is_file());
    chrome.close().await;
}
