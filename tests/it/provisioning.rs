//! The SCIM bridge against a real target (scim2-server behind tests/scim/target.py): the user
//! lifecycle with the exact requests, linking instead of duplicating, 404 on update,
//! throttling with Retry-After, 401, quarantine and resume, the BlueJeans limit, basic auth,
//! and the token kept out of the database and the logs.

use serde_json::Value;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::scim::secret::Secret;
use sesame::scim::target::{self, Changes, Credential, Switch};
use sesame::store::events::{self, Event, EventFilter};

use crate::scim_peer::{connect, settle, ScimPeer, TOKEN};
use crate::support::{TestDb, TestServer};

async fn setup(template: &str) -> (TestDb, TestServer) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let actor = Actor::system();
    groups::add(&server.db, &actor, "staff", "").await.unwrap();
    apps::add(&server.db, &actor, "app", template, &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&server.db, &actor, "app", "staff", true)
        .await
        .unwrap();
    (db, server)
}

async fn add_user(server: &TestServer, name: &str, member: bool) {
    let f = UserFields {
        email: Some(format!("{name}@example.com")),
        first_name: Some("First".into()),
        last_name: Some("Last".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &Actor::system(), name, &f, None)
        .await
        .unwrap();
    if member {
        groups::set_member(&server.db, &Actor::system(), "staff", name, true)
            .await
            .unwrap();
    }
}

async fn app_events(server: &TestServer) -> Vec<Event> {
    let mut conn = server.db.read().await.unwrap();
    events::list(
        &mut conn,
        &EventFilter {
            app_slug: Some("app".into()),
            limit: 10_000,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap()
}

fn methods(reqs: &[Value]) -> Vec<String> {
    reqs.iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap(), r["status"]))
        .collect()
}

#[tokio::test]
async fn lifecycle_sends_exactly_the_requests_needed() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    add_user(&server, "alice", true).await;
    add_user(&server, "outsider", false).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 20).await;

    // Initial sync: looked up, then created; the outsider is never sent.
    let reqs = peer.requests();
    assert_eq!(methods(&reqs), ["GET 200", "POST 201"], "{reqs:#?}");
    assert_eq!(reqs[0]["query"], "filter=userName+eq+%22alice%22");
    let alice = peer.user("alice").await.expect("alice in the target");
    assert_eq!(alice["name"]["givenName"], "First");
    assert_eq!(alice["emails"][0]["value"], "alice@example.com");
    assert_eq!(alice["active"], true);
    assert!(peer.user("outsider").await.is_none());

    // A one-attribute change: one PATCH with one operation.
    let set = |title: &str| UserFields {
        title: Some(title.into()),
        ..UserFields::default()
    };
    users::update(&server.db, &Actor::system(), "alice", &set("Engineer"))
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    let reqs = peer.requests();
    let patch = &reqs[2];
    assert_eq!(patch["method"], "PATCH");
    assert_eq!(
        patch["body"]["Operations"],
        serde_json::json!([{"op": "replace", "path": "title", "value": "Engineer"}])
    );
    assert_eq!(peer.user("alice").await.unwrap()["title"], "Engineer");

    // Clearing a value removes it.
    users::update(&server.db, &Actor::system(), "alice", &set(""))
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    let reqs = peer.requests();
    assert_eq!(
        reqs[3]["body"]["Operations"],
        serde_json::json!([{"op": "remove", "path": "title"}])
    );
    assert!(peer.user("alice").await.unwrap().get("title").is_none());

    // Leaving scope deactivates; coming back reactivates; suspension likewise.
    groups::set_member(&server.db, &Actor::system(), "staff", "alice", false)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(peer.user("alice").await.unwrap()["active"], false);
    groups::set_member(&server.db, &Actor::system(), "staff", "alice", true)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(peer.user("alice").await.unwrap()["active"], true);
    users::set_active(&server.db, &Actor::system(), "alice", false)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(peer.user("alice").await.unwrap()["active"], false);
    users::set_active(&server.db, &Actor::system(), "alice", true)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(peer.user("alice").await.unwrap()["active"], true);
    let reqs = peer.requests();
    assert_eq!(reqs.len(), 8, "{:#?}", methods(&reqs));
    assert!(reqs[4..].iter().all(|r| r["method"] == "PATCH"));

    // Deleted in sesame, with the delete action: DELETE in the target.
    let key = server.config.seal_key().unwrap();
    let del = Changes {
        deprovision: Some("delete".into()),
        ..Changes::default()
    };
    sesame::scim::target::update(&server.db, &key, &Actor::system(), "app", &del)
        .await
        .unwrap();
    users::delete(&server.db, &Actor::system(), "alice")
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert!(peer.user("alice").await.is_none());
    assert_eq!(peer.requests().last().unwrap()["method"], "DELETE");

    let names: Vec<String> = app_events(&server)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    for n in [
        "idm_integration_update",
        "idm_integration_activate",
        "user_lookup_provision",
        "user_create_provision",
        "user_update_provision",
        "user_deprovision",
        "user_delete_provision",
    ] {
        assert!(names.iter().any(|x| x == n), "no {n} event in {names:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_existing_account_is_linked_and_a_lost_one_found_again() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    let existing = peer.create("carol").await;
    add_user(&server, "carol", true).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 20).await;
    let carols: Vec<_> = peer
        .users()
        .await
        .into_iter()
        .filter(|u| u["userName"] == "carol")
        .collect();
    assert_eq!(carols.len(), 1, "linked, not duplicated");
    assert_eq!(carols[0]["id"], existing["id"]);
    assert_eq!(
        carols[0]["name"]["givenName"], "First",
        "brought up to date"
    );
    assert!(peer.requests().iter().all(|r| r["method"] != "POST"));

    // Deleted behind our back: the next update gets 404, looks up, and re-creates once.
    peer.delete(existing["id"].as_str().unwrap()).await;
    let f = UserFields {
        title: Some("Boss".into()),
        ..UserFields::default()
    };
    users::update(&server.db, &Actor::system(), "carol", &f)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    let tail: Vec<String> = methods(&peer.requests())
        .into_iter()
        .rev()
        .take(3)
        .collect();
    assert_eq!(tail, ["POST 201", "GET 200", "PATCH 404"]);
    let carol = peer.user("carol").await.expect("re-created");
    assert_eq!(carol["title"], "Boss");
    server.stop().await;
}

