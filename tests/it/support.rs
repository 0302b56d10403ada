//! Test harness: a server on 127.0.0.1:0 with its own database, a cookie-keeping browser
//! stand-in, and the PostgreSQL peer (required when `CI` is set).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use sesame::app::{self, Running};
use sesame::auth::password::Password;
use sesame::config::Config;
use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;
use sesame::store::Db;

/// A fresh, empty database: a SQLite file in a temp dir, or a new PostgreSQL database.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/sesame.db", dir.path().display());
        TestDb {
            url,
            _dir: Some(dir),
        }
    }

    /// A new database on the PostgreSQL test server, or `None` outside CI when there is
    /// none (with a note on stderr). Under `CI` a missing server fails the test.
    pub async fn postgres() -> Option<TestDb> {
        let admin = match std::env::var("SESAME_TEST_PG_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "SESAME_TEST_PG_URL is not set: PostgreSQL is required under CI (make test starts it)"
                );
                eprintln!("note: SESAME_TEST_PG_URL not set; PostgreSQL half of this test not run (use make test)");
                return None;
            }
        };
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin)
            .await
            .expect("connect to the PostgreSQL test server");
        let name = format!(
            "sesame_test_{}",
            sesame::auth::csrf::random_token(9)
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create test database");
        pool.close().await;
        let (base, _) = admin.rsplit_once('/').expect("database URL with a path");
        Some(TestDb {
            url: format!("{base}/{name}"),
            _dir: None,
        })
    }

    pub async fn connect(&self) -> Db {
        Db::connect(&self.url).await.expect("open test database")
    }
}

/// The config a test server runs with: loopback, port 0, quick lockouts.
pub fn test_config(db_url: &str) -> Config {
    let certs = std::env::temp_dir().join(format!(
        "sesame-certs-{}",
        sesame::auth::csrf::random_token(9)
    ));
    let certs = certs.to_string_lossy().into_owned();
    let env: BTreeMap<String, String> = [
        ("SESAME_CERTS_DIR", certs.as_str()),
        ("SESAME_LISTEN", "127.0.0.1:0"),
        ("SESAME_DATABASE_URL", db_url),
        ("SESAME_LOGIN_MAX_FAILURES", "3"),
        ("SESAME_LOGIN_IP_MAX_FAILURES", "8"),
        ("SESAME_LOGIN_LOCKOUT", "2s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_sources(None, &env).expect("test config")
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub db: Db,
    pub config: Config,
    running: Option<Running>,
}

impl TestServer {
    pub async fn start(testdb: &TestDb) -> TestServer {
        Self::start_with(test_config(&testdb.url)).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let db = Db::connect(&config.database_url)
            .await
            .expect("open database");
        let running = app::start(config.clone(), db.clone())
            .await
            .expect("start server");
        TestServer {
            addr: running.addr,
            db,
            config,
            running: Some(running),
        }
    }

    /// Where `metrics_listen` was bound, when the config set it.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.metrics_addr)
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop server");
        }
    }

    /// Creates an active admin (`{username}@example.com`) with a password.
    pub async fn admin(&self, username: &str, password: &str) {
        let fields = UserFields {
            email: Some(format!("{username}@example.com")),
            is_admin: Some(true),
            ..UserFields::default()
        };
        let pw = Password::new(password.into()).expect("password policy");
        users::add(&self.db, &Actor::system(), username, &fields, Some(&pw))
            .await
            .expect("add admin");
    }

    /// Creates an active user with a password.
    pub async fn user(&self, username: &str, password: &str) {
        let fields = UserFields {
            email: Some(format!("{username}@example.com")),
            ..UserFields::default()
        };
        let pw = Password::new(password.into()).expect("password policy");
        users::add(&self.db, &Actor::system(), username, &fields, Some(&pw))
            .await
            .expect("add user");
    }
}

/// Gives app `slug` the SSO settings it needs to sign someone in (an SP entity ID and an ACS
/// URL), so that its tile shows.
pub async fn ready_sso(db: &Db, slug: &str) {
    let changes = sesame::saml::settings::SsoChanges {
        sp_entity_id: Some(format!("https://{slug}.example/sp")),
        acs_urls: Some(vec![format!("https://{slug}.example/acs")]),
        ..Default::default()
    };
    sesame::saml::settings::update(db, &Actor::system(), slug, &changes)
        .await
        .expect("SSO settings");
}

/// One HTTP answer, read whole.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
    /// The value of the first `<input name="csrf" value="...">`.
    pub fn csrf(&self) -> String {
        hidden(&self.body, "csrf").expect("page has a csrf field")
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

pub fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

/// A client that keeps cookies like a browser would (by name), follows no redirects, and
/// lets a test look at every `Set-Cookie`.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(server: &TestServer) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Browser {
            client,
            base: format!("http://{}", server.addr),
            cookies: HashMap::new(),
        }
    }

    /// Points the same cookie jar at another server (a restarted one).
    pub fn retarget(&mut self, server: &TestServer) {
        self.base = format!("http://{}", server.addr);
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        for sc in headers.get_all("set-cookie") {
            let sc = sc.to_str().expect("ascii cookie");
            let pair = sc.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                let expired = sc.contains("Max-Age=0") || v.is_empty();
                if expired {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        let body = res.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .client
            .get(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(res).await
    }

    /// Opens the login page and submits the form; returns the answer to the POST.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let page = self.get("/login").await;
        let csrf = page.csrf();
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
                ("next", "/"),
            ],
        )
        .await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookies.get(app::SESSION_COOKIE).cloned()
    }
}
