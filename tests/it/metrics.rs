//! Prometheus metrics and the probes on a real server: `/metrics` stays off the public port
//! unless a token is set; logins, lockouts, an SSO round with the pysaml2 SP and a SCIM
//! push to scim2-server move the counters and gauges; every scrape is checked by the
//! exposition-format parser below, and by `promtool check metrics` (required under CI).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sesame::config::Config;
use sesame::directory::apps::{self, AppChanges};
use sesame::directory::users::{self, UserFields};
use sesame::directory::{groups, Actor};
use sesame::scim::secret::Secret;
use sesame::scim::target::Changes;

use crate::scim_peer::{connect, settle, ScimPeer};
use crate::sp::World;
use crate::support::{test_config, Browser, TestDb, TestServer};

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// A test server's config with metrics on: its own listener on a free loopback port,
/// and/or the token for the main one.
fn with_metrics(db: &TestDb, listen: bool, token: Option<&str>) -> Config {
    let mut c = test_config(&db.url);
    if listen {
        c.metrics_listen = Some(([127, 0, 0, 1], 0).into());
    }
    if let Some(t) = token {
        c.metrics_token = Secret::new(t);
    }
    c
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = http().get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("GET");
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, kind, res.text().await.expect("body"))
}

/// Scrapes the metrics listener and checks the text (parser, then promtool).
async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, kind, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    let parsed = parse(&body).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{body}"));
    promtool(&body);
    parsed
}

// ---- The exposition format (Prometheus text format 0.0.4), checked strictly. ----

type Labels = BTreeMap<String, String>;

/// Every sample of a scrape: name → the label sets with their values.
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<String, Vec<(Labels, f64)>>,
}

impl Scrape {
    /// The sum of the samples of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| v)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples.get(name).into_iter().flatten().any(|(l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

fn valid_name(s: &str, colons: bool) -> bool {
    let mut chars = s.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(first_ok)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

/// `{a="x",b="y"}` → labels and the rest of the line.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("labels start with {")?;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = rest[..eq].trim();
        if !valid_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses and checks: names, labels and values well-formed; `# TYPE` once per family and
/// before its samples; a family's samples together; no series twice; every `sesame_`
/// family with HELP and TYPE; histograms with `le` buckets that are cumulative and end
/// in `+Inf` equal to `_count`.
fn parse(text: &str) -> Result<Scrape, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series: BTreeSet<String> = BTreeSet::new();
    let mut scrape = Scrape::default();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let mut words = c.trim_start().splitn(3, ' ');
            let kind = words.next().unwrap_or("");
            if kind != "HELP" && kind != "TYPE" {
                continue;
            }
            let name = words.next().ok_or_else(|| at("no metric name".into()))?;
            if !valid_name(name, true) {
                return Err(at("bad metric name".into()));
            }
            if done.contains(name) {
                return Err(at("metadata after the family's samples".into()));
            }
            if kind == "HELP" {
                if !helps.insert(name.to_string()) {
                    return Err(at("HELP twice".into()));
                }
            } else {
                let t = words.next().unwrap_or("").trim();
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                    return Err(at(format!("unknown type {t:?}")));
                }
                if types.insert(name.to_string(), t.to_string()).is_some() {
                    return Err(at("TYPE twice".into()));
                }
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name, true) {
            return Err(at("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().ok_or_else(|| at("no value".into()))?).map_err(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing text".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                let base = name.strip_suffix(s)?;
                matches!(
                    types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
                .then(|| base.to_string())
            })
            .unwrap_or_else(|| name.to_string());
        if current.as_deref() != Some(family.as_str()) {
            if done.contains(&family) {
                return Err(at(format!("samples of {family} are not together")));
            }
            if let Some(prev) = current.replace(family.clone()) {
                done.insert(prev);
            }
        }
        if family.starts_with("sesame_")
            && !(types.contains_key(&family) && helps.contains(&family))
        {
            return Err(at(format!("{family} has no HELP or TYPE")));
        }
        if types.get(&family).map(String::as_str) == Some("histogram")
            && name.ends_with("_bucket")
            && !labels.contains_key("le")
        {
            return Err(at("a bucket without le".into()));
        }
        if !series.insert(format!("{name}{labels:?}")) {
            return Err(at("the same series twice".into()));
        }
        scrape
            .samples
            .entry(name.to_string())
            .or_default()
            .push((labels, value));
    }
    for (family, t) in &types {
        if t == "histogram" {
            check_histogram(&scrape, family)?;
        }
    }
    Ok(scrape)
}

fn check_histogram(scrape: &Scrape, family: &str) -> Result<(), String> {
    // The labels but `le` → (le, count) of each bucket.
    let mut by_series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for (labels, v) in scrape
        .samples
        .get(&format!("{family}_bucket"))
        .into_iter()
        .flatten()
    {
        let le = parse_value(&labels["le"])?;
        let mut rest = labels.clone();
        rest.remove("le");
        by_series.entry(rest).or_default().push((le, *v));
    }
    for (labels, mut buckets) in by_series {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(format!("{family}{labels:?}: buckets are not cumulative"));
        }
        let inf = buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let count = scrape.sum(&format!("{family}_count"), &pairs);
        if inf != Some(count) {
            return Err(format!(
                "{family}{labels:?}: the +Inf bucket {inf:?} is not the count {count}"
            ));
        }
    }
    Ok(())
}

