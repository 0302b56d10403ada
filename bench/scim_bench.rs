//! SCIM bridge benchmark (bench/scim.sh): an in-process sesame (its real store, queue and
//! worker) provisioning N users to a SCIM target, then single changes for propagation
//! latency. Reports requests/s achieved, the share of the target's allowed rate, the
//! worker's CPU per request (writes/s per core), and change → request latency p50/p99.
//!
//! scim_bench --target URL --token T --users N [--rate R] [--changes K]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sesame::app;
use sesame::config::Config;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::scim::secret::Secret;
use sesame::scim::target::{self, Changes, Credential, Switch};
use sesame::store::events::{self, EventFilter};
use sesame::store::Db;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// This process's CPU time (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

async fn provision_requests(db: &Db) -> i64 {
    let mut conn = db.read().await.unwrap();
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE app_slug = 'bench' AND status IS NOT NULL",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

async fn accepted_requests(db: &Db) -> i64 {
    let mut conn = db.read().await.unwrap();
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE app_slug = 'bench' AND status IS NOT NULL AND status <> 429",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

async fn queued(db: &Db) -> i64 {
    let mut conn = db.read().await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM scim_jobs")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
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
    let n: usize = arg("--users").map_or(10_000, |v| v.parse().unwrap());
    let rate: Option<f64> = arg("--rate").map(|v| v.parse().unwrap());
    let changes: usize = arg("--changes").map_or(100, |v| v.parse().unwrap());
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
        (
            "SESAME_SCIM_CONCURRENCY",
            arg("--concurrency").unwrap_or("8".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_sources(None, &env).unwrap();
    let db = Db::connect(&config.database_url).await.unwrap();
    let actor = Actor::system();
    groups::add(&db, &actor, "all", "").await.unwrap();
    apps::add(&db, &actor, "bench", "generic", &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&db, &actor, "bench", "all", true)
        .await
        .unwrap();
    eprintln!("creating {n} users...");
    for i in 0..n {
        let name = format!("bench{i:05}");
        let f = UserFields {
            email: Some(format!("{name}@example.com")),
            first_name: Some("Bench".into()),
            last_name: Some(format!("User{i}")),
            ..UserFields::default()
        };
        users::add(&db, &actor, &name, &f, None).await.unwrap();
        groups::set_member(&db, &actor, "all", &name, true)
            .await
            .unwrap();
    }
    let key = config.seal_key().unwrap();
    let set = Changes {
        url: Some(url),
        credential: Some(Credential::Bearer(Secret::new(token))),
        ..Changes::default()
    };
    target::update(&db, &key, &actor, "bench", &set)
        .await
        .unwrap();
    let running = app::start(config.clone(), db.clone()).await.unwrap();

    // Initial sync.
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    target::set_state(&db, &actor, "bench", Switch::Activate)
        .await
        .unwrap();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if queued(&db).await == 0 {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let reqs = provision_requests(&db).await;
    let accepted = accepted_requests(&db).await;
    let achieved = accepted as f64 / secs;
    println!(
        "initial sync: users={n} requests={reqs} accepted={accepted} time={secs:.1}s accepted_rate={achieved:.1}/s{} cpu={cpu:.1}s writes_per_cpu_second={:.0}",
        rate.map_or(String::new(), |r| format!(" share_of_allowed={:.1}%", 100.0 * achieved / r)),
        reqs as f64 / cpu.max(0.001)
    );

    // Propagation: one change at a time, from commit to the request's answer event.
    let mut lat = Vec::with_capacity(changes);
    for i in 0..changes {
        let name = format!("bench{:05}", i % n);
        let before = provision_requests(&db).await;
        let f = UserFields {
            title: Some(format!("Title {i}")),
            ..UserFields::default()
        };
        let t = Instant::now();
        users::update(&db, &actor, &name, &f).await.unwrap();
        loop {
            if provision_requests(&db).await > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "propagation (change -> answered PATCH): n={changes} p50={:.0}ms p99={:.0}ms max={:.0}ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    let mut conn = db.read().await.unwrap();
    let failures = events::list(
        &mut conn,
        &EventFilter {
            app_slug: Some("bench".into()),
            limit: 100_000,
            ..EventFilter::default()
        },
    )
    .await
    .unwrap()
    .iter()
    .filter(|e| e.outcome == "failure" && e.status != Some(429))
    .count();
    println!("non-throttle failures: {failures}");
    running.stop().await.unwrap();
}
