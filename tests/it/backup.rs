//! Issue 15, item 3: `sesame backup` and `sesame restore` with the real binary.
//!
//! - `backup_under_load_restores_to_its_instant`: a real `sesame serve` takes user
//!   creations through the API and group creations from the CLI while `sesame backup` runs;
//!   the archive is restored into a new folder and served from there. Every row committed
//!   before the backup began is there, none begun after it, and the restored tables are
//!   exactly the source's rows up to one instant (a prefix by id, nothing changed); the
//!   signing keys (shared active and next, an app's own) have the same fingerprints; a
//!   SCIM token sealed before the backup still opens and is accepted by a target that checks
//!   it; an API token made before the backup works on the restored server. Restore refuses
//!   without `--force` over existing data and while a server has the database open.
//! - `a_damaged_archive_is_refused_and_changes_nothing`: a flipped byte, a truncated copy
//!   and an edited member are each refused with a reason, and nothing is written.
//! - `postgres_is_refused_with_a_pointer_to_the_readme`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection as _;

use crate::process::{Cli, OutputText as _, Server};

const TOKEN: &str = "scim-token-kept-through-a-backup-5u1";
const PASSWORD: &str = "backup-password-8c3v";

/// A SCIM service that answers only the bearer token above: enough for `scim test` to show
/// that the restored, unsealed credential is the one that was set.
fn token_checking_peer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("peer port");
    let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream);
        }
    });
    url
}

fn answer(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(n) if n > 0 => head.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let good = head.contains(&format!(
        "authorization: bearer {}",
        TOKEN.to_ascii_lowercase()
    ));
    let (status, body) = if good {
        (
            "200 OK",
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[]}"#,
        )
    } else {
        ("401 Unauthorized", "{}")
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// One user creation through the API: when it was sent and when its 201 came back.
struct Created {
    username: String,
    sent: Instant,
    answered: Instant,
}

async fn create_users(
    base: String,
    token: String,
    task: usize,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> Vec<Created> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut done = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let username = format!("load-{task}-{i}");
        i += 1;
        let sent = Instant::now();
        let res = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "username": username,
                "email": format!("{username}@example.com"),
            }))
            .send()
            .await
            .expect("the API answers under load");
        let status = res.status().as_u16();
        assert_eq!(status, 201, "{}", res.text().await.unwrap_or_default());
        done.push(Created {
            username,
            sent,
            answered: Instant::now(),
        });
        answered.fetch_add(1, Ordering::Relaxed);
    }
    done
}

/// Waits until `n` creations have been answered (and at least a second has passed, so
/// that the CLI's group creations are under way too).
async fn until_answered(answered: &AtomicUsize, n: usize) {
    let t0 = Instant::now();
    while answered.load(Ordering::Relaxed) < n || t0.elapsed() < Duration::from_secs(1) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the load stalled: {} of {n} users created",
            answered.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Rows of `table` in the restored database (`main`) that the source (`src`) does not
/// have, and whether the restored rows are all of the source's up to one id.
async fn compare(conn: &mut sqlx::SqliteConnection, table: &str, only: &str) -> (i64, bool) {
    let extra: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM (SELECT * FROM main.{table} WHERE {only} \
         EXCEPT SELECT * FROM src.{table})"
    ))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let (restored, last): (i64, Option<i64>) = sqlx::query_as(&format!(
        "SELECT count(*), max(id) FROM main.{table} WHERE {only}"
    ))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let source: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM src.{table} WHERE id <= $1"))
            .bind(last.unwrap_or(0))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    (extra, source == restored)
}

