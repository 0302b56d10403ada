//! Console: Settings › E-mail, the SMTP settings and "Send test mail", as
//! `sesame smtp set|test` and `/api/v1/settings/smtp` do. The test mail is queued for the
//! mail worker; its result is a `mail_sent` or `mail_failed` event.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Chrome, MailPage};
use super::{done, AdminUser};
use crate::app::AppState;
use crate::error::AppError;
use crate::mail::{outbox, settings, Security, SmtpChanges};
use crate::scim::secret::Secret;
use crate::web::form::HtmlForm;
use crate::web::pages::render;

const HERE: &str = "/admin/settings/email";

pub async fn show(admin: AdminUser, State(state): State<AppState>) -> Result<Response, AppError> {
    let s = settings::load(&state.db).await?;
    Ok(render(&MailPage {
        c: Chrome::new(&admin, "settings").await,
        smtp: settings::SmtpView::from(&s),
        securities: Security::ALL.iter().map(|s| s.as_str()).collect(),
        to: admin.user.email.clone(),
    }))
}

#[derive(Deserialize)]
pub struct SmtpForm {
    host: String,
    port: String,
    security: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    clear_password: Option<String>,
    from: String,
    #[serde(default)]
    allow_plain: Option<String>,
    #[serde(default)]
    digest_to: String,
}

pub async fn update(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<SmtpForm>,
) -> Result<Response, AppError> {
    let Ok(port) = f.port.trim().parse::<u16>() else {
        let m = format!("port {:?} must be a number from 1 to 65535", f.port);
        return Ok(done(&admin.session, Err(m), HERE).await);
    };
    // An empty password field keeps the stored one (it is never shown).
    let password = if f.clear_password.is_some() {
        Some(Secret::new(""))
    } else {
        Some(f.password).filter(|p| !p.is_empty()).map(Secret::new)
    };
    let c = SmtpChanges {
        host: Some(f.host),
        port: Some(port),
        security: Some(f.security),
        username: Some(f.username),
        password,
        from: Some(f.from),
        allow_plain: Some(f.allow_plain.is_some()),
        digest_to: Some(f.digest_to),
    };
    let r = settings::update(&state.db, &state.seal, &admin.actor(), &c)
        .await
        .map(|_| "E-mail settings saved.".to_string())
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, HERE).await)
}

#[derive(Deserialize)]
pub struct TestForm {
    to: String,
}

pub async fn test(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<TestForm>,
) -> Result<Response, AppError> {
    let r = outbox::queue_test(&state.db, &f.to, &admin.actor().0)
        .await
        .map(|_| {
            "Test mail queued: it is sent within seconds; the Events page shows whether it left (mail_sent or mail_failed).".to_string()
        })
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, HERE).await)
}
