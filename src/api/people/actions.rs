//! `POST /api/v1/users/{username}/{action}`: what an admin does to a user beyond editing
//! them, one function per action, each documented on its own path.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{OpenApi, ToSchema};

use super::super::document::{BodyRefusals, NotFound, Refusals, Username};
use super::super::{ok, Admin, ApiError, ApiResult, MaybeBody};
use super::password;
use crate::app::AppState;
use crate::directory::actions::UserAction;
use crate::directory::users;
use crate::directory::{Actor, User};
use crate::store::Db;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordSet)]
pub struct PasswordBody {
    /// 8 to 1024 characters.
    password: String,
    /// Ask for a new password at the next sign-in (default true: an admin-set password is
    /// temporary).
    must_change: Option<bool>,
}

/// The actions of `POST /api/v1/users/{username}/{action}` (deleting and joining have their
/// own routes here: DELETE, PUT …/members/…).
pub const USER_ACTIONS: [UserAction; 7] = [
    UserAction::Invite,
    UserAction::SignOut,
    UserAction::Suspend,
    UserAction::Activate,
    UserAction::Unlock,
    UserAction::Password,
    UserAction::ResetMfa,
];

/// The document of each of [`USER_ACTIONS`].
#[derive(OpenApi)]
#[openapi(paths(invite, sign_out, suspend, activate, unlock, set_password, reset_mfa))]
pub struct Actions;

/// One of [`USER_ACTIONS`], by its name in the path. Only `password` takes a body; the
/// others take none (or `{}`).
pub async fn user_action(
    admin: Admin,
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    MaybeBody(body): MaybeBody<Value>,
) -> ApiResult {
    let no_such = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint");
    let action = UserAction::parse(&action)
        .filter(|a| USER_ACTIONS.contains(a))
        .ok_or_else(no_such)?;
    let (db, actor) = (&state.db, &admin.actor);
    if action == UserAction::Password {
        return set_password(db, &state.seal, actor, &name, body).await;
    }
    if action == UserAction::Invite {
        return invite(&state, actor, &name).await;
    }
    if body.as_ref().is_some_and(|b| b != &json!({})) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("{} takes no body (or {{}})", action.name()),
        ));
    }
    match action {
        UserAction::SignOut => sign_out(db, actor, &name).await,
        UserAction::Suspend => suspend(db, actor, &name).await,
        UserAction::Activate => activate(db, actor, &name).await,
        UserAction::Unlock => unlock(db, actor, &name).await,
        UserAction::ResetMfa => reset_mfa(db, actor, &name).await,
        UserAction::Password | UserAction::Invite | UserAction::Join | UserAction::Delete => {
            Err(no_such())
        }
    }
}

/// The invitation was queued.
#[derive(Serialize, ToSchema)]
pub struct Invited {
    username: String,
    /// Days the link works.
    valid_days: i64,
}

/// Send (again) an invitation: a link to choose a password
///
/// No body (or {}). Earlier links stop working. 400 when the user is suspended, has no
/// e-mail address, or SMTP is not set up. An event (user_invite_sent); the mail is sent by
/// the server's mail worker (mail_sent or mail_failed).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/invite", operation_id = "inviteUser", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "Queued", body = Invited),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn invite(state: &AppState, actor: &Actor, name: &str) -> ApiResult {
    crate::auth::invite::send(&state.db, &state.seal, &state.config.base_url, actor, name).await?;
    ok(Invited {
        username: name.to_string(),
        valid_days: crate::auth::reset::INVITE_DAYS,
    })
}

/// How many sessions a sign-out ended.
#[derive(Serialize, ToSchema)]
pub struct SignedOut {
    username: String,
    sessions_ended: u64,
}

/// Sign out everywhere: end every session of the user
///
/// No body (or {}). An event (user_sign_out).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/sign-out", operation_id = "signOutUser", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "OK", body = SignedOut),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn sign_out(db: &Db, actor: &Actor, name: &str) -> ApiResult {
    let ended = users::sign_out_everywhere(db, actor, name).await?;
    ok(SignedOut {
        username: name.to_string(),
        sessions_ended: ended,
    })
}

/// Suspend: sign-ins and sessions stop at once; SCIM accounts are deactivated
///
/// No body (or {}). 400 for the last active admin.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/suspend", operation_id = "suspendUser", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "OK", body = User),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn suspend(db: &Db, actor: &Actor, name: &str) -> ApiResult {
    ok(users::set_active(db, actor, name, false).await?)
}

/// Reactivate a suspended user
///
/// No body (or {}).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/activate", operation_id = "activateUser", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "OK", body = User),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn activate(db: &Db, actor: &Actor, name: &str) -> ApiResult {
    ok(users::set_active(db, actor, name, true).await?)
}

/// Whether an unlock lifted a lock.
#[derive(Serialize, ToSchema)]
pub struct Unlocked {
    username: String,
    was_locked: bool,
}

/// Unlock: lift the lock that repeated failed sign-ins put on the account
///
/// No body (or {}). The client address's own lock stays. An event (user_unlock) either way.
#[utoipa::path(
    post, path = "/api/v1/users/{username}/unlock", operation_id = "unlockUser", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "OK", body = Unlocked),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn unlock(db: &Db, actor: &Actor, name: &str) -> ApiResult {
    let was_locked = users::unlock(db, actor, name).await?;
    ok(Unlocked {
        username: name.to_string(),
        was_locked,
    })
}

/// Whether a reset removed second factors.
#[derive(Serialize, ToSchema)]
pub struct MfaReset {
    username: String,
    /// There was something to remove.
    removed: bool,
}

/// Reset second factors: remove the user's passkeys, authenticator app and recovery codes (a lost phone)
///
/// No body (or {}). The user sets up a new factor at next sign-in if the MFA policy or an
/// app asks for one. An event (mfa_reset).
#[utoipa::path(
    post, path = "/api/v1/users/{username}/reset-mfa", operation_id = "resetUserMfa", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "OK", body = MfaReset),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn reset_mfa(db: &Db, actor: &Actor, name: &str) -> ApiResult {
    let removed = crate::auth::mfa::remove(db, actor, name).await?;
    ok(MfaReset {
        username: name.to_string(),
        removed,
    })
}

/// A password was set.
#[derive(Serialize, ToSchema)]
pub struct PasswordResult {
    username: String,
    /// Always true.
    password_set: bool,
}

/// Set a user's password
#[utoipa::path(
    post, path = "/api/v1/users/{username}/password", operation_id = "setPassword", tag = "users",
    params(Username),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "OK", body = PasswordResult),
        NotFound, BodyRefusals, Refusals,
    ),
)]
async fn set_password(
    db: &Db,
    key: &crate::scim::secret::SealKey,
    actor: &Actor,
    name: &str,
    body: Option<Value>,
) -> ApiResult {
    let Some(b) = body else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"password\": \"...\"} as JSON",
        ));
    };
    let b: PasswordBody = serde_json::from_value(b).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            e.to_string(),
        )
    })?;
    let p = password(b.password)?;
    users::set_password(db, key, actor, name, &p, b.must_change.unwrap_or(true)).await?;
    ok(PasswordResult {
        username: name.to_string(),
        password_set: true,
    })
}
