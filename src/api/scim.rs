//! `/api/v1/apps/{slug}/scim/...`: the app's Identity Management (SCIM target).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use axum::response::IntoResponse;

use super::{no_content, ok, Admin, ApiError, ApiResult, Body, MaybeBody};
use crate::app::AppState;
use crate::scim::control;
use crate::scim::probe;
use crate::scim::secret::Secret;
use crate::scim::target::{self, Changes, Credential};

pub async fn show(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    ok(control::status(&state.db, &slug).await?)
}

/// The settings; credentials are write-only (never returned).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScimPatch {
    pub url: Option<String>,
    pub connector: Option<String>,
    pub token: Option<String>,
    pub basic_user: Option<String>,
    pub basic_password: Option<String>,
    pub deprovision: Option<String>,
    pub push_groups: Option<bool>,
    pub deletion_threshold: Option<i64>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub restore_defaults: bool,
}

impl ScimPatch {
    /// The changes, or why the credential fields do not fit together.
    pub fn changes(self) -> Result<Changes, String> {
        let credential = match (self.token, self.basic_user, self.basic_password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err("give a token or basic credentials, not both".into())
            }
            (Some(t), None, None) if !t.is_empty() => Some(Credential::Bearer(Secret::new(t))),
            (_, Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => {
                Some(Credential::Basic(u, Secret::new(p)))
            }
            (_, Some(u), _) | (_, _, Some(u)) if !u.is_empty() => {
                return Err("basic credentials need both a user and a password".into())
            }
            _ => None,
        };
        Ok(Changes {
            url: self.url,
            connector: self.connector,
            credential,
            deprovision: self.deprovision,
            push_groups: self.push_groups,
            deletion_threshold: self.deletion_threshold,
            exclude: self.exclude,
            include: self.include,
            restore_defaults: self.restore_defaults,
        })
    }
}

pub async fn set(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<ScimPatch>,
) -> ApiResult {
    let changes = b
        .changes()
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "invalid", m))?;
    target::update(&state.db, &state.seal, &admin.actor, &slug, &changes).await?;
    ok(control::status(&state.db, &slug).await?)
}

pub async fn remove(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    target::delete(&state.db, &admin.actor, &slug).await?;
    no_content()
}

pub async fn test(_: Admin, State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult {
    let t = control::live(&state.db, &state.seal, &slug).await?;
    match probe::probe(&t).await {
        Ok(summary) => ok(json!({ "ok": true, "summary": summary })),
        Err(m) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "target_error", m)),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    username: Option<String>,
}

/// activate | deactivate | resume | approve | reject | sync | plan | provision
/// The actions of `POST /api/v1/apps/{slug}/scim/{action}`.
pub const ACTIONS: [&str; 8] = [
    "activate",
    "deactivate",
    "resume",
    "approve",
    "reject",
    "sync",
    "plan",
    "provision",
];

pub async fn action(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, action)): Path<(String, String)>,
    MaybeBody(body): MaybeBody<ActionBody>,
) -> ApiResult {
    let (db, actor) = (&state.db, &admin.actor);
    match action.as_str() {
        "activate" | "deactivate" | "resume" => {
            target::set_state(db, actor, &slug, &action).await?;
            ok(control::status(db, &slug).await?)
        }
        "approve" => {
            target::approve(db, actor, &slug).await?;
            ok(control::status(db, &slug).await?)
        }
        "reject" => {
            let dropped = target::reject(db, actor, &slug).await?;
            ok(json!({ "dropped": dropped }))
        }
        "sync" => {
            let queued = control::start_sync(db, &state.seal, &slug).await?;
            Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({ "queued": queued })),
            )
                .into_response())
        }
        "plan" => {
            let t = control::live(db, &state.seal, &slug).await?;
            ok(control::plan(db, &t).await?)
        }
        "provision" => {
            let Some(username) = body.and_then(|b| b.username) else {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "send {\"username\": \"...\"} as JSON",
                ));
            };
            let t = control::live(db, &state.seal, &slug).await?;
            let (report, stopped) = control::provision(db, &t, &username).await?;
            let exchanges: Vec<_> = report.exchanges.iter().map(|e| e.to_json()).collect();
            ok(json!({ "username": username, "decision": report.decision,
                        "stopped": stopped, "exchanges": exchanges }))
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API endpoint",
        )),
    }
}

pub async fn import_list(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    ok(control::import_list(&state.db, &state.seal, &slug).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    #[serde(default)]
    usernames: Vec<String>,
    #[serde(default)]
    all: bool,
}

pub async fn import(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(b): Body<ImportBody>,
) -> ApiResult {
    if b.usernames.is_empty() && !b.all {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "name the users to import (usernames) or set all: true",
        ));
    }
    let found = control::import_list(&state.db, &state.seal, &slug).await?;
    let report = control::import(&state.db, &admin.actor, found, &b.usernames, b.all).await?;
    ok(json!({ "report": report }))
}
