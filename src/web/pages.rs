//! The askama page types (one per template) and rendering. Escaping is askama's
//! HTML escaping; nothing here builds markup by hand.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::directory::{App, User};

/// Renders a page, or a plain 500 if the template fails (which tests would catch).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The CSP of the pages that run one of our own scripts (`passkey.js`, `idm.js`) and let it
/// call back to us: the default one with `script-src` and `connect-src` of our own origin.
pub const SCRIPT_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A page that runs one of our own scripts.
pub fn with_script(mut res: Response) -> Response {
    res.headers_mut().insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(SCRIPT_CSP),
    );
    res
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub next: String,
    pub username: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// Offer "Sign in with a passkey" (passkeys are on).
    pub passkeys: bool,
    /// Offer "Forgot password?" (mail can be sent).
    pub forgot: bool,
}

#[derive(Template)]
#[template(path = "portal.html")]
pub struct PortalPage {
    pub user: User,
    pub csrf: String,
    pub tiles: Vec<App>,
    /// The search (shown once there are more than a few tiles), and how many there are in all.
    pub q: String,
    pub total: usize,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub user: User,
    pub csrf: String,
    pub min_len: usize,
    /// Where to go on after a password change that was asked for.
    pub next: Option<String>,
    /// The user's live sessions, this one marked.
    pub sessions: Vec<crate::auth::session::SessionInfo>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
pub struct LoginMfaPage {
    pub csrf: String,
    pub next: String,
    pub username: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// The user has a passkey (and passkeys are on).
    pub passkey: bool,
    pub totp: bool,
}

#[derive(Template)]
#[template(path = "account_mfa.html")]
pub struct AccountMfaPage {
    pub user: User,
    pub csrf: String,
    pub next: String,
    /// The MFA policy asks this user for a second factor.
    pub required: bool,
    pub factors: crate::auth::mfa::Factors,
    pub enrolment: Option<crate::auth::mfa::Enrolment>,
    pub passkeys: Vec<crate::auth::passkey::PasskeyInfo>,
    /// Why passkeys cannot be used here, when they cannot.
    pub passkeys_off: Option<String>,
    /// Shown once, right after they were made.
    pub recovery_codes: Option<Vec<String>>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "forgot.html")]
pub struct ForgotPage {
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "set_password.html")]
pub struct SetPasswordPage {
    pub csrf: String,
    /// Where the form posts: the link's own path.
    pub action: String,
    pub invite: bool,
    pub username: String,
    pub min_len: usize,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub message: String,
    pub hint: Option<String>,
}
