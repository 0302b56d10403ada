//! The JSON admin API under `/api/v1` (PRODUCT §3.5): the operations of the console and
//! the CLI for scripts. Callers authenticate with an admin token (`Authorization: Bearer`,
//! `sesame admin-token create`) or an admin's portal session; anyone else gets 401 or 403.
//! Errors are `{"error": {"code": "...", "message": "..."}}` with a stable code, unknown
//! paths and methods included. Bodies are JSON only (a form post from another site cannot
//! reach a handler), a change carried by the session cookie from another site is refused,
//! unknown fields are refused, and a refused request changes nothing. The OpenAPI document
//! at `/api/v1/openapi.json` is generated from the handlers (`document.rs`, `routes.rs`).

pub mod apps;
mod assign;
mod config;
mod document;
mod keys;
mod mail;
mod people;
mod routes;
pub mod scim;
mod sources;

pub use routes::{endpoints, Endpoint, Verb, CATCH_ALL};

use axum::extract::Query;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tower_sessions::Session;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::{session, tokens};
use crate::directory::{Actor, DirectoryError, User};
use crate::scim::control::ControlError;
use crate::store::events::{self, EventFilter};
use crate::store::StoreError;

pub use routes::router;

/// An API error: the HTTP status, a stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            crate::error::count_unavailable(&self.message);
        } else if self.status.is_server_error() {
            tracing::error!(cause = %self.message, "API request failed");
        }
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error (see the server log)".to_string()
        } else {
            self.message
        };
        let body = Json(document::ErrorBody {
            error: document::ErrorDetail {
                code: self.code,
                message,
            },
        });
        let mut res = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(crate::error::RETRY_AFTER_SECS),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"sesame\""),
            );
        }
        res
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            DirectoryError::Duplicate(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            DirectoryError::Managed(m) => ApiError::new(StatusCode::CONFLICT, "managed", m),
            DirectoryError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            DirectoryError::Store(s) => s.into(),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Directory(d) => d.into(),
            ControlError::Remote(m) => ApiError::new(StatusCode::BAD_GATEWAY, "target_error", m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_busy() {
            unavailable(e)
        } else {
            internal(e)
        }
    }
}

/// 503 with `Retry-After`: the database did not answer in time; try again.
pub fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        e.to_string(),
    )
}

impl From<crate::error::AppError> for ApiError {
    fn from(e: crate::error::AppError) -> Self {
        use crate::error::AppError as A;
        match e {
            A::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            A::BadRequest(m) | A::SamlRequest(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", m)
            }
            A::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            A::Csrf => ApiError::new(StatusCode::FORBIDDEN, "forbidden", "CSRF"),
            A::Unavailable(m) => unavailable(m),
            A::Internal(m) => internal(m),
        }
    }
}

impl From<crate::saml::flow::FlowError> for ApiError {
    fn from(e: crate::saml::flow::FlowError) -> Self {
        crate::error::AppError::from(e).into()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

pub type ApiResult = Result<Response, ApiError>;

/// The admin making the call, and the actor their changes are recorded under.
pub struct Admin {
    pub user: User,
    pub actor: Actor,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send an admin token: Authorization: Bearer <token> (sesame admin-token create)",
            )
        };
        let forbidden = || {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the admin API is for admins only",
            )
        };
        if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let token = h
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t)
                .ok_or_else(unauthorized)?;
            return match tokens::authenticate(&state.db, token.trim()).await? {
                tokens::Verdict::Admin(user, name) => Ok(Admin {
                    actor: Actor::admin(&user.username, Some(&name)),
                    user: *user,
                }),
                tokens::Verdict::NotAdmin => Err(forbidden()),
                tokens::Verdict::Invalid => Err(unauthorized()),
            };
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| unauthorized())?;
        match session::current_user(&session, &state.db)
            .await
            .map_err(|e| ApiError::from(crate::error::AppError::from(e)))?
        {
            Some(u)
                if u.is_admin
                    && !u.must_change_password
                    && !session::must_enrol(&session, &state.db, &u)
                        .await
                        .map_err(|e| ApiError::from(crate::error::AppError::from(e)))? =>
            {
                if cross_site(parts, &state.config.base_url) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "a change made with a session cookie must come from sesame's own pages",
                    ));
                }
                Ok(Admin {
                    actor: Actor::admin(&u.username, None),
                    user: u,
                })
            }
            Some(_) => Err(forbidden()),
            None => Err(unauthorized()),
        }
    }
}

