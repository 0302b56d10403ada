//! `/api/v1/keys`: the IdP signing keys and their rollover (stage the next key, published in
//! metadata before it signs; then activate it), as `sesame cert` does; and
//! `/api/v1/apps/{slug}/keys`: an app's own key, as `sesame cert ... --app` does.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ok, Admin, ApiError, ApiResult, MaybeBody};
use crate::app::AppState;
use crate::saml::keys::{KeyKind, KeyScope, KeySet, SigningKey};
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
    let kind = kind_of(body);
    let set = rollover::stage_next(
        &state.db,
        state.keys.dir(),
        &admin.actor,
        &KeyScope::Shared,
        kind,
    )
    .await
    .map_err(refused)?;
    ok(view(&set))
}

pub async fn activate_next(admin: Admin, State(state): State<AppState>) -> ApiResult {
    let set = rollover::activate_next(&state.db, state.keys.dir(), &admin.actor, &KeyScope::Shared)
        .await
        .map_err(refused)?;
    ok(view(&set))
}

fn kind_of(body: Option<StageBody>) -> KeyKind {
    if body.unwrap_or_default().ec {
        KeyKind::EcP256
    } else {
        KeyKind::Rsa
    }
}

/// An app's keys: its own (`own: true`), or the shared ones it signs with.
fn app_view(state: &AppState, slug: &str) -> Value {
    let own = state.keys.own(slug).is_some();
    let mut v = view(&state.keys.for_app(slug));
    v["own"] = json!(own);
    v
}

pub async fn app_show(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    crate::directory::apps::get(&state.db, &slug).await?;
    ok(app_view(&state, &slug))
}

pub async fn app_own(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    MaybeBody(body): MaybeBody<StageBody>,
) -> ApiResult {
    crate::directory::apps::get(&state.db, &slug).await?;
    rollover::own_key(
        &state.db,
        state.keys.dir(),
        &admin.actor,
        &slug,
        kind_of(body),
    )
    .await
    .map_err(refused)?;
    ok(app_view(&state, &slug))
}

pub async fn app_shared(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    crate::directory::apps::get(&state.db, &slug).await?;
    rollover::shared_key(&state.db, state.keys.dir(), &admin.actor, &slug)
        .await
        .map_err(refused)?;
    ok(app_view(&state, &slug))
}

pub async fn app_stage_next(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    MaybeBody(body): MaybeBody<StageBody>,
) -> ApiResult {
    crate::directory::apps::get(&state.db, &slug).await?;
    let scope = KeyScope::App(slug.clone());
    rollover::stage_next(
        &state.db,
        state.keys.dir(),
        &admin.actor,
        &scope,
        kind_of(body),
    )
    .await
    .map_err(refused)?;
    ok(app_view(&state, &slug))
}

pub async fn app_activate_next(
    admin: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    crate::directory::apps::get(&state.db, &slug).await?;
    let scope = KeyScope::App(slug.clone());
    rollover::activate_next(&state.db, state.keys.dir(), &admin.actor, &scope)
        .await
        .map_err(refused)?;
    ok(app_view(&state, &slug))
}
