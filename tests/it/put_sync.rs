//! Issue 16 items 4 and 5 against the real target (tests/scim/target.py): a target without
//! PATCH gets a PUT of the whole resource (RFC 7644 §3.5.1) read fresh, with `If-Match`
//! (§3.14) and one retry after a 412; a renamed group arrives as its new `displayName`; a
//! password set in sesame reaches a target with password sync exactly once, and nowhere else.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame::auth::password::Password;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::groups::{self, GroupChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;
use sesame::scim::target::{self, Changes};
use sesame::store::events::{self, Event, EventFilter};

use crate::scim_peer::{connect, settle, ScimPeer};
use crate::support::{TestDb, TestServer};

async fn setup() -> (TestDb, TestServer) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let actor = Actor::system();
    groups::add(&server.db, &actor, "staff", "").await.unwrap();
    apps::add(&server.db, &actor, "app", "generic", &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&server.db, &actor, "app", "staff", true)
        .await
        .unwrap();
    (db, server)
}

async fn add_member(server: &TestServer, name: &str) {
    let f = UserFields {
        email: Some(format!("{name}@example.com")),
        first_name: Some("First".into()),
        last_name: Some("Last".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &Actor::system(), name, &f, None)
        .await
        .unwrap();
    groups::set_member(&server.db, &Actor::system(), "staff", name, true)
        .await
        .unwrap();
}

async fn app_events(server: &TestServer) -> Vec<Event> {
    let mut conn = server.db.read().await.unwrap();
    let filter = EventFilter {
        app_slug: Some("app".into()),
        limit: 10_000,
        ..EventFilter::default()
    };
    events::list(&mut conn, &filter).await.unwrap()
}

fn lines(reqs: &[Value]) -> Vec<String> {
    reqs.iter()
        .map(|r| format!("{} {} {}", r["method"], r["path"], r["status"]))
        .collect()
}

#[tokio::test]
async fn a_target_without_patch_gets_put_of_the_whole_resource() {
    let (_db, server) = setup().await;
    let peer = ScimPeer::start(&["--no-patch"]);
    add_member(&server, "alice").await;
    let push = Changes {
        push_groups: Some(true),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &peer, push).await;
    settle(&server.db, "app", 30).await;
    assert!(
        peer.all_requests()
            .iter()
            .any(|r| r["path"] == "/ServiceProviderConfig"),
        "the worker read what the target supports on first contact"
    );
    let row = target::get(&mut server.db.read().await.unwrap(), "app")
        .await
        .unwrap()
        .1;
    assert!(!row.caps.patch && row.caps.etag, "{:?}", row.caps);

    // The target's own attribute, which sesame does not map.
    let mut alice = peer.user("alice").await.expect("created");
    let id = alice["id"].as_str().unwrap().to_string();
    alice["nickName"] = json!("Al (set in the target)");
    alice.as_object_mut().unwrap().remove("meta");
    peer.put_user(&id, &alice).await;
    let before = peer.requests().len();

    let title = UserFields {
        title: Some("Engineer".into()),
        ..UserFields::default()
    };
    users::update(&server.db, &Actor::system(), "alice", &title)
        .await
        .unwrap();
    settle(&server.db, "app", 30).await;
    let reqs = peer.requests()[before..].to_vec();
    let path = format!("/Users/{id}");
    assert_eq!(
        lines(&reqs),
        [
            format!("\"GET\" \"{path}\" 200"),
            format!("\"PUT\" \"{path}\" 200")
        ],
        "a fresh read, then one PUT; never a PATCH"
    );
    assert!(
        reqs[1]["if_match"].as_str().is_some_and(|v| !v.is_empty()),
        "the PUT is conditional on the version read: {:?}",
        reqs[1]
    );
    let now = peer.user("alice").await.unwrap();
    assert_eq!(now["title"], "Engineer");
    assert_eq!(now["nickName"], "Al (set in the target)", "kept");
    assert_eq!(now["name"]["givenName"], "First");

    // A group rename arrives as the new displayName, in a PUT of the group.
    let rename = GroupChanges {
        name: Some("crew".into()),
        description: Some("the whole crew".into()),
    };
    groups::update(&server.db, &Actor::system(), "staff", &rename)
        .await
        .unwrap();
    settle(&server.db, "app", 30).await;
    let crew = peer.group("crew").await.expect("renamed in the target");
    assert_eq!(crew["members"][0]["value"], id.as_str());
    assert!(peer.group("staff").await.is_none());

    // Leaving scope: a PUT with active false, the target's attribute still kept.
    groups::set_member(&server.db, &Actor::system(), "crew", "alice", false)
        .await
        .unwrap();
    settle(&server.db, "app", 30).await;
    let now = peer.user("alice").await.unwrap();
    assert_eq!(now["active"], false);
    assert_eq!(now["nickName"], "Al (set in the target)");
    let all = peer.requests();
    assert!(
        all.iter().all(|r| r["method"] != "PATCH"),
        "{:#?}",
        lines(&all)
    );
    let deactivate = all
        .iter()
        .rev()
        .find(|r| r["method"] == "PUT" && r["path"] == path.as_str())
        .unwrap();
    assert_eq!(deactivate["body"]["active"], false);
    server.stop().await;
}

#[tokio::test]
async fn a_patch_answered_501_falls_back_to_put_and_a_412_reads_again() {
    let (_db, server) = setup().await;
    let peer = ScimPeer::start(&["--no-patch", "--etag-conflict"]);
    add_member(&server, "bob").await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 30).await;
    // Pretend the target was never asked: the engine believes it has PATCH.
    {
        let mut conn = server.db.write().await.unwrap();
        let app_id: i64 = sqlx::query_scalar("SELECT id FROM apps WHERE slug = 'app'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let caps = sesame::store::scim::Capabilities {
            patch: true,
            etag: true,
            discovered_at: 1,
        };
        sesame::store::scim::set_capabilities(&mut conn, app_id, &caps)
            .await
            .unwrap();
    }
    let before = peer.requests().len();
    let title = UserFields {
        title: Some("Pilot".into()),
        ..UserFields::default()
    };
    users::update(&server.db, &Actor::system(), "bob", &title)
        .await
        .unwrap();
    settle(&server.db, "app", 30).await;
    let reqs = peer.requests()[before..].to_vec();
    let methods: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(
        methods,
        ["PATCH 501", "GET 200", "PUT 412", "GET 200", "PUT 200"],
        "{reqs:#?}"
    );
    assert_eq!(peer.user("bob").await.unwrap()["title"], "Pilot");
    let row = target::get(&mut server.db.read().await.unwrap(), "app")
        .await
        .unwrap()
        .1;
    assert!(!row.caps.patch, "remembered: no PATCH");
    server.stop().await;
}

