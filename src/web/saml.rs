//! The public per-app SAML documents: `/saml2/{slug}/metadata` and
//! `/saml2/{slug}/certificate.pem` (what the admin hands to the SP).

use axum::extract::{Path, State};
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

/// The IdP metadata of an app (what `/saml2/{slug}/metadata` serves).
pub async fn app_metadata(
    state: &AppState,
    slug: &str,
) -> Result<String, crate::directory::DirectoryError> {
    let (app, sso) = settings::get(&state.db, slug).await?;
    let base = &state.config.base_url;
    Ok(metadata::idp_metadata(
        &settings::idp_entity_id(base, &app.slug, &sso),
        &settings::sso_url(base, &app.slug),
        &state.keys.get(),
        sso.require_signed_requests,
    ))
}

pub async fn metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let xml = app_metadata(&state, &slug).await.map_err(unknown_app)?;
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
    let pem = state.keys.get().active.cert_pem.clone();
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
