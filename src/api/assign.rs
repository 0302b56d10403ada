//! `/api/v1/apps/{slug}/users/{username}`: a user assigned to an app directly, beside the
//! groups bound to it (the same access rule decides), as the console's User Groups tab and
//! `sesame app assign|unassign` do.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::document::{AppSlug, NotFound, Refusals, Username};
use super::{ok, Admin, ApiResult};
use crate::app::AppState;
use crate::directory::apps;

/// Whether a user is assigned to an app directly.
#[derive(Serialize, ToSchema)]
pub struct Assignment {
    app: String,
    username: String,
    assigned: bool,
    /// false when it was already so (no event is written).
    changed: bool,
}

async fn set(admin: Admin, state: AppState, slug: String, username: String, on: bool) -> ApiResult {
    let changed = apps::set_assignment(&state.db, &admin.actor, &slug, &username, on).await?;
    ok(Assignment {
        app: slug,
        username,
        assigned: on,
        changed,
    })
}

/// Assign a user to the app directly
///
/// No body. The user may then use the app (while active, and the app enabled), and is
/// provisioned to it when Identity Management is active.
#[utoipa::path(
    put, path = "/api/v1/apps/{slug}/users/{username}", operation_id = "assignUser", tag = "apps",
    params(AppSlug, Username),
    responses((status = 200, description = "OK", body = Assignment), NotFound, Refusals),
)]
pub async fn assign(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, username)): Path<(String, String)>,
) -> ApiResult {
    set(admin, state, slug, username, true).await
}

/// Take a direct assignment back
///
/// No body. A group bound to the app may still give the user access.
#[utoipa::path(
    delete, path = "/api/v1/apps/{slug}/users/{username}", operation_id = "unassignUser", tag = "apps",
    params(AppSlug, Username),
    responses((status = 200, description = "OK", body = Assignment), NotFound, Refusals),
)]
pub async fn unassign(
    admin: Admin,
    State(state): State<AppState>,
    Path((slug, username)): Path<(String, String)>,
) -> ApiResult {
    set(admin, state, slug, username, false).await
}
