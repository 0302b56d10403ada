//! The real SCIM target for provisioning tests: `scim2-server` (strict, in memory) behind
//! `tests/scim/target.py`, on a loopback port, logging every request it gets.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sesame::config::Config;
use sesame::directory::Actor;
use sesame::scim::secret::Secret;
use sesame::scim::target::{self, Changes, Credential, Switch};
use sesame::store::scim as store;
use sesame::store::Db;

pub const TOKEN: &str = "s3cr3t-scim-token-7f2c";

pub struct ScimPeer {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
    auth: (String, String),
}

impl ScimPeer {
    /// Starts the target with the faults its flags name (`--rate`, `--throttle-every`, ...;
    /// the list is at the top of tests/scim/target.py).
    pub fn start(flags: &[&str]) -> ScimPeer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scim/target.py");
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("requests.jsonl");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--token", TOKEN, "--log"])
            .arg(&log)
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be installed (make test sets up the SCIM test peer)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the target's address");
        let url = line
            .trim()
            .strip_prefix("serving on ")
            .unwrap_or_else(|| {
                panic!("the SCIM target did not start (is scim2-server installed? `make test` installs it): {line:?}")
            })
            .trim_end_matches('/')
            .to_string();
        let basic = flags
            .iter()
            .position(|f| *f == "--basic")
            .map(|i| flags[i + 1].to_string());
        let auth = match basic {
            Some(b) => ("basic".to_string(), b),
            None => ("bearer".to_string(), TOKEN.to_string()),
        };
        ScimPeer {
            child,
            url,
            log,
            _dir: dir,
            auth,
        }
    }

    /// Every request sesame sent the target, in order: method, path, query, status, body,
    /// if_match (the test's own look-ups, marked `x-test`, and the reads of
    /// /ServiceProviderConfig, left out: `all_requests` has those).
    pub fn requests(&self) -> Vec<Value> {
        self.all_requests()
            .into_iter()
            .filter(|r| r["path"] != "/ServiceProviderConfig")
            .collect()
    }

    /// `requests` with the reads of /ServiceProviderConfig.
    pub fn all_requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| !r["query"].as_str().unwrap_or("").contains("x-test"))
            .collect()
    }

    /// Replaces a user in the target directly (the target's own change, not sesame's).
    pub async fn put_user(&self, id: &str, body: &Value) {
        let res = self
            .request(reqwest::Method::PUT, &format!("/Users/{id}"))
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("put");
        assert_eq!(res.status().as_u16(), 200, "{:?}", res.text().await);
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}{path}{sep}x-test=1", self.url);
        let c = reqwest::Client::new().request(method, url);
        if self.auth.0 == "basic" {
            let (u, p) = self.auth.1.split_once(':').expect("user:pass");
            c.basic_auth(u, Some(p))
        } else {
            c.bearer_auth(&self.auth.1)
        }
    }

    /// The target's users (straight from it, not through sesame).
    /// Waits out the target's own throttling (429) a few times.
    pub async fn users(&self) -> Vec<Value> {
        for _ in 0..10 {
            let res = self
                .request(reqwest::Method::GET, "/Users?count=10000")
                .send()
                .await
                .expect("list users");
            if res.status().as_u16() == 429 {
                tokio::time::sleep(Duration::from_millis(1100)).await;
                continue;
            }
            let v: Value = res.json().await.expect("json");
            return v["Resources"].as_array().cloned().unwrap_or_default();
        }
        panic!("the target kept throttling the test's own listing");
    }

    pub async fn user(&self, username: &str) -> Option<Value> {
        self.users()
            .await
            .into_iter()
            .find(|u| u["userName"].as_str() == Some(username))
    }

    /// A group of the target by displayName.
    pub async fn group(&self, name: &str) -> Option<Value> {
        let v: Value = self
            .request(reqwest::Method::GET, "/Groups?count=1000")
            .send()
            .await
            .expect("list groups")
            .json()
            .await
            .expect("json");
        v["Resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|g| g["displayName"].as_str() == Some(name))
    }

    /// Creates a user directly in the target (an account that existed before sesame).
    pub async fn create(&self, username: &str) -> Value {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": username,
            "emails": [{ "value": format!("{username}@example.com"), "type": "work", "primary": true }],
            "active": true,
        });
        self.request(reqwest::Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json")
    }

    /// Creates a user in the target from a whole SCIM body (say, with an externalId).
    pub async fn create_body(&self, body: &Value) -> Value {
        self.request(reqwest::Method::POST, "/Users")
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json")
    }

    pub async fn delete(&self, id: &str) {
        let res = self
            .request(reqwest::Method::DELETE, &format!("/Users/{id}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(res.status().as_u16(), 204);
    }
}

impl Drop for ScimPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points `slug` at the peer (bearer token, or basic when the peer uses it) and activates it.
pub async fn connect(db: &Db, config: &Config, slug: &str, peer: &ScimPeer, extra: Changes) {
    let key = config.seal_key().expect("seal key");
    let credential = if peer.auth.0 == "basic" {
        let (u, p) = peer.auth.1.split_once(':').expect("user:pass");
        Credential::Basic(u.into(), Secret::new(p))
    } else {
        Credential::Bearer(Secret::new(TOKEN))
    };
    let changes = Changes {
        url: Some(peer.url.clone()),
        credential: Some(credential),
        ..extra
    };
    target::update(db, &key, &Actor::system(), slug, &changes)
        .await
        .expect("scim set");
    target::set_state(db, &Actor::system(), slug, Switch::Activate)
        .await
        .expect("activate");
}

/// Waits until the app's queue is empty (the worker is done), at most `secs`.
pub async fn settle(db: &Db, slug: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut conn = db.read().await.expect("conn");
        let app_id: i64 = sqlx::query_scalar("SELECT id FROM apps WHERE slug = $1")
            .bind(slug)
            .fetch_one(&mut *conn)
            .await
            .expect("app");
        let left = store::depth(&mut conn, app_id).await.expect("depth");
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} provisioning job(s) still queued after {secs}s"
        );
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