/// Whether a change authenticated by the session cookie comes from another site. The
/// cookie is SameSite=Lax, but a page on a sibling subdomain is the same site and would
/// still get it sent; a body-less POST (suspend, sync...) needs no JSON content type.
/// Browsers say where a request comes from (`Sec-Fetch-Site`, else `Origin`); a client
/// that says nothing is not a browser on another site.
fn cross_site(parts: &Parts, base_url: &url::Url) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    if let Some(site) = parts.headers.get("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    match parts.headers.get(header::ORIGIN) {
        Some(origin) => origin.as_bytes() != base_url.origin().ascii_serialization().as_bytes(),
        None => false,
    }
}

/// A JSON body; anything else is a 4xx JSON error, not axum's plain text.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(ApiError::new(e.status(), "bad_request", e.body_text())),
        }
    }
}

/// An optional JSON body (actions that take one only sometimes): empty is `None`.
pub struct MaybeBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MaybeBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v == "0")
            || (!req.headers().contains_key(header::CONTENT_TYPE)
                && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(MaybeBody(None));
        }
        let Body(v) = Body::<T>::from_request(req, state).await?;
        Ok(MaybeBody(Some(v)))
    }
}

/// Query parameters; a malformed or unknown one is a 400 JSON error, not axum's plain text.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::new(e.status(), "bad_request", e.body_text())),
        }
    }
}

pub fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

pub fn created<T: serde::Serialize>(v: T) -> ApiResult {
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn not_found(_: Admin) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here (see /api/v1/openapi.json)"),
    )
}

/// Empty filters are ignored; any other query parameter is a 400.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// An app slug.
    app: Option<String>,
    /// A username, in any case.
    user: Option<String>,
    /// An event name, e.g. app_create.
    name: Option<String>,
    /// e.g. success, failure.
    outcome: Option<String>,
    /// Only events with a larger id, oldest first (to follow).
    after: Option<i64>,
    /// Only events with a smaller id, the newest of them (to page back).
    before: Option<i64>,
    /// Only events at or after this time, UTC: 2026-12-01, 2026-12-01T10:30 or RFC 3339.
    since: Option<String>,
    /// Only events before this time, UTC (a date alone includes that day).
    until: Option<String>,
    /// Clamped to 1..1000.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
}

impl EventQuery {
    /// The store's filter, the username as given; a time that does not parse is a 400.
    pub fn filter(self) -> Result<EventFilter, ApiError> {
        let some = |s: Option<String>| s.filter(|v| !v.is_empty());
        let time = |s: Option<String>, end: bool| match some(s) {
            None => Ok(None),
            Some(t) => crate::store::parse_when(&t, end).map(Some).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    format!("{t:?} is not a time (2026-12-01, 2026-12-01T10:30 or RFC 3339)"),
                )
            }),
        };
        Ok(EventFilter {
            app_slug: some(self.app),
            username: some(self.user),
            name: some(self.name),
            outcome: some(self.outcome),
            after: self.after,
            before: self.before,
            since: time(self.since, false)?,
            until: time(self.until, true)?,
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
        })
    }
}

/// The audit trail
///
/// Without after: the last `limit` matching events, oldest first. Empty filters are
/// ignored; any other query parameter is a 400.
#[utoipa::path(
    get, path = "/api/v1/events", operation_id = "listEvents", tag = "events",
    params(EventQuery),
    responses(
        (status = 200, description = "OK", body = [events::Event]),
        document::Invalid, document::Refusals,
    ),
)]
async fn events_list(
    _: Admin,
    State(state): State<AppState>,
    Params(q): Params<EventQuery>,
) -> ApiResult {
    let mut filter = q.filter()?;
    // Usernames compare case-insensitively, as in the directory.
    if let Some(u) = &filter.username {
        filter.username = Some(crate::directory::users::recorded_name(&state.db, u).await?);
    }
    let mut conn = state.db.read().await?;
    ok(events::list(&mut conn, &filter).await?)
}
