//! What sesame tells its operators: Prometheus metrics (issue 15). Counters and histograms
//! are kept by the `metrics` facade and its Prometheus recorder; the gauges that describe
//! the database (queue depth, target states, open sessions) and the process are read when
//! `/metrics` is scraped (`gauges`), never on the hot path.
//!
//! The recorder is global by nature (the facade's macros find it), installed once per
//! process by a server that serves `/metrics`; until then every count below is a no-op, so
//! the CLI and a server without metrics pay nothing. Label values are bounded: app slugs
//! as stored, fixed words, HTTP status codes and route templates; never usernames,
//! addresses or anything a request chose.
//!
//! - `exposition.rs`: the text format for the scrape-time gauges.
//! - `gauges.rs`: those gauges (database, keys, process).

mod exposition;
pub mod gauges;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use exposition::Exposition;

/// Bucket bounds for the latencies, in seconds: from a cached read to a slow SCIM target.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Records per group commit (at most `store::group::MAX_BATCH`).
const RECORDS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The names, in one place so the README's list and the tests agree with the code.
pub mod name {
    pub const HTTP_REQUESTS: &str = "sesame_http_requests_total";
    pub const HTTP_DURATION: &str = "sesame_http_request_duration_seconds";
    pub const SSO_ANSWERS: &str = "sesame_sso_answers_total";
    pub const SSO_DECISIONS: &str = "sesame_sso_decisions_total";
    pub const SSO_DURATION: &str = "sesame_sso_answer_duration_seconds";
    pub const LOGINS: &str = "sesame_logins_total";
    pub const LOCKOUTS: &str = "sesame_lockouts_total";
    pub const SCIM_REQUESTS: &str = "sesame_scim_requests_total";
    pub const SCIM_DURATION: &str = "sesame_scim_request_duration_seconds";
    pub const DB_WAIT: &str = "sesame_db_wait_seconds";
    pub const DB_BUSY: &str = "sesame_db_busy_total";
    pub const GROUP_COMMIT: &str = "sesame_db_group_commit_seconds";
    pub const GROUP_RECORDS: &str = "sesame_db_group_commit_records";
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
#[error("cannot install the metrics recorder: {0}")]
pub struct InstallError(String);

/// Installs the recorder (once per process; later calls return the same handle).
pub fn install() -> Result<PrometheusHandle, InstallError> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let built = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(name::GROUP_RECORDS.into()), &RECORDS))
        .map_err(|e| InstallError(e.to_string()))?;
    // Two servers started at once in one process (the tests): the first one wins.
    let handle = HANDLE.get_or_init(|| {
        let recorder = built.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %e, "another metrics recorder is installed; /metrics will be empty");
        }
        upkeep(handle.clone());
        handle
    });
    describe();
    gauges::mark_start();
    Ok(handle.clone())
}

/// The installed recorder's handle, if a server installed one.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

/// Drains histogram samples into their buckets every few seconds, so that they do not pile
/// up between scrapes (the exporter's own listener would do this; sesame serves `/metrics`
/// itself). A thread, not a task: the recorder lives as long as the process, whatever
/// runtime installed it.
fn upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread: histograms are drained at scrapes only");
    }
}

fn describe() {
    use name::*;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        "Time to answer an HTTP request, by route template"
    );
    describe_counter!(SSO_ANSWERS, "SSO outcomes recorded as sso_auth events, by app: success (an assertion) or failure (a refusal or a SAML error status)");
    describe_counter!(
        SSO_DECISIONS,
        "Requests to an app's SSO endpoints, by app and what sesame did"
    );
    describe_histogram!(SSO_DURATION, "Time to handle a request to an app's SSO endpoints that ended in a Response to the SP, by app");
    describe_counter!(LOGINS, "Password sign-ins, by outcome");
    describe_counter!(
        LOCKOUTS,
        "Accounts or addresses locked by the login throttle, by the step that locked"
    );
    describe_counter!(SCIM_REQUESTS, "Requests sent to SCIM targets, by target (app slug), method and status (error: no HTTP answer)");
    describe_histogram!(
        SCIM_DURATION,
        "Time a SCIM target took to answer, by target and method"
    );
    describe_histogram!(
        DB_WAIT,
        "Time spent waiting for a database connection (reader) or the writer and its lock"
    );
    describe_counter!(
        DB_BUSY,
        "Database waits that gave up (answered 503), by pool"
    );
    describe_histogram!(GROUP_COMMIT, "Time to write and commit one group commit");
    describe_histogram!(GROUP_RECORDS, "Records written by one group commit");
    // Fixed label sets start at zero, so that rates work from the first scrape.
    for outcome in LoginOutcome::ALL {
        counter!(LOGINS, "outcome" => outcome.as_str()).increment(0);
    }
    for step in LockStep::ALL {
        counter!(LOCKOUTS, "step" => step.as_str()).increment(0);
    }
    for pool in [Pool::Reader, Pool::Writer] {
        counter!(DB_BUSY, "pool" => pool.as_str()).increment(0);
    }
}

