//! Issue 11, "panics": every decoder that reads outside bytes, fed malformed input through a
//! real `sesame serve` process (so that a panicking worker shows as a dropped connection and
//! a `panicked` line in its log, and an abort as a dead process).
//!
//! Anonymous: the SSO endpoints over both bindings (broken base64, URL and DEFLATE layers, a
//! DEFLATE bomb, non-UTF-8, DOCTYPE, deep nesting, wrong roots, duplicated and huge
//! parameters, bogus signatures), the continue and launch links, metadata and logo paths,
//! the login form, cookies and `Authorization` headers. Signed in: every admin API route that
//! takes a body or a path parameter, with broken, deep, huge, mistyped and non-UTF-8 JSON,
//! and the console's forms and logo upload with a valid CSRF token.
//!
//! Every answer must be a 4xx (or a 2xx/3xx where the input happens to be acceptable) with a
//! readable body: JSON with an `error` under `/api/`, an HTML page elsewhere. Never a 5xx,
//! never a dropped connection; afterwards the process is alive, still signs people in, and
//! its log holds no panic.

use std::io::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use flate2::write::DeflateEncoder;

use crate::process::{Cli, Server};
use crate::support::hidden;

const PASSWORD: &str = "malformed-password-9v3k";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_to_every_decoder_gets_a_clear_error_and_the_server_keeps_answering() {
    let mut server = Server::new(&[]);
    server.start().await;
    let cli = server.cli();
    set_up(&cli);
    let token = cli
        .ok(&["admin-token", "create", "malformed", "--user", "root"])
        .trim()
        .to_string();
    let mut p = Probe::new(&server.base());

    saml_redirect(&mut p, "/saml2/demo", "SAMLRequest").await;
    saml_post(&mut p, "/saml2/demo", "SAMLRequest").await;
    for param in ["SAMLRequest", "SAMLResponse"] {
        saml_redirect(&mut p, "/saml2/demo/slo", param).await;
        saml_post(&mut p, "/saml2/demo/slo", param).await;
    }
    portal_paths(&mut p).await;
    login_form(&mut p).await;
    passkey_ceremonies(&mut p).await;
    api(&mut p, &token).await;
    console(&mut p).await;

    // Still alive, still answering, nothing panicked.
    let health = p.raw("GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(health.map(|a| a.status), Ok(200), "healthz after the run");
    let mut user = Probe::new(&server.base());
    assert!(user.login("alice").await, "a user still signs in");
    let log = server.log_lines("panicked", 5);
    assert!(log.is_empty(), "the server log holds a panic:\n{log}");
    assert!(
        p.failures.is_empty(),
        "{} of {} malformed requests got a wrong answer:\n{}",
        p.failures.len(),
        p.sent,
        p.failures.join("\n")
    );
    assert!(p.sent > 200, "only {} requests sent", p.sent);
}

fn set_up(cli: &Cli) {
    for (name, admin) in [("alice", false), ("root", true)] {
        let mut args = vec![
            "user",
            "add",
            name,
            "--email",
            if admin {
                "root@example.com"
            } else {
                "alice@example.com"
            },
            "--password-stdin",
        ];
        if admin {
            args.push("--admin");
        }
        cli.ok_stdin(&args, &format!("{PASSWORD}\n"));
    }
    cli.ok(&["group", "add", "staff"]);
    cli.ok(&["group", "add-member", "staff", "alice"]);
    cli.ok(&["app", "add", "demo", "--template", "generic"]);
    cli.ok(&[
        "app",
        "sso",
        "demo",
        "--sp-entity-id",
        "https://sp.example/meta",
        "--acs-url",
        "https://sp.example/acs",
    ]);
    cli.ok(&["app", "grant", "demo", "staff"]);
}

/// One answer.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// A client with one session cookie that records every wrong answer instead of stopping at
/// the first.
struct Probe {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    failures: Vec<String>,
    sent: usize,
}

impl Probe {
    fn new(base: &str) -> Probe {
        Probe {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("client"),
            base: base.to_string(),
            cookie: None,
            failures: Vec::new(),
            sent: 0,
        }
    }

    /// Sends one request as given (headers and body bytes untouched).
    async fn raw(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        self.sent += 1;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("sesame_session={c}"));
        }
        for (k, v) in headers {
            let value = reqwest::header::HeaderValue::from_bytes(v).map_err(|e| e.to_string())?;
            req = req.header(*k, value);
        }
        let res = req
            .body(body)
            .send()
            .await
            .map_err(|e| format!("no answer: {:?}", e.without_url()))?;
        let status = res.status().as_u16();
        for value in res.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap_or("");
            if let Some(rest) = value.strip_prefix("sesame_session=") {
                let v = rest.split(';').next().unwrap_or("");
                self.cookie = (!v.is_empty() && !value.contains("Max-Age=0")).then(|| v.into());
            }
        }
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = res
            .text()
            .await
            .map_err(|e| format!("body cut: {:?}", e.without_url()))?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// Sends a malformed request and checks the answer: no 5xx, and a 4xx is readable (JSON
    /// with `error.message` under `/api/`, an HTML page elsewhere).
    async fn bad(
        &mut self,
        label: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Vec<u8>,
    ) -> Option<Answer> {
        let shown: String = path.chars().take(80).collect();
        let what = format!("{label}: {method} {shown}");
        let answer = match self.raw(method, path, headers, body).await {
            Ok(a) => a,
            Err(e) => {
                self.failures.push(format!("{what} -> {e}"));
                return None;
            }
        };
        let api = path.starts_with("/api/") || path.contains("/passkey");
        let problem = if answer.status >= 500 {
            Some("a server error")
        } else if (400..500).contains(&answer.status) {
            if api {
                let json: Option<serde_json::Value> = serde_json::from_str(&answer.body).ok();
                let readable = answer.content_type.starts_with("application/json")
                    && json
                        .as_ref()
                        .and_then(|j| j["error"]["message"].as_str())
                        .is_some_and(|e| !e.is_empty());
                (!readable).then_some("not a JSON error")
            } else {
                let page = answer.content_type.starts_with("text/html")
                    && answer.body.contains("<html")
                    && answer.body.len() > 200;
                (!page).then_some("not an HTML page")
            }
        } else {
            None
        };
        if let Some(problem) = problem {
            let gist: String = answer.body.chars().take(160).collect();
            self.failures.push(format!(
                "{what} -> {} {} ({problem}): {gist:?}",
                answer.status, answer.content_type
            ));
        }
        Some(answer)
    }

    async fn get(&mut self, label: &str, path: &str) -> Option<Answer> {
        self.bad(label, "GET", path, &[], Vec::new()).await
    }

    async fn form(&mut self, label: &str, path: &str, body: impl Into<Vec<u8>>) -> Option<Answer> {
        let ct: &[u8] = b"application/x-www-form-urlencoded";
        self.bad(label, "POST", path, &[("content-type", ct)], body.into())
            .await
    }

    async fn login(&mut self, user: &str) -> bool {
        let Ok(page) = self.raw("GET", "/login", &[], Vec::new()).await else {
            return false;
        };
        let Some(csrf) = hidden(&page.body, "csrf") else {
            return false;
        };
        let body = format!("csrf={csrf}&username={user}&password={PASSWORD}&next=%2F");
        let ct: &[u8] = b"application/x-www-form-urlencoded";
        self.raw("POST", "/login", &[("content-type", ct)], body.into())
            .await
            .is_ok_and(|a| a.status == 303)
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).expect("deflate");
    e.finish().expect("deflate")
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// XML documents that no decoder should choke on.
fn hostile_xml() -> Vec<(&'static str, Vec<u8>)> {
    let open = "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
                ID=\"_x\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\">";
    let deep = format!(
        "{open}{}{}</samlp:AuthnRequest>",
        "<a>".repeat(20_000),
        "</a>".repeat(20_000)
    );
    vec![
        ("empty", Vec::new()),
        ("text", b"hello".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, 0x3c, 0x00, 0x61]),
        ("wrong root", b"<foo/>".to_vec()),
        ("unclosed", open.as_bytes().to_vec()),
        (
            "doctype",
            format!("<!DOCTYPE r [<!ENTITY e \"x\">]>{open}&e;</samlp:AuthnRequest>").into(),
        ),
        ("deep", deep.into_bytes()),
        (
            "no attributes",
            b"<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>".to_vec(),
        ),
        (
            "bad instant and version",
            b"<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"\" \
              Version=\"9\" IssueInstant=\"yesterday\"/>"
                .to_vec(),
        ),
        (
            "a response, not a request",
            b"<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_r\"/>"
                .to_vec(),
        ),
        (
            "a logout request naming nobody",
            b"<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_l\" \
              Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"><saml:EncryptedID \
              xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"/></samlp:LogoutRequest>"
                .to_vec(),
        ),
        (
            "a logout response to nothing",
            b"<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_l\" \
              Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\" InResponseTo=\"_nothing\">\
              <samlp:Status><samlp:StatusCode/></samlp:Status></samlp:LogoutResponse>"
                .to_vec(),
        ),
        (
            "signature garbage",
            format!(
                "{open}<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
                 <ds:SignedInfo/><ds:SignatureValue>!!</ds:SignatureValue></ds:Signature>\
                 </samlp:AuthnRequest>"
            )
            .into(),
        ),
    ]
}

