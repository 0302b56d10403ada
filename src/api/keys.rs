//! `/api/v1/keys`: the IdP signing keys and their rollover (stage the next key, published in
//! metadata before it signs; then activate it), as `sesame cert` does; and
//! `/api/v1/apps/{slug}/keys`: an app's own key, as `sesame cert ... --app` does.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::{AppSlug, BodyRefusals, Conflict, NotFound, Refusals};
use super::{ok, Admin, ApiError, ApiResult, MaybeBody};
use crate::app::AppState;
use crate::saml::keys::{KeyKind, KeyScope, KeySet, SigningKey as Key};
use crate::saml::rollover::{self, RolloverError};

/// The active signing key and the staged next one, if any.
#[derive(Serialize, ToSchema)]
pub struct SigningKeys {
    active: SigningKey,
    next: Option<SigningKey>,
}

/// A signing key, by its certificate.
#[derive(Serialize, ToSchema)]
pub struct SigningKey {
    kind: KeyKind,
    sha256_fingerprint: String,
    /// The certificate's notAfter, as OpenSSL prints it.
    not_after: String,
    certificate_pem: String,
}

impl From<&Key> for SigningKey {
    fn from(k: &Key) -> Self {
        SigningKey {
            kind: k.kind,
            sha256_fingerprint: k.fingerprint.clone(),
            not_after: k.cert.not_after().to_string(),
            certificate_pem: k.cert_pem.clone(),
        }
    }
}

pub fn view(set: &KeySet) -> SigningKeys {
    SigningKeys {
        active: (&set.active).into(),
        next: set.next.as_ref().map(SigningKey::from),
    }
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

/// The active signing key and the staged next one
#[utoipa::path(
    get, path = "/api/v1/keys", operation_id = "getSigningKeys", tag = "keys",
    responses(
        (status = 200, description = "OK", body = SigningKeys),
        Refusals,
    ),
)]
pub async fn show(_: Admin, State(state): State<AppState>) -> ApiResult {
    ok(view(&state.keys.get()))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StageNext)]
pub struct StageBody {
    /// ECDSA P-256 instead of RSA-2048.
    #[serde(default)]
    ec: bool,
}

/// Create the next signing key: published in metadata, not yet signing
#[utoipa::path(
    post, path = "/api/v1/keys/stage-next", operation_id = "stageNextKey", tag = "keys",
    request_body(content = Option<StageBody>, description = "Optional."),
    responses(
        (status = 200, description = "OK", body = SigningKeys),
        Conflict, BodyRefusals, Refusals,
    ),
)]
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

/// Sign with the staged next key from now on
#[utoipa::path(
    post, path = "/api/v1/keys/activate-next", operation_id = "activateNextKey", tag = "keys",
    responses(
        (status = 200, description = "OK", body = SigningKeys),
        Conflict, Refusals,
    ),
)]
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

/// The keys an app signs with and publishes: its own, or the shared ones.
#[derive(Serialize, ToSchema)]
pub struct AppSigningKeys {
    #[serde(flatten)]
    keys: SigningKeys,
    /// true: the app signs with its own key; false: with the shared IdP key (shown).
    own: bool,
}

fn app_view(state: &AppState, slug: &str) -> AppSigningKeys {
    AppSigningKeys {
        keys: view(&state.keys.for_app(slug)),
        own: state.keys.own(slug).is_some(),
    }
}

/// The keys an app signs with: its own, or the shared ones
#[utoipa::path(
    get, path = "/api/v1/apps/{slug}/keys", operation_id = "getAppSigningKeys", tag = "keys",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = AppSigningKeys),
        NotFound, Refusals,
    ),
)]
pub async fn app_show(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult {
    crate::directory::apps::get(&state.db, &slug).await?;
    ok(app_view(&state, &slug))
}

/// Give the app its own signing key (RSA-2048, or ECDSA P-256 with ec); it signs with it at once
#[utoipa::path(
    put, path = "/api/v1/apps/{slug}/keys", operation_id = "giveAppOwnKey", tag = "keys",
    params(AppSlug),
    request_body(content = Option<StageBody>, description = "Optional."),
    responses(
        (status = 200, description = "OK", body = AppSigningKeys),
        NotFound, Conflict, BodyRefusals, Refusals,
    ),
)]
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

/// The app signs with the shared IdP key again; its own key is removed
#[utoipa::path(
    delete, path = "/api/v1/apps/{slug}/keys", operation_id = "useSharedKey", tag = "keys",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = AppSigningKeys),
        NotFound, Conflict, Refusals,
    ),
)]
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

/// Stage the next key of an app with its own key
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/keys/stage-next",
    operation_id = "stageNextAppKey", tag = "keys",
    params(AppSlug),
    request_body(content = Option<StageBody>, description = "Optional."),
    responses(
        (status = 200, description = "OK", body = AppSigningKeys),
        NotFound, Conflict, BodyRefusals, Refusals,
    ),
)]
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

/// The app's staged next key signs from now on
#[utoipa::path(
    post, path = "/api/v1/apps/{slug}/keys/activate-next",
    operation_id = "activateNextAppKey", tag = "keys",
    params(AppSlug),
    responses(
        (status = 200, description = "OK", body = AppSigningKeys),
        NotFound, Conflict, Refusals,
    ),
)]
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
