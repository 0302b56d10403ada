//! `/login`: the sign-in form and its submission (PRODUCT §3.2, SECURITY 11–12).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::client::ClientAddr;
use super::form::{safe_next, ClientInfo, HtmlForm};
use super::pages::{render, LoginPage};
use crate::app::AppState;
use crate::auth::login::{self, LoginOutcome};
use crate::auth::mfa;
use crate::auth::password::Password;
use crate::auth::session::{self, Strength};
use crate::error::AppError;

const REFUSED: &str = "Wrong username or password.";

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    logged_out: Option<String>,
    /// Set after a password was chosen through a reset or invitation link.
    password_set: Option<String>,
    /// Set by SSO when the application asked for a fresh sign-in (`ForceAuthn`).
    reauth: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let next = safe_next(q.next.as_deref());
    let mut username = String::new();
    let mut notice = q.logged_out.map(|_| "You have signed out.".to_string());
    if q.password_set.is_some() {
        notice = Some("Your password is set: sign in with it.".into());
    }
    if let Some(user) = session::current_user(&session, &state.db).await? {
        if q.reauth.is_none() {
            return Ok(Redirect::to(&next).into_response());
        }
        username = user.username;
        notice = Some("The application asks you to enter your password again.".into());
    }
    let page = LoginPage {
        csrf: session::csrf_token(&session).await?,
        next,
        username,
        error: None,
        notice,
        passkeys: state.rp.available(),
        forgot: crate::mail::settings::ready(&state.db).await,
    };
    Ok(super::passkey::with_script(render(&page)))
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    session: Session,
    ClientInfo(client): ClientInfo,
    HtmlForm(form): HtmlForm<LoginForm>,
) -> Result<Response, AppError> {
    if !session::csrf_ok(&session, &form.csrf).await? {
        return Err(AppError::Csrf);
    }
    let next = safe_next(form.next.as_deref());
    let password = Password::typed(form.password);
    let outcome = login::check(
        &state.db,
        &state.config.login,
        form.username.trim(),
        &password,
        ip,
    )
    .await?;
    let (status, error) = match outcome {
        LoginOutcome::Success(user) => {
            if mfa::factors(&state.db, user.id).await?.any() {
                session::await_second_factor(&session, &user, &next).await?;
                return Ok(Redirect::to("/login/mfa").into_response());
            }
            session::establish(&session, &user, Strength::Password).await?;
            session::note_client(&session, &client).await?;
            // A password that must change first: the page at `next` sends the browser to the
            // account page and back (`auth::session::Gate`, the SSO decision).
            return Ok(Redirect::to(&next).into_response());
        }
        LoginOutcome::Refused => (StatusCode::UNAUTHORIZED, REFUSED.to_string()),
        LoginOutcome::Locked(left) => {
            let minutes = left.as_secs().div_ceil(60).max(1);
            let msg =
                format!("Too many failed sign-in attempts. Try again in {minutes} minute(s).");
            (StatusCode::TOO_MANY_REQUESTS, msg)
        }
    };
    let page = LoginPage {
        csrf: session::csrf_token(&session).await?,
        next,
        username: form.username,
        error: Some(error),
        notice: None,
        passkeys: state.rp.available(),
        forgot: crate::mail::settings::ready(&state.db).await,
    };
    Ok((status, super::passkey::with_script(render(&page))).into_response())
}
