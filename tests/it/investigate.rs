//! Events for investigations: filters chosen from lists (event names, apps by label,
//! users), users matched in any case, a time range, cursor paging with no cap, and CSV and
//! JSON exports of the current filter — in the console and the API.

use serde_json::Value;
use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;
use sesame::store::events::{self, NewEvent};

use crate::support::{Browser, TestDb, TestServer};

const ROOT_PW: &str = "a long admin passphrase 12345";

async fn server() -> (TestDb, TestServer, Browser, String) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    server.admin("root", ROOT_PW).await;
    let alice = UserFields {
        email: Some("alice@example.com".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &Actor::system(), "Alice", &alice, None)
        .await
        .unwrap();
    // 250 failures for Alice, with a formula where a spreadsheet would run it.
    let mut conn = server.db.write().await.unwrap();
    for i in 0..250 {
        let e = NewEvent {
            name: "login_failure",
            actor: "=1+2".into(),
            app_slug: None,
            username: Some("Alice".into()),
            outcome: "failure",
            status: None,
            detail: serde_json::json!({ "reason": "bad_password", "n": i }),
        };
        events::insert(&mut conn, &e).await.unwrap();
    }
    drop(conn);
    let token = sesame::auth::tokens::create(&server.db, &Actor::system(), "ci", "root")
        .await
        .unwrap();
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ROOT_PW).await.status, 303);
    (db, server, b, token)
}

/// The `data-id`s of the event rows, newest first.
fn ids(body: &str) -> Vec<i64> {
    body.match_indices("<tr data-id=\"")
        .map(|(i, m)| {
            let rest = &body[i + m.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

fn href(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let open = body[..at].rfind("<a ")?;
    let h = &body[open..];
    let h = &h[h.find("href=\"").unwrap() + 6..];
    Some(
        h[..h.find('"').unwrap()]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

#[tokio::test]
async fn the_console_pages_back_through_everything_and_exports_the_filter() {
    let (_db, server, mut b, _) = server().await;
    // Any case finds Alice; the lists offer the names and users recorded.
    let first = b.get("/admin/events?user=aLiCe&name=login_failure").await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("<option value=\"login_failure\""),
        "event names are listed"
    );
    assert!(first.body.contains("<datalist id=\"f-users\">"));
    assert!(first.body.contains("<option value=\"Alice\">"));
    let page1 = ids(&first.body);
    assert_eq!(page1.len(), 100);
    assert!(page1.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(href(&first.body, "newer").is_none(), "already the newest");

    // Older, older: 100, 100, 50, then the end; newer goes back exactly.
    let mut seen = page1.clone();
    let mut page = first;
    for expected in [100, 50] {
        let older = href(&page.body, "older").expect("an older page");
        assert!(older.contains("user=aLiCe"), "the filter is kept: {older}");
        page = b.get(&older).await;
        let got = ids(&page.body);
        assert_eq!(got.len(), expected);
        assert!(
            got[0] < *seen.last().unwrap(),
            "strictly older: {got:?} after {seen:?} via {older}"
        );
        seen.extend(got);
    }
    assert!(href(&page.body, "older").is_none(), "the oldest page");
    assert_eq!(seen.len(), 250, "every event, none twice");
    let back = b.get(&href(&page.body, "newer").unwrap()).await;
    assert_eq!(ids(&back.body), seen[100..200].to_vec());

    // A time range: nothing before now's year, nothing after.
    let future = b
        .get("/admin/events?user=alice&since=2099-01-01T00:00")
        .await;
    assert!(ids(&future.body).is_empty());
    let past = b.get("/admin/events?user=alice&until=2000-01-01").await;
    assert!(ids(&past.body).is_empty());
    let bad = b.get("/admin/events?since=yesterday").await;
    assert!(bad.body.contains("is not a time"), "{}", bad.body);

    // Exports carry the whole filter, not a page.
    let csv = b
        .get("/admin/events/events.csv?user=ALICE&name=login_failure")
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains("events.csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "id,time_utc,name,outcome,status,actor,app,user,detail"
    );
    assert_eq!(lines.len(), 251);
    assert!(
        lines[1].contains(",'=1+2,"),
        "a formula is defused: {}",
        lines[1]
    );
    let json = b.get("/admin/events/events.json?user=alice").await;
    let list: Vec<Value> = serde_json::from_str(&json.body).unwrap();
    assert_eq!(list.len(), 251, "the failures and Alice's creation");
    assert_eq!(
        list[250]["detail"]["n"], 249,
        "oldest first, detail as JSON"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_api_pages_and_filters_by_time_and_user_in_any_case() {
    let (_db, server, _, token) = server().await;
    let client = reqwest::Client::new();
    let get = |q: &str| {
        client
            .get(format!("http://{}/api/v1/events?{q}", server.addr))
            .bearer_auth(&token)
            .send()
    };
    let newest: Vec<Value> = get("user=ALICE&name=login_failure&limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(newest.len(), 100);
    let oldest_id = newest[0]["id"].as_i64().unwrap();
    let older: Vec<Value> = get(&format!(
        "user=alice&name=login_failure&limit=1000&before={oldest_id}"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(older.len(), 150);
    let none: Vec<Value> = get("user=alice&since=2099-01-01")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    let bad = get("since=soon").await.unwrap();
    assert_eq!(bad.status(), 400);
    server.stop().await;
}
