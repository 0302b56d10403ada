//! `POST /api/v1/apps/{slug}/scim/{action}`: what an admin does to a target, one function
//! per action, each documented on its own path.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use super::super::document::{AppSlug, BodyRefusals, NotFound, Refusals, TargetError};
use super::super::{ok, Admin, ApiError, ApiResult, MaybeBody};
use super::ScimStatus;
use crate::app::AppState;
use crate::directory::Actor;
use crate::scim::client::Exchange;
use crate::scim::control::{self, PlanLine};
use crate::scim::secret::SealKey;
use crate::scim::target::{self, Switch};
use crate::store::Db;

/// Only provision takes a body; the other actions take none (or {}).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ScimAction)]
pub struct ActionBody {
    /// The user to provision (needed by provision).
    username: Option<String>,
}

/// The `/api/v1/apps/{slug}/scim/{action}` actions (`test` and `import` have routes of
/// their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Switch(Switch),
    Approve,
    Reject,
    Sync,
    Plan,
    Provision,
}

/// Each action and its name in the route.
const NAMES: [(&str, Action); 8] = [
    ("activate", Action::Switch(Switch::Activate)),
    ("deactivate", Action::Switch(Switch::Deactivate)),
    ("resume", Action::Switch(Switch::Resume)),
    ("approve", Action::Approve),
    ("reject", Action::Reject),
    ("sync", Action::Sync),
    ("plan", Action::Plan),
    ("provision", Action::Provision),
];

impl Action {
    pub(super) fn parse(s: &str) -> Option<Action> {
        NAMES.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }
}

/// The actions of `POST /api/v1/apps/{slug}/scim/{action}`, by name.
pub fn action_names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| *n)
}

/// The document of each action.
#[derive(OpenApi)]
#[openapi(paths(activate, deactivate, resume, approve, reject, sync, plan, provision))]
pub struct Actions;

/// One of the actions of [`NAMES`], by its name in the path.
pub async fn action(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, action)): Path<(String, String)>,
    MaybeBody(body): MaybeBody<ActionBody>,
) -> ApiResult {
    let (db, key, actor) = (&state.db, &state.seal, &admin.actor);
    let Some(action) = Action::parse(&action) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API endpoint",
        ));
    };
    match action {
        Action::Switch(Switch::Activate) => activate(db, actor, &slug).await,
        Action::Switch(Switch::Deactivate) => deactivate(db, actor, &slug).await,
        Action::Switch(Switch::Resume) => resume(db, actor, &slug).await,
        Action::Approve => approve(db, actor, &slug).await,
        Action::Reject => reject(db, actor, &slug).await,
        Action::Sync => sync(db, key, &slug).await,
        Action::Plan => plan(db, key, &slug).await,
        Action::Provision => provision(db, key, &slug, body).await,
    }
}

/// Activate, deactivate or resume, and the status after.
async fn switch(db: &Db, actor: &Actor, slug: &str, switch: Switch) -> ApiResult {
    target::set_state(db, actor, slug, switch).await?;
    ok(ScimStatus::of(db, slug).await?)
}

/// Activate (queues a full sync)
///
/// No body (or {}). Needs the integration set up with a credential.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/activate", operation_id = "activateScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = ScimStatus),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn activate(db: &Db, actor: &Actor, slug: &str) -> ApiResult {
    switch(db, actor, slug, Switch::Activate).await
}

/// Deactivate (nothing is sent until activated)
///
/// No body (or {}). Needs the integration set up with a credential.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/deactivate",
    operation_id = "deactivateScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = ScimStatus),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn deactivate(db: &Db, actor: &Actor, slug: &str) -> ApiResult {
    switch(db, actor, slug, Switch::Deactivate).await
}

/// Resume a stopped, quarantined or paused target
///
/// No body (or {}). Needs the integration set up with a credential. Not for an inactive
/// target (use activate).
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/resume", operation_id = "resumeScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = ScimStatus),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn resume(db: &Db, actor: &Actor, slug: &str) -> ApiResult {
    switch(db, actor, slug, Switch::Resume).await
}

/// Approve a deprovisioning batch paused by the deletion threshold
///
/// No body. Deprovisioning may pass the threshold for an hour. 400 when nothing waits for
/// approval.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/approve", operation_id = "approveScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = ScimStatus),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn approve(db: &Db, actor: &Actor, slug: &str) -> ApiResult {
    target::approve(db, actor, slug).await?;
    ok(ScimStatus::of(db, slug).await?)
}