/// `promtool check metrics` on the text, when promtool is installed (Debian's
/// `prometheus` package; `make test` installs it, so under CI it must be there).
fn promtool(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is required under CI (make test installs Debian's prometheus package): {e}"
            );
            eprintln!("note: promtool not installed; the exposition was checked by the test's own parser only");
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_parser_refuses_what_prometheus_refuses() {
    let ok = "# HELP sesame_x X.\n# TYPE sesame_x counter\nsesame_x{a=\"1\\\"\"} 2\n";
    assert_eq!(parse(ok).unwrap().sum("sesame_x", &[("a", "1\"")]), 2.0);
    for bad in [
        "sesame_x 1\n",                                                       // no HELP/TYPE
        "# HELP y Y.\n# TYPE y gauge\ny{a=1} 1\n",                            // unquoted
        "# HELP y Y.\n# TYPE y gauge\ny one\n",                               // bad value
        "# HELP y Y.\n# TYPE y gauge\ny 1\n# HELP z Z.\n# TYPE z gauge\nz 1\ny 2\n", // split
        "# HELP y Y.\n# TYPE y gauge\ny 1\ny 1\n",                            // duplicate
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad}");
    }
}

// ---- The server. ----

#[tokio::test]
async fn metrics_are_off_the_public_port_unless_a_token_is_set() {
    // Default: no /metrics anywhere, and no listener of its own.
    let db = TestDb::sqlite();
    let plain = TestServer::start(&db).await;
    assert!(!plain.config.metrics_enabled());
    let (status, _, _) = get(plain.addr, "/metrics", None).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(plain.addr, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, 404);
    plain.stop().await;

    // A token: served on the main listener to that bearer token only.
    let db = TestDb::sqlite();
    let server = TestServer::start_with(with_metrics(&db, false, Some(TOKEN))).await;
    for (token, want) in [
        (None, 401),
        (Some("metrics-token-0123456789abcdeX"), 401),
        (Some("metrics-token-0123456789abcde"), 401),
        (Some(TOKEN), 200),
    ] {
        let (status, kind, body) = get(server.addr, "/metrics", token).await;
        assert_eq!(status, want, "{token:?}: {body}");
        if want == 200 {
            assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
            let s = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
            assert_eq!(s.sum("sesame_build_info", &[]), 1.0);
            promtool(&body);
        } else {
            assert!(!body.contains("sesame_"), "{body}");
        }
    }
    let res = http()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"sesame metrics\""
    );
    server.stop().await;

    // A listener of its own: /metrics and the probes there, nothing on the main one.
    let db = TestDb::sqlite();
    let server = TestServer::start_with(with_metrics(&db, true, None)).await;
    let private = server.metrics_addr().expect("metrics listener");
    assert_ne!(private, server.addr);
    assert_eq!(get(server.addr, "/metrics", None).await.0, 404);
    assert_eq!(get(server.addr, "/metrics", Some(TOKEN)).await.0, 404);
    scrape(private).await;
    assert_eq!(get(private, "/healthz", None).await.2, "ok\n");
    assert_eq!(get(private, "/readyz", None).await.2, "ready\n");
    assert_eq!(get(private, "/login", None).await.0, 404);
    assert_eq!(get(private, "/api/v1/apps", None).await.0, 404);
    server.stop().await;

    // Both: the token is asked for on the metrics listener too.
    let db = TestDb::sqlite();
    let server = TestServer::start_with(with_metrics(&db, true, Some(TOKEN))).await;
    let private = server.metrics_addr().expect("metrics listener");
    assert_eq!(get(private, "/metrics", None).await.0, 401);
    assert_eq!(get(private, "/metrics", Some(TOKEN)).await.0, 200);
    assert_eq!(get(server.addr, "/metrics", Some(TOKEN)).await.0, 200);
    assert_eq!(get(private, "/healthz", None).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn logins_and_lockouts_move_the_counters() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(with_metrics(&db, true, None)).await;
    let addr = server.metrics_addr().expect("metrics listener");
    server.user("alice", "correct horse battery").await;
    server.user("bob", "correct horse battery").await;
    let before = scrape(addr).await;
    // The recorder is shared by every server in this test process, so counters are
    // compared as "moved by at least"; the gauges read this server's database alone.
    let mut b = Browser::new(&server);
    assert_eq!(b.login("alice", "wrong password!").await.status, 401);
    assert_eq!(b.login("alice", "correct horse battery").await.status, 303);
    // The portal touches alice's session: a small write through the group commit.
    assert_eq!(b.get("/").await.status, 200);
    let mut m = Browser::new(&server);
    // login_max_failures is 3 in the tests: the third failure locks bob.
    for want in [401, 401, 429] {
        assert_eq!(m.login("bob", "wrong password!").await.status, want);
    }
    assert_eq!(m.login("bob", "correct horse battery").await.status, 429);
    let after = scrape(addr).await;

    let moved =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    assert!(moved("sesame_logins_total", &[("outcome", "success")]) >= 1.0);
    assert!(moved("sesame_logins_total", &[("outcome", "refused")]) >= 3.0);
    assert!(moved("sesame_logins_total", &[("outcome", "locked")]) >= 2.0);
    assert!(moved("sesame_lockouts_total", &[("step", "password")]) >= 1.0);
    for outcome in ["success", "second_factor", "refused", "locked"] {
        assert!(after.has("sesame_logins_total", &[("outcome", outcome)]));
    }
    let route = [("route", "/login"), ("method", "POST")];
    assert!(moved("sesame_http_requests_total", &route) >= 6.0);
    assert!(
        moved(
            "sesame_http_requests_total",
            &[("route", "/login"), ("status", "429")]
        ) >= 2.0
    );
    assert!(
        moved(
            "sesame_http_request_duration_seconds_count",
            &[("route", "/login")]
        ) >= 6.0
    );
    // The database: waits for readers and the writer, and group commits (session saves).
    for pool in ["reader", "writer"] {
        assert!(
            moved("sesame_db_wait_seconds_count", &[("pool", pool)]) >= 1.0,
            "{pool}"
        );
    }
    assert!(moved("sesame_db_group_commit_seconds_count", &[]) >= 1.0);
    assert!(moved("sesame_db_group_commit_records_sum", &[]) >= 1.0);
    // Gauges: alice's session (bob has none), the pools, the process, the signing key.
    assert_eq!(after.sum("sesame_sessions_open", &[]), 1.0);
    assert_eq!(after.sum("sesame_database_reachable", &[]), 1.0);
    assert!(after.sum("sesame_db_pool_connections", &[("pool", "reader")]) >= 1.0);
    assert!(after.sum("sesame_process_resident_memory_bytes", &[]) > 10e6);
    assert!(after.sum("sesame_process_open_fds", &[]) >= 3.0);
    let expiry = after.sum(
        "sesame_signing_certificate_expiry_timestamp_seconds",
        &[("scope", "shared")],
    );
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(expiry > now + 86_400.0 * 300.0, "{expiry}");
    server.stop().await;
}

