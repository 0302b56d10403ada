//! Passkey ceremonies over JSON for `static/passkey.js`: registering one from the account
//! page, and signing in with one (the second step, a step-up, or with no password). Each
//! ceremony's state waits in the server-side session between its two requests and is taken
//! out (single use) by the second; the CSRF token comes in `X-CSRF-Token`. `auth::passkey`
//! decides. Renaming and removing are plain forms.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use webauthn_rs::prelude::{PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential};

use super::form::{safe_next, ClientInfo, HtmlForm};
use super::portal::require_user;
use crate::app::AppState;
use crate::auth::passkey::{self, Challenge};
use crate::auth::session::{self, Strength};
use crate::auth::throttle;
use crate::directory::{DirectoryError, User};
use crate::error::AppError;

const REGISTRATION: &str = "pk_registration";
const CHALLENGE: &str = "pk_challenge";
const NEW_CODES: &str = "pk_new_codes";

pub use super::pages::with_script;

/// A JSON error for the script to show, in the admin API's form.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        _ => "bad_request",
    };
    crate::api::ApiError::new(status, code, message).into_response()
}

fn from_directory(e: DirectoryError) -> Response {
    match e {
        DirectoryError::Invalid(m) | DirectoryError::Duplicate(m) | DirectoryError::Managed(m) => {
            error(StatusCode::BAD_REQUEST, m)
        }
        DirectoryError::NotFound(m) => error(StatusCode::NOT_FOUND, m),
        DirectoryError::Store(s) => AppError::from(s).into_response(),
    }
}

async fn csrf(session: &Session, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match session::csrf_ok(session, given).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(error(
            StatusCode::FORBIDDEN,
            "this page has expired; reload it and try again",
        )),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

/// The signed-in user, when this session may change their second factors (a JSON 403
/// otherwise: the page offers the step-up).
async fn factor_owner_json(state: &AppState, session: &Session) -> Result<User, Response> {
    let user = require_user(state, session, "/account/mfa").await?;
    match session::may_change_factors(session, &state.db, &user).await {
        Ok(true) => Ok(user),
        Ok(false) => Err(error(
            StatusCode::FORBIDDEN,
            "confirm it is you with your passkey or a code first: reload the page",
        )),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

pub async fn register_begin(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, Response> {
    csrf(&session, &headers).await?;
    let user = factor_owner_json(&state, &session).await?;
    let (options, reg) = passkey::register_start(&state.rp, &state.db, &user)
        .await
        .map_err(from_directory)?;
    session
        .insert(REGISTRATION, &reg)
        .await
        .map_err(|e| AppError::from(session::SessionError::from(e)).into_response())?;
    Ok(Json(options).into_response())
}

#[derive(Deserialize)]
pub struct RegisterBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    next: String,
    credential: RegisterPublicKeyCredential,
}

pub async fn register_finish(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Json(body): Json<RegisterBody>,
) -> Result<Response, Response> {
    csrf(&session, &headers).await?;
    let user = factor_owner_json(&state, &session).await?;
    let taken = session.remove::<PasskeyRegistration>(REGISTRATION).await;
    let Ok(Some(reg)) = taken else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "this registration expired; start again",
        ));
    };
    let codes = passkey::register_finish(
        &state.rp,
        &state.db,
        &user,
        &body.name,
        &body.credential,
        &reg,
    )
    .await
    .map_err(from_directory)?;
    // A first factor (it came with recovery codes), just proven with user verification on
    // top of the password: a multi-factor session.
    if let Some(codes) = codes {
        let raised = session::raise(&session).await;
        raised.map_err(|e| AppError::from(e).into_response())?;
        let _ = session.insert(NEW_CODES, codes).await;
    }
    let next = safe_next(Some(&body.next));
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Ok(Json(json!({ "redirect": format!("/account/mfa?next={encoded}") })).into_response())
}

/// Recovery codes made by a passkey registration, to show once on the account page.
pub async fn take_new_codes(session: &Session) -> Option<Vec<String>> {
    session
        .remove::<Vec<String>>(NEW_CODES)
        .await
        .ok()
        .flatten()
}

