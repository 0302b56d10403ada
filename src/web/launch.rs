//! `/saml2/{slug}/launch`: where a portal tile points. It checks the assignment rule now;
//! sending the IdP-initiated SAML Response is the SSO module's job and is answered here
//! with a clear page until that module is configured for the app.

use axum::extract::{Path, State};
use axum::response::Response;
use tower_sessions::Session;

use super::pages::{render, MessagePage};
use super::portal::require_user;
use crate::app::AppState;
use crate::directory::{access, apps};
use crate::error::AppError;
use crate::store::StoreError;

pub async fn launch(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let here = format!("/saml2/{slug}/launch");
    let user = match require_user(&state, &session, &here).await? {
        Ok(u) => u,
        Err(redirect) => return Ok(redirect),
    };
    let app = apps::get(&state.db, &slug)
        .await
        .map_err(|_| AppError::NotFound("There is no application at this address.".into()))?;
    let mut conn = state.db.pool.acquire().await.map_err(StoreError::from)?;
    if !access::may_use(&mut conn, user.id, app.id).await? {
        return Err(AppError::Forbidden(format!(
            "You do not have access to {}. Ask your administrator to add you to a group that uses it.",
            app.label
        )));
    }
    Ok(render(&MessagePage {
        title: app.label.clone(),
        message: format!("Single sign-on for {} is not set up yet.", app.label),
        hint: Some("Ask your administrator to configure SSO for this application.".into()),
    }))
}
