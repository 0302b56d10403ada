//! `/metrics` (Prometheus text format): on the main listener only with `metrics_token`,
//! as a bearer token; on `metrics_listen`, a listener of its own beside the probes, with
//! the token too when one is set. Also the middleware that counts every HTTP answer by
//! route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use subtle::ConstantTimeEq;

use super::health;
use crate::app::AppState;
use crate::telemetry;

/// The content type of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `/metrics` for the main router: present only when `metrics_token` is set.
pub fn public(state: AppState) -> Router {
    if state.config.metrics_token.is_empty() {
        return Router::new();
    }
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// The router of `metrics_listen`: `/metrics` and the probes, nothing else.
pub fn private(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(middleware::from_fn(count))
        .with_state(state)
}

/// The recorder's counters and histograms, then the gauges read now.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&state.config.metrics_token, &headers) {
        let mut res = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sesame metrics\""),
        );
        return res;
    }
    // Upkeep first: the histograms' latest samples are drained into their buckets by it.
    let mut body = telemetry::handle()
        .map(|h| {
            h.run_upkeep();
            h.render()
        })
        .unwrap_or_default();
    body.push_str(&telemetry::gauges::render(&state.db, &state.keys).await);
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

/// No token configured: open (the listener is private). Otherwise `Bearer <token>`,
/// compared in constant time.
fn authorized(token: &crate::scim::secret::Secret, headers: &HeaderMap) -> bool {
    if token.is_empty() {
        return true;
    }
    // RFC 6750 §2.1; the scheme's name is case-insensitive (RFC 9110 §11.1).
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, t)| t.trim());
    bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))
}

/// Counts each answer by the route it matched (a template such as `/saml2/{slug}`, so the
/// labels stay bounded), its method and status, with its duration.
pub async fn count(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let method = req.method().clone();
    let res = next.run(req).await;
    telemetry::http_request(
        route.as_deref(),
        method.as_str(),
        res.status().as_u16(),
        start.elapsed(),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::secret::Secret;

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn the_token_is_a_bearer_token() {
        let token = Secret::new("0123456789abcdef-metrics");
        assert!(authorized(&token, &with("Bearer 0123456789abcdef-metrics")));
        assert!(authorized(&token, &with("bearer 0123456789abcdef-metrics")));
        assert!(!authorized(&token, &with("Bearer 0123456789abcdef-metric")));
        assert!(!authorized(&token, &with("Basic 0123456789abcdef-metrics")));
        assert!(!authorized(&token, &HeaderMap::new()));
        assert!(authorized(&Secret::default(), &HeaderMap::new()));
    }
}
