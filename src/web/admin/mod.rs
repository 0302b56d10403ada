//! `/admin`: the admin console (PRODUCT §3.5), server-rendered, usable without JavaScript.
//! Only admins get in: anyone else gets a 403 page, and nobody else is shown a link here.
//! Every POST passes the CSRF check in [`csrf_guard`] before any handler runs (SECURITY 11),
//! and every change is an audit event under `admin:<username>`.

mod app_keys;
mod apps;
mod config;
mod events;
mod idm;
mod import;
mod keys;
mod mail;
mod pages;
mod people;
mod sources;
mod sso;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::session;
use crate::directory::{Actor, User};
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin",
            get(|_: AdminUser| async { Redirect::to("/admin/apps") }),
        )
        .route("/admin/apps", get(apps::list).post(apps::create))
        .route("/admin/apps/new", get(apps::catalog))
        .route("/admin/apps/{slug}", get(apps::general).post(apps::update))
        .route("/admin/apps/{slug}/delete", post(apps::delete))
        .route(
            "/admin/apps/{slug}/groups",
            get(apps::groups).post(apps::set_groups),
        )
        .route("/admin/apps/{slug}/users", post(apps::set_users))
        .route("/admin/apps/{slug}/sso", get(sso::show).post(sso::update))
        .route(
            "/admin/apps/{slug}/sso/metadata",
            post(sso::import_metadata),
        )
        .route("/admin/apps/{slug}/sso/switch", post(sso::switch))
        .route("/admin/apps/{slug}/keys/own", post(app_keys::own))
        .route("/admin/apps/{slug}/keys/shared", post(app_keys::shared))
        .route(
            "/admin/apps/{slug}/keys/stage-next",
            post(app_keys::stage_next),
        )
        .route(
            "/admin/apps/{slug}/keys/activate-next",
            post(app_keys::activate_next),
        )
        .route("/admin/apps/{slug}/logo", post(apps::upload_logo))
        .route(
            "/admin/apps/{slug}/metadata.xml",
            get(sso::download_metadata),
        )
        .route("/admin/apps/{slug}/idm", get(idm::show).post(idm::update))
        .route("/admin/apps/{slug}/idm/status", get(idm::status))
        .route("/admin/apps/{slug}/idm/{action}", post(idm::action))
        .route("/admin/users", get(people::users).post(people::create_user))
        .route(
            "/admin/import/users",
            get(import::show).post(import::submit),
        )
        .route("/admin/mfa-policy", post(people::set_mfa_policy))
        .route(
            "/admin/users/{name}",
            get(people::user).post(people::update_user),
        )
        .route("/admin/users/{name}/{action}", post(people::user_action))
        .route(
            "/admin/groups",
            get(people::groups).post(people::create_group),
        )
        .route("/admin/groups/{name}", get(people::group))
        .route("/admin/groups/{name}/{action}", post(people::group_action))
        .route("/admin/events", get(events::list))
        .route("/admin/events/{file}", get(events::export))
        .route("/admin/config", get(config::show).post(config::submit))
        .route("/admin/config/export.toml", get(config::export))
        .route(
            "/admin/scim-sources",
            get(sources::show).post(sources::create),
        )
        .route("/admin/scim-sources/{name}/revoke", post(sources::revoke))
        .route("/admin/settings/email", get(mail::show).post(mail::update))
        .route("/admin/settings/email/test", post(mail::test))
        .route("/admin/keys", get(keys::show))
        .route("/admin/keys/stage-next", post(keys::stage_next))
        .route("/admin/keys/activate-next", post(keys::activate_next))
        .layer(middleware::from_fn(csrf_guard))
}

/// The signed-in admin of a console request, with their CSRF token for the page's forms.
pub struct AdminUser {
    pub user: User,
    pub csrf: String,
    pub session: Session,
}

impl AdminUser {
    pub fn actor(&self) -> Actor {
        Actor::admin(&self.user.username, None)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(s, m)| (s, m).into_response())?;
        let here = parts
            .uri
            .path_and_query()
            .map_or("/admin", |p| p.as_str())
            .to_string();
        let here = if parts.method == Method::GET {
            here
        } else {
            "/admin".to_string()
        };
        let user = super::portal::require_user(state, &session, &here).await?;
        if !user.is_admin {
            return Err(AppError::Forbidden(
                "The admin console is for administrators only.".into(),
            )
            .into_response());
        }
        let csrf = session::csrf_token(&session)
            .await
            .map_err(|e| AppError::from(e).into_response())?;
        Ok(AdminUser {
            user,
            csrf,
            session,
        })
    }
}

