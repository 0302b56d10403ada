//! Console: users (create, edit, suspend, reset password, delete, the apps they can use and
//! why) and groups (members, bound apps, delete).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{Chrome, GroupPage, GroupsPage, Pager, UserPage, UsersPage};
use super::{confirmed_delete, done, on, seg, AdminUser};
use crate::app::AppState;
use crate::auth::password::Password;
use crate::auth::{invite, mfa};
use crate::directory::actions::{GroupAction, UserAction};
use crate::directory::users::{self, UserFields};
use crate::directory::{apps, groups, DirectoryError};
use crate::error::AppError;
use crate::web::form::{HtmlForm, Invalid};
use crate::web::pages::render;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
}

/// `base?q=...&page=n`.
fn page_link(base: &str, q: &str) -> impl Fn(usize) -> String {
    let (base, q) = (base.to_string(), q.trim().to_string());
    move |n| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            s.append_pair("q", &q);
        }
        s.append_pair("page", &n.to_string());
        format!("{base}?{}", s.finish())
    }
}

pub async fn users(
    admin: AdminUser,
    State(state): State<AppState>,
    Query(s): Query<Search>,
) -> Result<Response, AppError> {
    let all = users::search(&state.db, &s.q).await?;
    let (users, pager) = Pager::slice(all, s.page, page_link("/admin/users", &s.q));
    Ok(render(&UsersPage {
        c: Chrome::new(&admin, "users").await,
        q: s.q,
        users,
        pager,
        typed: NewUser::default(),
        invalid: Invalid::default(),
        mfa_policy: mfa::policy(&state.db).await?,
    }))
}

#[derive(Deserialize)]
pub struct PolicyForm {
    policy: String,
}

/// The MFA policy: who must have a second factor.
pub async fn set_mfa_policy(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<PolicyForm>,
) -> Result<Response, AppError> {
    let r = match mfa::Policy::parse(&f.policy) {
        Some(p) => mfa::set_policy(&state.db, &admin.actor(), p)
            .await
            .map(|_| format!("Second factor: {}.", p.name()))
            .map_err(|e| e.to_string()),
        None => Err("Choose optional, admins or everyone.".to_string()),
    };
    Ok(done(&admin.session, r, "/admin/users").await)
}

#[derive(Deserialize, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    password: String,
    pub is_admin: Option<String>,
    /// Send an invitation link instead of setting a password.
    pub invite: Option<String>,
}

