//! The directory and store on both backends: each test body runs on SQLite and on
//! PostgreSQL and must behave the same.

use std::future::Future;

use sesame::auth::password::Password;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{access, groups, Actor, DirectoryError};
use sesame::store::events::{self, EventFilter};
use sesame::store::sessions::DbSessionStore;
use sesame::store::Db;
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::support::TestDb;

async fn on_both<F, Fut>(body: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let sqlite = TestDb::sqlite();
    body(sqlite.connect().await).await;
    if let Some(pg) = TestDb::postgres().await {
        body(pg.connect().await).await;
    }
}

fn email(e: &str) -> UserFields {
    UserFields {
        email: Some(e.into()),
        ..UserFields::default()
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    let mut conn = db.read().await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut *conn).await.unwrap()
}

async fn event_names(db: &Db) -> Vec<String> {
    let mut conn = db.read().await.unwrap();
    let f = EventFilter {
        limit: 1000,
        ..EventFilter::default()
    };
    events::list(&mut conn, &f)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

#[tokio::test]
async fn users_are_unique_case_insensitively_and_refusals_change_nothing() {
    on_both(|db| async move {
        let a = Actor::cli();
        let alice = users::add(&db, &a, "Alice", &email("Alice@Example.com"), None)
            .await
            .unwrap();
        assert_eq!(alice.username, "Alice");
        assert!(alice.active && !alice.is_admin);
        assert_eq!(users::get(&db, "ALICE").await.unwrap().id, alice.id);
        let before = (
            count(&db, "SELECT COUNT(*) FROM users").await,
            count(&db, "SELECT COUNT(*) FROM events").await,
        );

        let dup = users::add(&db, &a, "alice", &email("other@example.com"), None)
            .await
            .unwrap_err();
        assert!(matches!(dup, DirectoryError::Duplicate(_)), "{dup}");
        let dup_mail = users::add(&db, &a, "bob", &email("alice@EXAMPLE.com"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(dup_mail, DirectoryError::Duplicate(_)),
            "{dup_mail}"
        );
        let bad_mail = users::add(&db, &a, "bob", &email("not-an-email"), None)
            .await
            .unwrap_err();
        assert!(matches!(bad_mail, DirectoryError::Invalid(_)));
        let bad_manager = UserFields {
            manager: Some("ghost".into()),
            ..email("bob@example.com")
        };
        assert!(matches!(
            users::add(&db, &a, "bob", &bad_manager, None).await,
            Err(DirectoryError::NotFound(_))
        ));
        let after = (
            count(&db, "SELECT COUNT(*) FROM users").await,
            count(&db, "SELECT COUNT(*) FROM events").await,
        );
        assert_eq!(
            before, after,
            "refused changes write neither rows nor events"
        );
    })
    .await;
}

#[tokio::test]
async fn profile_edits_are_audited_field_by_field() {
    on_both(|db| async move {
        let a = Actor("admin:root".into());
        users::add(&db, &a, "boss", &email("boss@example.com"), None)
            .await
            .unwrap();
        users::add(&db, &a, "carol", &email("carol@example.com"), None)
            .await
            .unwrap();
        let edit = UserFields {
            title: Some("Engineer".into()),
            manager: Some("boss".into()),
            ..UserFields::default()
        };
        let carol = users::update(&db, &a, "carol", &edit).await.unwrap();
        assert_eq!(carol.title, "Engineer");
        assert_eq!(carol.manager.as_deref(), Some("boss"));
        let clear = UserFields {
            title: Some(String::new()),
            ..UserFields::default()
        };
        assert_eq!(
            users::update(&db, &a, "carol", &clear).await.unwrap().title,
            ""
        );
        let mut conn = db.read().await.unwrap();
        let f = EventFilter {
            name: Some("user_update".into()),
            limit: 10,
            ..EventFilter::default()
        };
        let evs = events::list(&mut conn, &f).await.unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].actor, "admin:root");
        assert_eq!(evs[0].username.as_deref(), Some("carol"));
        let detail: serde_json::Value = serde_json::from_str(&evs[0].detail).unwrap();
        assert_eq!(detail["changes"]["title"]["to"], "Engineer");
        assert_eq!(detail["changes"]["manager"]["to"], "boss");
        assert!(
            detail["changes"].get("email").is_none(),
            "unchanged fields are not listed"
        );
        // Deleting the manager clears the reference.
        drop(conn);
        users::delete(&db, &a, "boss").await.unwrap();
        assert_eq!(users::get(&db, "carol").await.unwrap().manager, None);
    })
    .await;
}

