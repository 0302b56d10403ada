//! HTTPS without a proxy, on a real `sesame serve`: the configured certificate is served
//! and answered through; a renewal written over the files is picked up within seconds and a
//! broken one is not; `http_listen` redirects to HTTPS keeping the path and query; and the
//! client address for throttling and events comes from `X-Forwarded-For` only when a
//! trusted proxy sent it (SECURITY 12: a forged header must not dodge the per-IP throttle).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};

use crate::process::Server;

/// A self-signed P-256 certificate for 127.0.0.1 named `cn`: (certificate PEM, key PEM,
/// certificate DER).
fn self_signed(cn: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut serial = BigNum::new().unwrap();
    serial.rand(120, MsbOption::MAYBE_ZERO, false).unwrap();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    (
        cert.to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
        cert.to_der().unwrap(),
    )
}

/// Replaces `path` in one step, as certbot and lego do (write aside, then rename).
fn replace(path: &Path, bytes: &[u8]) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, bytes).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// The DER of the certificate a new TLS connection to `port` is shown.
async fn served_cert(port: u16) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let mut c = SslConnector::builder(SslMethod::tls_client()).unwrap();
        c.set_verify(SslVerifyMode::NONE);
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let tls = c.build().connect("localhost", tcp).expect("TLS handshake");
        tls.ssl()
            .peer_certificate()
            .expect("a certificate")
            .to_der()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Lines of the server's log that contain `needle`.
fn count(server: &Server, needle: &str) -> usize {
    server.log_lines(needle, usize::MAX).lines().count()
}

