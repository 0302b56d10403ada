//! A real browser for tests: Debian's `chromedriver` as a child process on a loopback port,
//! driving one headless Chromium session over W3C WebDriver (JSON over reqwest; the WebDriver
//! client crates pull in a second ICU and `http` stack, and this needs a dozen commands).
//!
//! Every helper panics on failure, like the rest of the test support. Element lookups retry
//! for up to [`WAIT`], so a helper called right after a click waits for the next page.
//! Without chromium and chromedriver a test gets `None` from [`Chrome::launch`] and says so
//! on stderr; under `CI` it fails instead (`scripts/setup.sh test` installs both).

// A harness: not every helper has a caller in every build.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long lookups, downloads and the driver's start are waited for.
pub const WAIT: Duration = Duration::from_secs(10);

/// The key W3C WebDriver sends an element reference under.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What a failed WebDriver command answered.
#[derive(Debug)]
pub struct WdError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl WdError {
    /// Errors that go away by waiting: the element is not there yet, was replaced by a
    /// re-render or navigation, or cannot take input yet.
    fn transient(&self) -> bool {
        let kind = matches!(
            self.error.as_str(),
            "no such element"
                | "stale element reference"
                | "element not interactable"
                | "element click intercepted"
                | "invalid element state"
        );
        // Chromium's way of saying "stale" while the page is being replaced (an
        // auto-submitting form navigating away under the read).
        kind || (self.error == "unknown error"
            && self.message.contains("does not belong to the document"))
    }
}

/// A reference to an element of the current page.
#[derive(Clone, Debug)]
pub struct Element(pub String);