pub async fn create_user(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<NewUser>,
) -> Result<Response, AppError> {
    let fields = UserFields {
        email: Some(f.email.clone()),
        first_name: Some(f.first_name.clone()),
        last_name: Some(f.last_name.clone()),
        is_admin: Some(on(&f.is_admin)),
        ..UserFields::default()
    };
    let invited = on(&f.invite);
    let r = if invited && !f.password.is_empty() {
        Err(DirectoryError::Invalid(
            "Choose a temporary password or an invitation, not both.".into(),
        ))
    } else if invited {
        let (db, key, base) = (&state.db, &state.seal, &state.config.base_url);
        invite::create(db, key, base, &admin.actor(), f.username.trim(), &fields).await
    } else {
        async {
            let pw = match f.password.is_empty() {
                true => None,
                false => Some(Password::new(f.password.clone())?),
            };
            // An admin-chosen password is temporary.
            users::add_with(
                &state.db,
                &admin.actor(),
                f.username.trim(),
                &fields,
                pw.as_ref(),
                true,
            )
            .await
        }
        .await
    };
    match r {
        Ok(u) => {
            let to = format!("/admin/users/{}", seg(&u.username));
            let m = if invited {
                format!("Added {}; the invitation is on its way.", u.username)
            } else {
                format!("Added {}.", u.username)
            };
            Ok(done(&admin.session, Ok(m), &to).await)
        }
        Err(e @ (DirectoryError::Invalid(_) | DirectoryError::Duplicate(_))) => {
            // The form again, as typed (the password is never sent back), the field marked.
            let message = e.to_string();
            let field = named_field(&message, &["password", "email", "username", "manager"]);
            let all = users::search(&state.db, "").await?;
            let (users, pager) = Pager::slice(all, 1, page_link("/admin/users", ""));
            let page = render(&UsersPage {
                c: Chrome::new(&admin, "users").await,
                q: String::new(),
                users,
                pager,
                mfa_policy: mfa::policy(&state.db).await?,
                typed: f,
                invalid: Invalid::new(field, message),
            });
            Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The field a domain message is about: of `fields`, the one it names first
/// (`DirectoryError::Invalid` names the field, then the rule: `email "x" is not a valid
/// address`, `username "x" or its email is already taken`).
fn named_field(message: &str, fields: &[&'static str]) -> Option<&'static str> {
    let m = message.to_lowercase();
    fields
        .iter()
        .filter_map(|f| m.find(f).map(|at| (at, *f)))
        .min()
        .map(|(_, f)| f)
}

pub async fn user(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let d = users::show(&state.db, &name).await?;
    let mut why = Vec::new();
    for slug in &d.apps {
        let detail = apps::show(&state.db, slug).await?;
        let groups: Vec<String> = detail
            .groups
            .iter()
            .filter(|g| d.groups.contains(g))
            .cloned()
            .collect();
        let mut via = Vec::new();
        if !groups.is_empty() {
            via.push(format!("member of {}", groups.join(", ")));
        }
        if d.assigned.contains(slug) {
            via.push("assigned directly".to_string());
        }
        why.push((slug.clone(), detail.app.label, via));
    }
    let other_groups = groups::list(&state.db)
        .await?
        .into_iter()
        .map(|g| g.name)
        .filter(|g| !d.groups.contains(g))
        .collect();
    let manager = match d.user.manager.as_deref() {
        Some(m) => m.to_string(),
        None => String::new(),
    };
    Ok(render(&UserPage {
        c: Chrome::new(&admin, "users").await,
        d,
        manager,
        why,
        other_groups,
    }))
}

#[derive(Deserialize)]
pub struct ProfileForm {
    email: String,
    first_name: String,
    last_name: String,
    title: String,
    phone: String,
    employee_id: String,
    manager: String,
    /// Absent from an older form: left as it is.
    department: Option<String>,
    cost_center: Option<String>,
    location: Option<String>,
    is_admin: Option<String>,
}

pub async fn update_user(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
    HtmlForm(f): HtmlForm<ProfileForm>,
) -> Result<Response, AppError> {
    let fields = UserFields {
        email: Some(f.email),
        first_name: Some(f.first_name),
        last_name: Some(f.last_name),
        title: Some(f.title),
        phone: Some(f.phone),
        employee_id: Some(f.employee_id),
        manager: Some(f.manager.trim().to_string()),
        department: f.department,
        cost_center: f.cost_center,
        location: f.location,
        is_admin: Some(on(&f.is_admin)),
    };
    let r = users::update(&state.db, &admin.actor(), &name, &fields)
        .await
        .map(|u| format!("Saved {}.", u.username))
        .map_err(|e| e.to_string());
    Ok(done(&admin.session, r, &format!("/admin/users/{}", seg(&name))).await)
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    username: String,
    /// The group form's new name and description.
    #[serde(default)]
    new_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// The suspend form's "I understand" box: suspending deprovisions the user.
    #[serde(default)]
    confirm_suspend: Option<String>,
    /// `user`: go back to the user's page (removing a member from there).
    #[serde(default)]
    back: String,
}

/// suspend | activate | password | unlock | delete | join
pub async fn user_action(
    admin: AdminUser,
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    HtmlForm(f): HtmlForm<ActionForm>,
) -> Result<Response, AppError> {
    let (db, actor) = (&state.db, admin.actor());
    let here = format!("/admin/users/{}", seg(&name));
    let Some(action) = UserAction::parse(&action) else {
        return Err(AppError::NotFound("There is no such action.".into()));
    };
    let r: Result<String, DirectoryError> = match action {
        UserAction::Suspend if f.confirm_suspend.is_none() => Err(DirectoryError::Invalid(
            "Tick the box to confirm: suspending ends the user's sessions and deprovisions them \
             from every app that provisions them."
                .into(),
        )),
        UserAction::Suspend | UserAction::Activate => {
            let active = action == UserAction::Activate;
            users::set_active(db, &actor, &name, active).await.map(|u| {
                format!(
                    "{} is {}.",
                    u.username,
                    if u.active { "active" } else { "suspended" }
                )
            })
        }
        UserAction::Password => match Password::new(f.password) {
            Ok(p) => users::set_password(db, &state.seal, &actor, &name, &p, true)
                .await
                .map(|_| format!("Password reset; {name} must choose a new one at next sign-in.")),
            Err(e) => Err(e),
        },
        UserAction::Unlock => users::unlock(db, &actor, &name).await.map(|was| {
            if was {
                format!("{name} may sign in again.")
            } else {
                format!("{name} was not locked.")
            }
        }),
        UserAction::SignOut => users::sign_out_everywhere(db, &actor, &name)
            .await
            .map(|n| format!("{name} was signed out of {n} session(s).")),
        UserAction::ResetMfa => mfa::remove(db, &actor, &name).await.map(|removed| {
            if removed {
                format!("{name}'s second factors were removed; they set up a new one at next sign-in if the policy asks for it.")
            } else {
                format!("{name} had no second factor.")
            }
        }),
        UserAction::Invite => {
            invite::send(db, &state.seal, &state.config.base_url, &actor, &name)
                .await
                .map(|_| format!("Invitation sent to {name}; any earlier link no longer works."))
        }
        UserAction::Join => groups::set_member(db, &actor, &f.group, &name, true)
            .await
            .map(|_| format!("{name} added to {}.", f.group)),
        UserAction::Delete => {
            let delete = users::delete(db, &actor, &name);
            let what = (f.confirm.as_str(), name.as_str(), "the user");
            return Ok(
                confirmed_delete(&admin.session, what, (&here, "/admin/users"), delete).await,
            );
        }
    };
    Ok(done(&admin.session, r.map_err(|e| e.to_string()), &here).await)
}

pub async fn groups(
    admin: AdminUser,
    State(state): State<AppState>,
    Query(s): Query<Search>,
) -> Result<Response, AppError> {
    let all = groups::search(&state.db, &s.q).await?;
    let (groups, pager) = Pager::slice(all, s.page, page_link("/admin/groups", &s.q));
    Ok(render(&GroupsPage {
        c: Chrome::new(&admin, "groups").await,
        q: s.q,
        groups,
        pager,
    }))
}

#[derive(Deserialize)]
pub struct NewGroup {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_group(
    admin: AdminUser,
    State(state): State<AppState>,
    HtmlForm(f): HtmlForm<NewGroup>,
) -> Result<Response, AppError> {
    match groups::add(&state.db, &admin.actor(), f.name.trim(), &f.description).await {
        Ok(g) => {
            let to = format!("/admin/groups/{}", seg(&g.name));
            Ok(done(&admin.session, Ok(format!("Added group {}.", g.name)), &to).await)
        }
        Err(e) => Ok(done(&admin.session, Err(e.to_string()), "/admin/groups").await),
    }
}

pub async fn group(
    admin: AdminUser,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let d = groups::show(&state.db, &name).await?;
    let non_members = users::list(&state.db)
        .await?
        .into_iter()
        .map(|u| u.username)
        .filter(|u| !d.member_names.contains(u))
        .collect();
    Ok(render(&GroupPage {
        c: Chrome::new(&admin, "groups").await,
        d,
        non_members,
    }))
}

/// add | remove | delete
pub async fn group_action(
    admin: AdminUser,
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    HtmlForm(f): HtmlForm<ActionForm>,
) -> Result<Response, AppError> {
    let (db, actor) = (&state.db, admin.actor());
    let here = format!("/admin/groups/{}", seg(&name));
    let Some(action) = GroupAction::parse(&action) else {
        return Err(AppError::NotFound("There is no such action.".into()));
    };
    match action {
        GroupAction::Add | GroupAction::Remove => {
            let add = action == GroupAction::Add;
            let names = super::typed_names(&f.username);
            let mut done_for = Vec::new();
            let mut failed = Vec::new();
            for u in &names {
                match groups::set_member(db, &actor, &name, u, add).await {
                    Ok(_) => done_for.push(*u),
                    Err(
                        e @ (DirectoryError::NotFound(_)
                        | DirectoryError::Invalid(_)
                        | DirectoryError::Managed(_)),
                    ) => failed.push(e.to_string()),
                    Err(e) => return Err(e.into()),
                }
            }
            let verb = if add { "added to" } else { "removed from" };
            let to = if f.back == "user" && names.len() == 1 {
                format!("/admin/users/{}", seg(names[0]))
            } else {
                here.clone()
            };
            let r = match (done_for.is_empty(), failed.is_empty()) {
                (true, true) => Err("Type one or more usernames.".to_string()),
                (_, true) => Ok(format!("{} {verb} {name}.", done_for.join(", "))),
                (true, false) => Err(failed.join("; ")),
                (false, false) => Err(format!(
                    "{} {verb} {name}; {}",
                    done_for.join(", "),
                    failed.join("; ")
                )),
            };
            Ok(done(&admin.session, r, &to).await)
        }
        GroupAction::Edit => {
            let c = groups::GroupChanges {
                name: f.new_name.filter(|n| !n.is_empty()),
                description: f.description,
            };
            let r = groups::update(db, &actor, &name, &c).await;
            // A renamed group's page is at its new name.
            let page = match &r {
                Ok(g) => format!("/admin/groups/{}", seg(&g.name)),
                Err(_) => here,
            };
            let r = r
                .map(|g| format!("Saved {}.", g.name))
                .map_err(|e| e.to_string());
            return Ok(done(&admin.session, r, &page).await);
        }
        GroupAction::Delete => {
            let delete = groups::delete(db, &actor, &name);
            let what = (f.confirm.as_str(), name.as_str(), "the group");
            Ok(confirmed_delete(&admin.session, what, (&here, "/admin/groups"), delete).await)
        }
    }
}
