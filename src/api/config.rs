//! `/api/v1/config`: configuration as code, as `sesame export` and `sesame apply` do it
//! (`crate::declare`). The declaration travels as TOML text inside JSON. Secret references
//! (`{ env = ... }`, `{ file = ... }`) are refused here: the API must not read the server's
//! environment or files on a caller's behalf, so a target keeps its credential.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::{BodyRefusals, Refusals};
use super::{ok, Admin, ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::declare::{self, Applier, Declaration, DeclareError, Kind, Plan};
use crate::directory::Actor;

/// A declaration, as `sesame apply` reads it from a file.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConfigDeclaration)]
pub struct DeclarationBody {
    /// TOML: `[[admin]]`, `[[group]]` and `[[app]]` tables (see the README's
    /// "Configuration as code"); without secret references.
    toml: String,
    /// Also delete the apps and groups it does not declare, and take the admin role from
    /// accounts it does not list.
    #[serde(default)]
    prune: bool,
}

/// The directory as a declaration (no credentials).
#[derive(Serialize, ToSchema)]
pub struct Exported {
    toml: String,
}

/// One step of a plan.
#[derive(Serialize, ToSchema)]
pub struct PlanStep {
    /// create, change or delete.
    kind: String,
    /// The object: "app wiki", "group eng", "admin ops", "app wiki sso".
    what: String,
    detail: String,
}

/// What applying a declaration does (or did).
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    steps: Vec<PlanStep>,
    create: usize,
    change: usize,
    delete: usize,
    /// Steps applied (0 for a plan).
    applied: usize,
}

fn view(plan: &Plan, applied: usize) -> PlanView {
    PlanView {
        steps: plan
            .steps
            .iter()
            .map(|s| PlanStep {
                kind: serde_json::to_value(s.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                what: s.what.clone(),
                detail: s.detail.clone(),
            })
            .collect(),
        create: plan.count(Kind::Create),
        change: plan.count(Kind::Change),
        delete: plan.count(Kind::Delete),
        applied,
    }
}

fn refused(e: DeclareError) -> ApiError {
    match e {
        DeclareError::File(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
        DeclareError::Directory(d) => d.into(),
    }
}

async fn planned(state: &AppState, b: &DeclarationBody) -> Result<Plan, ApiError> {
    let decl = Declaration::parse(&b.toml).map_err(refused)?;
    if decl.refers_to_secrets() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "secret references (env, file) are read only by `sesame apply` on the server; \
             through the API leave token and password out: credentials stay as they are",
        ));
    }
    let dir = std::path::Path::new("/nonexistent");
    declare::plan(&state.db, &state.seal, &decl, dir, b.prune)
        .await
        .map_err(refused)
}

/// The directory as a declaration
///
/// Apps with their SSO and SCIM settings, groups with members, bindings and admins, as
/// `sesame export` writes them; credentials are left out.
#[utoipa::path(
    get, path = "/api/v1/config", operation_id = "exportConfig", tag = "settings",
    responses((status = 200, description = "OK", body = Exported), Refusals),
)]
pub async fn export(_: Admin, State(state): State<AppState>) -> ApiResult {
    let toml = declare::export(&state.db).await.map_err(refused)?;
    ok(Exported { toml })
}

/// Plan a declaration
///
/// What applying it would create, change and delete; nothing is changed.
#[utoipa::path(
    post, path = "/api/v1/config/plan", operation_id = "planConfig", tag = "settings",
    request_body = DeclarationBody,
    responses((status = 200, description = "OK", body = PlanView), BodyRefusals, Refusals),
)]
pub async fn plan(
    _: Admin,
    State(state): State<AppState>,
    Body(b): Body<DeclarationBody>,
) -> ApiResult {
    let plan = planned(&state, &b).await?;
    ok(view(&plan, 0))
}

/// Apply a declaration
///
/// Plans, then applies step by step, each an audit event by `apply:api (<admin>)`. A step
/// that fails stops there (the error names it); what was done stays, and applying the same
/// declaration again continues. A second apply plans nothing.
#[utoipa::path(
    post, path = "/api/v1/config/apply", operation_id = "applyConfig", tag = "settings",
    request_body = DeclarationBody,
    responses((status = 200, description = "Applied", body = PlanView), BodyRefusals, Refusals),
)]
pub async fn apply(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<DeclarationBody>,
) -> ApiResult {
    let plan = planned(&state, &b).await?;
    let shown = view(&plan, 0);
    let applier = Applier {
        db: &state.db,
        key: &state.seal,
        certs_dir: &state.config.certs_dir,
        actor: Actor(format!("apply:api ({})", admin.actor.0)),
    };
    let applied = applier.apply(plan).await;
    if let Some((step, e)) = applied.failed {
        let mut err: ApiError = e.into();
        err.message = format!(
            "applied {} of {} steps; stopped at {} ({}): {}",
            applied.done,
            shown.steps.len(),
            step.what,
            step.detail,
            err.message
        );
        return Err(err);
    }
    ok(PlanView {
        applied: applied.done,
        ..shown
    })
}