/// How many queued jobs a rejection dropped.
#[derive(Serialize, ToSchema)]
pub struct Rejected {
    dropped: u64,
}

/// Reject a paused deprovisioning batch
///
/// No body. The queued jobs of users out of scope are dropped; the target runs again.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/reject", operation_id = "rejectScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = Rejected),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn reject(db: &Db, actor: &Actor, slug: &str) -> ApiResult {
    let dropped = target::reject(db, actor, slug).await?;
    ok(Rejected { dropped })
}

/// How many users a sync queued.
#[derive(Serialize, ToSchema)]
pub struct Queued {
    queued: u64,
}

/// Reconcile now: read the target's users and queue everyone in scope or linked
///
/// No body. The target must be active.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/sync", operation_id = "syncScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 202, description = "Queued for the server's worker.", body = Queued),
        NotFound, BodyRefusals, TargetError, Refusals,
    ),
)]
async fn sync(db: &Db, key: &SealKey, slug: &str) -> ApiResult {
    let queued = control::start_sync(db, key, slug).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Queued { queued })).into_response())
}

/// Dry run: what a sync would do for each user (the target is only read)
///
/// No body. For a user not linked yet, the line names the matching rule that finds an
/// existing account ("matched by externalId"), from the target's user list.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/plan", operation_id = "planScim", tag = "scim",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = [PlanLine]),
        NotFound, BodyRefusals, TargetError, Refusals,
    ),
)]
async fn plan(db: &Db, key: &SealKey, slug: &str) -> ApiResult {
    let t = control::live(db, key, slug).await?;
    ok(control::plan(db, &t).await?)
}

/// One user provisioned now: what was decided, every exchange with the target, and why
/// provisioning stopped short, if it did.
#[derive(Serialize, ToSchema)]
pub struct ScimProvision {
    username: String,
    decision: String,
    /// Why the target was stopped, if it was.
    stopped: Option<String>,
    exchanges: Vec<ScimExchange>,
}

/// A request to the target and its answer; credentials are never part of it.
#[derive(Serialize, ToSchema)]
pub struct ScimExchange {
    request: ExchangeRequest,
    response: ExchangeResponse,
}

#[derive(Serialize, ToSchema)]
pub struct ExchangeRequest {
    method: String,
    path: String,
    /// JSON sent, if any.
    body: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ExchangeResponse {
    status: Option<u16>,
    /// JSON received, if any.
    body: Option<Value>,
    /// Transport failure in words.
    error: Option<String>,
}

impl From<&Exchange> for ScimExchange {
    fn from(e: &Exchange) -> Self {
        ScimExchange {
            request: ExchangeRequest {
                method: e.method.clone(),
                path: e.path.clone(),
                body: e.request.clone(),
            },
            response: ExchangeResponse {
                status: e.status,
                body: e.response.clone(),
                error: e.error.clone(),
            },
        }
    }
}

/// Provision one user now, whatever the target's state
///
/// Every exchange is returned (credentials left out) and recorded as an event.
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/scim/provision", operation_id = "provisionScim", tag = "scim",
    params(AppSlug),
    request_body = ActionBody,
    responses(
        (status = 200, description = "OK", body = ScimProvision),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn provision(db: &Db, key: &SealKey, slug: &str, body: Option<ActionBody>) -> ApiResult {
    let Some(username) = body.and_then(|b| b.username) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"username\": \"...\"} as JSON",
        ));
    };
    let t = control::live(db, key, slug).await?;
    let (report, stopped) = control::provision(db, &t, &username).await?;
    ok(ScimProvision {
        username,
        decision: report.decision,
        stopped,
        exchanges: report.exchanges.iter().map(ScimExchange::from).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_actions_parse_once() {
        let words = [
            ("activate", Action::Switch(Switch::Activate)),
            ("deactivate", Action::Switch(Switch::Deactivate)),
            ("resume", Action::Switch(Switch::Resume)),
            ("approve", Action::Approve),
            ("reject", Action::Reject),
            ("sync", Action::Sync),
            ("plan", Action::Plan),
            ("provision", Action::Provision),
        ];
        for (w, a) in words {
            assert_eq!(Action::parse(w), Some(a), "{w}");
        }
        for bad in ["", "delete", "Sync", "quarantine", "pause"] {
            assert_eq!(Action::parse(bad), None, "{bad:?}");
        }
    }
}