/// Rows that differ either way between the restored and the source table.
async fn differ(conn: &mut sqlx::SqliteConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT (SELECT count(*) FROM (SELECT * FROM main.{table} EXCEPT SELECT * FROM src.{table})) \
              + (SELECT count(*) FROM (SELECT * FROM src.{table} EXCEPT SELECT * FROM main.{table}))"
    ))
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn refused(cli: &Cli, args: &[&str], reason: &str) {
    let out = cli.run(args, None);
    let err = out.stderr_text();
    assert!(
        !out.status.success(),
        "{args:?} should fail: {}",
        out.stdout_text()
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(reason),
        "{args:?}: {err:?} should say {reason:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_to_its_instant() {
    let peer = token_checking_peer();
    let mut source = Server::new(&[]);
    source.start().await;
    let cli = source.cli();
    cli.ok_stdin(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    cli.ok(&["group", "add", "staff"]);
    cli.ok(&["group", "add-member", "staff", "alice"]);
    cli.ok(&["app", "add", "wiki", "--template", "generic"]);
    cli.ok(&["app", "grant", "wiki", "staff"]);
    cli.ok(&["cert", "generate", "--app", "wiki", "--ec"]);
    cli.ok(&["cert", "stage-next"]);
    cli.ok(&["app", "add", "crm", "--template", "generic"]);
    cli.ok_stdin(
        &["scim", "set", "crm", "--url", &peer, "--token-stdin"],
        &format!("{TOKEN}\n"),
    );
    assert!(cli
        .ok(&["scim", "test", "crm"])
        .contains("ok: SCIM service"));
    let api_token = cli
        .ok(&["admin-token", "create", "backup-load", "--user", "admin"])
        .trim()
        .to_string();
    let keys_before = (
        cli.ok(&["cert", "show"]),
        cli.ok(&["cert", "show", "--app", "wiki"]),
    );

    // Write load: three API clients creating users, the CLI creating groups.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for task in 0..3 {
        load.spawn(create_users(
            source.base(),
            api_token.clone(),
            task,
            stop.clone(),
            answered.clone(),
        ));
    }
    let groups_made = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (cli, stop, made) = (cli.clone(), stop.clone(), groups_made.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("load-group-{i}");
                let sent = Instant::now();
                cli.ok(&["group", "add", &name]);
                made.lock().unwrap().push((name, sent, Instant::now()));
                i += 1;
            }
        })
    };
    until_answered(&answered, 20).await;
    let archive_dir = tempfile::tempdir().unwrap();
    let archive = archive_dir.path().join("sesame-backup.tar.gz");
    let began = Instant::now();
    let out = {
        let (cli, archive) = (cli.clone(), archive.clone());
        tokio::task::spawn_blocking(move || cli.run(&["backup", archive.to_str().unwrap()], None))
            .await
            .unwrap()
    };
    let ended = Instant::now();
    assert!(out.status.success(), "backup: {}", out.stderr_text());
    assert!(
        out.stdout_text().contains("key file(s)"),
        "{}",
        out.stdout_text()
    );
    // Beyond the three requests that may have been in flight while the backup ran.
    until_answered(&answered, answered.load(Ordering::Relaxed) + 3 + 20).await;
    stop.store(true, Ordering::Relaxed);
    let mut created = Vec::new();
    while let Some(done) = load.join_next().await {
        created.extend(done.expect("a load task panicked"));
    }
    writer.join().expect("the CLI writer panicked");
    assert_eq!(mode(&archive), 0o600, "the archive is private");

    // Restore into a new folder, then serve from it.
    let mut target = Server::new(&[]);
    let restore = target.cli();
    let said = restore.ok(&["restore", archive.to_str().unwrap()]);
    assert!(said.contains("restored the backup"), "{said}");
    let certs = target.dir().join("certs");
    for key in [
        "idp-signing.key",
        "idp-signing-next.key",
        "secrets.key",
        "apps/wiki/idp-signing.key",
    ] {
        assert_eq!(mode(&certs.join(key)), 0o600, "{key}");
    }
    assert_eq!(mode(&target.db_file()), 0o600);
    let files = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
            .collect();
        names.sort();
        names
    };
    let (users_before, files_before) =
        (restore.ok(&["user", "list", "--json"]), files(target.dir()));
    refused(
        &restore,
        &["restore", archive.to_str().unwrap()],
        "only with --force",
    );
    assert_eq!(
        restore.ok(&["user", "list", "--json"]),
        users_before,
        "nothing changed"
    );
    assert_eq!(files(target.dir()), files_before, "nothing moved");
    target.start().await;
    refused(
        &restore,
        &["restore", "--force", archive.to_str().unwrap()],
        "open in another process",
    );

    // Every row up to the backup's instant, and nothing else.
    let mut conn = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        target.db_file().display()
    ))
    .await
    .unwrap();
    sqlx::query("ATTACH DATABASE $1 AS src")
        .bind(source.db_file().to_str().unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    for (table, only) in [
        ("users", "1"),
        ("groups", "1"),
        ("events", "name <> 'backup_restore'"),
    ] {
        let (extra, prefix) = compare(&mut conn, table, only).await;
        assert_eq!(extra, 0, "{table}: restored rows the source does not have");
        assert!(
            prefix,
            "{table}: the restored rows are the source's up to one id"
        );
    }
    for table in [
        "memberships",
        "apps",
        "app_groups",
        "app_sso",
        "scim_targets",
    ] {
        assert_eq!(differ(&mut conn, table).await, 0, "{table} differs");
    }
    let restored: std::collections::BTreeSet<String> =
        sqlx::query_scalar("SELECT username FROM main.users")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let groups: std::collections::BTreeSet<String> =
        sqlx::query_scalar("SELECT name FROM main.groups")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let (mut kept, mut later) = (0, 0);
    for c in &created {
        if c.answered < began {
            assert!(
                restored.contains(&c.username),
                "{} was created before the backup",
                c.username
            );
            kept += 1;
        }
        if c.sent > ended {
            assert!(
                !restored.contains(&c.username),
                "{} was created after the backup",
                c.username
            );
            later += 1;
        }
    }
    for (name, sent, answered) in groups_made.lock().unwrap().iter() {
        if *answered < began {
            assert!(
                groups.contains(name),
                "{name} was created before the backup"
            );
        }
        if *sent > ended {
            assert!(
                !groups.contains(name),
                "{name} was created after the backup"
            );
        }
    }
    assert!(
        kept > 0 && later > 0,
        "the backup ran under load: {kept} users before it, {later} after"
    );
    eprintln!(
        "{} users created under load: {kept} answered before the backup began, {later} sent \
         after it ended; {} restored",
        created.len(),
        restored.len()
    );
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM main.events WHERE name = 'user_create' AND username LIKE 'load-%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(events as usize >= kept, "the user_create events came along");
    conn.close().await.unwrap();

    // The same keys, and the sealed SCIM token opens and is accepted.
    let keys_after = (
        restore.ok(&["cert", "show"]),
        restore.ok(&["cert", "show", "--app", "wiki"]),
    );
    assert_eq!(keys_after, keys_before, "the same signing keys");
    assert!(keys_after.0.contains("next"), "the staged next key too");
    let scim = restore.json(&["scim", "show", "crm", "--json"]);
    assert_eq!(scim["credential"], "set (write-only)");
    let test = restore.ok(&["scim", "test", "crm"]);
    assert!(test.contains("ok: SCIM service"), "{test}");

    // The restored server serves the restored data (with an API token made before).
    let alice: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/users/alice", target.base()))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alice["email"], "alice@example.com", "{alice}");
    assert_eq!(alice["groups"], serde_json::json!(["staff"]), "{alice}");
}