/// How a password sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in.
    Success,
    /// The password was right; a second factor follows.
    SecondFactor,
    /// Wrong username or password, or a suspended account.
    Refused,
    /// The account or the address is locked.
    Locked,
}

impl LoginOutcome {
    pub const ALL: [LoginOutcome; 4] = [
        LoginOutcome::Success,
        LoginOutcome::SecondFactor,
        LoginOutcome::Refused,
        LoginOutcome::Locked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::SecondFactor => "second_factor",
            LoginOutcome::Refused => "refused",
            LoginOutcome::Locked => "locked",
        }
    }
}

/// Which step of sign-in locked a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStep {
    Password,
    SecondFactor,
}

impl LockStep {
    pub const ALL: [LockStep; 2] = [LockStep::Password, LockStep::SecondFactor];

    pub fn as_str(self) -> &'static str {
        match self {
            LockStep::Password => "password",
            LockStep::SecondFactor => "second_factor",
        }
    }
}

pub fn login(outcome: LoginOutcome) {
    counter!(name::LOGINS, "outcome" => outcome.as_str()).increment(1);
}

pub fn lockout(step: LockStep) {
    counter!(name::LOCKOUTS, "step" => step.as_str()).increment(1);
}

/// An `sso_auth` event was recorded for `app` (a slug read from the database).
pub fn sso_answer(app: &str, success: bool) {
    let outcome = if success { "success" } else { "failure" };
    counter!(name::SSO_ANSWERS, "app" => app.to_string(), "outcome" => outcome).increment(1);
}

/// An SSO endpoint of `app` decided (`decision`: one of the flow's fixed words) after
/// `took`; `answered` when a Response went to the SP.
pub fn sso_decision(app: &str, decision: &'static str, answered: bool, took: Duration) {
    counter!(name::SSO_DECISIONS, "app" => app.to_string(), "decision" => decision).increment(1);
    if answered {
        histogram!(name::SSO_DURATION, "app" => app.to_string()).record(took);
    }
}

/// One request to a SCIM target: `status` None when no HTTP answer came.
pub fn scim_request(target: &str, method: &str, status: Option<u16>, took: Duration) {
    let status = status.map_or_else(|| "error".to_string(), |s| s.to_string());
    let method = known_method(method);
    counter!(name::SCIM_REQUESTS, "target" => target.to_string(), "method" => method, "status" => status)
        .increment(1);
    histogram!(name::SCIM_DURATION, "target" => target.to_string(), "method" => method)
        .record(took);
}

/// An HTTP request answered: `route` is the matched route template (bounded), or None.
pub fn http_request(route: Option<&str>, method: &str, status: u16, took: Duration) {
    let route = route.unwrap_or("unmatched").to_string();
    counter!(name::HTTP_REQUESTS, "route" => route.clone(), "method" => known_method(method),
        "status" => status.to_string())
    .increment(1);
    histogram!(name::HTTP_DURATION, "route" => route).record(took);
}

/// The methods sesame's routes know; any other word a client sends is `other`.
fn known_method(m: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN.into_iter().find(|k| *k == m).unwrap_or("other")
}

/// Which side of the database a wait was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Reader,
    Writer,
}

impl Pool {
    fn as_str(self) -> &'static str {
        match self {
            Pool::Reader => "reader",
            Pool::Writer => "writer",
        }
    }
}

/// A wait for the database: how long, and whether it ended in "busy".
pub fn db_wait(pool: Pool, took: Duration, busy: bool) {
    histogram!(name::DB_WAIT, "pool" => pool.as_str()).record(took);
    if busy {
        counter!(name::DB_BUSY, "pool" => pool.as_str()).increment(1);
    }
}

/// One group commit of `records` records.
pub fn group_commit(records: usize, took: Duration) {
    histogram!(name::GROUP_COMMIT).record(took);
    histogram!(name::GROUP_RECORDS).record(records as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_a_closed_set() {
        assert_eq!(known_method("PATCH"), "PATCH");
        assert_eq!(known_method("BREW"), "other");
        assert_eq!(known_method("get"), "other");
    }
}