/// The SSO service (`param` SAMLRequest) and the Single Logout service (both parameters).
async fn saml_redirect(p: &mut Probe, path: &str, param: &str) {
    let raw_queries = [
        "",
        "SAMLRequest=",
        "SAMLRequest=%%%zz",
        "SAMLRequest=!!!!",
        "SAMLRequest=%FF%FE%00",
        "SAMLRequest=a&SAMLRequest=b",
        "SAMLResponse=AAAA",
        "SAMLRequest=AAAA&SigAlg=bogus&Signature=!!",
        "SAMLRequest=AAAA&RelayState=%FF",
    ];
    for q in raw_queries {
        p.get("redirect query", &format!("{path}?{q}")).await;
    }
    let not_deflate = b64(b"this is not DEFLATE data at all");
    p.get(
        "redirect not deflate",
        &format!("{path}?{param}={}", urlenc(&not_deflate)),
    )
    .await;
    // A DEFLATE bomb: 32 MiB of zeros in about 32 KiB (a URL stays under 64 KiB).
    let bomb = b64(&deflate(&vec![0u8; 32 << 20]));
    p.get(
        "redirect deflate bomb",
        &format!("{path}?{param}={}", urlenc(&bomb)),
    )
    .await;
    let relay = "r".repeat(60_000);
    p.get(
        "redirect huge RelayState",
        &format!("{path}?{param}=AAAA&RelayState={relay}"),
    )
    .await;
    for (name, xml) in hostile_xml() {
        let q = urlenc(&b64(&deflate(&xml)));
        p.get(&format!("redirect {name}"), &format!("{path}?{param}={q}"))
            .await;
        p.get(
            &format!("redirect {name}, signed with garbage"),
            &format!("{path}?{param}={q}&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature=AAAA"),
        )
        .await;
    }
}

