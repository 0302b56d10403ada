//! `/saml2/{slug}`: the SSO service for both request bindings, the same-origin continuation
//! of a parked request, and the IdP-initiated launch behind a portal tile. Handlers move
//! HTTP in and out; `saml::flow` decides.

use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::pages::render;
use super::portal::require_user;
use crate::app::AppState;
use crate::auth::session::{self, Strength};
use crate::directory::User;
use crate::error::AppError;
use crate::saml::binding;
use crate::saml::context::Level;
use crate::saml::flow::{self, Decision, PostForm, Refused, SignedIn, Target};
use crate::saml::validate::Binding;

#[derive(Template)]
#[template(path = "saml_post.html")]
pub(super) struct PostPage<'a> {
    pub heading: &'a str,
    pub url: &'a str,
    /// `SAMLResponse`, or `SAMLRequest` for a LogoutRequest.
    pub param: &'a str,
    pub value: &'a str,
    pub relay_state: Option<&'a str>,
}

fn sign_in_page(t: &Target, f: &PostForm) -> Response {
    post_page(&PostPage {
        heading: &format!("Signing you in to {}", t.app.label),
        url: &f.acs_url,
        param: "SAMLResponse",
        value: &f.saml_response,
        relay_state: f.relay_state.as_deref(),
    })
}

/// The auto-submitting form. Its CSP lets the form go to the ACS's origin only (SECURITY 13;
/// the origin, not the path, because browsers apply `form-action` to the ACS's own redirect).
pub(super) fn post_page(page: &PostPage) -> Response {
    let origin = url::Url::parse(page.url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "'none'".into());
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; form-action {origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut res = render(page);
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The decision as HTTP: the auto-submit page, a page, or a redirect. Counted for
/// `/metrics` with the time since the request came in.
fn respond(t: &Target, d: Decision, since: Instant) -> Response {
    let (word, answered) = match &d {
        Decision::Post(_) => ("response", true),
        Decision::Refused(_) => ("refused", false),
        Decision::Continue(_) => ("continue", false),
        Decision::ChangePassword { .. } => ("change_password", false),
        Decision::SecondFactor { .. } => ("second_factor", false),
        Decision::EnrolMfa { .. } => ("enrol_mfa", false),
        Decision::SignIn { .. } => ("sign_in", false),
    };
    crate::telemetry::sso_decision(&t.app.slug, word, answered, since.elapsed());
    match d {
        Decision::Post(f) => sign_in_page(t, &f),
        Decision::Refused(r) => refused(r).into_response(),
        Decision::Continue(url) => Redirect::to(&url).into_response(),
        Decision::ChangePassword { resume } => {
            Redirect::to(&format!("/account?next={}", encode(&resume))).into_response()
        }
        Decision::SecondFactor { resume } => {
            Redirect::to(&format!("/login/mfa?next={}", encode(&resume))).into_response()
        }
        Decision::EnrolMfa { resume } => {
            Redirect::to(&format!("/account/mfa?next={}", encode(&resume))).into_response()
        }
        Decision::SignIn { resume, reauth } => {
            let reauth = if reauth { "&reauth=1" } else { "" };
            Redirect::to(&format!("/login?next={}{reauth}", encode(&resume))).into_response()
        }
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A refusal as the page a person reads.
fn refused(r: Refused) -> AppError {
    match r {
        Refused::Request(m) => AppError::SamlRequest(m),
        Refused::Denied(m) => AppError::Forbidden(m),
        Refused::NotSetUp(m) => AppError::NotFound(m),
    }
}

/// Who is signed in, as the flow needs it.
async fn signed_in(state: &AppState, session: &Session) -> Result<Option<SignedIn>, AppError> {
    let Some(user) = session::current_user(session, &state.db).await? else {
        return Ok(None);
    };
    Ok(Some(signed_in_as(session, user).await?))
}

async fn signed_in_as(session: &Session, user: User) -> Result<SignedIn, AppError> {
    let s = session::sso_state(session).await?;
    Ok(SignedIn {
        user,
        auth_at: s.auth_at,
        first_at: s.first_at,
        level: match s.strength {
            Strength::Password => Level::Password,
            Strength::MultiFactor => Level::MultiFactor,
        },
        session_index: s.session_index,
    })
}

/// HTTP-Redirect binding (GET).
pub async fn redirect_binding(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let since = Instant::now();
    let t = flow::target(&state.idp, &slug).await?;
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Err(AppError::BadRequest(format!(
            "This is the single sign-on address of {}. Open the application itself, or start from your sesame portal.",
            t.app.label
        )));
    };
    let who = signed_in(&state, &session).await?;
    let decoded = binding::decode_redirect(&query);
    let d = flow::sp_request(&state.idp, &t, Binding::Redirect, decoded, who).await?;
    Ok(respond(&t, d, since))
}

/// HTTP-POST binding. The cross-site POST carries no Lax session cookie, so the checked
/// request is parked and the browser sent on with a same-origin GET (SECURITY 11).
pub async fn post_binding(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let since = Instant::now();
    let t = flow::target(&state.idp, &slug).await?;
    let decoded = body
        .map_err(|_| binding::BindingError::TooLarge("request body"))
        .and_then(|b| String::from_utf8(b.to_vec()).map_err(|_| binding::BindingError::NotUtf8))
        .and_then(|b| binding::decode_post(&b));
    let d = flow::sp_request(&state.idp, &t, Binding::Post, decoded, None).await?;
    Ok(respond(&t, d, since))
}

#[derive(Deserialize)]
pub struct ContinueQuery {
    h: Option<String>,
}

/// Where a parked request resumes: after the POST binding's 303, and after signing in.
pub async fn resume(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(q): Query<ContinueQuery>,
) -> Result<Response, AppError> {
    let since = Instant::now();
    let t = flow::target(&state.idp, &slug).await?;
    let handle = q.h.unwrap_or_default();
    let who = signed_in(&state, &session).await?;
    let d = flow::resume(&state.idp, &t, who, &handle).await?;
    Ok(respond(&t, d, since))
}

/// `/saml2/{slug}/launch`: IdP-initiated SSO with the app's configured RelayState only.
pub async fn launch(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let since = Instant::now();
    let here = format!("/saml2/{slug}/launch");
    let user = match require_user(&state, &session, &here).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let t = flow::target(&state.idp, &slug).await?;
    let who = signed_in_as(&session, user).await?;
    let d = flow::launch(&state.idp, &t, &who).await?;
    Ok(respond(&t, d, since))
}

pub async fn autosubmit_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../static/autosubmit.js"),
    )
}
