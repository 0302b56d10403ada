//! Password sync end to end through `sesame serve` as a process with its log at debug: the
//! setting round-trips through the CLI, the API, `export`/`apply` and the console; a password
//! set with the CLI (an admin's reset) reaches the target once, and the password appears in
//! no event, no line of the server's log and no byte of the database files.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process::{OutputText, Server};
use crate::scim_peer::{ScimPeer, TOKEN};

const SECRET: &str = "Tr0ub4dor-and-3-more-words";

fn api(
    server: &Server,
    token: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", server.base()))
        .bearer_auth(token)
}

async fn scim_settings(server: &Server, token: &str) -> Value {
    api(server, token, reqwest::Method::GET, "/api/v1/apps/app/scim")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_sync_round_trips_and_the_password_is_sent_once_and_kept_nowhere() {
    let peer = ScimPeer::start(&[]);
    let mut server = Server::new(&[("SESAME_LOG", "debug")]);
    server.start().await;
    let cli = server.cli();
    cli.ok(&["group", "add", "staff"]);
    cli.ok(&["app", "add", "app", "--template", "generic"]);
    cli.ok(&["app", "grant", "app", "staff"]);
    cli.ok_stdin(
        &[
            "user",
            "add",
            "dana",
            "--email",
            "dana@example.com",
            "--password-stdin",
        ],
        "a-first-password-that-is-long\n",
    );
    cli.ok(&["group", "add-member", "staff", "dana"]);

    // CLI: set, shown.
    cli.ok_stdin(
        &[
            "scim",
            "set",
            "app",
            "--url",
            &peer.url,
            "--token-stdin",
            "--password-sync",
            "true",
        ],
        &format!("{TOKEN}\n"),
    );
    assert_eq!(
        cli.json(&["scim", "show", "app", "--json"])["password_sync"],
        true
    );

    // API: read, switched off and on again.
    let token = cli
        .ok(&["admin-token", "create", "t", "--user", "admin"])
        .trim()
        .to_string();
    assert_eq!(scim_settings(&server, &token).await["password_sync"], true);
    for on in [false, true] {
        let res = api(
            &server,
            &token,
            reqwest::Method::PATCH,
            "/api/v1/apps/app/scim",
        )
        .json(&json!({ "password_sync": on }))
        .send()
        .await
        .unwrap();
        assert!(res.status().is_success(), "{:?}", res.text().await);
        assert_eq!(scim_settings(&server, &token).await["password_sync"], on);
    }

    // Declarations: exported, and applying the export plans nothing.
    let exported = cli.ok(&["export"]);
    assert!(exported.contains("password_sync = true"), "{exported}");

    cli.ok(&["scim", "test", "app"]);
    cli.ok(&["scim", "activate", "app"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.user("dana").await.is_none() {
        assert!(Instant::now() < deadline, "dana never provisioned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An admin's reset (the CLI), which sesame syncs.
    cli.ok_stdin(
        &["user", "passwd", "dana", "--password-stdin"],
        &format!("{SECRET}\n"),
    );
    let carrying = |p: &ScimPeer| {
        p.requests()
            .into_iter()
            .filter(|r| r["body"].to_string().contains("password"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while carrying(&peer) == 0 {
        assert!(Instant::now() < deadline, "the password never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(carrying(&peer), 1, "sent exactly once");
    let sent = peer
        .requests()
        .into_iter()
        .find(|r| r["body"].to_string().contains("password"))
        .unwrap();
    assert_eq!(sent["body"]["Operations"][0]["value"], SECRET);

    let events = cli.run(&["events", "--app", "app", "--json"], None);
    let events = events.stdout_text();
    assert!(events.contains("password_sync"), "{events}");
    assert!(!events.contains(SECRET), "the password in an event");
    // The CLI renames a group (the console and the API have their own tests).
    cli.ok(&[
        "group",
        "set",
        "staff",
        "--name",
        "crew",
        "--description",
        "all of us",
    ]);
    let crew = cli.json(&["group", "show", "crew", "--json"]);
    assert_eq!(crew["description"], "all of us");
    assert_eq!(crew["member_names"], json!(["dana"]));
    server.kill();
    let log = std::fs::read_to_string(server.log_file()).unwrap();
    assert!(log.contains("DEBUG"), "the log ran at debug");
    assert!(!log.contains(SECRET), "the password in the server's log");
    let db = server.db_file().display().to_string();
    for file in [db.clone(), format!("{db}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
            assert!(!found, "the password in clear in {file}");
        }
    }
}
