//! `/api/v1/users/...` and `/api/v1/groups/...`: the directory.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::apps::Search;
use super::{created, no_content, ok, Admin, ApiError, ApiResult, Body, MaybeBody, Params};
use crate::app::AppState;
use crate::auth::password::Password;
use crate::directory::actions::UserAction;
use crate::directory::groups;
use crate::directory::users::{self, UserFields};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    username: Option<String>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    phone: Option<String>,
    employee_id: Option<String>,
    /// The manager's username; "" clears it.
    manager: Option<String>,
    is_admin: Option<bool>,
    /// Only on create; without it the user cannot sign in until a password is set.
    password: Option<String>,
    /// Only on create, with `password`: ask for a new password at the first sign-in
    /// (default true: a password an admin chose is temporary, as on the password action).
    must_change: Option<bool>,
}

impl UserBody {
    fn fields(&self) -> UserFields {
        UserFields {
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            title: self.title.clone(),
            phone: self.phone.clone(),
            employee_id: self.employee_id.clone(),
            manager: self.manager.clone(),
            is_admin: self.is_admin,
        }
    }
}

fn password(p: String) -> Result<Password, ApiError> {
    Ok(Password::new(p)?)
}

pub async fn users(
    _: Admin,
    State(state): State<AppState>,
    Params(s): Params<Search>,
) -> ApiResult {
    ok(users::search(&state.db, s.q.as_deref().unwrap_or_default()).await?)
}

pub async fn create_user(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<UserBody>,
) -> ApiResult {
    let Some(username) = b.username.clone() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "username is required",
        ));
    };
    let pw = b.password.clone().map(password).transpose()?;
    let temporary = b.must_change.unwrap_or(true);
    let user = users::add_with(
        &state.db,
        &admin.actor,
        &username,
        &b.fields(),
        pw.as_ref(),
        temporary,
    )
    .await?;
    created(user)
}

pub async fn user(_: Admin, State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    ok(users::show(&state.db, &name).await?)
}

pub async fn update_user(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body<UserBody>,
) -> ApiResult {
    if b.username.is_some() || b.password.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the username cannot change; set a password with POST .../password",
        ));
    }
    ok(users::update(&state.db, &admin.actor, &name, &b.fields()).await?)
}

pub async fn delete_user(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    users::delete(&state.db, &admin.actor, &name).await?;
    no_content()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
    /// Ask for a new password at the next sign-in (default true: an admin-set password is
    /// temporary).
    must_change: Option<bool>,
}

/// `suspend`, `activate`, `unlock` (no body, or `{}`), `password`.
/// The actions of `POST /api/v1/users/{username}/{action}` (deleting and joining have their
/// own routes here: DELETE, PUT …/members/…).
pub const USER_ACTIONS: [UserAction; 6] = [
    UserAction::SignOut,
    UserAction::Suspend,
    UserAction::Activate,
    UserAction::Unlock,
    UserAction::Password,
    UserAction::ResetMfa,
];

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
    match action {
        UserAction::Suspend | UserAction::Activate => {
            if body.as_ref().is_some_and(|b| b != &json!({})) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_request",
                    format!("{} takes no body (or {{}})", action.name()),
                ));
            }
            let active = action == UserAction::Activate;
            let u = users::set_active(&state.db, &admin.actor, &name, active).await?;
            ok(u)
        }
        UserAction::SignOut => {
            if body.as_ref().is_some_and(|b| b != &json!({})) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_request",
                    "sign-out takes no body (or {})",
                ));
            }
            let ended = users::sign_out_everywhere(&state.db, &admin.actor, &name).await?;
            ok(json!({ "username": name, "sessions_ended": ended }))
        }
        UserAction::ResetMfa => {
            if body.as_ref().is_some_and(|b| b != &json!({})) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_request",
                    "reset-mfa takes no body (or {})",
                ));
            }
            let removed = crate::auth::mfa::remove(&state.db, &admin.actor, &name).await?;
            ok(json!({ "username": name, "removed": removed }))
        }
        UserAction::Unlock => {
            if body.as_ref().is_some_and(|b| b != &json!({})) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_request",
                    "unlock takes no body (or {})",
                ));
            }
            let was_locked = users::unlock(&state.db, &admin.actor, &name).await?;
            ok(json!({ "username": name, "was_locked": was_locked }))
        }
        UserAction::Password => {
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
            users::set_password(
                &state.db,
                &admin.actor,
                &name,
                &p,
                b.must_change.unwrap_or(true),
            )
            .await?;
            ok(json!({ "username": name, "password_set": true }))
        }
        UserAction::Join | UserAction::Delete => Err(no_such()),
    }
}

pub async fn groups(
    _: Admin,
    State(state): State<AppState>,
    Params(s): Params<Search>,
) -> ApiResult {
    ok(groups::search(&state.db, s.q.as_deref().unwrap_or_default()).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_group(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<GroupBody>,
) -> ApiResult {
    created(groups::add(&state.db, &admin.actor, &b.name, &b.description).await?)
}

pub async fn group(_: Admin, State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    ok(groups::show(&state.db, &name).await?)
}

pub async fn delete_group(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    groups::delete(&state.db, &admin.actor, &name).await?;
    no_content()
}

pub async fn add_member(
    admin: Admin,
    State(state): State<AppState>,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult {
    let changed = groups::set_member(&state.db, &admin.actor, &name, &user, true).await?;
    ok(json!({ "group": name, "username": user, "member": true, "changed": changed }))
}

pub async fn remove_member(
    admin: Admin,
    State(state): State<AppState>,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult {
    let changed = groups::set_member(&state.db, &admin.actor, &name, &user, false).await?;
    ok(json!({ "group": name, "username": user, "member": false, "changed": changed }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicyBody {
    policy: String,
}

pub async fn mfa_policy(_: Admin, State(state): State<AppState>) -> ApiResult {
    let p = crate::auth::mfa::policy(&state.db).await?;
    ok(json!({ "policy": p.name() }))
}

pub async fn set_mfa_policy(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<MfaPolicyBody>,
) -> ApiResult {
    let Some(p) = crate::auth::mfa::Policy::parse(&b.policy) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "policy must be optional, admins or everyone",
        ));
    };
    crate::auth::mfa::set_policy(&state.db, &admin.actor, p).await?;
    ok(json!({ "policy": p.name() }))
}
