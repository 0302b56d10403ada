//! The `sesame` binary as a subprocess: each command's success, and its refusal of bad
//! input with a one-line reason, a non-zero exit and nothing changed.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::TestDb;

pub struct Cli {
    pub db: TestDb,
    pub certs: tempfile::TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            db: TestDb::sqlite(),
            certs: tempfile::tempdir().expect("certs dir"),
        }
    }

    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sesame"));
        cmd.args(args)
            .env("SESAME_DATABASE_URL", &self.db.url)
            .env("SESAME_CERTS_DIR", self.certs.path())
            .env("SESAME_BASE_URL", "https://idp.example/")
            .env_remove("SESAME_CONFIG")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run sesame");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        drop(pipe);
        child.wait_with_output().expect("wait")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None, &[])
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail with one line on stderr containing `reason`.
    pub fn refused(&self, args: &[&str], reason: &str) {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(reason),
            "{args:?}: {err:?} should mention {reason:?}"
        );
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("valid JSON")
    }
}

#[test]
fn user_commands_and_their_refusals() {
    let cli = Cli::new();
    let out = cli.run_with(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--first-name",
            "Alice",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cli.ok(&[
        "user",
        "add",
        "bob",
        "--email",
        "bob@example.com",
        "--manager",
        "alice",
        "--title",
        "Dev",
    ]);
    cli.refused(
        &["user", "add", "ALICE", "--email", "x@example.com"],
        "already taken",
    );
    cli.refused(
        &["user", "add", "carol", "--email", "not-an-email"],
        "not a valid address",
    );
    cli.refused(&["user", "add", "carol"], "email is required");
    cli.refused(
        &["user", "add", "bad name", "--email", "c@example.com"],
        "username",
    );
    cli.refused(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "c@example.com",
            "--manager",
            "ghost",
        ],
        "ghost",
    );
    let weak = cli.run_with(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "c@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
        &[],
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
    let common = cli.run_with(
        &[
            "user",
            "add",
            "carol",
            "--email",
            "c@example.com",
            "--password-stdin",
        ],
        Some("Password12345\n"),
        &[],
    );
    assert!(!common.status.success());
    assert!(String::from_utf8_lossy(&common.stderr).contains("most commonly used"));

    let list = cli.json(&["user", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["alice", "bob"],
        "refused commands changed nothing"
    );
    assert!(
        !cli.ok(&["user", "list", "--json"]).contains("argon2"),
        "no hashes in output"
    );

    cli.ok(&[
        "user",
        "set",
        "bob",
        "--title",
        "",
        "--phone",
        "+1 555 0100",
    ]);
    let bob = cli.json(&["user", "show", "bob", "--json"]);
    assert_eq!(bob["title"], "");
    assert_eq!(bob["phone"], "+1 555 0100");
    assert_eq!(bob["manager"], "alice");
    cli.refused(&["user", "set", "nobody", "--title", "x"], "no user named");
    cli.refused(
        &["user", "set", "bob", "--email", "alice@example.com"],
        "already used",
    );

    cli.ok(&["user", "suspend", "bob"]);
    assert_eq!(
        cli.json(&["user", "show", "bob", "--json"])["active"],
        false
    );
    cli.ok(&["user", "activate", "bob"]);
    let pw = cli.run_with(
        &["user", "passwd", "bob", "--password-stdin"],
        Some("another-password\n"),
        &[],
    );
    assert!(
        pw.status.success(),
        "{}",
        String::from_utf8_lossy(&pw.stderr)
    );
    let no_tty = cli.run(&["user", "passwd", "bob"]);
    assert!(!no_tty.status.success());
    assert!(String::from_utf8_lossy(&no_tty.stderr).contains("--password-stdin"));
    cli.refused(
        &["user", "passwd", "ghost", "--password-stdin"],
        "no user named",
    );
    cli.ok(&["user", "delete", "bob"]);
    cli.refused(&["user", "delete", "bob"], "no user named");
    let table = cli.ok(&["user", "list"]);
    assert!(table.starts_with("USERNAME"), "{table}");
    assert!(table.contains("alice@example.com"));
}

#[test]
fn group_app_grant_and_events() {
    let cli = Cli::new();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com"]);
    cli.ok(&["group", "add", "Engineering", "--description", "builders"]);
    cli.refused(&["group", "add", "engineering"], "already exists");
    cli.refused(&["group", "add", " padded"], "group name");
    cli.ok(&["group", "add-member", "engineering", "alice"]);
    cli.refused(
        &["group", "add-member", "engineering", "ghost"],
        "no user named",
    );
    cli.refused(
        &["group", "add-member", "ghosts", "alice"],
        "no group named",
    );

    cli.ok(&["app", "add", "bluejeans", "--template", "bluejeans"]);
    cli.refused(
        &["app", "add", "BlueJeans2", "--template", "generic"],
        "slug",
    );
    cli.refused(&["app", "add", "x_y", "--template", "generic"], "slug");
    cli.refused(
        &["app", "add", "ok", "--template", "nope"],
        "unknown template",
    );
    cli.refused(
        &["app", "add", "bluejeans", "--template", "generic"],
        "already exists",
    );
    cli.refused(&["app", "set", "bluejeans", "--color", "red"], "colour");
    cli.refused(&["app", "grant", "bluejeans", "nobody"], "no group named");
    cli.refused(&["app", "grant", "nope", "engineering"], "no app with slug");
    cli.ok(&[
        "app",
        "set",
        "bluejeans",
        "--label",
        "BlueJeans Meetings",
        "--color",
        "#112233",
        "--show-in-portal",
        "false",
    ]);
    cli.ok(&["app", "grant", "bluejeans", "engineering"]);

    let app = cli.json(&["app", "show", "bluejeans", "--json"]);
    assert_eq!(app["label"], "BlueJeans Meetings");
    assert_eq!(app["color"], "#112233");
    assert_eq!(app["show_in_portal"], false);
    assert_eq!(app["template"], "bluejeans");
    assert_eq!(app["groups"], serde_json::json!(["Engineering"]));
    let alice = cli.json(&["user", "show", "alice", "--json"]);
    assert_eq!(alice["apps"], serde_json::json!(["bluejeans"]));
    assert_eq!(alice["groups"], serde_json::json!(["Engineering"]));
    let group = cli.json(&["group", "show", "engineering", "--json"]);
    assert_eq!(group["member_names"], serde_json::json!(["alice"]));
    assert_eq!(
        cli.json(&["app", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(cli.json(&["group", "list", "--json"])[0]["members"], 1);

    cli.ok(&["app", "revoke", "bluejeans", "engineering"]);
    assert_eq!(
        cli.json(&["user", "show", "alice", "--json"])["apps"],
        serde_json::json!([])
    );
    cli.ok(&["group", "remove-member", "engineering", "alice"]);
    cli.ok(&["app", "delete", "bluejeans"]);
    cli.refused(&["app", "show", "bluejeans"], "no app with slug");
    cli.ok(&["group", "delete", "engineering"]);

    let lines = cli.ok(&["events", "--json", "--limit", "100"]);
    let events: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "user_create",
            "group_create",
            "group_member_add",
            "app_create",
            "app_update",
            "app_group_bind",
            "app_group_unbind",
            "group_member_remove",
            "app_delete",
            "group_delete"
        ]
    );
    assert!(events
        .iter()
        .all(|e| e["actor"].as_str().unwrap().starts_with("cli:")));
    let for_app = cli.ok(&["events", "--app", "bluejeans", "--json"]);
    assert_eq!(for_app.lines().count(), 5);
}

#[test]
fn check_config_reports_and_refuses() {
    let cli = Cli::new();
    let out = cli.run_with(
        &["check-config", "--json"],
        None,
        &[("SESAME_DATABASE_URL", "postgres://u:hunter2@127.0.0.1/db")],
    );
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains("hunter2") && shown.contains("REDACTED"),
        "{shown}"
    );
    let bad = cli.run_with(
        &["check-config"],
        None,
        &[("SESAME_SESSION_LIFETIME", "forever")],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim_end().lines().count(), 1);
    assert!(
        err.contains("session_lifetime (from SESAME_SESSION_LIFETIME)"),
        "{err}"
    );
    let missing = cli.run(&["--config", "/nonexistent/sesame.toml", "check-config"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read config file"));
}

#[test]
fn cli_writes_while_the_database_is_in_use() {
    // WAL: a second process writes while this one holds a connection with a read open.
    let cli = Cli::new();
    cli.ok(&["group", "add", "first"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = cli.db.connect().await;
        let mut tx = db.reader_pool().begin().await.unwrap(); // a reader (deferred), not a writer
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, 1);
        cli.ok(&["group", "add", "second"]);
        tx.commit().await.unwrap();
        let mut conn = db.read().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM groups")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, 2);
    });
}

/// `sesame … | head -1`: a reader that goes away ends the command quietly (status 141, as a
/// SIGPIPE death would), not with a panic message.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let cli = Cli::new();
    cli.ok(&["group", "add", "staff"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["group", "list"])
        .env("SESAME_DATABASE_URL", &cli.db.url)
        .env("SESAME_CERTS_DIR", cli.certs.path())
        .env_remove("SESAME_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sesame");
    // The reader is gone before the command prints anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The MFA policy and an admin's reset of a user's second factors, from the CLI.
#[test]
fn mfa_policy_and_reset_from_the_cli() {
    let cli = Cli::new();
    let added = cli.run_with(
        &[
            "user",
            "add",
            "alice",
            "--email",
            "a@example.com",
            "--password-stdin",
        ],
        Some("a-good-long-phrase-9\n"),
        &[],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert_eq!(cli.ok(&["user", "mfa-policy"]).trim(), "optional");
    assert_eq!(
        cli.ok(&["user", "mfa-policy", "--set", "admins"]).trim(),
        "admins"
    );
    cli.refused(
        &["user", "mfa-policy", "--set", "sometimes"],
        "not a policy",
    );
    assert_eq!(cli.ok(&["user", "mfa-policy"]).trim(), "admins");
    assert!(cli
        .ok(&["user", "reset-mfa", "alice"])
        .contains("alice had no second factor"));
    let shown = cli.json(&["user", "show", "alice", "--json"]);
    assert_eq!(shown["mfa"]["totp"], false);
    cli.refused(&["user", "reset-mfa", "nobody"], "nobody");
}
