//! Load generator for the SSO benchmarks (bench/sso.sh, bench/sessions.sh): SP-initiated
//! HTTP-Redirect requests, each with a fresh ID (sesame refuses replays), sent by signed-in
//! browser sessions, so every answer is a freshly signed Response.
//!
//! Modes (`--mode`):
//! - `rounds` (default, issue 10): one connection per worker, each with its own portal session
//!   (password login through the `/login` form at start), closed loop at each concurrency of
//!   `--levels` for `--seconds`, repeated `--rounds` times on the same server and the same
//!   sessions, optionally idle `--idle-between` seconds after round 1. Per round and level:
//!   signed responses/s, non-2xx answers, transport errors, p50/p99/max latency, and with
//!   `--server-pid` the server's CPU time per response (utime+stime from /proc), and with
//!   `--sign-per-s` its ratio to the cost of the RSA signatures a response carries
//!   (`--signatures`, 2: Response and Assertion; checked on the first answer), and
//!   `other%`: how busy the server's core (`--server-core`) was with anything but the server.
//! - `saturation`: the earlier benchmark: `--concurrency` connections sharing one session,
//!   closed loop, then an open loop at half the measured rate (or `--rate`).
//! - `sessions`: `--logins` real password logins, `--concurrency` at a time, each a new
//!   session; their cookies are written to `--cookies`.
//! - `use-sessions`: one portal page (`GET /`) with each cookie of `--cookies`: how many are
//!   live.
//!
//! sso_load --base URL --user U --password P [--slug S --sp-entity ID --acs URL]
//!          [--mode rounds] [--levels 1,2,4,8] [--rounds 3] [--seconds 8]
//!          [--idle-between 0] [--server-pid PID] [--server-core 0] [--sign-per-s F]
//!          [--clk-tck 100]
//!          [--signatures 2] [--timeout 30]
//!          [--mode saturation] [--concurrency 16] [--seconds 15] [--rate R]
//!          [--mode sessions|use-sessions] [--logins 10000] [--concurrency 4] [--cookies FILE]
//!
//! The exit status is 2 when any answer was not a 2xx with a SAMLResponse (or, for
//! logins, not the 303 of a successful login), or a request failed in transport.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::write::DeflateEncoder;

struct Args {
    mode: String,
    base: String,
    slug: String,
    sp_entity: String,
    acs: String,
    user: String,
    password: String,
    concurrency: usize,
    seconds: u64,
    rate: Option<f64>,
    levels: Vec<usize>,
    rounds: usize,
    idle_between: u64,
    server_pid: Option<u32>,
    server_core: usize,
    sign_per_s: Option<f64>,
    clk_tck: f64,
    signatures: usize,
    timeout: u64,
    logins: usize,
    cookies: Option<String>,
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        mode: "rounds".into(),
        base: String::new(),
        slug: String::new(),
        sp_entity: String::new(),
        acs: String::new(),
        user: String::new(),
        password: String::new(),
        concurrency: 0,
        seconds: 0,
        rate: None,
        levels: vec![1, 2, 4, 8],
        rounds: 3,
        idle_between: 0,
        server_pid: None,
        server_core: 0,
        sign_per_s: None,
        clk_tck: 100.0,
        signatures: 2,
        timeout: 30,
        logins: 10_000,
        cookies: None,
    };
    while let Some(k) = a.next() {
        let v = a.next().unwrap_or_else(|| panic!("{k} needs a value"));
        let num = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| panic!("{k}: not a number")) };
        match k.as_str() {
            "--mode" => out.mode = v,
            "--base" => out.base = v,
            "--slug" => out.slug = v,
            "--sp-entity" => out.sp_entity = v,
            "--acs" => out.acs = v,
            "--user" => out.user = v,
            "--password" => out.password = v,
            "--concurrency" => out.concurrency = num(&v) as usize,
            "--seconds" => out.seconds = num(&v) as u64,
            "--rate" => out.rate = Some(num(&v)),
            "--levels" => {
                out.levels = v.split(',').map(|l| num(l.trim()) as usize).collect();
                assert!(out.levels.iter().all(|&l| l > 0), "levels must be ≥ 1");
            }
            "--rounds" => out.rounds = num(&v) as usize,
            "--idle-between" => out.idle_between = num(&v) as u64,
            "--server-pid" => out.server_pid = Some(num(&v) as u32),
            "--server-core" => out.server_core = num(&v) as usize,
            "--sign-per-s" => out.sign_per_s = Some(num(&v)).filter(|s| *s > 0.0),
            "--clk-tck" => out.clk_tck = num(&v),
            "--signatures" => out.signatures = num(&v) as usize,
            "--timeout" => out.timeout = num(&v) as u64,
            "--logins" => out.logins = num(&v) as usize,
            "--cookies" => out.cookies = Some(v),
            _ => panic!("unknown argument {k}"),
        }
    }
    out
}