#[tokio::test]
async fn an_sso_answer_is_counted_by_app() {
    let db = TestDb::sqlite();
    let config = with_metrics(&db, true, None);
    let w = World::with(db, config).await;
    let addr = w.server.metrics_addr().expect("metrics listener");
    let before = scrape(addr).await;

    let mut b = w.browser();
    let (verdict, _) = w.sso(&mut b, &[("binding", "redirect")], "alice").await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    // bob is not in a group bound to the app: a refusal page, counted as a failure.
    let mut other = w.browser();
    let instruction = w.sp.login(&[("binding", "redirect")]).await;
    let first = w.send(&mut other, &instruction).await;
    let refused = w.follow(&mut other, first, "bob").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let after = scrape(addr).await;

    let moved =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    let demo = |more: (&'static str, &'static str)| [("app", "demo"), more];
    assert!(moved("sesame_sso_answers_total", &demo(("outcome", "success"))) >= 1.0);
    assert!(moved("sesame_sso_answers_total", &demo(("outcome", "failure"))) >= 1.0);
    assert!(moved("sesame_sso_decisions_total", &demo(("decision", "sign_in"))) >= 2.0);
    assert!(
        moved(
            "sesame_sso_decisions_total",
            &demo(("decision", "response"))
        ) >= 1.0
    );
    assert!(moved("sesame_sso_decisions_total", &demo(("decision", "refused"))) >= 1.0);
    assert!(
        moved(
            "sesame_sso_answer_duration_seconds_count",
            &[("app", "demo")]
        ) >= 1.0
    );
    assert!(after.has(
        "sesame_http_requests_total",
        &[("route", "/saml2/{slug}"), ("method", "GET")]
    ));
    // No username, address or request data in any label.
    for (name, series) in &after.samples {
        for (labels, _) in series {
            for v in labels.values() {
                assert!(
                    !v.contains("alice") && !v.contains("bob") && !v.contains("127.0.0.1"),
                    "{name}{labels:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_scim_push_is_counted_by_target() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(with_metrics(&db, true, None)).await;
    let addr = server.metrics_addr().expect("metrics listener");
    // A slug no other test uses: its counters are this test's alone.
    let slug = "metered";
    let actor = Actor::system();
    groups::add(&server.db, &actor, "staff", "").await.unwrap();
    apps::add(&server.db, &actor, slug, "generic", &AppChanges::default())
        .await
        .unwrap();
    apps::set_binding(&server.db, &actor, slug, "staff", true)
        .await
        .unwrap();
    let member = |name: &'static str| {
        let db = server.db.clone();
        async move {
            let f = UserFields {
                email: Some(format!("{name}@example.com")),
                first_name: Some("First".into()),
                last_name: Some("Last".into()),
                ..UserFields::default()
            };
            users::add(&db, &Actor::system(), name, &f, None)
                .await
                .unwrap();
            groups::set_member(&db, &Actor::system(), "staff", name, true)
                .await
                .unwrap();
        }
    };
    member("carol").await;
    let peer = ScimPeer::start(&[]);
    connect(&server.db, &server.config, slug, &peer, Changes::default()).await;
    settle(&server.db, slug, 20).await;

    let s = scrape(addr).await;
    let t = ("target", slug);
    // What the target supports read once (GET /ServiceProviderConfig), looked up (GET 200),
    // then created (POST 201): what the target logged, and the capability read.
    assert_eq!(peer.requests().len(), 2);
    assert_eq!(
        s.sum(
            "sesame_scim_requests_total",
            &[t, ("method", "GET"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        s.sum(
            "sesame_scim_requests_total",
            &[t, ("method", "POST"), ("status", "201")]
        ),
        1.0
    );
    assert_eq!(
        s.sum("sesame_scim_request_duration_seconds_count", &[t]),
        3.0
    );
    assert_eq!(s.sum("sesame_scim_queue_depth", &[t]), 0.0);
    assert_eq!(s.sum("sesame_scim_queue_oldest_age_seconds", &[t]), 0.0);
    assert_eq!(
        s.sum("sesame_scim_target_state", &[t, ("state", "active")]),
        1.0
    );
    assert_eq!(
        s.sum("sesame_scim_target_state", &[t]),
        1.0,
        "one state at a time"
    );
    assert_eq!(s.sum("sesame_scim_target_failures", &[t]), 0.0);
    assert_eq!(s.sum("sesame_scim_target_throttled", &[t]), 0.0);

    // The target goes away: the next change stays queued, and its failures are counted.
    drop(peer);
    member("dave").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = scrape(addr).await;
        let failed = s.sum("sesame_scim_requests_total", &[t, ("status", "error")]);
        if failed >= 1.0 && s.sum("sesame_scim_target_failures", &[t]) >= 1.0 {
            assert_eq!(s.sum("sesame_scim_queue_depth", &[t]), 1.0);
            assert!(s.sum("sesame_scim_queue_oldest_age_seconds", &[t]) >= 0.0);
            assert_eq!(
                s.sum("sesame_scim_target_state", &[t, ("state", "active")]),
                1.0
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed request counted: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn readiness_is_apart_from_liveness() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    assert_eq!(
        get(server.addr, "/healthz", None).await,
        (200, "text/plain; charset=utf-8".into(), "ok\n".into())
    );
    assert_eq!(get(server.addr, "/readyz", None).await.2, "ready\n");
    // A migration this binary carries is no longer recorded as applied (a database
    // restored from an older backup, say): not ready, though alive.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(server.db.writer_pool())
    .await
    .unwrap();
    let (status, _, body) = get(server.addr, "/readyz", None).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "database migrations not current\n")
    );
    assert_eq!(get(server.addr, "/healthz", None).await.0, 200);
    server.stop().await;
}
