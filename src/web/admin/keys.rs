//! Console: the signing keys and their rollover (stage the next key, then activate it), as
//! `sesame cert` and `/api/v1/keys` do.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::pages::{Chrome, KeysPage};
use super::{done, AdminUser};
use crate::app::AppState;
use crate::error::AppError;
use crate::saml::keys::{self, KeyKind, KeySet, SigningKey};
use crate::store::events::{self, NewEvent};
use crate::store::StoreError;
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

async fn record(
    state: &AppState,
    admin: &AdminUser,
    name: &'static str,
    set: &KeySet,
) -> Result<(), AppError> {
    let mut conn = state.db.pool.acquire().await.map_err(StoreError::from)?;
    let e = NewEvent {
        name,
        actor: admin.actor().0,
        outcome: "success",
        detail: json!({ "active": set.active.fingerprint,
                        "next": set.next.as_ref().map(|k| k.fingerprint.clone()) }),
        ..Default::default()
    };
    events::insert(&mut conn, &e).await?;
    Ok(())
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
    let r = match keys::stage_next(&state.config.certs_dir, kind) {
        Ok(set) => {
            state.keys.refresh();
            record(&state, &admin, "key_stage_next", &set).await?;
            Ok("Next key staged: it is in every app's metadata now; activate it once the SPs have it.".to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    Ok(done(&admin.session, r, "/admin/keys").await)
}

pub async fn activate_next(
    admin: AdminUser,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let r = match keys::activate_next(&state.config.certs_dir) {
        Ok(set) => {
            state.keys.refresh();
            record(&state, &admin, "key_activate_next", &set).await?;
            Ok("The next key signs from now on.".to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    Ok(done(&admin.session, r, "/admin/keys").await)
}
