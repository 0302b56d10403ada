//! Console: the signing keys and their rollover (stage the next key, then activate it), as
//! `sesame cert` and `/api/v1/keys` do.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Chrome, KeysPage};
use super::{done, AdminUser};
use crate::app::AppState;
use crate::error::AppError;
use crate::saml::keys::{KeyKind, KeyScope, SigningKey};
use crate::saml::rollover;
use crate::web::form::HtmlForm;
use crate::web::pages::render;

fn facts(k: &SigningKey) -> (String, String, String) {
    let kind = match k.kind {
        KeyKind::Rsa => "RSA-2048",
        KeyKind::EcP256 => "ECDSA P-256",
    };
    (
        kind.into(),
        k.fingerprint.clone(),
        k.cert.not_after().to_string(),
    )
}

pub async fn show(admin: AdminUser, State(state): State<AppState>) -> Result<Response, AppError> {
    let set = state.keys.get();
    Ok(render(&KeysPage {
        c: Chrome::new(&admin, "keys").await,
        active: facts(&set.active),
        next: set.next.as_ref().map(facts),
    }))
}

#[derive(Deserialize)]
pub struct StageForm {
    kind: String,
}

pub async fn stage_next(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<StageForm>,
) -> Result<Response, AppError> {
    let kind = if f.kind == "ec" {
        KeyKind::EcP256
    } else {
        KeyKind::Rsa
    };
    let r = rollover::stage_next(
        &state.db,
        state.keys.dir(),
        &admin.actor(),
        &KeyScope::Shared,
        kind,
    )
    .await
    .map(|_| {
        "Next key staged: it is in every app's metadata now; activate it once the SPs have it."
            .to_string()
    })
    .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, "/admin/keys").await)
}

pub async fn activate_next(
    admin: AdminUser,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let r = rollover::activate_next(
        &state.db,
        state.keys.dir(),
        &admin.actor(),
        &KeyScope::Shared,
    )
    .await
    .map(|_| "The next key signs from now on.".to_string())
    .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, "/admin/keys").await)
}