/// Refuses any POST under `/admin` whose form lacks the session's CSRF token, before the
/// handler (and its admin check) runs.
async fn csrf_guard(session: Session, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, crate::app::BODY_LIMIT).await else {
        return AppError::BadRequest("The form is too large.".into()).into_response();
    };
    let multipart = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let given = if multipart {
        multipart_csrf(&parts, bytes.clone()).await
    } else {
        url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    match session::csrf_ok(&session, &given).await {
        Ok(true) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(false) => AppError::Csrf.into_response(),
        Err(e) => AppError::from(e).into_response(),
    }
}

/// The `csrf` field of a multipart form (the logo upload).
async fn multipart_csrf(parts: &Parts, bytes: axum::body::Bytes) -> String {
    let mut req = Request::new(Body::from(bytes));
    *req.headers_mut() = parts.headers.clone();
    let Ok(mut form) = axum::extract::Multipart::from_request(req, &()).await else {
        return String::new();
    };
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("csrf") {
            return field.text().await.unwrap_or_default();
        }
    }
    String::new()
}

/// The usernames typed in one field ("alice, bob carol"): separated by commas or spaces,
/// which usernames cannot contain.
pub fn typed_names(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .collect()
}

/// A form sent urlencoded or as multipart (the forms with a file input): fields and
/// text files alike become `T`'s fields. A file left unchosen is no field; a file that is
/// not UTF-8 text is refused (logos have their own handler).
pub struct AnyForm<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for AnyForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let multipart = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let crate::web::form::HtmlForm(v) =
                crate::web::form::HtmlForm::from_request(req, state).await?;
            return Ok(AnyForm(v));
        }
        let unreadable = |e: axum::extract::multipart::MultipartError| {
            AppError::BadRequest(format!("The form could not be read: {e}"))
        };
        let mut form = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|e| {
                AppError::BadRequest(format!("The form could not be read: {}", e.body_text()))
            })?;
        let mut fields = Vec::new();
        while let Some(field) = form.next_field().await.map_err(unreadable)? {
            let name = field.name().unwrap_or_default().to_string();
            let is_file = field.file_name().is_some();
            let bytes = field.bytes().await.map_err(unreadable)?;
            if is_file && bytes.is_empty() {
                continue;
            }
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                AppError::BadRequest(format!("The file for {name} is not a text file."))
            })?;
            fields.push((name, text));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        // A POST: axum's `Form` reads a GET's query string instead of its body.
        let req = Request::builder()
            .method(Method::POST)
            .header(
                axum::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Body::from(body))
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let crate::web::form::HtmlForm(v) =
            crate::web::form::HtmlForm::from_request(req, state).await?;
        Ok(AnyForm(v))
    }
}

const FLASH: &str = "admin_flash";

/// A one-time message for the next page: (`true` for an error, text).
pub async fn flash(session: &Session, error: bool, text: impl Into<String>) {
    let _ = session.insert(FLASH, (error, text.into())).await;
}

pub async fn take_flash(session: &Session) -> Option<(bool, String)> {
    session.remove::<(bool, String)>(FLASH).await.ok().flatten()
}

/// After a POST: a flash message and a redirect (303) to the page to show.
pub async fn done(session: &Session, result: Result<String, String>, to: &str) -> Response {
    match result {
        Ok(m) => flash(session, false, m).await,
        Err(m) => flash(session, true, m).await,
    }
    Redirect::to(to).into_response()
}

/// A delete behind a typed confirmation (`typed` must equal `name`): on success the list
/// page, otherwise back `here` with the reason. `what` names the thing ("the user").
pub async fn confirmed_delete(
    session: &Session,
    (typed, name, what): (&str, &str, &str),
    (here, list): (&str, &str),
    delete: impl std::future::Future<Output = Result<(), crate::directory::DirectoryError>>,
) -> Response {
    if typed.trim() != name {
        let msg = format!("Type {name} exactly to delete {what}.");
        return done(session, Err(msg), here).await;
    }
    match delete.await {
        Ok(()) => done(session, Ok(format!("Deleted {what} {name}.")), list).await,
        Err(e) => done(session, Err(e.to_string()), here).await,
    }
}

/// A name as one URL path segment (group names may hold `/`, `?`, `#`, spaces).
pub fn seg(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A checkbox: present (any value) is on.
pub fn on(v: &Option<String>) -> bool {
    v.is_some()
}
