//! `/api/v1/users/...` and `/api/v1/groups/...`: the directory; the user actions are in
//! `actions`.

mod actions;
pub mod import;

pub use actions::{user_action, Actions, USER_ACTIONS};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::apps::Search;
use super::document::{BodyRefusals, Conflict, GroupName, Invalid, NotFound, Refusals, Username};
use super::{created, no_content, ok, Admin, ApiError, ApiResult, Body, Params};
use crate::app::AppState;
use crate::auth::mfa::Policy;
use crate::auth::password::Password;
use crate::directory::groups::{self, GroupDetail};
use crate::directory::users::{self, UserDetail, UserFields};
use crate::directory::{Group, User};

/// A user's fields. On create, username and email are needed; on update only the fields
/// given change, "" clears a text field (not the email), and the username and password
/// cannot be given (400 invalid: set a password with POST .../password).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// Only on create; unique case-insensitively, 1 to 64 characters from letters, digits
    /// and `._@+-`, starting with a letter or digit.
    username: Option<String>,
    /// Needed on create; at most 254 characters.
    email: Option<String>,
    /// At most 100 characters.
    first_name: Option<String>,
    /// At most 100 characters.
    last_name: Option<String>,
    /// At most 200 characters.
    title: Option<String>,
    /// At most 50 characters.
    phone: Option<String>,
    /// At most 100 characters.
    employee_id: Option<String>,
    /// The manager's username; "" clears it.
    manager: Option<String>,
    /// At most 200 characters.
    department: Option<String>,
    /// At most 100 characters.
    cost_center: Option<String>,
    /// At most 200 characters.
    location: Option<String>,
    /// Default false; the last active admin cannot be demoted.
    is_admin: Option<bool>,
    /// Only on create (8 to 1024 characters); without it the user cannot sign in until a
    /// password is set.
    password: Option<String>,
    /// Only on create, with `password`: ask for a new password at the first sign-in
    /// (default true: a password an admin chose is temporary, as on the password action).
    must_change: Option<bool>,
    /// Only on create, without `password`: mail the user a link (valid 7 days) to choose
    /// their own password. Needs `email` and SMTP set up (400 otherwise, nothing created).
    invite: Option<bool>,
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
            department: self.department.clone(),
            cost_center: self.cost_center.clone(),
            location: self.location.clone(),
            is_admin: self.is_admin,
        }
    }
}

fn password(p: String) -> Result<Password, ApiError> {
    Ok(Password::new(p)?)
}

/// List users
///
/// q matches the username, email, first and last name.
#[utoipa::path(
    get, path = "/api/v1/users", operation_id = "listUsers", tag = "users",
    params(Search),
    responses(
        (status = 200, description = "OK", body = [User]),
        Refusals,
    ),
)]
pub async fn users(
    _: Admin,
    State(state): State<AppState>,
    Params(s): Params<Search>,
) -> ApiResult {
    ok(users::search(&state.db, s.q.as_deref().unwrap_or_default()).await?)
}

/// Create a user
///
/// 404 when the manager is not a user; 409 when the username or email is taken.
#[utoipa::path(
    post, path = "/api/v1/users", operation_id = "createUser", tag = "users",
    request_body = UserBody,
    responses(
        (status = 201, description = "Created.", body = User),
        NotFound, Conflict, BodyRefusals, Refusals,
    ),
)]
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
    if b.invite == Some(true) {
        if b.password.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                "give a password or invite, not both",
            ));
        }
        let (db, key, base) = (&state.db, &state.seal, &state.config.base_url);
        let user = crate::auth::invite::create(db, key, base, &admin.actor, &username, &b.fields())
            .await?;
        return created(user);
    }
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

/// Show a user with groups and apps
#[utoipa::path(
    get, path = "/api/v1/users/{username}", operation_id = "getUser", tag = "users",
    params(Username),
    responses(
        (status = 200, description = "OK", body = UserDetail),
        NotFound, Refusals,
    ),
)]
pub async fn user(_: Admin, State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    ok(users::show(&state.db, &name).await?)
}

/// Change a user's profile or admin flag
#[utoipa::path(
    patch, path = "/api/v1/users/{username}", operation_id = "updateUser", tag = "users",
    params(Username),
    request_body = UserBody,
    responses(
        (status = 200, description = "OK", body = User),
        NotFound, Conflict, BodyRefusals, Refusals,
    ),
)]
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

/// Delete a user (their accounts in SCIM targets are deprovisioned)
///
/// 400 for the last active admin.
#[utoipa::path(
    delete, path = "/api/v1/users/{username}", operation_id = "deleteUser", tag = "users",
    params(Username),
    responses(
        (status = 204, description = "Deleted."),
        Invalid, NotFound, Refusals,
    ),
)]
pub async fn delete_user(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    users::delete(&state.db, &admin.actor, &name).await?;
    no_content()
}

/// List groups
///
/// q matches the name and description.
#[utoipa::path(
    get, path = "/api/v1/groups", operation_id = "listGroups", tag = "groups",
    params(Search),
    responses(
        (status = 200, description = "OK", body = [Group]),
        Refusals,
    ),
)]
pub async fn groups(
    _: Admin,
    State(state): State<AppState>,
    Params(s): Params<Search>,
) -> ApiResult {
    ok(groups::search(&state.db, s.q.as_deref().unwrap_or_default()).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewGroup)]