#[tokio::test]
async fn throttling_is_honoured_and_everything_arrives() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&["--throttle-every", "3", "--retry-after", "1"]);
    for i in 0..6 {
        add_user(&server, &format!("user{i}"), true).await;
    }
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 60).await;
    assert_eq!(peer.users().await.len(), 6, "everything arrives");
    let reqs = peer.requests();
    assert!(
        reqs.iter().any(|r| r["status"] == 429),
        "the target throttled"
    );
    // No retry sooner than Retry-After: after a 429, the next request for the same user
    // comes at least a second later (events are written as answers arrive).
    let evs: Vec<Event> = app_events(&server)
        .await
        .into_iter()
        .filter(|e| e.status.is_some())
        .collect();
    let mut checked = 0;
    for (i, e) in evs.iter().enumerate() {
        if e.status == Some(429) {
            if let Some(next) = evs[i + 1..].iter().find(|n| n.username == e.username) {
                checked += 1;
                assert!(
                    next.at - e.at >= 1000,
                    "{:?} retried {}ms after a 429 with Retry-After: 1",
                    e.username,
                    next.at - e.at
                );
            }
        }
    }
    assert!(checked > 0, "some request was retried after a 429");
    server.stop().await;
}

#[tokio::test]
async fn bluejeans_limits_basic_auth_and_refused_credentials() {
    // BlueJeans: userName over 30 characters is refused before any request.
    let (_db, server) = setup("bluejeans").await;
    let peer = ScimPeer::start(&["--max-username", "30"]);
    let long = "a-very-long-username-of-31-char";
    assert_eq!(long.len(), 31);
    add_user(&server, long, true).await;
    add_user(&server, "short", true).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 20).await;
    assert!(peer.user("short").await.is_some());
    assert!(peer
        .requests()
        .iter()
        .all(|r| !r.to_string().contains(long)));
    let refused = app_events(&server)
        .await
        .into_iter()
        .find(|e| e.username.as_deref() == Some(long))
        .expect("an event for the refused user");
    assert_eq!(refused.outcome, "failure");
    assert!(refused.detail.contains("at most 30"), "{}", refused.detail);
    server.stop().await;

    // Jive-style HTTP basic credentials.
    let (_db, server) = setup("jive").await;
    let peer = ScimPeer::start(&["--basic", "admin:jive-pass"]);
    add_user(&server, "dave", true).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 20).await;
    assert!(peer.user("dave").await.is_some());
    server.stop().await;
}

