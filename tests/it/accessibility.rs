//! An axe-core run (WCAG 2.0/2.1 A and AA rules) in real Chromium on every console and
//! portal page, at a desktop width (1366 px) and phone widths (390 and 320 px): no serious or
//! critical violation, and at phone width no page scrolls sideways (WCAG 1.4.10); the same in
//! dark mode (`prefers-color-scheme`). Each page is also saved as a screenshot at each width in
//! `target/artifacts/screenshots/`.

use serde_json::json;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};

use crate::support::{ready_sso, TestDb, TestServer};
use crate::webdriver::Chrome;

const AXE: &str = include_str!("../vendor/axe.min.js");
const PW: &str = "correct horse battery";

/// The serious and critical violations axe finds on the current page, as "rule: target".
/// Panics if axe did not run or checked nothing (a run that passes vacuously is no test).
async fn violations(chrome: &Chrome) -> Vec<String> {
    let script = format!(
        "{AXE}\n;const done = arguments[arguments.length - 1];\
         axe.run(document, {{ runOnly: {{ type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }} }})\
           .then(r => done({{ passes: r.passes.length, found: r.violations\
             .filter(v => v.impact === 'serious' || v.impact === 'critical')\
             .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')) }}))\
           .catch(e => done({{ passes: 0, found: ['axe failed: ' + e] }}));"
    );
    let v = chrome
        .cmd(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
        .expect("axe runs");
    let passes = v["passes"].as_u64().unwrap_or(0);
    let found: Vec<String> = v["found"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(passes > 5, "axe checked next to nothing: {v}");
    found
}

/// Whether the page is wider than the window (it would scroll sideways: WCAG 1.4.10).
async fn overflows(chrome: &Chrome) -> bool {
    let v = chrome
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                "args": []
            })),
        )
        .await
        .expect("script");
    v.as_bool().unwrap_or(true)
}

/// Makes the page see `prefers-color-scheme: dark` (or light), through Chromium's DevTools.
async fn scheme(chrome: &Chrome, value: &str) {
    chrome
        .cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": value }] }
            })),
        )
        .await
        .expect("emulate the colour scheme");
}

async fn width(chrome: &Chrome, px: u32) {
    chrome
        .cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": px, "height": 900 })),
        )
        .await
        .expect("window size");
}

#[tokio::test]
async fn every_page_passes_axe_at_desktop_and_phone_width() {
    let Some(chrome) = Chrome::launch().await else {
        return;
    };
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    let admin = UserFields {
        email: Some("root@example.com".into()),
        is_admin: Some(true),
        ..UserFields::default()
    };
    let pw = sesame::auth::password::Password::new(PW.into()).unwrap();
    users::add(&server.db, &sys, "root", &admin, Some(&pw))
        .await
        .unwrap();
    groups::add(&server.db, &sys, "staff", "").await.unwrap();
    groups::set_member(&server.db, &sys, "staff", "root", true)
        .await
        .unwrap();
    apps::add(&server.db, &sys, "wiki", "generic", &AppChanges::default())
        .await
        .unwrap();
    ready_sso(&server.db, "wiki").await;
    apps::set_binding(&server.db, &sys, "wiki", "staff", true)
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);

    // The login page and "Forgot password?", signed out.
    let mut found: Vec<String> = Vec::new();
    for px in [1366, 390] {
        width(&chrome, px).await;
        chrome.goto(&format!("{base}/forgot")).await;
        chrome.find("input[name='who']").await;
        found.extend(
            violations(&chrome)
                .await
                .into_iter()
                .map(|v| format!("/forgot @{px}: {v}")),
        );
    }
    for px in [1366, 390] {
        width(&chrome, px).await;
        chrome.goto(&format!("{base}/login")).await;
        chrome.find("input[name='username']").await;
        chrome.screenshot(&format!("login-{px}")).await;
        found.extend(
            violations(&chrome)
                .await
                .into_iter()
                .map(|v| format!("/login @{px}: {v}")),
        );
    }
    chrome.fill("input[name='username']", "root").await;
    chrome.fill("input[name='password']", PW).await;
    chrome
        .click_and_load("form[action='/login'] button[type='submit']")
        .await;
    let pages = [
        "/",
        "/account",
        "/account/mfa",
        "/logout",
        "/admin",
        "/admin/users",
        "/admin/users/root",
        "/admin/groups",
        "/admin/groups/staff",
        "/admin/apps",
        "/admin/apps/new",
        "/admin/apps/wiki",
        "/admin/apps/wiki/sso",
        "/admin/apps/wiki/sso?preview=root",
        "/admin/apps/wiki/groups",
        "/admin/apps/wiki/idm",
        "/admin/keys",
        "/admin/config",
        "/admin/settings/email",
        "/admin/scim-sources",
        "/admin/import/users",
        "/admin/events",
    ];
    for px in [1366, 390, 320] {
        width(&chrome, px).await;
        for page in pages {
            chrome.goto(&format!("{base}{page}")).await;
            chrome.find("main").await;
            let name: String = page.trim_start_matches('/').replace(['/', '?', '='], "-");
            let name = if name.is_empty() {
                "portal".into()
            } else {
                name
            };
            chrome.screenshot(&format!("{name}-{px}")).await;
            // A skip link, and navigation landmarks told apart by name.
            if chrome.count("a.skip[href='#main']").await != 1 {
                found.push(format!("{page} @{px}: no skip link"));
            }
            if chrome.count("nav:not([aria-label])").await != 0 {
                found.push(format!("{page} @{px}: a nav without aria-label"));
            }
            if px < 1000 && overflows(&chrome).await {
                found.push(format!("{page} @{px}: the page scrolls sideways"));
            }
            found.extend(
                violations(&chrome)
                    .await
                    .into_iter()
                    .map(|v| format!("{page} @{px}: {v}")),
            );
        }
    }
    // Dark mode, at both ends of the width range.
    scheme(&chrome, "dark").await;
    for px in [1366, 320] {
        width(&chrome, px).await;
        for page in pages {
            chrome.goto(&format!("{base}{page}")).await;
            chrome.find("main").await;
            found.extend(
                violations(&chrome)
                    .await
                    .into_iter()
                    .map(|v| format!("{page} @{px} dark: {v}")),
            );
        }
    }
    chrome.goto(&format!("{base}/admin/apps/wiki/sso")).await;
    chrome.find("main").await;
    chrome.screenshot("admin-apps-wiki-sso-320-dark").await;
    scheme(&chrome, "light").await;
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
    chrome.close().await;
    server.stop().await;
}