#[tokio::test]
async fn a_renamed_group_is_patched_with_its_new_display_name() {
    let (_db, server) = setup().await;
    let peer = ScimPeer::start(&[]);
    add_member(&server, "jo").await;
    let push = Changes {
        push_groups: Some(true),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &peer, push).await;
    settle(&server.db, "app", 30).await;
    assert!(peer.group("staff").await.is_some());
    groups::rename(&server.db, &Actor::system(), "staff", "Staff Team")
        .await
        .unwrap();
    settle(&server.db, "app", 30).await;
    assert!(peer.group("Staff Team").await.is_some());
    let patch = peer
        .requests()
        .into_iter()
        .rev()
        .find(|r| r["method"] == "PATCH" && r["path"].as_str().unwrap().starts_with("/Groups/"))
        .expect("a group PATCH");
    assert_eq!(
        patch["body"]["Operations"],
        json!([{"op": "replace", "path": "displayName", "value": "Staff Team"}])
    );
    server.stop().await;
}

/// The requests that carried a password.
fn with_password(peer: &ScimPeer) -> Vec<Value> {
    peer.requests()
        .into_iter()
        .filter(|r| r["body"].to_string().contains("password"))
        .collect()
}

async fn wait_for(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

#[tokio::test]
async fn a_changed_password_reaches_a_syncing_target_exactly_once() {
    const SECRET: &str = "Correct-Horse-Battery-81x";
    let (db, server) = setup().await;
    for flags in [&[][..], &["--no-patch"][..]] {
        let peer = ScimPeer::start(flags);
        add_member(&server, "carol").await;
        let on = Changes {
            password_sync: Some(true),
            ..Changes::default()
        };
        connect(&server.db, &server.config, "app", &peer, on).await;
        settle(&server.db, "app", 30).await;
        let key = server.config.seal_key().unwrap();
        let pw = Password::new(SECRET.into()).unwrap();
        // What the account page calls.
        users::set_password(&server.db, &key, &Actor::user("carol"), "carol", &pw, false)
            .await
            .unwrap();
        assert!(wait_for(20, || with_password(&peer).len() == 1).await);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sent = with_password(&peer);
        assert_eq!(sent.len(), 1, "exactly once: {sent:#?}");
        let carried = if flags.is_empty() {
            assert_eq!(sent[0]["method"], "PATCH");
            sent[0]["body"]["Operations"][0]["value"].clone()
        } else {
            assert_eq!(sent[0]["method"], "PUT");
            assert_eq!(sent[0]["body"]["userName"], "carol", "the whole resource");
            sent[0]["body"]["password"].clone()
        };
        assert_eq!(carried, SECRET);

        // With sync off, nothing is sent.
        let off = Changes {
            password_sync: Some(false),
            ..Changes::default()
        };
        target::update(&server.db, &key, &Actor::system(), "app", &off)
            .await
            .unwrap();
        let pw2 = Password::new(format!("{SECRET}-again")).unwrap();
        users::set_password(
            &server.db,
            &key,
            &Actor::user("carol"),
            "carol",
            &pw2,
            false,
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(with_password(&peer).len(), 1, "sync off: nothing sent");

        let evs = app_events(&server).await;
        let synced: Vec<&Event> = evs.iter().filter(|e| e.name == "password_sync").collect();
        assert!(
            synced.iter().any(|e| e.outcome == "success"),
            "the send is an event"
        );
        let all = serde_json::to_string(&evs).unwrap();
        assert!(!all.contains(SECRET), "never in the events");
        // Next round: a fresh user on a fresh target.
        users::delete(&server.db, &Actor::system(), "carol")
            .await
            .unwrap();
        settle(&server.db, "app", 30).await;
        target::delete(&server.db, &Actor::system(), "app")
            .await
            .unwrap();
    }
    server.stop().await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
            assert!(!found, "the password in clear in {file}");
        }
    }
}
