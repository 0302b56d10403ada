//! Inbound SCIM benchmark (bench/inbound.sh): an in-process sesame (real SQLite store, HTTP
//! server, queue and worker) taking user creates at `/scim/v2/Users` from C concurrent
//! clients, with an app in scope "all" provisioning every new user to an outbound SCIM
//! target. Reports inbound creates/s (HTTP answered 201), propagation from the inbound
//! create's answer to the outbound account's link (the target answered the POST) for the
//! burst, p50/p99, and then for P creates one at a time (an idle queue).
//!
//! inbound_bench --target URL --token T --users N [--clients C] [--paced P]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sesame::app;
use sesame::config::Config;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::Actor;
use sesame::scim::secret::Secret;
use sesame::scim::target::{self, Changes, Credential, Switch};
use sesame::store::Db;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let url = arg("--target").expect("--target URL");
    let token = arg("--token").expect("--token");
    let n: usize = arg("--users").map_or(2000, |v| v.parse().unwrap());
    let clients: usize = arg("--clients").map_or(8, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let env: BTreeMap<String, String> = [
        (
            "SESAME_DATABASE_URL",
            format!("sqlite://{}/s.db", dir.path().display()),
        ),
        (
            "SESAME_CERTS_DIR",
            format!("{}/certs", dir.path().display()),
        ),
        ("SESAME_LISTEN", "127.0.0.1:0".into()),
        ("SESAME_ADMIN_PASSWORD", "bench-admin-password".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_sources(None, &env).unwrap();
    let db = Db::connect(&config.database_url).await.unwrap();
    let actor = Actor::system();
    apps::add(&db, &actor, "bench", "generic", &AppChanges::default())
        .await
        .unwrap();
    let key = config.seal_key().unwrap();
    let set = Changes {
        url: Some(url),
        credential: Some(Credential::Bearer(Secret::new(token))),
        scope: Some("all".into()),
        ..Changes::default()
    };
    target::update(&db, &key, &actor, "bench", &set)
        .await
        .unwrap();
    target::set_state(&db, &actor, "bench", Switch::Activate)
        .await
        .unwrap();
    let source_token = sesame::inbound::sources::create(&db, &actor, "bench")
        .await
        .unwrap();
    let running = app::start(config.clone(), db.clone()).await.unwrap();
    let base = format!("http://{}/scim/v2/Users", running.addr);

    // Inbound creates from C clients; each remembers when its 201 came back.
    let http = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, base, tok, next) = (
            http.clone(),
            base.clone(),
            source_token.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return answered;
                }
                let name = format!("inbound{i:05}");
                let body = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name,
                    "name": { "givenName": "In", "familyName": format!("Bound{i}") },
                    "emails": [{ "value": format!("{name}@example.com"), "type": "work", "primary": true }],
                    "active": true,
                });
                let res = http.post(&base).bearer_auth(&tok).json(&body).send().await.unwrap();
                assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap_or_default());
                answered.push((name, now_ms()));
            }
        }));
    }
    let mut answered = Vec::new();
    for t in tasks {
        answered.extend(t.await.unwrap());
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "inbound creates: users={n} clients={clients} time={secs:.1}s creates_per_second={:.0}",
        n as f64 / secs
    );

    // Propagation: until every inbound user is linked at the outbound target.
    let deadline = Instant::now() + Duration::from_secs(600);
    let links = loop {
        let mut conn = db.read().await.unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT u.username, l.updated_at FROM scim_links l JOIN users u ON u.id = l.user_id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        if rows.len() >= n || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let linked: BTreeMap<String, i64> = links.into_iter().collect();
    let mut lat: Vec<f64> = answered
        .iter()
        .filter_map(|(name, at)| linked.get(name).map(|l| (l - at).max(0) as f64))
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "propagation (inbound 201 -> outbound account linked): linked={}/{n} p50={:.0}ms p99={:.0}ms max={:.0}ms total={:.1}s",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        t0.elapsed().as_secs_f64()
    );

    // One create at a time, the queue empty: inbound 201 to the outbound account linked.
    let paced: usize = arg("--paced").map_or(100, |v| v.parse().unwrap());
    let mut lat = Vec::with_capacity(paced);
    for i in 0..paced {
        let name = format!("paced{i:04}");
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "emails": [{ "value": format!("{name}@example.com"), "primary": true }],
        });
        let t = Instant::now();
        let res = http
            .post(&base)
            .bearer_auth(&source_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        loop {
            let mut conn = db.read().await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM scim_links l JOIN users u ON u.id = l.user_id \
                 WHERE u.username = $1",
            )
            .bind(&name)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
            if n > 0 {
                break;
            }
            drop(conn);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "propagation, one at a time (inbound POST -> outbound account linked): n={paced} p50={:.0}ms p99={:.0}ms max={:.0}ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    running.stop().await.unwrap();
}
