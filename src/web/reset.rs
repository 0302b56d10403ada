//! `/forgot`, `/reset/{token}` and `/invite/{token}`: asking for a password-reset link, and
//! setting a password through a reset or invitation link (`auth::reset`). The answer to
//! `/forgot` is the same page whether or not the account exists.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::form::HtmlForm;
use super::pages::{render, ForgotPage, MessagePage, SetPasswordPage};
use crate::app::AppState;
use crate::auth::reset::{self, LinkError, Purpose, Requested};
use crate::auth::session;
use crate::error::AppError;

pub async fn forgot(session: Session) -> Result<Response, AppError> {
    Ok(render(&ForgotPage {
        csrf: session::csrf_token(&session).await?,
    }))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    csrf: String,
    who: String,
}

pub async fn request(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    HtmlForm(f): HtmlForm<ForgotForm>,
) -> Result<Response, AppError> {
    if !session::csrf_ok(&session, &f.csrf).await? {
        return Err(AppError::Csrf);
    }
    let r = reset::request(
        &state.db,
        &state.seal,
        &state.config.base_url,
        &f.who,
        peer.ip(),
    )
    .await?;
    let page = match r {
        Requested::Answered => MessagePage {
            title: "Check your mail".into(),
            message: format!(
                "If an account with that username or e-mail address exists and has an e-mail address, a link to choose a new password is on its way. It works once, for {} minutes.",
                reset::RESET_MINUTES
            ),
            hint: Some("No mail after a few minutes? Check the spam folder, or ask your administrator.".into()),
        },
        Requested::Throttled => {
            let page = MessagePage {
                title: "Too many requests".into(),
                message: "Too many password-reset requests for this account or from your network. Try again in an hour.".into(),
                hint: None,
            };
            return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)).into_response());
        }
    };
    Ok(render(&page))
}

fn gone() -> Response {
    let page = MessagePage {
        title: "Link not valid".into(),
        message: LinkError::Gone.to_string(),
        hint: Some("Ask for a new link: “Forgot password?” on the sign-in page, or your administrator for an invitation.".into()),
    };
    (StatusCode::GONE, render(&page)).into_response()
}

async fn form(
    state: &AppState,
    session: &Session,
    token: &str,
    p: Purpose,
    error: Option<String>,
) -> Result<Response, AppError> {
    let Some(user) = reset::open(&state.db, token, p).await? else {
        return Ok(gone());
    };
    let page = SetPasswordPage {
        csrf: session::csrf_token(session).await?,
        action: format!("/{}/{token}", p.as_str()),
        invite: p == Purpose::Invite,
        username: user.username,
        min_len: crate::auth::password::min_len(),
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)).into_response())
}

pub async fn show_reset(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    form(&state, &session, &token, Purpose::Reset, None).await
}

pub async fn show_invite(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    form(&state, &session, &token, Purpose::Invite, None).await
}

#[derive(Deserialize)]
pub struct SetForm {
    csrf: String,
    password: String,
    confirm: String,
}

pub async fn set_reset(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    HtmlForm(f): HtmlForm<SetForm>,
) -> Result<Response, AppError> {
    set(state, session, token, Purpose::Reset, f).await
}

pub async fn set_invite(
    State(state): State<AppState>,
    session: Session,
    Path(token): Path<String>,
    HtmlForm(f): HtmlForm<SetForm>,
) -> Result<Response, AppError> {
    set(state, session, token, Purpose::Invite, f).await
}

async fn set(
    state: AppState,
    session: Session,
    token: String,
    p: Purpose,
    f: SetForm,
) -> Result<Response, AppError> {
    if !session::csrf_ok(&session, &f.csrf).await? {
        return Err(AppError::Csrf);
    }
    if f.password != f.confirm {
        let m = "The two passwords differ.".to_string();
        return form(&state, &session, &token, p, Some(m)).await;
    }
    match reset::complete(&state.db, &state.seal, &token, p, f.password).await {
        Ok(_) => Ok(Redirect::to("/login?password_set=1").into_response()),
        Err(LinkError::Gone) => Ok(gone()),
        Err(LinkError::Password(m)) => form(&state, &session, &token, p, Some(m)).await,
        Err(LinkError::Directory(e)) => Err(e.into()),
    }
}