/// Waits (10 s at most) until the log has more lines with `needle` than `before`.
async fn wait_for_more(server: &Server, needle: &str, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(server, needle) <= before {
        assert!(
            Instant::now() < deadline,
            "no new log line with {needle:?}:\n{}",
            server.log_lines("", 10)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client_trusting(pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// A server with `tls_cert`/`tls_key` in a folder of their own, and the first pair.
struct Tls {
    server: Server,
    cert: PathBuf,
    key: PathBuf,
    first: (Vec<u8>, Vec<u8>, Vec<u8>),
    _files: tempfile::TempDir,
}

async fn tls_server(extra: &[(&str, &str)]) -> Tls {
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (
        files.path().join("fullchain.pem"),
        files.path().join("privkey.pem"),
    );
    let first = self_signed("sesame-first");
    std::fs::write(&cert, &first.0).unwrap();
    std::fs::write(&key, &first.1).unwrap();
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let mut env = vec![
        ("SESAME_TLS_CERT", c.as_str()),
        ("SESAME_TLS_KEY", k.as_str()),
    ];
    env.extend_from_slice(extra);
    let mut server = Server::new(&env);
    let base_url = format!("https://127.0.0.1:{}/", server.port());
    server.set("SESAME_BASE_URL", &base_url);
    server.start().await;
    Tls {
        server,
        cert,
        key,
        first,
        _files: files,
    }
}

#[tokio::test]
async fn https_serves_the_configured_certificate_and_picks_up_a_renewal() {
    let t = tls_server(&[]).await;
    let port = t.server.port();
    let https = client_trusting(&t.first.0);
    let base = t.server.base();
    assert!(base.starts_with("https://"), "{base}");
    let res = https.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok\n");
    let login = https.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    // Reached over TLS: HSTS (RFC 6797), which plain HTTP never gets.
    assert_eq!(
        login.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert!(login.text().await.unwrap().contains("name=\"password\""));
    assert_eq!(served_cert(port).await, t.first.2);
    // An https base_url with TLS here: nothing to warn about.
    assert!(t.server.log_lines("base_url is", 1).is_empty());

    // A renewal: the key first, then the certificate, each replaced in one step.
    let second = self_signed("sesame-second");
    replace(&t.key, &second.1);
    replace(&t.cert, &second.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_cert(port).await != second.2 {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served within 10 s:\n{}",
            t.server.log_lines("TLS", 10)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let renewed = client_trusting(&second.0);
    let res = renewed.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A broken renewal: logged, and the last good certificate stays.
    let broken = "holds no PEM certificate";
    let before = count(&t.server, broken);
    replace(&t.cert, b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
    wait_for_more(&t.server, broken, before).await;
    for _ in 0..3 {
        assert_eq!(served_cert(port).await, second.2);
    }
    let res = renewed.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // A key that is not the certificate's is refused the same way.
    let third = self_signed("sesame-third");
    let mismatch = "does not belong to the certificate";
    let before = count(&t.server, mismatch);
    replace(&t.cert, &third.0);
    wait_for_more(&t.server, mismatch, before).await;
    assert_eq!(served_cert(port).await, second.2);
}

#[tokio::test]
async fn plain_http_redirects_to_https_keeping_path_and_query() {
    let http_port = free_port();
    let listen = format!("127.0.0.1:{http_port}");
    let t = tls_server(&[("SESAME_HTTP_LISTEN", listen.as_str())]).await;
    // The base URL named https with this port: the redirect goes there.
    let base = t.server.base();
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for path in [
        "/login?next=%2Fsaml2%2Fdemo&x=1",
        "/",
        "/saml2/demo/metadata",
    ] {
        for post in [false, true] {
            let url = format!("http://{listen}{path}");
            let req = if post {
                plain.post(&url).body("a=b")
            } else {
                plain.get(&url)
            };
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 308, "{path}");
            assert_eq!(res.headers()["location"], format!("{base}{path}"), "{path}");
        }
    }
    // A forged Host does not move the redirect elsewhere.
    let res = plain
        .get(format!("http://{listen}/login"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], format!("{base}/login"));
    // The liveness probe answers in plain HTTP (load balancers do not follow redirects).
    let res = plain
        .get(format!("http://{listen}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), res.text().await.unwrap()),
        (200, "ok\n".into())
    );
    // And the redirect lands: the HTTPS side answers that URL.
    let https = client_trusting(&t.first.0);
    let res = https
        .get(format!("{base}/login?next=%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_https_base_url_on_a_plain_listener_is_warned_about() {
    let mut server = Server::new(&[]);
    let base = format!("https://127.0.0.1:{}/", server.port());
    server.set("SESAME_BASE_URL", &base);
    // Server::base() is http here (no certificate): it probes the plain listener.
    server.start().await;
    let warning = server.log_lines("behind_proxy is not set", 5);
    assert!(warning.contains("WARN"), "{}", server.log_lines("", 20));
    drop(server);

    // Behind a proxy, the same base_url is what is expected: no warning.
    let mut server = Server::new(&[
        ("SESAME_BEHIND_PROXY", "true"),
        ("SESAME_TRUSTED_PROXIES", "10.0.0.0/8"),
    ]);
    let base = format!("https://127.0.0.1:{}/", server.port());
    server.set("SESAME_BASE_URL", &base);
    server.start().await;
    assert!(server.log_lines("base_url is", 5).is_empty());
}

/// Fails one sign-in (an unknown user) from `forwarded_for`; the status of the answer.
async fn fail_login(http: &reqwest::Client, base: &str, xff: &str, proto: &str) -> u16 {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let body = page.text().await.unwrap();
    let csrf = crate::support::hidden(&body, "csrf").expect("csrf field");
    let res = http
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .header("x-forwarded-for", xff)
        .header("x-forwarded-proto", proto)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nobody"),
            ("password", "not the password"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

/// The `ip` of each `login_failure` event, oldest first.
fn failure_ips(server: &Server) -> Vec<String> {
    let out = server
        .cli()
        .ok(&["events", "--name", "login_failure", "--json"]);
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|e| e["detail"]["ip"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn proxied_server(trusted: &str) -> Server {
    let mut server = Server::new(&[
        ("SESAME_BEHIND_PROXY", "true"),
        ("SESAME_TRUSTED_PROXIES", trusted),
        // The per-address throttle decides here, not the per-account one.
        ("SESAME_LOGIN_MAX_FAILURES", "1000"),
        ("SESAME_LOGIN_IP_MAX_FAILURES", "3"),
    ]);
    server.start().await;
    server
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // The proxy (this test, on 127.0.0.1) is trusted: the forwarded address is the client,
    // for the events and for the throttle; the client's own left-most entry is not.
    let server = proxied_server("127.0.0.1").await;
    let base = server.base();
    for _ in 0..2 {
        assert_eq!(
            fail_login(&http, &base, "198.51.100.1, 203.0.113.7", "https").await,
            401
        );
    }
    // The third failure locks 203.0.113.7, and only it.
    assert_eq!(fail_login(&http, &base, "203.0.113.7", "https").await, 429);
    assert_eq!(fail_login(&http, &base, "203.0.113.7", "https").await, 429);
    assert_eq!(fail_login(&http, &base, "203.0.113.8", "https").await, 401);
    let ips = failure_ips(&server);
    assert_eq!(ips.len(), 5, "{ips:?}");
    assert!(ips[..4].iter().all(|ip| ip == "203.0.113.7"), "{ips:?}");
    assert_eq!(ips[4], "203.0.113.8");
    // The trusted proxy says the client came over HTTPS: HSTS.
    let res = http
        .get(format!("{base}/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("strict-transport-security"));
    drop(server);

    // The proxies are elsewhere: a forged header from 127.0.0.1 changes nothing, so a new
    // address in each request does not dodge the per-address throttle.
    let server = proxied_server("10.0.0.0/8").await;
    let base = server.base();
    assert_eq!(fail_login(&http, &base, "203.0.113.1", "https").await, 401);
    assert_eq!(fail_login(&http, &base, "203.0.113.2", "https").await, 401);
    assert_eq!(fail_login(&http, &base, "203.0.113.3", "https").await, 429);
    assert_eq!(fail_login(&http, &base, "203.0.113.4", "https").await, 429);
    let ips = failure_ips(&server);
    assert_eq!(ips.len(), 4, "{ips:?}");
    assert!(ips.iter().all(|ip| ip == "127.0.0.1"), "{ips:?}");
    let res = http
        .get(format!("{base}/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("strict-transport-security"));
}
