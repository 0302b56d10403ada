//! Fuzzing on stable Rust (issue 11): every decoder that takes outside bytes, driven by a
//! self-contained generator: byte mutations, XML-aware mutations (nesting, duplicated
//! elements and attributes, namespace redeclarations, entities, comments inside text, huge
//! attributes, wrong-length or broken base64 values) and the bindings' own layers (DEFLATE,
//! base64, URL encoding, detached signatures), seeded from real, validly signed requests. An
//! input that reaches a new outcome (a new refusal, or a later stage) joins the corpus.
//! (Not cargo-afl or honggfuzz: both instrument every dependency with compiler plugins that
//! must match rustc's LLVM, which this machine does not have; this runs on stable as is.)
//!
//! Each `#[test]` is one target. It runs itself again as a child process of this binary, on a
//! thread with a 256 KiB stack: a panic is caught and printed with its input; recursion that
//! outruns the small stack aborts the child, and the parent prints the input it died on; an
//! input that runs past `FUZZ_TIMEOUT_SECS` (default 60) is a hang, reported the same way.
//! A failed property of the output (a Response that does not parse or verify, canonical XML
//! that does not read back the same) counts as a crash too.
//!
//! - `cargo test --test fuzz`: the smoke run, a fixed number of executions per target from a
//!   fixed seed (printed), part of `make test`.
//! - `FUZZ_EXECS=10000000 cargo test --release --test fuzz -- --nocapture [target]`: a long
//!   campaign; `bench/fuzz.sh` runs it target by target (BENCHMARKS.md).
//! - `FUZZ_SEED=0x…` another seed; `FUZZ_SECS=N` a time cap per target;
//!   `FUZZ_REPLAY=<base64>` runs one input (pick the target with the test name); `FUZZ_SHOW=1`
//!   prints the outcome of every input.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Query};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use openssl::bn::{BigNum, BigNumContext};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sesame::saml::binding::{self, Message};
use sesame::saml::keys::{KeyKind, SigningKey};
use sesame::saml::ns::{ASSERTION, BINDING_POST, BINDING_REDIRECT, DS, MD, PROTOCOL};
use sesame::saml::response::{self, instant, Failure, Grant};
use sesame::saml::validate::{self, Binding, Pending, Refusal};
use sesame::saml::xml::XmlWriter;
use sesame::saml::{c14n, dsig, metadata, request, settings};
use sesame::store::sso::SsoRow;

// ---------------------------------------------------------------------------------------
// The targets.

/// HTTP-Redirect: the raw query → `decode_redirect` (inflate, detached signature) → the full
/// request check against three app rows → the Response sesame would send.
#[test]
fn redirect() {
    static T: Target = Target {
        name: "redirect",
        smoke: 400,
        seeds: |w| w.queries(false),
        mutate: |w, rng, base, corpus| {
            if rng.gen_bool(0.5) {
                redirect_query(w, rng)
            } else {
                mutate_bytes(rng, base.to_vec(), corpus, QUERY_TOKENS)
            }
        },
        run: |w, input| match binding::decode_redirect(&text(input)) {
            Ok(msg) => format!("ok {}", check_all(w, &msg, Binding::Redirect)),
            Err(e) => label(&e.to_string()),
        },
    };
    fuzz(&T);
}

/// HTTP-POST: the form body → `decode_post` → the full request check → the Response.
#[test]
fn post() {
    static T: Target = Target {
        name: "post",
        smoke: 400,
        seeds: |w| w.queries(true),
        mutate: |w, rng, base, corpus| {
            if rng.gen_bool(0.5) {
                post_body(w, rng)
            } else {
                mutate_bytes(rng, base.to_vec(), corpus, QUERY_TOKENS)
            }
        },
        run: |w, input| match binding::decode_post(&text(input)) {
            Ok(msg) => format!("ok {}", check_all(w, &msg, Binding::Post)),
            Err(e) => label(&e.to_string()),
        },
    };
    fuzz(&T);
}

/// The AuthnRequest XML itself: `request::parse` + `read`, and `validate::check` through both
/// bindings for an app with SP certificates (RSA and ECDSA, so enveloped signatures go through
/// c14n, digest and public-key checks), one that also allows SHA-1, and one without.
#[test]
fn authn_request() {
    static T: Target = Target {
        name: "authn_request",
        smoke: 500,
        seeds: |w| w.requests.iter().map(|r| r.clone().into_bytes()).collect(),
        mutate: mutate_xml_input,
        run: |w, input| {
            let xml = text(input);
            let read = match request::parse(&xml) {
                Ok(doc) => match request::read(&doc) {
                    Ok(_) => "read".to_string(),
                    Err(e) => label(&e.to_string()),
                },
                Err(e) => return label(&e.to_string()),
            };
            let post = message(xml, None);
            format!(
                "{read} post[{}] redirect[{}]",
                check_all(w, &post, Binding::Post),
                check_all(w, &post, Binding::Redirect)
            )
        },
    };
    fuzz(&T);
}

/// XML-DSig directly: `verify_enveloped` on whatever parses (SHA-1 allowed or not), and
/// exclusive c14n of the root and of an inner element with a PrefixList, whose output must
/// be well-formed and canonicalize to itself.
#[test]
fn dsig() {
    static T: Target = Target {
        name: "dsig",
        smoke: 800,
        seeds: |w| w.requests.iter().map(|r| r.clone().into_bytes()).collect(),
        mutate: mutate_xml_input,
        run: |w, input| {
            let xml = text(input);
            let doc = match sesame::saml::xml::parse_untrusted(&xml, 100_000) {
                Ok(d) => d,
                Err(e) => return label(&e.to_string()),
            };
            let strict = dsig::verify_enveloped(&doc, &w.sp_certs, false);
            let sha1 = dsig::verify_enveloped(&doc, &w.sp_certs, true);
            let prefixes = PREFIX_LISTS[input.len() % PREFIX_LISTS.len()];
            let root = doc.root_element();
            c14n_round_trip(root, None, prefixes);
            let elements: Vec<_> = doc.descendants().filter(|n| n.is_element()).collect();
            let inner = elements[input.len() % elements.len()];
            let signature = elements
                .iter()
                .find(|n| {
                    n.tag_name().namespace() == Some(DS) && n.tag_name().name() == "Signature"
                })
                .map(|n| n.id());
            c14n::canonicalize(inner, signature, prefixes);
            let verdict = |r: Result<(), dsig::DsigError>| {
                r.map_or_else(|e| label(&e.to_string()), |()| "ok".into())
            };
            format!("{} | {}", verdict(strict), verdict(sha1))
        },
    };
    fuzz(&T);
}

/// SP metadata import: `parse_sp_metadata`, then the settings checks its result goes through
/// (certificates, ACS URLs).
#[test]
fn sp_metadata() {
    static T: Target = Target {
        name: "sp_metadata",
        smoke: 600,
        seeds: |w| w.metadata.iter().map(|m| m.clone().into_bytes()).collect(),
        mutate: mutate_xml_input,
        run: |_, input| match metadata::parse_sp_metadata(&text(input)) {
            Ok(c) => {
                let certs = settings::sp_certs(c.sp_certs_pem.as_deref().unwrap_or(""));
                let acs: Vec<_> = c
                    .acs_urls
                    .iter()
                    .flatten()
                    .map(|u| settings::acs_url(u))
                    .collect();
                format!(
                    "ok certs:{} acs:{}",
                    certs.is_ok(),
                    acs.iter().all(Result::is_ok)
                )
            }
            Err(e) => label(&e.to_string()),
        },
    };
    fuzz(&T);
}

/// What the SCIM bridge reads from a target: the status, `Retry-After` and the body, decoded
/// as `scim::client` does, then classified, described, and mapped back (`from_remote`, the
/// PATCH diff against a user, the backoff).
#[test]
fn scim_response() {
    static T: Target = Target {
        name: "scim_response",
        smoke: 3000,
        seeds: |_| scim_seeds(),
        mutate: |_, rng, base, corpus| {
            if rng.gen_bool(0.5) {
                mutate_json_input(rng, base, corpus)
            } else {
                mutate_bytes(rng, base.to_vec(), corpus, JSON_TOKENS)
            }
        },
        run: |_, input| scim_run(input),
    };
    fuzz(&T);
}

/// Form and JSON bodies and query strings through the extractors the handlers use (`HtmlForm`,
/// the API's `Body`, `Query`) into their types, and the field checks they feed.
#[test]
fn forms() {
    static T: Target = Target {
        name: "forms",
        smoke: 3000,
        seeds: |_| form_seeds(),
        mutate: |_, rng, base, corpus| {
            if rng.gen_bool(0.4) {
                mutate_json_input(rng, base, corpus)
            } else {
                mutate_bytes(rng, base.to_vec(), corpus, FORM_TOKENS)
            }
        },
        run: |_, input| forms_run(input),
    };
    fuzz(&T);
}

/// Uploaded app logos (`directory::logo::check`): PNG magic or an SVG parsed and filtered.
#[test]
fn logo() {
    static T: Target = Target {
        name: "logo",
        smoke: 250,
        seeds: |_| logo_seeds(),
        mutate: mutate_xml_input,
        run: |_, input| match sesame::directory::logo::check(input) {
            Ok(t) => t.to_string(),
            Err(e) => label(&e.to_string()),
        },
    };
    fuzz(&T);
}

// ---------------------------------------------------------------------------------------
// The runner: a child process per target, a small-stack worker, a watchdog.

struct Target {
    name: &'static str,
    /// Executions in the smoke run (a debug build, in `make test`).
    smoke: u64,
    seeds: fn(&World) -> Vec<Vec<u8>>,
    /// The next input from a corpus entry (or from the target's structure).
    mutate: Mutator,
    /// Runs one input; returns its outcome, a short label (a new one grows the corpus).
    run: fn(&World, &[u8]) -> String,
}

