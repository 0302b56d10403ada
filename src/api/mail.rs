//! `/api/v1/settings/smtp`: the SMTP settings (the password write-only: only whether one is
//! set is returned) and a test mail, as the console's Settings › E-mail page and
//! `sesame smtp` do.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::document::{BodyRefusals, Refusals};
use super::{ok, Admin, ApiError, ApiResult, Body};
use crate::app::AppState;
use crate::mail::settings::{self, SmtpView};
use crate::mail::{outbox, MailError, SmtpChanges};
use crate::scim::secret::Secret;

/// Changes to the SMTP settings; a field left out keeps its value.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SmtpChanges)]
pub struct SmtpBody {
    host: Option<String>,
    port: Option<u16>,
    /// starttls, tls or none (none: a loopback host only, unless allow_plain).
    security: Option<String>,
    username: Option<String>,
    /// Write-only; "" removes it.
    password: Option<String>,
    /// The sender, `sesame@example.com` or `Sesame <sesame@example.com>`.
    from: Option<String>,
    allow_plain: Option<bool>,
    /// Where the daily digest of provisioning failures goes; "" for none.
    digest_to: Option<String>,
}

/// The SMTP settings (never the password)
#[utoipa::path(
    get, path = "/api/v1/settings/smtp", operation_id = "getSmtpSettings", tag = "settings",
    responses(
        (status = 200, description = "OK", body = SmtpView),
        Refusals,
    ),
)]
pub async fn show(_: Admin, State(state): State<AppState>) -> ApiResult {
    let s = settings::load(&state.db).await?;
    ok(SmtpView::from(&s))
}

/// Change the SMTP settings
///
/// An event (smtp_settings_update).
#[utoipa::path(
    put, path = "/api/v1/settings/smtp", operation_id = "setSmtpSettings", tag = "settings",
    request_body = SmtpBody,
    responses(
        (status = 200, description = "OK", body = SmtpView),
        BodyRefusals, Refusals,
    ),
)]
pub async fn set(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<SmtpBody>,
) -> ApiResult {
    let c = SmtpChanges {
        host: b.host,
        port: b.port,
        security: b.security,
        username: b.username,
        password: b.password.map(Secret::new),
        from: b.from,
        allow_plain: b.allow_plain,
        digest_to: b.digest_to,
    };
    let s = settings::update(&state.db, &state.seal, &admin.actor, &c).await?;
    ok(SmtpView::from(&s))
}

/// Where the test mail goes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SmtpTest)]
pub struct TestBody {
    to: String,
}

/// The test mail was queued.
#[derive(Serialize, ToSchema)]
#[schema(as = TestMailQueued)]
pub struct Queued {
    queued: bool,
}

/// Send a test mail
///
/// Queued for the server's mail worker (202): the result is a mail_sent or mail_failed
/// event. 409 when SMTP is not configured.
#[utoipa::path(
    post, path = "/api/v1/settings/smtp/test", operation_id = "sendTestMail", tag = "settings",
    request_body = TestBody,
    responses(
        (status = 202, description = "Queued", body = Queued),
        BodyRefusals, Refusals,
    ),
)]
pub async fn test(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<TestBody>,
) -> ApiResult {
    outbox::queue_test(&state.db, &b.to, &admin.actor.0)
        .await
        .map_err(refused)?;
    Ok((StatusCode::ACCEPTED, Json(Queued { queued: true })).into_response())
}

pub fn refused(e: MailError) -> ApiError {
    match e {
        MailError::NotConfigured => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        MailError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
        MailError::Store(s) => s.into(),
        other => ApiError::new(StatusCode::BAD_GATEWAY, "target_error", other.to_string()),
    }
}