async fn saml_post(p: &mut Probe, path: &str, param: &str) {
    for (name, xml) in hostile_xml() {
        let body = format!("{param}={}&RelayState=x", urlenc(&b64(&xml)));
        p.form(&format!("post {name}"), path, body).await;
    }
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not a form", vec![0xff, 0x00, 0xfe, b'=', 0x80]),
        ("broken escapes", b"SAMLRequest=%zz%&&=&".to_vec()),
        ("not base64", b"SAMLRequest=%21%21%21".to_vec()),
        ("twice", b"SAMLRequest=AAAA&SAMLRequest=AAAA".to_vec()),
        (
            "base64 of deflate",
            format!("SAMLRequest={}", urlenc(&b64(&deflate(b"<a/>")))).into(),
        ),
        (
            "8 MiB",
            format!("SAMLRequest={}", "A".repeat(8 << 20)).into(),
        ),
    ];
    for (name, body) in bodies {
        p.form(&format!("post {name}"), path, body).await;
    }
    for ct in [
        &b"application/json"[..],
        b"multipart/form-data",
        b"\xff\xfe",
    ] {
        p.bad(
            "post content type",
            "POST",
            path,
            &[("content-type", ct)],
            b"{\"SAMLRequest\": 1}".to_vec(),
        )
        .await;
    }
    p.bad(
        "post no content type",
        "POST",
        path,
        &[],
        b"SAMLRequest=AAAA".to_vec(),
    )
    .await;
}

