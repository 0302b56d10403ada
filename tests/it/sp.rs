//! The real service provider for SSO tests: pysaml2 with xmlsec1 (tests/sp/pysaml2_sp.py)
//! on a loopback port, plus `xmlsec1 --verify` for every Response the tests receive, and a
//! world with a running sesame, a user, a group and an app wired to that SP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use sesame::directory::{apps, groups, Actor};
use sesame::saml::keys::{self, KeyKind, KeySet};
use sesame::saml::settings::{self, SsoChanges};

use crate::support::{hidden, Browser, Page, TestDb, TestServer};

/// The pysaml2 SP process; killed on drop.
pub struct Sp {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl Sp {
    /// `enc`: the encryption key and certificate files the SP decrypts with, if any.
    pub fn start(idp_metadata: &Path, key: &Path, cert: &Path, enc: Option<&SpEncKey>) -> Sp {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sp/pysaml2_sp.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg("--idp-metadata")
            .arg(idp_metadata)
            .arg("--key")
            .arg(key)
            .arg("--cert")
            .arg(cert);
        if let Some(e) = enc {
            cmd.arg("--enc-key")
                .arg(&e.key)
                .arg("--enc-cert")
                .arg(&e.cert);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be installed (make test sets up the SSO test peers)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read SP address");
        assert!(
            line.starts_with("http://127.0.0.1:"),
            "the pysaml2 SP did not start (is pysaml2 installed? `make test` installs it): {line:?}"
        );
        Sp {
            child,
            base: line.trim().to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub fn entity_id(&self) -> String {
        format!("{}/sp", self.base)
    }

    pub fn acs(&self) -> String {
        format!("{}/acs", self.base)
    }

    /// What the SP tells the browser to do to sign in (`binding`, `sign`, `force`, `passive`,
    /// `relay` as query parameters).
    pub async fn login(&self, params: &[(&str, &str)]) -> Value {
        self.http
            .get(format!("{}/login", self.base))
            .query(params)
            .send()
            .await
            .expect("SP /login")
            .json()
            .await
            .expect("SP /login JSON")
    }

    /// Posts the form as the browser would and returns the SP's verdict.
    pub async fn post_acs(&self, form: &PostForm) -> Value {
        let mut fields = vec![("SAMLResponse", form.saml_response.as_str())];
        if let Some(rs) = &form.relay_state {
            fields.push(("RelayState", rs));
        }
        self.http
            .post(&form.action)
            .form(&fields)
            .send()
            .await
            .expect("SP /acs")
            .json()
            .await
            .expect("SP /acs JSON")
    }
}

/// Single Logout at the SP (its /logout, /slo and /sessions; see pysaml2_sp.py).
impl Sp {
    async fn json(&self, req: reqwest::RequestBuilder) -> Value {
        let res = req.send().await.expect("SP answers");
        res.json().await.expect("SP JSON")
    }

    /// The instruction that sends this user's LogoutRequest to sesame.
    pub async fn logout(&self, name_id: &str, binding: &str, sign: bool) -> Value {
        let q = [
            ("name_id", name_id),
            ("binding", binding),
            ("sign", if sign { "1" } else { "0" }),
        ];
        self.json(self.http.get(format!("{}/logout", self.base)).query(&q))
            .await
    }

    /// Hands what sesame answered (a redirect to this SP, or a form posting to it) to the SP,
    /// as the browser would; returns the SP's JSON.
    pub async fn deliver(&self, page: &Page) -> Value {
        if let Some(to) = page.location() {
            assert!(
                to.starts_with(&self.base),
                "sesame sends the browser to this SP: {to}"
            );
            return self.json(self.http.get(to)).await;
        }
        let form = SamlForm::from_page(page).unwrap_or_else(|| {
            panic!(
                "a redirect or a form to the SP, got {}: {}",
                page.status, page.body
            )
        });
        assert!(
            form.action.starts_with(&self.base),
            "the form goes to this SP: {}",
            form.action
        );
        self.json(self.http.post(&form.action).form(&form.fields))
            .await
    }

    /// The NameIDs this SP holds a session for.
    pub async fn sessions(&self) -> Vec<String> {
        let v = self
            .json(self.http.get(format!("{}/sessions", self.base)))
            .await;
        serde_json::from_value(v["name_ids"].clone()).expect("name_ids")
    }
}

impl Drop for Sp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes the character references a template escaper writes (named, decimal, hex).
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The auto-submitting form of a page that carries a Response.
#[derive(Debug, Clone)]
pub struct PostForm {
    pub action: String,
    pub saml_response: String,
    pub relay_state: Option<String>,
}

impl PostForm {
    pub fn from_page(page: &Page) -> Option<PostForm> {
        let marker = "<form id=\"saml-post\" method=\"post\" action=\"";
        let start = page.body.find(marker)? + marker.len();
        let end = page.body[start..].find('"')? + start;
        Some(PostForm {
            action: html_unescape(&page.body[start..end]),
            saml_response: hidden(&page.body, "SAMLResponse")?,
            relay_state: hidden(&page.body, "RelayState").map(|r| html_unescape(&r)),
        })
    }

    pub fn xml(&self) -> String {
        String::from_utf8(STANDARD.decode(&self.saml_response).expect("base64")).expect("utf8")
    }
}

/// Any auto-submitting SAML form (a Response, a LogoutRequest or a LogoutResponse).
#[derive(Debug, Clone)]
pub struct SamlForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl SamlForm {
    pub fn from_page(page: &Page) -> Option<SamlForm> {
        let marker = "<form id=\"saml-post\" method=\"post\" action=\"";
        let start = page.body.find(marker)? + marker.len();
        let end = page.body[start..].find('"')? + start;
        let fields = ["SAMLRequest", "SAMLResponse", "RelayState"]
            .into_iter()
            .filter_map(|n| Some((n.to_string(), html_unescape(&hidden(&page.body, n)?))))
            .collect();
        Some(SamlForm {
            action: html_unescape(&page.body[start..end]),
            fields,
        })
    }
}

/// `xmlsec1 --verify` of the Response's signatures with the certificate from certificate.pem
/// (keys from the document's own KeyInfo are not trusted: only the given PEM is loaded).
pub fn xmlsec_verify(xml: &str, cert: &Path) {
    if let Err(e) = xmlsec_check(xml, cert) {
        panic!("{e}");
    }
}

/// As `xmlsec_verify`, with the failure as a value.
pub fn xmlsec_check(xml: &str, cert: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("response.xml");
    std::fs::write(&file, xml).expect("write response");
    let mut checks = vec![(
        "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        "//*[local-name()='Assertion']/*[local-name()='Signature']",
    )];
    let response_signed = xml
        .find("<ds:Signature")
        .is_some_and(|i| xml.find("<saml:Assertion").is_none_or(|a| i < a));
    if response_signed {
        checks.push((
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "/*[local-name()='Response']/*[local-name()='Signature']",
        ));
    }
    if !xml.contains("<saml:Assertion") {
        checks.remove(0);
    }
    if checks.is_empty() {
        return Err(format!("an unsigned Response: {xml}"));
    }
    for (id_attr, xpath) in checks {
        let out = Command::new("xmlsec1")
            .args([
                "--verify",
                "--enabled-key-data",
                "key-name,x509",
                "--pubkey-cert-pem",
            ])
            .arg(cert)
            .args(["--id-attr:ID", id_attr])
            .args(["--node-xpath", xpath])
            .arg(&file)
            .output()
            .expect("xmlsec1 must be installed (make test installs it)");
        let err = String::from_utf8_lossy(&out.stderr);
        if !(out.status.success() && err.contains("OK")) {
            return Err(format!(
                "xmlsec1 --verify failed for {id_attr}: {err}\n{xml}"
            ));
        }
    }
    Ok(())
}

/// The SP's encryption key pair: PEM files, and the certificate's text.
pub struct SpEncKey {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub cert_pem: String,
}

/// A running sesame with user alice (in group staff, bound to app `demo`), bob (no access),
/// and app `demo` pointed at a pysaml2 SP.
pub struct World {
    pub server: TestServer,
    pub sp: Sp,
    pub cert: PathBuf,
    pub sp_keys: KeySet,
    /// The encryption key pair the SP decrypts with (`World::encrypting`).
    pub sp_enc: Option<SpEncKey>,
    _dir: tempfile::TempDir,
    _db: TestDb,
}

pub const PASSWORD: &str = "correct horse battery";

impl World {
    pub async fn new() -> World {
        let db = TestDb::sqlite();
        let config = crate::support::test_config(&db.url);
        Self::with(db, config).await
    }

    /// The same world on a server with this configuration (another `base_url`, say).
    pub async fn with(db: TestDb, config: sesame::config::Config) -> World {
        Self::build(db, config, false).await
    }

    /// The world whose SP also holds an RSA encryption key pair (`sp_enc`) and decrypts
    /// encrypted assertions with it; sesame is not told about it yet.
    pub async fn encrypting() -> World {
        let db = TestDb::sqlite();
        let config = crate::support::test_config(&db.url);
        Self::build(db, config, true).await
    }

    async fn build(db: TestDb, config: sesame::config::Config, encrypting: bool) -> World {
        let server = TestServer::start_with(config).await;
        server.user("alice", PASSWORD).await;
        server.user("bob", PASSWORD).await;
        let actor = Actor::system();
        groups::add(&server.db, &actor, "staff", "")
            .await
            .expect("group");
        groups::set_member(&server.db, &actor, "staff", "alice", true)
            .await
            .expect("member");
        let label = apps::AppChanges {
            label: Some("Demo App".into()),
            ..apps::AppChanges::default()
        };
        apps::add(&server.db, &actor, "demo", "generic", &label)
            .await
            .expect("app");
        apps::set_binding(&server.db, &actor, "demo", "staff", true)
            .await
            .expect("grant");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = Browser::new(&server);
        let metadata = b.get("/saml2/demo/metadata").await;
        assert_eq!(metadata.status, 200);
        let md_file = dir.path().join("idp.xml");
        std::fs::write(&md_file, &metadata.body).expect("write metadata");
        let cert = dir.path().join("certificate.pem");
        std::fs::write(&cert, b.get("/saml2/demo/certificate.pem").await.body).expect("cert");
        let sp_dir = dir.path().join("sp");
        let sp_keys = keys::generate(&sp_dir, KeyKind::Rsa, false).expect("SP key");
        let sp_enc = encrypting.then(|| {
            let enc_dir = dir.path().join("sp-enc");
            let set = keys::generate(&enc_dir, KeyKind::Rsa, false).expect("SP encryption key");
            SpEncKey {
                key: enc_dir.join("idp-signing.key"),
                cert: enc_dir.join("idp-signing.crt"),
                cert_pem: set.active.cert_pem,
            }
        });
        let sp = Sp::start(
            &md_file,
            &sp_dir.join("idp-signing.key"),
            &sp_dir.join("idp-signing.crt"),
            sp_enc.as_ref(),
        );
        let changes = SsoChanges {
            sp_entity_id: Some(sp.entity_id()),
            acs_urls: Some(vec![sp.acs()]),
            sp_certs_pem: Some(sp_keys.active.cert_pem.clone()),
            attributes: Some(vec![
                "email=email".into(),
                "firstName=first-name".into(),
                "groups=groups".into(),
            ]),
            ..SsoChanges::default()
        };
        settings::update(&server.db, &actor, "demo", &changes)
            .await
            .expect("sso settings");
        World {
            server,
            sp,
            cert,
            sp_keys,
            sp_enc,
            _dir: dir,
            _db: db,
        }
    }

    pub async fn set(&self, changes: SsoChanges) {
        settings::update(&self.server.db, &Actor::system(), "demo", &changes)
            .await
            .expect("sso settings");
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.server)
    }

    /// Sends the SP's instruction through the browser; returns sesame's answer.
    pub async fn send(&self, b: &mut Browser, instruction: &Value) -> Page {
        let url = instruction["url"].as_str().expect("url");
        let path = url
            .strip_prefix(&format!("http://{}", self.server.addr))
            .unwrap_or_else(|| panic!("SP sends the browser to sesame: {url}"));
        match instruction["method"].as_str() {
            Some("GET") => b.get(path).await,
            _ => {
                let fields: Vec<(String, String)> = instruction["fields"]
                    .as_object()
                    .expect("fields")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect();
                let refs: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                b.post(path, &refs).await
            }
        }
    }

    /// Follows same-origin redirects, signing in as `user` when the login page comes up,
    /// until a page that is not a redirect.
    pub async fn follow(&self, b: &mut Browser, mut page: Page, user: &str) -> Page {
        for _ in 0..6 {
            let Some(to) = page.location().map(str::to_string) else {
                return page;
            };
            page = b.get(&to).await;
            if to.starts_with("/login") && page.status == 200 {
                let csrf = page.csrf();
                let next = html_unescape(&hidden(&page.body, "next").expect("next"));
                page = b
                    .post(
                        "/login",
                        &[
                            ("csrf", &csrf),
                            ("username", user),
                            ("password", PASSWORD),
                            ("next", &next),
                        ],
                    )
                    .await;
            }
        }
        panic!("too many redirects");
    }

    /// The whole SP-initiated round: SP → sesame (→ login) → form → xmlsec1 → SP.
    pub async fn sso(
        &self,
        b: &mut Browser,
        params: &[(&str, &str)],
        user: &str,
    ) -> (Value, PostForm) {
        let instruction = self.sp.login(params).await;
        let first = self.send(b, &instruction).await;
        let page = self.follow(b, first, user).await;
        let form = PostForm::from_page(&page)
            .unwrap_or_else(|| panic!("a Response form, got {}: {}", page.status, page.body));
        xmlsec_verify(&form.xml(), &self.cert);
        let verdict = self.sp.post_acs(&form).await;
        (verdict, form)
    }
}