fn client(timeout: u64, idle: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(idle)
        .timeout(Duration::from_secs(timeout))
        .build()
        .expect("client")
}

fn cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sesame_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
}

/// A password login through the form, as a browser does it: `GET /login` (a session with a
/// CSRF token), then `POST /login`; the answer's cookie is the signed-in session.
async fn try_login(client: &reqwest::Client, a: &Args) -> Result<String, String> {
    let page = client
        .get(format!("{}/login", a.base))
        .send()
        .await
        .map_err(|e| format!("GET /login: {e}"))?;
    let status = page.status().as_u16();
    let cookie = cookie_of(&page).ok_or(format!("GET /login: {status}, no session cookie"))?;
    let body = page
        .text()
        .await
        .map_err(|e| format!("GET /login body: {e}"))?;
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).ok_or("no csrf field")? + marker.len();
    let end = body[start..].find('"').ok_or("no csrf quote")?;
    let csrf = &body[start..start + end];
    let res = client
        .post(format!("{}/login", a.base))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf),
            ("username", &a.user),
            ("password", &a.password),
            ("next", "/"),
        ])
        .send()
        .await
        .map_err(|e| format!("POST /login: {e}"))?;
    let status = res.status().as_u16();
    if status != 303 {
        return Err(format!("POST /login: {status}"));
    }
    cookie_of(&res).ok_or_else(|| "POST /login: no new session cookie".into())
}

/// What every SSO request shares: the AuthnRequest template and its ID counter.
struct Gen {
    prefix: String,
    counter: AtomicU64,
    base: String,
    slug: String,
    sp_entity: String,
    acs: String,
}

impl Gen {
    fn new(a: &Args) -> Gen {
        assert!(
            !a.slug.is_empty() && !a.sp_entity.is_empty() && !a.acs.is_empty(),
            "--slug, --sp-entity and --acs are needed"
        );
        Gen {
            prefix: sesame::auth::csrf::random_token(9).replace('-', "x"),
            counter: AtomicU64::new(0),
            base: a.base.clone(),
            slug: a.slug.clone(),
            sp_entity: a.sp_entity.clone(),
            acs: a.acs.clone(),
        }
    }

    /// A fresh AuthnRequest (its own ID), deflated and encoded for HTTP-Redirect.
    fn url(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let xml = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_{}{n}\" Version=\"2.0\" \
             IssueInstant=\"{now}\" Destination=\"{}/saml2/{}\" AssertionConsumerServiceURL=\"{}\">\
             <saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>",
            self.prefix, self.base, self.slug, self.acs, self.sp_entity
        );
        let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(xml.as_bytes()).expect("deflate");
        let b64 = STANDARD.encode(e.finish().expect("deflate"));
        let enc: String = url::form_urlencoded::byte_serialize(b64.as_bytes()).collect();
        format!(
            "{}/saml2/{}?SAMLRequest={enc}&RelayState=bench",
            self.base, self.slug
        )
    }
}

/// One browser: its own client (so its own keep-alive connection) and its own session.
struct Browser {
    client: reqwest::Client,
    cookie: String,
}

enum Outcome {
    /// A 2xx carrying a SAMLResponse (the body, kept only when asked for).
    Signed(Option<String>),
    /// A 2xx without a SAMLResponse.
    NoResponse(u16),
    Status(u16),
    Transport(String),
}

