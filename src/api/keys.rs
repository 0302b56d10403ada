//! `/api/v1/keys`: the IdP signing keys and their rollover (stage the next key, published in
//! metadata before it signs; then activate it), as `sesame cert` does.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ok, Admin, ApiError, ApiResult, MaybeBody};
use crate::app::AppState;
use crate::saml::keys::{KeyKind, KeySet, SigningKey};
use crate::saml::rollover::{self, RolloverError};

fn describe(k: &SigningKey) -> Value {
    json!({
        "kind": k.kind,
        "sha256_fingerprint": k.fingerprint,
        "not_after": k.cert.not_after().to_string(),
        "certificate_pem": k.cert_pem,
    })
}

pub fn view(set: &KeySet) -> Value {
    json!({ "active": describe(&set.active), "next": set.next.as_ref().map(describe) })
}

fn refused(e: RolloverError) -> ApiError {
    match e {
        RolloverError::State(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        RolloverError::Store(s) => s.into(),
        other => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.to_string(),
        ),
    }
}

pub async fn show(_: Admin, State(state): State<AppState>) -> ApiResult {
    ok(view(&state.keys.get()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StageBody {
    /// ECDSA P-256 instead of RSA-2048.
    #[serde(default)]
    ec: bool,
}

pub async fn stage_next(
    admin: Admin,
    State(state): State<AppState>,
    MaybeBody(body): MaybeBody<StageBody>,
) -> ApiResult {
    let kind = if body.unwrap_or_default().ec {
        KeyKind::EcP256
    } else {
        KeyKind::Rsa
    };
    let set = rollover::stage_next(&state.db, &state.keys, &admin.actor, kind)
        .await
        .map_err(refused)?;
    ok(view(&set))
}

pub async fn activate_next(admin: Admin, State(state): State<AppState>) -> ApiResult {
    let set = rollover::activate_next(&state.db, &state.keys, &admin.actor)
        .await
        .map_err(refused)?;
    ok(view(&set))
}
