//! One mail when a SCIM target is quarantined or stopped, however many requests fail, and
//! one when it runs again; the app's notification address through the API.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::scim::target::{self, Changes, Switch};

use super::Api;
use crate::scim_peer::{connect, settle, ScimPeer};
use crate::smtp_peer::SmtpSink;
use crate::support::{TestDb, TestServer};

async fn scim_setup(server: &TestServer, users: usize) {
    let actor = Actor::system();
    groups::add(&server.db, &actor, "staff", "").await.unwrap();
    let label = AppChanges {
        label: Some("Team Wiki".into()),
        ..AppChanges::default()
    };
    apps::add(&server.db, &actor, "app", "generic", &label)
        .await
        .unwrap();
    apps::set_binding(&server.db, &actor, "app", "staff", true)
        .await
        .unwrap();
    for i in 0..users {
        let name = format!("u{i}");
        let f = UserFields {
            email: Some(format!("{name}@example.com")),
            first_name: Some("First".into()),
            last_name: Some("Last".into()),
            ..UserFields::default()
        };
        users::add(&server.db, &actor, &name, &f, None)
            .await
            .unwrap();
        groups::set_member(&server.db, &actor, "staff", &name, true)
            .await
            .unwrap();
    }
}

async fn wait_state(server: &TestServer, state: &str) {
    for _ in 0..300 {
        let mut conn = server.db.read().await.unwrap();
        let (_, row, _) = target::get(&mut conn, "app").await.unwrap();
        if row.state.as_str() == state {
            return;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the target never became {state}");
}

#[tokio::test]
async fn a_quarantined_target_mails_once_and_once_more_when_it_runs_again() {
    let sink = SmtpSink::start(None);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let key = server.config.seal_key().unwrap();
    sink.configure(&server.db, &key, None).await;
    scim_setup(&server, 25).await;
    let broken = ScimPeer::start(&["--fail-every", "1"]);
    let notify = Changes {
        notify_email: Some("ops@example.com".into()),
        ..Changes::default()
    };
    connect(&server.db, &server.config, "app", &broken, notify).await;
    wait_state(&server, "quarantined").await;
    let mails = sink.wait_for("ops@example.com", 1, 20).await;
    // Many failed requests, and no more mail for them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(broken.requests().len() >= 20, "{}", broken.requests().len());
    assert_eq!(
        sink.to("ops@example.com").len(),
        1,
        "one mail per state change"
    );
    let m = &mails[0];
    assert!(
        m.subject().contains("Team Wiki") && m.subject().contains("quarantined"),
        "{}",
        m.subject()
    );
    assert!(m.data.contains("failed requests in a row"), "{}", m.data);
    let console = format!("http://{}/admin/apps/app/idm", server.addr);
    assert!(m.data.contains(&console), "{}", m.data);

    // Fixed and resumed: one mail that it runs again, none while it catches up.
    let healthy = ScimPeer::start(&[]);
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
    let mails = sink.wait_for("ops@example.com", 2, 20).await;
    assert!(
        mails[1].subject().contains("runs again"),
        "{}",
        mails[1].subject()
    );
    assert!(
        mails[1].data.contains("was quarantined"),
        "{}",
        mails[1].data
    );
    settle(&server.db, "app", 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.to("ops@example.com").len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn refused_credentials_mail_once_and_the_address_is_set_through_the_api() {
    let sink = SmtpSink::start(None);
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let key = server.config.seal_key().unwrap();
    sink.configure(&server.db, &key, None).await;
    scim_setup(&server, 5).await;
    let api = Api::new(&server).await;
    let peer = ScimPeer::start(&[]);
    let body =
        json!({ "url": peer.url, "token": "wrong-token", "notify_email": "idm@example.com" });
    let (s, v) = api
        .call(Method::PATCH, "/api/v1/apps/app/scim", Some(body))
        .await;
    assert!(s == 200 || s == 201, "{s} {v}");
    let (s, v) = api
        .call(
            Method::PATCH,
            "/api/v1/apps/app/scim",
            Some(json!({ "notify_email": "not an address" })),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (_, shown) = api.call(Method::GET, "/api/v1/apps/app/scim", None).await;
    assert_eq!(shown["notify_email"], "idm@example.com", "{shown}");
    target::set_state(&server.db, &Actor::system(), "app", Switch::Activate)
        .await
        .unwrap();
    wait_state(&server, "stopped").await;
    let mails = sink.wait_for("idm@example.com", 1, 20).await;
    assert!(
        mails[0].subject().contains("stopped"),
        "{}",
        mails[0].subject()
    );
    assert!(
        mails[0].data.contains("refused the credentials"),
        "{}",
        mails[0].data
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.to("idm@example.com").len(), 1);
    server.stop().await;
}