async fn portal_paths(p: &mut Probe) {
    let long = "a".repeat(5_000);
    for path in [
        "/saml2/demo/continue".to_string(),
        "/saml2/demo/continue?h=".to_string(),
        "/saml2/demo/continue?h=%FF%FE".to_string(),
        format!("/saml2/demo/continue?h={long}"),
        "/saml2/%FF/metadata".to_string(),
        "/saml2/%00/certificate.pem".to_string(),
        format!("/saml2/{long}/metadata"),
        "/saml2/..%2F..%2Fetc%2Fpasswd/certificate.pem".to_string(),
        "/saml2/nosuch".to_string(),
        "/saml2/nosuch/launch".to_string(),
        "/logos/%00".to_string(),
        format!("/logos/{long}"),
        "/login?next=%FF%FE".to_string(),
        "/login?next=javascript:alert(1)".to_string(),
        "/login?%zz=%zz".to_string(),
        "/admin/apps/%FF".to_string(),
        "/no/such/page".to_string(),
    ] {
        p.get("path", &path).await;
    }
    let cookies: [&[u8]; 4] = [
        b"sesame_session=garbage",
        b"sesame_session=\xff\xfe",
        b"sesame_session=; sesame_session=x",
        b"a=b; c",
    ];
    for c in cookies {
        p.bad("cookie", "GET", "/admin", &[("cookie", c)], Vec::new())
            .await;
    }
    let huge = format!("sesame_session={}", "x".repeat(16_000));
    p.bad(
        "huge cookie",
        "GET",
        "/",
        &[("cookie", huge.as_bytes())],
        Vec::new(),
    )
    .await;
}

async fn login_form(p: &mut Probe) {
    let big = "p".repeat(1 << 20);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("no csrf", b"username=alice&password=x".to_vec()),
        (
            "not UTF-8",
            b"csrf=%FF&username=%FF%FE&password=%80".to_vec(),
        ),
        ("binary", vec![0u8, 0xff, b'&', b'=', 0x80]),
        (
            "1 MiB password",
            format!("csrf=x&username=alice&password={big}").into(),
        ),
    ];
    for (name, body) in bodies {
        p.form(&format!("login {name}"), "/login", body).await;
    }
    // With the page's own CSRF token, so that the fields are read: a password whose 4 KiB
    // cut falls inside a character, and a username that is not a name at all.
    let csrf = match p.raw("GET", "/login", &[], Vec::new()).await {
        Ok(page) => hidden(&page.body, "csrf").unwrap_or_default(),
        Err(_) => String::new(),
    };
    let cut = format!("{}%C3%A9", "a".repeat(4095));
    for (user, password) in [("alice", cut.as_str()), ("%00%0A%FF", "x"), ("", "")] {
        let body = format!("csrf={csrf}&username={user}&password={password}&next=%2F");
        p.form("login fields", "/login", body).await;
    }
}

/// The passkey ceremonies `passkey.js` calls, anonymously: no CSRF header, a wrong one, and
/// with the session's token broken and hostile JSON.
async fn passkey_ceremonies(p: &mut Probe) {
    let page = p.raw("GET", "/login", &[], Vec::new()).await;
    let csrf = page
        .ok()
        .and_then(|a| hidden(&a.body, "csrf"))
        .unwrap_or_default();
    let json: &[u8] = b"application/json";
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("cut", b"{\"credential\":".to_vec()),
        ("deep", deep.into_bytes()),
        (
            "forged",
            br#"{"credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","extensions":{},
               "response":{"authenticatorData":"!!","clientDataJSON":"AAAA","signature":"AAAA"}}}"#
                .to_vec(),
        ),
        ("not UTF-8", vec![b'{', 0xff, b'}']),
    ];
    for path in [
        "/login/passkey/begin",
        "/login/passkey/finish",
        "/account/passkeys/begin",
        "/account/passkeys/finish",
    ] {
        p.bad(
            "passkey no token",
            "POST",
            path,
            &[("content-type", json)],
            b"{}".to_vec(),
        )
        .await;
        for (name, body) in &bodies {
            let headers: [(&str, &[u8]); 2] =
                [("content-type", json), ("x-csrf-token", csrf.as_bytes())];
            p.bad(
                &format!("passkey {name}"),
                "POST",
                path,
                &headers,
                body.clone(),
            )
            .await;
        }
    }
}