#[tokio::test]
async fn access_rule_needs_active_member_bound_group_and_enabled_app() {
    on_both(|db| async move {
        let a = Actor::system();
        let u = users::add(&db, &a, "dave", &email("dave@example.com"), None)
            .await
            .unwrap();
        groups::add(&db, &a, "Eng", "engineers").await.unwrap();
        let app = apps::add(&db, &a, "wiki", "jive", &AppChanges::default())
            .await
            .unwrap();
        assert_eq!(app.label, "Jive", "template defaults apply");
        let may = |db: Db| async move {
            let mut conn = db.read().await.unwrap();
            access::may_use(&mut conn, u.id, app.id).await.unwrap()
        };
        assert!(!may(db.clone()).await, "implicitly denied");
        groups::set_member(&db, &a, "eng", "DAVE", true)
            .await
            .unwrap();
        assert!(!may(db.clone()).await, "member, but the group is not bound");
        assert!(apps::set_binding(&db, &a, "wiki", "eng", true)
            .await
            .unwrap());
        assert!(
            !apps::set_binding(&db, &a, "wiki", "eng", true)
                .await
                .unwrap(),
            "binding twice is a no-op"
        );
        assert!(may(db.clone()).await);
        let mut conn = db.read().await.unwrap();
        assert_eq!(
            access::users_of(&mut conn, app.id).await.unwrap(),
            vec![u.id]
        );
        drop(conn);
        apps::update(
            &db,
            &a,
            "wiki",
            &AppChanges {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(!may(db.clone()).await, "app disabled");
        apps::update(
            &db,
            &a,
            "wiki",
            &AppChanges {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        users::set_active(&db, &a, "dave", false).await.unwrap();
        assert!(!may(db.clone()).await, "user suspended");
        users::set_active(&db, &a, "dave", true).await.unwrap();
        assert!(may(db.clone()).await);
        groups::delete(&db, &a, "eng").await.unwrap();
        assert!(
            !may(db.clone()).await,
            "group deleted: membership and binding go with it"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) FROM app_groups").await, 0);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM memberships").await, 0);
        let names = event_names(&db).await;
        for n in [
            "user_create",
            "group_create",
            "app_create",
            "group_member_add",
            "app_group_bind",
            "app_update",
            "user_suspend",
            "user_activate",
            "group_delete",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert_eq!(
            names.iter().filter(|n| *n == "app_group_bind").count(),
            1,
            "no-op writes no event"
        );
    })
    .await;
}

#[tokio::test]
async fn apps_slugs_templates_and_deletes() {
    on_both(|db| async move {
        let a = Actor::system();
        for bad in ["Has-Caps", "under_score", "", &"x".repeat(64)] {
            assert!(
                matches!(
                    apps::add(&db, &a, bad, "generic", &AppChanges::default()).await,
                    Err(DirectoryError::Invalid(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            apps::add(&db, &a, "ok", "salesforce", &AppChanges::default()).await,
            Err(DirectoryError::Invalid(_))
        ));
        assert!(matches!(
            apps::add(
                &db,
                &a,
                "ok",
                "generic",
                &AppChanges {
                    color: Some("blue".into()),
                    ..Default::default()
                }
            )
            .await,
            Err(DirectoryError::Invalid(_))
        ));
        apps::add(&db, &a, "bj", "bluejeans", &AppChanges::default())
            .await
            .unwrap();
        assert!(matches!(
            apps::add(&db, &a, "bj", "generic", &AppChanges::default()).await,
            Err(DirectoryError::Duplicate(_))
        ));
        groups::add(&db, &a, "g", "").await.unwrap();
        apps::set_binding(&db, &a, "bj", "g", true).await.unwrap();
        assert!(matches!(
            apps::set_binding(&db, &a, "bj", "nope", true).await,
            Err(DirectoryError::NotFound(_))
        ));
        assert_eq!(apps::show(&db, "bj").await.unwrap().groups, vec!["g"]);
        apps::delete(&db, &a, "bj").await.unwrap();
        assert_eq!(count(&db, "SELECT COUNT(*) FROM app_groups").await, 0);
        assert!(matches!(
            apps::get(&db, "bj").await,
            Err(DirectoryError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed() {
    on_both(|db| async move {
        let pw = Password::new("first-admin-pass".into()).unwrap();
        assert_eq!(
            users::ensure_admin(&db, &pw, false)
                .await
                .unwrap()
                .as_deref(),
            Some("admin")
        );
        let a = Actor::cli();
        assert!(matches!(
            users::delete(&db, &a, "admin").await,
            Err(DirectoryError::Invalid(_))
        ));
        assert!(matches!(
            users::set_active(&db, &a, "admin", false).await,
            Err(DirectoryError::Invalid(_))
        ));
        users::add(
            &db,
            &a,
            "second",
            &UserFields {
                is_admin: Some(true),
                ..email("s@example.com")
            },
            None,
        )
        .await
        .unwrap();
        users::delete(&db, &a, "admin").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn sessions_round_trip_expire_and_are_stored_hashed() {
    on_both(|db| async move {
        let store = DbSessionStore::new(db.clone());
        let mut record = Record {
            id: Id::default(),
            data: [("uid".to_string(), serde_json::json!(7))]
                .into_iter()
                .collect(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut record).await.unwrap();
        let loaded = store.load(&record.id).await.unwrap().expect("stored");
        assert_eq!(loaded.data, record.data);
        let mut conn = db.read().await.unwrap();
        let keys: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1);
        assert_ne!(
            keys[0],
            record.id.to_string(),
            "the raw session id is not stored"
        );
        drop(conn);
        record.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
        store.save(&record).await.unwrap();
        assert!(
            store.load(&record.id).await.unwrap().is_none(),
            "expired sessions do not load"
        );
        assert_eq!(store.delete_expired().await.unwrap(), 1);
        store.delete(&record.id).await.unwrap();
    })
    .await;
}
