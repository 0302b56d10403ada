//! Single sign-on against a real SP (pysaml2 + xmlsec1): SP-initiated over both bindings,
//! signed requests, IdP-initiated with RelayState, session reuse, ForceAuthn, IsPassive,
//! and a user without access. Every Response is also checked by `xmlsec1 --verify`.

use sesame::directory::{apps, Actor};
use sesame::saml::settings::SsoChanges;
use sesame::store::events::{self, EventFilter};

use crate::sp::{xmlsec_verify, PostForm, World};

#[tokio::test]
async fn sp_initiated_redirect_then_post_reusing_the_session() {
    let w = World::new().await;
    let mut b = w.browser();
    let relay = "https://app.example/after?x=1&y=\"q\"";
    let (verdict, form) = w
        .sso(
            &mut b,
            &[("binding", "redirect"), ("relay", relay)],
            "alice",
        )
        .await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["name_id"], "alice@example.com");
    assert_eq!(
        verdict["relay_state"], relay,
        "RelayState echoed byte for byte"
    );
    assert_eq!(form.relay_state.as_deref(), Some(relay));
    assert_eq!(verdict["attributes"]["email"][0], "alice@example.com");
    assert_eq!(verdict["attributes"]["groups"][0], "staff");
    assert!(verdict["in_response_to"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let first_index = verdict["session_index"].clone();

    // Second sign-on over HTTP-POST: the session is reused, no password asked.
    let instruction = w.sp.login(&[("binding", "post")]).await;
    let parked = w.send(&mut b, &instruction).await;
    assert_eq!(parked.status, 303, "POST binding parks and redirects");
    let to = parked.location().expect("location").to_string();
    assert!(to.starts_with("/saml2/demo/continue?h="), "{to}");
    let page = b.get(&to).await;
    let form = PostForm::from_page(&page).expect("answered at once, no login page");
    assert_eq!(form.relay_state, None, "RelayState is never carried over");
    xmlsec_verify(&form.xml(), &w.cert);
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["session_index"], first_index, "same SSO session");
    assert_eq!(b.get(&to).await.status, 400, "the handle is single-use");

    let mut conn = w.server.db.read().await.unwrap();
    let evs = events::list(
        &mut conn,
        &EventFilter {
            app_slug: Some("demo".into()),
            limit: 100,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    let ok = evs
        .iter()
        .filter(|e| e.name == "sso_auth" && e.outcome == "success")
        .count();
    assert_eq!(ok, 2, "every SSO is an event");
}

#[tokio::test]
async fn signed_requests_over_both_bindings_and_a_signed_response() {
    let w = World::new().await;
    w.set(SsoChanges {
        require_signed_requests: Some(true),
        sign_response: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let mut b = w.browser();
    for binding in ["redirect", "post"] {
        let (verdict, form) = w
            .sso(&mut b, &[("binding", binding), ("sign", "1")], "alice")
            .await;
        assert_eq!(verdict["ok"], true, "{binding}: {verdict}");
        assert_eq!(
            form.xml().matches("<ds:Signature ").count(),
            2,
            "both signed"
        );
    }
    // Unsigned requests are now refused with a page, and nothing is posted anywhere.
    for binding in ["redirect", "post"] {
        let instruction = w.sp.login(&[("binding", binding)]).await;
        let page = w.send(&mut b, &instruction).await;
        assert_eq!(page.status, 400, "{binding}");
        assert!(
            page.body.contains("requires signed requests"),
            "{}",
            page.body
        );
        assert!(PostForm::from_page(&page).is_none());
    }
}

#[tokio::test]
async fn idp_initiated_launch_carries_the_configured_relay_state() {
    let w = World::new().await;
    w.set(SsoChanges {
        relay_state: Some("https://app.example/home".into()),
        ..SsoChanges::default()
    })
    .await;
    let mut b = w.browser();
    let first = b.get("/saml2/demo/launch").await;
    let page = w.follow(&mut b, first, "alice").await;
    let form = PostForm::from_page(&page).expect("form");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("form-action {};", w.sp.base)),
        "{csp}"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    xmlsec_verify(&form.xml(), &w.cert);
    assert!(!form.xml().contains("InResponseTo"), "unsolicited");
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["relay_state"], "https://app.example/home");
    assert!(verdict["in_response_to"].is_null());
}

#[tokio::test]
async fn force_authn_asks_again_and_is_passive_answers_no_passive() {
    let w = World::new().await;
    let mut b = w.browser();
    // IsPassive without a session: NoPassive to the ACS, no login page.
    let instruction = w.sp.login(&[("passive", "1")]).await;
    let page = w.send(&mut b, &instruction).await;
    let form = PostForm::from_page(&page).expect("a status answer");
    xmlsec_verify(&form.xml(), &w.cert);
    assert!(form
        .xml()
        .contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive"));
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], false);
    assert!(
        verdict["error"]
            .as_str()
            .unwrap_or("")
            .contains("NoPassive")
            || verdict["status_error"]
                .as_str()
                .unwrap_or("")
                .contains("NoPassive"),
        "{verdict}"
    );

    let (verdict, _) = w.sso(&mut b, &[], "alice").await;
    assert_eq!(verdict["ok"], true);
    // ForceAuthn with a live session: the login form comes back.
    let instruction = w.sp.login(&[("force", "1")]).await;
    let page = w.send(&mut b, &instruction).await;
    let to = page.location().expect("redirect").to_string();
    assert!(to.starts_with("/login?") && to.contains("reauth=1"), "{to}");
    let login = b.get(&to).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("enter your password again"));
    let page = w.follow(&mut b, page, "alice").await;
    let form = PostForm::from_page(&page).expect("form after re-authentication");
    assert_eq!(w.sp.post_acs(&form).await["ok"], true);
}

