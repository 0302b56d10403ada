//! Second factors in the browser: `/login/mfa`, the second step of a sign-in (and a step-up
//! when an app asks for more than the session has), and `/account/mfa`, where a user sets up
//! an authenticator app, sees and renews recovery codes, or removes it. `auth::mfa` decides.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::client::ClientAddr;
use super::form::{safe_next, ClientInfo, HtmlForm};
use super::pages::{render, AccountMfaPage, LoginMfaPage};
use super::passkey::with_script;
use super::portal::require_user;
use crate::app::AppState;
use crate::auth::mfa::{self, Verdict};
use crate::auth::session::{self, Strength};
use crate::directory::User;
use crate::error::AppError;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Whose code is asked for: the user between password and code, or a signed-in user
/// stepping up.
async fn who(state: &AppState, session: &Session) -> Result<Option<(User, bool)>, AppError> {
    if let Some((u, _)) = session::awaiting_second_factor(session, &state.db).await? {
        return Ok(Some((u, true)));
    }
    Ok(session::current_user(session, &state.db)
        .await?
        .map(|u| (u, false)))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let Some((user, pending)) = who(&state, &session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let next = match session::awaiting_second_factor(&session, &state.db).await? {
        Some((_, next)) => safe_next(Some(&next)),
        None => safe_next(q.next.as_deref()),
    };
    let notice = (!pending).then(|| "This application asks for a second step.".to_string());
    let factors = mfa::factors(&state.db, user.id).await?;
    Ok(with_script(render(&LoginMfaPage {
        csrf: session::csrf_token(&session).await?,
        next,
        username: user.username,
        error: None,
        notice,
        passkey: factors.passkeys > 0 && state.rp.available(),
        totp: factors.totp,
    })))
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    session: Session,
    ClientInfo(client): ClientInfo,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Result<Response, AppError> {
    if !session::csrf_ok(&session, &form.csrf).await? {
        return Err(AppError::Csrf);
    }
    let Some((user, pending)) = who(&state, &session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let code: String = form.code.chars().take(64).collect();
    let limits = &state.config.login;
    let verdict = mfa::verify(&state.db, &state.seal, limits, &user, &code, ip).await?;
    let next = match session::awaiting_second_factor(&session, &state.db).await? {
        Some((_, n)) => safe_next(Some(&n)),
        None => safe_next(form.next.as_deref()),
    };
    let (status, error) = match verdict {
        Verdict::Passed(_) => {
            if pending {
                session::establish(&session, &user, Strength::MultiFactor).await?;
                session::note_client(&session, &client).await?;
            } else {
                session::raise(&session).await?;
            }
            return Ok(Redirect::to(&next).into_response());
        }
        Verdict::Refused => (
            StatusCode::UNAUTHORIZED,
            "That code did not work. Check the time on your phone, or use a recovery code."
                .to_string(),
        ),
        Verdict::Locked(left) => {
            let minutes = left.as_secs().div_ceil(60).max(1);
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed attempts. Try again in {minutes} minute(s)."),
            )
        }
    };
    let factors = mfa::factors(&state.db, user.id).await?;
    let page = LoginMfaPage {
        csrf: session::csrf_token(&session).await?,
        next,
        username: user.username,
        error: Some(error),
        notice: None,
        passkey: factors.passkeys > 0 && state.rp.available(),
        totp: factors.totp,
    };
    Ok((status, with_script(render(&page))).into_response())
}

/// The signed-in user, when this session may change their second factors; otherwise the
/// answer is a step-up first (a recent second factor), coming back to the account page.
pub async fn factor_owner(state: &AppState, session: &Session) -> Result<User, Response> {
    let user = require_user(state, session, "/account/mfa").await?;
    match session::may_change_factors(session, &state.db, &user).await {
        Ok(true) => Ok(user),
        Ok(false) => Err(Redirect::to("/login/mfa?next=%2Faccount%2Fmfa").into_response()),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

/// [`factor_owner`] for a posted form: its CSRF token checked first.
pub async fn posting_factor_owner(
    state: &AppState,
    session: &Session,
    csrf: &str,
) -> Result<User, Response> {
    match session::csrf_ok(session, csrf).await {
        Ok(true) => factor_owner(state, session).await,
        Ok(false) => Err(AppError::Csrf.into_response()),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

/// The issuer an authenticator app shows beside the code: sesame, and which one.
fn issuer(state: &AppState) -> String {
    match state.config.base_url.host_str() {
        Some(h) => format!("sesame ({h})"),
        None => "sesame".into(),
    }
}

async fn account_page(
    state: &AppState,
    session: &Session,
    user: &User,
    next: String,
    recovery_codes: Option<Vec<String>>,
    (error, notice): (Option<String>, Option<String>),
) -> Result<AccountMfaPage, AppError> {
    let factors = mfa::factors(&state.db, user.id).await?;
    let required = mfa::policy(&state.db).await?.requires(user);
    let enrolment = if factors.totp || recovery_codes.is_some() {
        None
    } else {
        Some(mfa::enrolment(&state.db, &state.seal, user, &issuer(state)).await?)
    };
    let recovery_codes = match recovery_codes {
        Some(c) => Some(c),
        None => super::passkey::take_new_codes(session).await,
    };
    Ok(AccountMfaPage {
        user: user.clone(),
        csrf: session::csrf_token(session).await?,
        next,
        required,
        passkeys: crate::auth::passkey::list(&state.db, user.id).await?,
        passkeys_off: super::passkey::unavailable(state),
        factors,
        enrolment,
        recovery_codes,
        error,
        notice,
    })
}

pub async fn account(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let user = match factor_owner(&state, &session).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let next = safe_next(q.next.as_deref());
    let page = account_page(&state, &session, &user, next, None, (None, None)).await?;
    Ok(with_script(render(&page)))
}

pub async fn confirm(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<CodeForm>,
) -> Result<Response, AppError> {
    let user = match posting_factor_owner(&state, &session, &form.csrf).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let next = safe_next(form.next.as_deref());
    let first = !mfa::factors(&state.db, user.id).await?.any();
    match mfa::confirm(&state.db, &state.seal, &user, &form.code).await? {
        Some(codes) => {
            // A first factor, just proven with the password: a multi-factor session.
            if first {
                session::raise(&session).await?;
            }
            let page = account_page(&state, &session, &user, next, Some(codes), (None, None));
            Ok(with_script(render(&page.await?)))
        }
        None => {
            // The same key again: it is the one the user's app holds.
            let error =
                "That code did not work. Check the time on your phone and try the next code.";
            let messages = (Some(error.to_string()), None);
            let page = account_page(&state, &session, &user, next, None, messages).await?;
            Ok((StatusCode::BAD_REQUEST, with_script(render(&page))).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn regenerate(
    State(state): State<AppState>,
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, AppError> {
    let user = match posting_factor_owner(&state, &session, &form.csrf).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let codes = mfa::regenerate_recovery(&state.db, &user).await?;
    let page = account_page(
        &state,
        &session,
        &user,
        "/account".into(),
        Some(codes),
        (None, None),
    );
    Ok(with_script(render(&page.await?)))
}

/// Removing the authenticator takes a code from it (or a recovery code), so that a session
/// left open cannot turn the second factor off.
pub async fn remove(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    session: Session,
    HtmlForm(form): HtmlForm<CsrfForm>,
) -> Result<Response, AppError> {
    let user = match posting_factor_owner(&state, &session, &form.csrf).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    let limits = &state.config.login;
    let verdict = mfa::verify(&state.db, &state.seal, limits, &user, &form.code, ip).await?;
    let messages = match verdict {
        Verdict::Passed(_) => {
            mfa::remove_totp(&state.db, &user).await?;
            (None, Some("The authenticator app was removed.".to_string()))
        }
        Verdict::Refused => (Some("That code did not work.".to_string()), None),
        Verdict::Locked(_) => (
            Some("Too many failed attempts. Try again later.".to_string()),
            None,
        ),
    };
    let status = if messages.0.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = account_page(&state, &session, &user, "/account".into(), None, messages).await?;
    Ok((status, with_script(render(&page))).into_response())
}