impl Browser {
    async fn sso(&self, g: &Gen, keep_body: bool) -> Outcome {
        let res = self
            .client
            .get(g.url())
            .header("cookie", &self.cookie)
            .send()
            .await;
        let r = match res {
            Ok(r) => r,
            Err(e) => return Outcome::Transport(error_chain(&e)),
        };
        let status = r.status().as_u16();
        let body = match r.text().await {
            Ok(b) => b,
            Err(e) => return Outcome::Transport(format!("body: {}", error_chain(&e))),
        };
        if !(200..300).contains(&status) {
            Outcome::Status(status)
        } else if body.contains("name=\"SAMLResponse\"") {
            Outcome::Signed(keep_body.then_some(body))
        } else {
            Outcome::NoResponse(status)
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Outcomes of a batch of requests. Latency counts every request, whatever its outcome.
#[derive(Default)]
struct Tally {
    lat_us: Vec<u64>,
    signed: u64,
    no_response: u64,
    non_2xx: BTreeMap<u16, u64>,
    transport: u64,
    samples: Vec<String>,
}

impl Tally {
    fn add(&mut self, o: &Outcome, lat: Duration) {
        self.lat_us.push(lat.as_micros() as u64);
        match o {
            Outcome::Signed(_) => self.signed += 1,
            Outcome::NoResponse(s) => {
                self.no_response += 1;
                self.sample(format!("{s} without SAMLResponse"));
            }
            Outcome::Status(s) => {
                *self.non_2xx.entry(*s).or_default() += 1;
                self.sample(format!("status {s}"));
            }
            Outcome::Transport(e) => {
                self.transport += 1;
                self.sample(e.clone());
            }
        }
    }

    fn sample(&mut self, s: String) {
        if self.samples.len() < 5 && !self.samples.contains(&s) {
            self.samples.push(s);
        }
    }

    fn merge(&mut self, o: Tally) {
        self.lat_us.extend(o.lat_us);
        self.signed += o.signed;
        self.no_response += o.no_response;
        for (k, v) in o.non_2xx {
            *self.non_2xx.entry(k).or_default() += v;
        }
        self.transport += o.transport;
        for s in o.samples {
            self.sample(s);
        }
    }

    fn non_2xx_total(&self) -> u64 {
        self.non_2xx.values().sum()
    }

    fn failures(&self) -> u64 {
        self.non_2xx_total() + self.transport + self.no_response
    }

    /// p50, p99 and max in ms.
    fn latency(&mut self) -> (f64, f64, f64) {
        self.lat_us.sort_unstable();
        let l = &self.lat_us;
        (percentile(l, 0.50), percentile(l, 0.99), percentile(l, 1.0))
    }

    /// The non-2xx statuses, the other failures and a few messages, when there are any.
    fn detail(&self) -> Option<String> {
        if self.failures() == 0 {
            return None;
        }
        let statuses: Vec<String> = self
            .non_2xx
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        Some(format!(
            "non-2xx [{}], 2xx without SAMLResponse {}, transport errors {}; e.g. {}",
            statuses.join(" "),
            self.no_response,
            self.transport,
            self.samples.join(" | ")
        ))
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The server's CPU time (user + system) in seconds, from /proc/<pid>/stat.
fn cpu_seconds(pid: u32, clk_tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clk_tck)
}

/// The busy time (all but idle and iowait) of CPU `core` in seconds, from /proc/stat.
fn core_busy(core: usize, clk_tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&name))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = f
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Some(busy as f64 / clk_tck)
}

/// The server's resident set (VmRSS) in MiB, from /proc/<pid>/status.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Counts the `ds:SignatureValue` elements of the SAMLResponse in an auto-submit page.
fn signatures_in(page: &str) -> Option<usize> {
    let marker = "name=\"SAMLResponse\" value=\"";
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('"')?;
    let xml = STANDARD.decode(&page[start..start + end]).ok()?;
    let xml = String::from_utf8(xml).ok()?;
    Some(xml.matches("SignatureValue>").count() / 2)
}

/// Closed loop: each browser sends its next request when the previous one is answered,
/// until `duration` has passed.
async fn closed_loop(browsers: &[Arc<Browser>], g: &Arc<Gen>, duration: Duration) -> Tally {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = browsers
        .iter()
        .map(|b| {
            let (b, g) = (b.clone(), g.clone());
            tokio::spawn(async move {
                let mut t = Tally::default();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    let o = b.sso(&g, false).await;
                    t.add(&o, start.elapsed());
                }
                t
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.expect("task"));
    }
    all
}

async fn rounds(a: &Args) -> bool {
    let g = Arc::new(Gen::new(a));
    let max = a.levels.iter().copied().max().unwrap_or(1);
    let mut browsers = Vec::with_capacity(max);
    for i in 0..max {
        let client = client(a.timeout, 1);
        let cookie = match try_login(&client, a).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("login of connection {i} failed: {e}");
                return false;
            }
        };
        browsers.push(Arc::new(Browser { client, cookie }));
    }
    let signed_in = Instant::now();
    println!("{max} connections, one portal session each (password login at start)");

    // Warm-up on every connection; the first answer shows how many signatures it carries.
    let mut warm = Tally::default();
    for (i, b) in browsers.iter().enumerate() {
        for j in 0..20 {
            let start = Instant::now();
            let o = b.sso(&g, i == 0 && j == 0).await;
            if let Outcome::Signed(Some(page)) = &o {
                let got = signatures_in(page);
                println!("signatures per response: {got:?} (want {})", a.signatures);
                if got != Some(a.signatures) {
                    eprintln!("the app does not sign as expected (--signatures)");
                    return false;
                }
            }
            warm.add(&o, start.elapsed());
        }
    }
    println!(
        "warm-up: {} requests, {} signed, non-2xx {}, transport errors {}, no SAMLResponse {}",
        warm.lat_us.len(),
        warm.signed,
        warm.non_2xx_total(),
        warm.transport,
        warm.no_response
    );
    if let Some(d) = warm.detail() {
        println!("  warm-up: {d}");
    }

    let n = a.signatures as f64;
    let sign_cost = a.sign_per_s.map(|s| n / s);
    if let Some(c) = sign_cost {
        println!(
            "cost of the {n} RSA signatures per response: {:.3} ms ({n} / {:.1} signs/s)",
            c * 1000.0,
            n / c
        );
    }
    let header = || {
        println!(
            "{:>5} {:>5} {:>6} {:>7} {:>8} {:>6} {:>6} {:>7} {:>7} {:>8} {:>10} {:>6} {:>7}",
            "round",
            "conns",
            "secs",
            "signed",
            "resp/s",
            "non2xx",
            "errors",
            "p50ms",
            "p99ms",
            "maxms",
            "cpu-ms/rsp",
            "ratio",
            "other%"
        );
    };
    let mut total = Tally::default();
    let duration = Duration::from_secs(a.seconds.max(1));
    for round in 1..=a.rounds {
        if round == 2 && a.idle_between > 0 {
            println!("idle {} s (connections and sessions kept)", a.idle_between);
            tokio::time::sleep(Duration::from_secs(a.idle_between)).await;
        }
        let rss = a.server_pid.and_then(rss_mib);
        println!(
            "round {round}: sessions {:.0} s old{}",
            signed_in.elapsed().as_secs_f64(),
            rss.map(|r| format!(", server RSS {r:.1} MiB"))
                .unwrap_or_default()
        );
        header();
        for &level in &a.levels {
            let cpu0 = a.server_pid.and_then(|p| cpu_seconds(p, a.clk_tck));
            let busy0 = core_busy(a.server_core, a.clk_tck);
            let start = Instant::now();
            let mut t = closed_loop(&browsers[..level], &g, duration).await;
            let secs = start.elapsed().as_secs_f64();
            let cpu1 = a.server_pid.and_then(|p| cpu_seconds(p, a.clk_tck));
            let busy1 = core_busy(a.server_core, a.clk_tck);
            // What else ran on the server's core: its busy time less the server's CPU time.
            let other = match (cpu0, cpu1, busy0, busy1) {
                (Some(c0), Some(c1), Some(b0), Some(b1)) => {
                    Some((((b1 - b0) - (c1 - c0)) / secs * 100.0).max(0.0))
                }
                _ => None,
            };
            let (p50, p99, maxl) = t.latency();
            let cpu_per = match (cpu0, cpu1) {
                (Some(c0), Some(c1)) if t.signed > 0 => Some((c1 - c0) / t.signed as f64),
                _ => None,
            };
            let ratio = cpu_per.zip(sign_cost).map(|(c, s)| c / s);
            println!(
                "{:>5} {:>5} {:>6.1} {:>7} {:>8.1} {:>6} {:>6} {:>7.2} {:>7.2} {:>8.2} {:>10} {:>6} {:>7}",
                round,
                level,
                secs,
                t.signed,
                t.signed as f64 / secs,
                t.non_2xx_total(),
                t.transport + t.no_response,
                p50,
                p99,
                maxl,
                cpu_per
                    .map(|c| format!("{:.3}", c * 1000.0))
                    .unwrap_or("-".into()),
                ratio.map(|r| format!("{r:.2}")).unwrap_or("-".into()),
                other.map(|o| format!("{o:.1}")).unwrap_or("-".into()),
            );
            if let Some(d) = t.detail() {
                println!("      {d}");
            }
            total.merge(t);
        }
    }
    let rss = a.server_pid.and_then(rss_mib);
    println!(
        "after the run: sessions {:.0} s old{}",
        signed_in.elapsed().as_secs_f64(),
        rss.map(|r| format!(", server RSS {r:.1} MiB"))
            .unwrap_or_default()
    );
    println!(
        "total over {} rounds × {:?}: signed {}, non-2xx {}, transport errors {}, 2xx without SAMLResponse {}",
        a.rounds,
        a.levels,
        total.signed,
        total.non_2xx_total(),
        total.transport,
        total.no_response
    );
    if let Some(d) = total.detail() {
        println!("  {d}");
    }
    warm.failures() == 0 && total.failures() == 0
}

/// The earlier benchmark: many connections on one session, closed loop at saturation, then
/// an open loop at half that rate with latency from each request's scheduled start (no
/// coordinated omission).
async fn saturation(a: &Args) -> bool {
    let g = Arc::new(Gen::new(a));
    let concurrency = if a.concurrency == 0 {
        16
    } else {
        a.concurrency
    };
    let seconds = if a.seconds == 0 { 15 } else { a.seconds };
    let client = client(a.timeout, concurrency * 2);
    let cookie = match try_login(&client, a).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("login failed: {e}");
            return false;
        }
    };
    let b = Arc::new(Browser { client, cookie });
    let mut warm = Tally::default();
    for _ in 0..50 {
        let start = Instant::now();
        let o = b.sso(&g, false).await;
        warm.add(&o, start.elapsed());
    }
    let print = |phase: &str, mut t: Tally, secs: f64| {
        let (p50, p99, maxl) = t.latency();
        println!(
            "{phase}: requests={} non2xx={} errors={} rate={:.1}/s p50={p50:.2}ms p99={p99:.2}ms max={maxl:.2}ms",
            t.signed,
            t.non_2xx_total(),
            t.transport + t.no_response,
            t.signed as f64 / secs,
        );
        if let Some(d) = t.detail() {
            println!("  {d}");
        }
        t.failures()
    };
    let mut failures = print("warm-up", warm, 1.0);
    let duration = Duration::from_secs(seconds);
    let rate = match a.rate {
        Some(r) => r,
        None => {
            let browsers = vec![b.clone(); concurrency];
            let start = Instant::now();
            let t = closed_loop(&browsers, &g, duration).await;
            let secs = start.elapsed().as_secs_f64();
            let rate = t.signed as f64 / secs;
            failures += print("max", t, secs);
            rate / 2.0
        }
    };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let total = (rate * seconds as f64) as u64;
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (b, g) = (b.clone(), g.clone());
        handles.push(tokio::spawn(async move {
            let o = b.sso(&g, false).await;
            (o, due.elapsed())
        }));
    }
    let mut t = Tally::default();
    for h in handles {
        let (o, lat) = h.await.expect("task");
        t.add(&o, lat);
    }
    let secs = start.elapsed().as_secs_f64();
    failures += print(&format!("fixed rate {rate:.0}/s"), t, secs);
    failures == 0
}