#[derive(Deserialize)]
pub struct NameForm {
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn rename(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    HtmlForm(f): HtmlForm<NameForm>,
) -> Result<Response, AppError> {
    let user = match super::mfa::posting_factor_owner(&state, &session, &f.csrf).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    passkey::rename(&state.db, &user, id, &f.name).await?;
    Ok(Redirect::to("/account/mfa").into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    HtmlForm(f): HtmlForm<NameForm>,
) -> Result<Response, AppError> {
    let user = match super::mfa::posting_factor_owner(&state, &session, &f.csrf).await {
        Ok(u) => u,
        Err(instead) => return Ok(instead),
    };
    passkey::remove(&state.db, &user, id).await?;
    Ok(Redirect::to("/account/mfa").into_response())
}

/// Starts a passkey sign-in: for the user between password and second step, for a
/// signed-in user stepping up, or for anyone (no password).
pub async fn auth_begin(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, Response> {
    csrf(&session, &headers).await?;
    let busy = |e: session::SessionError| AppError::from(e).into_response();
    let pending = session::awaiting_second_factor(&session, &state.db)
        .await
        .map_err(busy)?
        .map(|(u, _)| u);
    let user = match pending {
        Some(u) => Some(u),
        None => session::current_user(&session, &state.db)
            .await
            .map_err(busy)?,
    };
    let (options, challenge) = passkey::auth_start(&state.rp, &state.db, user.as_ref())
        .await
        .map_err(from_directory)?;
    session
        .insert(CHALLENGE, &challenge)
        .await
        .map_err(|e| busy(e.into()))?;
    Ok(Json(options).into_response())
}

#[derive(Deserialize)]
pub struct AuthBody {
    #[serde(default)]
    next: String,
    credential: PublicKeyCredential,
}

pub async fn auth_finish(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ClientInfo(client): ClientInfo,
    Json(body): Json<AuthBody>,
) -> Result<Response, Response> {
    csrf(&session, &headers).await?;
    let busy = |e: session::SessionError| AppError::from(e).into_response();
    let Ok(Some(challenge)) = session.remove::<Challenge>(CHALLENGE).await else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "this sign-in expired; start again",
        ));
    };
    let pending = session::awaiting_second_factor(&session, &state.db)
        .await
        .map_err(busy)?;
    let current = session::current_user(&session, &state.db)
        .await
        .map_err(busy)?;
    let proven = passkey::auth_finish(&state.rp, &state.db, &body.credential, challenge)
        .await
        .map_err(from_directory)?;
    let refused = || error(StatusCode::UNAUTHORIZED, "that passkey was not accepted");
    let Some(user) = proven else {
        return Err(refused());
    };
    // No lockout check here: a passkey with user verification cannot be guessed, and a
    // lockout that wrong passwords caused must not keep its owner out.
    let account = throttle::account_key(&user.username);
    let next = match (&pending, &current) {
        (Some((u, next)), _) if u.id == user.id => {
            session::establish(&session, &user, Strength::MultiFactor)
                .await
                .map_err(busy)?;
            session::note_client(&session, &client)
                .await
                .map_err(busy)?;
            safe_next(Some(next))
        }
        (Some(_), _) => return Err(refused()),
        (None, Some(u)) if u.id == user.id => {
            session::reauthenticated(&session).await.map_err(busy)?;
            safe_next(Some(&body.next))
        }
        (None, Some(_)) => return Err(refused()),
        (None, None) => {
            session::establish(&session, &user, Strength::MultiFactor)
                .await
                .map_err(busy)?;
            session::note_client(&session, &client)
                .await
                .map_err(busy)?;
            safe_next(Some(&body.next))
        }
    };
    let _ = throttle::clear(&state.db, &account).await;
    Ok(Json(json!({ "redirect": next })).into_response())
}

/// What the pages need to know to offer passkeys.
pub fn unavailable(state: &AppState) -> Option<String> {
    match state.rp.as_ref() {
        passkey::RelyingParty::On(_) => None,
        passkey::RelyingParty::Off(why) => Some(why.clone()),
    }
}