#[tokio::test]
async fn a_user_without_access_gets_a_page_never_an_assertion() {
    let w = World::new().await;
    let mut b = w.browser();
    let instruction = w.sp.login(&[]).await;
    let first = w.send(&mut b, &instruction).await;
    let page = w.follow(&mut b, first, "bob").await;
    assert_eq!(page.status, 403);
    assert!(
        page.body.contains("do not have access to Demo App"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("SAMLResponse"));
    let launch = b.get("/saml2/demo/launch").await;
    assert_eq!(launch.status, 403);
    let mut conn = w.server.db.read().await.unwrap();
    let evs = events::list(
        &mut conn,
        &EventFilter {
            username: Some("bob".into()),
            limit: 100,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    assert!(
        evs.iter().any(|e| e.name == "sso_auth"
            && e.outcome == "failure"
            && e.detail.contains("no access")),
        "{evs:?}"
    );
}

/// Replaces what changes between runs (IDs, instants, keys, signatures, ports) with markers.
fn normalize(xml: &str, w: &World) -> String {
    let mut out = xml
        .replace(&format!("127.0.0.1:{}", w.server.addr.port()), "IDP")
        .replace(w.sp.base.trim_start_matches("http://"), "SP");
    for (open, close) in [
        ("<ds:DigestValue>", "</ds:DigestValue>"),
        ("<ds:SignatureValue>", "</ds:SignatureValue>"),
        ("<ds:X509Certificate>", "</ds:X509Certificate>"),
    ] {
        let mut rest = out.as_str();
        let mut acc = String::new();
        while let Some(i) = rest.find(open) {
            let j = rest[i..].find(close).expect("closed") + i;
            acc.push_str(&rest[..i + open.len()]);
            acc.push_str("...");
            rest = &rest[j..];
        }
        acc.push_str(rest);
        out = acc;
    }
    for attr in [" ID=\"", "URI=\"#", "SessionIndex=\""] {
        let mut acc = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find(attr) {
            let j = rest[i + attr.len()..].find('"').expect("quoted") + i + attr.len();
            acc.push_str(&rest[..i + attr.len()]);
            acc.push_str("_ID");
            rest = &rest[j..];
        }
        acc.push_str(rest);
        out = acc;
    }
    let mut acc = String::new();
    let mut rest = out.as_str();
    while let Some(i) = rest.find("=\"20") {
        acc.push_str(&rest[..i + 2]);
        acc.push_str("TIME");
        rest = &rest[i + 2 + 20..];
    }
    acc.push_str(rest);
    acc.replace("><", ">\n<")
}

/// Compares with `tests/snapshots/<name>`; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {name}: run with UPDATE_SNAPSHOTS=1"));
    assert_eq!(
        actual, expected,
        "snapshot {name} changed (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

#[tokio::test]
async fn response_and_metadata_match_their_snapshots() {
    let w = World::new().await;
    w.set(SsoChanges {
        relay_state: Some("https://app.example/home".into()),
        sign_response: Some(true),
        ..SsoChanges::default()
    })
    .await;
    let mut b = w.browser();
    b.login("alice", crate::sp::PASSWORD).await;
    let page = b.get("/saml2/demo/launch").await;
    let form = PostForm::from_page(&page).expect("form");
    snapshot("idp_initiated_response.xml", &normalize(&form.xml(), &w));
    let metadata = b.get("/saml2/demo/metadata").await.body;
    snapshot("idp_metadata.xml", &normalize(&metadata, &w));
}

/// "Deactivate SSO": the tile goes, SP- and IdP-initiated sign-ins are refused with a page
/// and an event, and switching it back on restores both.
#[tokio::test]
async fn deactivated_sso_refuses_sign_ins_and_hides_the_tile() {
    let w = World::new().await;
    let off = apps::AppChanges {
        sso_enabled: Some(false),
        ..apps::AppChanges::default()
    };
    apps::update(&w.server.db, &Actor::system(), "demo", &off)
        .await
        .unwrap();
    let mut b = w.browser();
    let instruction = w.sp.login(&[]).await;
    let first = w.send(&mut b, &instruction).await;
    let page = w.follow(&mut b, first, "alice").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("switched off"), "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
    assert_eq!(b.get("/saml2/demo/launch").await.status, 403);
    assert!(!b.get("/").await.body.contains("data-slug=\"demo\""));
    let mut conn = w.server.db.read().await.unwrap();
    let evs = events::list(
        &mut conn,
        &EventFilter {
            name: Some("sso_auth".into()),
            limit: 100,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap();
    assert!(
        evs.iter()
            .any(|e| e.outcome == "failure" && e.detail.contains("sso switched off")),
        "{evs:?}"
    );
    drop(conn);
    let on = apps::AppChanges {
        sso_enabled: Some(true),
        ..apps::AppChanges::default()
    };
    apps::update(&w.server.db, &Actor::system(), "demo", &on)
        .await
        .unwrap();
    assert!(b.get("/").await.body.contains("data-slug=\"demo\""));
    let launch = b.get("/saml2/demo/launch").await;
    assert_eq!(launch.status, 200);
    assert!(PostForm::from_page(&launch).is_some());
}

#[tokio::test]
async fn a_parked_request_is_not_answered_to_an_acs_removed_meanwhile() {
    let w = World::new().await;
    let mut b = w.browser();
    // Parked while alice signs in: the SP's request names its registered ACS.
    let instruction = w.sp.login(&[("binding", "post")]).await;
    let parked = w.send(&mut b, &instruction).await;
    assert_eq!(parked.status, 303, "POST binding parks and redirects");
    // Meanwhile the admin replaces the SP's ACS URL.
    w.set(SsoChanges {
        acs_urls: Some(vec!["https://elsewhere.example/acs".into()]),
        ..SsoChanges::default()
    })
    .await;
    let page = w.follow(&mut b, parked, "alice").await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("no longer accepts"), "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
}

/// Issue 14, item 5: a user who must choose a new password, arriving with an SP's request,
/// is asked for it and then goes on to the SP: the parked request is answered.
#[tokio::test]
async fn a_forced_password_change_continues_to_the_sp() {
    let w = World::new().await;
    let temp = sesame::auth::password::Password::new("temporary-phrase-42".into()).unwrap();
    sesame::directory::users::set_password(
        &w.server.db,
        &w.server.config.seal_key().unwrap(),
        &Actor::system(),
        "alice",
        &temp,
        true,
    )
    .await
    .unwrap();
    let mut b = w.browser();
    let instruction = w.sp.login(&[("binding", "redirect")]).await;
    let first = w.send(&mut b, &instruction).await;
    let login = b.get(first.location().expect("to sign in")).await;
    let next = crate::sp::html_unescape(&crate::support::hidden(&login.body, "next").unwrap());
    let signed = b
        .post(
            "/login",
            &[
                ("csrf", &login.csrf()),
                ("username", "alice"),
                ("password", "temporary-phrase-42"),
                ("next", &next),
            ],
        )
        .await;
    let back = b.get(signed.location().unwrap()).await;
    let to = back.location().expect("to the account page").to_string();
    assert!(
        to.starts_with("/account?next=%2Fsaml2%2Fdemo%2Fcontinue"),
        "{to}"
    );
    let account = b.get(&to).await;
    let carried = crate::sp::html_unescape(&crate::support::hidden(&account.body, "next").unwrap());
    let changed = b
        .post(
            "/account/password",
            &[
                ("csrf", &account.csrf()),
                ("current", "temporary-phrase-42"),
                ("new", "my-own-new-phrase-7"),
                ("confirm", "my-own-new-phrase-7"),
                ("next", &carried),
            ],
        )
        .await;
    let resume = changed.location().expect("on to the request").to_string();
    assert!(resume.starts_with("/saml2/demo/continue?h="), "{resume}");
    let page = b.get(&resume).await;
    let form = PostForm::from_page(&page).unwrap_or_else(|| panic!("{}", page.body));
    let verdict = w.sp.post_acs(&form).await;
    assert_eq!(verdict["ok"], true, "{verdict}");
}
