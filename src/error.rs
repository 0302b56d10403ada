//! The error type of the web pages: each variant is an HTML page a person can act on.
//! Internal causes are logged and never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::auth::session::SessionError;
use crate::directory::DirectoryError;
use crate::store::StoreError;
use crate::web::pages::{self, MessagePage};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A SAML request was refused before its ACS URL was trusted (SECURITY 5).
    #[error("saml request refused: {0}")]
    SamlRequest(String),
    /// The form's CSRF token did not match the session's.
    #[error("csrf token mismatch")]
    Csrf,
    #[error("internal: {0}")]
    Internal(String),
}

impl From<DirectoryError> for AppError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(m) | DirectoryError::Duplicate(m) => AppError::BadRequest(m),
            DirectoryError::NotFound(m) => AppError::NotFound(m),
            DirectoryError::Store(s) => AppError::Internal(s.to_string()),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, message, hint) = match &self {
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone(), None),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "Access denied", m.clone(), None),
            AppError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "That did not work",
                m.clone(),
                None,
            ),
            AppError::SamlRequest(m) => (
                StatusCode::BAD_REQUEST,
                "The sign-in request was refused",
                m.clone(),
                Some(
                    "Start again from the application or from your sesame portal. If it keeps \
                     happening, tell your administrator what this page says."
                        .to_string(),
                ),
            ),
            AppError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The page you submitted was opened in another session or too long ago.".to_string(),
                Some("Go back, reload the page and try again.".to_string()),
            ),
            AppError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "sesame could not complete this request.".to_string(),
                    Some(
                        "Try again in a moment; if it keeps happening, tell your administrator."
                            .to_string(),
                    ),
                )
            }
        };
        let page = MessagePage {
            title: title.to_string(),
            message,
            hint,
        };
        (status, pages::render(&page)).into_response()
    }
}
