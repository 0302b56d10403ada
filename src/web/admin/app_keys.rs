//! Console: an app's own signing key (JumpCloud's per-app certificate), its rollover, and
//! going back to the shared IdP key; as `sesame cert ... --app` and
//! `/api/v1/apps/{slug}/keys` do. The SSO tab shows the state.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::{done, AdminUser};
use crate::app::AppState;
use crate::error::AppError;
use crate::saml::keys::{KeyKind, KeyScope};
use crate::saml::rollover;
use crate::web::form::HtmlForm;

#[derive(Deserialize)]
pub struct KindForm {
    #[serde(default)]
    kind: String,
}

fn kind(f: &KindForm) -> KeyKind {
    if f.kind == "ec" {
        KeyKind::EcP256
    } else {
        KeyKind::Rsa
    }
}

fn back(slug: &str) -> String {
    format!("/admin/apps/{slug}/sso")
}

pub async fn own(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    HtmlForm(f): HtmlForm<KindForm>,
) -> Result<Response, AppError> {
    crate::directory::apps::get(&state.db, &slug).await?;
    let r = rollover::own_key(&state.db, state.keys.dir(), &admin.actor(), &slug, kind(&f))
        .await
        .map(|_| {
            "This app signs with its own key from now on: give its SP the new certificate.pem or metadata."
                .to_string()
        })
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &back(&slug)).await)
}

pub async fn shared(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    crate::directory::apps::get(&state.db, &slug).await?;
    let r = rollover::shared_key(&state.db, state.keys.dir(), &admin.actor(), &slug)
        .await
        .map(|_| "This app signs with the shared IdP key again.".to_string())
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &back(&slug)).await)
}

pub async fn stage_next(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    HtmlForm(f): HtmlForm<KindForm>,
) -> Result<Response, AppError> {
    crate::directory::apps::get(&state.db, &slug).await?;
    let scope = KeyScope::App(slug.clone());
    let r = rollover::stage_next(
        &state.db,
        state.keys.dir(),
        &admin.actor(),
        &scope,
        kind(&f),
    )
    .await
    .map(|_| "Next key staged: it is in this app's metadata now.".to_string())
    .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &back(&slug)).await)
}

pub async fn activate_next(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    crate::directory::apps::get(&state.db, &slug).await?;
    let scope = KeyScope::App(slug.clone());
    let r = rollover::activate_next(&state.db, state.keys.dir(), &admin.actor(), &scope)
        .await
        .map(|_| "The app's next key signs from now on.".to_string())
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &back(&slug)).await)
}
