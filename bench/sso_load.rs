//! Load generator for the SSO benchmark (bench/sso.sh): SP-initiated HTTP-Redirect requests,
//! each with a fresh ID (sesame refuses replays), sent by a signed-in browser session, so
//! every answer is a freshly signed assertion. Two phases: closed loop at full speed
//! (throughput), then an open loop at a fixed rate (latency without coordinated omission).
//!
//! sso_load --base URL --slug S --sp-entity ID --acs URL --user U --password P
//!          [--concurrency 16] [--seconds 15] [--rate R]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use flate2::write::DeflateEncoder;

struct Args {
    base: String,
    slug: String,
    sp_entity: String,
    acs: String,
    user: String,
    password: String,
    concurrency: usize,
    seconds: u64,
    rate: Option<f64>,
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        base: String::new(),
        slug: String::new(),
        sp_entity: String::new(),
        acs: String::new(),
        user: String::new(),
        password: String::new(),
        concurrency: 16,
        seconds: 15,
        rate: None,
    };
    while let Some(k) = a.next() {
        let v = a.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--base" => out.base = v,
            "--slug" => out.slug = v,
            "--sp-entity" => out.sp_entity = v,
            "--acs" => out.acs = v,
            "--user" => out.user = v,
            "--password" => out.password = v,
            "--concurrency" => out.concurrency = v.parse().expect("number"),
            "--seconds" => out.seconds = v.parse().expect("number"),
            "--rate" => out.rate = Some(v.parse().expect("number")),
            _ => panic!("unknown argument {k}"),
        }
    }
    out
}

fn cookie_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sesame_session="))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
}

async fn login(client: &reqwest::Client, a: &Args) -> String {
    let page = client
        .get(format!("{}/login", a.base))
        .send()
        .await
        .expect("GET /login");
    let cookie = cookie_of(&page).expect("session cookie");
    let body = page.text().await.expect("login page");
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).expect("csrf field") + marker.len();
    let csrf = &body[start..start + body[start..].find('"').expect("quote")];
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
        .expect("POST /login");
    assert_eq!(res.status().as_u16(), 303, "login must succeed");
    cookie_of(&res).expect("new session cookie")
}

struct Ctx {
    client: reqwest::Client,
    cookie: String,
    prefix: String,
    counter: AtomicU64,
    errors: AtomicU64,
    base: String,
    slug: String,
    sp_entity: String,
    acs: String,
}

impl Ctx {
    fn request_query(&self) -> String {
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
        format!("SAMLRequest={enc}&RelayState=bench")
    }

    /// One SSO round; returns its latency in microseconds, or counts an error.
    async fn one(&self, started: Instant) -> Option<u64> {
        let url = format!("{}/saml2/{}?{}", self.base, self.slug, self.request_query());
        let res = self
            .client
            .get(url)
            .header("cookie", &self.cookie)
            .send()
            .await;
        let ok = match res {
            Ok(r) if r.status().as_u16() == 200 => r
                .text()
                .await
                .map(|b| b.contains("SAMLResponse"))
                .unwrap_or(false),
            _ => false,
        };
        if ok {
            Some(started.elapsed().as_micros() as u64)
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn report(phase: &str, mut lat: Vec<u64>, secs: f64, errors: u64) {
    lat.sort_unstable();
    println!(
        "{phase}: requests={} errors={errors} rate={:.1}/s p50={:.2}ms p99={:.2}ms max={:.2}ms",
        lat.len(),
        lat.len() as f64 / secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = args();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(a.concurrency * 2)
        .build()
        .expect("client");
    let cookie = login(&client, &a).await;
    let ctx = Arc::new(Ctx {
        client,
        cookie,
        prefix: sesame::auth::csrf::random_token(9).replace('-', "x"),
        counter: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        base: a.base.clone(),
        slug: a.slug.clone(),
        sp_entity: a.sp_entity.clone(),
        acs: a.acs.clone(),
    });
    // Warm-up: connections, caches.
    for _ in 0..50 {
        ctx.one(Instant::now()).await;
    }
    ctx.errors.store(0, Ordering::Relaxed);

    let duration = Duration::from_secs(a.seconds);
    let rate = match a.rate {
        Some(r) => r,
        None => {
            let deadline = Instant::now() + duration;
            let start = Instant::now();
            let tasks: Vec<_> = (0..a.concurrency)
                .map(|_| {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        let mut lat = Vec::new();
                        while Instant::now() < deadline {
                            if let Some(l) = ctx.one(Instant::now()).await {
                                lat.push(l);
                            }
                        }
                        lat
                    })
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("task"));
            }
            let secs = start.elapsed().as_secs_f64();
            let rate = all.len() as f64 / secs;
            report("max", all, secs, ctx.errors.swap(0, Ordering::Relaxed));
            rate / 2.0
        }
    };
    // Open loop at `rate`: latency measured from each request's scheduled start.
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let total = (rate * a.seconds as f64) as u64;
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let ctx = ctx.clone();
        handles.push(tokio::spawn(async move { ctx.one(due).await }));
    }
    let mut lat = Vec::with_capacity(handles.len());
    for h in handles {
        if let Some(l) = h.await.expect("task") {
            lat.push(l);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    report(
        &format!("fixed rate {rate:.0}/s"),
        lat,
        secs,
        ctx.errors.load(Ordering::Relaxed),
    );
}