#[tokio::test]
async fn the_token_is_sealed_at_rest_and_never_logged() {
    let (db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    add_user(&server, "erin", true).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 20).await;
    assert!(peer.user("erin").await.is_some());
    server.stop().await;
    // The database files (main and WAL) never hold the token in clear.
    let path = db.url.trim_start_matches("sqlite://").to_string();
    for file in [path.clone(), format!("{path}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let found = bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
            assert!(!found, "token in clear in {file}");
        }
    }
}

#[tokio::test]
async fn refused_credentials_stop_the_target_until_new_ones_resume_it() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    add_user(&server, "frank", true).await;
    let key = server.config.seal_key().unwrap();
    let wrong = Changes {
        url: Some(peer.url.clone()),
        credential: Some(Credential::Bearer(Secret::new("wrong-token"))),
        ..Changes::default()
    };
    target::update(&server.db, &key, &Actor::system(), "app", &wrong)
        .await
        .unwrap();
    target::set_state(&server.db, &Actor::system(), "app", Switch::Activate)
        .await
        .unwrap();
    let row = wait_state(&server, "stopped").await;
    assert!(
        row.state_reason.contains("refused the credentials"),
        "{}",
        row.state_reason
    );
    assert_eq!(
        methods(&peer.requests()),
        ["GET 401"],
        "stopped at the first 401"
    );
    // A new token is a hot swap: the queued job is still there and goes through on resume.
    let right = Changes {
        credential: Some(Credential::Bearer(Secret::new(TOKEN))),
        ..Changes::default()
    };
    target::update(&server.db, &key, &Actor::system(), "app", &right)
        .await
        .unwrap();
    target::set_state(&server.db, &Actor::system(), "app", Switch::Resume)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert!(peer.user("frank").await.is_some());
    let names: Vec<String> = app_events(&server)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.iter().any(|n| n == "idm_integration_reauth"));
    server.stop().await;
}

#[tokio::test]
async fn repeated_failures_quarantine_the_target_and_resume_delivers_all() {
    let (_db, server) = setup("generic").await;
    let broken = ScimPeer::start(&["--fail-every", "1"]);
    for i in 0..25 {
        add_user(&server, &format!("q{i}"), true).await;
    }
    connect(
        &server.db,
        &server.config,
        "app",
        &broken,
        Changes::default(),
    )
    .await;
    let row = wait_state(&server, "quarantined").await;
    assert!(
        row.state_reason.contains("failed requests in a row"),
        "{}",
        row.state_reason
    );
    // Nothing has ever succeeded, and the status says so apart from the sync it started.
    let status = sesame::scim::control::status(&server.db, "app")
        .await
        .unwrap();
    assert_eq!(status["last_ok_at"], 0, "{status}");
    assert!(status["last_sync_at"].as_i64().unwrap() > 0, "{status}");
    // Requests already in flight when it tripped finish; after that, silence.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = broken.requests().len();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        broken.requests().len(),
        seen,
        "nothing is sent while quarantined"
    );
    // Point it at a healthy target and resume: every user arrives exactly once.
    let healthy = ScimPeer::start(&[]);
    let key = server.config.seal_key().unwrap();
    let to = Changes {
        url: Some(healthy.url.clone()),
        ..Changes::default()
    };
    target::update(&server.db, &key, &Actor::system(), "app", &to)
        .await
        .unwrap();
    target::set_state(&server.db, &Actor::system(), "app", Switch::Resume)
        .await
        .unwrap();
    settle(&server.db, "app", 30).await;
    let mut names: Vec<String> = healthy
        .users()
        .await
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 25);
    assert_eq!(healthy.users().await.len(), 25, "no duplicates");
    let status = sesame::scim::control::status(&server.db, "app")
        .await
        .unwrap();
    assert!(status["last_ok_at"].as_i64().unwrap() > 0, "{status}");
    server.stop().await;
}

