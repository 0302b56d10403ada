//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: this server can do
//! its work: the database answers and its group-commit writer runs, every migration this
//! binary carries is applied, and the signing key is loaded and matches its certificate).
//! Kept apart on purpose: a busy database makes a replica not ready (taken out of the load
//! balancer), never dead (restarted). Both answer in plain text, one line per failed check.

use axum::extract::State;
use axum::http::StatusCode;

use crate::app::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let mut failed = Vec::new();
    match state.db.ping().await {
        Ok(()) => match state.db.migrations_pending().await {
            Ok(pending) if pending.is_empty() => {}
            Ok(pending) => {
                tracing::warn!(?pending, "database migrations not applied");
                failed.push("database migrations not current");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the applied migrations");
                failed.push("database unavailable");
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            failed.push("database unavailable");
        }
    }
    if !keys_loaded(&state) {
        failed.push("signing keys not loaded");
    }
    if failed.is_empty() {
        return (StatusCode::OK, "ready\n".into());
    }
    let body: String = failed.iter().map(|f| format!("{f}\n")).collect();
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

/// The shared signing key is in memory and is the key of its certificate (a pair that
/// does not match would sign assertions no SP can verify).
fn keys_loaded(state: &AppState) -> bool {
    let set = state.keys.get();
    let active = &set.active;
    let matches = active
        .cert
        .public_key()
        .is_ok_and(|public| public.public_eq(&active.key));
    if !matches {
        tracing::warn!(fingerprint = %active.fingerprint, "the signing key does not match its certificate");
    }
    matches
}
