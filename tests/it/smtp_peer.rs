//! The real SMTP peer for the mail tests: `tests/smtp/sink.py` (aiosmtpd) on a loopback
//! port, writing every message it receives to a JSONL file the tests read. Without python3
//! or aiosmtpd the test fails (never skips): `scripts/setup.sh test` installs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sesame::directory::Actor;
use sesame::mail::{settings, SmtpChanges};
use sesame::scim::secret::Secret;
use sesame::store::Db;

pub const FROM: &str = "sesame@example.com";

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    /// Headers and body as sent.
    pub data: String,
}

impl Received {
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The first `base` + `/<kind>/<token>` link in the body.
    pub fn link(&self, kind: &str) -> Option<String> {
        let marker = format!("/{kind}/");
        let at = self.data.find(&marker)?;
        let start = self.data[..at].rfind("http")?;
        let end = at
            + marker.len()
            + self.data[at + marker.len()..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(self.data.len() - at - marker.len());
        Some(self.data[start..end].to_string())
    }
}

/// The message with a quoted-printable body (RFC 2045 §6.7) decoded: soft line breaks
/// joined, `=XX` turned back into bytes.
fn decoded(data: &str) -> String {
    let Some((head, body)) = data.split_once("\n\n") else {
        return data.to_string();
    };
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return data.to_string();
    }
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    format!("{head}\n\n{}", String::from_utf8_lossy(&out))
}

impl SmtpSink {
    /// Starts the sink; `auth` = Some("user:password") to require SMTP AUTH.
    pub fn start(auth: Option<&str>) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/sink.py");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("mail.jsonl");
        let mut cmd = Command::new("python3");
        cmd.arg(script).args(["--port", "0", "--out"]).arg(&out);
        if let Some(a) = auth {
            cmd.args(["--auth", a]);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect(
            "python3 must be installed (scripts/setup.sh test installs the SMTP test peer)",
        );
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the sink's port");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!("the SMTP sink did not start (is aiosmtpd installed? scripts/setup.sh test installs it): {line:?}")
            });
        SmtpSink {
            child,
            port,
            out,
            _dir: dir,
        }
    }

    pub fn messages(&self) -> Vec<Received> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| Received {
                to: v["to"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                data: decoded(&v["data"].as_str().unwrap_or_default().replace("\r\n", "\n")),
            })
            .collect()
    }

    /// The messages to `to`.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect()
    }

    /// Waits until `n` messages went to `to` (at most `secs`), and returns them.
    pub async fn wait_for(&self, to: &str, n: usize, secs: u64) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.to(to);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} mail(s) to {to} arrived within {secs}s: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Points sesame's SMTP settings at this sink (plain: it is on loopback).
    pub async fn configure(
        &self,
        db: &Db,
        key: &sesame::scim::secret::SealKey,
        auth: Option<(&str, &str)>,
    ) {
        let c = SmtpChanges {
            host: Some("127.0.0.1".into()),
            port: Some(self.port),
            security: Some("none".into()),
            username: auth.map(|a| a.0.to_string()),
            password: auth.map(|a| Secret::new(a.1)),
            from: Some(FROM.into()),
            allow_plain: None,
            digest_to: None,
        };
        settings::update(db, key, &Actor::system(), &c)
            .await
            .expect("SMTP settings");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