/// chromedriver plus one headless Chromium session; both end on drop.
pub struct Chrome {
    http: reqwest::Client,
    driver: Child,
    port: u16,
    session_id: String,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    downloads: PathBuf,
    /// Holds the profile, the download directory and chromedriver's log.
    _work: tempfile::TempDir,
    closed: bool,
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium with a fresh profile. `None` (with a note
    /// on stderr) when either is not installed, outside CI; under `CI` that fails the test.
    pub async fn launch() -> Option<Chrome> {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{missing:?} not found: the browser tests need Debian's chromium and chromium-driver under CI (scripts/setup.sh test installs them)"
            );
            eprintln!(
                "note: {missing:?} not found; browser test not run (scripts/setup.sh test installs chromium and chromium-driver)"
            );
            return None;
        }
        Some(Self::start().await)
    }

    async fn start() -> Chrome {
        let work = tempfile::tempdir().expect("tempdir");
        let profile = work.path().join("profile");
        let downloads = work.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("download dir");
        let log_path = work.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path).expect("chromedriver log");

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");

        // Ready when /status says so.
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = driver.try_wait().expect("chromedriver status") {
                panic!(
                    "chromedriver exited ({status}): {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(res) => res
                    .json::<Value>()
                    .await
                    .ok()
                    .is_some_and(|v| v["value"]["ready"].as_bool() == Some(true)),
                Err(_) => false,
            };
            if ready {
                break;
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "chromedriver did not answer /status within {WAIT:?}: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .into_iter()
        .map(str::to_string)
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 10_000 },
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": args,
                        "prefs": {
                            "download": {
                                "default_directory": downloads.to_string_lossy(),
                                "prompt_for_download": false,
                                "directory_upgrade": true,
                            },
                            // More than one download from a page without asking.
                            "profile": {
                                "default_content_setting_values": { "automatic_downloads": 1 },
                            },
                        },
                    },
                }
            }
        });
        let answer = send(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(caps),
        )
        .await;
        let value = match answer {
            Ok(v) => v,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "new WebDriver session failed: {e:?}\nchromedriver log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        let session_id = value["sessionId"]
            .as_str()
            .expect("sessionId in the new-session answer")
            .to_string();
        Chrome {
            http,
            driver,
            port,
            session: format!("{base}/session/{session_id}"),
            session_id,
            downloads,
            _work: work,
            closed: false,
        }
    }

    /// One command against the session; `path` starts with `/` or is empty.
    pub async fn cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        send(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    async fn get(&self, path: &str) -> Result<Value, WdError> {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, WdError> {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    /// Runs `op` until it succeeds, retrying transient errors until [`WAIT`] has passed.
    async fn retry<T>(&self, what: &str, mut op: impl AsyncFnMut() -> Result<T, WdError>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            match op().await {
                Ok(v) => return v,
                Err(e) if e.transient() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    let url = self.get("/url").await.ok();
                    panic!("{what}: {} ({}) on {url:?}", e.error, e.message);
                }
            }
        }
    }

    async fn try_find(&self, css: &str) -> Result<Element, WdError> {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await?;
        Ok(element(&v))
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e:?}"));
    }

    pub async fn current_url(&self) -> String {
        let v = self.get("/url").await.expect("current URL");
        v.as_str().expect("URL string").to_string()
    }

    pub async fn refresh(&self) {
        self.post("/refresh", json!({})).await.expect("refresh");
    }

    pub async fn page_source(&self) -> String {
        let v = self.get("/source").await.expect("page source");
        v.as_str().expect("source string").to_string()
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.retry(&format!("find {css:?}"), async || self.try_find(css).await)
            .await
    }

    /// How many elements match `css` right now (no waiting).
    pub async fn count(&self, css: &str) -> usize {
        let v = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await
            .unwrap_or_else(|e| panic!("find all {css:?}: {e:?}"));
        v.as_array().expect("element list").len()
    }

    pub async fn click(&self, css: &str) {
        self.retry(&format!("click {css:?}"), async || {
            let el = self.try_find(css).await?;
            self.post(&format!("/element/{}/click", el.0), json!({}))
                .await
                .map(drop)
        })
        .await
    }

    /// Clicks what submits a form or follows a link, and waits until the next page has
    /// replaced this one (its root element is a new one), so that what is read next is
    /// read from the new page, not the old.
    pub async fn click_and_load(&self, css: &str) {
        let old = self
            .try_find("html")
            .await
            .unwrap_or_else(|e| panic!("find html: {e:?}"));
        self.click(css).await;
        let deadline = Instant::now() + WAIT;
        loop {
            match self.try_find("html").await {
                Ok(now) if now.0 != old.0 => {
                    // The new document exists; wait for it to finish loading.
                    self.retry("page load", async || {
                        let v = self
                            .post(
                                "/execute/sync",
                                json!({ "script": "return document.readyState", "args": [] }),
                            )
                            .await?;
                        if v == "complete" {
                            Ok(())
                        } else {
                            Err(WdError {
                                status: 0,
                                error: "no such element".into(),
                                message: "loading".into(),
                            })
                        }
                    })
                    .await;
                    return;
                }
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                _ => panic!("clicking {css:?} loaded no new page within {WAIT:?}"),
            }
        }
    }

    /// Clears the field and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        self.retry(&format!("fill {css:?}"), async || {
            let el = self.try_find(css).await?;
            self.post(&format!("/element/{}/clear", el.0), json!({}))
                .await?;
            self.post(&format!("/element/{}/value", el.0), json!({ "text": text }))
                .await
                .map(drop)
        })
        .await
    }

    /// Chooses `path` in the file input matching `css` (no clearing: file inputs refuse it).
    pub async fn attach(&self, css: &str, path: &Path) {
        let text = path.to_str().expect("UTF-8 path");
        self.retry(&format!("attach {text:?} to {css:?}"), async || {
            let el = self.try_find(css).await?;
            self.post(&format!("/element/{}/value", el.0), json!({ "text": text }))
                .await
                .map(drop)
        })
        .await
    }

    /// Picks the `<option value="{value}">` of the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let option = format!("option[value=\"{}\"]", css_string(value));
        self.retry(&format!("select {value:?} in {css:?}"), async || {
            let sel = self.try_find(css).await?;
            let v = self
                .post(
                    &format!("/element/{}/element", sel.0),
                    json!({ "using": "css selector", "value": option }),
                )
                .await?;
            self.post(&format!("/element/{}/click", element(&v).0), json!({}))
                .await?;
            let now = self
                .get(&format!("/element/{}/property/value", sel.0))
                .await?;
            if now.as_str() == Some(value) {
                Ok(())
            } else {
                Err(WdError {
                    status: 0,
                    error: "invalid element state".into(),
                    message: format!("the select's value is {now}"),
                })
            }
        })
        .await
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.retry(&format!("text of {css:?}"), async || {
            let el = self.try_find(css).await?;
            let v = self.get(&format!("/element/{}/text", el.0)).await?;
            Ok(v.as_str().unwrap_or_default().to_string())
        })
        .await
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.retry(&format!("attribute {name} of {css:?}"), async || {
            let el = self.try_find(css).await?;
            let v = self
                .get(&format!("/element/{}/attribute/{name}", el.0))
                .await?;
            Ok(v.as_str().map(str::to_string))
        })
        .await
    }

    /// The browser's cookie `name` for the current page's origin, as WebDriver reports it
    /// (`value`, `secure`, `httpOnly`, `sameSite`, ...).
    pub async fn cookie(&self, name: &str) -> Option<Value> {
        match self.get(&format!("/cookie/{name}")).await {
            Ok(v) => Some(v),
            Err(e) if e.error == "no such cookie" => None,
            Err(e) => panic!("cookie {name}: {e:?}"),
        }
    }

    /// Saves the viewport as `target/artifacts/screenshots/<name>.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.get("/screenshot").await.expect("screenshot");
        let png = STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("screenshot base64");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Where downloads land (without a prompt).
    pub fn download_dir(&self) -> &Path {
        &self.downloads
    }

    /// Waits for the download saved as `name` to finish and returns its bytes. Chromium
    /// writes to a `.crdownload` file and renames it when done, so the name appearing means
    /// complete; a second download of the same name is saved as `name (1).ext`.
    pub async fn wait_download(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.join(name);
        let deadline = Instant::now() + WAIT;
        // Chromium may show the file under its name before it has written it (seen on a
        // loaded machine: an empty file): done is no partial download left and the same,
        // non-zero size on two looks in a row (no test downloads an empty file).
        let mut last_size = None;
        loop {
            let partial = std::fs::read_dir(&self.downloads)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
                })
                .unwrap_or(false);
            let size = std::fs::metadata(&path).ok().map(|m| m.len());
            if size.is_some_and(|s| s > 0) && !partial && size == last_size {
                return std::fs::read(&path).expect("read download");
            }
            last_size = size;
            if Instant::now() > deadline {
                let present: Vec<String> = std::fs::read_dir(&self.downloads)
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                panic!("download {name:?} did not arrive within {WAIT:?}; the directory has {present:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(mut self) {
        self.closed = true;
        self.cmd(reqwest::Method::DELETE, "", None)
            .await
            .expect("end the WebDriver session");
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        if !self.closed {
            // A test that panicked: end the session over a plain socket so Chromium does
            // not outlive chromedriver.
            let _ = delete_session(self.port, &self.session_id);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn delete_session(port: u16, id: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // chromedriver answers once Chromium has quit, and may keep the connection open: the
    // end of the headers is enough.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// Sends one WebDriver request and unwraps its `value`, or the error it reports.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WdError> {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.map_err(|e| WdError {
        status: 0,
        error: "transport".into(),
        message: format!("{method} {url}: {e}"),
    })?;
    let status = res.status().as_u16();
    let v: Value = res.json().await.map_err(|e| WdError {
        status,
        error: "bad answer".into(),
        message: format!("{method} {url}: {e}"),
    })?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(WdError {
            status,
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        })
    }
}

fn element(v: &Value) -> Element {
    Element(
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {v}"))
            .to_string(),
    )
}

/// Escapes a value for a double-quoted CSS string.
fn css_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