async fn wait_state(server: &TestServer, state: &str) -> sesame::store::scim::TargetRow {
    for _ in 0..200 {
        let mut conn = server.db.read().await.unwrap();
        let (_, row, _) = target::get(&mut conn, "app").await.unwrap();
        if row.state.as_str() == state {
            return row;
        }
        drop(conn);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the target never became {state}");
}

#[test]
fn scim_cli_set_test_dry_run_provision_without_leaking_the_token() {
    use crate::cli::Cli;
    let peer = ScimPeer::start(&[]);
    let cli = Cli::new();
    cli.ok(&["app", "add", "bj", "--template", "bluejeans"]);
    cli.ok(&["group", "add", "staff"]);
    cli.ok(&["app", "grant", "bj", "staff"]);
    let out = cli.run_with(
        &[
            "user",
            "add",
            "gina",
            "--email",
            "gina@example.com",
            "--first-name",
            "Gina",
        ],
        None,
        &[],
    );
    assert!(out.status.success());
    cli.ok(&["group", "add-member", "staff", "gina"]);
    // Bad input: refused with one line, nothing stored.
    cli.refused(&["scim", "set", "bj", "--url", "ftp://x"], "http(s)");
    cli.refused(
        &["scim", "set", "bj", "--deprovision", "shred"],
        "deactivate or delete",
    );
    cli.refused(
        &["scim", "activate", "bj"],
        "set up Identity Management first",
    );
    cli.refused(
        &["scim", "set", "bj", "--exclude", "userName"],
        "not an optional attribute",
    );
    let trace = [("SESAME_LOG", "trace")];
    let out = cli.run_with(
        &[
            "scim",
            "set",
            "bj",
            "--url",
            &peer.url,
            "--token-stdin",
            "--exclude",
            "title",
        ],
        Some(&format!("{TOKEN}\n")),
        &trace,
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("set (write-only)") && !all.contains(TOKEN),
        "{all}"
    );
    let shown = cli.json(&["scim", "show", "bj", "--json"]);
    assert_eq!(shown["connector"], "bluejeans");
    // BlueJeans' attribute set has no manager (the connector's default), and title as asked.
    assert_eq!(shown["excluded"], serde_json::json!(["manager", "title"]));
    assert!(!shown.to_string().contains(TOKEN));

    let out = cli.run_with(&["scim", "test", "bj"], None, &trace);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && all.contains("ok: SCIM service"),
        "{all}"
    );
    assert!(
        !all.contains(TOKEN),
        "the token never appears in logs, even at trace level"
    );

    // Dry run: a plan, and nothing written (the user list is read to match accounts).
    let before = peer.requests().len();
    let plan = cli.ok(&["scim", "sync", "bj", "--dry-run"]);
    assert!(
        plan.contains("gina") && plan.contains("would create (no account matched by userName)"),
        "{plan}"
    );
    let after = peer.requests();
    assert!(
        after[before..].iter().all(|r| r["method"] == "GET"),
        "a dry run only reads"
    );

    // Provision one user now, the whole exchange shown, the token not.
    let out = cli.run_with(&["scim", "provision", "bj", "gina"], None, &trace);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("\"method\": \"POST\"") && all.contains("gina: create"),
        "{all}"
    );
    assert!(!all.contains(TOKEN));

    // What fails is named: wrong token, wrong URL, nobody listening.
    let out = cli.run_with(&["scim", "set", "bj", "--token-stdin"], Some("nope\n"), &[]);
    assert!(out.status.success());
    cli.refused(&["scim", "test", "bj"], "refused the credentials");
    let out = cli.run_with(
        &[
            "scim",
            "set",
            "bj",
            "--url",
            &format!("{}/nothing-here", peer.url),
            "--token-stdin",
        ],
        Some(&format!("{TOKEN}\n")),
        &[],
    );
    assert!(out.status.success());
    cli.refused(&["scim", "test", "bj"], "check the base URL");
    cli.ok(&["scim", "set", "bj", "--url", "http://127.0.0.1:9"]);
    cli.refused(&["scim", "test", "bj"], "connection failed");
    // Provisioning that stops short still shows what was tried, and why it stopped.
    let out = cli.run_with(
        &["user", "add", "hal", "--email", "hal@example.com"],
        None,
        &[],
    );
    assert!(out.status.success());
    cli.ok(&["group", "add-member", "staff", "hal"]);
    let out = cli.run(&["scim", "provision", "bj", "hal"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stdout.contains("\"method\": \"GET\""), "{stdout}");
    assert!(
        stderr.contains("provisioning hal stopped: will retry: Nothing answered at"),
        "{stderr}"
    );
    assert!(!stderr.contains("Retry("), "no debug formatting: {stderr}");
}

