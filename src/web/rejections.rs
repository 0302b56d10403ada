//! Answers for requests that never reach a handler's own error handling: a body over the size
//! limit, and every rejection axum's extractors answer in plain text (a path segment that is
//! not UTF-8, a query that does not parse, a wrong content type...). Each becomes what the rest
//! of sesame answers: an HTML page a person can act on, or a JSON error under `/api/`. Doing it
//! here, once, covers every extractor and every route, including the ones added later.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;

use crate::app::BODY_LIMIT;
use crate::web::pages::{self, MessagePage};

/// A declared body over the limit is read and thrown away up to this size before the 413 is
/// sent, so that the client, still sending, reads the answer instead of a reset connection
/// (what a web server's "lingering close" does). A larger one is cut off at once.
const DRAIN_LIMIT: u64 = 32 << 20;
/// And for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Refuses a request whose declared body is over [`BODY_LIMIT`] before any handler or session
/// work, with a readable 413. (A chunked body with no length is stopped by the extractors'
/// limit, and its plain-text 413 is rewritten by [`readable_errors`].)
pub async fn too_large(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(length) = declared.filter(|&n| n > BODY_LIMIT as u64) else {
        return next.run(req).await;
    };
    let api = wants_json(req.uri().path());
    let scim = req.uri().path().starts_with("/scim/");
    let message = format!(
        "The request is too large ({} KiB): sesame accepts at most {} KiB.",
        length.div_ceil(1024),
        BODY_LIMIT / 1024
    );
    let mut res = if scim {
        let e = crate::inbound::ScimError::new(413, None, message);
        crate::web::scim_server::Refusal(e).into_response()
    } else {
        answer(StatusCode::PAYLOAD_TOO_LARGE, message, api)
    };
    if length <= DRAIN_LIMIT {
        let drained = tokio::time::timeout(DRAIN_TIME, drain(req.into_body())).await;
        if drained.is_ok() {
            return res;
        }
    }
    // Not read to the end: the connection cannot be reused.
    res.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    res
}

async fn drain(mut body: Body) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// Rewrites an error answered in plain text (axum's extractor rejections) as sesame's own
/// page or JSON error, keeping the status and the reason.
pub async fn readable_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let api = wants_json(path);
    // The probes answer in plain text on purpose (load balancers read them), and so does
    // `/metrics` (Prometheus does).
    let probe = matches!(path, "/healthz" | "/readyz" | "/metrics");
    let res = next.run(req).await;
    let status = res.status();
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if probe || !plain || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let reason = match axum::body::to_bytes(res.into_body(), 4096).await {
        Ok(b) if status.is_client_error() && !b.is_empty() => {
            String::from_utf8_lossy(&b).trim().to_string()
        }
        _ => default_reason(status),
    };
    answer(status, reason, api)
}

/// The paths that answer JSON: the admin API, and the passkey ceremonies `passkey.js` calls.
fn wants_json(path: &str) -> bool {
    path.starts_with("/api/")
        || matches!(
            path,
            "/login/passkey/begin"
                | "/login/passkey/finish"
                | "/account/passkeys/begin"
                | "/account/passkeys/finish"
        )
}

fn default_reason(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(r) if status.is_client_error() => format!("The request was refused: {r}."),
        _ => "sesame could not complete this request.".to_string(),
    }
}

/// The answer for `status` with `reason`: JSON under `/api/`, a page elsewhere.
fn answer(status: StatusCode, reason: String, api: bool) -> Response {
    if api {
        let code = if status.is_server_error() {
            "internal"
        } else {
            "bad_request"
        };
        return crate::api::ApiError::new(status, code, reason).into_response();
    }
    let page = MessagePage {
        title: "That did not work".to_string(),
        message: reason,
        hint: Some("Go back, correct the request and try again.".to_string()),
    };
    (status, pages::render(&page)).into_response()
}
