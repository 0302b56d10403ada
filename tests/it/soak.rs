//! Issue 10, "stay up under load": soak and fault tests against a real `sesame serve` process
//! over HTTP on a loopback port, with every set-up and directory write made by the `sesame`
//! binary as a second process on the same SQLite file (the way an admin scripts it).
//!
//! - `mixed_load_never_answers_5xx`: for 20 s, signed-in sessions sign on to an SP over
//!   HTTP-Redirect (fresh request IDs), a short idle timeout (12 s, so a session touch every
//!   3 s) keeps the sessions alive only if their touches are written, password logins run in a
//!   loop, the CLI adds users, groups, members and grants in a loop, and an active SCIM
//!   target is being provisioned. No 5xx (not even 503: this load is ordinary), no transport
//!   error, no unexpected answer; every CLI command exits 0 and its change is visible
//!   afterwards; the target ends up holding everyone in scope.
//! - `outside_write_lock_then_recovers`: another connection holds SQLite's write lock
//!   (`BEGIN IMMEDIATE`) for 7 s, past the server's 5 s busy timeout, while sign-ons and logins
//!   go on. Each answer is the normal one or a 503 with `Retry-After` and a readable page,
//!   never a 500 or a hang; once the lock is released SSO, login and a CLI write work again
//!   within seconds.
//! - `sigkill_loses_nothing_committed`: the server is killed with SIGKILL in the middle of a
//!   mix and started again on the same file: every CLI change whose command exited 0 is there,
//!   there are at least as many successful `sso_auth` events as 200 SSO answers, and the
//!   restarted server signs people on.
//!
//! The three run one at a time (they measure time on a small machine), each in about 30 s at
//! most. The SCIM target is `scim2-server` (`scim_peer`): without it the first test fails,
//! it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sqlx::Connection as _;
use std::io::Write as _;

use crate::process::{Cli, OutputText as _, Server};
use crate::scim_peer::{ScimPeer, TOKEN};
use crate::support::hidden;