/// `--logins` password logins, `--concurrency` at a time; the cookies go to `--cookies`.
async fn sessions(a: Arc<Args>) -> bool {
    let concurrency = if a.concurrency == 0 { 4 } else { a.concurrency };
    let next = Arc::new(AtomicU64::new(0));
    let cookies = Arc::new(Mutex::new(Vec::with_capacity(a.logins)));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (a, next, cookies) = (a.clone(), next.clone(), cookies.clone());
            tokio::spawn(async move {
                let client = client(a.timeout, 1);
                let mut t = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= a.logins as u64 {
                        break;
                    }
                    if i > 0 && i % 1000 == 0 {
                        eprintln!(
                            "  {i} logins started, {:.0} s",
                            start.elapsed().as_secs_f64()
                        );
                    }
                    let s = Instant::now();
                    match try_login(&client, &a).await {
                        Ok(c) => {
                            t.add(&Outcome::Signed(None), s.elapsed());
                            cookies.lock().expect("cookies").push(c);
                        }
                        Err(e) => t.add(&Outcome::Transport(e), s.elapsed()),
                    }
                }
                t
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.expect("task"));
    }
    let secs = start.elapsed().as_secs_f64();
    let (p50, p99, maxl) = all.latency();
    println!(
        "logins: {} ok, {} failed, {secs:.1} s, {:.1}/s, p50={p50:.1}ms p99={p99:.1}ms max={maxl:.1}ms",
        all.signed,
        all.transport,
        all.signed as f64 / secs
    );
    if let Some(d) = all.detail() {
        println!("  {d}");
    }
    if let Some(path) = &a.cookies {
        let cookies = cookies.lock().expect("cookies");
        std::fs::write(path, cookies.join("\n") + "\n").expect("write the cookies");
    }
    all.failures() == 0
}

