//! `/account`: the signed-in user's own details and password change.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::form::{safe_next, HtmlForm};
use super::pages::{render, AccountPage};
use super::portal::{posting_user, require_user};
use crate::app::AppState;
use crate::auth::password::{self, Password};
use crate::auth::session;
use crate::directory::{users, Actor, DirectoryError};
use crate::error::AppError;
use crate::store;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let user = match require_user(&state, &session, "/account").await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let csrf = session::csrf_token(&session).await?;
    Ok(render(&AccountPage {
        sessions: session::list(&session, &state.db, user.id).await?,
        user,
        csrf,
        min_len: password::min_len(),
        next: q.next.map(|n| safe_next(Some(&n))),
        error: None,
        notice: None,
    }))
}

#[derive(Deserialize)]
pub struct EndForm {
    csrf: String,
    #[serde(default)]
    key: String,
}

/// Signs out one of the user's other sessions (another browser, a lost laptop).
pub async fn end_session(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<EndForm>,
) -> Result<Response, AppError> {
    let user = match posting_user(&state, &session, &form.csrf, "/account").await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let ended = session::end_one(&state.db, user.id, &form.key).await?;
    record_end(&state, &user.username, if ended { 1 } else { 0 }).await?;
    Ok(Redirect::to("/account").into_response())
}

/// Signs out every other session of the user.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<EndForm>,
) -> Result<Response, AppError> {
    let user = match posting_user(&state, &session, &form.csrf, "/account").await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let ended = session::end_others(Some(&session), &state.db, user.id).await?;
    record_end(&state, &user.username, ended).await?;
    Ok(Redirect::to("/account").into_response())
}

async fn record_end(state: &AppState, username: &str, ended: u64) -> Result<(), AppError> {
    users::record_sign_out(&state.db, &Actor::user(username), username, ended).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
    /// Where the user was going when a new password was asked for.
    next: Option<String>,
}

pub async fn change_password(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<PasswordForm>,
) -> Result<Response, AppError> {
    let user = match posting_user(&state, &session, &form.csrf, "/account").await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let mut conn = state.db.read().await?;
    let stored = store::users::credentials(&mut conn, &user.username.to_ascii_lowercase())
        .await?
        .and_then(|(_, h)| h);
    drop(conn);
    let stored_again = stored.clone();
    let result = if !password::verify(&Password::typed(form.current), stored).await {
        Err("Your current password is not right.".to_string())
    } else if form.new != form.confirm {
        Err("The two new passwords differ.".to_string())
    } else if password::verify(&Password::typed(form.new.clone()), stored_again).await {
        Err("Choose a new password, not the one you have now.".to_string())
    } else {
        match Password::new(form.new) {
            Ok(p) => match users::set_password(
                &state.db,
                &state.seal,
                &Actor::user(&user.username),
                &user.username,
                &p,
                false,
            )
            .await
            {
                Ok(()) => Ok(()),
                Err(DirectoryError::Invalid(m)) => Err(m),
                Err(e) => return Err(e.into()),
            },
            Err(e) => Err(e.to_string()),
        }
    };
    let (status, error, notice) = match result {
        Ok(()) => {
            // A password change starts a fresh session id (SECURITY 11).
            // The password change ended every session; this browser gets a new one.
            let strength = session::sso_state(&session).await?.strength;
            session::establish(&session, &user, strength).await?;
            // On to where the user was going (the app, the SP's request, the console).
            if let Some(next) = form.next.as_deref().filter(|n| !n.is_empty()) {
                return Ok(Redirect::to(&safe_next(Some(next))).into_response());
            }
            (
                StatusCode::OK,
                None,
                Some("Your password has been changed.".to_string()),
            )
        }
        Err(m) => (StatusCode::BAD_REQUEST, Some(m), None),
    };
    let user = users::get(&state.db, &user.username).await?;
    let csrf = session::csrf_token(&session).await?;
    Ok((
        status,
        render(&AccountPage {
            sessions: session::list(&session, &state.db, user.id).await?,
            user,
            csrf,
            min_len: password::min_len(),
            next: form
                .next
                .filter(|n| !n.is_empty())
                .map(|n| safe_next(Some(&n))),
            error,
            notice,
        }),
    )
        .into_response())
}