#[tokio::test]
async fn a_damaged_archive_is_refused_and_changes_nothing() {
    let source = Server::new(&[]);
    let cli = source.cli();
    cli.ok(&["cert", "generate"]);
    cli.ok(&["user", "add", "bob", "--email", "bob@example.com"]);
    let archive = source.dir().join("b.tar.gz");
    let name = archive.to_str().unwrap();
    cli.ok(&["backup", name]);
    refused(&cli, &["backup", name], "--force replaces it");
    let listed = cli.ok(&["restore", "--check", name]);
    assert!(
        listed.contains("sesame.db") && listed.contains("certs/idp-signing.key"),
        "{listed}"
    );

    let bytes = std::fs::read(&archive).unwrap();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    let damaged = |what: &str, data: &[u8]| {
        let path = source.dir().join(format!("{what}.tar.gz"));
        std::fs::write(&path, data).unwrap();
        path.to_str().unwrap().to_string()
    };
    let flipped = damaged("flipped", &flipped);
    let truncated = damaged("truncated", &bytes[..bytes.len() * 2 / 3]);
    // An edited member inside a well-formed gzip and tar: only the manifest can tell.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    let at = tar.windows(11).position(|w| w == b"bob@example").unwrap();
    tar[at] = b'm';
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let edited = damaged("edited", &gz.finish().unwrap());

    let target = Server::new(&[]);
    let restore = target.cli();
    for (file, reason) in [
        (&flipped, "damaged or not a sesame backup"),
        (&truncated, "damaged or not a sesame backup"),
        (&edited, "sesame.db does not match its SHA-256"),
    ] {
        refused(&restore, &["restore", "--check", file], reason);
        refused(&restore, &["restore", file], reason);
    }
    assert!(!target.db_file().exists(), "no database was written");
    assert!(!target.dir().join("certs").exists(), "no key was written");
    let leftovers: Vec<_> = std::fs::read_dir(target.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n != "serve.log")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    restore.ok(&["restore", name]);
    assert_eq!(
        restore.json(&["user", "show", "bob", "--json"])["email"],
        "bob@example.com"
    );
}

#[test]
fn postgres_is_refused_with_a_pointer_to_the_readme() {
    let cli = crate::cli::Cli::new();
    let archive = cli.certs.path().join("x.tar.gz");
    for args in [
        vec!["backup", archive.to_str().unwrap()],
        vec!["restore", archive.to_str().unwrap()],
    ] {
        let out = cli.run_with(
            &args,
            None,
            &[(
                "SESAME_DATABASE_URL",
                "postgres://sesame@127.0.0.1:9/sesame",
            )],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("pg_dump") && err.contains("README"), "{err}");
    }
    assert!(!archive.exists());
}
