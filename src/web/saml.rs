//! The public per-app SAML documents: `/saml2/{slug}/metadata` and
//! `/saml2/{slug}/certificate.pem` (what the admin hands to the SP).

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::AppError;
use crate::saml::{metadata, settings};

fn unknown_app(e: crate::directory::DirectoryError) -> AppError {
    match e {
        crate::directory::DirectoryError::Store(s) => s.into(),
        _ => AppError::NotFound("There is no application at this address.".into()),
    }
}

/// The IdP metadata of an app (what `/saml2/{slug}/metadata` serves), signed with the
/// app's key when asked (`?signed=1`).
pub async fn app_metadata(
    state: &AppState,
    slug: &str,
    signed: bool,
) -> Result<String, crate::directory::DirectoryError> {
    let (app, sso) = settings::get(&state.db, slug).await?;
    let base = &state.config.base_url;
    let keys = state.keys.for_app(&app.slug);
    let sign_with = signed.then_some(&keys.active);
    metadata::idp_metadata(
        &settings::idp_entity_id(base, &app.slug, &sso),
        &settings::sso_url(base, &app.slug),
        &keys,
        sso.require_signed_requests,
        sign_with,
    )
    .map_err(|e| crate::directory::DirectoryError::Invalid(format!("signing the metadata: {e}")))
}

pub async fn metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let signed = query
        .unwrap_or_default()
        .split('&')
        .any(|p| p == "signed=1" || p == "signed=true");
    let xml = app_metadata(&state, &slug, signed)
        .await
        .map_err(unknown_app)?;
    Ok((
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response())
}

pub async fn certificate(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    settings::get(&state.db, &slug).await.map_err(unknown_app)?;
    let pem = state.keys.for_app(&slug).active.cert_pem.clone();
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"certificate.pem\"",
            ),
        ],
        pem,
    )
        .into_response())
}