pub struct GroupBody {
    /// 1 to 100 printable characters, no surrounding spaces; unique case-insensitively.
    name: String,
    /// At most 500 characters.
    #[serde(default)]
    description: String,
}

/// Create a group
#[utoipa::path(
    post, path = "/api/v1/groups", operation_id = "createGroup", tag = "groups",
    request_body = GroupBody,
    responses(
        (status = 201, description = "Created.", body = Group),
        Conflict, BodyRefusals, Refusals,
    ),
)]
pub async fn create_group(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<GroupBody>,
) -> ApiResult {
    created(groups::add(&state.db, &admin.actor, &b.name, &b.description).await?)
}

/// Show a group with members and apps
#[utoipa::path(
    get, path = "/api/v1/groups/{name}", operation_id = "getGroup", tag = "groups",
    params(GroupName),
    responses(
        (status = 200, description = "OK", body = GroupDetail),
        NotFound, Refusals,
    ),
)]
pub async fn group(_: Admin, State(state): State<AppState>, Path(name): Path<String>) -> ApiResult {
    ok(groups::show(&state.db, &name).await?)
}

/// The fields of a group to change; those left out stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GroupChanges)]
pub struct GroupPatch {
    /// A new name (pushed as the SCIM Group's `displayName` to every target it is pushed to).
    name: Option<String>,
    /// At most 500 characters.
    description: Option<String>,
}

/// Rename a group or change its description
#[utoipa::path(
    patch, path = "/api/v1/groups/{name}", operation_id = "updateGroup", tag = "groups",
    params(GroupName),
    request_body = GroupPatch,
    responses(
        (status = 200, description = "The group as it is now.", body = Group),
        NotFound, Conflict, BodyRefusals, Refusals,
    ),
)]
pub async fn update_group(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(b): Body<GroupPatch>,
) -> ApiResult {
    let c = groups::GroupChanges {
        name: b.name,
        description: b.description,
    };
    ok(groups::update(&state.db, &admin.actor, &name, &c).await?)
}

/// Delete a group (its members lose the apps it gave)
#[utoipa::path(
    delete, path = "/api/v1/groups/{name}", operation_id = "deleteGroup", tag = "groups",
    params(GroupName),
    responses(
        (status = 204, description = "Deleted."),
        NotFound, Refusals,
    ),
)]
pub async fn delete_group(
    admin: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    groups::delete(&state.db, &admin.actor, &name).await?;
    no_content()
}

/// Whether a user is in a group.
#[derive(Serialize, ToSchema)]
pub struct Membership {
    group: String,
    username: String,
    member: bool,
    /// false when it was already so (no event is written).
    changed: bool,
}

/// Add a user to a group
///
/// No body.
#[utoipa::path(
    put, path = "/api/v1/groups/{name}/members/{username}",
    operation_id = "addMember", tag = "groups",
    params(GroupName, Username),
    responses(
        (status = 200, description = "OK", body = Membership),
        NotFound, Refusals,
    ),
)]
pub async fn add_member(
    admin: Admin,
    State(state): State<AppState>,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult {
    let changed = groups::set_member(&state.db, &admin.actor, &name, &user, true).await?;
    ok(Membership {
        group: name,
        username: user,
        member: true,
        changed,
    })
}

/// Remove a user from a group
///
/// No body.
#[utoipa::path(
    delete, path = "/api/v1/groups/{name}/members/{username}",
    operation_id = "removeMember", tag = "groups",
    params(GroupName, Username),
    responses(
        (status = 200, description = "OK", body = Membership),
        NotFound, Refusals,
    ),
)]
pub async fn remove_member(
    admin: Admin,
    State(state): State<AppState>,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult {
    let changed = groups::set_member(&state.db, &admin.actor, &name, &user, false).await?;
    ok(Membership {
        group: name,
        username: user,
        member: false,
        changed,
    })
}

/// Who must have a second factor at sign-in (an app can also require one on its own:
/// require_mfa in its SSO settings).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicy {
    #[schema(value_type = Policy)]
    policy: String,
}

/// The MFA policy
#[utoipa::path(
    get, path = "/api/v1/settings/mfa", operation_id = "getMfaPolicy", tag = "settings",
    responses(
        (status = 200, description = "OK", body = MfaPolicy),
        Refusals,
    ),
)]
pub async fn mfa_policy(_: Admin, State(state): State<AppState>) -> ApiResult {
    let p = crate::auth::mfa::policy(&state.db).await?;
    ok(MfaPolicy {
        policy: p.name().to_string(),
    })
}

/// Set the MFA policy
///
/// An event (mfa_policy_update).
#[utoipa::path(
    put, path = "/api/v1/settings/mfa", operation_id = "setMfaPolicy", tag = "settings",
    request_body = MfaPolicy,
    responses(
        (status = 200, description = "OK", body = MfaPolicy),
        BodyRefusals, Refusals,
    ),
)]
pub async fn set_mfa_policy(
    admin: Admin,
    State(state): State<AppState>,
    Body(b): Body<MfaPolicy>,
) -> ApiResult {
    let Some(p) = Policy::parse(&b.policy) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "policy must be optional, admins or everyone",
        ));
    };
    crate::auth::mfa::set_policy(&state.db, &admin.actor, p).await?;
    ok(MfaPolicy {
        policy: p.name().to_string(),
    })
}
