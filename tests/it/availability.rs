//! Staying up (issue 10), at the store's level on both backends: a transaction whose
//! `BEGIN` is cancelled half-way never goes back to the pool (the wedge that turned every
//! SSO into a 500 until restart), a replayed request ID is refused exactly once however
//! many arrive together, and app settings changed by another process reach a running
//! server's cache.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sesame::directory::apps::{self, AppChanges};
use sesame::directory::Actor;
use sesame::saml::cache::AppCache;
use sesame::saml::settings::{self, SsoChanges};
use sesame::store::events::NewEvent;
use sesame::store::sessions::DbSessionStore;
use sesame::store::{Db, Small};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::support::TestDb;

async fn on_both<F, Fut>(body: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    body(TestDb::sqlite()).await;
    if let Some(pg) = TestDb::postgres().await {
        body(pg).await;
    }
}

/// Polls `fut` once without waiting: what a request future goes through when the client
/// disconnects while it runs (hyper drops it at whatever `.await` it reached).
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    matches!(fut.poll(&mut cx), Poll::Ready(_))
}

#[tokio::test]
async fn a_cancelled_begin_never_leaves_a_transaction_in_the_pool() {
    on_both(|tdb| async move {
        let db = tdb.connect().await;
        // Cancel `begin` at every point it can be cancelled: after 1, 2 or 3 polls, with
        // the connection's worker given 0–3 ms between them to run the `BEGIN`.
        for round in 0..48u64 {
            let mut fut = pin!(db.begin());
            for _ in 0..(1 + round % 3) {
                if poll_once(fut.as_mut()) {
                    break;
                }
                tokio::time::sleep(Duration::from_micros(round % 4 * 1000)).await;
            }
        }
        // Every write must still go through, promptly: nobody holds the write lock. Single
        // statements first: on a connection left inside a transaction they would not be
        // committed, and other connections would not see them.
        for i in 0..8 {
            let mut conn = db.write().await.unwrap();
            sqlx::query("INSERT INTO groups (name, name_key, description, created_at) VALUES ($1, $1, '', 0)")
                .bind(format!("w{i}"))
                .execute(&mut *conn)
                .await
                .expect("single write after cancellations");
        }
        let mut seen = db.read().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups WHERE name LIKE 'w%'")
            .fetch_one(&mut *seen)
            .await
            .unwrap();
        assert_eq!(n, 8, "single writes are committed at once");
        drop(seen);
        let writes = async {
            for i in 0..10 {
                let mut tx = db.begin().await.expect("begin after cancellations");
                sqlx::query("INSERT INTO groups (name, name_key, description, created_at) VALUES ($1, $1, '', 0)")
                    .bind(format!("g{i}"))
                    .execute(&mut *tx)
                    .await
                    .expect("write after cancellations");
                tx.commit().await.expect("commit after cancellations");
            }
        };
        tokio::time::timeout(Duration::from_secs(20), writes)
            .await
            .expect("writes did not wedge");
        if tdb.url.starts_with("sqlite:") {
            // And no connection of the pool sits on SQLite's file lock: another process
            // (here, another handle on the file) takes it at once.
            let other = Db::connect_with(&tdb.url, Duration::from_millis(500))
                .await
                .unwrap();
            let mut tx = other.begin().await.expect("the file lock is free");
            sqlx::query("INSERT INTO groups (name, name_key, description, created_at) VALUES ('other', 'other', '', 0)")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let mut conn = db.read().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let expected = if tdb.url.starts_with("sqlite:") { 19 } else { 18 };
        assert_eq!(n, expected, "every committed write is there, nothing else");
    })
    .await;
}

#[tokio::test]
async fn a_session_ended_meanwhile_is_not_brought_back_by_a_late_save() {
    on_both(|tdb| async move {
        let db = tdb.connect().await;
        let store = DbSessionStore::new(db.clone());
        let mut record = Record {
            id: Id::default(),
            data: [("uid".to_string(), serde_json::json!(7))].into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut record).await.unwrap();
        // Sign-out deletes the row while another request of the same browser still holds
        // the session and saves it (a touch) afterwards.
        store.delete(&record.id).await.unwrap();
        store.save(&record).await.unwrap();
        assert!(
            store.load(&record.id).await.unwrap().is_none(),
            "the ended session stays ended"
        );
    })
    .await;
}

#[tokio::test]
async fn a_request_id_arriving_many_times_at_once_is_accepted_once() {
    on_both(|tdb| async move {
        let db = tdb.connect().await;
        let app = apps::add(
            &db,
            &Actor::cli(),
            "wiki",
            "generic",
            &AppChanges::default(),
        )
        .await
        .unwrap();
        let tries = (0..40).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                db.group(Small::FirstSight {
                    app_id: app.id,
                    request_id: "_same".into(),
                    expires_at: i64::MAX,
                    event: NewEvent {
                        name: "sso_auth",
                        actor: "user:x".into(),
                        outcome: "success",
                        ..NewEvent::default()
                    },
                })
                .await
                .expect("group commit")
            })
        });
        let mut accepted = 0;
        for t in tries {
            accepted += usize::from(t.await.unwrap());
        }
        assert_eq!(accepted, 1, "exactly one of 40 identical IDs is accepted");
        let mut conn = db.read().await.unwrap();
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE name = 'sso_auth'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(events, 1, "refused duplicates write no event");
    })
    .await;
}

#[tokio::test]
async fn app_settings_changed_by_another_process_reach_the_cache() {
    on_both(|tdb| async move {
        let server = tdb.connect().await;
        let a = Actor::cli();
        apps::add(&server, &a, "wiki", "generic", &AppChanges::default())
            .await
            .unwrap();
        let set = |db: Db, acs: &'static str| async move {
            let changes = SsoChanges {
                sp_entity_id: Some("https://sp.example".into()),
                acs_urls: Some(vec![acs.to_string()]),
                ..SsoChanges::default()
            };
            settings::update(&db, &Actor::cli(), "wiki", &changes)
                .await
                .unwrap();
        };
        let cache = AppCache::default();
        set(server.clone(), "https://sp.example/one").await;
        let acs = |v: &sesame::saml::cache::Settings| v.1.default_acs().unwrap_or("").to_string();
        assert_eq!(
            acs(&cache.get(&server, "wiki").await.unwrap()),
            "https://sp.example/one"
        );
        // This process's own change is seen at once.
        set(server.clone(), "https://sp.example/two").await;
        assert_eq!(
            acs(&cache.get(&server, "wiki").await.unwrap()),
            "https://sp.example/two"
        );
        // Another process (its own handle, as the CLI has) changes it: the server sees it
        // once its poller has read the change counter.
        let cli = tdb.connect().await;
        set(cli, "https://sp.example/three").await;
        assert_eq!(
            acs(&cache.get(&server, "wiki").await.unwrap()),
            "https://sp.example/two",
            "until the counter is read, the cached copy is used (no query per request)"
        );
        server.poll_changes().await.unwrap();
        assert_eq!(
            acs(&cache.get(&server, "wiki").await.unwrap()),
            "https://sp.example/three"
        );
    })
    .await;
}
