//! `/api/v1/scim-sources`: the inbound SCIM sources (`sesame scim-source`, the console's
//! SCIM sources page). A source's token is in the answer to its creation only.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::document::{BodyRefusals, Conflict, Invalid, NotFound, Refusals};
use super::{created, no_content, ok, Admin, ApiResult, Body};
use crate::app::AppState;
use crate::inbound::sources;
use crate::store::inbound::SourceRow;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewScimSource)]
pub struct SourceBody {
    /// 1-64 letters, digits, '-', '_' or '.'; recorded as the actor `scim:<name>`.
    name: String,
}

/// A new source and its token.
#[derive(Serialize, ToSchema)]
pub struct CreatedSource {
    name: String,
    /// The bearer token for `/scim/v2`: shown here only, stored hashed.
    token: String,
    /// The base URL to give the HR system or IdP.
    scim_url: String,
}

/// `{name}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(dead_code, reason = "a parameter's document: handlers take the text")]
pub struct SourceName {
    /// A source name.
    pub name: String,
}

/// List inbound SCIM sources (never their tokens)
#[utoipa::path(
    get, path = "/api/v1/scim-sources", operation_id = "listScimSources", tag = "scim",
    responses((status = 200, description = "OK", body = [SourceRow]), Refusals),
)]
pub async fn list(_: Admin, State(state): State<AppState>) -> ApiResult {
    ok(sources::list(&state.db).await?)
}

/// Create an inbound SCIM source
///
/// The answer holds the source's token, once.
#[utoipa::path(
    post, path = "/api/v1/scim-sources", operation_id = "createScimSource", tag = "scim",
    request_body = SourceBody,
    responses(
        (status = 201, description = "Created.", body = CreatedSource),
        Invalid, Conflict, BodyRefusals, Refusals,
    ),
)]
pub async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<SourceBody>,
) -> ApiResult {
    let token = sources::create(&state.db, &admin.actor, &b.name).await?;
    created(CreatedSource {
        scim_url: format!("{}scim/v2", state.config.base_url),
        name: b.name,
        token,
    })
}

/// Revoke an inbound SCIM source
///
/// Its token stops working and the users and groups it created are released to hand
/// management.
#[utoipa::path(
    delete, path = "/api/v1/scim-sources/{name}", operation_id = "revokeScimSource", tag = "scim",
    params(SourceName),
    responses((status = 204, description = "Revoked."), NotFound, Refusals),
)]
pub async fn revoke(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    sources::revoke(&state.db, &admin.actor, &name).await?;
    no_content()
}