#[tokio::test]
async fn two_replicas_on_postgresql_share_the_queue_without_duplicates() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let config = crate::support::test_config(&db.url);
    let a = TestServer::start_with(config.clone()).await;
    let b = TestServer::start_with(config).await;
    let actor = Actor::system();
    groups::add(&a.db, &actor, "staff", "").await.unwrap();
    apps::add(&a.db, &actor, "app", "generic", &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&a.db, &actor, "app", "staff", true)
        .await
        .unwrap();
    for i in 0..60 {
        add_user(&a, &format!("pg{i:02}"), true).await;
    }
    let peer = ScimPeer::start(&["--delay-ms", "5"]);
    connect(&b.db, &b.config, "app", &peer, Changes::default()).await;
    settle(&a.db, "app", 60).await;
    let reqs = peer.requests();
    let posts = reqs.iter().filter(|r| r["method"] == "POST").count();
    let gets = reqs.iter().filter(|r| r["method"] == "GET").count();
    assert_eq!(
        (gets, posts),
        (60, 60),
        "each job ran once: {:?}",
        methods(&reqs)
    );
    assert_eq!(peer.users().await.len(), 60);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_deletion_threshold_pauses_mass_deprovisioning_until_approved() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    for i in 0..5 {
        add_user(&server, &format!("t{i}"), true).await;
    }
    let limit = Changes {
        deletion_threshold: Some(2),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &peer, limit).await;
    settle(&server.db, "app", 20).await;
    assert_eq!(peer.users().await.len(), 5);
    // Unbinding the group would deactivate all five: two go, then the target pauses.
    apps::set_binding(&server.db, &Actor::system(), "app", "staff", false)
        .await
        .unwrap();
    let row = wait_state(&server, "paused").await;
    assert!(row.state_reason.contains("approve"), "{}", row.state_reason);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let inactive = |users: &[Value]| users.iter().filter(|u| u["active"] == false).count();
    assert_eq!(inactive(&peer.users().await), 2, "stopped at the threshold");
    // Reject keeps the rest as they are; approve lets a batch through.
    assert_eq!(
        target::reject(&server.db, &Actor::system(), "app")
            .await
            .unwrap(),
        3
    );
    settle(&server.db, "app", 10).await;
    assert_eq!(inactive(&peer.users().await), 2);
    assert!(
        target::approve(&server.db, &Actor::system(), "app")
            .await
            .is_err(),
        "nothing paused now"
    );
    users::set_active(&server.db, &Actor::system(), "t4", false)
        .await
        .unwrap();
    wait_state(&server, "paused").await;
    target::approve(&server.db, &Actor::system(), "app")
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(
        inactive(&peer.users().await),
        3,
        "the approved deprovisioning went through"
    );
    server.stop().await;
}