/// The next input from (the world, the generator, a corpus entry, the whole corpus).
type Mutator = fn(&World, &mut StdRng, &[u8], &[Vec<u8>]) -> Vec<u8>;

const DEFAULT_SEED: u64 = 0x5E5A_3E11_F022_0011;
const STACK: usize = 256 * 1024;
/// The smoke run stops early past this, whatever the count (a slow or busy machine).
const SMOKE_SECS: f64 = 3.0;
const CORPUS_MAX: usize = 512;
const MAX_INPUT: usize = 1_200_000;
const SLOW: Duration = Duration::from_secs(2);

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => v.replace('_', "").parse().ok(),
    }
}

fn fuzz(t: &'static Target) {
    if std::env::var("FUZZ_CHILD").as_deref() == Ok(t.name) {
        child(t);
    } else {
        parent(t);
    }
}

/// Runs the target in a child process and reports how it ended.
fn parent(t: &Target) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&dir).expect("fuzz dir");
    let current = dir.join(format!("{}-{}.input", t.name, std::process::id()));
    let long = std::env::var_os("FUZZ_EXECS").is_some();
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([t.name, "--exact", "--nocapture", "--test-threads=1"])
        .env("FUZZ_CHILD", t.name)
        .env("FUZZ_CURRENT", &current)
        .stdin(Stdio::null());
    if !long {
        // Captured, then printed through the test harness (shown on failure or --nocapture).
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn the fuzz child");
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    })
    .collect();
    let status = child.wait().expect("wait for the fuzz child");
    for r in readers {
        print!("{}", r.join().unwrap_or_default());
    }
    if status.success() {
        let _ = std::fs::remove_file(&current);
        return;
    }
    if status.code() == Some(101) {
        panic!("fuzz target {} failed (crash inputs above)", t.name);
    }
    // Killed by a signal (a stack overflow aborts) or stopped by the watchdog (exit 2).
    let input = std::fs::read(&current).unwrap_or_default();
    let saved = save_crash(t.name, &input);
    println!(
        "CRASH target={} process ended with {status}; last input ({} bytes, {}):\n{}",
        t.name,
        input.len(),
        saved.display(),
        STANDARD.encode(&input)
    );
    panic!(
        "fuzz target {} killed the process ({status}); input above",
        t.name
    );
}

fn save_crash(name: &str, input: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    let _ = std::fs::create_dir_all(&dir);
    let digest = openssl::sha::sha256(input);
    let path = dir.join(format!("{name}-{}.bin", hex(&digest[..6])));
    let _ = std::fs::write(&path, input);
    path
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

struct Report {
    execs: u64,
    secs: f64,
    crashes: u64,
    slow: u64,
    corpus: usize,
    outcomes: usize,
}

/// In the child: inputs made on one thread, run on another with a small stack, whose
/// progress a watchdog follows.
fn child(t: &'static Target) {
    let base = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let name_hash = openssl::sha::sha256(t.name.as_bytes());
    let seed = base ^ u64::from_le_bytes(name_hash[..8].try_into().unwrap());
    let long = env_u64("FUZZ_EXECS");
    let execs = long.unwrap_or(t.smoke);
    let cap = match std::env::var("FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        Some(s) => Some(s),
        None if long.is_none() => Some(SMOKE_SECS),
        None => None,
    };
    let timeout = env_u64("FUZZ_TIMEOUT_SECS").unwrap_or(60) * 1000;
    let replay = std::env::var("FUZZ_REPLAY")
        .ok()
        .map(|b| STANDARD.decode(b.trim()).expect("FUZZ_REPLAY is base64"));
    let started = Instant::now();
    let w = world();
    println!(
        "fuzz {}: FUZZ_SEED=0x{base:016x} (target seed 0x{seed:016x}), {} execs{}, fixtures in {:.1} s",
        t.name,
        replay.as_ref().map_or(execs, |_| 1),
        cap.map_or(String::new(), |c| format!(" or {c} s")),
        started.elapsed().as_secs_f64()
    );
    let epoch = Instant::now();
    let busy = Arc::new(AtomicU64::new(0));
    let exec = Executor::start(t, w, busy.clone(), epoch);
    let generator = std::thread::Builder::new()
        .name(format!("fuzz-gen-{}", t.name))
        .stack_size(16 << 20)
        .spawn(move || match replay {
            Some(input) => {
                let (_, outcome, _) = exec.run(input);
                match &outcome {
                    Ok(o) => println!("replay {}: {o}", t.name),
                    Err(_) => println!("replay {}: CRASH (panic above)", t.name),
                }
                Report {
                    execs: 1,
                    secs: 0.0,
                    crashes: u64::from(outcome.is_err()),
                    slow: 0,
                    corpus: 0,
                    outcomes: 1,
                }
            }
            None => campaign(t, w, seed, execs, cap, &exec),
        })
        .expect("spawn the fuzz generator");
    while !generator.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let since = busy.load(Ordering::Relaxed);
        let elapsed = epoch.elapsed().as_millis() as u64;
        if since != 0 && elapsed.saturating_sub(since) > timeout {
            println!(
                "HANG target={}: one input has run for more than {} s",
                t.name,
                timeout / 1000
            );
            let _ = std::io::stdout().flush();
            std::process::exit(2);
        }
    }
    let r = match generator.join() {
        Ok(r) => r,
        Err(_) => panic!("the fuzz generator of {} panicked (a harness bug)", t.name),
    };
    println!(
        "fuzz-summary target={} seed=0x{seed:016x} execs={} secs={:.1} execs_per_sec={:.0} crashes={} slow={} corpus={} outcomes={}",
        t.name,
        r.execs,
        r.secs,
        r.execs as f64 / r.secs.max(1e-9),
        r.crashes,
        r.slow,
        r.corpus,
        r.outcomes
    );
    assert_eq!(
        r.crashes, 0,
        "fuzz target {}: crashes (inputs above)",
        t.name
    );
}

type Outcome = (Vec<u8>, std::thread::Result<String>, Duration);

/// The thread with the small stack that runs the target, one input at a time. Before each
/// input it writes the input to `FUZZ_CURRENT` (for the parent, should the process die) and
/// marks itself busy (for the watchdog).
struct Executor {
    inputs: std::sync::mpsc::SyncSender<Vec<u8>>,
    outcomes: std::sync::mpsc::Receiver<Outcome>,
}

