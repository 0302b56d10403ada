//! Console: inbound SCIM sources (create → the token shown once, revoke), as
//! `sesame scim-source` and `/api/v1/scim-sources` do.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Chrome, SourcesPage};
use super::{done, AdminUser};
use crate::app::AppState;
use crate::error::AppError;
use crate::inbound::sources;
use crate::web::form::HtmlForm;
use crate::web::pages::render;

async fn page(
    admin: &AdminUser,
    state: &AppState,
    new_token: Option<(String, String)>,
) -> Result<Response, AppError> {
    Ok(render(&SourcesPage {
        c: Chrome::new(admin, "sources").await,
        sources: sources::list(&state.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
        scim_url: format!("{}scim/v2", state.config.base_url),
        new_token,
    }))
}

pub async fn show(admin: AdminUser, State(state): State<AppState>) -> Result<Response, AppError> {
    page(&admin, &state, None).await
}

#[derive(Deserialize)]
pub struct NewSource {
    name: String,
}

/// Creates a source and shows its token on this answer only (never in a redirect or the
/// session).
pub async fn create(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<NewSource>,
) -> Result<Response, AppError> {
    let name = f.name.trim().to_string();
    match sources::create(&state.db, &admin.actor(), &name).await {
        Ok(token) => page(&admin, &state, Some((name, token))).await,
        Err(e) => Ok(done(&admin.session, Err(e.to_string()), "/admin/scim-sources").await),
    }
}

pub async fn revoke(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let r = sources::revoke(&state.db, &admin.actor(), &name)
        .await
        .map(|_| {
            format!(
                "Revoked {name}: its token no longer works and what it created is yours to manage."
            )
        })
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, "/admin/scim-sources").await)
}