#[tokio::test]
async fn reconciliation_corrects_drift_and_import_brings_users_in() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    add_user(&server, "hank", true).await;
    add_user(&server, "ivy", true).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 20).await;
    // Someone edits the target directly: hank deleted, ivy renamed.
    let hank = peer.user("hank").await.unwrap();
    peer.delete(hank["id"].as_str().unwrap()).await;
    let outside = peer.create("outsider").await;
    assert!(outside["id"].is_string());
    let key = server.config.seal_key().unwrap();
    let mut conn = server.db.read().await.unwrap();
    let live = target::live(&mut conn, &key, "app").await.unwrap();
    drop(conn);
    sesame::scim::inventory::reconcile(&server.db, &live)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert!(
        peer.user("hank").await.is_some(),
        "re-created by reconciliation"
    );
    assert!(
        peer.user("outsider").await.is_some(),
        "accounts sesame does not manage are left alone"
    );

    // Import: the outsider is new; hank and ivy are linked.
    let found = sesame::scim::inventory::list(&server.db, &live)
        .await
        .unwrap();
    let status = |name: &str| found.iter().find(|c| c.username == name).unwrap().status;
    use sesame::scim::inventory::Status;
    assert_eq!(status("outsider"), Status::New);
    assert_eq!(status("ivy"), Status::Linked);
    let chosen: Vec<_> = found
        .into_iter()
        .filter(|c| c.username == "outsider")
        .collect();
    let report = sesame::scim::inventory::import(&server.db, &Actor::system(), &chosen)
        .await
        .unwrap();
    assert!(report[0].contains("imported"), "{report:?}");
    let imported = users::get(&server.db, "outsider").await.unwrap();
    assert_eq!(imported.email, "outsider@example.com");
    server.stop().await;
}

#[tokio::test]
async fn bound_groups_are_pushed_with_their_members_in_rfc_form() {
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&[]);
    add_user(&server, "jo", true).await;
    add_user(&server, "kim", true).await;
    let push = Changes {
        push_groups: Some(true),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &peer, push).await;
    settle(&server.db, "app", 20).await;
    let group = peer
        .group("staff")
        .await
        .expect("the bound group is pushed");
    let ids = |g: &Value| {
        let mut v: Vec<String> = g["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| x["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let jo = peer.user("jo").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kim = peer.user("kim").await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut both = vec![jo.clone(), kim.clone()];
    both.sort();
    assert_eq!(ids(&group), both);

    // Removing a member: deactivated, and removed from the group with the RFC filter path.
    groups::set_member(&server.db, &Actor::system(), "staff", "kim", false)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert_eq!(ids(&peer.group("staff").await.unwrap()), vec![jo.clone()]);
    let remove = peer
        .requests()
        .into_iter()
        .rev()
        .find(|r| r["method"] == "PATCH" && r["path"].as_str().unwrap().starts_with("/Groups/"))
        .expect("a group PATCH");
    assert_eq!(
        remove["body"]["Operations"],
        serde_json::json!([{"op": "remove", "path": format!("members[value eq \"{kim}\"]")}])
    );
    // Unbinding the group deletes it in the target.
    apps::set_binding(&server.db, &Actor::system(), "app", "staff", false)
        .await
        .unwrap();
    settle(&server.db, "app", 20).await;
    assert!(peer.group("staff").await.is_none());
    let names: Vec<String> = app_events(&server)
        .await
        .into_iter()
        .map(|e| e.name)
        .collect();
    for n in [
        "group_create_provision",
        "group_update_provision",
        "group_delete_provision",
    ] {
        assert!(names.iter().any(|x| x == n), "no {n}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_409_on_create_is_resolved_by_looking_up_and_linking() {
    // A target whose search lags behind its writes: the look-up misses an account that
    // exists, the create answers 409, and the bridge must find and link it, not duplicate.
    let (_db, server) = setup("generic").await;
    let peer = ScimPeer::start(&["--stale-ms", "1500"]);
    let existing = peer.create("lena").await;
    add_user(&server, "lena", true).await;
    connect(&server.db, &server.config, "app", &peer, Changes::default()).await;
    settle(&server.db, "app", 30).await;
    let reqs = peer.requests();
    assert!(
        reqs.iter()
            .any(|r| r["method"] == "POST" && r["status"] == 409),
        "the create collided: {:?}",
        methods(&reqs)
    );
    let lenas: Vec<_> = peer
        .users()
        .await
        .into_iter()
        .filter(|u| u["userName"] == "lena")
        .collect();
    assert_eq!(lenas.len(), 1, "never duplicated");
    assert_eq!(lenas[0]["id"], existing["id"]);
    assert_eq!(
        lenas[0]["name"]["givenName"], "First",
        "linked, then brought up to date"
    );
    server.stop().await;
}
