//! The CSV import of users: a dry run says row by row what would happen and creates
//! nothing; the import creates the valid rows (managers and groups included, a manager may
//! come later in the file), leaves existing users alone and reports the others with their
//! line and reason — in the console, the API and the CLI.

use serde_json::Value;
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};

use crate::support::{Browser, TestDb, TestServer};

const ROOT_PW: &str = "a long admin passphrase 12345";

const CSV: &str = "username,email,first_name,last_name,manager,groups\n\
ana,ana@example.com,Ana,Lopez,boss,eng\n\
boss,boss@example.com,Big,Boss,,eng;ops\n\
existing,existing@example.com,Ex,Isting,,\n\
\"bad name!\",bad@example.com,,,,\n\
dup,ana@example.com,,,,\n\
nogroup,nogroup@example.com,,,,ghosts\n\
noemail,,,,,\n";

async fn server() -> (TestDb, TestServer, String) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let sys = Actor::system();
    server.admin("root", ROOT_PW).await;
    let e = UserFields {
        email: Some("old@example.com".into()),
        ..UserFields::default()
    };
    users::add(&server.db, &sys, "existing", &e, None)
        .await
        .unwrap();
    groups::add(&server.db, &sys, "eng", "").await.unwrap();
    groups::add(&server.db, &sys, "ops", "").await.unwrap();
    let token = sesame::auth::tokens::create(&server.db, &sys, "ci", "root")
        .await
        .unwrap();
    (db, server, token)
}

fn outcomes(report: &Value) -> Vec<(u64, String)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_api_previews_then_imports_row_by_row() {
    let (_db, server, token) = server().await;
    let http = reqwest::Client::new();
    let post = |q: &str| {
        http.post(format!("http://{}/api/v1/import/users{q}", server.addr))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(CSV)
            .send()
    };
    let preview: Value = post("?dry_run=true").await.unwrap().json().await.unwrap();
    let expected = [
        (2, "create"),
        (3, "create"),
        (4, "exists"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
        (8, "error"),
    ];
    let want: Vec<(u64, String)> = expected.iter().map(|(l, o)| (*l, o.to_string())).collect();
    assert_eq!(outcomes(&preview), want, "{preview}");
    assert_eq!(preview["applied"], false);
    let msg = |line: usize| {
        preview["rows"][line - 2]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(msg(5).contains("username"), "{}", msg(5));
    assert!(msg(6).contains("in the file twice"), "{}", msg(6));
    assert!(
        msg(7).contains("group \"ghosts\" does not exist"),
        "{}",
        msg(7)
    );
    assert!(
        users::get(&server.db, "ana").await.is_err(),
        "a dry run creates nothing"
    );

    let done: Value = post("").await.unwrap().json().await.unwrap();
    assert_eq!(done["created"], 2, "{done}");
    assert_eq!(done["errors"], 4);
    let ana = users::show(&server.db, "ana").await.unwrap();
    assert_eq!(
        ana.user.manager.as_deref(),
        Some("boss"),
        "a manager later in the file"
    );
    assert_eq!(ana.groups, ["eng"]);
    assert!(!ana.password_set, "no password until invited or set");
    assert_eq!(
        users::show(&server.db, "boss").await.unwrap().groups,
        ["eng", "ops"]
    );
    assert_eq!(
        users::get(&server.db, "existing").await.unwrap().email,
        "old@example.com"
    );

    let bad_header = http
        .post(format!("http://{}/api/v1/import/users", server.addr))
        .bearer_auth(&token)
        .body("user,mail\nx,y\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn the_console_keeps_the_text_through_preview_and_import_and_the_cli_does_the_same() {
    let (db, server, _) = server().await;
    let mut b = Browser::new(&server);
    assert_eq!(b.login("root", ROOT_PW).await.status, 303);
    let page = b.get("/admin/import/users").await;
    let csrf = page.csrf();
    let preview = b
        .post(
            "/admin/import/users",
            &[("csrf", &csrf), ("csv", CSV), ("action", "preview")],
        )
        .await;
    assert_eq!(preview.status, 200);
    assert!(preview.body.contains("Preview: nothing was created yet"));
    assert!(
        preview
            .body
            .contains("2 to create, 1 already there, 4 refused"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("bad@example.com"), "the text is kept");
    assert!(users::get(&server.db, "boss").await.is_err());
    let imported = b
        .post(
            "/admin/import/users",
            &[("csrf", &csrf), ("csv", CSV), ("action", "import")],
        )
        .await;
    assert!(imported.body.contains("2 created"), "{}", imported.body);
    assert!(users::get(&server.db, "boss").await.is_ok());

    // The CLI: a dry run of a new file, then the import; refused rows fail the command.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("more.csv");
    std::fs::write(&file, "username,email\ncara,cara@example.com\ndan,\n").unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(["user", "import"])
            .arg(&file)
            .args(extra)
            .env("SESAME_DATABASE_URL", &db.url)
            .env("SESAME_CERTS_DIR", &server.config.certs_dir)
            .env_remove("SESAME_CONFIG")
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        out.contains("would create 1, 0 already there, 1 refused"),
        "{out}"
    );
    assert!(!dry.status.success(), "a refused row fails the command");
    assert!(users::get(&server.db, "cara").await.is_err());
    let real = run(&[]);
    assert!(String::from_utf8_lossy(&real.stdout).contains("created 1"));
    assert!(users::get(&server.db, "cara").await.is_ok());
    server.stop().await;
}
