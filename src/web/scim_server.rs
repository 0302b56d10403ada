//! `/scim/v2`: sesame as a SCIM 2.0 service provider (RFC 7644), thin over `inbound`.
//! Callers authenticate with a SCIM source token (`Authorization: Bearer`); admin API
//! tokens and sessions are not accepted here, and source tokens are not accepted on
//! `/api/v1`. Every answer, errors included, is `application/scim+json` (RFC 7644 §8.1).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::Value;

use crate::app::AppState;
use crate::inbound::list::Query;
use crate::inbound::{discovery, groups, json, sources, users, ScimError, Source};

pub const CONTENT_TYPE: &str = "application/scim+json";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema))
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route(
            "/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/scim/v2", any(not_found))
        .route("/scim/v2/", any(not_found))
        .route("/scim/v2/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
}

/// A SCIM answer.
pub fn answer(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

/// A SCIM error answer (RFC 7644 §3.12).
pub struct Refusal(pub ScimError);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut res = answer(self.0.status, &self.0.body());
        match self.0.status {
            401 => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sesame-scim\""),
                );
            }
            503 => {
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::error::RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        res
    }
}

impl From<ScimError> for Refusal {
    fn from(e: ScimError) -> Self {
        Refusal(e)
    }
}

impl From<crate::directory::DirectoryError> for Refusal {
    fn from(e: crate::directory::DirectoryError) -> Self {
        Refusal(e.into())
    }
}

type Answer = Result<Response, Refusal>;

/// The source whose token came with the request.
pub struct Caller(pub Source);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let unauthorized = || {
            Refusal(ScimError::new(
                401,
                None,
                "send a SCIM source token: Authorization: Bearer <token> (sesame scim-source add)",
            ))
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string())
            .ok_or_else(unauthorized)?;
        match sources::authenticate(&state.db, &token).await? {
            Some(s) => Ok(Caller(s)),
            None => Err(unauthorized()),
        }
    }
}

fn base(state: &AppState) -> String {
    format!(
        "{}/scim/v2",
        state.config.base_url.as_str().trim_end_matches('/')
    )
}

fn query(raw: Option<String>) -> Result<Query, ScimError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > 3 * crate::inbound::filter::MAX_LEN {
        return Err(ScimError::invalid_filter("the query string is too long"));
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    Query::from_pairs(&pairs)
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Value, ScimError> {
    let b = b.map_err(|e| {
        let status = e.status().as_u16();
        let kind = if status == 413 {
            None
        } else {
            Some("invalidSyntax")
        };
        ScimError::new(status, kind, e.body_text())
    })?;
    json::parse_body(&b)
}

fn created(v: &Value) -> Response {
    let mut res = answer(201, v);
    if let Some(loc) = v["meta"]["location"]
        .as_str()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

async fn service_provider_config(_: Caller, State(state): State<AppState>) -> Response {
    answer(200, &discovery::service_provider_config(&base(&state)))
}

async fn resource_types(_: Caller, State(state): State<AppState>) -> Response {
    answer(
        200,
        &discovery::list(discovery::resource_types(&base(&state))),
    )
}

async fn resource_type(_: Caller, State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    discovery::resource_types(&base(&state))
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| answer(200, &r))
        .ok_or_else(|| Refusal(ScimError::not_found(format!("no resource type {id:?}"))))
}

async fn schemas(_: Caller, State(state): State<AppState>) -> Response {
    answer(200, &discovery::list(discovery::schemas(&base(&state))))
}

async fn schema(_: Caller, State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    discovery::schemas(&base(&state))
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| answer(200, &r))
        .ok_or_else(|| Refusal(ScimError::not_found(format!("no schema {id:?}"))))
}

async fn list_users(_: Caller, State(state): State<AppState>, RawQuery(q): RawQuery) -> Answer {
    Ok(answer(
        200,
        &users::list(&state.db, &query(q)?, &base(&state)).await?,
    ))
}

async fn get_user(
    _: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    let v = users::get(&state.db, &id, &base(&state)).await?;
    Ok(answer(200, &query(q)?.project(v)))
}

async fn create_user(
    Caller(s): Caller,
    State(state): State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let v = users::create(&state.db, &s, &body(b)?, &base(&state)).await?;
    Ok(created(&v))
}

async fn replace_user(
    Caller(s): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let v = users::replace(&state.db, &s, &id, &body(b)?, &base(&state)).await?;
    Ok(answer(200, &v))
}

async fn patch_user(
    Caller(s): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let v = users::patch(&state.db, &s, &id, &body(b)?, &base(&state)).await?;
    Ok(answer(200, &v))
}

async fn delete_user(
    Caller(s): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer {
    users::delete(&state.db, &s, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_groups(_: Caller, State(state): State<AppState>, RawQuery(q): RawQuery) -> Answer {
    Ok(answer(
        200,
        &groups::list(&state.db, &query(q)?, &base(&state)).await?,
    ))
}

async fn get_group(
    _: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    let v = groups::get(&state.db, &id, &base(&state)).await?;
    Ok(answer(200, &query(q)?.project(v)))
}

async fn create_group(
    Caller(s): Caller,
    State(state): State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let v = groups::create(&state.db, &s, &body(b)?, &base(&state)).await?;
    Ok(created(&v))
}

async fn replace_group(
    Caller(s): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let v = groups::replace(&state.db, &s, &id, &body(b)?, &base(&state)).await?;
    Ok(answer(200, &v))
}

async fn patch_group(
    Caller(s): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let v = groups::patch(&state.db, &s, &id, &body(b)?, &base(&state)).await?;
    Ok(answer(200, &v))
}

async fn delete_group(
    Caller(s): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer {
    groups::delete(&state.db, &s, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn not_found(_: Caller) -> Refusal {
    Refusal(ScimError::not_found("no such SCIM endpoint"))
}

async fn method_not_allowed() -> Refusal {
    Refusal(ScimError::new(405, None, "method not allowed here"))
}