impl Executor {
    fn start(t: &'static Target, w: &'static World, busy: Arc<AtomicU64>, epoch: Instant) -> Self {
        let (inputs, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
        let (tx, outcomes) = std::sync::mpsc::sync_channel(1);
        let file = std::env::var_os("FUZZ_CURRENT")
            .map(|p| File::create(p).expect("the current-input file"));
        std::thread::Builder::new()
            .name(format!("fuzz-{}", t.name))
            .stack_size(STACK)
            .spawn(move || {
                for input in rx {
                    if let Some(f) = &file {
                        let _ = f
                            .write_all_at(&input, 0)
                            .and_then(|()| f.set_len(input.len() as u64));
                    }
                    let t0 = Instant::now();
                    busy.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
                    let outcome = catch_unwind(AssertUnwindSafe(|| (t.run)(w, &input)));
                    busy.store(0, Ordering::Relaxed);
                    if tx.send((input, outcome, t0.elapsed())).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the fuzz executor");
        Executor { inputs, outcomes }
    }

    fn run(&self, input: Vec<u8>) -> Outcome {
        self.inputs.send(input).expect("the executor is running");
        self.outcomes.recv().expect("the executor answers")
    }
}

fn campaign(
    t: &Target,
    w: &World,
    seed: u64,
    execs: u64,
    cap: Option<f64>,
    exec: &Executor,
) -> Report {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut corpus = (t.seeds)(w);
    let seeds = corpus.len();
    let mut outcomes = HashSet::new();
    let epoch = Instant::now();
    let (mut crashes, mut slow, mut done) = (0, 0, 0u64);
    let mut last_progress = Instant::now();
    let show = std::env::var_os("FUZZ_SHOW").is_some();
    // The seeds first, as they are; then mutations.
    while done < execs {
        let mut input = match corpus
            .get(done as usize)
            .filter(|_| (done as usize) < seeds)
        {
            Some(s) => s.clone(),
            None => {
                let base = corpus.choose(&mut rng).cloned().unwrap_or_default();
                (t.mutate)(w, &mut rng, &base, &corpus)
            }
        };
        input.truncate(MAX_INPUT);
        let (input, outcome, took) = exec.run(input);
        done += 1;
        match outcome {
            Ok(label) => {
                if show {
                    println!("outcome {done}: {label}");
                }
                if outcomes.insert(label) {
                    if corpus.len() < CORPUS_MAX {
                        corpus.push(input.clone());
                    } else {
                        let i = rng.gen_range(seeds..corpus.len());
                        corpus[i] = input.clone();
                    }
                }
            }
            Err(_) => {
                crashes += 1;
                let saved = save_crash(t.name, &input);
                println!(
                    "CRASH target={} exec={done} (panic above; {} bytes, {}):\n{}",
                    t.name,
                    input.len(),
                    saved.display(),
                    STANDARD.encode(&input)
                );
                if crashes >= 10 {
                    break;
                }
            }
        }
        if took > SLOW {
            slow += 1;
            if slow <= 3 {
                println!(
                    "SLOW target={} exec={done}: {:.1} s for {} bytes: {}",
                    t.name,
                    took.as_secs_f64(),
                    input.len(),
                    STANDARD.encode(&input)
                );
            }
        }
        let secs = epoch.elapsed().as_secs_f64();
        if cap.is_some_and(|c| secs > c) {
            break;
        }
        if last_progress.elapsed() > Duration::from_secs(30) {
            last_progress = Instant::now();
            println!(
                "fuzz {}: {done} execs, {:.0}/s, corpus {}, outcomes {}, crashes {crashes}",
                t.name,
                done as f64 / secs,
                corpus.len(),
                outcomes.len()
            );
        }
    }
    Report {
        execs: done,
        secs: epoch.elapsed().as_secs_f64(),
        crashes,
        slow,
        corpus: corpus.len(),
        outcomes: outcomes.len(),
    }
}

/// Outside text as the server gets it: UTF-8, or (for bytes that are not) the lossy form a
/// client could send instead.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An outcome label: the message up to any quoted text, without numbers, cut short (what
/// was refused, not the attacker's text that may follow).
fn label(m: &str) -> String {
    m.chars()
        .take_while(|c| !matches!(c, '"' | '\''))
        .filter(|c| !c.is_ascii_digit())
        .take(48)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Fixtures: deterministic keys (so a seed gives the same inputs every run), app rows, seeds.

const SSO_URL: &str = "https://idp.example/saml2/fuzz";
const IDP_ENTITY: &str = "https://idp.example/saml2/fuzz";
const ENTITY: &str = "https://sp.example/metadata";
const ACS: &str = "https://sp.example/acs";
const ACS2: &str = "https://sp.example/acs2";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

struct World {
    /// The SP's RSA key: its certificate is registered; seeds are signed with it.
    sp: SigningKey,
    /// Another RSA key nobody registered.
    stranger: SigningKey,
    /// The registered certificates: the SP's RSA and an ECDSA P-256 one.
    sp_certs: Vec<X509>,
    /// sesame's own signing key for the Responses (ECDSA: cheap to sign with).
    idp: SigningKey,
    /// An app requiring signed requests, one that allows SHA-1, one without certificates.
    rows: [SsoRow; 3],
    requests: Vec<String>,
    metadata: Vec<String>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(World::new)
}

fn issued() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    issued() + chrono::Duration::seconds(10)
}

/// An RSA-2048 key from a fixed seed: primes found by a seeded search, so its PKCS#1 v1.5
/// signatures, and every seed input signed with it, are the same on every run.
fn rsa_key(seed: u64) -> SigningKey {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ctx = BigNumContext::new().unwrap();
    let e = BigNum::from_u32(65537).unwrap();
    let one = BigNum::from_u32(1).unwrap();
    let mut prime = || loop {
        let mut bytes = [0u8; 128];
        rng.fill(&mut bytes[..]);
        bytes[0] |= 0xC0;
        bytes[127] |= 1;
        let mut p = BigNum::from_slice(&bytes).unwrap();
        for _ in 0..2000 {
            let mut p1 = BigNum::new().unwrap();
            p1.checked_sub(&p, &one).unwrap();
            let mut g = BigNum::new().unwrap();
            g.gcd(&p1, &e, &mut ctx).unwrap();
            if g == one && p.is_prime_fasttest(32, &mut ctx, true).unwrap() {
                return (p, p1);
            }
            p.add_word(2).unwrap();
        }
    };
    let ((p, p1), (q, q1)) = (prime(), prime());
    let bn = |f: &dyn Fn(&mut BigNum, &mut BigNumContext)| {
        let mut r = BigNum::new().unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        f(&mut r, &mut ctx);
        r
    };
    let n = bn(&|r, c| r.checked_mul(&p, &q, c).unwrap());
    let phi = bn(&|r, c| r.checked_mul(&p1, &q1, c).unwrap());
    let d = bn(&|r, c| r.mod_inverse(&e, &phi, c).unwrap());
    let dmp1 = bn(&|r, c| r.nnmod(&d, &p1, c).unwrap());
    let dmq1 = bn(&|r, c| r.nnmod(&d, &q1, c).unwrap());
    let iqmp = bn(&|r, c| r.mod_inverse(&q, &p, c).unwrap());
    let e = BigNum::from_u32(65537).unwrap();
    let rsa = Rsa::from_private_components(n, e, d, p, q, dmp1, dmq1, iqmp).unwrap();
    let key = PKey::from_rsa(rsa).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "fuzz sp").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::from_unix(1_700_000_000).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::from_unix(2_100_000_000).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    SigningKey {
        kind: KeyKind::Rsa,
        cert_pem: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        cert_b64: STANDARD.encode(cert.to_der().unwrap()),
        fingerprint: String::new(),
        key,
        cert,
    }
}

impl World {
    fn new() -> World {
        let sp = rsa_key(1);
        let stranger = rsa_key(2);
        let ec = SigningKey::generate(KeyKind::EcP256).unwrap();
        let row = |certs: &str, sha1: bool, required: bool| SsoRow {
            sp_entity_id: ENTITY.into(),
            sp_certs: certs.into(),
            acs: vec![(0, ACS.into(), true), (1, ACS2.into(), false)],
            allow_sha1: sha1,
            require_signed_requests: required,
            ..SsoRow::default()
        };
        let pems = format!("{}{}", sp.cert_pem, ec.cert_pem);
        let mut w = World {
            sp_certs: vec![sp.cert.clone(), ec.cert.clone()],
            rows: [
                row(&pems, false, true),
                row(&pems, true, false),
                row("", false, false),
            ],
            idp: SigningKey::generate(KeyKind::EcP256).unwrap(),
            sp,
            stranger,
            requests: Vec::new(),
            metadata: Vec::new(),
        };
        w.requests = request_seeds(&w);
        w.metadata = metadata_seeds(&w);
        w
    }

    /// Redirect queries (or POST bodies) of every request seed, plus signed ones.
    fn queries(&self, post: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, xml) in self.requests.iter().enumerate() {
            let relay = (i % 2 == 0).then_some("https://sp.example/home?a=b");
            let q = if post {
                let mut q = format!("SAMLRequest={}", enc(&STANDARD.encode(xml)));
                if let Some(r) = relay {
                    q.push_str(&format!("&RelayState={}", enc(r)));
                }
                q
            } else {
                let mut q = format!(
                    "SAMLRequest={}",
                    enc(&STANDARD.encode(deflate(xml.as_bytes(), 6)))
                );
                if let Some(r) = relay {
                    q.push_str(&format!("&RelayState={}", enc(r)));
                }
                if i % 3 == 0 {
                    q = sign_query(self, &q, RSA_SHA256);
                }
                q
            };
            out.push(q.into_bytes());
        }
        out
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn deflate(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Bindings §3.4.4.1: the signature over `SAMLRequest=…[&RelayState=…]&SigAlg=…`.
fn sign_query(w: &World, q: &str, alg: &str) -> String {
    let signed = format!("{q}&SigAlg={}", enc(alg));
    let md = match alg {
        RSA_SHA1 => MessageDigest::sha1(),
        RSA_SHA512 => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    };
    let mut s = openssl::sign::Signer::new(md, &w.sp.key).unwrap();
    s.update(signed.as_bytes()).unwrap();
    let sig = STANDARD.encode(s.sign_to_vec().unwrap());
    format!("{signed}&Signature={}", enc(&sig))
}

/// A canonical AuthnRequest and where its enveloped signature goes (after the Issuer).
fn build_request(id: &str, attrs: &[(&str, &str)], issuer: &str, tail: &str) -> (String, usize) {
    let at = instant(issued());
    let mut all = vec![
        ("xmlns:samlp", PROTOCOL),
        ("ID", id),
        ("IssueInstant", at.as_str()),
        ("Version", "2.0"),
    ];
    all.extend_from_slice(attrs);
    let mut w = XmlWriter::new();
    w.open("samlp:AuthnRequest", &all)
        .leaf("saml:Issuer", &[("xmlns:saml", ASSERTION)], issuer);
    let split = w.len();
    w.raw(tail);
    (w.finish(), split)
}

fn request_seeds(w: &World) -> Vec<String> {
    let full = [
        ("AssertionConsumerServiceURL", ACS),
        ("Destination", SSO_URL),
    ];
    let policy = "<samlp:NameIDPolicy AllowCreate=\"true\" Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\"></samlp:NameIDPolicy>";
    let signed = |id: &str, attrs: &[(&str, &str)], tail: &str, key: &SigningKey| {
        let (xml, split) = build_request(id, attrs, ENTITY, tail);
        dsig::sign_enveloped(&xml, split, id, key).unwrap()
    };
    let mut out = vec![
        build_request("_r1", &full, ENTITY, "").0,
        build_request(
            "_r2",
            &[
                ("AssertionConsumerServiceIndex", "1"),
                ("Destination", SSO_URL),
                ("ForceAuthn", "true"),
                ("IsPassive", "false"),
                ("ProtocolBinding", BINDING_POST),
            ],
            ENTITY,
            policy,
        )
        .0,
        build_request(
            "_r3",
            &full,
            ENTITY,
            "<samlp:Extensions><x:e xmlns:x=\"urn:x\" x:a=\"1\">t</x:e></samlp:Extensions>\
             <saml:Subject xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><saml:NameID>alice</saml:NameID></saml:Subject>\
             <samlp:RequestedAuthnContext Comparison=\"exact\"><saml:AuthnContextClassRef xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>\
             <samlp:Scoping ProxyCount=\"1\"></samlp:Scoping>",
        )
        .0,
        signed("_s1", &full, "", &w.sp),
        signed("_s2", &full, policy, &w.sp),
        signed("_s3", &full, policy, &w.stranger),
    ];
    // Without Destination (a signed request must carry it): a status to the ACS.
    out.push(signed(
        "_s4",
        &[("AssertionConsumerServiceURL", ACS)],
        "",
        &w.sp,
    ));
    // An ECDSA SignatureMethod with an r‖s-sized value; a SHA-1 digest and signature method;
    // an InclusiveNamespaces PrefixList.
    let s = signed("_s5", &full, policy, &w.sp);
    out.push(
        s.replace(RSA_SHA256, ECDSA_SHA256)
            .replace(&value_of(&s, "SignatureValue"), &STANDARD.encode([7u8; 64])),
    );
    out.push(s.replace(RSA_SHA256, RSA_SHA1).replace(SHA256, SHA1));
    out.push(s.replace(
        "xml-exc-c14n#\"></ds:Transform></ds:Transforms>",
        "xml-exc-c14n#\"><ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"samlp saml #default\"></ec:InclusiveNamespaces></ds:Transform></ds:Transforms>",
    ));
    // Wrapping: the signed request inside the Extensions of an unsigned one.
    out.push(
        build_request(
            "_w1",
            &full,
            ENTITY,
            &format!("<samlp:Extensions>{}</samlp:Extensions>", out[3]),
        )
        .0,
    );
    // Default namespaces, an XML declaration, comments and whitespace, a comment in Issuer.
    out.push(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- sp -->\n<AuthnRequest xmlns=\"{PROTOCOL}\" ID=\"_d1\" Version=\"2.0\" IssueInstant=\"{}\" AssertionConsumerServiceURL=\"{ACS}\">\n  <Issuer xmlns=\"{ASSERTION}\">{ENTITY}</Issuer>\n  <NameIDPolicy AllowCreate=\"1\"/>\n</AuthnRequest>\n",
        instant(issued())
    ));
    // Finding 4 of issue 11: a comment inside a signed Issuer (c14n drops it; the signature
    // still verifies, so the whole text must be read).
    let split_issuer = format!("{}<!---->{}", &ENTITY[..12], &ENTITY[12..]);
    out.push(out[3].replacen(ENTITY, &split_issuer, 1));
    out
}

/// The text content of the first `…:{local}` element.
fn value_of(xml: &str, local: &str) -> String {
    let b = xml.as_bytes();
    content_ranges(b, local.as_bytes())
        .first()
        .map(|r| xml[r.clone()].to_string())
        .unwrap_or_default()
}

fn metadata_seeds(w: &World) -> Vec<String> {
    let acs = |b: &str, loc: &str, i: &str, d: &str| {
        format!(
            "<md:AssertionConsumerService Binding=\"{b}\" Location=\"{loc}\" index=\"{i}\"{d}/>"
        )
    };
    let key = |usage: &str| {
        format!(
            "<md:KeyDescriptor use=\"{usage}\"><ds:KeyInfo xmlns:ds=\"{DS}\"><ds:X509Data><ds:X509Certificate>\n{}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>",
            w.sp.cert_b64
        )
    };
    let sp = |body: &str, signed: &str| {
        format!(
            "<md:EntityDescriptor xmlns:md=\"{MD}\" entityID=\"{ENTITY}\">\n  <md:SPSSODescriptor AuthnRequestsSigned=\"{signed}\" protocolSupportEnumeration=\"{PROTOCOL}\">\n{body}\n  </md:SPSSODescriptor>\n</md:EntityDescriptor>"
        )
    };
    let post = acs(BINDING_POST, ACS, "0", " isDefault=\"true\"");
    let two = format!(
        "{}{}{}",
        acs(
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
            ACS,
            "0",
            ""
        ),
        acs(BINDING_POST, ACS2, "2", ""),
        acs(BINDING_POST, ACS, "1", " isDefault=\"true\"")
    );
    vec![
        sp(&post, "false"),
        sp(&two, "false"),
        sp(&format!("{}{}{post}", key("signing"), key("encryption")), "true"),
        format!(
            "<EntitiesDescriptor xmlns=\"{MD}\"><EntityDescriptor entityID=\"{ENTITY}\"><SPSSODescriptor protocolSupportEnumeration=\"{PROTOCOL}\"><NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat><AssertionConsumerService Binding=\"{BINDING_POST}\" Location=\"{ACS}\"/><SingleLogoutService Binding=\"{BINDING_REDIRECT}\" Location=\"{ACS2}\"/></SPSSODescriptor></EntityDescriptor></EntitiesDescriptor>"
        ),
    ]
}

fn logo_seeds() -> Vec<Vec<u8>> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[
        0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6,
    ]);
    vec![
        png,
        br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="blue"/></svg>"#.to_vec(),
        br##"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="32" height="32"><defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs><g style="fill:url(#g)"><path d="M0 0h32v32z"/><use xlink:href="#g"/><image href="data:image/png;base64,AAAA"/><text x="1">A &amp; B</text></g></svg>"##.to_vec(),
    ]
}

// ---------------------------------------------------------------------------------------
// The request check and the answer built from it.

fn message(xml: String, signature: Option<binding::DetachedSignature>) -> Message {
    Message {
        xml,
        relay_state: None,
        signature,
    }
}

/// `validate::check` against each app row, and for each verdict the Response sesame sends.
fn check_all(w: &World, msg: &Message, b: Binding) -> String {
    let mut out = Vec::new();
    for row in &w.rows {
        out.push(match validate::check(msg, b, row, SSO_URL, now()) {
            Ok(p) => {
                answer(w, row, &p);
                format!("ok signed={}", p.signed)
            }
            Err(Refusal::Page(m)) => label(&m),
            Err(Refusal::Status {
                pending,
                status,
                sub_status,
                message,
            }) => {
                refusal(w, &pending, status, sub_status, &message);
                format!("status {}", label(&message))
            }
        });
    }
    out.join("|")
}

/// The success Response for a checked request must be well-formed and answer that request.
fn answer(w: &World, row: &SsoRow, p: &Pending) {
    let attrs = vec![("email".to_string(), vec!["alice@example.com".to_string()])];
    let xml = response::success(
        &Grant {
            idp_entity_id: IDP_ENTITY,
            sp_entity_id: &row.sp_entity_id,
            acs_url: &p.acs_url,
            in_response_to: Some(&p.request_id),
            name_id: "alice@example.com",
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            session_index: "_session",
            authn_instant: now(),
            authn_context: sesame::saml::context::PASSWORD_PROTECTED,
            attributes: &attrs,
            sign_response: false,
            now: now(),
        },
        &w.idp,
    )
    .expect("sign the Response");
    let doc = roxmltree::Document::parse(&xml).expect("the Response is well-formed");
    let root = doc.root_element();
    assert_eq!(root.attribute("InResponseTo"), Some(p.request_id.as_str()));
    assert_eq!(root.attribute("Destination"), Some(p.acs_url.as_str()));
}

/// The error Response to a registered ACS must be well-formed and its signature verify.
fn refusal(w: &World, p: &Pending, status: &str, sub_status: Option<&str>, message: &str) {
    let xml = response::failure(
        &Failure {
            idp_entity_id: IDP_ENTITY,
            acs_url: &p.acs_url,
            in_response_to: Some(&p.request_id),
            status,
            sub_status,
            message,
        },
        now(),
        &w.idp,
    )
    .expect("sign the error Response");
    let doc = roxmltree::Document::parse(&xml).expect("the error Response is well-formed");
    assert_eq!(
        doc.root_element().attribute("InResponseTo"),
        Some(p.request_id.as_str())
    );
    assert_eq!(
        dsig::verify_enveloped(&doc, std::slice::from_ref(&w.idp.cert), false),
        Ok(()),
        "sesame's own error Response verifies"
    );
}

const PREFIX_LISTS: &[&[&str]] = &[
    &[],
    &["#default"],
    &["samlp", "saml", "ds"],
    &["xml", "xmlns", "", "#default", "x"],
];

/// Exclusive c14n of `apex` must be well-formed XML whose own canonical form is itself.
fn c14n_round_trip(apex: roxmltree::Node, exclude: Option<roxmltree::NodeId>, prefixes: &[&str]) {
    let once = c14n::canonicalize(apex, exclude, prefixes);
    let doc = match roxmltree::Document::parse(&once) {
        Ok(d) => d,
        Err(e) => panic!("canonical XML does not parse ({e}): {once}"),
    };
    let twice = c14n::canonicalize(doc.root_element(), None, prefixes);
    assert_eq!(once, twice, "canonical XML is not its own canonical form");
}

// ---------------------------------------------------------------------------------------
// SCIM answers and form bodies.

fn scim_seeds() -> Vec<Vec<u8>> {
    let user = json!({
        "schemas": [sesame::scim::mapping::USER_SCHEMA, sesame::scim::mapping::ENTERPRISE],
        "id": "2819c223", "userName": "alice", "externalId": "E1", "active": true,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+1 555", "type": "work"}], "title": "Engineer",
        sesame::scim::mapping::ENTERPRISE: {"manager": {"value": "m-1"}},
        "meta": {"resourceType": "User", "location": "https://t.example/Users/2819c223"}
    });
    let list = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 2, "startIndex": 1, "itemsPerPage": 2,
        "Resources": [user, {"id": "x", "userName": "bob", "emails": "bob@example.com"}]
    });
    let error = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": "409", "scimType": "uniqueness", "detail": "userName exists"
    });
    let config =
        json!({"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 200}});
    [
        ("200", "", list.to_string()),
        ("201", "", user.to_string()),
        ("409", "", error.to_string()),
        ("429", "3", error.to_string()),
        (
            "503",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "<html>busy</html>".into(),
        ),
        ("200", "", config.to_string()),
        ("204", "", String::new()),
        ("401", "", "{\"detail\":\"token\"}".into()),
    ]
    .into_iter()
    .map(|(s, r, b)| format!("{s}\n{r}\n{b}").into_bytes())
    .collect()
}

/// `status\nRetry-After\nbody`, read the way `scim::client::Client::send` reads an answer.
fn scim_run(input: &[u8]) -> String {
    use sesame::scim::client::{retry_after, Exchange};
    use sesame::scim::{engine, mapping};
    let mut parts = input.splitn(3, |&b| b == b'\n');
    let status = text(parts.next().unwrap_or_default())
        .trim()
        .parse::<u16>()
        .ok();
    let retry = retry_after(&text(parts.next().unwrap_or_default()));
    let body = parts.next().unwrap_or_default();
    let response = (!body.is_empty()).then(|| {
        serde_json::from_slice(body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]).into_owned())
        })
    });
    let ex = Exchange {
        method: "GET".into(),
        path: "/Users".into(),
        request: None,
        status,
        response,
        retry_after: retry,
        etag: None,
        error: None,
    };
    let verdict = ex.verdict();
    let _ = ex.detail();
    let _ = ex.to_json().to_string();
    let _ = engine::backoff_ms(i64::from(status.unwrap_or(0)) % 40, retry);
    let user = sesame::directory::User {
        id: 1,
        username: "alice".into(),
        email: "alice@example.com".into(),
        first_name: "Alice".into(),
        last_name: "Liddell".into(),
        title: String::new(),
        phone: String::new(),
        employee_id: "E1".into(),
        manager: None,
        department: String::new(),
        cost_center: String::new(),
        location: String::new(),
        active: true,
        is_admin: false,
        must_change_password: false,
        created_at: 0,
        updated_at: 0,
    };
    let desired = mapping::desired(&user, &[], Some("m-1"));
    let body = ex.response.clone().unwrap_or(Value::Null);
    let mut resources = vec![body.clone()];
    if let Some(list) = body.get("Resources").and_then(Value::as_array) {
        resources.extend(list.iter().cloned());
    }
    let mut ops = 0;
    for r in &resources {
        let remote = mapping::from_remote(r, &[]);
        ops += mapping::diff(&remote, &desired).len();
        let _ = mapping::create_body(&remote);
    }
    let kind = match &ex.response {
        None => "empty",
        Some(Value::Object(_)) => "object",
        Some(Value::String(_)) => "text",
        Some(_) => "other",
    };
    format!(
        "{} {kind} ops={}",
        label(&format!("{verdict:?}")),
        ops.min(20)
    )
}

