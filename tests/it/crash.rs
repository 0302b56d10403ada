//! Crash safety (SECURITY 15): `sesame serve` is killed with SIGKILL in the middle of an
//! initial sync of a few hundred users, started again, and at quiescence the target holds
//! exactly one correct account per in-scope user.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sesame::config::Config;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::scim::target::Changes;
use sesame::store::Db;

use crate::scim_peer::{connect, settle, ScimPeer};

const USERS: usize = 300;

fn serve(env: &[(String, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .arg("serve")
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sesame serve")
}

#[tokio::test]
async fn a_killed_server_resumes_without_losing_or_duplicating_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        (
            "SESAME_DATABASE_URL",
            format!("sqlite://{}/sesame.db", dir.path().display()),
        ),
        (
            "SESAME_CERTS_DIR",
            format!("{}/certs", dir.path().display()),
        ),
        ("SESAME_LISTEN", "127.0.0.1:0".to_string()),
        ("SESAME_ADMIN_PASSWORD", "crash-test-admin-pw".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let map: std::collections::BTreeMap<String, String> = env.iter().cloned().collect();
    let config = Config::from_sources(None, &map).unwrap();
    let db = Db::connect(&config.database_url).await.unwrap();
    let actor = Actor::system();
    groups::add(&db, &actor, "all", "").await.unwrap();
    apps::add(&db, &actor, "app", "generic", &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&db, &actor, "app", "all", true)
        .await
        .unwrap();
    for i in 0..USERS {
        let name = format!("crash{i:03}");
        let f = UserFields {
            email: Some(format!("{name}@example.com")),
            first_name: Some(format!("N{i}")),
            ..UserFields::default()
        };
        users::add(&db, &actor, &name, &f, None).await.unwrap();
        groups::set_member(&db, &actor, "all", &name, true)
            .await
            .unwrap();
    }
    // A slow target, so the kill lands mid-sync.
    let peer = ScimPeer::start(&["--delay-ms", "10"]);
    connect(&db, &config, "app", &peer, Changes::default()).await;

    let mut first = serve(&env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while peer
        .requests()
        .iter()
        .filter(|r| r["method"] == "POST")
        .count()
        < 40
    {
        assert!(Instant::now() < deadline, "the sync did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let posted = peer
        .requests()
        .iter()
        .filter(|r| r["method"] == "POST")
        .count();
    assert!(posted < USERS, "killed mid-sync ({posted} created)");

    let mut second = serve(&env);
    settle(&db, "app", 180).await;
    second.kill().unwrap();
    second.wait().unwrap();

    let mut count: HashMap<String, usize> = HashMap::new();
    for u in peer.users().await {
        *count
            .entry(u["userName"].as_str().unwrap().to_string())
            .or_default() += 1;
        let i: usize = u["userName"].as_str().unwrap()[5..].parse().unwrap();
        assert_eq!(u["name"]["givenName"], format!("N{i}"), "correct account");
        assert_eq!(u["active"], true);
    }
    assert_eq!(count.len(), USERS, "everyone in scope has an account");
    assert!(count.values().all(|n| *n == 1), "no duplicates");
}
