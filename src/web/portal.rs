//! `/`: the portal of tiles, sign-out, and the stylesheets the pages use.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::form::HtmlForm;
use super::pages::{render, LogoutPage, PortalPage};
use crate::app::AppState;
use crate::auth::session::{self, Gate};
use crate::directory::{access, apps, User};
use crate::error::AppError;
use crate::saml::logout;

/// The signed-in user, or the answer instead of the page: to sign in (and come back to
/// `here`), to the account page when a new password is due, or an error page.
pub async fn require_user(
    state: &AppState,
    session: &Session,
    here: &str,
) -> Result<User, Response> {
    let account_page = here == "/account" || here.starts_with("/account/");
    match session::gate(session, &state.db, account_page).await {
        Ok(Gate::Open(u)) => Ok(*u),
        Ok(Gate::ChangePassword) => {
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(Redirect::to(&format!("/account?next={next}")).into_response())
        }
        Ok(Gate::EnrolMfa) => {
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(Redirect::to(&format!("/account/mfa?next={next}")).into_response())
        }
        Ok(Gate::SignIn) => {
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(Redirect::to(&format!("/login?next={next}")).into_response())
        }
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

/// A form posted by a signed-in user: its CSRF token checked first, then the user, or the
/// answer instead (an error page, or the way to sign in and come back to `here`).
pub async fn posting_user(
    state: &AppState,
    session: &Session,
    csrf: &str,
    here: &str,
) -> Result<User, Response> {
    match session::csrf_ok(session, csrf).await {
        Ok(true) => require_user(state, session, here).await,
        Ok(false) => Err(AppError::Csrf.into_response()),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

#[derive(Deserialize)]
pub struct TileSearch {
    #[serde(default)]
    q: String,
}

/// The portal: the user's tiles, narrowed by a search in their names and descriptions.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Query(search): Query<TileSearch>,
) -> Result<Response, AppError> {
    let user = match require_user(&state, &session, "/").await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let mut conn = state.db.read().await?;
    let mut tiles = access::tiles_for(&mut conn, user.id).await?;
    let total = tiles.len();
    let q = search.q.trim().to_string();
    if !q.is_empty() {
        let needle = q.to_lowercase();
        tiles.retain(|a| {
            a.label.to_lowercase().contains(&needle)
                || a.description.to_lowercase().contains(&needle)
        });
    }
    let csrf = session::csrf_token(&session).await?;
    Ok(render(&PortalPage {
        user,
        csrf,
        tiles,
        q,
        total,
    }))
}

pub async fn confirm_logout(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, AppError> {
    if session::current_user(&session, &state.db).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(render(&LogoutPage {
        csrf: session::csrf_token(&session).await?,
    }))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// Sign out: the portal session ends, then every app it signed in to that takes Single
/// Logout is told, one after another (`saml::logout`).
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<CsrfOnly>,
) -> Result<Response, AppError> {
    if !session::csrf_ok(&session, &form.csrf).await? {
        return Err(AppError::Csrf);
    }
    let user = session::current_user(&session, &state.db).await?;
    let index = session::sso_state(&session).await?.session_index;
    session::end(&session).await?;
    let Some(user) = user else {
        return Ok(Redirect::to("/login?logged_out=1").into_response());
    };
    let l = logout::from_portal(&state.idp, &user.username, &index).await?;
    Ok(super::slo::respond(l))
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../../static/sesame.css"),
    )
}

/// Tile colours as a stylesheet, so pages need no inline styles under the CSP. Slugs and
/// colours are validated at write time (`[a-z0-9-]`, `#rrggbb`), so they are safe here.
pub async fn app_colors(State(state): State<AppState>) -> Result<Response, AppError> {
    let css: String = apps::list(&state.db)
        .await?
        .iter()
        .map(|a| {
            format!(
                ".tile[data-slug=\"{0}\"] .swatch, .swatch[data-slug=\"{0}\"] {{ background: {1}; }}\n",
                a.slug, a.color
            )
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        css,
    )
        .into_response())
}

/// An app's uploaded logo. Served with a CSP that sandboxes it and allows no script, so an
/// SVG opened on its own cannot act on sesame's origin.
pub async fn logo(
    State(state): State<AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
) -> Result<Response, AppError> {
    let Some((kind, bytes)) = apps::logo(&state.db, &slug).await? else {
        return Err(AppError::NotFound("This application has no logo.".into()));
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox".to_string(),
            ),
            (header::CACHE_CONTROL, "public, max-age=300".to_string()),
        ],
        bytes,
    )
        .into_response())
}

pub async fn not_found() -> AppError {
    AppError::NotFound("There is no page at this address.".into())
}
