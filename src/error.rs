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
    /// The database did not answer in time (overload, or a lock held by another process):
    /// a 503 with `Retry-After`, and the person tries again.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECS: u32 = 2;

/// 503s answered since start (logged with each, so overload shows in the log).
static UNAVAILABLE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts and logs one "busy" answer; returns the count so far.
pub fn count_unavailable(cause: &str) -> u64 {
    let n = UNAVAILABLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    tracing::warn!(%cause, total = n, "answered 503: the database is busy");
    n
}

/// The 503 page every busy answer gets, whatever produced it.
pub fn unavailable_page() -> Response {
    let page = MessagePage {
        title: "sesame is busy".to_string(),
        message: "sesame could not answer in time: it is handling more requests than it can right now."
            .to_string(),
        hint: Some(format!(
            "Wait {RETRY_AFTER_SECS} seconds and try again. If you were submitting a form, check whether it took effect before sending it again."
        )),
    };
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, pages::render(&page)).into_response();
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(RETRY_AFTER_SECS),
    );
    res
}

impl From<DirectoryError> for AppError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Invalid(m)
            | DirectoryError::Duplicate(m)
            | DirectoryError::Managed(m) => AppError::BadRequest(m),
            DirectoryError::NotFound(m) => AppError::NotFound(m),
            DirectoryError::Store(s) => s.into(),
        }
    }
}

impl From<crate::saml::flow::FlowError> for AppError {
    fn from(e: crate::saml::flow::FlowError) -> Self {
        use crate::saml::flow::FlowError as F;
        match e {
            F::NotFound(m) => AppError::NotFound(m),
            F::Busy(m) => AppError::Unavailable(m),
            F::Internal(m) => AppError::Internal(m),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_busy() {
            AppError::Unavailable(e.to_string())
        } else {
            AppError::Internal(e.to_string())
        }
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Store(s) => s.into(),
            e if e.is_busy() => AppError::Unavailable(e.to_string()),
            e => AppError::Internal(e.to_string()),
        }
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
            AppError::Unavailable(cause) => {
                count_unavailable(cause);
                return unavailable_page();
            }
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
