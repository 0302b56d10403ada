//! The console's everyday directory work: users and groups paged and searched, members
//! added by typing several names, a user removed from a group on their own page, the user
//! page's account facts (password, lock, last sign-in, created), and a refused add-user
//! form shown again as typed with the field marked.

use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};

use crate::support::{Browser, Page, TestDb, TestServer};

const ROOT_PW: &str = "a long admin passphrase 12345";
const USER_PW: &str = "correct horse battery staple";

async fn console() -> (TestDb, TestServer, Browser, String) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.admin("root", ROOT_PW).await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ROOT_PW).await.status, 303);
    let csrf = b.get("/admin/users").await.csrf();
    (db, server, b, csrf)
}

fn rows(page: &Page) -> usize {
    let body = &page.body;
    let Some(at) = body.find("<tbody>") else {
        return 0;
    };
    let end = body[at..].find("</tbody>").unwrap() + at;
    body[at..end].matches("<tr>").count()
}

fn link(page: &Page, id: &str) -> Option<String> {
    let at = page.body.find(&format!("id=\"{id}\""))?;
    let open = page.body[..at].rfind("<a ")?;
    let h = &page.body[open..];
    let h = &h[h.find("href=\"")? + 6..];
    Some(
        h[..h.find('"')?]
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

fn flash(page: &Page) -> String {
    let at = page.body.find("id=\"flash\"").expect("a flash");
    let t = &page.body[at..];
    let t = &t[t.find('>').unwrap() + 1..];
    t[..t.find("</p>").unwrap()].to_string()
}

#[tokio::test]
async fn users_and_groups_are_paged_and_searched() {
    let (_db, server, mut b, _) = console().await;
    let sys = Actor::system();
    for i in 0..120 {
        let f = UserFields {
            email: Some(format!("person{i:03}@example.com")),
            ..UserFields::default()
        };
        users::add(&server.db, &sys, &format!("person{i:03}"), &f, None)
            .await
            .unwrap();
    }
    for i in 0..60 {
        groups::add(&server.db, &sys, &format!("team{i:02}"), "")
            .await
            .unwrap();
    }
    let first = b.get("/admin/users").await;
    assert_eq!(rows(&first), 50);
    assert!(first.body.contains("1–50 of 121"), "{}", first.body);
    assert!(link(&first, "prev-page").is_none());
    let second = b.get(&link(&first, "next-page").unwrap()).await;
    assert_eq!(rows(&second), 50);
    let third = b.get(&link(&second, "next-page").unwrap()).await;
    assert_eq!(rows(&third), 21);
    assert!(third.body.contains("101–121 of 121"));
    assert!(link(&third, "next-page").is_none());

    let found = b.get("/admin/users?q=person11").await;
    assert_eq!(rows(&found), 10, "person110..person119");
    assert!(found.body.contains("1–10 of 10"));

    let groups_page = b.get("/admin/groups?page=2").await;
    assert_eq!(rows(&groups_page), 10);
    assert!(groups_page.body.contains("51–60 of 60"));
    let searched = b.get("/admin/groups?q=team5").await;
    assert_eq!(rows(&searched), 10);
    server.stop().await;
}

#[tokio::test]
async fn members_by_typing_removal_from_the_user_page_and_account_facts() {
    let (_db, server, mut b, csrf) = console().await;
    server.user("alice", USER_PW).await;
    server.user("bob", USER_PW).await;
    let sys = Actor::system();
    groups::add(&server.db, &sys, "eng", "").await.unwrap();

    let page = b.get("/admin/groups/eng").await;
    assert!(page.body.contains("<datalist id=\"member-choices\">"));
    assert!(page.body.contains("<option value=\"alice\">"));
    let res = b
        .post(
            "/admin/groups/eng/add",
            &[("csrf", &csrf), ("username", "alice, bob ghost")],
        )
        .await;
    let page = b.get(res.location().unwrap()).await;
    let said = flash(&page);
    assert!(
        said.starts_with("alice, bob added to eng; no user named"),
        "{said}"
    );
    let members = groups::show(&server.db, "eng").await.unwrap().member_names;
    assert_eq!(members, ["alice", "bob"]);

    // The account facts, before and after a sign-in.
    let user = b.get("/admin/users/alice").await;
    assert!(
        user.body.contains("id=\"last-sign-in\">never"),
        "{}",
        user.body
    );
    assert!(
        user.body.contains("id=\"password-state\">set</dd>"),
        "{}",
        user.body
    );
    assert!(user.body.contains("id=\"lock-state\">not locked"));
    assert!(user.body.contains("id=\"created\">20"));
    let mut alice = Browser::new(&server);
    assert_eq!(alice.login("alice", USER_PW).await.status, 303);
    let user = b.get("/admin/users/alice").await;
    assert!(
        user.body.contains("id=\"last-sign-in\">20"),
        "{}",
        user.body
    );
    let f = UserFields {
        email: Some("nopw@example.com".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &sys, "nopw", &f, None)
        .await
        .unwrap();
    let nopw = b.get("/admin/users/nopw").await;
    assert!(nopw.body.contains("no password set: cannot sign in"));

    // Removed from a group on the user's own page, and back there.
    let res = b
        .post(
            "/admin/groups/eng/remove",
            &[("csrf", &csrf), ("username", "alice"), ("back", "user")],
        )
        .await;
    assert_eq!(res.location(), Some("/admin/users/alice"));
    let page = b.get("/admin/users/alice").await;
    assert_eq!(flash(&page), "alice removed from eng.");
    assert_eq!(
        groups::show(&server.db, "eng").await.unwrap().member_names,
        ["bob"]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_refused_new_user_is_shown_again_as_typed_with_the_field_marked() {
    let (_db, server, mut b, csrf) = console().await;
    server.user("alice", USER_PW).await;
    let res = b
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "ALICE"),
                ("email", "other@example.com"),
                ("first_name", "Other"),
                ("last_name", "Person"),
                ("password", "a long enough password"),
                ("is_admin", "on"),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("id=\"err-username\""), "{}", res.body);
    assert!(res.body.contains("aria-describedby=\"err-username\""));
    for kept in [
        "value=\"ALICE\"",
        "value=\"other@example.com\"",
        "value=\"Other\"",
        "value=\"Person\"",
    ] {
        assert!(res.body.contains(kept), "{kept} kept");
    }
    assert!(
        !res.body.contains("a long enough password"),
        "passwords are not sent back"
    );
    let weak = b
        .post(
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("email", "carol@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(
        weak.body.contains("aria-describedby=\"err-password\""),
        "{}",
        weak.body
    );
    assert!(weak.body.contains("value=\"carol@example.com\""));
    assert!(users::get(&server.db, "carol").await.is_err());
    server.stop().await;
}