/// Every admin API route that reads a body or a path parameter.
async fn api(p: &mut Probe, token: &str) {
    let bearer = format!("Bearer {token}");
    let auth: &[u8] = bearer.as_bytes();
    let json: &[u8] = b"application/json";
    let deep = format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000));
    let deep_obj = format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let huge = format!("{{\"username\": \"{}\"}}", "u".repeat(3 << 20));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("cut", b"{\"a\":".to_vec()),
        ("null", b"null".to_vec()),
        ("array", b"[1,2]".to_vec()),
        ("string", b"\"str\"".to_vec()),
        ("deep array", deep.into_bytes()),
        ("deep object", deep_obj.into_bytes()),
        (
            "not UTF-8",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        ),
        (
            "wrong types",
            br#"{"username": 5, "email": [], "label": {}, "admin": "yes", "groups": "x",
                "acs_urls": "x", "sp_entity_id": 1, "url": 7, "xml": 1, "enabled": 2,
                "deprovision": "explode", "rate_limit": -1, "page_size": 1e400}"#
                .to_vec(),
        ),
        ("huge", huge.into_bytes()),
    ];
    let routes: [(&str, &str); 18] = [
        ("POST", "/api/v1/apps"),
        ("PATCH", "/api/v1/apps/demo"),
        ("PATCH", "/api/v1/apps/demo/sso"),
        ("PUT", "/api/v1/apps/demo/sso/metadata"),
        ("PUT", "/api/v1/apps/demo/logo"),
        ("PATCH", "/api/v1/apps/demo/scim"),
        ("POST", "/api/v1/apps/demo/scim/test"),
        ("POST", "/api/v1/apps/demo/scim/bogus"),
        ("POST", "/api/v1/apps/demo/scim/import"),
        ("POST", "/api/v1/users"),
        ("PATCH", "/api/v1/users/alice"),
        ("POST", "/api/v1/users/alice/bogus"),
        ("POST", "/api/v1/users/alice/password"),
        ("POST", "/api/v1/groups"),
        ("PUT", "/api/v1/groups/staff/members/nobody"),
        ("PUT", "/api/v1/apps/demo/groups/nogroup"),
        ("POST", "/api/v1/keys/stage-next"),
        ("PATCH", "/api/v1/users/%FF%FE"),
    ];
    for (method, path) in routes {
        for (name, body) in &bodies {
            p.bad(
                &format!("api {name}"),
                method,
                path,
                &[("authorization", auth), ("content-type", json)],
                body.clone(),
            )
            .await;
        }
        for ct in [
            &b"text/plain"[..],
            b"application/json; charset=latin1",
            b"\xff",
        ] {
            p.bad(
                "api content type",
                method,
                path,
                &[("authorization", auth), ("content-type", ct)],
                b"{}".to_vec(),
            )
            .await;
        }
    }
    let long = "a".repeat(5_000);
    for path in [
        "/api/v1/events?limit=-1".to_string(),
        "/api/v1/events?limit=abc&since=yesterday&app=%FF".to_string(),
        "/api/v1/events?limit=99999999999999999999999".to_string(),
        "/api/v1/users?%zz".to_string(),
        "/api/v1/apps/demo/sso/preview?user=%00".to_string(),
        "/api/v1/apps/demo/sso/preview".to_string(),
        "/api/v1/apps/demo/scim/import?x=%FF".to_string(),
        format!("/api/v1/users/{long}"),
        "/api/v1/users/%00".to_string(),
        "/api/v1/apps/%FF".to_string(),
        "/api/v1/nosuch".to_string(),
    ] {
        p.bad(
            "api query",
            "GET",
            &path,
            &[("authorization", auth)],
            Vec::new(),
        )
        .await;
    }
    let huge_token = format!("Bearer {}", "t".repeat(10_000));
    let headers: [&[u8]; 6] = [
        b"Bearer ",
        b"Bearer \xff\xfe",
        b"Basic YWxpY2U6eA==",
        b"bearer",
        b"Bearer a b c",
        huge_token.as_bytes(),
    ];
    for h in headers {
        p.bad(
            "api authorization",
            "POST",
            "/api/v1/users",
            &[("authorization", h), ("content-type", json)],
            b"{}".to_vec(),
        )
        .await;
    }
}