#[rustfmt::skip]
const FORM_KINDS: &[&str] = &[
    "login", "password", "csrf", "login_query", "continue", "sso_patch", "scim_patch",
    "metadata_body", "app_fields", "new_app", "import", "events", "acs_url", "relay_state",
    "sp_certs", "attribute", "attributes_stored", "next", "names", "nameid",
];

fn form_seeds() -> Vec<Vec<u8>> {
    let form = "application/x-www-form-urlencoded";
    let js = "application/json";
    [
        ("login", form, "csrf=abc&username=alice&password=a-long-password&next=%2Fsaml2%2Fx%3Fa%3Db"),
        ("password", form, "csrf=abc&current=old&new=a+new+password&confirm=a+new+password"),
        ("csrf", form, "csrf=abc"),
        ("login_query", "", "next=%2Fapps&logged_out=1&reauth=1"),
        ("continue", "", "h=abcdef"),
        ("sso_patch", js, r#"{"sp_entity_id":"https://sp/meta","acs_urls":["https://sp/acs"],"nameid_format":"email","relay_state":"x","sign_response":true,"sp_certificate":"","attributes":["email=email","groups=groups"]}"#),
        ("scim_patch", js, r#"{"url":"https://t.example/scim/v2","token":"t","exclude":["title"],"deletion_threshold":10,"push_groups":false}"#),
        ("metadata_body", js, r#"{"xml":"<x/>"}"#),
        ("app_fields", "application/json; charset=utf-8", r##"{"label":"Jive","color":"#aa0000","enabled":true}"##),
        ("new_app", js, r#"{"slug":"jive","template":"jive","label":"Jive"}"#),
        ("import", js, r#"{"usernames":["alice","bob"],"all":false}"#),
        ("events", "", "app=jive&user=alice&outcome=ok&after=10&limit=5000"),
        ("acs_url", "", "https://sp.example/saml/acs?x=1"),
        ("relay_state", "", "https://sp.example/home"),
        ("sp_certs", "", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
        ("attribute", "", "firstName=first-name"),
        ("attributes_stored", "", r#"[["email","email"],["groups","groups"]]"#),
        ("next", "", "/saml2/x?a=b"),
        ("names", "", "alice.liddell@example.com"),
        ("nameid", "", "persistent"),
    ]
    .into_iter()
    .map(|(k, ct, b)| format!("{k}\n{ct}\n{b}").into_bytes())
    .collect()
}

/// `kind\ncontent-type\nbody`.
fn forms_run(input: &[u8]) -> String {
    use sesame::api::apps::{AppFields, MetadataBody, NewApp, SsoPatch};
    use sesame::api::scim::{ImportBody, ScimPatch};
    use sesame::api::{Body, EventQuery};
    use sesame::web::account::PasswordForm;
    use sesame::web::form::{safe_next, HtmlForm};
    use sesame::web::login::{LoginForm, LoginQuery};
    use sesame::web::portal::CsrfOnly;
    use sesame::web::sso::ContinueQuery;
    let mut parts = input.splitn(3, |&b| b == b'\n');
    let kind = text(parts.next().unwrap_or_default());
    let content_type = parts.next().unwrap_or_default().to_vec();
    let body = parts.next().unwrap_or_default().to_vec();
    let value = text(&body);
    let request = || {
        let mut r = axum::http::Request::builder().method("POST").uri("/x");
        if !content_type.is_empty() {
            r = r.header("content-type", content_type.clone());
        }
        r.body(axum::body::Body::from(body.clone()))
            .unwrap_or_else(|_| axum::http::Request::new(axum::body::Body::from(body.clone())))
    };
    let query = || {
        format!("/x?{value}")
            .parse::<axum::http::Uri>()
            .map_err(|e| e.to_string())
    };
    macro_rules! form {
        ($t:ty) => {
            block_on(HtmlForm::<$t>::from_request(request(), &())).is_ok()
        };
    }
    macro_rules! json_body {
        ($t:ty) => {
            block_on(Body::<$t>::from_request(request(), &())).map(|Body(b)| b)
        };
    }
    macro_rules! query {
        ($t:ty) => {
            query().and_then(|u| Query::<$t>::try_from_uri(&u).map_err(|e| e.to_string()))
        };
    }
    let ok = match kind.as_str() {
        "login" => form!(LoginForm),
        "password" => form!(PasswordForm),
        "csrf" => form!(CsrfOnly),
        "login_query" => query!(LoginQuery).is_ok(),
        "continue" => query!(ContinueQuery).is_ok(),
        "sso_patch" => json_body!(SsoPatch).is_ok(),
        "scim_patch" => json_body!(ScimPatch).is_ok_and(|p| p.changes().is_ok()),
        "metadata_body" => json_body!(MetadataBody).is_ok(),
        "app_fields" => json_body!(AppFields)
            .map(sesame::directory::apps::AppChanges::from)
            .is_ok(),
        "new_app" => json_body!(NewApp).is_ok(),
        "import" => json_body!(ImportBody).is_ok(),
        "events" => query!(EventQuery).map(|Query(q)| q.filter()).is_ok(),
        "acs_url" => settings::acs_url(&value).is_ok(),
        "relay_state" => settings::relay_state(&value).is_ok(),
        "sp_certs" => settings::sp_certs(&value).is_ok(),
        "attribute" => sesame::saml::attributes::parse_item(&value).is_ok(),
        "attributes_stored" => !sesame::saml::attributes::decode(&value).is_empty(),
        "next" => safe_next(Some(&value)).starts_with('/'),
        "names" => {
            use sesame::directory::names::{Color, Email, GroupName, Slug, Username};
            let all = [
                Username::parse(&value).is_ok(),
                Email::parse(&value).is_ok(),
                GroupName::parse(&value).is_ok(),
                Slug::parse(&value).is_ok(),
                Color::parse(&value).is_ok(),
                sesame::directory::catalog::template(&value).is_ok(),
                sesame::scim::mapping::optional(&value).is_ok(),
                sesame::scim::target::connector(&value).is_ok(),
            ];
            let _ = sesame::directory::catalog::search(&value);
            let _ = sesame::auth::csrf::matches(Some("token"), &value);
            all.iter().any(|b| *b)
        }
        "nameid" => {
            settings::NameIdFormat::parse(&value).is_ok()
                || settings::NameIdSource::parse(&value).is_ok()
        }
        _ => return "unknown kind".into(),
    };
    format!("{kind} {ok}")
}

/// Polls an extractor's future to its end on this thread: its body is already in memory, so
/// it never waits (were it to, the watchdog reports a hang).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Mutations.

#[rustfmt::skip]
const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xc0, 0xef, 0xff, b'<', b'>', b'&', b'"', b'\'', b'=', b'%', b'+', b'/',
    b':', b'#', b'\n', b'\r', b'\t', b' ', b'A', b'0',
];

#[rustfmt::skip]
const XML_TOKENS: &[&str] = &[
    "<!---->", "<!-- - -->", "<![CDATA[]]>", "<![CDATA[<x>]]>", "<?x?>", "<?x y?>", "&amp;",
    "&lt;", "&gt;", "&quot;", "&apos;", "&#60;", "&#x3C;", "&#xD;", "&#x85;", "&#x2028;", "&#0;",
    "&#x110000;", "&#xFFFE;", "&#65536;", "&undefined;", "&", "<", "]]>", "-->", "\r\n", "\r",
    "\u{feff}", "\u{85}", "\u{2028}", "\t", " ", "\0", "\u{1}", "<x/>", "</x>", "<x>",
    "<ds:Signature/>", "<saml:Issuer>x</saml:Issuer>", " xmlns=\"\"", " xml:space=\"preserve\"",
    " xml:lang=\"en\"", "=\"\"", "\"", "'", "xmlns:", "ds:", "samlp:", "saml:", "md:",
    "<!DOCTYPE x>", "<!ENTITY a \"b\">", "%x;", "\u{10ffff}", "é", "\u{d7ff}",
];

#[rustfmt::skip]
const XML_VALUES: &[&str] = &[
    "_r1", "#_r1", "_s1", "#_s1", "", " ", "#", "#xpointer(/)", "x y", PROTOCOL, ASSERTION, DS,
    MD, dsig::EXC_C14N, dsig::ENVELOPED, "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", RSA_SHA1, RSA_SHA256, RSA_SHA512,
    ECDSA_SHA256, "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1", SHA1, SHA256,
    "http://www.w3.org/2001/04/xmlenc#sha512", "http://www.w3.org/2001/04/xmldsig-more#sha384",
    ACS, ACS2, SSO_URL, ENTITY, BINDING_POST, BINDING_REDIRECT,
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact", "2.0", "1.1", "true", "false", "1", "0",
    "-1", "2026-01-01T00:00:00Z", "2026-01-01T00:00:10.999999999+14:00", "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z", "2026-02-30T25:61:61Z", "9223372036854775807", "99999999999999999999",
    "#default samlp saml ds", "xml", "signing", "encryption", "&lt;&amp;&quot;", "&#x0;",
    "&#xD;&#xA;&#x9;", "\u{0}", "data:image/png", "javascript:alert(1)", "java&#9;script:x",
    "url(http://x)",
];

#[rustfmt::skip]
const TAG_NAMES: &[&str] = &[
    "samlp:AuthnRequest", "AuthnRequest", "saml:Issuer", "ds:Signature", "ds:SignedInfo",
    "ds:Reference", "ds:DigestValue", "ds:SignatureValue", "ds:Transforms", "ds:Object",
    "samlp:Response", "samlp:Extensions", "samlp:NameIDPolicy", "md:EntityDescriptor",
    "md:SPSSODescriptor", "md:AssertionConsumerService", "md:KeyDescriptor", "x:y", "a", "svg",
    "script", "foreignObject", "set", "style", "ns0:AuthnRequest", "saml:Assertion",
];

#[rustfmt::skip]
const QUERY_TOKENS: &[&str] = &[
    "&", "=", "&&", "%", "%2", "%zz", "%00", "%0D%0A", "%25", "%26", "%3D", "+", "%2B", " ",
    "SAMLRequest=", "RelayState=", "SigAlg=", "Signature=", "SAMLEncoding=", "SAML%52equest=",
    "samlrequest=", "&SAMLRequest=", "&RelayState=", "&SigAlg=", "&Signature=", "==", "A===",
    "\n", "\r\n", "\t", "%C3%A9", "%FF", "%E2%80%A8", "/", "?", "#",
];

#[rustfmt::skip]
const JSON_TOKENS: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "\\udc00\\ud800", "null",
    "true", "false", "0", "-0", "1e309", "-1e309", "1.7976931348623157e308",
    "18446744073709551616", "-9223372036854775809", "9223372036854775807", "0.0000001", "\"\"",
    "[]", "{}", "\"value\"", "\"Resources\"", "\"totalResults\"", "\"id\"", "\"emails\"",
    "\"primary\"", "\"type\"", "\"name\"", "\"givenName\"", "\"userName\"", "\"detail\"",
    "\"scimType\"", "\"schemas\"", "\"manager\"", "\u{feff}", "/*", "NaN", "\n", "\r\n",
];

#[rustfmt::skip]
const FORM_TOKENS: &[&str] = &[
    "&", "=", "%", "%zz", "%00", "%0D%0A", "+", "[]", "csrf=", "next=", "username=", "//evil",
    "/\\evil", "https://evil.example", "\"", "{", "}", "[", "]", ":", ",", "null", "true",
    "\\u0000", "1e309", "-1", "9223372036854775808", "application/json", "text/plain",
    "application/x-www-form-urlencoded", ";", "charset=utf-16", "-----BEGIN CERTIFICATE-----",
    "-----END CERTIFICATE-----", "\n",
];

fn pos(rng: &mut StdRng, len: usize) -> usize {
    rng.gen_range(0..=len)
}

/// A slice of up to `max` bytes inside `len`, usually short.
fn span(rng: &mut StdRng, len: usize, max: usize) -> Range<usize> {
    let a = rng.gen_range(0..len.max(1));
    let n = if rng.gen_bool(0.9) {
        rng.gen_range(1..=16)
    } else {
        rng.gen_range(1..=max.max(1))
    };
    a.min(len)..(a + n).min(len)
}

/// Byte-level mutations: flips, interesting bytes, tokens, deletes, duplicates, repeats,
/// splices with another corpus entry, truncation, random bytes.
fn mutate_bytes(rng: &mut StdRng, mut d: Vec<u8>, corpus: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    for _ in 0..rng.gen_range(1..=4) {
        let len = d.len();
        match rng.gen_range(0..11) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                d[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                d[i] = *INTERESTING.choose(rng).unwrap();
            }
            2 | 3 => {
                let at = pos(rng, len);
                let tok = tokens.choose(rng).unwrap().as_bytes();
                d.splice(at..at, tok.iter().copied());
            }
            4 if len > 0 => {
                let r = span(rng, len, len);
                d.drain(r);
            }
            5 if len > 0 => {
                let r = span(rng, len, 4096);
                let seg = d[r].to_vec();
                let at = pos(rng, len);
                d.splice(at..at, seg);
            }
            6 if len > 0 => {
                let r = span(rng, len, 64);
                let seg = d[r.clone()].to_vec();
                let times = *[2usize, 3, 10, 100, 1000, 10_000].choose(rng).unwrap();
                let times = times.min(MAX_INPUT / seg.len().max(1) / 2);
                let rep = seg.repeat(times);
                d.splice(r.end..r.end, rep);
            }
            7 => {
                if let Some(other) = corpus.choose(rng) {
                    let a = pos(rng, len);
                    let b = pos(rng, other.len());
                    d.truncate(a);
                    d.extend_from_slice(&other[b..]);
                }
            }
            8 if len > 0 => d.truncate(rng.gen_range(0..len)),
            9 => {
                let at = pos(rng, len);
                let n = rng.gen_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                d.splice(at..at, bytes);
            }
            _ if len > 0 => {
                let r = span(rng, len, 8);
                let tok = tokens.choose(rng).unwrap().as_bytes();
                d.splice(r, tok.iter().copied());
            }
            _ => d.extend_from_slice(tokens.choose(rng).unwrap().as_bytes()),
        }
    }
    d
}

fn find(h: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    h.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Offsets of start tags (`<` then a name character).
fn start_tags(x: &[u8]) -> Vec<usize> {
    (0..x.len().saturating_sub(1))
        .filter(|&i| x[i] == b'<' && (x[i + 1].is_ascii_alphabetic() || x[i + 1] == b'_'))
        .collect()
}

/// Where markup may go: before a `<` or after a `>`.
fn boundaries(x: &[u8]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..x.len())
        .filter_map(|i| match x[i] {
            b'<' => Some(i),
            b'>' => Some(i + 1),
            _ => None,
        })
        .collect();
    if v.is_empty() {
        v.push(x.len());
    }
    v
}

/// The `>` ending the tag at `start`, past quoted values.
fn tag_end(x: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in x.iter().enumerate().skip(start + 1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// The end (exclusive) of the element whose start tag is at `start`.
fn element_end(x: &[u8], start: usize) -> Option<usize> {
    let end = tag_end(x, start)?;
    if x[end - 1] == b'/' {
        return Some(end + 1);
    }
    let (mut depth, mut i) = (1usize, end + 1);
    while let Some(lt) = find(x, b"<", i) {
        let skip = |open: &[u8], close: &[u8]| {
            x[lt..]
                .starts_with(open)
                .then(|| find(x, close, lt + open.len()).map(|e| e + close.len()))
        };
        if let Some(next) = skip(b"<!--", b"-->")
            .or_else(|| skip(b"<![CDATA[", b"]]>"))
            .or_else(|| skip(b"<?", b"?>"))
        {
            i = next?;
            continue;
        }
        let e = tag_end(x, lt)?;
        if x.get(lt + 1) == Some(&b'/') {
            depth -= 1;
            if depth == 0 {
                return Some(e + 1);
            }
        } else if x[e - 1] != b'/' {
            depth += 1;
        }
        i = e + 1;
    }
    None
}

/// The end of the tag name that starts at `start + 1`.
fn name_end(x: &[u8], start: usize) -> usize {
    x[start + 1..]
        .iter()
        .position(|c| c.is_ascii_whitespace() || *c == b'>' || *c == b'/')
        .map_or(x.len(), |p| start + 1 + p)
}

/// The text ranges of the elements whose local name is `local`.
fn content_ranges(x: &[u8], local: &[u8]) -> Vec<Range<usize>> {
    start_tags(x)
        .into_iter()
        .filter(|&s| {
            let name = &x[s + 1..name_end(x, s)];
            name == local || (name.ends_with(local) && name[name.len() - local.len() - 1] == b':')
        })
        .filter_map(|s| {
            let open = tag_end(x, s)? + 1;
            let close = find(x, b"</", open)?;
            Some(open..close)
        })
        .collect()
}

/// Ranges of attribute values (between the quotes) in start tags.
fn attribute_values(x: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for s in start_tags(x) {
        let Some(end) = tag_end(x, s) else { continue };
        let mut i = s;
        while let Some(eq) = find(&x[..end], b"=", i) {
            let q = eq + 1;
            match x.get(q) {
                Some(&c @ (b'"' | b'\'')) => match find(&x[..end], &[c], q + 1) {
                    Some(close) => {
                        out.push(q + 1..close);
                        i = close + 1;
                    }
                    None => break,
                },
                _ => i = q,
            }
        }
    }
    out
}

/// A position inside some element's text.
fn text_pos(rng: &mut StdRng, x: &[u8]) -> usize {
    let gts: Vec<usize> = (0..x.len()).filter(|&i| x[i] == b'>').collect();
    match gts.choose(rng) {
        Some(&g) => {
            let next = find(x, b"<", g + 1).unwrap_or(x.len());
            rng.gen_range(g + 1..=next.max(g + 1))
        }
        None => pos(rng, x.len()),
    }
}

fn b64_of_len(rng: &mut StdRng, n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
    STANDARD.encode(bytes)
}

/// One XML-aware mutation.
fn mutate_xml(rng: &mut StdRng, x: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let tags = start_tags(x);
    let tag = tags.choose(rng).copied();
    match rng.gen_range(0..22) {
        // Deep nesting, closed or not, around the cap or far past it.
        0 | 1 => {
            let n = *[2usize, 60, 61, 62, 63, 64, 65, 66, 100, 1000, 9000, 50_000]
                .choose(rng)
                .unwrap();
            let (open, close) = *[
                ("<e>", "</e>"),
                ("<samlp:Extensions>", "</samlp:Extensions>"),
                ("<a xmlns=\"urn:a\">", "</a>"),
                ("<x:y xmlns:x=\"urn:x\" x:a=\"1\">", "</x:y>"),
                ("<ds:Object>", "</ds:Object>"),
            ]
            .choose(rng)
            .unwrap();
            let n = n.min(600_000 / (open.len() + close.len()));
            let mut seg = open.repeat(n);
            if rng.gen_bool(0.3) {
                seg.push_str("<leaf/>");
            }
            if rng.gen_bool(0.8) {
                seg.push_str(&close.repeat(n));
            }
            let at = *boundaries(x).choose(rng).unwrap();
            x.splice(at..at, seg.into_bytes());
        }
        // Duplicate an element next to itself, or copy it elsewhere (wrapping).
        2 | 3 => {
            if let Some((s, e)) = tag.and_then(|s| Some((s, element_end(x, s)?))) {
                let seg = x[s..e].to_vec();
                let at = if rng.gen_bool(0.5) {
                    e
                } else {
                    *boundaries(x).choose(rng).unwrap()
                };
                x.splice(at..at, seg);
            }
        }
        // Move or remove an element.
        4 => {
            if let Some((s, e)) = tag.and_then(|s| Some((s, element_end(x, s)?))) {
                let seg: Vec<u8> = x.drain(s..e).collect();
                if rng.gen_bool(0.7) {
                    let at = *boundaries(x).choose(rng).unwrap();
                    x.splice(at..at, seg);
                }
            }
        }
        // Duplicate an attribute (same or another value).
        5 => {
            let vals = attribute_values(x);
            if let Some(v) = vals.choose(rng) {
                let name_start = x[..v.start - 2]
                    .iter()
                    .rposition(|c| c.is_ascii_whitespace())
                    .map_or(v.start - 2, |p| p + 1);
                let mut attr = x[name_start..v.end + 1].to_vec();
                if rng.gen_bool(0.5) {
                    let q = attr.len() - 1;
                    let eq = attr.iter().position(|&c| c == b'=').unwrap_or(0);
                    attr.splice(eq + 2..q, XML_VALUES.choose(rng).unwrap().bytes());
                }
                attr.insert(0, b' ');
                x.splice(v.end + 1..v.end + 1, attr);
            }
        }
        // A namespace declaration, new or redeclaring.
        6 | 7 => {
            if let Some(s) = tag {
                let prefix = [
                    "", "samlp", "saml", "ds", "md", "ec", "xml", "xmlns", "xsi", "a",
                ]
                .choose(rng)
                .unwrap();
                let uri = [
                    PROTOCOL,
                    ASSERTION,
                    DS,
                    MD,
                    dsig::EXC_C14N,
                    "",
                    "urn:x",
                    "http://www.w3.org/XML/1998/namespace",
                    "http://www.w3.org/2000/xmlns/",
                ]
                .choose(rng)
                .unwrap();
                let decl = if prefix.is_empty() {
                    format!(" xmlns=\"{uri}\"")
                } else {
                    format!(" xmlns:{prefix}=\"{uri}\"")
                };
                let at = name_end(x, s);
                x.splice(at..at, decl.into_bytes());
            }
        }
        // Entities, character references, comments, CDATA, PIs inside text.
        8 | 9 => {
            let at = text_pos(rng, x);
            let tok = XML_TOKENS.choose(rng).unwrap();
            x.splice(at..at, tok.bytes());
        }
        // A huge attribute value.
        10 => {
            if let Some(s) = tag {
                let n = *[1000usize, 65_536, 140_000].choose(rng).unwrap();
                let attr = format!(" huge=\"{}\"", "A".repeat(n));
                let at = name_end(x, s);
                x.splice(at..at, attr.into_bytes());
            }
        }
        // Base64 values of the wrong length, or not base64 at all.
        11 | 12 => {
            let local: &[u8] = [&b"DigestValue"[..], b"SignatureValue", b"X509Certificate"]
                .choose(rng)
                .unwrap();
            if let Some(r) = content_ranges(x, local).choose(rng) {
                let v = if rng.gen_bool(0.6) {
                    let n = *[
                        0usize, 1, 16, 19, 20, 21, 31, 32, 33, 48, 63, 64, 65, 128, 255, 256, 257,
                        512,
                    ]
                    .choose(rng)
                    .unwrap();
                    b64_of_len(rng, n)
                } else {
                    let orig = String::from_utf8_lossy(&x[r.clone()]).into_owned();
                    let junk = [
                        "====", "!", "=", " ", "\n", "<!---->", "&#x41;", "-", "_", "\u{e9}",
                    ];
                    let at = pos(rng, orig.len());
                    let at = (0..=at)
                        .rev()
                        .find(|&i| orig.is_char_boundary(i))
                        .unwrap_or(0);
                    format!(
                        "{}{}{}",
                        &orig[..at],
                        junk.choose(rng).unwrap(),
                        &orig[at..]
                    )
                };
                x.splice(r.clone(), v.into_bytes());
            }
        }
        // A DOCTYPE, in some spelling, or an XML declaration.
        13 => {
            let decl = [
                "<!DOCTYPE r>",
                "<!doctype r [<!ENTITY a \"b\">]>",
                "<!DocType r SYSTEM \"file:///etc/passwd\">",
                "<!DOCTYP r>",
                "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
                "<?xml version=\"1.1\"?>",
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" standalone=\"yes\"?>",
                "<?xml?>",
                "\u{feff}",
                " \n",
            ]
            .choose(rng)
            .unwrap();
            let at = if rng.gen_bool(0.5) {
                0
            } else {
                tags.first().copied().unwrap_or(0)
            };
            x.splice(at..at, decl.bytes());
        }
        // Another attribute value.
        14 | 15 => {
            let vals = attribute_values(x);
            if let Some(v) = vals.choose(rng) {
                x.splice(v.clone(), XML_VALUES.choose(rng).unwrap().bytes());
            }
        }
        // Rename a start tag (its end tag keeps the old name half the time).
        16 => {
            if let Some(s) = tag {
                let e = name_end(x, s);
                x.splice(s + 1..e, TAG_NAMES.choose(rng).unwrap().bytes());
            }
        }
        // Truncate at a boundary.
        17 => {
            let at = *boundaries(x).choose(rng).unwrap();
            x.truncate(at);
        }
        // Swap two elements.
        18 => {
            let a = tag.and_then(|s| Some((s, element_end(x, s)?)));
            let b = tags
                .choose(rng)
                .and_then(|&s| Some((s, element_end(x, s)?)));
            if let (Some((a0, a1)), Some((b0, b1))) = (a, b) {
                let ((p0, p1), (q0, q1)) = if a0 < b0 {
                    ((a0, a1), (b0, b1))
                } else {
                    ((b0, b1), (a0, a1))
                };
                if p1 <= q0 {
                    let first = x[p0..p1].to_vec();
                    let second = x[q0..q1].to_vec();
                    x.splice(q0..q1, first);
                    x.splice(p0..p1, second);
                }
            }
        }
        // Graft an element from another corpus entry.
        19 => {
            if let Some(other) = corpus.choose(rng) {
                let other_tags = start_tags(other);
                if let Some((s, e)) = other_tags
                    .choose(rng)
                    .and_then(|&s| Some((s, element_end(other, s)?)))
                {
                    let at = *boundaries(x).choose(rng).unwrap();
                    x.splice(at..at, other[s..e].iter().copied());
                }
            }
        }
        // A comment or CDATA section splitting a value's text.
        20 => {
            let vals: Vec<_> = [
                &b"Issuer"[..],
                b"DigestValue",
                b"X509Certificate",
                b"NameID",
            ]
            .iter()
            .flat_map(|l| content_ranges(x, l))
            .collect();
            if let Some(r) = vals.choose(rng) {
                let at = rng.gen_range(r.start..=r.end);
                let tok = ["<!---->", "<![CDATA[x]]>", "<?p?>", "&#x41;", "<x/>"]
                    .choose(rng)
                    .unwrap();
                x.splice(at..at, tok.bytes());
            }
        }
        _ => *x = mutate_bytes(rng, std::mem::take(x), corpus, XML_TOKENS),
    }
}

fn mutate_xml_input(_: &World, rng: &mut StdRng, base: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut x = base.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        mutate_xml(rng, &mut x, corpus);
    }
    x
}

/// A mutated request XML, from the seeds or the corpus of an XML target.
fn request_xml(w: &World, rng: &mut StdRng) -> Vec<u8> {
    let seeds: Vec<Vec<u8>> = w.requests.iter().map(|r| r.clone().into_bytes()).collect();
    let mut x = seeds.choose(rng).unwrap().clone();
    for _ in 0..rng.gen_range(0..=3) {
        mutate_xml(rng, &mut x, &seeds);
    }
    if rng.gen_bool(0.03) {
        // Around the inflated-size cap.
        let n = *[
            binding::MAX_XML - x.len().min(binding::MAX_XML),
            binding::MAX_XML + 1,
            1 << 20,
        ]
        .choose(rng)
        .unwrap();
        x.extend(std::iter::repeat_n(b' ', n));
    }
    x
}

/// base64 as senders really write it: padded or not, URL-safe, wrapped, with spaces for `+`,
/// cut short, or with a stray character.
fn base64_variant(rng: &mut StdRng, data: &[u8]) -> String {
    let mut s = match rng.gen_range(0..10) {
        0 => STANDARD_NO_PAD.encode(data),
        1 => URL_SAFE.encode(data),
        2 => STANDARD
            .encode(data)
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n"),
        3 => STANDARD.encode(data).replace('+', " "),
        _ => STANDARD.encode(data),
    };
    if rng.gen_bool(0.1) && !s.is_empty() {
        let at = rng.gen_range(0..s.len());
        s.insert(
            at,
            *['!', '=', '-', '_', '.', '\t', '\u{e9}']
                .choose(rng)
                .unwrap(),
        );
    }
    if rng.gen_bool(0.05) {
        let n = rng.gen_range(0..=s.len());
        let n = (0..=n).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(n);
    }
    s
}

/// URL encoding as senders write it: form encoding, none, everything, or broken escapes.
fn url_variant(rng: &mut StdRng, s: &str) -> String {
    match rng.gen_range(0..10) {
        0 => s.to_string(),
        1 => s.bytes().map(|b| format!("%{b:02X}")).collect(),
        2 => enc(&enc(s)),
        3 => {
            let mut e = enc(s);
            let at = pos(rng, e.len());
            e.insert_str(at, ["%", "%2", "%zz", "%00", "&", "="].choose(rng).unwrap());
            e
        }
        _ => enc(s),
    }
}

fn relay_variant(rng: &mut StdRng) -> Option<String> {
    let r = match rng.gen_range(0..12) {
        0..=4 => return None,
        5 => "https://sp.example/home?a=b&c=d".to_string(),
        6 => "x".repeat(81),
        7 => "x".repeat(1024),
        8 => "x".repeat(1025),
        9 => "a\r\nSet-Cookie: x=y".to_string(),
        10 => "a\0b\u{2028}<script>\"'".to_string(),
        _ => String::new(),
    };
    Some(url_variant(rng, &r))
}

/// An HTTP-Redirect query built layer by layer, each layer possibly broken: the XML, its
/// DEFLATE stream, the base64, the URL encoding, the parameters and the detached signature.
fn redirect_query(w: &World, rng: &mut StdRng) -> Vec<u8> {
    let xml = request_xml(w, rng);
    let mut z = match rng.gen_range(0..20) {
        0 => {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(&xml).unwrap();
            e.finish().unwrap()
        }
        1 => {
            let mut e = GzEncoder::new(Vec::new(), Compression::default());
            e.write_all(&xml).unwrap();
            e.finish().unwrap()
        }
        2 => deflate(&xml, 0),
        3 => xml.clone(),
        _ => deflate(&xml, rng.gen_range(1..=9)),
    };
    match rng.gen_range(0..12) {
        0 if !z.is_empty() => z.truncate(rng.gen_range(0..z.len())),
        1 if !z.is_empty() => {
            let i = rng.gen_range(0..z.len());
            z[i] ^= 1 << rng.gen_range(0..8);
        }
        2 => z.extend((0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>())),
        3 if !z.is_empty() => z[0] |= 0x06,
        _ => {}
    }
    let b64 = base64_variant(rng, &z);
    let request = url_variant(rng, &b64);
    let mut q = format!("SAMLRequest={request}");
    if let Some(r) = relay_variant(rng) {
        q.push_str(&format!("&RelayState={r}"));
    }
    if rng.gen_bool(0.4) {
        let alg = *[
            RSA_SHA256,
            RSA_SHA256,
            RSA_SHA1,
            RSA_SHA512,
            ECDSA_SHA256,
            "urn:none",
        ]
        .choose(rng)
        .unwrap();
        q = sign_query(w, &q, alg);
        if rng.gen_bool(0.2) {
            // Tamper after signing: a signed octet changed, or the value re-encoded.
            q = text(&mutate_bytes(rng, q.into_bytes(), &[], QUERY_TOKENS));
        }
    }
    let mut pairs: Vec<String> = q.split('&').map(str::to_string).collect();
    match rng.gen_range(0..12) {
        0 => pairs.push("SAMLEncoding=urn%3Aoasis%3Anames%3Atc%3ASAML%3A2.0%3Abindings%3AURL-Encoding%3ADEFLATE".into()),
        1 => pairs.push("SAMLEncoding=gzip".into()),
        2 => {
            let dup = pairs.choose(rng).unwrap().clone();
            pairs.push(dup);
        }
        3 => pairs.shuffle(rng),
        4 => pairs.insert(0, ["", "=", "x", "x=1", "&", "SAMLRequest"].choose(rng).unwrap().to_string()),
        _ => {}
    }
    pairs.join("&").into_bytes()
}

/// An HTTP-POST form body: base64 of the XML (no DEFLATE), URL-encoded, with a RelayState.
fn post_body(w: &World, rng: &mut StdRng) -> Vec<u8> {
    let xml = request_xml(w, rng);
    let b64 = base64_variant(rng, &xml);
    let request = url_variant(rng, &b64);
    let mut pairs = vec![format!("SAMLRequest={request}")];
    if let Some(r) = relay_variant(rng) {
        pairs.push(format!("RelayState={r}"));
    }
    match rng.gen_range(0..8) {
        0 => pairs.push(format!("SAMLRequest={request}")),
        1 => pairs.push("SigAlg=x&Signature=AAAA".into()),
        2 => pairs.shuffle(rng),
        _ => {}
    }
    pairs.join("&").into_bytes()
}

/// JSON-aware mutations of the body after the header lines: a value replaced by another
/// type, duplicated keys, deep nesting, huge numbers and strings.
fn mutate_json_input(rng: &mut StdRng, base: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let cut = base
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(1)
        .map_or(0, |(i, _)| i + 1);
    let (head, body) = base.split_at(cut);
    let mut body = body.to_vec();
    match rng.gen_range(0..6) {
        0 | 1 => {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                replace_random(rng, &mut v, 0);
                body = serde_json::to_vec(&v).unwrap_or_default();
            } else {
                body = mutate_bytes(rng, body, corpus, JSON_TOKENS);
            }
        }
        2 => {
            let n = *[10usize, 127, 128, 129, 1000, 100_000].choose(rng).unwrap();
            let (o, c) = *[("[", "]"), ("{\"a\":", "}"), ("{\"Resources\":[", "]}")]
                .choose(rng)
                .unwrap();
            let mut nested = o.repeat(n).into_bytes();
            nested.extend_from_slice(&body);
            if rng.gen_bool(0.8) {
                nested.extend_from_slice(c.repeat(n).as_bytes());
            }
            body = nested;
        }
        3 => {
            if let Some(i) = body.iter().position(|&b| b == b'{') {
                let key = [
                    "userName",
                    "id",
                    "emails",
                    "Resources",
                    "detail",
                    "totalResults",
                    "csrf",
                    "slug",
                ]
                .choose(rng)
                .unwrap();
                let dup = format!("\"{key}\":{},", random_value(rng, 0));
                body.splice(i + 1..i + 1, dup.into_bytes());
            }
        }
        _ => body = mutate_bytes(rng, body, corpus, JSON_TOKENS),
    }
    let mut out = head.to_vec();
    if rng.gen_bool(0.05) {
        // Another status line, Retry-After, kind or content type.
        out = mutate_bytes(rng, out, corpus, FORM_TOKENS);
    }
    if rng.gen_bool(0.03) {
        let kind = FORM_KINDS.choose(rng).unwrap();
        out = format!(
            "{kind}\n{}\n",
            ["application/json", "application/x-www-form-urlencoded", ""]
                .choose(rng)
                .unwrap()
        )
        .into_bytes();
    }
    out.extend_from_slice(&body);
    out
}

fn random_value(rng: &mut StdRng, depth: usize) -> Value {
    match rng.gen_range(0..12) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(*[0i64, -1, i64::MAX, i64::MIN, 255, 65_536]
            .choose(rng)
            .unwrap()),
        3 => json!(*[0.5f64, -0.0, 1e300, f64::MAX, 1e-300].choose(rng).unwrap()),
        4 => json!(u64::MAX),
        5 => json!("x".repeat(*[0usize, 1, 300, 70_000].choose(rng).unwrap())),
        6 => json!(*[
            "\u{0}",
            "\u{2028}",
            "\u{feff}",
            "é",
            "\u{10ffff}",
            "a\"b\\c",
            "urn:ietf:params:scim:schemas:core:2.0:User"
        ]
        .choose(rng)
        .unwrap()),
        7 if depth < 4 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        8 if depth < 4 => {
            let keys = [
                "value",
                "type",
                "primary",
                "id",
                "userName",
                "givenName",
                "manager",
                "Resources",
                "detail",
            ];
            Value::Object(
                (0..rng.gen_range(0..4))
                    .map(|_| {
                        (
                            keys.choose(rng).unwrap().to_string(),
                            random_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
        _ => json!("alice"),
    }
}

/// Replaces one node of `v`, found by a random walk from the root.
fn replace_random(rng: &mut StdRng, v: &mut Value, depth: usize) {
    if depth < 8 && !rng.gen_bool(0.3) {
        match v {
            Value::Array(items) if !items.is_empty() => {
                let i = rng.gen_range(0..items.len());
                return replace_random(rng, &mut items[i], depth + 1);
            }
            Value::Object(map) if !map.is_empty() => {
                let i = rng.gen_range(0..map.len());
                if let Some(child) = map.values_mut().nth(i) {
                    return replace_random(rng, child, depth + 1);
                }
            }
            _ => {}
        }
    }
    *v = random_value(rng, 0);
}