const PASSWORD: &str = "soak-password-7q2x";
const SESSION_COOKIE: &str = "sesame_session";
const SLUG: &str = "demo";
const SP_ENTITY: &str = "https://sp.soak.example/metadata";
const ACS: &str = "http://127.0.0.1:9/saml/acs";
/// No answer may take longer than this (a hang counts as a failure).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// One soak test at a time: they share two cores and measure latency.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// AuthnRequest IDs, unique within the test binary.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_never_answers_5xx() {
    const LOAD: Duration = Duration::from_secs(20);
    let _one_at_a_time = SERIAL.lock().await;
    let t0 = Instant::now();
    let peer = ScimPeer::start(&[]);
    // Idle timeout 12 s: a session is touched (written) every 3 s while used, and one that
    // is not would expire during the load (a touch that finds the database busy is
    // skipped and comes again with the next request, so a few may fail under a loaded
    // machine without ending a session).
    let mut server = Server::new(&[("SESAME_SESSION_LIFETIME", "12s")]);
    server.start().await;
    let cli = server.cli();
    for user in ["alice", "bob", "carol"] {
        add_user(&cli, user);
    }
    cli.ok(&["group", "add", "staff"]);
    cli.ok(&["group", "add", "scoped"]);
    for user in ["alice", "bob", "carol"] {
        cli.ok(&["group", "add-member", "staff", user]);
        cli.ok(&["group", "add-member", "scoped", user]);
    }
    add_sso_app(&cli, "staff");
    cli.ok(&["app", "add", "crm", "--template", "generic"]);
    cli.ok(&["app", "grant", "crm", "scoped"]);
    cli.ok_stdin(
        &["scim", "set", "crm", "--url", &peer.url, "--token-stdin"],
        &format!("{TOKEN}\n"),
    );
    cli.ok(&["scim", "activate", "crm"]);

    let log = Log::default();
    let mut agents = Vec::new();
    for i in 0..6 {
        let mut agent = Agent::new(&server.base(), &log);
        let user = ["alice", "bob"][i % 2];
        assert!(agent.login(user).await, "set-up: {user} signs in");
        assert!(agent.sso().await, "set-up: {user} signs on");
        agents.push(agent);
    }
    log.take();
    let provisioned_before = peer.requests().len();
    let setup = t0.elapsed();

    let stop = Stop::default();
    let writer = {
        let (cli, stop) = (cli.clone(), stop.clone());
        std::thread::spawn(move || write_loop(&cli, &stop, "w", Some("scoped")))
    };
    let mut load = tokio::task::JoinSet::new();
    for (i, mut agent) in agents.into_iter().enumerate() {
        let stop = stop.clone();
        // The last session signs on only every 4 s: each of its requests finds the
        // session older than the touch interval.
        let pause = if i == 5 {
            Duration::from_secs(4)
        } else {
            Duration::ZERO
        };
        load.spawn(async move {
            while !stop.is_set() {
                agent.sso().await;
                stop.sleep(pause).await;
            }
        });
    }
    load.spawn(login_loop(
        server.base(),
        log.clone(),
        "carol",
        stop.clone(),
    ));
    tokio::time::sleep(LOAD).await;
    stop.set();
    while let Some(done) = load.join_next().await {
        done.expect("a load task panicked");
    }
    let writes = writer.join().expect("the CLI writer panicked");
    let provisioned_during = peer.requests().len() - provisioned_before;
    let exchanges = log.take();

    println!(
        "mixed load: {} s of load after {setup:.1?} of set-up",
        LOAD.as_secs()
    );
    println!("{}", summary(&exchanges));
    println!(
        "CLI: {} commands, {} failed; {} users, {} groups, {} memberships, {} grants",
        writes.commands,
        writes.failed.len(),
        writes.users.len(),
        writes.groups.len(),
        writes.members.len(),
        writes.grants.len()
    );
    println!("SCIM: {provisioned_during} requests to the target during the load");

    let server_errors: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| e.status.is_some_and(|s| s >= 500))
        .collect();
    let transport: Vec<&Exchange> = exchanges.iter().filter(|e| e.status.is_none()).collect();
    let unexpected: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| !e.ok && e.status.is_some_and(|s| s < 500))
        .collect();
    let errors = server.log_lines("ERROR", 10);
    assert!(
        server_errors.is_empty(),
        "{} answers were 5xx (a 503 counts: this load is ordinary):\n{}\nserver log:\n{errors}",
        server_errors.len(),
        listing(&server_errors)
    );
    assert!(
        transport.is_empty(),
        "{} requests got no answer:\n{}\nserver log:\n{errors}",
        transport.len(),
        listing(&transport)
    );
    assert!(
        unexpected.is_empty(),
        "{} answers were not the expected ones (an expired session would show here):\n{}",
        unexpected.len(),
        listing(&unexpected)
    );
    assert!(
        count_ok(&exchanges, "sso") >= 100,
        "too few sign-ons for a soak test"
    );
    assert!(
        count_ok(&exchanges, "login") >= 5,
        "too few password logins"
    );
    assert!(
        writes.failed.is_empty(),
        "{} of {} CLI commands failed during the load:\n{}",
        writes.failed.len(),
        writes.commands,
        writes.failed.join("\n")
    );
    assert!(writes.users.len() >= 5, "too few CLI writes");
    let missing = missing_writes(&cli, &writes);
    assert!(
        missing.is_empty(),
        "{} CLI changes are not visible afterwards:\n{}",
        missing.len(),
        missing.join("\n")
    );
    assert!(
        provisioned_during > 0,
        "the provisioning worker sent nothing to the target during the load"
    );

    let mut in_scope: BTreeSet<String> = ["alice", "bob", "carol"].map(String::from).into();
    in_scope.extend(
        writes
            .members
            .iter()
            .filter(|(group, _)| group == "scoped")
            .map(|(_, user)| user.clone()),
    );
    let waited = Instant::now();
    let absent = wait_for_accounts(&peer, &in_scope, Duration::from_secs(20)).await;
    assert!(
        absent.is_empty(),
        "the target lacks {} of {} users in scope after {:.1?}: {absent:?}\nscim show crm:\n{}",
        absent.len(),
        in_scope.len(),
        waited.elapsed(),
        cli.run(&["scim", "show", "crm"], None).stdout_text()
    );
    println!(
        "SCIM: all {} users in scope provisioned ({:.1?} after the load); test took {:.1?}",
        in_scope.len(),
        waited.elapsed(),
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outside_write_lock_then_recovers() {
    const HOLD: Duration = Duration::from_secs(7);
    let _one_at_a_time = SERIAL.lock().await;
    let t0 = Instant::now();
    let mut server = Server::new(&[]);
    server.start().await;
    let cli = server.cli();
    add_user(&cli, "alice");
    cli.ok(&["group", "add", "staff"]);
    cli.ok(&["group", "add-member", "staff", "alice"]);
    add_sso_app(&cli, "staff");

    let log = Log::default();
    let mut agents = Vec::new();
    for _ in 0..3 {
        let mut agent = Agent::new(&server.base(), &log);
        assert!(agent.login("alice").await, "set-up: alice signs in");
        assert!(agent.sso().await, "set-up: alice signs on");
        agents.push(agent);
    }
    let mut probe = agents.pop().expect("an agent");
    log.take();

    let url = format!("sqlite://{}", server.db_file().display());
    let mut outside = sqlx::sqlite::SqliteConnection::connect(&url)
        .await
        .expect("open the SQLite file from outside");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut outside)
        .await
        .expect("take the write lock");
    let locked = Instant::now();
    let stop = Stop::default();
    let mut load = tokio::task::JoinSet::new();
    for mut agent in agents {
        let stop = stop.clone();
        load.spawn(async move {
            while !stop.is_set() {
                if !agent.sso().await {
                    stop.sleep(Duration::from_millis(200)).await;
                }
            }
        });
    }
    load.spawn(login_loop(
        server.base(),
        log.clone(),
        "alice",
        stop.clone(),
    ));
    tokio::time::sleep(HOLD).await;
    sqlx::query("ROLLBACK")
        .execute(&mut outside)
        .await
        .expect("release the write lock");
    let released = Instant::now();
    stop.set();
    while let Some(done) = load.join_next().await {
        done.expect("a load task panicked");
    }
    outside.close().await.expect("close the outside connection");
    let exchanges = log.take();

    // Recovery: the session from before the lock, a fresh login, and a CLI write.
    let recovered = loop {
        if probe.sso().await {
            break Some(released.elapsed());
        }
        if released.elapsed() >= Duration::from_secs(5) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut fresh = Agent::new(&server.base(), &log);
    let fresh_login = fresh.login("alice").await;
    let fresh_sso = fresh_login && fresh.sso().await;
    let after = log.take();
    let write = cli.run(
        &[
            "user",
            "add",
            "after-lock",
            "--email",
            "after-lock@example.com",
        ],
        None,
    );

    let busy = exchanges.iter().filter(|e| e.proper_503()).count();
    let bad: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| !e.ok && !e.proper_503())
        .collect();
    let during_lock = exchanges
        .iter()
        .filter(|e| e.started >= locked && e.started < released)
        .count();
    println!(
        "outside lock held {:.1?}: {} answers ({during_lock} started under the lock): {} normal, \
         {busy} proper 503s, {} bad",
        released - locked,
        exchanges.len(),
        exchanges.iter().filter(|e| e.ok).count(),
        bad.len()
    );
    println!("{}", summary(&exchanges));
    println!(
        "after release: SSO on the old session {}; fresh login {fresh_login}, SSO {fresh_sso}; \
         CLI write exit {:?}; test took {:.1?}",
        match recovered {
            Some(d) => format!("answered 200 after {d:.1?}"),
            None => "still failing after 5 s".to_string(),
        },
        write.status.code(),
        t0.elapsed()
    );

    assert!(during_lock > 0, "no request was made under the lock");
    assert!(
        bad.is_empty(),
        "{} answers under the lock were neither normal nor a 503 with Retry-After and a \
         readable page (a 500, a hang past {}s, or a bare 503):\n{}\nserver log:\n{}",
        bad.len(),
        CLIENT_TIMEOUT.as_secs(),
        listing(&bad),
        server.log_lines("ERROR", 10)
    );
    assert!(
        recovered.is_some(),
        "SSO did not answer 200 within 5 s of the lock's release:\n{}",
        listing(&after.iter().filter(|e| !e.ok).collect::<Vec<_>>())
    );
    assert!(
        fresh_login && fresh_sso,
        "a fresh login and sign-on failed after the release:\n{}",
        listing(&after.iter().filter(|e| !e.ok).collect::<Vec<_>>())
    );
    assert!(
        write.status.success(),
        "a CLI write after the release failed: {}",
        write.stderr_text()
    );
    assert_eq!(
        cli.json(&["user", "show", "after-lock", "--json"])["username"],
        "after-lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_nothing_committed() {
    const BEFORE_KILL: Duration = Duration::from_secs(6);
    let _one_at_a_time = SERIAL.lock().await;
    let t0 = Instant::now();
    let mut server = Server::new(&[]);
    server.start().await;
    let cli = server.cli();
    for user in ["alice", "bob"] {
        add_user(&cli, user);
    }
    cli.ok(&["group", "add", "staff"]);
    for user in ["alice", "bob"] {
        cli.ok(&["group", "add-member", "staff", user]);
    }
    add_sso_app(&cli, "staff");

    let log = Log::default();
    let mut agents = Vec::new();
    for i in 0..4 {
        let mut agent = Agent::new(&server.base(), &log);
        let user = ["alice", "bob"][i % 2];
        assert!(agent.login(user).await, "set-up: {user} signs in");
        agents.push(agent);
    }
    log.take();

    let stop_writes = Stop::default();
    let writer = {
        let (cli, stop) = (cli.clone(), stop_writes.clone());
        std::thread::spawn(move || write_loop(&cli, &stop, "k", None))
    };
    let stop_http = Stop::default();
    let mut load = tokio::task::JoinSet::new();
    for mut agent in agents {
        let stop = stop_http.clone();
        load.spawn(async move {
            while !stop.is_set() {
                agent.sso().await;
            }
        });
    }
    load.spawn(login_loop(
        server.base(),
        log.clone(),
        "alice",
        stop_http.clone(),
    ));
    tokio::time::sleep(BEFORE_KILL).await;
    server.kill();
    stop_http.set();
    while let Some(done) = load.join_next().await {
        done.expect("a load task panicked");
    }
    let exchanges = log.take();
    let sso_ok = count_ok(&exchanges, "sso");
    // Counted before the restart, so no sign-on after it can make up for a lost one.
    let events = cli
        .ok(&[
            "events",
            "--app",
            SLUG,
            "--name",
            "sso_auth",
            "--outcome",
            "success",
            "--limit",
            "10000",
            "--json",
        ])
        .lines()
        .filter(|l| l.starts_with('{'))
        .count();

    server.start().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_writes.set();
    let writes = writer.join().expect("the CLI writer panicked");
    let missing = missing_writes(&cli, &writes);
    let mut fresh = Agent::new(&server.base(), &log);
    let fresh_login = fresh.login("bob").await;
    let fresh_sso = fresh_login && fresh.sso().await;
    let after = log.take();

    println!(
        "killed after {} s of load: {sso_ok} SSO answers 200 before the kill, {events} \
         successful sso_auth events",
        BEFORE_KILL.as_secs()
    );
    println!("{}", summary(&exchanges));
    println!(
        "CLI: {} commands ({} exited non-zero), {} users, {} groups, {} memberships, {} grants \
         committed; {} missing after the restart",
        writes.commands,
        writes.failed.len(),
        writes.users.len(),
        writes.groups.len(),
        writes.members.len(),
        writes.grants.len(),
        missing.len()
    );
    if !writes.failed.is_empty() {
        println!(
            "CLI failures (not counted as committed):\n{}",
            writes.failed.join("\n")
        );
    }
    println!(
        "restarted: fresh login {fresh_login}, SSO {fresh_sso}; test took {:.1?}",
        t0.elapsed()
    );

    assert!(sso_ok >= 20, "too few sign-ons before the kill");
    assert!(sso_ok < 10_000, "more sign-ons than `events --limit` shows");
    assert!(
        events >= sso_ok,
        "{} sign-ons answered 200 before the kill have no sso_auth event ({events} events for \
         {sso_ok} answers)",
        sso_ok - events
    );
    assert!(!writes.users.is_empty(), "no CLI write committed");
    assert!(
        missing.is_empty(),
        "{} CLI changes that exited 0 are lost after SIGKILL and restart:\n{}",
        missing.len(),
        missing.join("\n")
    );
    assert!(
        fresh_login && fresh_sso,
        "the restarted server does not sign people on:\n{}\nserver log:\n{}",
        listing(&after.iter().filter(|e| !e.ok).collect::<Vec<_>>()),
        server.log_lines("ERROR", 10)
    );
}

// ---------------------------------------------------------------------------------------
// Helpers: the server process, the CLI, a browser session, the CLI writer, and reporting.

fn add_user(cli: &Cli, name: &str) {
    cli.ok_stdin(
        &[
            "user",
            "add",
            name,
            "--email",
            &format!("{name}@example.com"),
            "--first-name",
            "Soak",
            "--last-name",
            name,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
}

/// The SAML app the sessions sign on to, usable by `group`.
fn add_sso_app(cli: &Cli, group: &str) {
    cli.ok(&["app", "add", SLUG, "--template", "generic"]);
    cli.ok(&[
        "app",
        "sso",
        SLUG,
        "--sp-entity-id",
        SP_ENTITY,
        "--acs-url",
        ACS,
    ]);
    cli.ok(&["app", "grant", SLUG, group]);
}

/// Every change the CLI writer made with a command that exited 0, and the ones that failed.
#[derive(Default)]
struct Writes {
    commands: usize,
    failed: Vec<String>,
    users: Vec<String>,
    groups: Vec<String>,
    /// (group, username)
    members: Vec<(String, String)>,
    /// (app, group)
    grants: Vec<(String, String)>,
}

impl Writes {
    fn run(&mut self, cli: &Cli, args: &[&str]) -> bool {
        self.commands += 1;
        let out = cli.run(args, None);
        if !out.status.success() {
            self.failed.push(format!(
                "  {args:?} exited {:?}: {}",
                out.status.code(),
                out.stderr_text().lines().next().unwrap_or("")
            ));
        }
        out.status.success()
    }
}

/// Until `stop`: a user per round, a group granted to the SSO app every third round, each
/// user into the current group, and every other user into `scope` (provisioned by SCIM).
fn write_loop(cli: &Cli, stop: &Stop, tag: &str, scope: Option<&str>) -> Writes {
    let mut w = Writes::default();
    let mut group: Option<String> = None;
    let mut round = 0;
    while !stop.is_set() {
        if round % 3 == 0 {
            let name = format!("{tag}-group-{round}");
            group = None;
            if w.run(cli, &["group", "add", &name]) {
                w.groups.push(name.clone());
                if w.run(cli, &["app", "grant", SLUG, &name]) {
                    w.grants.push((SLUG.to_string(), name.clone()));
                }
                group = Some(name);
            }
        }
        let user = format!("{tag}-user-{round}");
        let email = format!("{user}@example.com");
        let last = format!("N{round}");
        let add = [
            "user",
            "add",
            &user,
            "--email",
            &email,
            "--first-name",
            "Soak",
            "--last-name",
            &last,
        ];
        if w.run(cli, &add) {
            w.users.push(user.clone());
            if let Some(g) = &group {
                if w.run(cli, &["group", "add-member", g, &user]) {
                    w.members.push((g.clone(), user.clone()));
                }
            }
            if let Some(s) = scope.filter(|_| round % 2 == 0) {
                if w.run(cli, &["group", "add-member", s, &user]) {
                    w.members.push((s.to_string(), user.clone()));
                }
            }
        }
        round += 1;
    }
    w
}

/// The recorded changes that the CLI does not show.
fn missing_writes(cli: &Cli, w: &Writes) -> Vec<String> {
    let mut missing = Vec::new();
    let listed: BTreeSet<String> = cli
        .json(&["user", "list", "--json"])
        .as_array()
        .expect("a user list")
        .iter()
        .filter_map(|u| u["username"].as_str().map(String::from))
        .collect();
    for user in &w.users {
        if !listed.contains(user) {
            missing.push(format!("  user {user}"));
        }
    }
    let mut groups: BTreeSet<&str> = w.groups.iter().map(String::as_str).collect();
    groups.extend(w.members.iter().map(|(g, _)| g.as_str()));
    for group in groups {
        let out = cli.run(&["group", "show", group, "--json"], None);
        if !out.status.success() {
            missing.push(format!("  group {group}: {}", out.stderr_text()));
            continue;
        }
        let shown: serde_json::Value =
            serde_json::from_str(&out.stdout_text()).expect("valid JSON");
        let has = |field: &str, name: &str| {
            shown[field]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(name)))
        };
        for (_, user) in w.members.iter().filter(|(g, _)| g == group) {
            if !has("member_names", user) {
                missing.push(format!("  {user} in group {group}"));
            }
        }
        for (app, _) in w.grants.iter().filter(|(_, g)| g == group) {
            if !has("apps", app) {
                missing.push(format!("  grant of {app} to {group}"));
            }
        }
    }
    missing
}

/// Waits until the target holds an active account for each of `users`; returns those it
/// still lacks at the deadline.
async fn wait_for_accounts(
    peer: &ScimPeer,
    users: &BTreeSet<String>,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let present: BTreeSet<String> = peer
            .users()
            .await
            .into_iter()
            .filter(|u| u["active"] != false)
            .filter_map(|u| u["userName"].as_str().map(String::from))
            .collect();
        let absent: Vec<String> = users.difference(&present).cloned().collect();
        if absent.is_empty() || Instant::now() >= deadline {
            return absent;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A stop flag shared by the load tasks.
#[derive(Clone, Default)]
struct Stop(Arc<AtomicBool>);

impl Stop {
    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`, or less once the flag is set.
    async fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.is_set() && Instant::now() < until {
            tokio::time::sleep(
                Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
}

/// One request and what came of it.
#[derive(Debug, Clone)]
struct Exchange {
    kind: &'static str,
    /// `None`: no answer (connection refused or reset, or the client timeout).
    status: Option<u16>,
    /// The answer was the one a healthy server gives.
    ok: bool,
    retry_after: Option<String>,
    /// For a wrong answer: the page's first words, or the transport error.
    gist: String,
    started: Instant,
    took: Duration,
}

impl Exchange {
    /// A 503 a client can act on: when to retry (seconds or an HTTP date), and a page
    /// saying what happened.
    fn proper_503(&self) -> bool {
        let retry = self.retry_after.as_deref().map(str::trim).unwrap_or("");
        let when = retry.parse::<u64>().is_ok() || retry.ends_with(" GMT");
        self.status == Some(503) && when && !self.gist.is_empty()
    }
}

/// Every exchange of every agent, in the order they finished.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Exchange>>>);

impl Log {
    fn push(&self, e: Exchange) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }

    fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

struct Reply {
    status: u16,
    ok: bool,
    location: Option<String>,
    body: String,
}

/// A browser session: one `sesame_session` cookie, no redirects followed, every request
/// logged.
struct Agent {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    log: Log,
}

impl Agent {
    fn new(base: &str, log: &Log) -> Agent {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client");
        Agent {
            http,
            base: base.to_string(),
            cookie: None,
            log: log.clone(),
        }
    }

    /// Signs in with a fresh session: the login page, then the form (303 to the portal).
    async fn login(&mut self, user: &str) -> bool {
        self.cookie = None;
        let page = self
            .call("login", "/login", None, |r| {
                r.status == 200 && hidden(&r.body, "csrf").is_some()
            })
            .await;
        let Some(csrf) = page.and_then(|p| hidden(&p.body, "csrf")) else {
            return false;
        };
        let form = [
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", PASSWORD),
            ("next", "/"),
        ];
        self.call("login", "/login", Some(&form), |r| {
            r.status == 303 && r.location.as_deref() == Some("/")
        })
        .await
        .is_some_and(|r| r.ok)
    }

    /// SP-initiated SSO over HTTP-Redirect: 200 with the auto-posting SAMLResponse form.
    async fn sso(&mut self) -> bool {
        let path = format!("/saml2/{SLUG}?{}", authn_request(&self.base));
        self.call("sso", &path, None, |r| {
            r.status == 200 && r.body.contains("name=\"SAMLResponse\"")
        })
        .await
        .is_some_and(|r| r.ok)
    }

    async fn call(
        &mut self,
        kind: &'static str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        good: impl Fn(&Reply) -> bool,
    ) -> Option<Reply> {
        let url = format!("{}{path}", self.base);
        let mut req = match form {
            Some(f) => self.http.post(url).form(f),
            None => self.http.get(url),
        };
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("{SESSION_COOKIE}={c}"));
        }
        let started = Instant::now();
        let answer = async {
            let res = req.send().await?;
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res.text().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let took = started.elapsed();
        let (status, headers, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                self.log.push(Exchange {
                    kind,
                    status: None,
                    ok: false,
                    retry_after: None,
                    gist: error_chain(&e),
                    started,
                    took,
                });
                return None;
            }
        };
        for value in headers.get_all("set-cookie") {
            let value = value.to_str().unwrap_or("");
            let Some(rest) = value.strip_prefix(&format!("{SESSION_COOKIE}=")) else {
                continue;
            };
            let v = rest.split(';').next().unwrap_or("");
            self.cookie = (!v.is_empty() && !value.contains("Max-Age=0")).then(|| v.to_string());
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let mut reply = Reply {
            status,
            ok: false,
            location: header("location"),
            body,
        };
        reply.ok = good(&reply);
        self.log.push(Exchange {
            kind,
            status: Some(status),
            ok: reply.ok,
            retry_after: header("retry-after"),
            gist: if reply.ok {
                String::new()
            } else {
                gist(&reply.body)
            },
            started,
            took,
        });
        Some(reply)
    }
}

/// Fresh sessions signing in until `stop`, each then opening the portal.
async fn login_loop(base: String, log: Log, user: &'static str, stop: Stop) {
    while !stop.is_set() {
        let mut agent = Agent::new(&base, &log);
        if agent.login(user).await {
            agent.call("portal", "/", None, |r| r.status == 200).await;
        } else {
            stop.sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The query of an HTTP-Redirect AuthnRequest with a fresh ID (SAML Bindings §3.4.4.1:
/// DEFLATE, base64, URL-encoded).
fn authn_request(base: &str) -> String {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_soak{id}\" Version=\"2.0\" \
         IssueInstant=\"{now}\" Destination=\"{base}/saml2/{SLUG}\" \
         AssertionConsumerServiceURL=\"{ACS}\"><saml:Issuer>{SP_ENTITY}</saml:Issuer>\
         </samlp:AuthnRequest>"
    );
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(xml.as_bytes()).expect("deflate");
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(deflate.finish().expect("deflate"));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &encoded)
        .append_pair("RelayState", "soak")
        .finish();
    query
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A page's first words: its text without tags, the first two non-empty lines.
fn gist(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push('\n');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect();
    lines.join(" | ").chars().take(160).collect()
}

fn count_ok(exchanges: &[Exchange], kind: &str) -> usize {
    exchanges.iter().filter(|e| e.kind == kind && e.ok).count()
}

/// Per kind of request: how many, the answers by status, and the slowest.
fn summary(exchanges: &[Exchange]) -> String {
    let mut kinds: BTreeMap<&str, (usize, BTreeMap<String, usize>, Duration)> = BTreeMap::new();
    for e in exchanges {
        let entry = kinds.entry(e.kind).or_default();
        entry.0 += 1;
        let key = match (e.status, e.ok) {
            (None, _) => "no answer".to_string(),
            (Some(s), true) => format!("{s} ok"),
            (Some(s), false) => format!("{s} wrong"),
        };
        *entry.1.entry(key).or_default() += 1;
        entry.2 = entry.2.max(e.took);
    }
    kinds
        .into_iter()
        .map(|(kind, (n, by_status, slowest))| {
            let statuses: Vec<String> = by_status
                .into_iter()
                .map(|(status, count)| format!("{count}× {status}"))
                .collect();
            format!(
                "  {kind:<6} {n:>6} requests: {}; slowest {slowest:.2?}",
                statuses.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first few bad exchanges, one a line.
fn listing(bad: &[&Exchange]) -> String {
    let mut lines: Vec<String> = bad
        .iter()
        .take(12)
        .map(|e| {
            let status = e.status.map_or("no answer".to_string(), |s| s.to_string());
            let retry = e
                .retry_after
                .as_deref()
                .map(|r| format!(" (Retry-After: {r})"))
                .unwrap_or_default();
            let page = if e.gist.is_empty() {
                "(empty body)"
            } else {
                &e.gist
            };
            format!("  {} {status}{retry} after {:.2?}: {page}", e.kind, e.took)
        })
        .collect();
    if bad.len() > 12 {
        lines.push(format!("  … and {} more", bad.len() - 12));
    }
    lines.join("\n")
}