/// The console's forms, with a valid session and CSRF token.
async fn console(p: &mut Probe) {
    assert!(p.login("root").await, "the admin signs in");
    let page = p.raw("GET", "/admin/users", &[], Vec::new()).await;
    let csrf = page
        .ok()
        .and_then(|a| hidden(&a.body, "csrf"))
        .expect("a CSRF token on the users page");
    let deep_xml = format!("{}{}", "<a>".repeat(20_000), "</a>".repeat(20_000));
    let fields = [
        format!("csrf={csrf}"),
        format!("csrf={csrf}&username=%FF&email=%00&password=x"),
        format!("csrf={csrf}&slug=%FF%FE&template=nosuch&label={}", "l".repeat(100_000)),
        format!("csrf={csrf}&metadata_xml={}", urlenc(&deep_xml)),
        format!("csrf={csrf}&metadata_xml=%3C%21DOCTYPE+x+%5B%3C%21ENTITY+e+SYSTEM+%22file%3A%2F%2F%2Fetc%2Fpasswd%22%3E%5D%3E%3Cx%3E%26e%3B%3C%2Fx%3E"),
        format!("csrf={csrf}&acs_urls=javascript:x&sp_entity_id=&sp_certs_pem=-----BEGIN+CERTIFICATE-----%0AAAAA%0A-----END+CERTIFICATE-----"),
        format!("csrf={csrf}&url=ftp://%FF&token=&rate_limit=-5&page_size=abc"),
    ];
    let routes = [
        "/admin/apps",
        "/admin/apps/demo",
        "/admin/apps/demo/sso",
        "/admin/apps/demo/idm",
        "/admin/apps/demo/idm/bogus",
        "/admin/users",
        "/admin/users/alice/bogus",
        "/admin/users/alice/password",
        "/admin/groups/staff/bogus",
    ];
    for route in routes {
        for body in &fields {
            p.form("console form", route, body.clone()).await;
        }
    }
    let multipart = |boundary: &str, body: &[u8]| {
        let mut b = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"l.svg\"\r\n\
             Content-Type: image/svg+xml\r\n\r\n"
        )
        .into_bytes();
        b.extend_from_slice(body);
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        b
    };
    let svg_bomb = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\">{}{}</svg>",
        "<g>".repeat(20_000),
        "</g>".repeat(20_000)
    );
    let uploads: Vec<(&str, &[u8], Vec<u8>)> = vec![
        ("no boundary", b"multipart/form-data", b"--x\r\n".to_vec()),
        (
            "cut",
            b"multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data; name=\"logo\"\r\n\r\nabc".to_vec(),
        ),
        (
            "not an image",
            b"multipart/form-data; boundary=x",
            multipart("x", b"\x00\xff\xfe not an image"),
        ),
        (
            "deep SVG",
            b"multipart/form-data; boundary=x",
            multipart("x", svg_bomb.as_bytes()),
        ),
        (
            "5 MiB",
            b"multipart/form-data; boundary=x",
            multipart("x", &vec![b'A'; 5 << 20]),
        ),
    ];
    for (name, ct, body) in uploads {
        p.bad(
            &format!("logo {name}"),
            "POST",
            "/admin/apps/demo/logo",
            &[("content-type", ct)],
            body,
        )
        .await;
    }
}