/// One portal page with each stored cookie: 200 means a live session.
async fn use_sessions(a: Arc<Args>) -> bool {
    let concurrency = if a.concurrency == 0 { 4 } else { a.concurrency };
    let path = a.cookies.as_deref().expect("--cookies FILE");
    let cookies: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(path)
            .expect("read the cookies")
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (a, next, cookies) = (a.clone(), next.clone(), cookies.clone());
            tokio::spawn(async move {
                let client = client(a.timeout, 1);
                let mut t = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(c) = cookies.get(i) else { break };
                    let s = Instant::now();
                    let o = match client
                        .get(format!("{}/", a.base))
                        .header("cookie", c)
                        .send()
                        .await
                    {
                        Ok(r) => match (r.status().as_u16(), r.text().await) {
                            (200, Ok(_)) => Outcome::Signed(None),
                            (s, Ok(_)) => Outcome::Status(s),
                            (_, Err(e)) => Outcome::Transport(error_chain(&e)),
                        },
                        Err(e) => Outcome::Transport(error_chain(&e)),
                    };
                    t.add(&o, s.elapsed());
                }
                t
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await.expect("task"));
    }
    let secs = start.elapsed().as_secs_f64();
    let (p50, p99, maxl) = all.latency();
    println!(
        "portal pages: {} of {} sessions live (200), non-2xx {}, transport errors {}, {secs:.1} s, p50={p50:.2}ms p99={p99:.2}ms max={maxl:.2}ms",
        all.signed,
        cookies.len(),
        all.non_2xx_total(),
        all.transport
    );
    if let Some(d) = all.detail() {
        println!("  {d}");
    }
    all.failures() == 0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let ok = match a.mode.as_str() {
        "rounds" => {
            if a.seconds == 0 {
                let a = Args { seconds: 8, ..a };
                rounds(&a).await
            } else {
                rounds(&a).await
            }
        }
        "saturation" => saturation(&a).await,
        "sessions" => sessions(Arc::new(a)).await,
        "use-sessions" => use_sessions(Arc::new(a)).await,
        m => panic!("unknown mode {m}"),
    };
    if !ok {
        std::process::exit(2);
    }
}
