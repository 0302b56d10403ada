//! SP-metadata import by URL (issue 11, finding 3; SECURITY 19) through the admin API and
//! the CLI: loopback and other non-public addresses are refused before any request is
//! sent, with one message whether a port is open or closed; every redirect is checked
//! again; `metadata_fetch_allow` lets an internal host in. The metadata host below listens
//! on loopback, so the allow-list is how the happy path is reached.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use sesame::auth::tokens;
use sesame::directory::users::{self, UserFields};
use sesame::directory::Actor;
use sesame::saml::fetch::FetchAllow;

use crate::cli::Cli;
use crate::support::{test_config, TestDb, TestServer};

/// What every refused or failed fetch says, whatever the cause.
const UNIFORM: &str = "could not fetch SP metadata from that URL (it must be a public http(s) address; see metadata_fetch_allow)";
const ENTITY: &str = "https://wiki.example/sp";

fn sp_metadata() -> String {
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://wiki.example/saml/acs" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (one connection at a time, `Connection: close`):
/// `/metadata` serves SP metadata, `/redirect` sends to `/metadata` on the 127.0.0.1
/// literal, `/loop` redirects to itself, anything else is 404. It records every path asked.
struct MetadataHost {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetadataHost {
    fn start() -> MetadataHost {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the metadata host");
        let addr = listener.local_addr().expect("address");
        let paths = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (paths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    answer(conn, addr, &seen);
                }
            }
        });
        MetadataHost {
            addr,
            paths,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:{port}{path}`
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The same, by the name `localhost`.
    fn named_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.addr.port())
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    fn forget(&self) {
        self.paths.lock().unwrap().clear();
    }
}

impl Drop for MetadataHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut conn: TcpStream, addr: SocketAddr, seen: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let Some(path) = head.split_whitespace().nth(1).map(str::to_string) else {
        return;
    };
    seen.lock().unwrap().push(path.clone());
    let (status, extra, body) = match path.as_str() {
        "/metadata" => (
            "200 OK",
            "Content-Type: application/samlmetadata+xml\r\n".to_string(),
            sp_metadata(),
        ),
        "/redirect" => (
            "302 Found",
            format!("Location: http://{addr}/metadata\r\n"),
            String::new(),
        ),
        "/loop" => (
            "302 Found",
            "Location: /loop\r\n".to_string(),
            String::new(),
        ),
        _ => ("404 Not Found", String::new(), "not here".to_string()),
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A loopback URL nothing listens on.
fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/metadata")
}

/// A server whose `metadata_fetch_allow` is `allow`, an app `wiki`, and an admin token.
struct Admin {
    _db: TestDb,
    server: TestServer,
    client: reqwest::Client,
    token: String,
}

impl Admin {
    async fn start(allow: &str) -> Admin {
        let db = TestDb::sqlite();
        let mut config = test_config(&db.url);
        config.metadata_fetch_allow = FetchAllow::parse(allow).expect("allow-list");
        let server = TestServer::start_with(config).await;
        let fields = UserFields {
            email: Some("root@example.com".into()),
            is_admin: Some(true),
            ..UserFields::default()
        };
        users::add(&server.db, &Actor::system(), "root", &fields, None)
            .await
            .unwrap();
        let token = tokens::create(&server.db, &Actor::cli(), "ci", "root")
            .await
            .unwrap();
        let admin = Admin {
            _db: db,
            server,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            token,
        };
        let (status, body) = admin
            .call(
                reqwest::Method::POST,
                "/api/v1/apps",
                json!({"slug": "wiki", "template": "generic"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        admin
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .client
            .request(method, format!("http://{}{path}", self.server.addr))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn import(&self, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, "/api/v1/apps/wiki/sso/metadata", body)
            .await
    }

    /// Imports from `url`, which must be refused with the uniform message and change nothing.
    async fn refused(&self, url: &str) {
        let (status, body) = self.import(json!({ "url": url })).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"]["code"], "invalid", "{url}: {body}");
        assert_eq!(body["error"]["message"], UNIFORM, "{url}");
        assert_eq!(self.entity_id().await, "", "{url} changed the app");
    }

    async fn imported(&self, url: &str) {
        let (status, body) = self.import(json!({ "url": url })).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(body["sp_entity_id"], ENTITY, "{url}: {body}");
    }

    async fn entity_id(&self) -> String {
        let (_, sso) = self
            .call(reqwest::Method::GET, "/api/v1/apps/wiki/sso", Value::Null)
            .await;
        sso["sp_entity_id"].as_str().unwrap_or_default().to_string()
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

#[tokio::test]
async fn api_refuses_non_public_metadata_urls_alike() {
    let host = MetadataHost::start();
    let admin = Admin::start("").await;
    for url in [
        host.url("/metadata"),
        closed_port_url(),
        host.named_url("/metadata"),
        format!("http://[::1]:{}/metadata", host.addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/metadata", host.addr.port()),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/metadata".to_string(),
    ] {
        admin.refused(&url).await;
    }
    assert!(
        host.paths().is_empty(),
        "a refused address was sent a request: {:?}",
        host.paths()
    );
    // What the admin controls, and what reveals nothing, is said plainly.
    let (status, body) = admin.import(json!({"url": "file:///etc/passwd"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "\"file:///etc/passwd\" is not an http(s) URL"
    );
    let (status, _) = admin.import(json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = admin
        .import(json!({"url": host.url("/metadata"), "xml": sp_metadata()}))
        .await;
    assert_eq!(status, 400);
    assert!(host.paths().is_empty());
    admin.stop().await;
}

#[tokio::test]
async fn api_allow_list_lets_an_internal_host_in_and_redirects_are_rechecked() {
    let host = MetadataHost::start();

    // Allowed by address: the import works; a closed port, a 404 and a redirect loop
    // on the same allowed address all read the same.
    let admin = Admin::start("127.0.0.1").await;
    admin.refused(&closed_port_url()).await;
    admin.refused(&host.url("/missing")).await;
    admin.refused(&host.url("/loop")).await;
    admin.imported(&host.url("/metadata")).await;
    admin.stop().await;

    // Allowed by name: the name's own address is fetched, but its redirect to the
    // loopback literal is not followed.
    let admin = Admin::start("localhost").await;
    host.forget();
    admin.refused(&host.named_url("/redirect")).await;
    assert_eq!(host.paths(), ["/redirect"], "the redirect was followed");
    admin.refused(&host.url("/metadata")).await;
    admin.imported(&host.named_url("/metadata")).await;
    admin.stop().await;

    // With the redirect's target allowed too, the same redirect is followed.
    let admin = Admin::start("localhost, 127.0.0.1").await;
    admin.imported(&host.named_url("/redirect")).await;
    admin.stop().await;
}

fn cli_import(cli: &Cli, url: &str, allow: &str) -> std::process::Output {
    cli.run_with(
        &["app", "import-metadata", "wiki", url],
        None,
        &[("SESAME_METADATA_FETCH_ALLOW", allow)],
    )
}

fn cli_refused(cli: &Cli, url: &str, allow: &str) {
    let out = cli_import(cli, url, allow);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{url} (allow {allow:?}) was imported"
    );
    assert_eq!(err.trim_end(), format!("error: {UNIFORM}"), "{url}");
}

#[test]
fn cli_refuses_non_public_metadata_urls_unless_allowed() {
    let host = MetadataHost::start();
    let cli = Cli::new();
    cli.ok(&["app", "add", "wiki", "--template", "generic"]);

    cli_refused(&cli, &host.url("/metadata"), "");
    cli_refused(&cli, &closed_port_url(), "");
    cli_refused(&cli, &host.named_url("/metadata"), "");
    assert!(host.paths().is_empty(), "{:?}", host.paths());
    // Allowed or not, a closed port says the same as a refused address.
    cli_refused(&cli, &closed_port_url(), "127.0.0.1");
    // A redirect from an allowed host to loopback is refused.
    cli_refused(&cli, &host.named_url("/redirect"), "localhost");
    assert_eq!(host.paths(), ["/redirect"]);
    let sso = cli.ok(&["app", "sso", "wiki"]);
    assert!(!sso.contains(ENTITY), "a refused import changed the app");

    let out = cli_import(&cli, &host.url("/metadata"), "127.0.0.1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cli.ok(&["app", "sso", "wiki"]).contains(ENTITY));

    // A bad allow-list is a one-line configuration error.
    let out = cli_import(&cli, &host.url("/metadata"), "10.0.0.1/8");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("metadata_fetch_allow (from SESAME_METADATA_FETCH_ALLOW)"),
        "{err}"
    );
}
