//! The HTTP surface: thin axum handlers that extract, call `auth`/`directory`, and render.
//! Security headers (SECURITY 13) are added to every response here.

pub mod account;
pub mod admin;
pub mod client;
pub mod form;
pub mod health;
pub mod login;
pub mod metrics;
pub mod mfa;
pub mod pages;
pub mod passkey;
pub mod portal;
pub mod rejections;
pub mod reset;
pub mod saml;
pub mod scim_server;
pub mod slo;
pub mod sso;

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(portal::show))
        .route("/login", get(login::show).post(login::submit))
        .route("/forgot", get(reset::forgot).post(reset::request))
        .route(
            "/reset/{token}",
            get(reset::show_reset).post(reset::set_reset),
        )
        .route(
            "/invite/{token}",
            get(reset::show_invite).post(reset::set_invite),
        )
        .route("/logout", get(portal::confirm_logout).post(portal::logout))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/end", post(account::end_session))
        .route(
            "/account/sessions/end-others",
            post(account::end_other_sessions),
        )
        .route("/login/mfa", get(mfa::show).post(mfa::submit))
        .route("/account/mfa", get(mfa::account))
        .route("/account/mfa/confirm", post(mfa::confirm))
        .route("/account/mfa/recovery", post(mfa::regenerate))
        .route("/account/mfa/remove", post(mfa::remove))
        .route("/account/passkeys/begin", post(passkey::register_begin))
        .route("/account/passkeys/finish", post(passkey::register_finish))
        .route("/account/passkeys/{id}/rename", post(passkey::rename))
        .route("/account/passkeys/{id}/remove", post(passkey::remove))
        .route("/login/passkey/begin", post(passkey::auth_begin))
        .route("/login/passkey/finish", post(passkey::auth_finish))
        .route("/static/passkey.js", get(passkey_js))
        .route("/static/idm.js", get(idm_js))
        .route("/static/copy.js", get(copy_js))
        .route(
            "/saml2/{slug}",
            get(sso::redirect_binding).post(sso::post_binding),
        )
        .route(
            "/saml2/{slug}/slo",
            get(slo::redirect_binding).post(slo::post_binding),
        )
        .route("/saml2/{slug}/continue", get(sso::resume))
        .route("/saml2/{slug}/launch", get(sso::launch))
        .route("/saml2/{slug}/metadata", get(saml::metadata))
        .route("/saml2/{slug}/certificate.pem", get(saml::certificate))
        .route("/static/sesame.css", get(portal::stylesheet))
        .route("/static/apps.css", get(portal::app_colors))
        .route("/logos/{slug}", get(portal::logo))
        .route("/static/autosubmit.js", get(sso::autosubmit_js))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(crate::api::router())
        .merge(scim_server::router())
        .merge(admin::router())
        .fallback(portal::not_found)
        .with_state(state)
}

/// tower-sessions answers a session it could not save with an empty 500. Saving is a
/// database write, so that means the database was busy: answer as every busy answer does
/// (503, `Retry-After`, a page or JSON). Runs outside the session layer.
pub async fn session_save_failed(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || res.headers().contains_key(header::CONTENT_TYPE)
    {
        return res;
    }
    if api {
        return crate::api::unavailable("the session could not be saved").into_response();
    }
    crate::error::count_unavailable("the session could not be saved");
    crate::error::unavailable_page()
}

/// The default CSP: only our own styles, no scripts, forms post to us, never framed.
/// A page with other needs (the SAML auto-submit form) sets its own before this runs.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A year, this host only: subdomains may be other services on plain HTTP.
const HSTS: &str = "max-age=31536000";

/// Security headers on every response (the outermost layer, so error pages get them too).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let https = req
        .extensions()
        .get::<crate::serve::proxy::ClientOrigin>()
        .is_some_and(|o| o.https);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    if !is_static {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    // RFC 6797 §7.2: only over a secure transport (our TLS, or a trusted proxy's).
    if https {
        set(h, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    res
}

pub async fn passkey_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../static/passkey.js"),
    )
}

pub async fn copy_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../static/copy.js"),
    )
}

pub async fn idm_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../static/idm.js"),
    )
}
