//! `sesame serve` as a real child process on a loopback port, and the `sesame` command line
//! on the same database: for the tests that must see what a crash, an abort or a restart
//! does to the process itself (soak, malformed input).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sesame");
pub const ADMIN_PASSWORD: &str = "process-admin-password-4k8w";

/// `sesame serve` as a child process on its own loopback port and temp dir (database, keys,
/// and its log in `serve.log`); killed when dropped.
pub struct Server {
    dir: tempfile::TempDir,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Server {
    pub fn new(extra: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let root = dir.path().display();
        let mut env = vec![
            (
                "SESAME_DATABASE_URL".to_string(),
                format!("sqlite://{root}/sesame.db"),
            ),
            ("SESAME_CERTS_DIR".to_string(), format!("{root}/certs")),
            ("SESAME_LISTEN".to_string(), format!("127.0.0.1:{port}")),
            (
                "SESAME_BASE_URL".to_string(),
                format!("http://127.0.0.1:{port}/"),
            ),
            (
                "SESAME_ADMIN_PASSWORD".to_string(),
                ADMIN_PASSWORD.to_string(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Server {
            dir,
            port,
            env,
            child: None,
        }
    }

    /// `https://` when the server was given `SESAME_TLS_CERT`.
    pub fn base(&self) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets (or replaces) one variable of the server's environment before it starts, for a
    /// value that needs the port (`SESAME_BASE_URL=https://127.0.0.1:{port}/`).
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    fn tls(&self) -> bool {
        self.env.iter().any(|(k, _)| k == "SESAME_TLS_CERT")
    }

    /// The server's folder: its database, `certs/` and log.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn db_file(&self) -> PathBuf {
        self.dir.path().join("sesame.db")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    /// The CLI on the same database, certificates and configuration.
    pub fn cli(&self) -> Cli {
        Cli {
            env: self.env.clone().into(),
            cwd: self.dir.path().to_path_buf(),
        }
    }

    /// Starts `sesame serve` (again, on the same port and file) and waits until it answers.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .expect("server log");
        let child = Command::new(BIN)
            .arg("serve")
            .envs(self.env.iter().cloned())
            .env_remove("SESAME_CONFIG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .expect("start sesame serve");
        self.child = Some(child);
        // Whether it answers, not whom: a TLS test checks the certificate itself.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .danger_accept_invalid_certs(self.tls())
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = http.get(format!("{}/healthz", self.base())).send().await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "sesame serve exited with {status}:\n{}",
                    self.log_lines("", 20)
                );
            }
            assert!(
                Instant::now() < deadline,
                "sesame serve did not answer /healthz within 30 s:\n{}",
                self.log_lines("", 20)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL sesame serve");
            child.wait().expect("reap sesame serve");
        }
    }

    /// The last `n` lines of the server's log that contain `needle`.
    pub fn log_lines(&self, needle: &str, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(needle)).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `sesame` command line with the server's environment.
#[derive(Clone)]
pub struct Cli {
    env: Arc<[(String, String)]>,
    cwd: PathBuf,
}

impl Cli {
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(self.env.iter().cloned())
            .env_remove("SESAME_CONFIG")
            .current_dir(&self.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sesame");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        drop(pipe);
        child.wait_with_output().expect("wait for sesame")
    }

    /// A set-up command that must succeed.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, Some(stdin));
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            out.stderr_text()
        );
        out.stdout_text()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            out.stderr_text()
        );
        out.stdout_text()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("valid JSON")
    }
}

pub trait OutputText {
    fn stdout_text(&self) -> String;
    fn stderr_text(&self) -> String;
}

impl OutputText for Output {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim_end().to_string()
    }
}
